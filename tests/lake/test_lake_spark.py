"""The delta-rs backend with Spark DataFrames: Spark computes and writes files, delta-rs commits."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from lake_samples import PEOPLE_SCHEMA, UTC, people, sorted_rows
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from citylake.lake import (
    BackendUnavailableError,
    DeltaRsLake,
    DuplicateKeyError,
    NullKeyError,
    PartitionMismatchError,
    SchemaMismatchError,
    delta_spark,
    open_lake,
)
from citylake.lake.table_schema import arrow_to_spark_schema


def spark_people(spark, ids, district=None, suffix=""):
    """The sample rows as a Spark DataFrame with the lake schema."""
    return spark.createDataFrame(people(ids, district, suffix).to_pylist(), arrow_to_spark_schema(PEOPLE_SCHEMA))


def parquet_files(folder: str) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.endswith(".parquet")}


def test_read_spark_adds_partition_values_back(spark, lake):
    lake.write_arrow("silver.person", people(range(10)), partition_by=["district"])
    df = lake.read_spark(spark, "silver.person")
    assert df.columns == PEOPLE_SCHEMA.names
    assertDataFrameEqual(df, spark_people(spark, range(10)))


def test_empty_frame_creates_an_empty_table_that_reads_back_with_its_schema(spark, lake):
    lake.write_spark(spark_people(spark, []), "silver.person", partition_by=["district"])
    assert lake.exists("silver.person") and lake.row_count("silver.person") == 0
    assert lake.schema("silver.person") == PEOPLE_SCHEMA
    df = lake.read_spark(spark, "silver.person")
    assert df.schema == arrow_to_spark_schema(PEOPLE_SCHEMA)
    assert df.count() == 0


def test_session_has_the_lake_settings(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"
    assert spark.conf.get("spark.sql.parquet.datetimeRebaseModeInWrite") == "CORRECTED"


def test_delta_spark_backend_checks_the_jars_of_the_session(spark, tmp_path, monkeypatch):
    # Pretend the delta-spark Python package is installed: the missing jars must still be caught.
    monkeypatch.setattr(delta_spark.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(BackendUnavailableError, match="jars"):
        open_lake(tmp_path, backend="delta-spark", spark=spark)


def test_read_spark_after_schema_evolution_gives_nulls_for_old_files(spark, lake):
    lake.write_arrow("silver.person", people(range(2)), partition_by=["district"])
    wider = people(range(2, 4)).append_column("phone", pa.array(["13800000000", None]))
    lake.write_arrow("silver.person", wider, schema_mode="merge")
    rows = lake.read_spark(spark, "silver.person").orderBy("person_id").select("person_id", "phone").collect()
    assert [tuple(r) for r in rows] == [(0, None), (1, None), (2, "13800000000"), (3, None)]


def test_read_spark_time_travel(spark, lake):
    lake.write_arrow("silver.person", people(range(3)))
    lake.write_arrow("silver.person", people(range(3, 5)))
    assert lake.read_spark(spark, "silver.person", version=0).count() == 3
    assert lake.read_spark(spark, "silver.person").count() == 5


def test_write_spark_creates_appends_and_round_trips_types(spark, lake):
    assert lake.write_spark(spark_people(spark, range(6)), "silver.person", partition_by=["district"]) == 0
    assert lake.write_spark(spark_people(spark, range(6, 9)), "silver.person", metadata={"batch_id": "b7"}) == 1
    assert lake.partition_columns("silver.person") == ["district"]
    assert lake.schema("silver.person") == PEOPLE_SCHEMA
    # Read back by delta-rs (Arrow) and by Spark, with decimals, dates, UTC timestamps, Chinese, nulls.
    assert sorted_rows(lake.read_arrow("silver.person")) == sorted_rows(people(range(9)))
    assertDataFrameEqual(lake.read_spark(spark, "silver.person"), spark_people(spark, range(9)))
    assert lake.row_count("silver.person") == 9
    assert lake.history("silver.person", limit=1)[0]["batch_id"] == "b7"
    # Staging leaves nothing but data files, all referenced by the log.
    table_dir = lake.table_uri("silver.person")
    assert parquet_files(table_dir) == set(DeltaTable(table_dir).file_uris())
    leftovers = [f for d, _, fs in os.walk(table_dir) if "_delta_log" not in d for f in fs if not f.endswith(".parquet")]
    assert leftovers == []


def test_spark_timestamps_keep_the_instant_and_ntz_stays_local(spark, lake):
    df = spark.createDataFrame(
        [(1, dt.datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC), dt.datetime(2024, 5, 1, 8, 30, 0, 123456))],
        "id long, at timestamp, local_at timestamp_ntz",
    )
    lake.write_spark(df, "bronze.events")
    schema = lake.schema("bronze.events")
    assert schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("local_at").type == pa.timestamp("us")
    row = lake.read_arrow("bronze.events").read_all().to_pylist()[0]
    assert row["at"] == dt.datetime(2024, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)
    assert row["local_at"] == dt.datetime(2024, 5, 1, 8, 30, 0, 123456)
    assertDataFrameEqual(lake.read_spark(spark, "bronze.events"), df)


def test_add_actions_carry_footer_statistics(spark, lake):
    lake.write_spark(spark_people(spark, range(10)).coalesce(1), "silver.person", partition_by=["district"])
    add = DeltaTable(lake.table_uri("silver.person")).get_add_actions(flatten=True)
    actions = {row["partition.district"]: row for row in pa.table(add).to_pylist()}
    assert actions["历下区"]["num_records"] == 5
    assert actions["历下区"]["min.person_id"] == 1 and actions["历下区"]["max.person_id"] == 9
    assert actions["市中区"]["null_count.allowance"] == 2  # ids 2 and 8


def test_escaped_and_null_partition_values(spark, lake):
    df = spark.createDataFrame(
        [(1, "历下区"), (2, "a/b [x]%"), (3, None), (4, "a b")], "id long, district string"
    )
    lake.write_spark(df, "bronze.places", partition_by=["district"])
    assert sorted_rows(lake.read_arrow("bronze.places"), "id") == [
        {"id": 1, "district": "历下区"}, {"id": 2, "district": "a/b [x]%"},
        {"id": 3, "district": None}, {"id": 4, "district": "a b"},
    ]
    assertDataFrameEqual(lake.read_spark(spark, "bronze.places"), df)


def test_overwrite_whole_table(spark, lake):
    lake.write_spark(spark_people(spark, range(5)), "silver.person")
    lake.write_spark(spark_people(spark, range(50, 52)), "silver.person", mode="overwrite")
    assertDataFrameEqual(lake.read_spark(spark, "silver.person"), spark_people(spark, range(50, 52)))
    assert lake.row_count("silver.person", version=0) == 5


def test_overwrite_given_partitions_only(spark, lake):
    lake.write_spark(spark_people(spark, range(6)), "silver.person", partition_by=["district"])
    replacement = spark_people(spark, [100, 102], district="市中区")
    lake.write_spark(replacement, "silver.person", mode="overwrite", partitions={"district": "市中区"})
    ids = sorted(r["person_id"] for r in lake.read_arrow("silver.person").read_all().to_pylist())
    assert ids == [1, 3, 5, 100, 102]


def test_overwrite_refuses_rows_outside_the_partitions_and_commits_nothing(spark, lake):
    lake.write_spark(spark_people(spark, range(6)), "silver.person", partition_by=["district"])
    files_before = parquet_files(lake.table_uri("silver.person"))
    with pytest.raises(PartitionMismatchError, match="outside"):
        lake.write_spark(spark_people(spark, [7, 8]), "silver.person", mode="overwrite",
                         partitions={"district": "市中区"})
    assert lake.version("silver.person") == 0
    assert parquet_files(lake.table_uri("silver.person")) == files_before  # staging removed


def test_schema_mismatch_is_refused_before_writing(spark, lake):
    lake.write_spark(spark_people(spark, range(3)), "silver.person")
    narrower = spark_people(spark, range(3, 5)).drop("allowance").withColumn("person_id", F.col("person_id").cast("int"))
    with pytest.raises(SchemaMismatchError, match="missing columns \\['allowance'\\].*person_id"):
        lake.write_spark(narrower, "silver.person")
    with pytest.raises(PartitionMismatchError):
        lake.write_spark(spark_people(spark, range(3, 5)), "silver.person", partition_by=["district"])
    assert lake.version("silver.person") == 0


def test_spark_job_failing_midway_leaves_previous_version_intact(spark, lake):
    lake.write_spark(spark_people(spark, range(10)), "silver.person", partition_by=["district"])
    before = sorted_rows(lake.read_arrow("silver.person"))
    files_before = parquet_files(lake.table_uri("silver.person"))

    @F.udf(T.LongType())
    def fail_on_row_77(person_id):
        if person_id == 77:
            raise ValueError("corrupt source row 77")
        return person_id

    # Four tasks; the one holding row 77 fails after the others wrote their files.
    doomed = spark_people(spark, range(40, 80)).repartition(4, "person_id").withColumn(
        "person_id", fail_on_row_77("person_id")
    )
    with pytest.raises(Exception, match="corrupt source row 77"):
        lake.write_spark(doomed, "silver.person")
    assert lake.version("silver.person") == 0
    assert lake.row_count("silver.person") == 10
    assert sorted_rows(lake.read_arrow("silver.person")) == before
    assert lake.read_spark(spark, "silver.person").count() == 10
    assert parquet_files(lake.table_uri("silver.person")) == files_before


def test_merge_spark_updates_inserts_and_rewrites_only_touched_partitions(spark, lake):
    lake.write_arrow("gold.person", people(range(10)), partition_by=["district"])
    untouched = set(DeltaTable(lake.table_uri("gold.person")).file_uris([("district", "=", "历下区")]))
    changes = spark_people(spark, [2, 4, 20], district="市中区", suffix="改")
    assert lake.merge_spark(changes, "gold.person", keys=["person_id"], metadata={"batch_id": "b9"}) == 1
    # 历下区 holds the odd ids (untouched); 市中区 keeps 0, 6, 8 and gets the changed rows.
    expected = people([1, 3, 5, 7, 9, 0, 6, 8]).to_pylist() + people([2, 4, 20], "市中区", "改").to_pylist()
    result = lake.read_spark(spark, "gold.person")
    assertDataFrameEqual(result, spark.createDataFrame(expected, result.schema))
    assert result.groupBy("person_id").count().where("count > 1").count() == 0
    assert set(DeltaTable(lake.table_uri("gold.person")).file_uris([("district", "=", "历下区")])) == untouched
    last = lake.history("gold.person", limit=1)[0]
    assert last["batch_id"] == "b9" and last["operationParameters"]["mode"] == "Overwrite"


def test_merge_spark_into_unpartitioned_and_missing_tables(spark, lake):
    lake.merge_spark(spark_people(spark, range(5)), "gold.enterprise", keys=["person_id"])
    assert lake.row_count("gold.enterprise") == 5
    lake.merge_spark(spark_people(spark, [4, 5], suffix="改"), "gold.enterprise", keys=["person_id"])
    rows = sorted_rows(lake.read_arrow("gold.enterprise"))
    assert [r["person_id"] for r in rows] == [0, 1, 2, 3, 4, 5]
    assert [r["name"] for r in rows][4:] == ["张4改", "张5改"]
    assert len(DeltaTable(lake.table_uri("gold.enterprise")).file_uris()) >= 1


def test_merge_spark_refuses_duplicate_keys(spark, lake):
    lake.write_arrow("gold.person", people(range(3)))
    with pytest.raises(DuplicateKeyError):
        lake.merge_spark(spark_people(spark, [1, 1]), "gold.person", keys=["person_id"])
    assert lake.version("gold.person") == 0


def test_decimal_values_survive_spark_and_arrow(spark, lake):
    df = spark.createDataFrame([(1, Decimal("12345678901234.56")), (2, None)], "id long, amount decimal(16,2)")
    lake.write_spark(df, "silver.payments")
    assert lake.schema("silver.payments").field("amount").type == pa.decimal128(16, 2)
    assert [r["amount"] for r in sorted_rows(lake.read_arrow("silver.payments"), "id")] == [
        Decimal("12345678901234.56"), None
    ]
    assert lake.row_count("silver.payments") == 2


def test_merge_spark_with_two_partition_columns_and_null_partitions(spark, lake):
    schema = "id long, region string, day int, v long"
    base = [(1, "a", 1, 0), (2, "a", 2, 0), (3, None, 1, 0), (4, "b", None, 0)]
    lake.write_spark(spark.createDataFrame(base, schema), "gold.counts", partition_by=["region", "day"])
    changes = spark.createDataFrame([(1, "a", 1, 9), (5, None, 1, 9), (4, "b", None, 9)], schema)
    lake.merge_spark(changes, "gold.counts", keys=["id"])
    expected = [(1, "a", 1, 9), (2, "a", 2, 0), (3, None, 1, 0), (4, "b", None, 9), (5, None, 1, 9)]
    assertDataFrameEqual(lake.read_spark(spark, "gold.counts"), spark.createDataFrame(expected, schema))
    with pytest.raises(NullKeyError, match="region"):
        lake.merge_spark(changes, "gold.counts", keys=["id", "region"])


def test_lake_root_with_spaces_brackets_and_chinese(spark, tmp_path):
    lake = DeltaRsLake(tmp_path / "城市 湖 [1] {a}")
    lake.write_spark(spark_people(spark, range(4)), "silver.person", partition_by=["district"])
    lake.merge_spark(spark_people(spark, [1, 9], district="历下区", suffix="改"), "silver.person", keys=["person_id"])
    expected = people([0, 2, 3]).to_pylist() + people([1, 9], "历下区", "改").to_pylist()
    result = lake.read_spark(spark, "silver.person")
    assertDataFrameEqual(result, spark.createDataFrame(expected, result.schema))


def test_spark_defaults_conf_wins_over_the_small_machine_settings(tmp_path, monkeypatch):
    from citylake.lake.spark import LOCAL_SPARK_CONF, session_settings, spark_defaults

    (tmp_path / "spark-defaults.conf").write_text(
        "# a one-machine deployment with more memory\nspark.driver.memory   6g\n"
        "spark.sql.shuffle.partitions=8\n! another comment\nspark.local.dir: /srv/spark tmp  \n"
        "spark.driver.extraJavaOptions -XX:+UseG1GC \\\n    -Dcity=\\u6D4E\\u5357\n", encoding="utf-8")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    # Read as Spark reads it (java.util.Properties, values trimmed): continuation lines and escapes.
    assert spark_defaults() == {"spark.driver.memory": "6g", "spark.sql.shuffle.partitions": "8",
                                "spark.local.dir": "/srv/spark tmp",
                                "spark.driver.extraJavaOptions": "-XX:+UseG1GC -Dcity=济南"}
    local = session_settings("local[2]")
    # Keys the file sets are left to Spark, which reads the file; the others keep citylake's defaults.
    assert "spark.driver.memory" not in local and "spark.sql.shuffle.partitions" not in local
    assert local["spark.ui.enabled"] == LOCAL_SPARK_CONF["spark.ui.enabled"]
    assert local["spark.sql.session.timeZone"] == "UTC"
    assert session_settings("local[2]", {"spark.driver.memory": "2g"})["spark.driver.memory"] == "2g"
    monkeypatch.delenv("SPARK_CONF_DIR")
    monkeypatch.delenv("SPARK_HOME", raising=False)
    assert session_settings("local[2]")["spark.driver.memory"] == LOCAL_SPARK_CONF["spark.driver.memory"]


def test_a_local_session_starts_with_the_driver_memory_of_spark_defaults_conf(tmp_path):
    import subprocess
    import sys

    (tmp_path / "spark-defaults.conf").write_text("spark.driver.memory 1536m\n", encoding="utf-8")
    probe = ("from citylake.lake.spark import get_spark; s = get_spark('probe');"
             "print(s.sparkContext.getConf().get('spark.driver.memory'),"
             " s._jvm.java.lang.Runtime.getRuntime().maxMemory() // 2**20); s.stop()")
    env = {**os.environ, "SPARK_CONF_DIR": str(tmp_path)}
    env.pop("SPARK_MASTER", None)
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    setting, heap_mib = out.stdout.split()
    # The JVM's heap is the file's, not LOCAL_SPARK_CONF's 1g.
    assert setting == "1536m" and int(heap_mib) > 1024, out.stdout


def _batch(rows: pa.Table, batch_id: str) -> pa.Table:
    return rows.append_column("_batch_id", pa.array([batch_id] * rows.num_rows))


def test_read_spark_changes_by_identity_keeps_only_the_rows_that_changed(spark, lake):
    lake.write_arrow("silver.person", _batch(people(range(10)), "b1"), partition_by=["district"])
    # The merge rewrites 市中区 (the even ids): 0, 6 and 8 are kept as they were.
    lake.merge_arrow("silver.person", _batch(people([2, 4, 20], district="市中区", suffix="改"), "b2"),
                     keys=["person_id"])
    added, removed = lake.read_spark_changes(spark, "silver.person", 0)
    assert sorted(r["person_id"] for r in added.collect()) == [0, 2, 4, 6, 8, 20]

    added, removed = lake.read_spark_changes(spark, "silver.person", 0, identity=["person_id", "_batch_id"])
    now, then = lake.read_spark(spark, "silver.person"), lake.read_spark(spark, "silver.person", 0)
    assert added.schema == now.schema
    assertDataFrameEqual(added, now.where(F.col("person_id").isin(2, 4, 20)))
    assertDataFrameEqual(removed, then.where(F.col("person_id").isin(2, 4)))


def test_read_spark_changes_by_identity_takes_null_keys_as_equal(spark, lake):
    rows = pa.table({"id": pa.array([None, 1], pa.int64()), "v": ["a", "b"], "_batch_id": ["b1", "b1"]})
    lake.write_arrow("quarantine.parts", rows)
    more = pa.table({"id": pa.array([2], pa.int64()), "v": ["c"], "_batch_id": ["b2"]})
    lake.write_arrow("quarantine.parts", pa.concat_tables([rows, more]), mode="overwrite")
    added, removed = lake.read_spark_changes(spark, "quarantine.parts", 0, identity=["id", "_batch_id"])
    assert [r.asDict() for r in added.collect()] == [{"id": 2, "v": "c", "_batch_id": "b2"}]
    assert removed.count() == 0
