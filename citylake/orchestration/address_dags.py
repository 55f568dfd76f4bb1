"""The standard-address library DAG (地址库): ``build_address``, scheduled on the silver assets.

It runs when the authoritative list (公安 一标三实 标准地址) or any table with an address column of
jobs/address/matching.yaml gets a promoted batch, and when the population library is rebuilt
(``gold.person``: its persons get their standard addresses, gold.person_address). Task ``build``
builds gold.standard_address, gold.address_link and gold.person_address on Spark and files the
addresses matching no standard address as warnings for their departments. The factory reads the
registry only (no Spark, no pandas at DAG parse time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from citylake.orchestration.ingest_dags import serial_dag
from citylake.orchestration.person_dags import gold_asset
from citylake.orchestration.promote_dags import silver_asset
from citylake.sources.registry import SourceSystem, load_registry_report

DAG_ID = "build_address"
GOLD_TABLES = ("gold.standard_address", "gold.address_link", "gold.person_address")


def address_silver_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The silver tables the build reads: the authority's and those holding address texts."""
    return sorted(t.silver_name(code) for code, s in registry.items() for t in s.tables
                  if any(standard.startswith("address.") for _, standard, _ in t.mapped_columns()))


@task(task_id="build", outlets=[gold_asset(t) for t in GOLD_TABLES],
      doc_md="Standard-address list and every source address → gold.standard_address, address_link, "
             "person_address on Spark; unresolved addresses to governance.quality_issue.")
def build() -> dict[str, Any]:
    from citylake.jobs.address.build import build_address
    from citylake.lake import get_spark, open_lake

    context = get_current_context()
    summary = build_address(get_spark("citylake-build-address"), open_lake(),
                            build_id=f"build_address:{context['run_id']}")
    for table in GOLD_TABLES:
        if table in summary["versions"]:
            context["outlet_events"][gold_asset(table)].extra = {"build_id": summary["build_id"],
                                                                 "version": summary["versions"][table]}
    return summary


def build_address_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    # A broken registry file stops its own system only (its ingest DAG says why).
    systems = load_registry_report().systems if registry is None else registry
    schedule = AssetAny(*[silver_asset(t) for t in address_silver_tables(systems)], gold_asset("gold.person"))
    with serial_dag(DAG_ID, "地址库: standard-address list + source addresses → gold.standard_address, address_link",
                    __doc__, schedule,
                    ["gold", "address", "地址库"]) as dag:
        build()
    return dag


def build_address_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dag = build_address_dag(registry)
    return {dag.dag_id: dag}
