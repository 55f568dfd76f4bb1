"""The population library build (citylake.jobs.person.build) on a small synthetic city, for real:
generated department systems, ingestion, the quality gate, Spark, Delta tables — scored against the
generator's truth (record_truth)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from citylake.jobs.person.build import CONFLICT, HOUSEHOLD, LINK, PERSON, PROFILE, build_person
from citylake.jobs.spec import SpecError, conform, load_specs
from citylake.quality.feedback import read_issues
from citylake.sources.registry import load_registry
from tests.quality.cities import city, ingest_and_gate

PERSONS = 600


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("person-city")
    home, lake, _ = city(root, PERSONS, 11)
    ingest_and_gate(home, lake, "d0")
    summary = build_person(spark, lake, load_registry())
    return home, lake, summary


def _truth(home) -> pd.DataFrame:
    truth = ds.dataset(str(Path(home.truth) / "record_truth")).to_table().to_pandas()
    return truth[truth["entity_type"] == "person"]


def _links(lake) -> pd.DataFrame:
    return lake.read_arrow(LINK).read_all().to_pandas()


def test_every_person_bearing_record_is_linked_or_has_a_reason(built):
    _, lake, summary = built
    links = _links(lake)
    assert links["record_id"].is_unique
    assert len(links) == summary["records"] > PERSONS
    assert (links["person_id"].notna() ^ links["unlinked_reason"].notna()).all()
    assert set(links["role"]) >= {"subject", "husband", "wife", "mother", "father", "guardian", "legal_rep"}
    assert set(links["layer"]) == {"silver", "quarantine"}
    assert summary["linked_by_linkage"] > 0


def test_linkage_scored_against_the_truth(built):
    home, lake, summary = built
    links = _links(lake)
    truth = _truth(home)
    scored = links.merge(truth, on=["source_table", "record_key", "role"], how="inner")
    # Every person-bearing record of the lake is a person of the truth.
    assert len(scored) == len(links)
    linked = scored[scored["person_id"].notna()]
    # Pairwise precision/recall over linked records: pairs in one golden person vs one true person.
    predicted = linked.groupby("person_id")["entity_id"].agg(list)
    true_pairs = linked.groupby("entity_id").size()
    same = linked.groupby(["person_id", "entity_id"]).size()
    tp = int((same * (same - 1) // 2).sum())
    predicted_pairs = int(sum(len(v) * (len(v) - 1) // 2 for v in predicted))
    actual_pairs = int((true_pairs * (true_pairs - 1) // 2).sum())
    precision, recall = tp / predicted_pairs, tp / actual_pairs
    assert precision >= 0.999, precision
    assert recall >= 0.995, recall
    # No two distinct true persons merged into one golden person.
    merged = linked.groupby("person_id")["entity_id"].nunique()
    assert (merged > 1).sum() == 0
    # Golden persons within 0.1% (at least one) of the true persons the sources mention.
    persons, mentioned = summary["persons"], truth["entity_id"].nunique()
    assert abs(persons - mentioned) <= max(1, round(mentioned * 0.001)), (persons, mentioned)
    # Proposed ID corrections are right: the true person's ID.
    world = pd.read_parquet(Path(home.truth) / "person.parquet", columns=["person_id", "id_number"])
    proposals = scored[scored["proposed_id_number"].notna()].merge(
        world.rename(columns={"person_id": "entity_id"}), on="entity_id")
    if len(proposals):
        assert (proposals["proposed_id_number"] == proposals["id_number"]).mean() >= 0.99


def test_golden_attributes_come_from_the_authority_with_provenance(built):
    _, lake, _ = built
    person = lake.read_arrow(PERSON).read_all().to_pylist()
    assert all(p["person_id"] == p["id_number"] and len(p["person_id"]) == 18 for p in person)
    with_czrk = [p for p in person if "gongan.CZRK" in p["sources"]]
    assert with_czrk
    for p in with_czrk:
        provenance = dict(p["provenance"])
        assert provenance["name"]["source_table"] == "gongan.CZRK"
        assert provenance["household_number"]["source_table"] == "gongan.CZRK"
        assert provenance["name"]["record_key"] and provenance["name"]["batch_id"]


def test_conflicts_find_the_injected_ones_and_reach_the_departments(built):
    home, lake, summary = built
    conflicts = lake.read_arrow(CONFLICT).read_all().to_pandas()
    truth = ds.dataset(str(Path(home.truth) / "record_truth")).to_table().to_pandas()
    injected = truth[truth["defects"].map(lambda d: "name_conflict" in list(d))]
    found = conflicts[conflicts["attribute"] == "name"]
    # Every homophone name of a record linked to a person the authority (公安) holds is found.
    czrk_persons = set(_links(lake).query("source_table == 'gongan.CZRK'")["person_id"].dropna())
    links = _links(lake).merge(injected, on=["source_table", "record_key", "role"])
    expected = links[links["person_id"].isin(czrk_persons)]
    assert set(expected["record_id"]) <= set(found["record_id"])
    assert (conflicts["authority_value"] != conflicts["source_value"]).all()
    assert not (conflicts["source_table"] == conflicts["authority_table"]).any()
    issues = read_issues(lake, pc.field("rule").isin(sorted(set(conflicts["rule"]))))
    assert len(issues) == len(conflicts) == summary["conflicts"]
    assert set(issues["status"]) == {"待整改"} and set(issues["severity"]) == {"warning"}
    # Masked: no issue shows the disagreeing name itself.
    names = set(found["source_value"])
    assert names and not set(issues["masked_value"]) & names


def test_life_status_and_households(built):
    home, lake, _ = built
    person = lake.read_arrow(PERSON).read_all().to_pandas()
    world = pd.read_parquet(Path(home.truth) / "person.parquet", columns=["id_number", "alive"])
    judged = person.merge(world, left_on="person_id", right_on="id_number", suffixes=("", "_true"))
    deceased = judged[judged["life_status"] == "deceased"]
    assert len(deceased) and not deceased["alive"].any()
    assert deceased["death_date"].notna().all()
    assert not judged[judged["resident"]]["life_status"].ne("alive").any()
    households = lake.read_arrow(HOUSEHOLD).read_all().to_pandas()
    heads = households[households["is_head"]].groupby("household_number").size()
    assert (heads <= 1).all() and len(heads) > 0
    profile = lake.read_arrow(PROFILE, filter=pc.field("person_id") == deceased["person_id"].iloc[0]).read_all()
    parts = dict(profile.to_pylist()[0]["parts"])
    assert "death" in parts or "household" in parts


def test_a_frame_that_does_not_match_its_spec_is_refused(spark):
    from citylake.jobs.person.build import TABLES_DIR

    spec = load_specs(TABLES_DIR)[HOUSEHOLD]
    with pytest.raises(SpecError, match="household_member.yaml.*relation_name: missing"):
        conform(spark.createDataFrame([("1", "p")], "household_number string, person_id string"), spec)


def test_person_show_prints_the_profile_and_masks_an_unknown_number(built, monkeypatch, capsys):
    from citylake.cli import main

    home, lake, _ = built
    person = lake.read_arrow(PERSON, columns=["person_id", "name"]).read_all().to_pylist()[0]
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    assert main(["-q", "person", "show", person["person_id"]]) == 2  # an analyst, by default
    assert person["name"] not in capsys.readouterr().out
    assert main(["-q", "person", "show", person["person_id"], "--role", "engineer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"一人一档 {person['person_id']}") and person["name"] in out and "household:" in out
    assert main(["-q", "person", "show", "11010519491231002X", "--role", "engineer"]) == 1
    assert "11010519491231002X" not in capsys.readouterr().err
    log = lake.read_arrow("governance.access_log", filter=pc.field("interface") == "citylake person show").read_all()
    assert sorted(log.column("outcome").to_pylist()) == ["failed", "ok", "refused"]


def test_resident_population_per_district_through_citylake_sql(built, monkeypatch, capsys):
    """实有人口 per district, the README's query run as an analyst runs it, against the truth."""
    import csv
    import io

    from citylake.cli import main

    home, lake, summary = built
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    query = ("SELECT district_code, count(*) AS residents FROM gold.person WHERE resident "
             "GROUP BY district_code ORDER BY district_code")
    assert main(["-q", "sql", query, "--format", "csv"]) == 0
    counted = {r["district_code"]: int(r["residents"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert sum(counted.values()) == summary["residents"]
    person = lake.read_arrow(PERSON, columns=["person_id"]).read_all().to_pandas()
    world = pd.read_parquet(Path(home.truth) / "person.parquet", columns=["id_number", "alive", "district_code"])
    mentioned = world[world["id_number"].isin(person["person_id"]) & world["alive"]]
    truth = mentioned.groupby("district_code").size().to_dict()
    assert set(counted) - {""} <= set(truth)
    # Every true district is counted, each within 5% of the alive persons the sources mention there.
    for district, alive in truth.items():
        assert abs(counted.get(district, 0) - alive) <= max(1, 0.05 * alive), (district, counted.get(district), alive)


def test_quarantined_birth_times_keep_their_birth_date(built, spark):
    """卫健's CSSJ is a birth time: a quarantined certificate still gives its child's birth date."""
    from pyspark.sql import functions as F

    from citylake.jobs.person.records import person_records

    _, lake, _ = built
    quarantined = lake.read_arrow("quarantine.weijian_csyxzm", columns=["CSZMBH", "CSSJ"]).read_all().to_pandas()
    born = quarantined.dropna(subset=["CSSJ"])
    assert len(born), "the city should quarantine some birth certificates"
    records = (person_records(spark, lake, load_registry())
               .where((F.col("source_table") == "weijian.CSYXZM") & (F.col("layer") == "quarantine")
                      & (F.col("role") == "subject"))
               .select("record_key", "birth_date").toPandas())
    got = records.set_index("record_key")["birth_date"]
    expected = born.set_index("CSZMBH")["CSSJ"].dt.date
    assert got.reindex(expected.index).tolist() == expected.tolist()
