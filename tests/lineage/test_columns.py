"""Column lineage and dataset names from the configuration alone (no run needed)."""

from __future__ import annotations

from citylake.lineage.collector import SourceRead
from citylake.lineage.columns import output_columns
from citylake.lineage.naming import lake_dataset, source_dataset
from citylake.sources.registry import load_registry


def _mapped(registry, code, table, standard):
    return next(c for c, s, _ in registry[code].table(table).mapped_columns() if s == standard)


def test_gold_person_attributes_come_from_the_mapped_department_columns_the_run_read():
    registry = load_registry()
    inputs = {"silver.gongan_czrk", "quarantine.gongan_czrk", "silver.weijian_csyxzm"}
    lineage = output_columns("gold.person", ["person_id", "name", "birth_date", "household_number", "life_status"],
                             inputs, registry)
    name = {(s.table, s.column) for s in lineage["name"]}
    assert ("silver.gongan_czrk", _mapped(registry, "gongan", "CZRK", "person.name")) in name
    assert ("quarantine.gongan_czrk", _mapped(registry, "gongan", "CZRK", "person.name")) in name
    assert {t for t, _ in name} <= inputs  # only what the run read
    # An extra attribute of jobs/person/attributes.yaml, and the key from the ID number columns.
    assert [(s.table, s.column) for s in lineage["household_number"]][0][0] == "silver.gongan_czrk"
    assert ("silver.gongan_czrk", _mapped(registry, "gongan", "CZRK", "person.id_number")) in {
        (s.table, s.column) for s in lineage["person_id"]}
    assert "life_status" not in lineage  # derived, not carried from a source column


def test_silver_columns_come_from_bronze_and_bronze_from_the_department_table():
    registry = load_registry()
    name = _mapped(registry, "gongan", "CZRK", "person.name")
    key = registry["gongan"].table("CZRK").primary_key[0]
    silver = output_columns("silver.gongan_czrk", [name, key, "_warnings", "_batch_id"], {"bronze.gongan_czrk"},
                            registry)
    assert silver[name][0].table == "bronze.gongan_czrk" and silver[name][0].subtype == "TRANSFORMATION"
    assert silver[key][0].subtype == "IDENTITY" and "_warnings" not in silver
    bronze = output_columns("bronze.gongan_czrk", [name, "_batch_id"], {"gongan.CZRK"}, registry)
    assert [(s.table, s.column) for s in bronze[name]] == [("gongan.CZRK", name)] and "_batch_id" not in bronze
    assert output_columns("bronze.gongan_czrk", [name], set(), registry) == {}


def test_dataset_names_follow_the_openlineage_naming_spec(tmp_path):
    def read(backend, **kw):
        return SourceRead("gongan", "CZRK", backend, kw.get("host"), kw.get("port"), kw.get("database"),
                          kw.get("schema"), {})

    assert source_dataset(read("postgresql", host="127.0.0.1", database="gongan", schema="public")) == (
        "postgres://127.0.0.1:5432", "gongan.public.CZRK")
    assert source_dataset(read("mysql", host="db", port=3307, database="gongan")) == ("mysql://db:3307", "gongan.CZRK")
    assert source_dataset(read("sqlite", database=str(tmp_path / "gongan.db"))) == (
        f"sqlite://{tmp_path / 'gongan.db'}", "CZRK")
    assert lake_dataset(str(tmp_path / "lake" / "silver" / "x")) == ("file", str(tmp_path / "lake" / "silver" / "x"))
    assert lake_dataset("s3://bucket/lake/silver/x") == ("s3://bucket", "lake/silver/x")
