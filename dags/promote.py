"""Airflow quality-gate DAGs (bronze -> silver), one per department system, scheduled by the bronze assets.

Thin on purpose: the factory reads only the YAML registry; the gate runs inside the tasks.
"""

from citylake.orchestration.promote_dags import build_promote_dags

globals().update(build_promote_dags())
