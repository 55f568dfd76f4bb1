"""Spark reads and writes of a Delta table's Parquet files on an object store, without Hadoop's file
systems.

The pyspark install has no ``hadoop-aws`` jar, so ``spark.read.parquet("s3a://…")`` cannot run
(docs/deploy.md). A Python data source (``pyspark.sql.datasource``) does that I/O in the Python
workers instead, through the file system the rest of the lake uses
(:func:`citylake.lake.storage.filesystem_at`: delta-rs' storage handler with the lake's storage
options, so the same URIs and credentials as the Delta log):

- reading, each data file is one input partition, read as Arrow record batches; a column the file
  lacks (added to the table after it was written) is read as nulls, as Spark's Parquet reader does;
- writing, each task writes its rows as Parquet files of its own into the staging folder, in
  Spark's ``col=value`` folders, which :mod:`citylake.lake.spark_files` then commits like the files
  Spark's own writer leaves.

Memory stays bounded by a record batch (reads) and by a task's open files (writes); no row passes
through the driver. :mod:`citylake.lake.spark_files` takes this path for object-store URIs and
Spark's own Parquet I/O for local and HDFS paths.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

SOURCE = "citylake_object_store"
# The storage options travel as one data source option. Its name matches Spark's default
# spark.redaction.regex ("secret"), so plans and the UI show it redacted: it holds the credentials.
STORAGE_OPTION = "storage_secret"
# Spark's folder name for a null partition value (citylake.lake.spark_files reads it back).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class ObjectStoreFiles(DataSource):
    """Options: ``root`` (the table URI), ``storage_secret`` (JSON storage options); reading
    ``files`` (a JSON list of paths relative to the root), writing ``folder`` (relative to the root)
    and ``partition_by`` (a JSON list). The schema is always given by the caller."""

    @classmethod
    def name(cls) -> str:
        return SOURCE

    def reader(self, schema: StructType) -> DataSourceReader:
        return _FileReader(self.options, schema)

    def writer(self, schema: StructType, overwrite: bool) -> DataSourceArrowWriter:
        return _FileWriter(self.options, schema)


def _filesystem(options: dict[str, str]):
    from citylake.lake.storage import filesystem_at

    return filesystem_at(options["root"], json.loads(options[STORAGE_OPTION]))


class _FileReader(DataSourceReader):
    def __init__(self, options: dict[str, str], schema: StructType):
        self.options = dict(options)
        self.schema = schema

    def partitions(self) -> list[InputPartition]:
        return [InputPartition(path) for path in json.loads(self.options["files"])]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import to_arrow_schema

        target = to_arrow_schema(self.schema)
        with _filesystem(self.options).open_input_file(partition.value) as handle:
            parquet = pq.ParquetFile(handle)
            present = [name for name in target.names if name in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(columns=present):
                columns = [batch.column(name).cast(field.type) if name in present
                           else pa.nulls(batch.num_rows, field.type)
                           for name, field in zip(target.names, target, strict=True)]
                yield pa.RecordBatch.from_arrays(columns, schema=target)


class _FileWriter(DataSourceArrowWriter):
    def __init__(self, options: dict[str, str], schema: StructType):
        self.options = dict(options)
        self.schema = schema

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from citylake.lake.table_schema import spark_to_arrow_schema

        fs = _filesystem(self.options)
        folder = self.options["folder"]
        partition_by = json.loads(self.options["partition_by"])
        target = spark_to_arrow_schema(self.schema)
        data_schema = pa.schema([f for f in target if f.name not in partition_by])
        task = uuid.uuid4().hex
        writers: dict[tuple[Any, ...], pq.ParquetWriter] = {}
        streams = []
        try:
            for batch in iterator:
                table = pa.Table.from_batches([batch]).cast(target)
                groups = (table.group_by(partition_by).aggregate([]).to_pylist() if partition_by else [{}])
                for values in groups:
                    part = table
                    for column, value in values.items():
                        part = part.filter(pc.is_null(part[column]) if value is None
                                           else pc.equal(part[column], pa.scalar(value, target.field(column).type)))
                    key = tuple(values.values())
                    if key not in writers:
                        parent = f"{folder}{_partition_folders(values)}"
                        fs.create_dir(parent, recursive=True)  # a local folder must exist; a store has none
                        path = f"{parent}/part-{task}-{len(writers):05d}.snappy.parquet"
                        streams.append(fs.open_output_stream(path))
                        writers[key] = pq.ParquetWriter(streams[-1], data_schema, compression="snappy")
                    writers[key].write_table(part.select(data_schema.names))
        finally:
            for writer in writers.values():
                writer.close()
            # A writer leaves the stream it was given open, and an object store uploads on close.
            for stream in streams:
                stream.close()
        return WriterCommitMessage()


def _partition_folders(values: dict[str, Any]) -> str:
    """``/col=value…`` as Spark names partition folders (booleans lowercase, dates ISO, escaped)."""
    def text(value: Any) -> str:
        if value is None:
            return HIVE_NULL
        if isinstance(value, bool):
            return str(value).lower()
        return quote(value.isoformat() if hasattr(value, "isoformat") else str(value), safe="")
    return "".join(f"/{column}={text(value)}" for column, value in values.items())


def _registered(spark: SparkSession) -> SparkSession:
    spark.dataSource.register(ObjectStoreFiles)
    return spark


def read_files(spark: SparkSession, table_uri: str, paths: Sequence[str], schema: StructType,
               storage_options: dict[str, str] | None) -> DataFrame:
    """The rows of the Parquet files ``paths`` (relative to ``table_uri``), in ``schema``."""
    return (_registered(spark).read.format(SOURCE).schema(schema)
            .option("root", table_uri).option(STORAGE_OPTION, json.dumps(storage_options or {}))
            .option("files", json.dumps(list(paths))).load())


def write_files(df: DataFrame, table_uri: str, folder: str, partition_by: Sequence[str],
                storage_options: dict[str, str] | None) -> None:
    """Write ``df`` as Parquet files into ``<table_uri>/<folder>`` (a Spark job; nothing goes to the driver)."""
    _registered(df.sparkSession)
    (df.write.format(SOURCE).mode("append")
     .option("root", table_uri).option(STORAGE_OPTION, json.dumps(storage_options or {}))
     .option("folder", folder).option("partition_by", json.dumps(list(partition_by))).save())
