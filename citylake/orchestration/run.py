"""Run the ingestion DAGs once, for real, on the embedded default (``citylake demo``, tests).

Each ``ingest_<system>`` DAG runs through Airflow's own ``dag.test()``: a real DAG run in a real
metadata DB, task instances, XComs and asset events, without a scheduler or workers. The metadata
DB is SQLite under ``$CITYLAKE_HOME/airflow`` by default (any SQLAlchemy URL, e.g. PostgreSQL,
can be given), and it is migrated only when its schema is not at Airflow's head revision.

Airflow reads its configuration (``AIRFLOW_HOME``, the metadata DB, the DAGs folder) once, when
it is first imported, and keeps one ORM session factory per process. So the runs happen in a
child Python process whose environment is set before Airflow is imported: the caller's process
never imports Airflow, can run ingestion for several homes (tests in parallel), and its own
logging is left alone. Airflow's log goes to ``<run dir>/run.log``; the child reports task
states, XCom summaries and asset events as JSON in ``<run dir>/result.json``.

One run at a time per home: Airflow's metadata migration and the DAG sync that ``dag.test()`` does
first are not safe against a concurrent run on the same metadata DB (two runs on a fresh home die on
``table … already exists`` or ``UNIQUE constraint failed: dag.dag_id``). The child holds an
exclusive ``flock`` on ``$CITYLAKE_HOME/airflow/run.lock`` for its whole run, so a second run waits
for the first and then runs (its batches find what the first wrote).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citylake.settings import Home

log = logging.getLogger(__name__)

# A progress event: {"event": "task", "dag_id", "task_id", "state": running|success|failed, "at"} or
# {"event": "dag", "dag_id", "run_id", "state", "seconds", "rows": {task_id: rows}} ("at": epoch seconds).
ProgressCallback = Callable[[dict[str, Any]], None]
PROGRESS_POLL_SECONDS = 0.5
DAG_ID_PREFIX = "ingest_"
PROMOTE_PREFIX = "promote_"
DAG_FILE = "ingest.py"
# The repository's DAGs folder (next to the package in a source checkout or editable install).
REPO_DAGS = Path(__file__).resolve().parents[2] / "dags"
# Written into the Airflow home when citylake runs from an installed wheel, which has no dags/.
_THIN_DAG_FILE = '''"""Ingestion and quality-gate DAGs (airflow): written by citylake.orchestration.run for an
installed citylake."""

from citylake.orchestration.ingest_dags import build_ingest_dags
from citylake.orchestration.promote_dags import build_promote_dags
from citylake.orchestration.person_dags import build_person_dags
from citylake.orchestration.address_dags import build_address_dags
from citylake.orchestration.catalog_dags import build_catalog_dags
from citylake.orchestration.enterprise_dags import build_enterprise_dags
from citylake.orchestration.docs_dags import build_data_docs_dags
from citylake.orchestration.topics_dags import build_topics_dags

globals().update(build_ingest_dags())
globals().update(build_promote_dags())
globals().update(build_person_dags())
globals().update(build_address_dags())
globals().update(build_catalog_dags())
globals().update(build_enterprise_dags())
globals().update(build_data_docs_dags())
globals().update(build_topics_dags())
'''


class IngestRunError(RuntimeError):
    """A DAG run failed (or could not run); the message names the failed tasks and the log file."""

    def __init__(self, message: str, runs: list[dict[str, Any]] | None = None, log_path: Path | None = None):
        super().__init__(message)
        self.runs = runs or []
        self.log_path = log_path


def sqlite_metadata_url(home: Home) -> str:
    """The default metadata DB: a SQLite file in the Airflow home (Airflow needs an absolute path)."""
    return f"sqlite:///{(home.airflow / 'airflow.db').resolve()}"


def dags_folder(home: Home) -> Path:
    """The DAGs folder to run: the repository's ``dags/``, else a thin DAG file in the Airflow home."""
    if (REPO_DAGS / DAG_FILE).is_file():
        return REPO_DAGS
    folder = home.airflow / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DAG_FILE).write_text(_THIN_DAG_FILE, encoding="utf-8")
    return folder


def async_metadata_url(url: str) -> str | None:
    """The async URL Airflow 3 also needs for its metadata DB, when it cannot derive a working one.

    Airflow maps ``postgresql`` to the ``asyncpg`` driver, which citylake does not install; psycopg 3
    (which it does) has an async mode of its own. ``None``: let Airflow derive it (SQLite, MySQL).
    """
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.split("+", 1)[0] != "postgresql" or importlib.util.find_spec("asyncpg") is not None:
        return None
    return f"postgresql+psycopg_async:{rest}"


def airflow_environment(home: Home, metadata_db: str | None = None, dags: Path | None = None) -> dict[str, str]:
    """The environment of the child process: this one's, plus an Airflow confined to the home."""
    env = dict(os.environ)
    env.update({
        "CITYLAKE_HOME": str(home.root),
        "AIRFLOW_HOME": str(home.airflow),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags or dags_folder(home)),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db or sqlite_metadata_url(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home.airflow / "logs"),
        # Airflow's own log lines are plain text in run.log (no colour codes).
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    })
    async_url = async_metadata_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    if async_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = async_url
    else:
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", None)
    return env


def run_promote(home: Home | None = None, systems: Iterable[str] | None = None, *,
                metadata_db: str | None = None, logical_date: datetime | None = None,
                timeout: float | None = None, on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Run ``promote_<system>`` (the quality gate, bronze -> silver) once for each system, then
    ``build_data_docs`` once (the GX Data Docs of the round, :func:`run_data_docs`).

    Returns one dict per ``gate_<table>`` task: ``silver_table`` and ``gated`` (the summaries of the
    batches it gated) plus ``dag_id``, ``run_id`` and ``task_id``. Raises :class:`IngestRunError` if a task failed
    (e.g. a batch over its error threshold), after every DAG ran and the Data Docs were built.
    """
    options = {"metadata_db": metadata_db, "logical_date": logical_date, "timeout": timeout,
               "on_progress": on_progress}
    try:
        summaries = _run_dags(PROMOTE_PREFIX, home, systems, retries=0, **options)
    except IngestRunError as failure:
        # A refused batch was validated too: its results belong in the docs the engineers look at.
        try:
            run_data_docs(home, **options)
        except IngestRunError as docs_failure:
            raise IngestRunError(f"{failure}\nand the Data Docs failed: {docs_failure}", failure.runs,
                                 failure.log_path) from failure
        raise
    run_data_docs(home, **options)
    return [s for s in summaries if s["task_id"].startswith("gate_")]


def run_data_docs(home: Home | None = None, *, metadata_db: str | None = None, logical_date: datetime | None = None,
                  timeout: float | None = None, on_progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Run ``build_data_docs`` once (citylake.orchestration.docs_dags); the summary of its ``build``
    task (``data_docs``: the index, ``validations``: the pages, plus ``dag_id``, ``run_id``, ``task_id``)."""
    (summary,) = _run_dags(BUILD_PREFIX, home, ["data_docs"], metadata_db=metadata_db, logical_date=logical_date,
                           retries=0, timeout=timeout, on_progress=on_progress)
    return summary


BUILD_PREFIX = "build_"


def run_build(home: Home | None = None, libraries: Iterable[str] = ("person", "address", "enterprise", "topics"), *,
              metadata_db: str | None = None, logical_date: datetime | None = None,
              timeout: float | None = None, full: bool = False,
              on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Run the theme-library DAGs (``build_person``, then ``build_address``, which links the persons
    to their standard addresses, then ``build_enterprise``, which links the enterprises to both, then
    ``build_topics``, the topic libraries on all three) once
    each, in order; one summary per ``build`` task (``citylake.jobs.person.build.build_person``'s,
    ``citylake.jobs.address.build.build_address``'s or
    ``citylake.jobs.enterprise.build.build_enterprise``'s, plus ``dag_id``, ``run_id``, ``task_id``).
    The person build is incremental after a complete
    earlier one; ``full`` forces a full build."""
    return _run_dags(BUILD_PREFIX, home, libraries, metadata_db=metadata_db, logical_date=logical_date,
                     retries=0, timeout=timeout, conf={"full": True} if full else None, on_progress=on_progress)


def run_catalog(home: Home | None = None, *, metadata_db: str | None = None, logical_date: datetime | None = None,
                timeout: float | None = None, on_progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Run ``build_catalog`` once (the catalog after a round, :mod:`citylake.orchestration.catalog_dags`);
    the summary of its ``build`` task (:func:`citylake.catalog.build.build_catalog`'s, plus ``dag_id``,
    ``run_id``, ``task_id``)."""
    (summary,) = _run_dags(BUILD_PREFIX, home, ["catalog"], metadata_db=metadata_db, logical_date=logical_date,
                           retries=0, timeout=timeout, on_progress=on_progress)
    return summary


def run_usage_report(home: Home | None = None, *, metadata_db: str | None = None,
                     logical_date: datetime | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run ``report_usage`` once (the weekly 数据调用情况, citylake.orchestration.catalog_dags); the
    summary of its ``usage_report`` task."""
    (summary,) = _run_dags("report_", home, ["usage"], metadata_db=metadata_db, logical_date=logical_date,
                           retries=0, timeout=timeout)
    return summary


def run_upkeep(home: Home | None = None, *, metadata_db: str | None = None,
               timeout: float | None = None) -> dict[str, Any]:
    """Run ``maintain_lake`` once (湖表维护, citylake.orchestration.upkeep_dags); the summary of its
    ``summary`` task."""
    (summary,) = _run_dags("maintain_", home, ["lake"], metadata_db=metadata_db, logical_date=None, retries=0,
                           timeout=timeout)
    return summary


def run_ingest(home: Home | None = None, systems: Iterable[str] | None = None, *,
               metadata_db: str | None = None, logical_date: datetime | None = None,
               retries: int | None = 0, timeout: float | None = None,
               on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Run ``ingest_<system>`` once for each system (default: every registry system), in order.

    Returns one dict per extracted table: the batch summary the task returned through XCom
    (``batch_id``, ``bronze_table``, ``rows_read``, ``rows_written``, ``bronze_version``,
    ``skipped`` …) plus ``dag_id``, ``run_id``, ``task_id`` and ``asset_event`` (the ``extra``
    Airflow recorded on the bronze table's asset event).

    ``metadata_db``: SQLAlchemy URL of Airflow's metadata DB (default: SQLite in the home).
    ``logical_date``: the runs' logical date (default: now); the run id derives from it, so two
    calls with the same date rerun the same DAG runs and ingestion skips their batches.
    ``retries``: the tasks' retries for these runs. The default ``0`` fails at once: the embedded
    sources are local files, where waiting cannot help. ``None`` keeps the DAGs' own (3, with
    exponential backoff from 1 minute), which ``dag.test()`` really waits through.

    ``on_progress``: called in this process with each task's start and end and each DAG run's end
    (:data:`ProgressCallback`), as they happen.

    Raises :class:`IngestRunError` if any task (or the run itself) fails, after every DAG ran.
    """
    return _run_dags(DAG_ID_PREFIX, home, systems, metadata_db=metadata_db, logical_date=logical_date,
                     retries=retries, timeout=timeout, on_progress=on_progress)


def _run_dags(prefix: str, home: Home | None, systems: Iterable[str] | None, *, metadata_db: str | None,
              logical_date: datetime | None, retries: int | None, timeout: float | None,
              conf: dict[str, Any] | None = None, on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Run the ``<prefix><system>`` DAGs once each with ``dag.test()`` in a child process."""
    # Absolute: the child's AIRFLOW_HOME and SQLite paths must not depend on its working directory.
    home = Home(home.root.resolve()) if home else Home.from_env()
    if isinstance(systems, str):
        systems = [systems]
    run_dir = home.airflow / "runs" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir(parents=True)
    request = {
        "prefix": prefix,
        "systems": list(systems) if systems is not None else None,
        "logical_date": logical_date.isoformat() if logical_date else None,
        "retries": retries,
        "conf": conf,
        "result": str(run_dir / "result.json"),
        "progress": str(run_dir / "progress.jsonl"),
    }
    (run_dir / "request.json").write_text(json.dumps(request), encoding="utf-8")
    log_path = run_dir / "run.log"
    env = airflow_environment(home, metadata_db)
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as out:
        process = subprocess.Popen([sys.executable, "-m", __name__, str(run_dir / "request.json")], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
        events = _ProgressFile(Path(request["progress"]))
        try:
            while process.poll() is None:
                if timeout is not None and time.perf_counter() - started > timeout:
                    raise IngestRunError(f"{prefix}* DAGs did not finish within {timeout} s; see {log_path}",
                                         log_path=log_path)
                events.follow(on_progress)
                time.sleep(PROGRESS_POLL_SECONDS)
        finally:
            # A timeout or Ctrl-C here must not leave the Airflow run going on without us.
            if process.poll() is None:
                process.kill()
                process.wait()
        events.follow(on_progress)
    result_path = Path(request["result"])
    if process.returncode != 0 or not result_path.exists():
        raise IngestRunError(f"the Airflow run process failed (exit {process.returncode}):\n{_tail(log_path)}\n"
                             f"full log: {log_path}", log_path=log_path)
    runs = json.loads(result_path.read_text(encoding="utf-8"))["runs"]
    log.info("ran %d %s DAG(s) in %.1f s (log: %s)", len(runs), prefix.rstrip("_"), time.perf_counter() - started,
             log_path)
    failed = [f"{r['dag_id']}.{task_id}: {r['errors'].get(task_id, state)}" for r in runs
              for task_id, state in sorted(r["tasks"].items()) if state not in ("success", "skipped")]
    failed += [f"{r['dag_id']}: run {r['state']}" for r in runs if r["state"] != "success" and not r["tasks"]]
    if failed:
        stage = _STAGE_NAMES.get(prefix, prefix.rstrip("_"))
        raise IngestRunError(f"{stage} failed: " + "; ".join(failed) + f"\nfull log: {log_path}", runs, log_path)
    return [summary for r in runs for summary in r["summaries"]]


# What a failure message calls the DAGs of each prefix.
_STAGE_NAMES = {DAG_ID_PREFIX: "ingestion", PROMOTE_PREFIX: "promotion", BUILD_PREFIX: "build",
                "report_": "report", "maintain_": "lake upkeep"}


class _ProgressFile:
    """The child's progress events (JSON lines), read as they are appended."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def follow(self, on_progress: ProgressCallback | None) -> None:
        if on_progress is None or not self.path.exists():
            return
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line being written waits for the next look
        self.offset += len(complete)
        for line in complete.decode("utf-8").splitlines():
            on_progress(json.loads(line))


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


# -- the child process ------------------------------------------------------------------------------
# Everything below runs in the process started by run_ingest, whose environment configures Airflow.

def _migrate_metadata_db() -> None:
    """Bring the metadata DB to Airflow's head revision, unless it is there already.

    ``check_migrations`` compares the DB's revision with Airflow's head once (``timeout=0``) and
    raises ``TimeoutError`` when they differ; only then does the (seconds-long) migration run.
    """
    from airflow.utils import db

    try:
        db.check_migrations(timeout=0)
    except TimeoutError:
        started = time.perf_counter()
        db.initdb()
        log.info("migrated the Airflow metadata DB in %.1f s", time.perf_counter() - started)


def _load_dags(systems: list[str] | None, prefix: str = "ingest_") -> list[Any]:
    """The ``<prefix><system>`` DAGs as Airflow parses them from the configured DAGs folder."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=settings.DAGS_FOLDER)
    for path, error in bag.import_errors.items():
        # Another stage's broken DAG file does not stop ingestion; a broken ingest.py shows below.
        log.warning("DAG file %s failed to import: %s", path, error)
    available = {dag_id.removeprefix(prefix): dag for dag_id, dag in bag.dags.items()
                 if dag_id.startswith(prefix)}
    if not available:
        raise RuntimeError(f"no {prefix}* DAG loaded from {settings.DAGS_FOLDER}; import errors: {bag.import_errors}")
    wanted = sorted(available) if systems is None else systems
    missing = [s for s in wanted if s not in available]
    if missing:
        raise RuntimeError(f"no {prefix}* DAG for {missing}; DAGs found: {sorted(bag.dags)}; "
                           f"import errors: {bag.import_errors}")
    return [available[s] for s in wanted]


def _state(state: Any) -> str:
    """A task or run state as its plain name (the ORM hands back enum members or strings)."""
    return str(getattr(state, "value", state))


def _report(dag_run: Any) -> dict[str, Any]:
    """Task states, XCom return values and asset events of a finished DAG run."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        tasks = {ti.task_id: _state(ti.state) for ti in tis}
        xcoms = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id,
                                                   key="return_value")).all()
        # A mapped task's instances are summed up by a task downstream of them; lists (a mapped
        # task's input) are references, not summaries.
        values = {x.task_id: value for x in xcoms if x.map_index < 0
                  and isinstance(value := XComModel.deserialize_value(x), dict)}
        events = session.execute(
            select(AssetModel.name, AssetEvent.source_task_id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
            # A rerun of a run id keeps the earlier run's events: oldest first, so the newest wins below.
            .order_by(AssetEvent.id)
        ).all()
    extras = {task_id: {"asset": name, **(extra or {})} for name, task_id, extra in events}
    summaries = [{**values[task_id], "dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "task_id": task_id,
                  "asset_event": extras.get(task_id)}
                 for task_id in sorted(values) if tasks.get(task_id) == "success"]
    return {"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "state": _state(dag_run.state), "tasks": tasks,
            "summaries": summaries}


def _report_progress(dag: Any, path: Path) -> None:
    """Add callbacks to every task that append its start and end to the progress file."""
    def writer(state: str):
        def write(context: Any) -> None:
            _append_progress(path, {"event": "task", "dag_id": dag.dag_id, "task_id": context["ti"].task_id,
                                    "state": state, "at": time.time()})
        return write

    for task in dag.tasks:
        for attribute, state in (("on_execute_callback", "running"), ("on_success_callback", "success"),
                                 ("on_failure_callback", "failed")):
            existing = getattr(task, attribute)
            existing = [] if existing is None else list(existing) if isinstance(existing, list) else [existing]
            setattr(task, attribute, [*existing, writer(state)])


def _append_progress(path: Path, event: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, default=str, ensure_ascii=False) + "\n")


def task_rows(summary: dict[str, Any]) -> int | None:
    """The rows a task's summary says it handled: extracted, gated or read by a build."""
    if "rows_written" in summary:
        return summary["rows_written"]
    if "gated" in summary:
        return sum(g["rows_read"] for g in summary["gated"])
    return summary.get("records")


def _record_failures(dag: Any, errors: dict[str, str]) -> None:
    """Add a failure callback to every task that keeps the exception, for the caller's message.

    ``dag.test()`` runs the tasks in this process, so the callback can write into ``errors``.
    """
    def remember(context: Any) -> None:
        exc = context.get("exception")
        errors[context["ti"].task_id] = f"{type(exc).__name__}: {exc}" if exc is not None else "failed"

    for task in dag.tasks:
        existing = task.on_failure_callback
        existing = [] if existing is None else list(existing) if isinstance(existing, list) else [existing]
        task.on_failure_callback = [*existing, remember]


@contextmanager
def _one_run_per_home(airflow_home: Path) -> Iterator[None]:
    """Hold the home's run lock (module doc); the kernel releases it if the process dies."""
    path = airflow_home / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another Airflow run holds %s; waiting for it to finish", path)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _child_main(request_path: str) -> int:
    logging.basicConfig(level=logging.INFO)
    with _one_run_per_home(Path(os.environ["AIRFLOW_HOME"])):
        return _run_request(request_path)


def _run_request(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    _migrate_metadata_db()
    dags = _load_dags(request["systems"], request.get("prefix", DAG_ID_PREFIX))
    logical_date = datetime.fromisoformat(request["logical_date"]) if request["logical_date"] else None
    runs = []
    for dag in dags:
        if request["retries"] is not None:
            for task in dag.tasks:
                task.retries = request["retries"]
        errors: dict[str, str] = {}
        _record_failures(dag, errors)
        progress = request.get("progress")
        if progress:
            _report_progress(dag, Path(progress))
        started = time.perf_counter()
        # dag.test() names the run after run_after (manual__<run_after>): giving both the same
        # date makes the run id, and so the batch ids, repeat when the date repeats.
        dates = {"logical_date": logical_date, "run_after": logical_date} if logical_date else {}
        dag_run = dag.test(**dates, run_conf=request.get("conf"))
        report = _report(dag_run)
        report["errors"] = errors
        report["seconds"] = round(time.perf_counter() - started, 2)
        log.info("%s: run %s %s in %.1f s", dag.dag_id, report["run_id"], report["state"], report["seconds"])
        if progress:
            _append_progress(Path(progress), {
                "event": "dag", "dag_id": dag.dag_id, "run_id": report["run_id"], "state": report["state"],
                "seconds": report["seconds"], "at": time.time(),
                "rows": {x["task_id"]: task_rows(x) for x in report["summaries"]}})
        runs.append(report)
    Path(request["result"]).write_text(json.dumps({"runs": runs}, default=str, ensure_ascii=False),
                                       encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
