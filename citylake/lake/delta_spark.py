"""The delta-spark lake backend, for deployments whose Spark has the Delta Lake jars.

Spark methods use ``format("delta")`` and delta-spark's ``DeltaTable.merge``; everything else
(Arrow reads and writes, inspection, vacuum) is inherited from the delta-rs backend, which reads
and writes the same tables. This backend cannot run on the embedded default (no Maven access for
the jars), so it is kept small and is only tested for its refusal to start there.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema

from citylake.lake.delta_rs import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    DeltaRsLake,
    TableRef,
)
from citylake.lake.errors import BackendUnavailableError
from citylake.lake.merge_keys import check_spark_merge_keys
from citylake.lake.names import TableName
from citylake.lake.partitions import PartitionSpec, sql_literal
from citylake.lake.stats import StatsPolicy
from citylake.lake.table_schema import spark_to_arrow_schema
from citylake.lineage import collector as lineage

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_JAR_HINT = (
    "the delta-spark backend needs the 'delta-spark' Python package and the Delta Lake jars on "
    "Spark's classpath (spark.jars / spark.jars.packages, plus spark.sql.extensions="
    "io.delta.sql.DeltaSparkSessionExtension); use CITYLAKE_LAKE_BACKEND=delta-rs where they "
    "are unavailable"
)


def _check_delta_spark(spark: SparkSession | None) -> None:
    if importlib.util.find_spec("delta") is None:
        raise BackendUnavailableError(f"Python package 'delta' not found: {_JAR_HINT}")
    if spark is None:
        return
    from py4j.java_gateway import JavaClass

    # py4j resolves a missing class to a JavaPackage placeholder instead of raising.
    delta_table_class = spark.sparkContext._jvm.io.delta.tables.DeltaTable  # type: ignore[union-attr]
    if not isinstance(delta_table_class, JavaClass):
        raise BackendUnavailableError(f"Delta Lake jars not on Spark's classpath: {_JAR_HINT}")


class DeltaSparkLake(DeltaRsLake):
    """Same lake, same names; Spark reads, writes and merges through delta-spark.

    Raises :class:`BackendUnavailableError` at construction when delta-spark is not installed,
    or when ``spark`` is given and lacks the Delta jars.
    """

    backend = "delta-spark"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT_SECONDS,
        spark: SparkSession | None = None,
        stats_policy: StatsPolicy | None = None,
    ) -> None:
        _check_delta_spark(spark)
        super().__init__(root, storage_options, lock_timeout, stats_policy)

    def read_spark(self, spark: SparkSession, table: TableRef, version: int | None = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        lineage.read_table(self, table, version)
        return reader.load(self.table_uri(table))

    def write_spark(
        self,
        df: DataFrame,
        table: TableRef,
        mode: Literal["append", "overwrite"] = "append",
        partition_by: Sequence[str] | None = None,
        partitions: PartitionSpec | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        name = TableName.parse(table)
        writer = df.write.format("delta").mode(mode)
        if partition_by and not self.exists(name):
            writer = writer.partitionBy(*partition_by)
        if partitions:
            writer = writer.option("replaceWhere", _replace_where(partitions))
        if metadata:
            writer = writer.option("userMetadata", json.dumps(dict(metadata), ensure_ascii=False, default=str))
        with self.lock(name):
            self._prepare_stats_policy(name, df, partition_by)
            writer.save(self.table_uri(name))
            version = self.version(name)
        lineage.wrote_table(self, name, version)
        return version

    def merge_spark(
        self,
        df: DataFrame,
        table: TableRef,
        keys: Sequence[str],
        partition_by: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        from delta.tables import DeltaTable as SparkDeltaTable

        name = TableName.parse(table)
        check_spark_merge_keys(name, df, keys)
        if not self.exists(name):
            return self.write_spark(df, name, partition_by=partition_by, metadata=metadata)
        spark = df.sparkSession
        condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        with self.lock(name):
            self._prepare_stats_policy(name, df, None)
            if metadata:
                spark.conf.set(
                    "spark.databricks.delta.commitInfo.userMetadata",
                    json.dumps(dict(metadata), ensure_ascii=False, default=str),
                )
            try:
                (
                    SparkDeltaTable.forPath(spark, self.table_uri(name))
                    .alias("t")
                    .merge(df.alias("s"), condition)
                    .whenMatchedUpdateAll()
                    .whenNotMatchedInsertAll()
                    .execute()
                )
            finally:
                spark.conf.unset("spark.databricks.delta.commitInfo.userMetadata")
            version = self.version(name)
        lineage.wrote_table(self, name, version)
        return version


    def _prepare_stats_policy(self, name: TableName, df: DataFrame, partition_by: Sequence[str] | None) -> None:
        """Give the table the stats policy's properties before Spark writes, which delta-spark honours;
        a new table is created empty by delta-rs with them, so its first files follow them too."""
        arrow_schema = spark_to_arrow_schema(df.schema)
        existing = self._delta_table_or_none(name)
        properties = self._stats_properties(name, arrow_schema, existing)
        if properties is None:
            return
        if existing is None:
            DeltaTable.create(self.table_uri(name), DeltaSchema.from_arrow(arrow_schema),
                              partition_by=list(partition_by) if partition_by else None,
                              configuration=properties, storage_options=self.storage_options)
        else:
            self._apply_properties(existing, properties)


def _replace_where(partitions: PartitionSpec) -> str:
    clauses = []
    for column, wanted in partitions.items():
        values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        clauses.append(f"`{column}` IN ({', '.join(sql_literal(v) for v in values)})")
    return " AND ".join(clauses)
