"""Airflow ingestion DAGs: ``ingest_<system>`` for every department system of the source registry.

The DAGs are built by :func:`citylake.orchestration.ingest_dags.build_ingest_dags`; onboarding a
system is a registry entry (``sources/systems/*.yaml`` or ``$CITYLAKE_SOURCES``), not a DAG file.
(Airflow's safe-mode discovery only parses files that mention both "airflow" and "dag": this
docstring does.)
"""

from citylake.orchestration.ingest_dags import build_ingest_dags

# Module-level names are how the DAG processor finds the DAGs of a file.
globals().update(build_ingest_dags())
