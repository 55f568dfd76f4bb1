"""Write department tables into real databases through SQLAlchemy, in bulk.

A target is a SQLAlchemy URL. With a ``{department}`` placeholder each department gets its own
database (an SQLite file, or a PostgreSQL / MariaDB database created on first use); without it
every department's tables go into the one database. The fastest bulk path of each driver is used
on the SQLAlchemy connection: COPY on PostgreSQL (psycopg), multi-row INSERT on MySQL/MariaDB
(PyMySQL's executemany), executemany on SQLite.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from citylake.synthcity.departments.base import TableSpec

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000


class TargetError(ValueError):
    """A target URL that cannot be used."""


def mask_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url.replace("{department}", "DEPARTMENT")).render_as_string(hide_password=True).replace(
            "DEPARTMENT", "{department}")
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def department_url(target: str, department: str) -> URL:
    try:
        url = make_url(target.replace("{department}", department))
    except sa.exc.ArgumentError as exc:
        raise TargetError(f"not a SQLAlchemy URL: {mask_url(target)}") from exc
    if url.get_backend_name() not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise TargetError(f"unsupported target {mask_url(target)}: use sqlite, postgresql or mysql+pymysql")
    if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def engine_for(target: str, department: str) -> Engine:
    """An engine for the department's database, creating the SQLite file or server database if missing."""
    url = department_url(target, department)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    elif "{department}" in target and backend in ("postgresql", "mysql", "mariadb"):
        _create_database(url)
    # hide_parameters: a failed UPDATE must not print the row values it carried (personal data).
    return sa.create_engine(url, future=True, hide_parameters=True)


def _create_database(url: URL) -> None:
    name = url.database
    if not name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise TargetError(f"database name {name!r} must be letters, digits and underscores")
    backend = url.get_backend_name()
    server = url.set(database="postgres" if backend == "postgresql" else "information_schema")
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if backend == "postgresql":
                exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
                if not exists:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            else:
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 "
                                     "COLLATE utf8mb4_unicode_ci")
    finally:
        engine.dispose()


def create_tables(engine: Engine, specs: list[TableSpec]) -> dict[str, sa.Table]:
    """(Re)create the department's tables: generating a city replaces what was there."""
    metadata = sa.MetaData()
    tables = {s.name: s.sqlalchemy_table(metadata) for s in specs}
    with engine.begin() as conn:
        for table in tables.values():
            table.drop(conn, checkfirst=True)
        metadata.create_all(conn)
    return tables


def python_rows(frame: pd.DataFrame, start: int = 0, stop: int | None = None) -> list[tuple]:
    """Rows as tuples of plain Python values (None for nulls) that every DB-API driver accepts."""
    part = frame.iloc[start:stop]
    columns = []
    for name in part.columns:
        s = part[name]
        if pd.api.types.is_datetime64_any_dtype(s):
            values = [None if pd.isna(v) else v.to_pydatetime() for v in s]
        else:
            values = [_plain(v) for v in s.to_numpy(dtype=object)]
        columns.append(values)
    return list(zip(*columns, strict=True))


def _plain(v):
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decimals_as_text(row: tuple, positions: list[int]) -> tuple:
    values = list(row)
    for i in positions:
        if values[i] is not None:
            values[i] = str(values[i])
    return tuple(values)


def chunks(frame: pd.DataFrame, size: int = CHUNK_ROWS) -> Iterator[list[tuple]]:
    for start in range(0, len(frame), size):
        yield python_rows(frame, start, start + size)


class LoadError(RuntimeError):
    """A bulk load failed. The message names the table and the database error's kind, never the
    rows: drivers quote the offending values (ID numbers, names) in their own messages."""


def insert_rows(engine: Engine, table: sa.Table, frame: pd.DataFrame) -> int:
    """Bulk-insert ``frame`` (columns in table order) in one transaction; returns rows written."""
    try:
        return _insert_rows(engine, table, frame)
    except engine.dialect.loaded_dbapi.Error as exc:
        raise LoadError(f"loading {len(frame)} rows into {table.name} on {engine.dialect.name} failed: "
                        f"{type(exc).__name__} (row values withheld: they may be personal data)") from None


def _insert_rows(engine: Engine, table: sa.Table, frame: pd.DataFrame) -> int:
    names = [c.name for c in table.columns]
    frame = frame[names]
    backend = engine.dialect.name
    written = 0
    with engine.begin() as conn:
        dbapi = conn.connection.dbapi_connection
        cursor = dbapi.cursor()
        try:
            if backend == "postgresql":
                quoted = ", ".join(f'"{n}"' for n in names)
                with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for rows in chunks(frame):
                        for row in rows:
                            copy.write_row(row)
                        written += len(rows)
            else:
                if backend == "sqlite":
                    # sqlite3 has no Decimal adapter; NUMERIC affinity stores the exact text as a number.
                    numeric = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.Numeric)]
                    sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({", ".join("?" * len(names))})'
                else:
                    sql = (f"INSERT INTO `{table.name}` ({', '.join(f'`{n}`' for n in names)}) "
                           f"VALUES ({', '.join(['%s'] * len(names))})")
                for rows in chunks(frame, 10_000 if backend != "sqlite" else CHUNK_ROWS):
                    if backend == "sqlite" and numeric:
                        rows = [_decimals_as_text(row, numeric) for row in rows]
                    cursor.executemany(sql, rows)
                    written += len(rows)
        finally:
            cursor.close()
    return written
