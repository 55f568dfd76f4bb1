"""Reading citylake's lineage back: the OpenLineage run events under ``$CITYLAKE_HOME/lineage/``
(written by :mod:`citylake.lineage.events`) as table edges and column lineage for the catalog.

Datasets are named here by their catalog id, the symlink every citylake dataset carries
(:mod:`citylake.lineage.naming`): ``<layer>.<name>`` for a lake table (``silver.gongan_czrk``),
``<system>.<TABLE>`` for a department table (``gongan.CZRK``). A dataset of another producer,
without the symlink, keeps its OpenLineage ``namespace/name``.

The names and shapes below are an interface of the catalog (citylake.catalog): keep them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from citylake.settings import Home

COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class LineageEdge:
    """One complete job run: the tables it read and the tables it wrote (catalog ids)."""

    job: str  # {dag_id}.{task_id}
    run_id: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    event_time: str


def _folder(home: Home | str | os.PathLike[str]) -> Path:
    return home.lineage if isinstance(home, Home) else Home(Path(home)).lineage


def read_events(home: Home | str | os.PathLike[str]) -> Iterator[dict]:
    """The raw OpenLineage RunEvents of the home, in the order they were written."""
    folder = _folder(home)
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def dataset_id(dataset: dict) -> str:
    """The catalog id of an event's dataset (its citylake symlink), else ``namespace/name``."""
    for identifier in (dataset.get("facets") or {}).get("symlinks", {}).get("identifiers", []):
        return identifier["name"]
    return f"{dataset['namespace']}/{dataset['name']}"


def table_edges(home: Home | str | os.PathLike[str]) -> list[LineageEdge]:
    """Every COMPLETE task run that read or wrote a table, oldest first (DAG runs carry no datasets)."""
    edges = []
    for event in read_events(home):
        if event.get("eventType") != COMPLETE:
            continue
        inputs = tuple(dataset_id(d) for d in event.get("inputs") or [])
        outputs = tuple(dataset_id(d) for d in event.get("outputs") or [])
        if inputs or outputs:
            edges.append(LineageEdge(event["job"]["name"], event["run"]["runId"], inputs, outputs,
                                     event["eventTime"]))
    return sorted(edges, key=lambda e: e.event_time)


def column_lineage(home: Home | str | os.PathLike[str], table: str) -> dict[str, list[tuple[str, str]]]:
    """column -> [(input id, input column)] of ``table``, from the latest complete run that wrote it
    with column lineage ({} when none did)."""
    names: dict[tuple[str, str], str] = {}
    latest: tuple[str, dict] | None = None
    for event in read_events(home):
        for dataset in [*(event.get("inputs") or []), *(event.get("outputs") or [])]:
            names[(dataset["namespace"], dataset["name"])] = dataset_id(dataset)
        if event.get("eventType") != COMPLETE:
            continue
        for dataset in event.get("outputs") or []:
            facet = (dataset.get("facets") or {}).get("columnLineage")
            if dataset_id(dataset) == table and facet and (latest is None or event["eventTime"] >= latest[0]):
                latest = (event["eventTime"], facet)
    if latest is None:
        return {}
    return {column: [(names.get((f["namespace"], f["name"]), f"{f['namespace']}/{f['name']}"), f["field"])
                     for f in spec.get("inputFields", [])]
            for column, spec in latest[1]["fields"].items()}


def column_origins(home: Home | str | os.PathLike[str], table: str, column: str) -> list[tuple[str, str]]:
    """The columns ``table.column`` comes from at the start of the flow (department tables), by
    following :func:`column_lineage` upstream; a column with no recorded upstream is its own origin."""
    cache: dict[str, dict[str, list[tuple[str, str]]]] = {}
    origins, seen, todo = [], set(), [(table, column)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current[0] not in cache:
            cache[current[0]] = column_lineage(home, current[0])
        upstream = cache[current[0]].get(current[1], [])
        if upstream:
            todo.extend(upstream)
        else:
            origins.append(current)
    return sorted(set(origins))
