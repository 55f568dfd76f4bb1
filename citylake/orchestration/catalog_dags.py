"""The catalog DAG (数据资源目录): ``build_catalog``, scheduled on the silver and gold assets.

It runs after every round: when any silver table gets a promoted batch (``promote_<system>``) or a
theme library is rebuilt (``build_person``, ``build_address``, ``build_enterprise``), and rebuilds the whole catalog from
the lake's metadata (:func:`citylake.catalog.build.build_catalog`: the JSON under
``$CITYLAKE_HOME/catalog/``, ``governance.catalog`` and the static site). Rebuilding from the lake
rather than from the triggering events means a coalesced event loses nothing and a rerun gives the
same catalog. The factory reads the registry only (no lake, no pandas at DAG parse time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from citylake.orchestration import address_dags, enterprise_dags, person_dags
from citylake.orchestration.ingest_dags import bronze_asset, serial_dag
from citylake.orchestration.promote_dags import silver_asset
from citylake.sources.registry import SourceSystem, load_registry

DAG_ID = "build_catalog"
CATALOG_TABLE = "governance.catalog"


def trigger_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The tables whose updates rebuild the catalog: every silver table and every gold table."""
    silver = [t.silver_name(code) for code, s in registry.items() for t in s.tables]
    return sorted({*silver, *person_dags.GOLD_TABLES, *address_dags.GOLD_TABLES, *enterprise_dags.GOLD_TABLES})


@task(task_id="build", outlets=[bronze_asset(CATALOG_TABLE)],
      doc_md="Every registry and lake table → the catalog's JSON, `governance.catalog` and the static site.")
def build() -> dict[str, Any]:
    from citylake.catalog.build import build_catalog

    summary = build_catalog()
    return {k: summary[k] for k in ("entries", "source_tables", "lake_tables", "lineage_edges", "table_version",
                                    "index", "site", "seconds")}


def build_catalog_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    systems = load_registry() if registry is None else registry
    # One run at a time: the one writer of governance.catalog and the site.
    with serial_dag(DAG_ID, "数据资源目录: every registry and lake table → catalog JSON, governance.catalog, site",
                    __doc__, AssetAny(*[silver_asset(t) for t in trigger_tables(systems)]),
                    ["catalog", "数据资源目录"]) as dag:
        build()
    return dag


USAGE_DAG_ID = "report_usage"
USAGE_DAYS = 7


@task(task_id="usage_report",
      doc_md="The week's reads of every department's tables (governance.access_log) → governance.usage_report, "
             "可访问性 in governance.rule_result, and the 数据调用情况 section of every department report.")
def usage_report() -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from citylake.catalog.usage_report import build_usage_report
    from citylake.lake import open_lake
    from citylake.quality.report import render_all_reports
    from citylake.settings import Home

    context = get_current_context()
    # The run's interval end (the scheduled week); a manual run reports the week up to now.
    end = context.get("data_interval_end") or datetime.now(UTC)
    lake = open_lake()
    rows = build_usage_report(lake, end - timedelta(days=USAGE_DAYS), end)
    reports = render_all_reports(lake, Home.from_env().reports)
    return {"rows": len(rows), "reads": sum(r["reads"] for r in rows), "reports": len(reports) - 1,
            "period_end": end.isoformat()}


def build_usage_dag() -> DAG:
    """``report_usage``: 定时向数据提供方反馈数据调用情况, every Monday 06:00 (Beijing time)."""
    with serial_dag(USAGE_DAG_ID,
                    "数据调用情况: the week's reads per providing department → usage report, 可访问性, reports",
                    "Every Monday the past week's reads of each providing department's tables, as "
                    "governance.usage_report and the 数据调用情况 section of its quality report.",
                    "0 6 * * 1", ["catalog", "usage", "数据调用情况"]) as dag:
        usage_report()
    return dag


def build_catalog_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dags = [build_catalog_dag(registry), build_usage_dag()]
    return {dag.dag_id: dag for dag in dags}
