"""What a running job actually read and wrote, collected where the I/O happens.

:mod:`citylake.lake` reports every data read (a scan of a table version, a Spark read) and every
commit of a table, and :mod:`citylake.ingest.extract` reports the department table it read, to the
collector of the job that is running (a task of an Airflow run, started and ended by
:mod:`citylake.lineage.listener`). Outside a job nothing is collected and reporting costs a lookup.
The collected datasets become the inputs and outputs of the job's OpenLineage events
(:mod:`citylake.lineage.events`), so the lineage is what ran, not what a DAG declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LakeAccess:
    """One lake table a job touched: its root and the versions it read or committed."""

    table: str  # <layer>.<name>
    location: str  # the table's storage location (citylake.lake's table_uri)
    versions: list[int] = field(default_factory=list)


@dataclass
class SourceRead:
    """One department table a job read (its database by URL, without credentials)."""

    system: str
    table: str
    backend: str  # sqlite, postgresql, mysql
    host: str | None
    port: int | None
    database: str | None
    schema: str | None
    columns: dict[str, str]  # column -> its Arrow type as text


@dataclass
class Collector:
    """The datasets of one job run, in the order first touched."""

    inputs: dict[str, LakeAccess] = field(default_factory=dict)
    outputs: dict[str, LakeAccess] = field(default_factory=dict)
    sources: dict[str, SourceRead] = field(default_factory=dict)
    lake: Any = None  # the lake of the last access: to read the outputs' schemas at the end


# One job runs at a time in a process: an Airflow task process runs one task, dag.test() runs its
# tasks one after the other. A module global rather than a context variable, because the task
# runner may execute a task in a copied context: the listener that starts and ends the collector
# and the code that reports to it must see the same one.
_current: Collector | None = None


def current() -> Collector | None:
    return _current


def start() -> Collector:
    """A new collector for the job starting in this process (replaces any earlier one)."""
    global _current
    _current = Collector()
    return _current


def stop() -> Collector | None:
    global _current
    collector, _current = _current, None
    return collector


@contextmanager
def collecting() -> Iterator[Collector]:
    """Collect the I/O of the block (a job run outside Airflow)."""
    global _current
    before, _current = _current, Collector()
    try:
        yield _current
    finally:
        _current = before


def _access(accesses: dict[str, LakeAccess], lake, table, version: int | None) -> None:
    name = str(table)
    entry = accesses.get(name)
    if entry is None:
        entry = accesses[name] = LakeAccess(name, lake.table_uri(table))
    if version is not None and version not in entry.versions:
        entry.versions.append(version)


def read_table(lake, table, version: int | None = None) -> None:
    """``lake`` scanned ``table`` (at ``version``, None: the current one)."""
    collector = _current
    if collector is None:
        return
    if version is None:
        version = lake.version(table)
    _access(collector.inputs, lake, table, version)
    collector.lake = lake


def wrote_table(lake, table, version: int | None = None) -> None:
    """``lake`` committed ``version`` of ``table`` (None: its current version)."""
    collector = _current
    if collector is None:
        return
    _access(collector.outputs, lake, table, lake.version(table) if version is None else version)
    collector.lake = lake


def read_source(read: SourceRead) -> None:
    """A department table was read (:mod:`citylake.ingest.extract`)."""
    collector = _current
    if collector is not None:
        collector.sources[f"{read.system}.{read.table}"] = read
