"""The source registry: validated on load with errors that name the file and entry; onboarding a
department system is a YAML entry, not code."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from citylake.ingest.extract import ingest_table
from citylake.sources.connections import from_airflow_value, source_url
from citylake.sources.registry import RegistryError, load_registry
from citylake.synthcity.departments import TABLES


def test_shipped_registry_covers_every_department_table():
    registry = load_registry()
    listed = {f"{code}.{t.name}" for code, s in registry.items() for t in s.tables}
    assert listed == set(TABLES)
    for code, system in registry.items():
        for table in system.tables:
            spec = TABLES[f"{code}.{table.name}"]
            assert table.primary_key == (spec.key,)
            assert table.update_column == spec.update_column
            assert set(table.columns) <= {c.name for c in spec.columns}


@pytest.mark.parametrize(("text", "message"), [
    ("system: Bad Code\n", "must be lowercase"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [ID], load: incremental}\n", r"tables\[0\] \(T\): an incremental table needs"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [], load: snapshot}\n", "primary_key must list"),
    ("system: x\nname_zh: x\nname_en: x\nowner: x\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [A, B], load: snapshot}\n", "compound keys are not supported"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [ID], load: sometimes}\n",
     r"tables\[0\] \(T\).load: Input should be 'incremental' or 'snapshot', got 'sometimes'"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [ID], load: snapshot, columns: {A: idnumber}}\n",
     "is not '<entity>.<field>"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables:\n"
     "  - {name: T, description: 表, primary_key: [ID], load: snapshot, columns: {A: person.passport}}\n",
     "no standard field 'person.passport'"),
    ("system: x\nname_zh: 甲\nname_en: X\nowner: 甲局\nconnection: c\nschedule: '@daily'\ntables: []\nextra: 1\n",
     "unknown entries"),
])
def test_invalid_entries_are_named(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=message) as err:
        load_registry(tmp_path, strict=True)
    assert "bad.yaml" in str(err.value)
    assert load_registry(tmp_path) == {}  # not strict: the broken file is left out, the others load


ONBOARDING = """
system: tongji
name_zh: 统计局企业联网直报系统
name_en: Statistics Bureau direct reporting
owner: 统计局
connection: citylake_tongji
schedule: "0 4 * * *"
tables:
  - name: qy_lwzb
    description: 规模以上企业联网直报
    primary_key: [bgid]
    load: incremental
    update_column: tbsj
    columns:
      tyshxydm: enterprise.uscc
      qymc: enterprise.name
"""


def test_onboarding_a_new_department_is_a_registry_entry(tmp_path, monkeypatch):
    db = tmp_path / "tongji.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE qy_lwzb (bgid VARCHAR(10) PRIMARY KEY, tyshxydm VARCHAR(18), "
                             "qymc VARCHAR(100), yysr NUMERIC(18, 2), bgq DATE, tbsj DATETIME)")
        conn.exec_driver_sql("INSERT INTO qy_lwzb VALUES ('B1', '91370102MA3C4XXXX0', '济南泉润信息科技有限公司', "
                             "1234567.89, '2026-09-01', '2026-10-05 09:30:00'), ('B2', '91370102163041234P', "
                             "'山东鲁信商贸有限公司', 88.10, '2026-09-01', '2026-10-06 10:00:00')")
    engine.dispose()
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    (registry_dir / "tongji.yaml").write_text(ONBOARDING, encoding="utf-8")
    monkeypatch.setenv("AIRFLOW_CONN_CITYLAKE_TONGJI", f"sqlite:///{db}")
    system = load_registry(registry_dir)["tongji"]
    from citylake.lake import open_lake

    lake = open_lake(tmp_path / "lake")
    result = ingest_table(system, system.table("qy_lwzb"), "b1", lake, source_url(system))
    assert result.rows_written == 2
    rows = lake.read_arrow("bronze.tongji_qy_lwzb").read_all().to_pylist()
    assert {r["qymc"] for r in rows} == {"济南泉润信息科技有限公司", "山东鲁信商贸有限公司"}
    assert {r["yysr"] for r in rows} == {Decimal("1234567.89"), Decimal("88.10")}


@pytest.mark.parametrize(("value", "expected"), [
    ("postgres://etl:p%40ss@db.example:5432/gongan", "postgresql+psycopg://etl:***@db.example:5432/gongan"),
    ("mysql://root@127.0.0.1:3306/renshe", "mysql+pymysql://root@127.0.0.1:3306/renshe?charset=utf8mb4"),
    ('{"conn_type": "postgres", "host": "h", "login": "u", "password": "x", "port": 5432, "schema": "d"}',
     "postgresql+psycopg://u:***@h:5432/d"),
    ("sqlite:////data/gongan.db", "sqlite:////data/gongan.db"),
])
def test_airflow_connection_values_become_sqlalchemy_urls(value, expected):
    assert from_airflow_value(value).render_as_string(hide_password=True) == expected
