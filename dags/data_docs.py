"""Airflow DAG of the GX Data Docs: ``build_data_docs``, once per round, on the validations' ``gx.*`` assets.

Thin on purpose: the factory reads only the YAML registry; the site is rendered inside the task.
"""

from citylake.orchestration.docs_dags import build_data_docs_dags

globals().update(build_data_docs_dags())
