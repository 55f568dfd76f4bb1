"""Airflow DAG of the standard-address library (地址库): ``build_address``, scheduled by the silver assets
and gold.person.

Thin on purpose: the factory reads only the YAML registry; Spark runs inside the task.
"""

from citylake.orchestration.address_dags import build_address_dags

globals().update(build_address_dags())
