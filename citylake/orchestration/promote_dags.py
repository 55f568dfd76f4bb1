"""One promotion DAG per department system: the quality gate from bronze to silver, scheduled by data.

``promote_<system>`` runs when any of the system's bronze tables gets a new batch (an asset event
from ``ingest_<system>``) and gates, table by table, every extracted batch that has not passed the
gate yet, oldest first (:func:`citylake.quality.gate.gate_pending`); then validates the same batches
with the table's Great Expectations suite (``validate_<table>``), checks the cross-source rules whose
subject is one of its tables (``check_<rule>``, quality/cross_source.yaml; a change to a table that
can contradict them also schedules the DAG), and renders the department's quality report
(``department_report``). Each ``validate_<table>`` emits the table's ``gx.<system>_<table>`` asset, on
which ``build_data_docs`` (:mod:`citylake.orchestration.docs_dags`) renders the GX Data Docs once per
round rather than once per department. Working from the batch audit
rather than from the triggering events alone means a missed or coalesced event loses nothing,
and a rerun does nothing twice. A batch over its table's ``error_threshold`` fails its task with the
gate's message and is not promoted; the department still gets its issues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, Asset, AssetAny, get_current_context, task

from citylake.orchestration.ingest_dags import DEFAULT_ARGS, START_DATE, bronze_asset
from citylake.sources.registry import SourceSystem, SourceTable, load_registry_report


def silver_asset(silver_table: str) -> Asset:
    """The Airflow asset of a silver table, named like the bronze ones (``silver.gongan_czrk``)."""
    return bronze_asset(silver_table)


def gx_name(system: SourceSystem, table: SourceTable) -> str:
    """The asset name of a table's kept GX validation results (``gx.gongan_czrk``)."""
    return f"gx.{table.lake_id(system.code)}"


def gx_asset(name: str) -> Asset:
    """The Airflow asset of a table's kept GX validation results, emitted by its ``validate_<table>`` task."""
    return bronze_asset(name)


def promote_table(system: SourceSystem, table: SourceTable) -> dict[str, Any]:
    """The body of a ``gate_<table>`` task: gate the table's pending batches; a small summary."""
    from airflow.sdk.exceptions import AirflowFailException

    from citylake.lake import open_lake
    from citylake.quality.gate import GateThresholdError, gate_pending, table_names

    try:
        results = gate_pending(open_lake(), system, table, table.error_threshold)
    except GateThresholdError as exc:
        # Retrying cannot make the data better: the department has to fix it (its issues are recorded).
        raise AirflowFailException(str(exc)) from exc
    _, silver, _ = table_names(system, table)
    get_current_context()["outlet_events"][silver_asset(silver)].extra = {
        "gated_batches": [r.batch_id for r in results], "promoted": sum(r.promoted for r in results),
        "quarantined": sum(r.quarantined for r in results)}
    return {"silver_table": silver, "gated": [r.summary() for r in results]}


def _gate_task(system: SourceSystem, table: SourceTable):
    silver = table.silver_name(system.code)

    @task(task_id=f"gate_{table.lake_name}", outlets=[silver_asset(silver)],
          doc_md=f"**{table.name}** {table.description}: `{table.bronze_name(system.code)}` → `{silver}` "
                 f"(error threshold {table.error_threshold:.0%})")
    def gate() -> dict[str, Any]:
        return promote_table(system, table)

    return gate


def _validate_task(system: SourceSystem, table: SourceTable):
    @task(task_id=f"validate_{table.lake_name}", trigger_rule="all_done", outlets=[gx_asset(gx_name(system, table))],
          doc_md=f"Great Expectations suite `{system.code}.{table.name}` on every batch the gate evaluated "
                 "(promoted or refused); results kept for the Data Docs (`build_data_docs`).")
    def validate() -> dict[str, Any]:
        from citylake.lake import open_lake
        from citylake.quality.expectations.validate import validate_gated
        from citylake.settings import Home

        kept = validate_gated(Home.from_env(), open_lake(), system, table)
        get_current_context()["outlet_events"][gx_asset(gx_name(system, table))].extra = {
            "validated": [k.gate_batch_id for k in kept]}
        return {"validated": [k.gate_batch_id for k in kept],
                "failed_expectations": sum(k.failed_expectations for k in kept)}

    return validate


def _cross_source_task(rule):
    @task(task_id=f"check_{rule.rule.removeprefix('cross.')}", trigger_rule="all_done",
          doc_md=f"Cross-source rule `{rule.rule}`: {rule.description}")
    def check() -> dict[str, Any]:
        from citylake.lake import open_lake
        from citylake.quality.cross_source import check_rule

        return check_rule(open_lake(), rule)

    return check


def _report_task(system: SourceSystem):
    @task(task_id="department_report", trigger_rule="all_done",
          doc_md=f"The quality report of **{system.owner}** (Chinese HTML, scores on the GB/T 36344 indicators, "
                 "top failing rules, masked records to fix) and the reports index.")
    def department_report() -> dict[str, str]:
        from citylake.lake import open_lake
        from citylake.quality.assessment import departments
        from citylake.quality.report.render import render_department_report, render_index
        from citylake.settings import Home

        lake, out = open_lake(), Home.from_env().reports
        if system.owner not in departments(lake):
            return {"report": ""}
        report = render_department_report(lake, system.owner, out)
        render_index(lake, departments(lake), out)
        return {"report": str(report)}

    return department_report


@task(trigger_rule="one_failed")
def fail_if_any_failed() -> None:
    """Runs only when a task failed: the later all-done steps must not turn a refused batch's run green."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("a task of this run failed (see the gate_* tasks): a batch was not promoted")


def build_promote_dag(system: SourceSystem) -> DAG:
    from citylake.quality.cross_source import rules_for

    rules = rules_for(system.code)
    # A cross-source rule is checked again when a table that can contradict its subject changes.
    # (Not the system's own tables: their events come from this DAG, which would trigger itself.)
    references = sorted({ref.silver for rule in rules for ref in rule.contradicted_by
                         if ref.system.code != system.code})
    with DAG(
        dag_id=f"promote_{system.code}",
        description=f"{system.name_zh}: bronze → quality gate → silver",
        doc_md=f"Quality gate of **{system.name_zh}** ({system.owner}): every extracted batch to silver or "
               "quarantine, problem records fed back in `governance.quality_issue`.",
        schedule=AssetAny(*[bronze_asset(t.bronze_name(system.code)) for t in system.tables],
                          *[silver_asset(name) for name in references]),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, "retries": 1},
        tags=["citylake", "quality", system.code, system.owner],
    ) as dag:
        validated, gates = [], {}
        for table in system.tables:
            gate = _gate_task(system, table)()
            validate = _validate_task(system, table)()
            gate >> validate
            validated.append(validate)
            gates[table.name] = gate
        cross = []
        for rule in rules:
            check = _cross_source_task(rule)()
            gates[rule.subject.table.name] >> check
            cross.append(check)
        report = _report_task(system)()
        [*validated, *cross] >> report
        # The watcher must see the gates themselves: the all-done steps after a refused batch succeed.
        [*gates.values(), *validated, *cross, report] >> fail_if_any_failed()
    return dag


def build_promote_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    # A broken registry file stops its own system only (its ingest DAG says why).
    systems = load_registry_report().systems if registry is None else registry
    dags = [build_promote_dag(system) for system in systems.values()]
    return {dag.dag_id: dag for dag in dags}
