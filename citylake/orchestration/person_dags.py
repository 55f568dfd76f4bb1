"""The population library DAG (人口库): ``build_person``, scheduled on the silver assets.

It runs when any person-bearing silver table (every registry table that maps ``person.*`` or
``party.*`` fields, citylake.jobs.person.records) gets a promoted batch from its ``promote_<system>``
DAG. Task ``build`` builds the gold tables on Spark (``local[*]`` or ``$SPARK_MASTER``) from the
current silver and quarantine tables and files the conflicts (多源校核) as warnings for the
departments; its outlets are the gold assets. The build reads the tables' changes since the last
complete build (incremental, citylake.jobs.person.incremental), or whole tables on the first run or
with the run conf ``{"full": true}``, rather than the triggering events, so a missed or coalesced
event loses nothing and a rerun gives the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from citylake.orchestration.ingest_dags import bronze_asset, serial_dag
from citylake.orchestration.promote_dags import silver_asset
from citylake.sources.registry import SourceSystem, load_registry_report

DAG_ID = "build_person"
GOLD_TABLES = ("gold.person", "gold.person_source_link", "gold.person_conflict", "gold.person_profile",
               "gold.household_member")
_PERSON_ENTITIES = ("person.", "party.")


def person_silver_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The silver tables that bear persons, from the registry mapping alone (no heavy imports)."""
    return sorted(t.silver_name(code) for code, s in registry.items() for t in s.tables
                  if any(standard.startswith(_PERSON_ENTITIES) for _, standard, _ in t.mapped_columns()))


def gold_asset(table: str):
    return bronze_asset(table)


@task(task_id="build", outlets=[gold_asset(t) for t in GOLD_TABLES],
      doc_md="Person-bearing records → gold.person, person_source_link, person_conflict, person_profile, "
             "household_member on Spark; conflicts to governance.quality_issue.")
def build() -> dict[str, Any]:
    from citylake.jobs.person.build import build_person
    from citylake.lake import get_spark, open_lake

    context = get_current_context()
    conf = context["dag_run"].conf or {}
    summary = build_person(get_spark("citylake-build-person"), open_lake(),
                           build_id=f"build_person:{context['run_id']}", full=bool(conf.get("full", False)))
    for table in GOLD_TABLES:
        context["outlet_events"][gold_asset(table)].extra = {"build_id": summary["build_id"],
                                                             "version": summary["versions"][table]}
    return summary


def build_person_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    # A broken registry file stops its own system only (its ingest DAG says why).
    systems = load_registry_report().systems if registry is None else registry
    with serial_dag(DAG_ID, "人口库: silver person records → gold.person, links, conflicts, profiles",
                    __doc__, AssetAny(*[silver_asset(t) for t in person_silver_tables(systems)]),
                    ["gold", "person", "人口库"]) as dag:
        build()
    return dag


def build_person_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dag = build_person_dag(registry)
    return {dag.dag_id: dag}
