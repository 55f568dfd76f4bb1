"""How a department system's connection id becomes a SQLAlchemy URL.

Connections are Airflow connections (``AIRFLOW_CONN_<ID>`` in the environment, as a URI or as
Airflow's JSON form, or the Airflow metadata DB inside tasks). Without one, the embedded default
resolves a system to its generated SQLite file under ``$CITYLAKE_HOME/sources/``.
"""

from __future__ import annotations

import json
import os
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import URL

from citylake.settings import Home
from citylake.sources.registry import SourceSystem

# Airflow connection types -> SQLAlchemy dialect+driver of the drivers citylake ships.
DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql",
           "mariadb": "mysql+pymysql", "sqlite": "sqlite"}


class SourceConnectionError(ValueError):
    """A connection that cannot be turned into a database URL."""


def sqlalchemy_url(conn_type: str, host: str | None = None, login: str | None = None, password: str | None = None,
                   port: int | None = None, schema: str | None = None) -> URL:
    """The SQLAlchemy URL of an Airflow connection's fields."""
    driver = DRIVERS.get((conn_type or "").lower())
    if driver is None:
        raise SourceConnectionError(f"connection type {conn_type!r} is not supported; use one of {sorted(DRIVERS)}")
    if driver == "sqlite":
        return URL.create("sqlite", database=host or schema)
    query = {"charset": "utf8mb4"} if driver.startswith("mysql") else {}
    return URL.create(driver, username=login or None, password=password or None, host=host or None,
                      port=int(port) if port else None, database=schema or None, query=query)


def from_airflow_value(value: str) -> URL:
    """Parse an ``AIRFLOW_CONN_*`` value: a URI (``postgres://u:p@h:5432/db``) or Airflow's JSON form."""
    if value.lstrip().startswith("{"):
        fields = json.loads(value)
        return sqlalchemy_url(fields.get("conn_type", ""), fields.get("host"), fields.get("login"),
                              fields.get("password"), fields.get("port"), fields.get("schema"))
    parts = urlsplit(value)
    scheme = parts.scheme.replace("-", "_")
    if scheme == "sqlite":
        # sqlite:////abs/path.db (SQLAlchemy form) or Airflow's sqlite://<url-encoded path>
        path = unquote(parts.netloc + parts.path) if parts.netloc else parts.path[1:] if parts.path.startswith("//") else parts.path
        return URL.create("sqlite", database=path)
    return sqlalchemy_url(scheme, parts.hostname, unquote(parts.username or "") or None,
                          unquote(parts.password or "") or None, parts.port, parts.path.lstrip("/") or None)


def source_url(system: SourceSystem, home: Home | None = None) -> URL:
    """The system's database: ``AIRFLOW_CONN_<CONNECTION>`` if set, else the embedded SQLite file."""
    value = os.environ.get(f"AIRFLOW_CONN_{system.connection.upper()}")
    if value:
        return from_airflow_value(value)
    return embedded_url(system, home)


def embedded_url(system: SourceSystem, home: Home | None = None) -> URL:
    """The embedded default's SQLite file of the system (``citylake demo`` / ``generate`` write it).

    Only a file that exists is the embedded default: a deployment whose connection is missing must
    fail naming the connection, not read (and, as SQLite does on connect, create) an empty file.
    """
    path = (home or Home.from_env()).sources / f"{system.code}.db"
    if not path.is_file():
        raise SourceConnectionError(
            f"{system.code}: no Airflow connection {system.connection!r} (set AIRFLOW_CONN_"
            f"{system.connection.upper()} or add it in Airflow) and no embedded default database at {path}")
    return URL.create("sqlite", database=str(path))
