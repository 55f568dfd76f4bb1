"""Airflow DAG of the data resource catalog (数据资源目录): ``build_catalog``, scheduled by the silver and
gold assets.

Thin on purpose: the factory reads only the YAML registry; the lake is read inside the task.
"""

from citylake.orchestration.catalog_dags import build_catalog_dags

globals().update(build_catalog_dags())
