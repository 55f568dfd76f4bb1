"""Lineage (全流程追溯): OpenLineage events of every DAG and task run, with what each actually read
and wrote and the column lineage of its outputs.

:mod:`citylake.lineage.collector` collects a job's I/O where it happens (citylake.lake,
citylake.ingest.extract); :mod:`citylake.lineage.listener` (an Airflow listener plugin) starts and
ends the collector around each task and emits the events (:mod:`citylake.lineage.events`) with
names of :mod:`citylake.lineage.naming` and column lineage of :mod:`citylake.lineage.columns`.
Reading them back: :mod:`citylake.catalog.lineage`; per-record provenance: :mod:`citylake.catalog.trace`.
"""
