"""Typing through the gate: every column type, nulls included, on every source dialect (issue 13.1).

A NULL in an integer column used to turn the whole column into floats on its way through pandas
(``20060403.0``), which the date check rejects: one NULL refused the batch, and every delete (a
tombstone has null non-key columns) did the same.
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.ingest import governance as gov
from citylake.ingest.extract import ingest_table
from citylake.lake import open_lake
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.quality.gate import gate_batch
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry, load_system
from tests.quality.cities import city

REGISTRY = """
system: tongji
name_zh: 统计局测试系统
name_en: Statistics bureau test system
owner: 统计局
connection: citylake_tongji
schedule: '@daily'
tables:
- name: TYPED
  description: 各种列类型
  primary_key: [rid]
  load: incremental
  update_column: updated
  detect_deletes: true
  error_threshold: 0.5
  columns:
    sfzh: person.id_number
    csrq: person.birth_date
"""

ROWS = [
    # rid, sfzh, csrq (integer yyyymmdd), amount, ratio, flag, born, updated, note, big
    (1, "11010519491231002X", 19491231, Decimal("12.50"), 0.25, True, dt.date(1949, 12, 31),
     dt.datetime(2026, 11, 1, 8, 0, 0), "一", 2**40),
    (2, "11010519491231002X", 19491231, None, None, None, None, dt.datetime(2026, 11, 1, 8, 0, 1), None, None),
    (3, "11010519491231002X", None, Decimal("-1.00"), -0.5, False, dt.date(2006, 4, 3), dt.datetime(2026, 11, 1, 8, 0, 2),
     "", -7),
]


def _source(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    sa.Table("TYPED", meta,
             sa.Column("rid", sa.Integer, primary_key=True, autoincrement=False), sa.Column("sfzh", sa.String(18)),
             sa.Column("csrq", sa.Integer), sa.Column("amount", sa.Numeric(12, 2)), sa.Column("ratio", sa.Float),
             sa.Column("flag", sa.Boolean), sa.Column("born", sa.Date), sa.Column("updated", sa.DateTime),
             sa.Column("note", sa.String(50)), sa.Column("big", sa.BigInteger))
    meta.drop_all(engine)
    meta.create_all(engine)
    names = ["rid", "sfzh", "csrq", "amount", "ratio", "flag", "born", "updated", "note", "big"]
    with engine.begin() as conn:
        conn.execute(meta.tables["TYPED"].insert(), [dict(zip(names, r, strict=True)) for r in ROWS])
    return engine


def _gate_all_types(tmp_path, url: str):
    folder = tmp_path / "registry"
    folder.mkdir()
    (folder / "tongji.yaml").write_text(REGISTRY, encoding="utf-8")
    system = load_system(folder / "tongji.yaml")
    table = system.table("TYPED")
    lake = open_lake(tmp_path / "lake")
    engine = _source(url)
    try:
        extracted = ingest_table(system, table, "b1", lake, url)
        first = gate_batch(lake, system, table, extracted.batch_id, table.error_threshold)
        with engine.begin() as conn:
            conn.execute(sa.text('DELETE FROM "TYPED" WHERE rid = 3' if engine.dialect.name != "mysql"
                                 else "DELETE FROM `TYPED` WHERE rid = 3"))
        deleting = ingest_table(system, table, "b2", lake, url)
        second = gate_batch(lake, system, table, deleting.batch_id, table.error_threshold)
    finally:
        engine.dispose()
    return lake, first, second


def _check(lake, first, second):
    assert (first.rows_read, first.promoted, first.quarantined) == (3, 2, 1)
    silver = lake.read_arrow("silver.tongji_typed").read_all().sort_by("rid")
    bronze = lake.schema("bronze.tongji_typed")
    for name in ("rid", "amount", "ratio", "flag", "born", "updated", "note", "big"):
        assert silver.schema.field(name).type == bronze.field(name).type, name
    # Row 2 (every optional column NULL) reached silver with its nulls, not floats or NaN.
    assert silver.column("rid").to_pylist() == [1, 2]
    assert silver.column("big").to_pylist() == [2**40, None]
    assert silver.column("amount").to_pylist() == [Decimal("12.50"), None]
    assert silver.column("flag").to_pylist() == [True, None]
    assert silver.column("csrq").to_pylist() == [dt.date(1949, 12, 31)] * 2
    assert silver.column("born").to_pylist() == [dt.date(1949, 12, 31), None]
    # Row 3 lacks its (integer) birth date: quarantined for that alone, the other rows' dates are fine.
    issues = lake.read_arrow(QUALITY_ISSUE).read_all()
    assert sorted(issues.column("rule").to_pylist()) == ["person.birth_date.missing"]
    # The delete's tombstone (null non-key columns) is promoted: the batch is not refused.
    assert (second.rows_read, second.deleted, second.quarantined) == (1, 1, 0)


def test_every_type_survives_the_gate_on_sqlite(tmp_path):
    lake, first, second = _gate_all_types(tmp_path, f"sqlite:///{tmp_path / 'tongji.db'}")
    _check(lake, first, second)


@pytest.mark.postgres
def test_every_type_survives_the_gate_on_postgresql(tmp_path, databases):
    lake, first, second = _gate_all_types(tmp_path, databases.url("postgresql", "types"))
    _check(lake, first, second)


@pytest.mark.mariadb
def test_every_type_survives_the_gate_on_mariadb(tmp_path, databases):
    lake, first, second = _gate_all_types(tmp_path, databases.url("mariadb", "types"))
    _check(lake, first, second)


def test_a_null_integer_date_and_a_delete_do_not_refuse_the_batch(tmp_path):
    """The issue's own case: 人社 AC02 with one NULL ``aac006`` and one deleted record."""
    home, lake, _ = city(tmp_path, 400, 5)
    system = load_registry()["renshe"]
    table = system.table("AC02")
    url = source_url(system, home)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        victim = conn.execute(sa.text("SELECT aac001 FROM AC02 ORDER BY aac001 LIMIT 1")).scalar_one()
        conn.execute(sa.text("UPDATE AC02 SET aac006 = NULL WHERE aac001 = :k"), {"k": victim})
    extracted = ingest_table(system, table, "day0", lake, url)
    gated = gate_batch(lake, system, table, extracted.batch_id, table.error_threshold)
    assert gated.quarantined < 0.05 * gated.rows_read
    issues = lake.read_arrow(QUALITY_ISSUE, filter=pc.field("rule") == "person.birth_date.invalid").read_all()
    assert issues.num_rows <= gated.quarantined
    with engine.begin() as conn:
        gone = conn.execute(sa.text("SELECT aac001 FROM AC02 WHERE aac001 <> :k ORDER BY aac001 LIMIT 1"),
                            {"k": victim}).scalar_one()
        conn.execute(sa.text("DELETE FROM AC02 WHERE aac001 = :k"), {"k": gone})
    engine.dispose()
    deleting = ingest_table(system, table, "day1", lake, url)
    assert deleting.deleted == 1
    after = gate_batch(lake, system, table, deleting.batch_id, table.error_threshold)
    assert (after.deleted, after.quarantined) == (1, 0)
    keys = lake.read_arrow("silver.renshe_ac02", columns=["aac001"]).read_all().column("aac001")
    assert pc.sum(pc.equal(keys, pa.scalar(gone, keys.type))).as_py() in (None, 0)


def test_two_concurrent_gates_of_one_batch_gate_it_once(tmp_path):
    """Two promotion runs at once (issue 13.5): the second waits for the first and finds the batch
    gated, so quarantine and the audit hold the batch once."""
    home, lake, _ = city(tmp_path, 300, 8)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    extracted = ingest_table(system, table, "day0", lake, source_url(system, home))
    start = threading.Barrier(2)

    def gate():
        start.wait()
        return gate_batch(open_lake(home.lake), system, table, extracted.batch_id)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: gate(), range(2)))
    assert sorted(r.skipped for r in results) == [False, True]
    done = next(r for r in results if not r.skipped)
    audits = gov.read(lake, gov.BATCH_AUDIT, batch_id=done.batch_id)
    assert len(audits) == 1
    assert lake.row_count(done.quarantine_table) == done.quarantined > 0
    assert lake.row_count(done.silver_table) == done.promoted


def test_a_small_batch_is_gated_row_by_row_not_refused_by_its_share(tmp_path):
    """A one-row daily increment with an error is 100% errors: it is quarantined, not refused
    (seen after five days of the demo city, 卫健 CSYXZM)."""
    home, lake, _ = city(tmp_path, 300, 9)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    url = source_url(system, home)
    first = ingest_table(system, table, "day0", lake, url)
    gate_batch(lake, system, table, first.batch_id, table.error_threshold)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        column = table.update_column
        key = table.primary_key[0]
        victim = conn.execute(sa.text(f"SELECT {key} FROM CZRK ORDER BY {key} LIMIT 1")).scalar_one()
        conn.execute(sa.text(f"UPDATE CZRK SET XB = '7', {column} = :t WHERE {key} = :k"),
                     {"k": victim, "t": dt.datetime(2030, 1, 1)})
    engine.dispose()
    day1 = ingest_table(system, table, "day1", lake, url)
    assert day1.rows_written == 1
    gated = gate_batch(lake, system, table, day1.batch_id, table.error_threshold)
    assert (gated.rows_read, gated.quarantined, gated.error_rate) == (1, 1, 1.0)


def test_an_upheld_dispute_never_lets_unholdable_values_into_silver():
    from citylake.quality.gate import waive_exempted

    table = load_registry()["gongan"].table("CZRK")
    key = table.primary_key[0]
    findings = [{"rule": "person.name.invalid_chars", "message": "", "columns": ["XM"]},
                {"rule": "person.sex.invalid", "message": "", "columns": ["XB"]}]
    checked = pd.DataFrame({key: ["k1"], "_errors": [findings]})
    exempt = {("k1", "person.name.invalid_chars", "XM"), ("k1", "person.sex.invalid", "XB")}
    assert [f["rule"] for f in waive_exempted(checked, table, exempt)["_errors"][0]] == ["person.name.invalid_chars"]
