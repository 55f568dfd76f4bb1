"""Dataset and job names of citylake's OpenLineage events (https://openlineage.io/docs/spec/naming).

* A department table is named by its database: ``postgres://host:port`` + ``database.schema.TABLE``,
  ``mysql://host:port`` + ``database.TABLE`` (the client's naming helpers), and for the embedded
  SQLite files ``sqlite://<absolute file path>`` + ``TABLE`` (SQLite has no server; its file is
  the datasource).
* A lake table is named by its storage location: ``file`` + the absolute folder of a local table,
  ``s3://bucket`` + the key prefix, ``<scheme>://<authority>`` + the path for other object stores.
* Every dataset also carries its catalog id as a symlink in the job namespace: ``<layer>.<name>``
  for a lake table (``silver.gongan_czrk``), ``<system>.<TABLE>`` for a department table as the
  registry names it (``gongan.CZRK``); :mod:`citylake.catalog.lineage` reads them back.
* A job is ``{dag_id}.{task_id}`` (a DAG run is ``{dag_id}``) in ``$CITYLAKE_LINEAGE_NAMESPACE``
  (default ``citylake``).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from openlineage.client.naming.dataset import S3, LocalFileSystem, MySQL, Postgres

from citylake.lineage.collector import SourceRead

NAMESPACE_ENV = "CITYLAKE_LINEAGE_NAMESPACE"
DEFAULT_NAMESPACE = "citylake"
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def job_namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def lake_dataset(location: str) -> tuple[str, str]:
    """(namespace, name) of the lake table stored at ``location`` (a folder or an object-store URI)."""
    parts = urlsplit(location)
    if not parts.scheme or parts.scheme == "file" or len(parts.scheme) == 1:  # a path (C:/… on Windows)
        naming = LocalFileSystem(str(Path(parts.path if parts.scheme == "file" else location).resolve()))
        return naming.get_namespace(), naming.get_name()
    if parts.scheme in ("s3", "s3a"):
        naming = S3(parts.netloc, parts.path.lstrip("/"))
        return naming.get_namespace(), naming.get_name()
    return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")


def source_dataset(read: SourceRead) -> tuple[str, str]:
    """(namespace, name) of a department table, from its database URL's parts (never credentials)."""
    backend = read.backend
    if backend == "sqlite":
        return f"sqlite://{Path(read.database or '').resolve()}", read.table
    port = str(read.port or DEFAULT_PORTS.get(backend, ""))
    host = read.host or "localhost"
    if backend == "postgresql":
        naming = Postgres(host, port, read.database or "postgres", read.schema or "public", read.table)
    elif backend == "mysql":
        naming = MySQL(host, port, read.database or read.schema or "mysql", read.table)
    else:
        return f"{backend}://{host}:{port}", ".".join(p for p in (read.database, read.schema, read.table) if p)
    return naming.get_namespace(), naming.get_name()


def task_job(dag_id: str, task_id: str) -> str:
    return f"{dag_id}.{task_id}"
