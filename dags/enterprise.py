"""Airflow DAG of the legal-entity library (法人库): ``build_enterprise``, scheduled by the silver assets.

Thin on purpose: the factory reads only the YAML registry; Spark runs inside the task.
"""

from citylake.orchestration.enterprise_dags import build_enterprise_dags

globals().update(build_enterprise_dags())
