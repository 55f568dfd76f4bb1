"""The Airflow listener that emits citylake's OpenLineage events (registered as the ``citylake``
plugin through the ``airflow.plugins`` entry point, so every scheduler, worker and ``dag.test()``
run loads it).

* task running: a fresh collector (:mod:`citylake.lineage.collector`) and the task's START;
* task success (or skipped while running) / failure: COMPLETE / FAIL with the datasets the task
  read and wrote;
* DAG run running / success / failure: the DAG run's START / COMPLETE / FAIL. ``dag.test()``
  creates its run already running, without telling listeners, so there the first task of the run
  in this process emits the DAG run's START.

A listener must never fail a task: an error while emitting is logged, and the task goes on.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from citylake.lineage import collector

log = logging.getLogger(__name__)

# dag.test() marks its runs with this triggering user (airflow.sdk.definitions.dag.DAG.test).
_DAG_TEST_USER = "dag_test"
_started_dag_runs: set[str] = set()


def _dag_run_job(dag_run: Any):
    from citylake.lineage.events import JobRun, run_uuid

    instant = dag_run.logical_date or dag_run.run_after
    return JobRun(dag_run.dag_id, run_uuid(instant, dag_run.dag_id, dag_run.run_id, dag_run.clear_number or 0),
                  nominal_time=instant, kind="DAG")


def _task_job(task_instance: Any):
    from citylake.lineage.events import JobRun, run_uuid
    from citylake.lineage.naming import task_job

    dag_run = task_instance.get_template_context()["dag_run"]
    parent = _dag_run_job(dag_run)
    run_id = run_uuid(parent.nominal_time, task_instance.dag_id, task_instance.task_id, dag_run.run_id,
                      task_instance.try_number, task_instance.map_index)
    return JobRun(task_job(task_instance.dag_id, task_instance.task_id), run_id, parent.nominal_time, parent), dag_run


def _safely(what: str, action) -> None:
    try:
        action()
    except Exception:
        log.exception("citylake lineage: could not emit the %s event", what)


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    collector.start()

    def emit() -> None:
        from openlineage.client.event_v2 import RunState

        from citylake.lineage.events import emit, enabled, event

        if not enabled():
            return
        run, dag_run = _task_job(task_instance)
        events = []
        if getattr(dag_run, "triggering_user_name", None) == _DAG_TEST_USER and run.parent.run_id not in _started_dag_runs:
            _started_dag_runs.add(run.parent.run_id)
            events.append(event(RunState.START, run.parent, at=dag_run.start_date))
        events.append(event(RunState.START, run, at=task_instance.start_date))
        emit(events)

    _safely("task START", emit)


def _finished(task_instance: Any, state: str, error: Any = None) -> None:
    collected = collector.stop()

    def emit() -> None:
        from openlineage.client.event_v2 import RunState

        from citylake.ingest.redact import scrub
        from citylake.lineage.events import datasets, emit, enabled, event
        from citylake.sources.registry import load_registry

        if not enabled():
            return
        run, _ = _task_job(task_instance)
        inputs, outputs = datasets(collected, load_registry()) if collected else ([], [])
        message = scrub(f"{type(error).__name__}: {error}") if isinstance(error, BaseException) else (
            scrub(str(error)) if error else None)
        emit([event(getattr(RunState, state), run, inputs=inputs, outputs=outputs, error=message)])

    _safely(f"task {state}", emit)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _finished(task_instance, "COMPLETE")


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    # A task that skips itself while running ends its run like a success (what it did is reported).
    _finished(task_instance, "COMPLETE")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    _finished(task_instance, "FAIL", error or "failed")


def _dag_run_event(dag_run: Any, state: str, msg: str | None = None) -> None:
    def emit() -> None:
        from openlineage.client.event_v2 import RunState

        from citylake.ingest.redact import scrub
        from citylake.lineage.events import emit, enabled, event

        if not enabled():
            return
        run = _dag_run_job(dag_run)
        at = dag_run.start_date if state == "START" else dag_run.end_date
        emit([event(getattr(RunState, state), run, at=at, error=scrub(msg) if state == "FAIL" and msg else None)])

    _safely(f"DAG run {state}", emit)


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "START")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "COMPLETE")


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _dag_run_event(dag_run, "FAIL", msg)


class CitylakeLineagePlugin(AirflowPlugin):
    """citylake's OpenLineage listener (this module)."""

    name = "citylake_lineage"
    listeners = [sys.modules[__name__]]
