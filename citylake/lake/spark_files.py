"""Spark ↔ Delta file plumbing for the delta-rs backend (no delta-spark jars needed).

Reading: Spark reads the Parquet files of one table version. Delta keeps partition values in the
log, not in the files, so files are read per partition and the values are added back as literal
columns (correct whatever the folder layout, which Delta does not prescribe).

Writing: Spark writes Parquet into a fresh folder ``<table>/spark-<uuid>/`` (partitioned with
Spark's usual ``col=value`` folders). The folder name does not start with ``_`` on purpose: Delta
vacuum treats ``_``-prefixed folders as hidden and would never clean orphans left by a failed
write. Nothing in that folder is visible until delta-rs commits ``add`` actions for its files;
the caller does that (see :mod:`citylake.lake.delta_rs`).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from citylake.lake.errors import PartitionMismatchError
from citylake.lake.parquet_stats import stats_json
from citylake.lake.partitions import PartitionFilters, matches_filters
from citylake.lake.storage import is_local_uri
from citylake.lake.table_schema import arrow_schema_of, arrow_to_spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STAGING_PREFIX = "spark-"
# Spark's name for a null partition value in a folder name.
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
# Characters Hadoop treats as glob syntax in a path given to spark.read.
_GLOB_CHARS = set("{}[]*?\\")
# Partition column types whose Spark folder-name form is also Delta's partition value form.
_PARTITION_TYPES = (pa.types.is_string, pa.types.is_integer, pa.types.is_date32, pa.types.is_boolean)


def spark_path(uri: str) -> str:
    """A table or file URI as Spark (Hadoop) should write it.

    Local paths get an explicit ``file:`` scheme so a cluster whose default file system is HDFS
    still uses the local lake.
    """
    if "://" not in uri and not uri.startswith("file:"):
        return "file://" + uri
    return uri


def hadoop_reachable(uri: str) -> bool:
    """Whether Spark's own (Hadoop) file systems reach ``uri``: local paths and ``hdfs://``. Object
    stores (``s3://``, ``gs://``, ``az://`` …) need jars the pyspark install lacks, so their files go
    through :mod:`citylake.lake.spark_object_store`."""
    return is_local_uri(uri) or uri.startswith(("hdfs://", "viewfs://"))


def spark_read_path(uri: str) -> str:
    """:func:`spark_path` for ``spark.read``, which expands globs: glob characters are escaped."""
    uri = spark_path(uri)
    return "".join("\\" + char if char in _GLOB_CHARS else char for char in uri)


def check_partition_types(table: str, schema: pa.Schema, partition_by: Sequence[str]) -> None:
    """Only partition by columns whose folder names Spark and Delta spell the same way."""
    for column in partition_by:
        if column not in schema.names:
            raise PartitionMismatchError(f"partition column {column!r} is not a column of {table}")
        arrow_type = schema.field(column).type
        if not any(check(arrow_type) for check in _PARTITION_TYPES):
            raise PartitionMismatchError(
                f"{table} cannot be partitioned by {column!r} of type {arrow_type} from Spark: use a "
                "string, integer, date or boolean column"
            )


# --------------------------------------------------------------------------------------- reading


def read_table_files(
    spark: SparkSession,
    table: DeltaTable,
    table_uri: str,
    partition_filters: PartitionFilters | None = None,
    paths: Collection[str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> DataFrame:
    """The rows of ``table``'s loaded version, stored at ``table_uri``.

    ``partition_filters`` (delta-rs style, a conjunction of ``(column, "=" | "in", strings)``)
    restrict the read to some partitions; ``paths`` (see :func:`files_by_partition`) to some files.
    On an object store (:func:`hadoop_reachable` false) the files are read through
    :mod:`citylake.lake.spark_object_store` with ``storage_options``.
    """
    from pyspark.sql import functions as F

    arrow_schema = arrow_schema_of(table)
    spark_schema = arrow_to_spark_schema(arrow_schema)
    partition_columns = table.metadata().partition_columns
    data_schema = type(spark_schema)([f for f in spark_schema.fields if f.name not in partition_columns])

    files = files_by_partition(table, partition_filters, paths)
    if not files:
        return spark.createDataFrame([], spark_schema)

    frames = []
    root = table_uri.rstrip("/")
    for values, paths in files.items():
        if hadoop_reachable(table_uri):
            uris = [path if "://" in path else f"{root}/{path}" for path in paths]
            frame = spark.read.schema(data_schema).parquet(*[spark_read_path(uri) for uri in uris])
        else:
            from citylake.lake import spark_object_store

            relative = [path.removeprefix(f"{root}/") for path in paths]
            frame = spark_object_store.read_files(spark, table_uri, relative, data_schema, storage_options)
        for column, value in zip(partition_columns, values, strict=True):
            frame = frame.withColumn(column, F.lit(value).cast(spark_schema[column].dataType))
        frames.append(frame.select(*spark_schema.names))
    return functools.reduce(lambda left, right: left.unionAll(right), frames)


def files_by_partition(
    table: DeltaTable, partition_filters: PartitionFilters | None = None, paths: Collection[str] | None = None
) -> dict[tuple[Any, ...], list[str]]:
    """Data file paths (relative to the table, decoded) grouped by typed partition values; only
    those in ``paths`` (decoded, as :func:`data_files` gives them) when given.

    Built from the add actions rather than ``file_uris()``: delta-rs 1.5.0 percent-encodes the
    table's own folder in those URIs (a lake under "城市 湖" gives a path that does not exist).
    """
    partition_columns = table.metadata().partition_columns
    actions = pa.table(table.get_add_actions(flatten=True))
    columns = [actions.column(f"partition.{c}").to_pylist() for c in partition_columns]
    grouped: dict[tuple[Any, ...], list[str]] = {}
    for row, log_path in enumerate(actions.column("path").to_pylist()):
        values = tuple(column[row] for column in columns)
        named = dict(zip(partition_columns, values, strict=True))
        if partition_filters and not matches_filters(named, partition_filters):
            continue
        # The log stores paths URI-encoded; storage wants them decoded.
        path = unquote(log_path)
        if paths is None or path in paths:
            grouped.setdefault(values, []).append(path)
    return grouped


def data_files(table: DeltaTable) -> set[str]:
    """The data file paths (relative to the table, decoded) of ``table``'s loaded version."""
    return {unquote(p) for p in pa.table(table.get_add_actions(flatten=True)).column("path").to_pylist()}


# --------------------------------------------------------------------------------------- writing


def new_staging_folder() -> str:
    """A folder name, relative to the table root, that no other write uses."""
    return f"{STAGING_PREFIX}{uuid.uuid4().hex}"


def write_staging_files(
    df: DataFrame, table_uri: str, folder: str, partition_by: Sequence[str],
    storage_options: dict[str, str] | None = None,
) -> None:
    """Write ``df`` as Parquet into ``<table_uri>/<folder>`` (a Spark job; nothing goes to the driver);
    on an object store through :mod:`citylake.lake.spark_object_store` with ``storage_options``."""
    if not hadoop_reachable(table_uri):
        from citylake.lake import spark_object_store

        spark_object_store.write_files(df, table_uri, folder, partition_by, storage_options)
        return
    spark = df.sparkSession
    # Delta stores timestamps as INT64 microseconds; Spark's default INT96 does not round-trip.
    # The setting is per session and only read at write time, so set it right before writing.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    writer = (
        df.write.mode("errorifexists")
        .option("compression", "snappy")
        # No _SUCCESS marker: the Delta commit is the success marker.
        .option("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    )
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(spark_path(f"{table_uri.rstrip('/')}/{folder}"))


def staged_add_actions(
    fs: pafs.FileSystem, folder: str, partition_by: Sequence[str], stats_columns: Collection[str] | None = None
) -> list[AddAction]:
    """``add`` actions for the data files Spark wrote into ``folder``.

    Also deletes Hadoop's ``.crc`` side files there. Partition values come from Spark's
    ``col=value`` folder names; size and modification time from storage; statistics from each
    Parquet footer, for ``stats_columns`` only when given (the table's stats policy). Files
    without rows are left out (Spark writes one for an empty frame).
    """
    actions = []
    for info in fs.get_file_info(pafs.FileSelector(folder, recursive=True, allow_not_found=True)):
        if info.type != pafs.FileType.File:
            continue
        file_name = info.path.rsplit("/", 1)[-1]
        if file_name.startswith((".", "_")) or not file_name.endswith(".parquet"):
            fs.delete_file(info.path)
            continue
        with fs.open_input_file(info.path) as handle:
            metadata = pq.read_metadata(handle)
        if metadata.num_rows == 0:
            fs.delete_file(info.path)
            continue
        actions.append(
            AddAction(
                path=info.path,
                size=info.size,
                partition_values=_partition_values(info.path, folder, partition_by),
                modification_time=info.mtime_ns // 1_000_000,
                data_change=True,
                stats=stats_json(metadata, stats_columns),
            )
        )
    log.debug("staged %d files in %s", len(actions), folder)
    return actions


def _partition_values(path: str, folder: str, partition_by: Sequence[str]) -> dict[str, str | None]:
    folders = path[len(folder) + 1 :].split("/")[:-1]
    values: dict[str, str | None] = {}
    for part in folders:
        column, _, escaped = part.partition("=")
        values[column] = None if escaped == _HIVE_NULL else unquote(escaped)
    if set(values) != set(partition_by):
        raise PartitionMismatchError(f"unexpected partition folders in {path!r} for {list(partition_by)}")
    return values


def delete_staging_folder(fs: pafs.FileSystem, folder: str) -> None:
    """Best-effort removal of a staging folder whose files will never be committed."""
    try:
        fs.delete_dir(folder)
    except (OSError, pa.ArrowException) as error:  # pragma: no cover - nothing was written
        log.warning("could not delete staging folder %s: %s (vacuum will remove it)", folder, error)
