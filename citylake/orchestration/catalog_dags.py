"""The catalog DAG (数据资源目录): ``build_catalog``, scheduled on the silver and gold assets.

It runs after every round: when any silver table gets a promoted batch (``promote_<system>``) or a
theme library is rebuilt (``build_person``, ``build_address``), and rebuilds the whole catalog from
the lake's metadata (:func:`citylake.catalog.build.build_catalog`: the JSON under
``$CITYLAKE_HOME/catalog/``, ``governance.catalog`` and the static site). Rebuilding from the lake
rather than from the triggering events means a coalesced event loses nothing and a rerun gives the
same catalog. The factory reads the registry only (no lake, no pandas at DAG parse time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, task

from citylake.orchestration import address_dags, person_dags
from citylake.orchestration.ingest_dags import DEFAULT_ARGS, START_DATE, bronze_asset
from citylake.orchestration.promote_dags import silver_asset
from citylake.sources.registry import SourceSystem, load_registry

DAG_ID = "build_catalog"
CATALOG_TABLE = "governance.catalog"


def trigger_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The tables whose updates rebuild the catalog: every silver table and every gold table."""
    silver = [f"silver.{code}_{t.name.lower()}" for code, s in registry.items() for t in s.tables]
    return sorted({*silver, *person_dags.GOLD_TABLES, *address_dags.GOLD_TABLES})


@task(task_id="build", outlets=[bronze_asset(CATALOG_TABLE)],
      doc_md="Every registry and lake table → the catalog's JSON, `governance.catalog` and the static site.")
def build() -> dict[str, Any]:
    from citylake.catalog.build import build_catalog

    summary = build_catalog()
    return {k: summary[k] for k in ("entries", "source_tables", "lake_tables", "lineage_edges", "table_version",
                                    "index", "site", "seconds")}


def build_catalog_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    systems = load_registry() if registry is None else registry
    with DAG(
        dag_id=DAG_ID,
        description="数据资源目录: every registry and lake table → catalog JSON, governance.catalog, site",
        doc_md=__doc__,
        schedule=AssetAny(*[silver_asset(t) for t in trigger_tables(systems)]),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,  # one writer of governance.catalog and the site at a time
        default_args={**DEFAULT_ARGS, "retries": 1},
        tags=["citylake", "catalog", "数据资源目录"],
    ) as dag:
        build()
    return dag


def build_catalog_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dag = build_catalog_dag(registry)
    return {dag.dag_id: dag}
