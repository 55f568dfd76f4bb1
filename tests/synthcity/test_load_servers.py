"""The department systems load into the real PostgreSQL and MariaDB servers, identical to SQLite."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from citylake.synthcity.departments import DEPARTMENTS, TABLES
from citylake.synthcity.generate import generate

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306/"


def _normal(value):
    """One textual form per value, whatever the driver returned."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, Decimal | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.replace(".", "", 1).isdigit() and "." in value:
        return format(Decimal(value).normalize(), "f")
    return str(value)


def _read(url: str, table: str, key: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM {engine.dialect.identifier_preparer.quote(table)}"))
            rows = [tuple(_normal(v) for v in row) for row in result]
            names = list(result.keys())
    finally:
        engine.dispose()
    k = names.index(key)
    return sorted(rows, key=lambda r: r[k])


@pytest.fixture
def server_targets():
    token = uuid.uuid4().hex[:8]
    pg_db = f"citylake_test_{token}"
    pg_admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{pg_db}"')
    maria_template = f"mysql+pymysql://root@127.0.0.1:3306/ct_{token}_{{department}}"
    yield {"postgres": f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_db}", "mariadb": maria_template}
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
    pg_admin.dispose()
    maria_admin = sa.create_engine(MARIADB_SERVER, isolation_level="AUTOCOMMIT")
    with maria_admin.connect() as conn:
        for department in DEPARTMENTS:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `ct_{token}_{department}`")
    maria_admin.dispose()


@pytest.mark.postgres
@pytest.mark.mariadb
def test_postgres_and_mariadb_hold_exactly_what_sqlite_holds(tmp_path, server_targets):
    sqlite = f"sqlite:///{tmp_path}/src/{{department}}.db"
    report = generate(400, 21, [sqlite, server_targets["postgres"], server_targets["mariadb"]], tmp_path / "truth")
    assert report.rows > 1000
    for qualified, spec in TABLES.items():
        expected = _read(sqlite.replace("{department}", spec.department), spec.name, spec.key)
        on_pg = _read(server_targets["postgres"], spec.name, spec.key)
        on_maria = _read(server_targets["mariadb"].replace("{department}", spec.department), spec.name, spec.key)
        assert len(expected) == len(on_pg) == len(on_maria), qualified
        assert on_pg == expected, qualified
        assert on_maria == expected, qualified


@pytest.mark.postgres
def test_chinese_text_decimal_and_dates_keep_their_types_on_postgres(tmp_path, server_targets):
    generate(200, 4, [server_targets["postgres"]], tmp_path / "truth")
    engine = sa.create_engine(server_targets["postgres"])
    try:
        inspector = sa.inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("QYDJ")}
        assert isinstance(columns["ZCZB"]["type"], sa.Numeric)
        assert isinstance(columns["CLRQ"]["type"], sa.Date)
        assert isinstance(columns["GXSJ"]["type"], sa.DateTime)
        assert inspector.get_pk_constraint("CZRK")["constrained_columns"] == ["RYID"]
        with engine.connect() as conn:
            name, capital, founded = conn.execute(sa.text('SELECT "QYMC", "ZCZB", "CLRQ" FROM "QYDJ" LIMIT 1')).one()
    finally:
        engine.dispose()
    assert any("\u4e00" <= c <= "\u9fff" for c in name)
    assert isinstance(capital, Decimal) and isinstance(founded, date)


def test_unknown_target_is_refused_without_leaking_the_password(tmp_path):
    with pytest.raises(ValueError) as err:
        generate(100, 1, ["oracle://scott:tiger@db/orcl"], tmp_path / "truth")
    assert "tiger" not in str(err.value) and "oracle" in str(err.value)


@pytest.mark.postgres
def test_a_failed_load_names_the_table_but_never_the_values(server_targets):
    import numpy as np

    from citylake.synthcity.departments import TABLES as SPECS
    from citylake.synthcity.load import LoadError, create_tables, engine_for, insert_rows

    spec = SPECS["gongan.CZRK"]
    engine = engine_for(server_targets["postgres"], "gongan")
    tables = create_tables(engine, [spec])
    row = {c.name: None for c in spec.columns} | {"RYID": "1", "GMSFHM": "11010519491231002X" * 3, "XM": "张三"}
    frame = pd.DataFrame([row]).replace({np.nan: None})
    with pytest.raises(LoadError, match="loading 1 rows into CZRK on postgresql failed") as err:
        insert_rows(engine, tables["CZRK"], frame)
    engine.dispose()
    assert "11010519491231002X" not in str(err.value) and "张三" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
