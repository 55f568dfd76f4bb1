"""The same city extracted from SQLite, PostgreSQL and MariaDB gives the same bronze tables."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from citylake.ingest.extract import META_COLUMNS
from citylake.lake import open_lake
from citylake.synthcity.advance import advance
from citylake.synthcity.departments import DEPARTMENTS
from citylake.synthcity.generate import generate
from tests.ingest.helpers import ingest_all


@pytest.fixture
def servers():
    token = uuid.uuid4().hex[:8]
    pg_admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    maria_admin = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/", isolation_level="AUTOCOMMIT")
    yield {"pg": f"postgresql+psycopg://postgres@127.0.0.1:5432/ci_{token}_{{department}}",
           "maria": f"mysql+pymysql://root@127.0.0.1:3306/ci_{token}_{{department}}"}
    with pg_admin.connect() as pg, maria_admin.connect() as maria:
        for department in DEPARTMENTS:
            pg.exec_driver_sql(f'DROP DATABASE IF EXISTS "ci_{token}_{department}" WITH (FORCE)')
            maria.exec_driver_sql(f"DROP DATABASE IF EXISTS `ci_{token}_{department}`")
    pg_admin.dispose()
    maria_admin.dispose()


def _rows(lake, table):
    data = lake.read_arrow(table).read_all()
    data = data.drop_columns([c for c in META_COLUMNS if c != "_op"])
    return sorted(tuple(str(v) for v in row.values()) for row in data.to_pylist())


@pytest.mark.postgres
@pytest.mark.mariadb
def test_sqlite_postgres_and_mariadb_extract_identically_on_both_days(home, tmp_path, servers):
    targets = [home.sqlite_source_url(), servers["pg"], servers["maria"]]
    config = tmp_path / "busy.yaml"
    config.write_text("events_per_1000_per_day: {births: 5, deaths: 5, moves: 5, marriages: 5, new_enterprises: 3, "
                      "deregistrations: 2}\n", encoding="utf-8")
    generate(400, 9, targets, home.truth, config_path=str(config))
    lakes = {name: open_lake(tmp_path / f"lake_{name}") for name in ("sqlite", "pg", "maria")}
    urls = {"sqlite": {}, "pg": {d: servers["pg"].replace("{department}", d) for d in DEPARTMENTS},
            "maria": {d: servers["maria"].replace("{department}", d) for d in DEPARTMENTS}}
    _compare({name: ingest_all(home, lakes[name], "b1", urls[name]) for name in lakes}, lakes)
    report = advance(1, targets, home.truth)
    day2 = {name: ingest_all(home, lakes[name], "b2", urls[name]) for name in lakes}
    assert sum(r.rows_written for r in day2["pg"].values()) == sum(
        c["inserted"] + c["updated"] + c["deleted"] for c in report.changes.values())
    _compare(day2, lakes)


def _compare(results, lakes):
    for table, result in results["sqlite"].items():
        assert result.rows_written == results["pg"][table].rows_written == results["maria"][table].rows_written
        schemas = {name: lake.schema(table) for name, lake in lakes.items()}
        assert schemas["sqlite"] == schemas["pg"] == schemas["maria"], table
        expected = _rows(lakes["sqlite"], table)
        assert _rows(lakes["pg"], table) == expected, table
        assert _rows(lakes["maria"], table) == expected, table
