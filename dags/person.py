"""Airflow DAG of the population library (人口库): ``build_person``, scheduled by the silver assets.

Thin on purpose: the factory reads only the YAML registry; Spark runs inside the task.
"""

from citylake.orchestration.person_dags import build_person_dags

globals().update(build_person_dags())
