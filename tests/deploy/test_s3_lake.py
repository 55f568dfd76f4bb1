"""The lake on S3-compatible object storage (moto's server, tests.deploy.s3_server): configured by
``$CITYLAKE_LAKE_ROOT`` and ``$CITYLAKE_LAKE_STORAGE_OPTIONS`` only, the same lake interface; a
round of ingestion and the gate lands there; concurrent writers lose no commit."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from citylake.cli import main
from citylake.ingest import governance as gov
from citylake.lake import default_storage_options, open_lake
from citylake.settings import Home
from citylake.synthcity.generate import generate
from tests.deploy.s3_server import s3_server
from tests.quality.cities import ingest_and_gate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_env(s3, monkeypatch):
    root = f"s3://{s3.bucket}/lake-{os.urandom(4).hex()}"
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", root)
    monkeypatch.setenv("CITYLAKE_LAKE_STORAGE_OPTIONS", json.dumps(s3.storage_options))
    return root


def test_storage_options_come_from_the_environment(monkeypatch, s3_env):
    lake = open_lake()
    assert lake.root == s3_env and lake.storage_options["AWS_ALLOW_HTTP"] == "true"
    assert not lake.is_local
    monkeypatch.setenv("CITYLAKE_LAKE_STORAGE_OPTIONS", "{endpoint: x}")
    with pytest.raises(ValueError, match=r"CITYLAKE_LAKE_STORAGE_OPTIONS is not JSON"):
        default_storage_options()
    monkeypatch.setenv("CITYLAKE_LAKE_STORAGE_OPTIONS", '{"AWS_ALLOW_HTTP": true}')
    with pytest.raises(ValueError, match="JSON object of strings"):
        default_storage_options()


# Each writer appends its commits to the same table from its own process.
WRITER = """
import sys, pyarrow as pa
from citylake.lake import open_lake
lake, writer = open_lake(), sys.argv[1]
for i in range(int(sys.argv[2])):
    lake.write_arrow("bronze.contended", pa.table({"writer": [writer], "n": [i]}),
                     metadata={"batch_id": f"{writer}:{i}"})
"""


def test_two_concurrent_writers_to_one_table_lose_no_commit(s3, s3_env):
    lake = open_lake()
    lake.write_arrow("bronze.contended", pa.table({"writer": ["setup"], "n": [0]}))
    commits = 15
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, str(commits)], stderr=subprocess.PIPE, text=True)
               for name in ("a", "b")]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read()[-2000:]
    assert lake.version("bronze.contended") == 2 * commits
    rows = lake.read_arrow("bronze.contended").read_all().to_pylist()
    assert sorted((r["writer"], r["n"]) for r in rows if r["writer"] != "setup") == sorted(
        (w, i) for w in "ab" for i in range(commits))
    batches = {h.get("batch_id") for h in lake.history("bronze.contended")}
    assert batches >= {f"{w}:{i}" for w in "ab" for i in range(commits)}
    print(f"two writers x {commits} commits: {s3.refused_commits()} commit attempts refused (412) and retried")


def test_a_round_of_ingestion_the_gate_and_the_gold_builds_on_s3(s3, s3_env, tmp_path, monkeypatch, capsys, spark):
    from citylake.catalog.build import build_catalog
    from citylake.jobs.address.build import build_address
    from citylake.jobs.enterprise.build import build_enterprise
    from citylake.jobs.person.build import build_person
    from citylake.jobs.topics.build import build_topics
    from citylake.sources.registry import load_registry

    home = Home(tmp_path / "home")
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    generate(200, 5, [home.sqlite_source_url()], home.truth)
    lake = open_lake()
    results = ingest_and_gate(home, lake, "d0")
    prefix = s3_env.removeprefix(f"s3://{s3.bucket}/")
    assert not home.lake.exists(), "nothing of the lake on the local disk"
    keys = s3.keys(prefix)
    assert any(k.endswith(".parquet") for k in keys) and any("/_delta_log/" in k for k in keys)

    for name, (extracted, _) in results.items():
        (extract,) = gov.read(lake, gov.BATCH_AUDIT, stage="extract", batch_id=extracted.batch_id)
        (gate,) = gov.read(lake, gov.BATCH_AUDIT, stage="gate", batch_id=f"gate:{extracted.batch_id}")
        assert gate["rows_read"] == extract["rows_written"], name
        assert gate["rows_read"] == gate["inserted"] + gate["deleted"] + gate["rows_unchanged"], name
    assert sum(extracted.rows_written for extracted, _ in results.values()) > 500
    silver = lake.list_tables("silver")
    written = sum(1 for extracted, _ in results.values() if extracted.rows_written)
    print(f"{len(results)} tables extracted, {written} with rows; silver on S3: {len(silver)} tables")
    assert "silver.gongan_czrk" in silver and len(silver) >= written - 2, silver
    assert lake.row_count("governance.quality_issue") > 0

    # Other readers with the same storage options see the same rows.
    table = "silver.gongan_czrk"
    rows = lake.row_count(table)
    assert pl.read_delta(lake.table_uri(table), storage_options=s3.storage_options).height == rows
    # DuckDB scans the Arrow dataset citylake hands out (its delta and httpfs extensions are downloads).
    assert duckdb.connect().from_arrow(lake.dataset(table)).aggregate("count(*)").fetchall()[0][0] == rows
    # The CLI opens the same lake from the same two variables.
    capsys.readouterr()
    assert main(["-q", "sql", f"SELECT count(*) AS n FROM {table}", "--format", "csv", "--role", "engineer"]) == 0
    assert capsys.readouterr().out.split() == ["n", str(rows)]

    # The theme libraries on Spark, reading and writing the same bucket (citylake.lake.spark_object_store).
    registry = load_registry()
    person = build_person(spark, lake, registry)
    assert person["persons"] >= 150 and person["linked_by_id"] > 0
    address = build_address(spark, lake, registry)
    enterprise = build_enterprise(spark, lake, registry)
    topics = build_topics(spark, lake)
    gold = lake.list_tables("gold")
    assert {"gold.person", "gold.person_profile", "gold.address_link", "gold.enterprise", "gold.topic_elderly"} <= set(
        gold)
    assert lake.row_count("gold.person") == person["persons"]
    assert pl.read_delta(lake.table_uri("gold.person"), storage_options=s3.storage_options).height == person["persons"]
    assert not home.lake.exists(), "nothing of the lake on the local disk"
    assert not [k for k in s3.keys(prefix) if "/spark-" in k and not k.endswith(".parquet")]
    # And the catalog of it all, its table on the bucket too.
    catalog = build_catalog(home, lake, site=False)
    assert catalog["lake_tables"] > len(gold) and "governance.catalog" in lake.list_tables("governance")
    print(f"gold on S3: {len(gold)} tables; persons {person['persons']}, address records {address['records']}, "
          f"enterprises {enterprise['enterprises']}, topics {topics['counts']}")


def test_spark_reads_and_writes_the_s3_lake_without_hadoop_jars(s3, s3_env, spark):
    """The Spark side of the lake (citylake.lake.spark_object_store under citylake.lake.delta_rs) on
    the bucket: writes, partitioned writes, merges, key replaces and change reads, nested types."""
    from pyspark.sql import functions as F
    from pyspark.testing import assertDataFrameEqual

    lake = open_lake()
    rows = spark.createDataFrame(
        [("p1", "济南 历下/区", datetime.date(2026, 1, 2), 3, ["a", "b"], {"k": "v"}),
         ("p2", None, datetime.date(2026, 1, 3), None, [], {}),
         ("p3", "a=b%c", None, 5, None, None)],
        "id string, district string, day date, n int, tags array<string>, attributes map<string,string>",
    ).withColumn("at", F.to_timestamp(F.lit("2026-01-02 03:04:05.123456")))
    lake.write_spark(rows, "gold.s3_plain", mode="overwrite")
    assertDataFrameEqual(lake.read_spark(spark, "gold.s3_plain"), rows)
    lake.write_spark(rows, "gold.s3_parts", mode="overwrite", partition_by=["district"])
    assertDataFrameEqual(lake.read_spark(spark, "gold.s3_parts").select(*rows.columns), rows)
    assert duckdb.connect().from_arrow(lake.dataset("gold.s3_parts")).aggregate("count(*)").fetchall()[0][0] == 3

    # A merge rewrites the partitions its rows fall in (here p1's and a new one's).
    changed = spark.createDataFrame([("p1", "济南 历下/区", datetime.date(2026, 2, 1), 7, ["c"], {"x": "y"}),
                                     ("p4", "槐荫区", None, 8, None, None)],
                                    rows.drop("at").schema).withColumn("at", F.current_timestamp())
    before = lake.version("gold.s3_parts")
    lake.merge_spark(changed, "gold.s3_parts", keys=["id"])
    merged = lake.read_spark(spark, "gold.s3_parts")
    assert sorted(r["id"] for r in merged.collect()) == ["p1", "p2", "p3", "p4"]
    assert merged.where("id = 'p1'").first()["n"] == 7
    added, removed = lake.read_spark_changes(spark, "gold.s3_parts", before)
    assert {r["id"] for r in added.collect()} == {"p1", "p4"} and {r["id"] for r in removed.collect()} == {"p1"}
    # By identity (compared in Arrow, files found by their S3 paths): the same rows, values and types.
    by_id, gone = lake.read_spark_changes(spark, "gold.s3_parts", before, identity=["id", "n"])
    assertDataFrameEqual(by_id, added)
    assertDataFrameEqual(gone, removed)

    keys = spark.createDataFrame([("p1",), ("p3",)], "id string")
    lake.replace_spark(changed.where("false"), "gold.s3_plain", ["id"], keys)
    assert [r["id"] for r in lake.read_spark(spark, "gold.s3_plain").collect()] == ["p2"]
    prefix = s3_env.removeprefix(f"s3://{s3.bucket}/")
    assert not [k for k in s3.keys(prefix) if "/spark-" in k and not k.endswith(".parquet")]
