"""The delta-rs backend with Arrow data: reads, writes, merges, failures, locks."""

from __future__ import annotations

import datetime as dt
import os
import threading
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable
from lake_samples import PEOPLE_SCHEMA, UTC, people, sorted_rows

from citylake.lake import (
    DuplicateKeyError,
    LockTimeoutError,
    NullKeyError,
    SchemaMismatchError,
    TableName,
    TableNotFoundError,
)
from citylake.lake.locking import table_lock


def test_round_trip_keeps_types_chinese_text_and_nulls(lake):
    data = people(range(20))
    version = lake.write_arrow("silver.person", data)
    assert version == 0
    assert lake.exists("silver.person")
    assert lake.schema("silver.person") == PEOPLE_SCHEMA
    back = lake.read_arrow("silver.person").read_all()
    assert back.schema == PEOPLE_SCHEMA
    assert sorted_rows(back) == sorted_rows(data)
    assert lake.row_count("silver.person") == 20
    row = sorted_rows(back)[1]
    assert row["name"] == "张1" and row["allowance"] == Decimal("1.01")
    assert row["updated_at"] == dt.datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)


def test_timestamp_without_time_zone_round_trips_as_timestamp_ntz(lake):
    local = pa.table({"id": [1], "seen_at": pa.array([dt.datetime(2024, 5, 1, 8, 0, 0, 1)], pa.timestamp("us"))})
    lake.write_arrow("bronze.seen", local)
    assert lake.schema("bronze.seen").field("seen_at").type == pa.timestamp("us")
    assert lake.read_arrow("bronze.seen").read_all().equals(local)


def test_read_with_columns_filter_and_version(lake):
    lake.write_arrow("silver.person", people(range(10)), partition_by=["district"])
    lake.write_arrow("silver.person", people(range(10, 14)))
    reader = lake.read_arrow(
        "silver.person", columns=["person_id", "district"], filter=pc.field("district") == "历下区"
    )
    assert isinstance(reader, pa.RecordBatchReader)
    table = reader.read_all()
    assert table.column_names == ["person_id", "district"]
    assert sorted(table.column("person_id").to_pylist()) == [1, 3, 5, 7, 9, 11, 13]
    dnf = lake.read_arrow("silver.person", filter=[("person_id", ">=", 12)]).read_all()
    assert sorted(dnf.column("person_id").to_pylist()) == [12, 13]
    assert lake.read_arrow("silver.person", version=0).read_all().num_rows == 10
    assert lake.row_count("silver.person", version=0) == 10
    assert lake.version("silver.person") == 1


def test_append_adds_rows_and_versions(lake):
    assert lake.write_arrow("bronze.gongan_czrk", people(range(5))) == 0
    assert lake.write_arrow("bronze.gongan_czrk", people(range(5, 8))) == 1
    assert lake.row_count("bronze.gongan_czrk") == 8
    assert lake.history("bronze.gongan_czrk")[0]["operationParameters"]["mode"] == "Append"


def test_overwrite_whole_table(lake):
    lake.write_arrow("silver.person", people(range(10)))
    lake.write_arrow("silver.person", people(range(100, 103)), mode="overwrite")
    assert sorted_rows(lake.read_arrow("silver.person")) == sorted_rows(people(range(100, 103)))
    assert lake.row_count("silver.person", version=0) == 10


def test_overwrite_one_partition_by_predicate(lake):
    lake.write_arrow("silver.person", people(range(10)), partition_by=["district"])
    replacement = people([100, 102], district="市中区")
    lake.write_arrow("silver.person", replacement, mode="overwrite", predicate="district = '市中区'")
    rows = sorted_rows(lake.read_arrow("silver.person"))
    assert [r["person_id"] for r in rows] == [1, 3, 5, 7, 9, 100, 102]


def test_schema_change_is_refused_unless_merged(lake):
    lake.write_arrow("silver.person", people(range(3)))
    wider = people(range(3, 5)).append_column("phone", pa.array(["13800000000", None]))
    with pytest.raises(SchemaMismatchError):
        lake.write_arrow("silver.person", wider)
    assert lake.version("silver.person") == 0
    lake.write_arrow("silver.person", wider, schema_mode="merge")
    rows = sorted_rows(lake.read_arrow("silver.person"))
    assert [r["phone"] for r in rows] == [None, None, None, "13800000000", None]


def test_streamed_write_pulls_batches_lazily(lake):
    pulled = []

    def batches():
        for start in range(0, 50, 10):
            pulled.append(start)
            yield from people(range(start, start + 10)).to_batches()

    reader = pa.RecordBatchReader.from_batches(PEOPLE_SCHEMA, batches())
    assert pulled == []  # nothing materialised before the write consumes it
    lake.write_arrow("bronze.stream", reader)
    assert pulled == [0, 10, 20, 30, 40]
    assert lake.row_count("bronze.stream") == 50


def test_write_that_dies_halfway_leaves_previous_version_intact(lake):
    lake.write_arrow("silver.person", people(range(10)), partition_by=["district"])
    before = sorted_rows(lake.read_arrow("silver.person"))

    def batches():
        yield from people(range(100, 110)).to_batches()
        yield from people(range(110, 120)).to_batches()
        raise RuntimeError("source connection lost")

    with pytest.raises(Exception, match="source connection lost"):
        lake.write_arrow("silver.person", pa.RecordBatchReader.from_batches(PEOPLE_SCHEMA, batches()))
    assert lake.version("silver.person") == 0
    assert lake.row_count("silver.person") == 10
    assert sorted_rows(lake.read_arrow("silver.person")) == before
    # Orphans of the failed write are invisible; a full vacuum removes them.
    lake.vacuum("silver.person", retention_hours=0, dry_run=False, full=True)
    table_files = {os.path.join(d, f) for d, _, fs in os.walk(lake.table_uri("silver.person")) for f in fs
                   if f.endswith(".parquet")}
    assert table_files == set(DeltaTable(lake.table_uri("silver.person")).file_uris())
    assert sorted_rows(lake.read_arrow("silver.person")) == before


def test_commit_metadata_is_recorded_for_lineage(lake):
    lake.write_arrow("bronze.gongan_czrk", people(range(3)), metadata={"batch_id": "b-42", "job": "extract"})
    last = lake.history("bronze.gongan_czrk", limit=1)[0]
    assert last["batch_id"] == "b-42" and last["job"] == "extract"


def test_a_write_with_a_transaction_id_commits_once(lake):
    table = "quarantine.gongan_czrk"
    assert lake.write_arrow(table, people(range(3)), transaction="gate:b-1", metadata={"job": "gate"}) == 0
    assert lake.write_arrow(table, people(range(3)), transaction="gate:b-1") == 0
    assert lake.write_arrow(table, people(range(3, 5)), transaction="gate:b-2") == 1
    assert lake.row_count(table) == 5
    # The id lives in the Delta log (a txn action), so it outlives a checkpoint and other writers' commits.
    lake.write_arrow(table, people(range(5, 6)))
    DeltaTable(lake.table_uri(table)).create_checkpoint()
    assert lake.write_arrow(table, people(range(3)), transaction="gate:b-1") == 2
    assert lake.row_count(table) == 6
    assert DeltaTable(lake.table_uri(table)).transaction_version("gate:b-2") == 0


def test_merge_updates_and_inserts_with_unique_keys(lake):
    lake.write_arrow("gold.person", people(range(10)), partition_by=["district"])
    changes = people([2, 4, 20], district="市中区", suffix="改")
    metrics = lake.merge_arrow("gold.person", changes, keys=["person_id"], metadata={"batch_id": "b2"})
    assert metrics["num_target_rows_updated"] == 2
    assert metrics["num_target_rows_inserted"] == 1
    rows = sorted_rows(lake.read_arrow("gold.person"))
    ids = [r["person_id"] for r in rows]
    assert ids == sorted(set(ids)) == [*range(10), 20]
    by_id = {r["person_id"]: r for r in rows}
    assert by_id[2]["name"] == "张2改" and by_id[20]["name"] == "张20改" and by_id[1]["name"] == "张1"
    assert lake.history("gold.person", limit=1)[0]["batch_id"] == "b2"


def test_merge_only_rewrites_partitions_present_in_the_source(lake):
    lake.write_arrow("gold.person", people(range(10)), partition_by=["district"])
    untouched = set(DeltaTable(lake.table_uri("gold.person")).file_uris([("district", "=", "历下区")]))
    metrics = lake.merge_arrow("gold.person", people([2, 4], district="市中区", suffix="改"), keys=["person_id"])
    assert metrics["num_partitions_rewritten"] == 1
    assert metrics["num_target_rows_copied"] == 3
    assert set(DeltaTable(lake.table_uri("gold.person")).file_uris([("district", "=", "历下区")])) == untouched


def test_repeated_merge_is_idempotent_with_escaped_partition_values(lake):
    # delta-rs 1.5.0's own MERGE duplicates rows here (delta-io/delta-rs#4352).
    def with_districts(table: pa.Table) -> pa.Table:
        districts = [["历下 区", "a/b%", None][i % 3] for i in table.column("person_id").to_pylist()]
        return table.set_column(2, "district", pa.array(districts, pa.string()))

    lake.write_arrow("gold.person", with_districts(people(range(6))), partition_by=["district"])
    changes = with_districts(people([1, 2, 30], suffix="改"))
    for _ in range(3):
        lake.merge_arrow("gold.person", changes, keys=["person_id"])
    rows = sorted_rows(lake.read_arrow("gold.person"))
    assert sorted(r["person_id"] for r in rows) == [0, 1, 2, 3, 4, 5, 30]
    assert lake.row_count("gold.person") == 7


def test_merge_into_unpartitioned_table_uses_delta_rs_merge(lake):
    lake.write_arrow("gold.enterprise", people(range(10)))
    metrics = lake.merge_arrow("gold.enterprise", people([4, 11], suffix="改"), keys=["person_id"])
    assert metrics["num_target_rows_updated"] == 1 and metrics["num_target_rows_inserted"] == 1
    assert "num_target_files_removed" in metrics  # delta-rs' own metrics
    rows = sorted_rows(lake.read_arrow("gold.enterprise"))
    assert [r["person_id"] for r in rows] == [*range(10), 11]
    assert rows[4]["name"] == "张4改"


def test_merge_with_composite_key_and_two_partition_columns(lake):
    base = pa.table({"region": ["a", "a", "b", "b"], "day": [1, 2, 1, 2], "seq": [1, 1, 1, 1], "v": [0, 0, 0, 0]})
    lake.write_arrow("gold.counts", base, partition_by=["region", "day"])
    changes = pa.table({"region": ["a", "b", "c"], "day": [1, 2, 1], "seq": [1, 2, 1], "v": [9, 9, 9]})
    metrics = lake.merge_arrow("gold.counts", changes, keys=["region", "day", "seq"])
    assert metrics["num_partitions_rewritten"] == 3  # two existing, one new
    rows = lake.read_arrow("gold.counts").read_all().sort_by([("region", "ascending"), ("day", "ascending"),
                                                               ("seq", "ascending")]).to_pylist()
    assert [(r["region"], r["day"], r["seq"], r["v"]) for r in rows] == [
        ("a", 1, 1, 9), ("a", 2, 1, 0), ("b", 1, 1, 0), ("b", 2, 1, 0), ("b", 2, 2, 9), ("c", 1, 1, 9)
    ]


def test_merge_refuses_a_source_with_other_columns(lake):
    lake.write_arrow("gold.person", people(range(3)), partition_by=["district"])
    with pytest.raises(SchemaMismatchError, match="missing columns"):
        lake.merge_arrow("gold.person", people([1]).drop_columns(["name"]), keys=["person_id"])


def test_merge_refuses_duplicate_source_keys(lake):
    lake.write_arrow("gold.person", people(range(3)))
    with pytest.raises(DuplicateKeyError):
        lake.merge_arrow("gold.person", people([1, 1]), keys=["person_id"])
    assert lake.version("gold.person") == 0


def test_merge_refuses_null_keys(lake):
    lake.write_arrow("gold.person", people(range(3)))
    source = pa.table({"person_id": [1, None], "name": ["a", "b"]})
    with pytest.raises(NullKeyError, match="person_id"):
        lake.merge_arrow("gold.person", source, keys=["person_id"])


def test_merge_creates_a_missing_table(lake):
    lake.merge_arrow("gold.person", people(range(4)).to_reader(), keys=["person_id"], partition_by=["district"])
    assert lake.partition_columns("gold.person") == ["district"]
    assert lake.row_count("gold.person") == 4


def test_delete_by_predicate(lake):
    lake.write_arrow("gold.person", people(range(6)))
    lake.delete("gold.person", "person_id IN (1, 2)", metadata={"batch_id": "b3"})
    assert [r["person_id"] for r in sorted_rows(lake.read_arrow("gold.person"))] == [0, 3, 4, 5]


def test_missing_table_raises_table_not_found(lake):
    assert not lake.exists("silver.nothing")
    with pytest.raises(TableNotFoundError, match="silver.nothing"):
        lake.version("silver.nothing")
    with pytest.raises(TableNotFoundError):
        lake.read_arrow("silver.nothing")


def test_list_tables(lake):
    assert lake.list_tables() == []
    lake.write_arrow("bronze.a", people(range(1)))
    lake.write_arrow("silver.b", people(range(1)))
    lake.write_arrow("silver.c", people(range(1)))
    assert lake.list_tables() == ["bronze.a", "silver.b", "silver.c"]
    assert lake.list_tables("silver") == ["silver.b", "silver.c"]


def test_concurrent_appends_all_land(lake):
    lake.write_arrow("governance.batch_audit", people(range(1)))
    errors: list[BaseException] = []

    def append_five(offset: int) -> None:
        try:
            for i in range(5):
                lake.write_arrow("governance.batch_audit", people([offset + i]))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=append_five, args=(start,)) for start in (100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert lake.version("governance.batch_audit") == 10
    ids = sorted(lake.read_arrow("governance.batch_audit").read_all().column("person_id").to_pylist())
    assert ids == [0, *range(100, 105), *range(200, 205)]


def test_lock_excludes_other_writers_and_times_out(lake, tmp_path):
    name = TableName.parse("silver.person")
    failures: list[Exception] = []

    def other_writer() -> None:
        try:
            with table_lock(tmp_path / "lake", name, timeout=0.1):
                pass
        except LockTimeoutError as exc:
            failures.append(exc)

    with table_lock(tmp_path / "lake", name):
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join()
    assert len(failures) == 1 and "silver.person" in str(failures[0])
    with table_lock(tmp_path / "lake", name, timeout=0.1):
        pass


def test_a_thread_holding_the_lock_can_commit_through_the_lake(lake):
    """A read-check-write holds the table's lock around a merge that takes it again."""
    lake.write_arrow("governance.issue", people(range(3)))
    with lake.lock("governance.issue"):
        before = lake.row_count("governance.issue")
        lake.merge_arrow("governance.issue", people([5]), keys=["person_id"])
    assert lake.row_count("governance.issue") == before + 1


def test_merge_with_schema_merge_adds_the_new_columns(lake):
    lake.write_arrow("governance.issue", people(range(3)))
    changes = people([1, 7]).append_column("status", pa.array(["已整改", "待整改"]))
    with pytest.raises(SchemaMismatchError, match="extra columns"):
        lake.merge_arrow("governance.issue", changes, keys=["person_id"])
    lake.merge_arrow("governance.issue", changes, keys=["person_id"], schema_mode="merge")
    rows = {r["person_id"]: r for r in sorted_rows(lake.read_arrow("governance.issue"))}
    assert [rows[i]["status"] for i in (0, 1, 2, 7)] == [None, "已整改", None, "待整改"]
