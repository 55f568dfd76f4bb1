"""Extraction into bronze: exact counts, incremental changes, idempotent reruns, crashes, drift."""

from __future__ import annotations

import json
import logging

import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.ingest import extract as extract_module
from citylake.ingest import governance as gov
from citylake.ingest.extract import META_COLUMNS, SourceUnavailableError, ingest_table
from citylake.sources.connections import SourceConnectionError, source_url
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from citylake.synthcity.generate import generate
from tests.ingest.helpers import edited_registry, ingest_all, source_count

BUSY = """
events_per_1000_per_day: {births: 5, deaths: 5, moves: 5, marriages: 5, new_enterprises: 3, deregistrations: 2}
corrections_per_day: {gongan: 0.3, renshe: 0.2, yibao: 0.2, scjg: 0.3}
"""


@pytest.fixture
def city(home, tmp_path):
    config = tmp_path / "busy.yaml"
    config.write_text(BUSY, encoding="utf-8")
    generate(1500, 3, [home.sqlite_source_url()], home.truth, config_path=str(config))
    return home


def _crash_before_audit(monkeypatch):
    """Make a batch die after its bronze commit, before its audit row."""
    def crash(job, started):
        raise RuntimeError("crash")

    monkeypatch.setattr(extract_module, "_record", crash)


def _execute(url: str, *statements: str) -> None:
    """Change the department's source database as its own application would."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def _bronze_ops(lake, table, batch_id):
    rows = lake.read_arrow(table, columns=["_op"], filter=pc.field("_batch_id") == batch_id).read_all()
    ops = rows.column("_op").to_pylist()
    return {op: ops.count(op) for op in ("insert", "update", "delete")}


def test_first_batch_copies_every_table_exactly(city, lake):
    results = ingest_all(city, lake, "day0")
    registry = load_registry()
    assert len(results) == sum(len(s.tables) for s in registry.values())
    for code, system in registry.items():
        for table in system.tables:
            bronze = table.bronze_name(code)
            assert lake.row_count(bronze) == source_count(source_url(system, city), table.name), bronze
            r = results[bronze]
            assert r.rows_read == r.rows_written == r.inserted
    audit = gov.read(lake, gov.BATCH_AUDIT)
    assert len(audit) == len(results)
    assert all(a["rows_read"] + a["deleted"] == a["rows_written"] + a["rows_unchanged"] for a in audit)


def test_bronze_keeps_types_and_metadata(city, lake):
    ingest_all(city, lake, "day0")
    schema = lake.schema("bronze.scjg_qydj")
    assert str(schema.field("ZCZB").type) == "decimal128(18, 4)"
    assert str(schema.field("CLRQ").type) == "date32[day]"
    assert schema.field("GXSJ").type.unit == "us"
    assert set(META_COLUMNS) <= set(schema.names)
    names = lake.read_arrow("bronze.scjg_qydj", columns=["QYMC"]).read_all().column(0).to_pylist()
    assert any("有限公司" in n for n in names if n)


def test_next_day_brings_exactly_the_changes(city, lake):
    ingest_all(city, lake, "day0")
    report = advance(1, [city.sqlite_source_url()], city.truth)
    results = ingest_all(city, lake, "day1")
    for qualified, counts in report.changes.items():
        system, name = qualified.split(".")
        table = load_registry()[system].table(name)
        r = results[table.bronze_name(system)]
        ops = _bronze_ops(lake, r.bronze_table, r.batch_id)
        if table.load == "incremental":
            assert ops["insert"] == counts["inserted"], qualified
            # rows updated and not deleted the same day (the rest of the rows read were re-read at the
            # watermark and dropped unchanged); deletes are detected by key scan
            assert ops["insert"] + ops["update"] == r.rows_read - r.rows_unchanged, qualified
            assert ops["delete"] == counts["deleted"], qualified
        else:
            assert ops["delete"] == counts["deleted"], qualified
    untouched = {t for t in results if not any(t.endswith(q.split(".")[1].lower()) for q in report.changes)}
    for bronze in untouched:
        assert results[bronze].rows_written == 0, bronze


def test_rerun_of_a_batch_changes_nothing(city, lake):
    first = ingest_all(city, lake, "day0")
    versions = {t: lake.version(t) for t in first}
    again = ingest_all(city, lake, "day0")
    assert all(r.skipped for r in again.values())
    assert {t: lake.version(t) for t in first} == versions


def test_crash_mid_extraction_leaves_nothing_and_next_run_recovers(city, lake, monkeypatch):
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    url = source_url(system, city)
    calls = {"n": 0}
    real = extract_module._record_batch

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(extract_module, "_record_batch", dying)
    with pytest.raises(RuntimeError, match="killed"):
        ingest_table(system, table, "b1", lake, url, chunk_rows=200)
    assert not lake.exists("bronze.gongan_czrk") or lake.row_count("bronze.gongan_czrk") == 0
    assert gov.read(lake, gov.BATCH_AUDIT) == []
    monkeypatch.setattr(extract_module, "_record_batch", real)
    result = ingest_table(system, table, "b1", lake, url, chunk_rows=200)
    assert lake.row_count("bronze.gongan_czrk") == source_count(url, "CZRK") == result.rows_written


def test_crash_after_commit_before_audit_is_completed_from_bronze(city, lake, monkeypatch):
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    url = source_url(system, city)
    _crash_before_audit(monkeypatch)
    with pytest.raises(RuntimeError, match="crash"):
        ingest_table(system, table, "b1", lake, url)
    committed = lake.row_count("bronze.gongan_czrk")
    monkeypatch.undo()
    result = ingest_table(system, table, "b1", lake, url)
    assert lake.row_count("bronze.gongan_czrk") == committed == result.rows_written
    assert gov.audited_batch(lake, "b1", "bronze.gongan_czrk")["rows_written"] == committed
    assert gov.last_watermark(lake, "gongan", "CZRK") is not None
    schema, = gov.read(lake, gov.SOURCE_SCHEMA, batch_id="b1")
    assert "GMSFHM" in json.loads(schema["columns_json"])


def test_a_drifted_batch_killed_before_or_within_its_records_is_recorded_once(city, lake, monkeypatch):
    """The commit keeps the batch's source columns and drift, so completing it from bronze records
    them as its own run would have; a run killed between those records and the audit adds no copy."""
    system = load_registry()["scjg"]
    table = system.table("QYDJ")
    url = source_url(system, city)
    ingest_table(system, table, "b1", lake, url)
    _execute(url, 'ALTER TABLE "QYDJ" ADD COLUMN "JYFW" VARCHAR(200)')
    _crash_before_audit(monkeypatch)
    with pytest.raises(RuntimeError, match="crash"):
        ingest_table(system, table, "b2", lake, url)
    monkeypatch.undo()
    assert gov.read(lake, gov.SOURCE_SCHEMA, batch_id="b2") == []
    ingest_table(system, table, "b2", lake, url)
    assert [(d["column"], d["change"]) for d in gov.read(lake, gov.SCHEMA_DRIFT, batch_id="b2")] == [("JYFW", "added")]
    schema, = gov.read(lake, gov.SOURCE_SCHEMA, batch_id="b2")
    assert "JYFW" in json.loads(schema["columns_json"])

    _execute(url, 'ALTER TABLE "QYDJ" ADD COLUMN "ZCZB2" VARCHAR(20)')

    def crash(job, at):
        raise RuntimeError("crash")

    monkeypatch.setattr(extract_module, "_audit", crash)
    with pytest.raises(RuntimeError, match="crash"):
        ingest_table(system, table, "b3", lake, url)
    monkeypatch.undo()
    result = ingest_table(system, table, "b3", lake, url)
    assert len(gov.read(lake, gov.SOURCE_SCHEMA, batch_id="b3")) == 1
    assert [d["column"] for d in gov.read(lake, gov.SCHEMA_DRIFT, batch_id="b3")] == ["ZCZB2"]
    assert gov.audited_batch(lake, "b3", "bronze.scjg_qydj")["rows_written"] == result.rows_written


def test_unreachable_source_fails_clearly(home, lake):
    system = load_registry()["gongan"]
    with pytest.raises(SourceConnectionError, match="no Airflow connection 'citylake_gongan'"):
        source_url(system, home)
    with pytest.raises(SourceUnavailableError, match="does not exist"):
        ingest_table(system, system.table("CZRK"), "b1", lake, f"sqlite:///{home.sources}/gongan.db")
    with pytest.raises(SourceUnavailableError, match="cannot reach") as err:
        ingest_table(system, system.table("CZRK"), "b1", lake,
                     "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(err.value)


def test_schema_drift_is_recorded_and_new_columns_kept(city, lake):
    system = load_registry()["scjg"]
    table = system.table("QYDJ")
    url = source_url(system, city)
    ingest_table(system, table, "b1", lake, url)
    _execute(url, 'ALTER TABLE "QYDJ" ADD COLUMN "JYFW" VARCHAR(200)', 'ALTER TABLE "QYDJ" DROP COLUMN "DJJG"',
             "UPDATE \"QYDJ\" SET \"JYFW\" = '软件开发', \"GXSJ\" = '2030-01-01 00:00:00' "
             "WHERE \"PRIPID\" IN (SELECT \"PRIPID\" FROM \"QYDJ\" LIMIT 5)")
    result = ingest_table(system, table, "b2", lake, url)
    changes = {(d["column"], d["change"]) for d in result.drift}
    assert changes == {("JYFW", "added"), ("DJJG", "removed")}
    recorded = gov.read(lake, gov.SCHEMA_DRIFT, batch_id="b2")
    assert {(d["column"], d["change"]) for d in recorded} == changes
    rows = lake.read_arrow("bronze.scjg_qydj", filter=pc.field("_batch_id") == "b2").read_all().to_pylist()
    changed = [r for r in rows if r["GXSJ"].year == 2030]
    assert len(changed) == 5 and {r["JYFW"] for r in changed} == {"软件开发"}
    assert {r["DJJG"] for r in rows} == {None}
    # The other rows are the lookback's re-reads, changed in bronze's eyes by the new columns.
    assert all(r["JYFW"] is None for r in rows if r["GXSJ"].year != 2030)


def test_snapshot_table_detects_deletions(city, lake):
    system = load_registry()["minzheng"]
    table = system.table("dbjz_cy")
    url = source_url(system, city)
    first = ingest_table(system, table, "b1", lake, url)
    assert first.rows_written > 2
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        gone = [r[0] for r in conn.exec_driver_sql("SELECT cyid FROM dbjz_cy ORDER BY cyid LIMIT 2")]
        conn.exec_driver_sql(f"DELETE FROM dbjz_cy WHERE cyid IN ('{gone[0]}', '{gone[1]}')")
        conn.exec_driver_sql("UPDATE dbjz_cy SET bzje = 1.00 WHERE cyid = (SELECT MAX(cyid) FROM dbjz_cy)")
    engine.dispose()
    second = ingest_table(system, table, "b2", lake, url)
    assert (second.deleted, second.updated, second.inserted) == (2, 1, 0)
    assert second.rows_unchanged == first.rows_written - 3
    tombstones = lake.read_arrow("bronze.minzheng_dbjz_cy", filter=pc.field("_op") == "delete").read_all()
    assert sorted(tombstones.column("cyid").to_pylist()) == sorted(gone)


@pytest.mark.postgres
def test_type_change_is_recorded_and_kept_when_lossless_refused_when_not(tmp_path, lake, databases):
    url = databases.url("postgresql", "drift")
    generate(200, 2, [url], tmp_path / "truth")
    system = load_registry()["scjg"]
    table = system.table("QYDJ")
    ingest_table(system, table, "b1", lake, url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "QYDJ" ALTER COLUMN "ZCZB" TYPE NUMERIC(20, 4)')
        conn.exec_driver_sql('UPDATE "QYDJ" SET "GXSJ" = \'2030-01-01\' WHERE "PRIPID" IN '
                             '(SELECT "PRIPID" FROM "QYDJ" LIMIT 3)')
    second = ingest_table(system, table, "b2", lake, url)
    assert {(d["column"], d["change"]) for d in second.drift} == {("ZCZB", "type_changed")}
    assert second.rows_written == 3
    assert str(lake.schema("bronze.scjg_qydj").field("ZCZB").type) == "decimal128(18, 4)"
    with engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE "QYDJ" ALTER COLUMN "ZCZB" TYPE VARCHAR(40)')
        conn.exec_driver_sql('UPDATE "QYDJ" SET "ZCZB" = \'约100万\', "GXSJ" = \'2031-01-01\' WHERE "PRIPID" IN '
                             '(SELECT "PRIPID" FROM "QYDJ" LIMIT 1)')
    engine.dispose()
    with pytest.raises(extract_module.SchemaDriftError, match="ZCZB changed type"):
        ingest_table(system, table, "b3", lake, url)
    assert gov.audited_batch(lake, "b3", "bronze.scjg_qydj") is None


def _commit_late_change(url: str) -> None:
    """A long transaction commits after the batch: one enterprise deregistered, stamped an hour
    before the newest row."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        newest = conn.exec_driver_sql('SELECT MAX("GXSJ") FROM "QYDJ"').scalar_one()
        conn.exec_driver_sql('UPDATE "QYDJ" SET "DJZT" = \'注销\', "GXSJ" = datetime(?, \'-60 minutes\') '
                             'WHERE "PRIPID" = (SELECT MIN("PRIPID") FROM "QYDJ")', (newest,))
    engine.dispose()


def test_lookback_catches_rows_committed_late_with_an_older_update_time(city, lake, tmp_path):
    registry_dir = edited_registry(tmp_path, "scjg", "  update_column: GXSJ\n",
                                   "  update_column: GXSJ\n  lookback_minutes: 120\n")
    system = load_registry(registry_dir)["scjg"]
    table = system.table("QYDJ")
    assert table.lookback_minutes == 120
    url = source_url(system, city)
    first = ingest_table(system, table, "b1", lake, url)
    _commit_late_change(url)
    second = ingest_table(system, table, "b2", lake, url)
    assert (second.rows_written, second.updated, second.inserted) == (1, 1, 0)
    assert second.rows_unchanged > 0  # the re-read rows bronze already held were dropped
    assert second.watermark_after == first.watermark_after
    third = ingest_table(system, table, "b3", lake, url)
    assert third.rows_written == 0


def test_with_the_lookback_turned_off_a_late_row_is_not_reread(city, lake, tmp_path):
    registry_dir = edited_registry(tmp_path, "scjg", "  update_column: GXSJ\n",
                                   "  update_column: GXSJ\n  lookback_minutes: 0\n")
    system = load_registry(registry_dir)["scjg"]
    table = system.table("QYDJ")
    url = source_url(system, city)
    ingest_table(system, table, "b1", lake, url)
    _commit_late_change(url)
    assert ingest_table(system, table, "b2", lake, url).rows_written == 0


INT_KEY_SYSTEM = """
system: toy
name_zh: 测试系统
name_en: Toy
owner: 测试局
connection: citylake_toy
schedule: "@daily"
tables:
  - name: people
    description: 人员
    primary_key: [id]
    load: incremental
    update_column: updated
    detect_deletes: true
"""


@pytest.fixture
def int_key_source(tmp_path):
    from citylake.sources.registry import load_system

    path = tmp_path / "toy.yaml"
    path.write_text(INT_KEY_SYSTEM, encoding="utf-8")
    system = load_system(path)
    url = f"sqlite:///{tmp_path / 'toy.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(20), score INTEGER, "
                             "updated DATETIME)")
        conn.exec_driver_sql("INSERT INTO people VALUES " + ", ".join(
            f"({i}, 'p{i}', {i}, '2026-01-01 00:00:{i:02d}')" for i in range(1, 31)))
    return system, system.table("people"), url, engine


def test_integer_keys_updates_deletes_and_reinserts(int_key_source, lake):
    system, table, url, engine = int_key_source
    assert ingest_table(system, table, "b1", lake, url).inserted == 30
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE people SET name = 'changed', updated = '2026-01-02' WHERE id = 5")
        conn.exec_driver_sql("DELETE FROM people WHERE id = 7")
    second = ingest_table(system, table, "b2", lake, url)
    assert (second.inserted, second.updated, second.deleted) == (0, 1, 1)
    with engine.begin() as conn:
        # One key comes back and another goes: the row count alone would not tell.
        conn.exec_driver_sql("INSERT INTO people VALUES (7, 'back', 7, '2026-01-03')")
        conn.exec_driver_sql("DELETE FROM people WHERE id = 9")
    third = ingest_table(system, table, "b3", lake, url)
    assert (third.inserted, third.updated, third.deleted) == (1, 0, 1)
    fourth = ingest_table(system, table, "b4", lake, url)
    assert fourth.rows_written == 0 and fourth.rows_unchanged == fourth.rows_read
    assert gov.audited_batch(lake, "b4", table.bronze_name("toy"))["live_rows"] == 29
    engine.dispose()


def test_a_committed_but_unaudited_batch_is_completed_by_the_next_one(int_key_source, lake, monkeypatch):
    system, table, url, engine = int_key_source
    ingest_table(system, table, "b1", lake, url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE people SET name = 'x', updated = '2026-02-01' WHERE id IN (1, 2, 3)")
    _crash_before_audit(monkeypatch)
    with pytest.raises(RuntimeError, match="crash"):
        ingest_table(system, table, "b2", lake, url)
    monkeypatch.undo()
    third = ingest_table(system, table, "b3", lake, url)
    assert third.rows_written == 0
    orphan = gov.audited_batch(lake, "b2", table.bronze_name("toy"))
    assert orphan is not None and orphan["rows_written"] == 3
    assert gov.last_watermark(lake, "toy", "people").startswith("2026-02-01")
    engine.dispose()


def test_a_value_that_does_not_fit_its_column_lands_raw_and_stays_out_of_the_log(int_key_source, lake, caplog):
    system, table, url, engine = int_key_source
    with engine.begin() as conn:  # SQLite lets a text value into an INTEGER column
        conn.exec_driver_sql("UPDATE people SET score = '370102199001011234x' WHERE id = 9")
    with caplog.at_level(logging.DEBUG):
        assert ingest_table(system, table, "b1", lake, url).rows_written == 30
    row = lake.read_arrow(table.bronze_name("toy"), filter=pc.field("id") == 9).read_all().to_pylist()[0]
    assert row["score"] is None and row["_unconverted"] == '{"score": "370102199001011234x"}'
    assert "370102199001011234" not in caplog.text
    engine.dispose()
