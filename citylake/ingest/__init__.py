"""Ingestion: department source systems -> bronze Delta tables (部门数据汇聚), driven by the source
registry in ``sources/``."""
