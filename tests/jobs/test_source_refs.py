"""The libraries' shared YAML references and profile parts (citylake.jobs.source_refs,
citylake.jobs.profile_parts) on the shipped registry and on small Spark frames."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from citylake.jobs import profile_parts, source_refs
from citylake.sources.registry import load_registry


@pytest.fixture(scope="module")
def tables():
    return source_refs.registry_tables(load_registry())


def test_checked_sources_accepts_tables_and_roles(tables):
    assert source_refs.checked_sources("x", ["minzheng.HYDJ", "weijian.CSYXZM@mother"], tables, ValueError) == (
        "minzheng.HYDJ", "weijian.CSYXZM@mother")


@pytest.mark.parametrize(("sources", "message"), [
    ([], "x: expected a list of <system>.<TABLE>[@<role>]"),
    ("minzheng.HYDJ", "x: expected a list"),
    (["minzheng.NOPE"], "x: minzheng.NOPE: no such table in the source registry"),
    (["minzheng.HYDJ@child"], "x: minzheng.HYDJ@child: the table has no role 'child' (it has ['husband', 'wife'])"),
])
def test_checked_sources_names_the_entry(tables, sources, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        source_refs.checked_sources("x", sources, tables, ValueError)


def test_load_parts_errors_name_the_file_and_part(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text("parts:\n  marriages: [minzheng.HYDJ@child]\n", encoding="utf-8")
    with pytest.raises(profile_parts.ProfileError, match=f"{path}: parts.marriages: minzheng.HYDJ@child: "):
        profile_parts.load_parts(load_registry(), path)
    path.write_text("marriages: [minzheng.HYDJ]\n", encoding="utf-8")
    with pytest.raises(profile_parts.ProfileError, match="expected one entry 'parts'"):
        profile_parts.load_parts(load_registry(), path)


def test_rank_puts_the_authority_first_and_unlisted_sources_last(spark):
    frame = spark.createDataFrame([("a.T", "x"), ("b.U", "mother"), ("b.U", "father"), ("c.V", "x")],
                                  "source_table string, role string")
    ranked = frame.select("source_table", "role", source_refs.rank(("b.U@mother", "a.T")).alias("rank"))
    assertDataFrameEqual(ranked, spark.createDataFrame(
        [("a.T", "x", 1), ("b.U", "mother", 0), ("b.U", "father", 2), ("c.V", "x", 2)],
        "source_table string, role string, rank int"))


def test_documents_group_linked_records_into_parts(spark):
    golden = spark.createDataFrame([("p1", "张三"), ("p2", "李四")], "person_id string, name string")
    at = datetime(2024, 5, 1)
    linked = spark.createDataFrame(
        [("p1", "m.HY", "husband", "r1", "b1", "silver", at, "id", {"date": "2020"}),
         ("p1", "m.HY", "wife", "r9", "b1", "silver", at, "id", {}),  # a role of no part
         ("p1", "g.HJ", "subject", "r2", "b2", "quarantine", None, "repaired_id", {}),
         (None, "g.HJ", "subject", "r3", "b2", "quarantine", None, None, {})],  # unlinked
        "person_id string, source_table string, role string, record_key string, batch_id string, layer string, "
        "updated_at timestamp, link_method string, attributes map<string,string>")
    documents = profile_parts.documents(golden, linked, {"marriages": ("m.HY@husband",), "household": ("g.HJ",)},
                                        "person_id", ("name",))
    rows = {r["person_id"]: r.asDict(recursive=True) for r in documents.toLocalIterator()}
    assert rows["p2"]["parts"] == {}
    assert rows["p1"]["identity"] == {"name": "张三"}
    assert {part: [r["record_key"] for r in records] for part, records in rows["p1"]["parts"].items()} == {
        "marriages": ["r1"], "household": ["r2"]}
    assert rows["p1"]["parts"]["marriages"][0]["attributes"] == {"date": "2020"}
