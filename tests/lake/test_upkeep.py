"""Lake upkeep (citylake.lake.upkeep): compaction, vacuum and log cleanup keep the rows, time travel
within the retention and every reader working, and the nightly DAG runs it on every table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from lake_samples import PEOPLE_SCHEMA, people, sorted_rows

from citylake.configuration import ConfigurationError
from citylake.lake import DeltaRsLake
from citylake.lake.upkeep import UpkeepPolicy, load_upkeep_settings, maintain_lake, maintain_table

POLICY = UpkeepPolicy(target_file_mb=128, min_small_files=4, retention_hours=168, log_retention_hours=720)
APPENDS = 12


def _appended(lake: DeltaRsLake, table: str, appends: int = APPENDS, **write: object) -> None:
    """``appends`` one-batch commits of two rows each, as the gate appends to a governance table."""
    for i in range(appends):
        lake.write_arrow(table, people(range(2 * i, 2 * i + 2)), mode="append", **write)


def _rows(lake: DeltaRsLake, table: str, version: int | None = None) -> list:
    return sorted_rows(lake.dataset(table, version=version).to_table().cast(PEOPLE_SCHEMA))


def _log_files(lake: DeltaRsLake, table: str) -> list[str]:

    return sorted(p.name for p in (Path(lake.table_uri(table)) / "_delta_log").iterdir())


@pytest.mark.parametrize("partitioned", [False, True], ids=["plain", "partitioned"])
def test_compaction_keeps_the_rows_and_time_travel_within_the_retention(lake, partitioned):
    write = {"partition_by": ["district"]} if partitioned else {}
    _appended(lake, "governance.batch_audit", **write)
    versions = {v: _rows(lake, "governance.batch_audit", v) for v in range(APPENDS)}
    before = len(lake.file_sizes("governance.batch_audit"))
    assert before == APPENDS * (2 if partitioned else 1)

    result = maintain_table(lake, "governance.batch_audit", POLICY)

    assert result["compaction"] == "done" and result["vacuumed_files"] == 0
    assert result["files_before"] == before
    assert result["files_after"] == len(lake.file_sizes("governance.batch_audit")) == (2 if partitioned else 1)
    assert _rows(lake, "governance.batch_audit") == versions[APPENDS - 1] == sorted_rows(people(range(2 * APPENDS)))
    # Every earlier version reads as it did: their files are younger than the retention.
    for version, rows in versions.items():
        assert _rows(lake, "governance.batch_audit", version) == rows
    assert lake.partition_columns("governance.batch_audit") == (["district"] if partitioned else [])
    assert lake.history("governance.batch_audit", 2)[-1]["operation"] == "OPTIMIZE"


def test_every_reader_reads_the_maintained_table(lake, spark):
    _appended(lake, "silver.person", partition_by=["district"])
    snapshot = lake.dataset("silver.person")  # a reader that opened the table before the upkeep
    maintain_table(lake, "silver.person", POLICY)
    expected = sorted_rows(people(range(2 * APPENDS)))

    assert sorted_rows(snapshot.to_table().cast(PEOPLE_SCHEMA)) == expected
    uri = lake.table_uri("silver.person")
    assert sorted_rows(pl.read_delta(uri).to_arrow().cast(PEOPLE_SCHEMA)) == expected
    con = duckdb.connect()
    con.register("person", lake.dataset("silver.person"))
    assert sorted_rows(con.sql("SELECT * FROM person").to_arrow_table().cast(PEOPLE_SCHEMA)) == expected
    assert lake.read_spark(spark, "silver.person").count() == 2 * APPENDS


def test_a_second_run_changes_nothing(lake):
    _appended(lake, "governance.quality_issue")
    maintain_table(lake, "governance.quality_issue", POLICY)
    version, files = lake.version("governance.quality_issue"), _log_files(lake, "governance.quality_issue")

    again = maintain_table(lake, "governance.quality_issue", POLICY)

    assert again["compaction"] == "not needed" and again["vacuumed_files"] == 0
    assert lake.version("governance.quality_issue") == version == again["version_before"] == again["version_after"]
    assert _log_files(lake, "governance.quality_issue") == files


def test_a_table_with_few_small_files_is_left_alone(lake):
    _appended(lake, "silver.person", appends=POLICY.min_small_files - 1)
    result = maintain_table(lake, "silver.person", POLICY)
    assert result["compaction"] == "not needed"
    assert result["files_after"] == POLICY.min_small_files - 1
    assert "OPTIMIZE" not in {commit["operation"] for commit in lake.history("silver.person")}


def test_vacuum_past_the_retention_removes_old_files_orphans_and_log(lake):

    _appended(lake, "governance.rule_result")
    orphan = Path(lake.table_uri("governance.rule_result")) / "part-00000-orphan-of-a-failed-write.parquet"
    orphan.write_bytes(b"PAR1")
    kept = maintain_table(lake, "governance.rule_result", POLICY)  # 7 days: nothing old enough to go
    assert kept["vacuumed_files"] == 0 and orphan.exists()

    gone = maintain_table(lake, "governance.rule_result",
                          POLICY.model_copy(update={"retention_hours": 0, "log_retention_hours": 0}))

    assert gone["vacuumed_files"] == APPENDS + 1  # the compacted small files and the orphan
    assert not orphan.exists()
    assert _rows(lake, "governance.rule_result") == sorted_rows(people(range(2 * APPENDS)))
    # The log is one checkpoint and the commit it checkpoints: versions before it are gone.
    log_files = _log_files(lake, "governance.rule_result")
    assert any(name.endswith(".checkpoint.parquet") for name in log_files)
    assert len([name for name in log_files if name.endswith(".json")]) == 1
    with pytest.raises(Exception):  # noqa: B017 (delta-rs raises its own error type for a vanished version)
        lake.dataset("governance.rule_result", version=0).to_table()


def test_maintain_lake_does_every_table_by_its_layer_policy(lake):
    _appended(lake, "governance.batch_audit", appends=5)
    _appended(lake, "bronze.gongan_czrk", appends=5)
    results = {r["table"]: r for r in maintain_lake(lake, load_upkeep_settings())}
    assert set(results) == {"bronze.gongan_czrk", "governance.batch_audit"}
    # The shipped policy compacts governance tables at 4 small files, other layers at 8.
    assert results["governance.batch_audit"]["compaction"] == "done"
    assert results["bronze.gongan_czrk"]["compaction"] == "not needed"


def test_the_shipped_policy_by_layer_and_table():
    settings = load_upkeep_settings()
    assert settings.policy_for("bronze.gongan_czrk").retention_hours == 720
    assert settings.policy_for("governance.batch_audit").min_small_files == 4
    assert settings.policy_for("gold.person") == settings.defaults


@pytest.mark.parametrize(("text", "message"), [
    ("defaults: {target_file_mb: 128, min_small_files: 8, retention_hours: 168, log_retention_hours: 720, "
     "retention_days: 3}", "defaults: unknown entries ['retention_days']"),
    ("defaults: {target_file_mb: 128, min_small_files: 8, retention_hours: 168, log_retention_hours: 720}\n"
     "layers: {bronze: {log_retention_hours: 24}}", "log_retention_hours (24) is shorter than retention_hours (168)"),
    ("defaults: {target_file_mb: 0, min_small_files: 8, retention_hours: 168, log_retention_hours: 720}",
     "defaults.target_file_mb: Input should be greater than 0"),
    ("defaults: {target_file_mb: 128, min_small_files: 8, retention_hours: 168, log_retention_hours: 720}\n"
     "tables: {gold: {retention_hours: 1}}", "gold"),
])
def test_a_malformed_policy_is_one_line_naming_the_file_and_entry(tmp_path, text, message):
    path = tmp_path / "upkeep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as error:
        load_upkeep_settings(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_citylake_lake_maintain(tmp_path):
    lake = DeltaRsLake(tmp_path / "lake")
    _appended(lake, "governance.batch_audit", appends=5)
    env = {"CITYLAKE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "citylake.cli", "lake", "maintain", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    dry = cli("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "governance.batch_audit" in dry.stdout and " due " in dry.stdout and "dry run" in dry.stdout
    assert len(lake.file_sizes("governance.batch_audit")) == 5
    done = cli("--table", "governance.batch_audit")
    assert done.returncode == 0, done.stderr
    assert " done " in done.stdout and len(lake.file_sizes("governance.batch_audit")) == 1
    missing = cli("--table", "gold.nothing")
    assert missing.returncode == 2 and "no such lake table: gold.nothing" in missing.stdout


@pytest.mark.slow
def test_the_nightly_dag_maintains_every_table(tmp_path):
    from citylake.orchestration.run import run_upkeep
    from citylake.settings import Home

    lake = DeltaRsLake(tmp_path / "lake")
    _appended(lake, "governance.batch_audit", appends=5)
    lake.write_arrow("gold.person", pa.table({"person_id": ["1"]}))

    summary = run_upkeep(Home(tmp_path), timeout=600)

    assert [r["table"] for r in summary["tables"]] == ["gold.person", "governance.batch_audit"]
    assert summary["compacted"] == 1 and summary["files_after"] == 2
    assert json.loads(json.dumps(summary))  # a small, plain XCom
    assert _rows(lake, "governance.batch_audit") == sorted_rows(people(range(10)))
