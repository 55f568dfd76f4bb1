"""Column statistics in the Delta log follow the lake's stats policy (issue 13, finding 8).

Every write path is checked by reading the ``add`` actions of the commits it makes: delta-rs
``write_deltalake`` (append, overwrite), MERGE (unpartitioned) and the partition rewrite
(partitioned), ``delete``'s rewrites, and the Spark path whose footer statistics
``citylake.lake.parquet_stats`` turns into add actions. A table made before the policy gets it on
its next write. A write refused for rows outside its predicate does not echo those rows either.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from citylake.lake import DeltaRsLake
from citylake.lake.stats import NUM_INDEXED_COLUMNS, STATS_COLUMNS

ALLOWED = ["_batch_id", "n"]


def only_batch_and_n(table, schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if f.name in ALLOWED]


def rows(ids: list[int], batch: str) -> pa.Table:
    return pa.table({
        "id_number": [f"11010519491231{i:03d}X" for i in ids],
        "name": [f"张{i}" for i in ids],
        "district": ["历下区" if i % 2 else "市中区" for i in ids],
        "n": ids,
        "_batch_id": [batch] * len(ids),
    })


def stats_of_commits(table_dir: Path) -> list[dict]:
    """The parsed ``stats`` of every add action in the table's log."""
    out = []
    for path in sorted((table_dir / "_delta_log").glob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            action = json.loads(line)
            if "add" in action and action["add"].get("stats"):
                out.append(json.loads(action["add"]["stats"]))
    return out


def stats_columns(stats: dict) -> set[str]:
    return set(stats.get("minValues", {})) | set(stats.get("maxValues", {})) | set(stats.get("nullCount", {}))


def assert_only_allowed(table_dir: Path) -> list[dict]:
    found = stats_of_commits(table_dir)
    assert found, "no add action carried statistics"
    for stats in found:
        assert stats_columns(stats) <= set(ALLOWED), stats
        assert "numRecords" in stats
    log_text = "".join(p.read_text(encoding="utf-8") for p in (table_dir / "_delta_log").glob("*.json"))
    assert "11010519491231" not in log_text and "张" not in log_text
    return found


@pytest.fixture
def policed(tmp_path) -> DeltaRsLake:
    return DeltaRsLake(tmp_path / "lake", stats_policy=only_batch_and_n)


def test_arrow_writes_merges_and_deletes_keep_stats_to_the_allowed_columns(policed):
    policed.write_arrow("bronze.people", rows([1, 2, 3], "b1"))
    policed.write_arrow("bronze.people", rows([4, 5], "b2"))
    policed.write_arrow("bronze.people", rows([6], "b3"), mode="overwrite", predicate="n = 6")
    policed.merge_arrow("bronze.people", rows([2, 7], "b4"), keys=["id_number"])
    policed.delete("bronze.people", "n = 1")
    table_dir = Path(policed.table_uri("bronze.people"))
    found = assert_only_allowed(table_dir)
    assert any(s["maxValues"].get("_batch_id") == "b4" for s in found)
    config = policed.delta_table("bronze.people").metadata().configuration
    assert config[STATS_COLUMNS] == "_batch_id,n"
    assert policed.row_count("bronze.people") == 6


def test_partitioned_merge_rewrite_follows_the_policy(policed):
    policed.merge_arrow("silver.people", rows([1, 2, 3], "b1"), keys=["id_number"], partition_by=["district"])
    policed.merge_arrow("silver.people", rows([2, 4], "b2"), keys=["id_number"])
    assert_only_allowed(Path(policed.table_uri("silver.people")))
    assert policed.row_count("silver.people") == 4


def test_a_table_without_the_policy_gets_it_on_its_next_write(tmp_path):
    plain = DeltaRsLake(tmp_path / "lake")
    plain.write_arrow("bronze.people", rows([1], "b1"))
    table_dir = Path(plain.table_uri("bronze.people"))
    assert "name" in stats_columns(stats_of_commits(table_dir)[0])  # Delta's default: every column

    policed = DeltaRsLake(tmp_path / "lake", stats_policy=only_batch_and_n)
    policed.write_arrow("bronze.people", rows([2], "b2"))
    newest = stats_of_commits(table_dir)[-1]
    assert stats_columns(newest) == set(ALLOWED)
    history = policed.history("bronze.people")
    assert history[1]["job"] == "stats policy"  # one property commit before the write
    policed.write_arrow("bronze.people", rows([3], "b3"))
    assert len(policed.history("bronze.people")) == 4  # no second property commit


def test_no_allowed_column_means_no_statistics(tmp_path):
    lake = DeltaRsLake(tmp_path / "lake", stats_policy=lambda table, schema: [])
    lake.write_arrow("governance.secret", rows([1, 2], "b1"))
    found = stats_of_commits(Path(lake.table_uri("governance.secret")))
    assert found and all(stats_columns(s) == set() for s in found)
    assert lake.delta_table("governance.secret").metadata().configuration[NUM_INDEXED_COLUMNS] == "0"
    assert lake.row_count("governance.secret") == 2


def test_data_skipping_on_an_allowed_column_still_prunes_files(policed):
    for batch in ("b1", "b2", "b3"):
        policed.write_arrow("bronze.people", rows([1, 2], batch))
    dataset = policed.dataset("bronze.people")
    assert len(list(dataset.get_fragments())) == 3
    assert len(list(dataset.get_fragments(filter=pc.field("_batch_id") == "b2"))) == 1
    assert policed.read_arrow("bronze.people", filter=pc.field("_batch_id") == "b2").read_all().num_rows == 2


def test_spark_writes_and_merges_follow_the_policy(policed, spark):
    df = spark.createDataFrame(rows([1, 2, 3], "b1").to_pandas())
    policed.write_spark(df, "bronze.people")
    policed.write_spark(spark.createDataFrame(rows([4], "b2").to_pandas()), "bronze.people")
    policed.merge_spark(spark.createDataFrame(rows([2, 5], "b3").to_pandas()), "bronze.people", keys=["id_number"])
    policed.merge_spark(df, "silver.people", keys=["id_number"], partition_by=["district"])
    for table in ("bronze.people", "silver.people"):
        found = assert_only_allowed(Path(policed.table_uri(table)))
        assert all(set(s["minValues"]) == set(ALLOWED) for s in found)
    assert policed.row_count("bronze.people") == 5


def test_delta_logs_of_an_ingested_and_gated_city_hold_no_personal_numbers(tmp_path):
    """The regression test of finding 8: a real ingest and gate through ``open_lake``'s policy."""
    import duckdb
    import polars as pl
    from pii_scan import scan_file

    from tests.quality.cities import city, ingest_and_gate

    home, lake, _ = city(tmp_path, 300, 13)
    ingest_and_gate(home, lake, "t1")
    logs = sorted(home.lake.glob("*/*/_delta_log/*.json"))
    assert len({p.parent.parent for p in logs}) >= 20
    leaks = [leak for path in logs for leak in scan_file(path, home.lake)]
    assert not leaks, "\n".join(map(str, leaks[:20]))

    def columns_with_stats(table: str) -> set[str]:
        return set().union(*(stats_columns(s) for s in stats_of_commits(Path(lake.table_uri(table)))))

    for layer in ("bronze", "silver"):
        czrk = columns_with_stats(f"{layer}.gongan_czrk")
        assert {"_batch_id", "RYID", "GXSJ"} <= czrk  # metadata, key and update column
        assert not czrk & {"GMSFHM", "XM", "HJDZ", "LXDH", "CSRQ"}  # ID, name, address, mobile, birth date
        qydj = columns_with_stats(f"{layer}.scjg_qydj")
        assert {"TYSHXYDM", "CLRQ", "ZCZB"} <= qydj  # a USCC (一般数据), a date, an amount
        assert "FDDBRZJHM" not in qydj and "FDDBR" not in qydj  # the legal representative's ID and name
    assert "aac006" not in columns_with_stats("bronze.renshe_ac02")  # a birth date stored as an integer
    issues = columns_with_stats("governance.quality_issue")
    assert {"batch_id", "rule", "status"} <= issues and not issues & {"record_key", "masked_value"}

    # Readers other than the lake's own still read the tables, and skip files by _batch_id.
    bronze = lake.table_uri("bronze.gongan_czrk")
    assert pl.read_delta(bronze).height == lake.row_count("bronze.gongan_czrk")
    dataset = lake.dataset("silver.gongan_czrk")
    assert duckdb.sql("select count(*) from dataset").fetchall()[0][0] == lake.row_count("silver.gongan_czrk")
    assert not list(dataset.get_fragments(filter=pc.field("_batch_id") == "no such batch"))


def test_rows_outside_an_overwrite_predicate_are_refused_without_showing_them(policed):
    from citylake.lake import PartitionMismatchError

    policed.write_arrow("bronze.people", rows([1, 2], "b1"))
    with pytest.raises(PartitionMismatchError, match=r"rows outside the predicate 'n = 1' \(.*values not shown\)") as error:
        policed.write_arrow("bronze.people", rows([1, 2], "b2"), mode="overwrite", predicate="n = 1")
    assert "11010519491231" not in str(error.value) and "张" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert policed.row_count("bronze.people") == 2
