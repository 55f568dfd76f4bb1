"""The legal-entity library DAG (法人库): ``build_enterprise``, scheduled on the silver assets.

It runs when any enterprise-bearing silver table (every registry table that maps ``enterprise.*``
or ``party.*`` fields, citylake.jobs.enterprise.records) gets a promoted batch from its
``promote_<system>`` DAG, and when the population library is rebuilt (``gold.person``: the legal
representatives' persons). Task ``build`` builds gold.enterprise, its source links, conflicts and
profiles on Spark (``local[*]`` or ``$SPARK_MASTER``) from the current silver and quarantine tables,
and files the conflicts (多源校核) and the proposed USCC corrections as warnings for the
departments; its outlets are the gold assets. The build reads whole tables rather than the
triggering events, so a missed or coalesced event loses nothing and a rerun gives the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from citylake.orchestration.ingest_dags import serial_dag
from citylake.orchestration.person_dags import gold_asset
from citylake.orchestration.promote_dags import silver_asset
from citylake.sources.registry import SourceSystem, load_registry

DAG_ID = "build_enterprise"
GOLD_TABLES = ("gold.enterprise", "gold.enterprise_source_link", "gold.enterprise_conflict",
               "gold.enterprise_profile")
_ENTERPRISE_ENTITIES = ("enterprise.", "party.")


def enterprise_silver_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The silver tables that bear enterprises, from the registry mapping alone (no heavy imports)."""
    return sorted(t.silver_name(code) for code, s in registry.items() for t in s.tables
                  if any(standard.startswith(_ENTERPRISE_ENTITIES) for _, standard, _ in t.mapped_columns()))


@task(task_id="build", outlets=[gold_asset(t) for t in GOLD_TABLES],
      doc_md="Enterprise-bearing records → gold.enterprise, enterprise_source_link, enterprise_conflict, "
             "enterprise_profile on Spark; conflicts and USCC corrections to governance.quality_issue.")
def build() -> dict[str, Any]:
    from citylake.jobs.enterprise.build import build_enterprise
    from citylake.lake import get_spark, open_lake

    context = get_current_context()
    summary = build_enterprise(get_spark("citylake-build-enterprise"), open_lake(),
                               build_id=f"build_enterprise:{context['run_id']}")
    for table in GOLD_TABLES:
        context["outlet_events"][gold_asset(table)].extra = {"build_id": summary["build_id"],
                                                             "version": summary["versions"][table]}
    return summary


def build_enterprise_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    systems = load_registry() if registry is None else registry
    schedule = AssetAny(*[silver_asset(t) for t in enterprise_silver_tables(systems)], gold_asset("gold.person"))
    with serial_dag(DAG_ID, "法人库: silver enterprise records → gold.enterprise, links, conflicts, profiles",
                    __doc__, schedule,
                    ["gold", "enterprise", "法人库"]) as dag:
        build()
    return dag


def build_enterprise_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dag = build_enterprise_dag(registry)
    return {dag.dag_id: dag}
