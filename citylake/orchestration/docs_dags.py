"""The GX Data Docs DAG: ``build_data_docs``, once per round, scheduled on the ``gx.*`` assets.

Every ``validate_<table>`` task of a promotion DAG (:mod:`citylake.orchestration.promote_dags`)
emits its table's ``gx.<system>_<table>`` asset (the batch ids it kept in the event's extra); the site is
then rendered once from all of them (:func:`citylake.quality.expectations.docs.build_data_docs`,
made to work offline) rather than once per department DAG. Rendering from the kept results rather
than from the triggering events means coalesced events lose nothing and a rerun gives the same site.
``citylake run`` runs it once at the end of the gate stage (:func:`citylake.orchestration.run.run_promote`).
The factory reads the registry only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, AssetAny, task

from citylake.orchestration.ingest_dags import serial_dag
from citylake.orchestration.promote_dags import gx_asset, gx_name
from citylake.sources.registry import SourceSystem, load_registry

DAG_ID = "build_data_docs"


def gx_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The ``gx.*`` asset names of every registry table: the DAG's schedule."""
    return sorted(gx_name(system, table) for system in registry.values() for table in system.tables)


@task(task_id="build", doc_md="Every kept GX validation result and every table's suite → the Data Docs site "
                              "($CITYLAKE_HOME/gx), with its libraries vendored so it opens offline.")
def build() -> dict[str, Any]:
    from citylake.quality.expectations.docs import build_data_docs
    from citylake.settings import Home

    home = Home.from_env()
    index = build_data_docs(home)
    return {"data_docs": str(index), "validations": len(list((index.parent / "validations").rglob("*.html")))}


def build_data_docs_dag(registry: Mapping[str, SourceSystem] | None = None) -> DAG:
    systems = load_registry() if registry is None else registry
    # One run at a time: the one writer of the site.
    with serial_dag(DAG_ID, "GX Data Docs: the kept validation results of every table → one offline static site",
                    __doc__, AssetAny(*[gx_asset(name) for name in gx_tables(systems)]),
                    ["quality", "great_expectations"]) as dag:
        build()
    return dag


def build_data_docs_dags(registry: Mapping[str, SourceSystem] | None = None) -> dict[str, DAG]:
    dag = build_data_docs_dag(registry)
    return {dag.dag_id: dag}
