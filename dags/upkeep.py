"""Airflow DAG of the lake upkeep (湖表维护): ``maintain_lake``, every night.

Thin on purpose: the lake is listed and maintained inside the tasks.
"""

from citylake.orchestration.upkeep_dags import build_upkeep_dags

globals().update(build_upkeep_dags())
