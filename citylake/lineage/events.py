"""OpenLineage run events of citylake's jobs, built with openlineage-python and written as JSON lines.

A task run gives START, then COMPLETE or FAIL, as job ``{dag_id}.{task_id}`` with a parent facet
naming its DAG run (job ``{dag_id}``, which has its own START and COMPLETE/FAIL). The terminal
event carries what the task actually read and wrote (:mod:`citylake.lineage.collector`): lake
tables at the Delta versions read or committed, with their schema, and department tables;
outputs carry their column lineage (:mod:`citylake.lineage.columns`). Names follow
:mod:`citylake.lineage.naming`.

Events go to ``$CITYLAKE_HOME/lineage/events.jsonl`` through the client's file transport, one event
a line, appended under a lock so that concurrent task processes do not interleave. Once the file
reaches ``CITYLAKE_LINEAGE_ROTATE_MB`` (64 MB by default) it is renamed ``events-<UTC time>.jsonl``
and a new one begins; readers (``citylake.catalog.lineage.read_events``) read them all, oldest first
(the rotated names sort before ``events.jsonl`` and by time among themselves).
``CITYLAKE_LINEAGE=off`` turns emission off (to measure its cost, or where nobody wants it).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    parent_run,
    processing_engine_run,
    schema_dataset,
    symlinks_dataset,
)
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.uuid import generate_static_uuid

from citylake.lineage.collector import Collector, LakeAccess
from citylake.lineage.columns import output_columns
from citylake.lineage.naming import job_namespace, lake_dataset, source_dataset
from citylake.settings import Home

ENABLED_ENV = "CITYLAKE_LINEAGE"
EVENTS_FILE = "events.jsonl"
ROTATE_ENV = "CITYLAKE_LINEAGE_ROTATE_MB"
ROTATE_MB = 64.0
PRODUCER = "https://github.com/citylake/citylake/tree/main/citylake/lineage"


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def events_path(home: Home) -> Path:
    return home.lineage / EVENTS_FILE


def _rotate(path: Path) -> None:
    """Start a new event file once ``path`` has reached the rotation size (called under the lock)."""
    limit = float(os.environ.get(ROTATE_ENV, ROTATE_MB)) * 1024 * 1024
    if path.exists() and path.stat().st_size >= limit:
        path.rename(path.with_name(f"{path.stem}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}{path.suffix}"))


@dataclass(frozen=True)
class JobRun:
    """One run of a job: ``{dag_id}`` for a DAG run, ``{dag_id}.{task_id}`` for a task run."""

    job: str
    run_id: str  # a UUID
    nominal_time: datetime | None = None
    parent: JobRun | None = None
    kind: str = "TASK"  # OpenLineage job type: DAG or TASK


def run_uuid(instant: datetime, *parts: object) -> str:
    """A stable run id: the same DAG run, task and try always give the same UUID (v7)."""
    return str(generate_static_uuid(instant, ".".join(str(p) for p in parts).encode("utf-8")))


def _ts(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


def _run_facets(run: JobRun, error: str | None) -> dict[str, Any]:
    import airflow

    facets: dict[str, Any] = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=airflow.__version__, name="Airflow", openlineageAdapterVersion=_client_version())}
    if run.nominal_time is not None:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(nominalStartTime=_ts(run.nominal_time))
    if run.parent is not None:
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run.parent.run_id),
            job=parent_run.Job(namespace=job_namespace(), name=run.parent.job))
    if error is not None:
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(message=error, programmingLanguage="python")
    return facets


def _client_version() -> str:
    from importlib.metadata import version

    return version("openlineage-python")


def _symlink(catalog_id: str) -> dict[str, Any]:
    return {"symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[
        symlinks_dataset.Identifier(namespace=job_namespace(), name=catalog_id, type="TABLE")])}


def _schema(fields: Mapping[str, str]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields.items()])


def _lake_facets(lake, access: LakeAccess) -> tuple[dict[str, Any], list[str]]:
    version = max(access.versions) if access.versions else None
    schema = lake.schema(access.table, version)
    facets = {**_symlink(access.table), "schema": _schema({f.name: str(f.type) for f in schema})}
    if version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))
    return facets, schema.names


def datasets(collector: Collector, registry) -> tuple[list[InputDataset], list[OutputDataset]]:
    """The inputs and outputs of a finished job from what it read and wrote.

    A table read back only at versions the job committed itself (a summary after a write) is an
    output, not an input: a job is not its own upstream.
    """
    lake = collector.lake
    inputs, names = [], {}
    for access in collector.inputs.values():
        written = collector.outputs.get(access.table)
        if written is not None and set(access.versions) <= set(written.versions):
            continue
        namespace, name = lake_dataset(access.location)
        names[access.table] = (namespace, name)
        facets, _ = _lake_facets(lake, access)
        inputs.append(InputDataset(namespace=namespace, name=name, facets=facets))
    for catalog_id, read in collector.sources.items():
        namespace, name = source_dataset(read)
        names[catalog_id] = (namespace, name)
        inputs.append(InputDataset(namespace=namespace, name=name,
                                   facets={**_symlink(catalog_id), "schema": _schema(read.columns)}))
    outputs = []
    for access in collector.outputs.values():
        namespace, name = lake_dataset(access.location)
        facets, columns = _lake_facets(lake, access)
        lineage = output_columns(access.table, columns, set(names), registry)
        if lineage:
            facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(fields={
                column: column_lineage_dataset.Fields(inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=names[s.table][0], name=names[s.table][1], field=s.column,
                        transformations=[column_lineage_dataset.Transformation(
                            type="DIRECT", subtype=s.subtype, description=s.description, masking=False)])
                    for s in sources])
                for column, sources in lineage.items()})
        outputs.append(OutputDataset(namespace=namespace, name=name, facets=facets))
    return inputs, outputs


def event(state: RunState, run: JobRun, *, inputs=(), outputs=(), error: str | None = None,
          at: datetime | None = None) -> RunEvent:
    job_facets = {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW",
                                                          jobType=run.kind)}
    return RunEvent(eventType=state, eventTime=_ts(at), producer=PRODUCER,
                    run=Run(runId=run.run_id, facets=_run_facets(run, error)),
                    job=Job(namespace=job_namespace(), name=run.job, facets=job_facets),
                    inputs=list(inputs), outputs=list(outputs))


def emit(events: list[RunEvent], home: Home | None = None) -> None:
    """Append ``events`` to the home's event file (one line each), under the file's lock."""
    if not enabled() or not events:
        return
    home = home or Home.from_env()
    path = events_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
    with open(path.with_name(".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            _rotate(path)
            for e in events:
                client.emit(e)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
