"""Orchestration: the Airflow 3 DAGs that move data through the lake, and running them in-process.

- :mod:`citylake.orchestration.ingest_dags` builds one ingestion DAG per department system of the
  source registry (imported by the thin DAG file ``dags/ingest.py``);
- :mod:`citylake.orchestration.run` runs those DAGs once on the embedded default (``dag.test()``
  against a metadata DB under ``$CITYLAKE_HOME/airflow``), for ``citylake demo`` and the tests.

Nothing is imported here on purpose: importing :mod:`airflow` reads its configuration once per
process, so the caller decides which of the two modules (and so whether Airflow) gets imported.
"""
