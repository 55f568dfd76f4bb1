"""One Airflow ingestion DAG per department system, built from the source registry.

Each DAG ``ingest_<system>`` has one TaskFlow task per source table, ``extract_<table>``, that
extracts the table into its bronze Delta table as one idempotent batch
(:func:`citylake.ingest.extract.ingest_table`). Every task declares an :class:`~airflow.sdk.Asset`
for its bronze table as its outlet, so later stages are scheduled by data (``schedule=[asset]``)
rather than by the clock, and it attaches the batch reference to the asset event's ``extra``: an
asset-triggered run has no logical date, so the consumer reads which batch to process from there::

    @task
    def promote(*, triggering_asset_events=None):
        for event in triggering_asset_events[bronze_asset("bronze.gongan_czrk")]:
            batch_id = event.extra["batch_id"]

The batch id is derived from the DAG run (``<dag_id>/<run_id>/<table>``): a retried task or a
cleared and rerun DAG run extracts under the same id, which ingestion turns into a no-op.

Parsing stays cheap: this module imports only the Task SDK and the YAML registry. Extraction
(pyarrow, pandas, SQLAlchemy, delta-rs) is imported inside the task, where it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.sdk import DAG, Asset, get_current_context, task

from citylake.sources.registry import SourceSystem, SourceTable, load_registry_report

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

ASSET_SCHEME = "x-citylake"
"""URI scheme of the lake's assets. Airflow validates the URIs of the schemes it knows (``file``,
``s3``, ``postgres`` …) and documents the ``x-`` prefix for schemes it should treat as opaque."""

# Fixed and in the past; with catchup=False only the latest interval runs when a DAG is added.
# The city's departments keep Beijing time, so "0 2 * * *" in the registry means 02:00 local.
START_DATE = pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai")

# Sources are department production databases: at most two tables of one system are read at
# once. This also bounds concurrent commits to the shared governance tables (batch audit,
# watermarks), whose writers the lake already serialises with per-table locks. A pool would do
# the same across DAGs, but it must exist in every metadata DB before any task can be scheduled.
MAX_ACTIVE_TASKS = 2

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "citylake",
    # A department database that is down or busy usually comes back: retry 1, 2, 4 minutes later.
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    # A hung source connection must not hold the DAG (max_active_runs=1) forever.
    "execution_timeout": timedelta(hours=2),
}


def serial_dag(dag_id: str, description: str, doc_md: str | None, schedule: Any, tags: list[str]) -> DAG:
    """A DAG of one run at a time (the one writer of the tables it builds), retried once, not caught
    up: the shape of every build, catalog, report and upkeep DAG."""
    return DAG(dag_id=dag_id, description=description, doc_md=doc_md, schedule=schedule, start_date=START_DATE,
               catchup=False, max_active_runs=1, default_args={**DEFAULT_ARGS, "retries": 1},
               tags=["citylake", *tags])


def bronze_asset(bronze_table: str) -> Asset:
    """The Airflow asset of a lake table such as ``bronze.gongan_czrk``.

    Consumers must build their schedule from this function: Airflow identifies an asset by its name
    and URI together, and the URI does not depend on where the lake is, so the same asset is meant
    on every machine.
    """
    layer, _, name = bronze_table.partition(".")
    if not layer or not name:
        raise ValueError(f"lake table {bronze_table!r} is not '<layer>.<name>'")
    return Asset(name=bronze_table, uri=f"{ASSET_SCHEME}://{layer}/{name}", group=layer)


def batch_id_for(dag_id: str, run_id: str, table: str) -> str:
    """The ingestion batch id of ``table`` in a DAG run (stable across retries and reruns of the run)."""
    return f"{dag_id}/{run_id}/{table}"


def resolve_source_url(system: SourceSystem) -> URL:
    """The SQLAlchemy URL of the system's Airflow connection, else the embedded SQLite default if
    its file exists; neither is a :class:`SourceConnectionError` naming the connection (the task
    then fails at once: retrying cannot create a connection).

    Runs inside a task: :meth:`Connection.get` asks the task's supervisor, which looks in the
    secrets backends (``AIRFLOW_CONN_<ID>`` first) and then the metadata DB.
    """
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from citylake.sources.connections import embedded_url, sqlalchemy_url

    try:
        conn = Connection.get(system.connection)
    except AirflowNotFoundException:
        url = embedded_url(system)  # raises SourceConnectionError when there is none either
        log.info("connection %s is not defined; using the embedded default", system.connection)
        return url
    return sqlalchemy_url(conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.schema)


def extract_table(system: SourceSystem, table: SourceTable) -> dict[str, Any]:
    """The body of an ``extract_<table>`` task: one batch into bronze, the batch on the asset event.

    Returns the batch summary (small and JSON-able, for XCom). Errors that a retry cannot fix fail
    the task at once instead of waiting through the retries.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from citylake.ingest.extract import SchemaDriftError, ingest_table
    from citylake.lake import open_lake
    from citylake.sources.connections import SourceConnectionError

    context = get_current_context()
    dag_run = context["dag_run"]
    batch_id = batch_id_for(dag_run.dag_id, dag_run.run_id, table.name)
    try:
        url = resolve_source_url(system)
        result = ingest_table(system, table, batch_id, open_lake(), url)
    except (SchemaDriftError, SourceConnectionError) as exc:
        # A source column whose values bronze cannot hold, or a connection of an unsupported
        # type, needs a person; the retries would only delay the alert.
        message = str(exc)
        prefix = f"{system.code}.{table.name}: "
        raise AirflowFailException(message if message.startswith(prefix) else prefix + message) from exc
    summary = result.summary()
    asset = bronze_asset(result.bronze_table)
    context["outlet_events"][asset].extra = {
        "batch_id": batch_id,
        "system": system.code,
        "source_table": table.name,
        "bronze_table": result.bronze_table,
        "bronze_version": result.bronze_version,
        "rows_written": result.rows_written,
        # A rerun of an already ingested batch still emits an event: consumers are idempotent by
        # batch id, and this flag lets them skip the work outright.
        "skipped": result.skipped,
    }
    return summary


def _table_doc(system: SourceSystem, table: SourceTable) -> str:
    load = f"incremental by `{table.update_column}`" if table.load == "incremental" else "snapshot (diffed)"
    return (f"**{table.name}** {table.description}\n\n"
            f"- into: `{table.bronze_name(system.code)}`\n"
            f"- key: `{', '.join(table.primary_key)}`; load: {load}"
            f"{'; deletes detected' if table.detect_deletes else ''}")


def _dag_doc(system: SourceSystem) -> str:
    rows = "\n".join(f"| `extract_{t.lake_name}` | {t.name} | {t.description} | `{t.bronze_name(system.code)}` |"
                     for t in system.tables)
    return (f"### {system.name_zh} ({system.name_en})\n\n"
            f"Owner department (数据提供部门): **{system.owner}**. "
            f"Airflow connection `{system.connection}` (without it, the embedded SQLite file "
            f"`$CITYLAKE_HOME/sources/{system.code}.db`). Registry entry `{system.path.name}`.\n\n"
            "Each task extracts one source table into bronze as one idempotent batch and updates the "
            "table's asset, with the batch id in the event's extra.\n\n"
            "| task | source table | 说明 | bronze table |\n|---|---|---|---|\n" + rows)


def _extract_task(system: SourceSystem, table: SourceTable):
    """The TaskFlow task of one table (its own function, so each task binds its own table)."""
    bronze = table.bronze_name(system.code)

    @task(task_id=f"extract_{table.lake_name}", outlets=[bronze_asset(bronze)], doc_md=_table_doc(system, table))
    def extract() -> dict[str, Any]:
        return extract_table(system, table)

    return extract


def build_ingest_dag(system: SourceSystem) -> DAG:
    """The DAG ``ingest_<system>``: one ``extract_<table>`` task per table, on the registry's schedule."""
    with DAG(
        dag_id=f"ingest_{system.code}",
        description=f"{system.name_zh} → bronze",
        doc_md=_dag_doc(system),
        schedule=system.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=MAX_ACTIVE_TASKS,
        dagrun_timeout=timedelta(hours=6),
        default_args=dict(DEFAULT_ARGS),
        tags=["citylake", "ingest", system.code, system.owner],
    ) as dag:
        # The tables of a system are independent: no dependencies between the tasks.
        for table in system.tables:
            _extract_task(system, table)()
    return dag


def build_broken_dag(code: str, message: str) -> DAG:
    """``ingest_<code>`` of a registry file that does not load: one task failing with the file's error.

    One broken file must not take the other departments' DAGs with it (they come from one DAG
    file); its own DAG fails every day, naming what to fix, until the file is mended."""
    from airflow.sdk.exceptions import AirflowFailException

    with DAG(
        dag_id=f"ingest_{code}",
        description=f"registry error: {message}"[:200],
        doc_md=f"The registry file of system `{code}` does not load:\n\n```\n{message}\n```",
        schedule="@daily",
        start_date=START_DATE,
        catchup=False,
        default_args={**DEFAULT_ARGS, "retries": 0},
        tags=["citylake", "ingest", code, "registry-error"],
    ) as dag:
        @task(task_id="registry_error")
        def registry_error() -> None:
            raise AirflowFailException(message)

        registry_error()
    return dag


def build_ingest_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    """One ingestion DAG per source system of ``registry`` (default: the registry directory, each
    file on its own: a broken file gets :func:`build_broken_dag`), by dag id."""
    if registry is None:
        report = load_registry_report()
        dags = [build_ingest_dag(system) for system in report.systems.values()]
        dags += [build_broken_dag(code, message) for code, message in report.broken.items()]
    else:
        dags = [build_ingest_dag(system) for system in registry.values()]
    return {dag.dag_id: dag for dag in dags}
