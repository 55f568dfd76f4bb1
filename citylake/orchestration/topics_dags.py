"""The topic libraries DAG (专题库): ``build_topics``, scheduled on the gold assets it reads.

It runs when the population library (gold.person, household_member, person_source_link), the
address library (gold.person_address, address_link) or the legal-entity library (gold.enterprise,
enterprise_source_link) is rebuilt. Task ``build`` builds the topic tables on Spark
(:func:`citylake.jobs.topics.build.build_topics`, rules in jobs/topics/rules.yaml) and files what
the models find wrong for the departments; its outlets are the topic tables. It reads whole tables,
so a missed or coalesced event loses nothing and a rerun gives the same tables.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, AssetAny, get_current_context, task

from citylake.orchestration.ingest_dags import serial_dag
from citylake.orchestration.person_dags import gold_asset

DAG_ID = "build_topics"
# The gold tables read (citylake.jobs.topics.build.INPUTS) and written (TOPIC_TABLES), named here
# so the DAG file imports neither Spark nor the job.
INPUT_TABLES = ("gold.person", "gold.household_member", "gold.person_source_link", "gold.person_address",
                "gold.address_link", "gold.enterprise", "gold.enterprise_source_link")
GOLD_TABLES = ("gold.topic_elderly", "gold.topic_elderly_living_alone", "gold.topic_children_in_difficulty",
               "gold.topic_shell_company", "gold.topic_dibao_review")


@task(task_id="build", outlets=[gold_asset(t) for t in GOLD_TABLES],
      doc_md="gold.person, person_address, enterprise … → the topic tables (老年人库, 独居老人, 困境儿童, "
             "空壳公司, 低保核查) on Spark; findings on departments' data to governance.quality_issue.")
def build() -> dict[str, Any]:
    from citylake.jobs.topics.build import build_topics
    from citylake.lake import get_spark, open_lake

    context = get_current_context()
    summary = build_topics(get_spark("citylake-build-topics"), open_lake(),
                           build_id=f"build_topics:{context['run_id']}")
    for table in GOLD_TABLES:
        context["outlet_events"][gold_asset(table)].extra = {"build_id": summary["build_id"],
                                                             "version": summary["versions"][table]}
    return summary


def build_topics_dag() -> DAG:
    # One run at a time: the one writer of the topic tables.
    with serial_dag(DAG_ID, "专题库: gold libraries → 老年人库, 独居老人, 困境儿童, 空壳公司, 低保核查", __doc__,
                    AssetAny(*[gold_asset(t) for t in INPUT_TABLES]), ["gold", "topics", "专题库"]) as dag:
        build()
    return dag


def build_topics_dags() -> dict[str, DAG]:
    dag = build_topics_dag()
    return {dag.dag_id: dag}
