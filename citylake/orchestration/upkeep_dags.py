"""The lake upkeep DAG (湖表维护): ``maintain_lake``, every night at 03:00 Beijing time.

One mapped task instance per lake table (:func:`citylake.lake.upkeep.maintain_table`: compact the
small files, vacuum past the retention, checkpoint and trim the log), by the policy in
``citylake/lake/upkeep.yaml``. The instances run one at a time: each holds its table's writer
lock while it works, so a round that starts meanwhile waits for one table at most, and the two
cores stay free for it. The table list is read in a task, not at parse time.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from citylake.orchestration.ingest_dags import serial_dag

DAG_ID = "maintain_lake"
SCHEDULE = "0 3 * * *"  # Beijing time (START_DATE's zone): between the nightly extraction rounds


@task(task_id="tables", doc_md="The lake's tables, each maintained by one `maintain` instance.")
def tables() -> list[str]:
    from citylake.lake import open_lake

    return open_lake().list_tables()


@task(task_id="maintain", max_active_tis_per_dag=1,
      doc_md="Compact, vacuum and trim the log of one table (citylake.lake.upkeep.maintain_table).")
def maintain(table: str) -> dict[str, Any]:
    from citylake.lake import open_lake
    from citylake.lake.upkeep import load_upkeep_settings, maintain_table

    return maintain_table(open_lake(), table, load_upkeep_settings().policy_for(table))


@task(task_id="summary", doc_md="What the night's upkeep did, table by table.")
def summary(results: Any) -> dict[str, Any]:
    tables = sorted((dict(r) for r in results), key=lambda r: r["table"])
    return {"tables": tables, "compacted": sum(r["compaction"] == "done" for r in tables),
            "vacuumed_files": sum(r["vacuumed_files"] for r in tables),
            "files_before": sum(r["files_before"] for r in tables),
            "files_after": sum(r["files_after"] for r in tables)}


def build_upkeep_dag() -> DAG:
    with serial_dag(DAG_ID, "湖表维护: compact small files, vacuum old versions and trim the log of every lake table",
                    __doc__, SCHEDULE,
                    ["lake", "upkeep", "湖表维护"]) as dag:
        summary(maintain.expand(table=tables()))
    return dag


def build_upkeep_dags() -> dict[str, DAG]:
    dag = build_upkeep_dag()
    return {dag.dag_id: dag}
