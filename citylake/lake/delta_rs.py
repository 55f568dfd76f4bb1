"""The delta-rs lake backend: every read and commit goes through ``deltalake`` (delta-rs).

Spark is used only as a compute engine here: it reads the Parquet files of a table version and
writes new Parquet files, and delta-rs commits those files to the Delta log. This is what runs
where delta-spark jars are unavailable (the embedded default); see :mod:`citylake.lake.delta_spark`
for deployments that have them.

Guarantees of every write method:

* one Delta commit per call, under the table's writer lock (local lakes), so either the whole
  write is visible or none of it;
* a write that fails before its commit leaves the previous version as it was; the files it had
  already written are referenced by no log entry and so invisible, and :meth:`DeltaRsLake.vacuum`
  removes them;
* ``metadata`` (batch id, job name …) is stored in the commit info and shown by :meth:`history`;
* with a stats policy (:mod:`citylake.lake.stats`; :func:`citylake.lake.open_lake` wires the
  project's, :mod:`citylake.privacy`), only the columns it allows get min/max statistics in the
  log: a new table is created with the policy's properties, an existing one gets them (one
  property commit) before its next write whenever they differ.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import DeltaError
from deltalake.exceptions import SchemaMismatchError as DeltaSchemaMismatch
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFound
from deltalake.transaction import AddAction, create_table_with_add_actions

from citylake.lake import spark_files
from citylake.lake.errors import (
    ConcurrentChangeError,
    PartitionMismatchError,
    SchemaMismatchError,
    TableNotFoundError,
)
from citylake.lake.locking import table_lock
from citylake.lake.merge_keys import check_arrow_merge_keys, check_spark_merge_keys
from citylake.lake.names import TableName
from citylake.lake.partitions import (
    PartitionFilters,
    PartitionSpec,
    check_actions_inside,
    covering_filters,
    overwrite_filters,
    partitions_expression,
    partitions_predicate,
    quoted_identifier,
)
from citylake.lake.stats import StatsPolicy, properties_differ, stats_properties
from citylake.lake.storage import filesystem_at, is_local_uri
from citylake.lake.table_schema import arrow_schema_of, check_same_columns, spark_to_arrow_schema
from citylake.lineage import collector as lineage
from citylake.settings import Home

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

TableRef = str | TableName
ArrowData = pa.Table | pa.RecordBatchReader | pa.RecordBatch

LAKE_ROOT_ENV = "CITYLAKE_LAKE_ROOT"
STORAGE_OPTIONS_ENV = "CITYLAKE_LAKE_STORAGE_OPTIONS"
DEFAULT_LOCK_TIMEOUT_SECONDS = 30 * 60
# What delta-rs puts before the rows that broke a write's predicate or a constraint.
_ROWS_PREVIEW = "Preview of invalid data"


def default_lake_root() -> str:
    """``$CITYLAKE_LAKE_ROOT`` if set (a folder or an object-store URI), else ``$CITYLAKE_HOME/lake``."""
    return os.environ.get(LAKE_ROOT_ENV) or str(Home.from_env().lake)


def default_storage_options() -> dict[str, str] | None:
    """delta-rs storage options from ``$CITYLAKE_LAKE_STORAGE_OPTIONS``, a JSON object of strings
    (``{"AWS_ENDPOINT_URL": "http://10.0.0.9:9000", "AWS_ALLOW_HTTP": "true"}``); None if unset.

    Credentials may stay in delta-rs' own variables (``AWS_ACCESS_KEY_ID`` …), which it reads too.
    """
    text = os.environ.get(STORAGE_OPTIONS_ENV)
    if not text:
        return None
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"${STORAGE_OPTIONS_ENV} is not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise ValueError(f"${STORAGE_OPTIONS_ENV} must be a JSON object of strings (option name → value)")
    return {str(k): v for k, v in options.items()}


def _commit_properties(metadata: Mapping[str, Any] | None, transaction: str | None = None) -> CommitProperties | None:
    if not metadata and transaction is None:
        return None
    return CommitProperties(
        custom_metadata={str(k): str(v) for k, v in (metadata or {}).items()} or None,
        # Delta's application transaction (the txn action Spark writes for txnAppId): committed in
        # the same commit as the rows, so "was this written?" has an exact answer after a crash.
        app_transactions=[Transaction(app_id=transaction, version=0)] if transaction is not None else None)


class DeltaRsLake:
    """The lake at ``root``: Delta tables named ``<layer>.<name>`` at ``<root>/<layer>/<name>``.

    ``root`` is a local folder (default :func:`default_lake_root`) or an object-store URI
    (``s3://…``) with delta-rs ``storage_options`` (default :func:`default_storage_options`). On S3,
    delta-rs commits each log entry with a conditional put (``If-None-Match: *``), so of two writers
    committing one version one gets "precondition failed" and retries on the next. Writer locks only exist for local roots;
    on object storage delta-rs' own conditional commits serialise writers. ``stats_policy``
    chooses the columns with statistics (None: Delta's default, every one of the first 32).
    """

    backend = "delta-rs"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, str] | None = None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT_SECONDS,
        stats_policy: StatsPolicy | None = None,
    ) -> None:
        root = str(root) if root is not None else default_lake_root()
        if is_local_uri(root):
            root = str(Path(root.removeprefix("file://")).resolve())
        self.root: str = root.rstrip("/")
        if storage_options is None and not is_local_uri(root):
            storage_options = default_storage_options()
        self.storage_options: dict[str, str] | None = dict(storage_options) if storage_options else None
        self.lock_timeout = lock_timeout
        self.stats_policy = stats_policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={self.root!r})"

    # ------------------------------------------------------------------------------ addressing

    @property
    def is_local(self) -> bool:
        """Whether the lake is a folder on this machine (writer locks apply)."""
        return is_local_uri(self.root)

    def table_uri(self, table: TableRef) -> str:
        """Where ``table`` lives: ``<root>/<layer>/<name>``."""
        name = TableName.parse(table)
        return f"{self.root}/{name.layer}/{name.name}"

    @contextmanager
    def lock(self, table: TableRef) -> Iterator[None]:
        """The writer lock of ``table`` (a no-op on object storage)."""
        if not self.is_local:
            yield
            return
        with table_lock(Path(self.root), TableName.parse(table), self.lock_timeout):
            yield

    def delta_table(self, table: TableRef, version: int | None = None) -> DeltaTable:
        """The delta-rs ``DeltaTable`` of ``table`` (latest or given version), for what this API lacks."""
        try:
            return DeltaTable(self.table_uri(table), version=version, storage_options=self.storage_options)
        except DeltaTableNotFound as error:
            raise TableNotFoundError(f"lake table {table} does not exist at {self.table_uri(table)}") from error

    def _delta_table_or_none(self, table: TableRef) -> DeltaTable | None:
        return self.delta_table(table) if self.exists(table) else None

    # ------------------------------------------------------------------------------ inspecting

    def exists(self, table: TableRef) -> bool:
        """Whether ``table`` has a Delta log."""
        return DeltaTable.is_deltatable(self.table_uri(table), self.storage_options)

    def version(self, table: TableRef) -> int:
        """The table's current version (0 after the first commit)."""
        return self.delta_table(table).version()

    def schema(self, table: TableRef, version: int | None = None) -> pa.Schema:
        """The table's schema as a pyarrow schema."""
        return arrow_schema_of(self.delta_table(table, version))

    def partition_columns(self, table: TableRef) -> list[str]:
        """The table's partition columns, in folder order (empty if unpartitioned)."""
        return list(self.delta_table(table).metadata().partition_columns)

    def row_count(self, table: TableRef, version: int | None = None) -> int:
        """Rows in the table, from the log's per-file statistics; scans only files without them."""
        delta = self.delta_table(table, version)
        counts = pa.table(delta.get_add_actions()).column("num_records")
        if counts.null_count == 0:
            return int(pc.sum(counts).as_py() or 0)
        return self._dataset_of(TableName.parse(table), delta).count_rows()

    def history(self, table: TableRef, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit infos, newest first; custom commit metadata appears as top-level keys."""
        return self.delta_table(table).history(limit)

    def list_tables(self, layer: str | None = None) -> list[str]:
        """Names of the Delta tables in the lake (or in one layer), sorted."""
        fs = filesystem_at(self.root, self.storage_options)
        layers = [layer] if layer else [
            info.base_name
            for info in fs.get_file_info(pafs.FileSelector("", allow_not_found=True))
            if info.type == pafs.FileType.Directory and not info.base_name.startswith("_")
        ]
        names = []
        for layer_name in layers:
            for info in fs.get_file_info(pafs.FileSelector(layer_name, allow_not_found=True)):
                if info.type != pafs.FileType.Directory:
                    continue
                try:
                    table = TableName(layer_name, info.base_name)
                except ValueError:
                    continue
                if self.exists(table):
                    names.append(str(table))
        return sorted(names)

    # ------------------------------------------------------------------------------ Arrow reads

    def dataset(self, table: TableRef, version: int | None = None) -> ds.Dataset:
        """A pyarrow dataset of one table version (lazy; register it in DuckDB, scan it, …)."""
        delta = self.delta_table(table, version)
        lineage.read_table(self, table, delta.version())
        return self._dataset_of(TableName.parse(table), delta)

    def _dataset_of(self, table: TableName, delta: DeltaTable) -> ds.Dataset:
        # Local tables are read with pyarrow's native file system (see storage.filesystem_at).
        filesystem = filesystem_at(self.table_uri(table)) if self.is_local else None
        return delta.to_pyarrow_dataset(filesystem=filesystem)

    def read_arrow(
        self,
        table: TableRef,
        columns: Sequence[str] | None = None,
        filter: pc.Expression | list[Any] | None = None,
        version: int | None = None,
    ) -> pa.RecordBatchReader:
        """Stream the table's rows as record batches.

        ``filter`` is a pyarrow expression (``pc.field("x") > 1``) or a DNF list
        (``[("x", ">", 1)]``); filters on partition columns skip whole files.
        """
        if isinstance(filter, list):
            filter = pq.filters_to_expression(filter)
        scanner = self.dataset(table, version).scanner(
            columns=list(columns) if columns is not None else None, filter=filter
        )
        return scanner.to_reader()

    # ------------------------------------------------------------------------------ Arrow writes

    def write_arrow(
        self,
        table: TableRef,
        data: ArrowData,
        mode: Literal["append", "overwrite"] = "append",
        partition_by: Sequence[str] | None = None,
        predicate: str | None = None,
        schema_mode: Literal["merge", "overwrite"] | None = None,
        metadata: Mapping[str, Any] | None = None,
        target_file_size: int | None = None,
        transaction: str | None = None,
    ) -> int:
        """Write Arrow data (a ``RecordBatchReader`` is streamed, not materialised); return the new version.

        * ``mode="append"`` adds rows; ``"overwrite"`` replaces the table, or with ``predicate``
          (delta-rs SQL, e.g. ``"batch_date = '2024-05-01'"``) only the rows matching it; the
          written rows must then all match the predicate.
        * The table is created if missing, partitioned by ``partition_by``.
        * ``schema_mode="merge"`` adds new columns to the table; ``"overwrite"`` (with a whole-table
          overwrite) replaces the schema. By default a different schema is an error.
        * ``target_file_size`` (bytes) caps each data file; the writer buffers a file's rows in memory
          until it is full, so this bounds a streamed write's memory.
        * ``transaction`` (an id such as ``gate:<batch>``) makes the write happen once: it commits
          with the id as a Delta application transaction, and a later write with an id the table
          already holds writes nothing and returns the current version (a rerun after a crash).
        """
        if mode not in ("append", "overwrite"):
            raise ValueError(f"mode must be 'append' or 'overwrite', not {mode!r}")
        if predicate is not None and mode != "overwrite":
            raise ValueError("a predicate only applies to mode='overwrite'")
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        uri = self.table_uri(table)
        with self.lock(table):
            existing = self._delta_table_or_none(table)
            if transaction is not None and existing is not None and existing.transaction_version(transaction) is not None:
                log.info("%s already holds transaction %s: nothing written", table, transaction)
                return existing.version()
            properties = self._stats_properties(table, data.schema, existing)
            if existing is not None:
                self._apply_properties(existing, properties)
            try:
                write_deltalake(
                    uri,
                    data,
                    mode=mode,
                    partition_by=list(partition_by) if partition_by else None,
                    predicate=predicate,
                    schema_mode=schema_mode,
                    storage_options=self.storage_options,
                    commit_properties=_commit_properties(metadata, transaction),
                    target_file_size=target_file_size,
                    configuration=properties if existing is None else None,
                )
            except DeltaSchemaMismatch as error:
                raise SchemaMismatchError(f"cannot write to {table}: {error}") from error
            except DeltaError as error:
                if _ROWS_PREVIEW not in str(error):
                    raise
                # delta-rs prints the offending rows, personal data included: say what, never which.
                reason = str(error).split(_ROWS_PREVIEW)[0].strip().rstrip(".")
                raise PartitionMismatchError(
                    f"cannot write to {table}: rows outside the predicate {predicate!r} ({reason}; values not shown)"
                ) from None
            version = self.version(table)
        lineage.wrote_table(self, table, version)
        log.info("wrote %s (%s) -> version %d", table, mode, version)
        return version

    def merge_arrow(
        self,
        table: TableRef,
        source: ArrowData,
        keys: Sequence[str],
        partition_by: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        schema_mode: str | None = None,
    ) -> dict[str, Any]:
        """Upsert ``source`` into ``table`` by ``keys`` (update matched rows, insert the others).

        The source is materialised (it is a batch of changes) and must have unique keys and the
        table's columns; with ``schema_mode="merge"`` (unpartitioned tables) it may also bring new
        columns, which the table gains (null in its earlier rows). One commit; returns metrics (``num_target_rows_updated``,
        ``num_target_rows_inserted`` …) and the new ``version``. ``partition_by`` is used only
        when the table is created by this call.

        * Unpartitioned table: delta-rs MERGE, which rewrites only the files holding matched keys.
        * Partitioned table: the partitions present in the source are rewritten — their current
          rows minus the source keys, streamed, plus the source rows — and committed as one
          overwrite of exactly those partitions. delta-rs 1.5.0's MERGE cannot be used there: for
          partition values that need escaping in paths (Chinese district names, spaces) it adds
          the rewritten file without removing the old one, duplicating every row of the
          partition (delta-io/delta-rs#4352, fixed only in releases with the #4422 memory
          regression). Cost and memory grow with the touched partitions, not with the table.
          A key's partition values must never change: the old row would stay in its partition.
        """
        if isinstance(source, pa.RecordBatchReader):
            source = source.read_all()
        elif isinstance(source, pa.RecordBatch):
            source = pa.Table.from_batches([source])
        check_arrow_merge_keys(table, source, keys)
        name = TableName.parse(table)
        with self.lock(name):
            delta = self._delta_table_or_none(name)
            properties = self._stats_properties(name, source.schema, delta)
            if delta is None:
                write_deltalake(
                    self.table_uri(name),
                    source,
                    mode="error",
                    partition_by=list(partition_by) if partition_by else None,
                    storage_options=self.storage_options,
                    commit_properties=_commit_properties(metadata),
                    configuration=properties,
                )
                metrics: dict[str, Any] = {
                    "num_source_rows": source.num_rows,
                    "num_target_rows_updated": 0,
                    "num_target_rows_inserted": source.num_rows,
                }
            else:
                delta = self._apply_properties(delta, properties)
                current = arrow_schema_of(delta)
                added = [f for f in source.schema if f.name not in current.names] if schema_mode == "merge" else []
                if added and delta.metadata().partition_columns:
                    raise ValueError(f"{name}: schema_mode='merge' on a partitioned table is not supported")
                incoming = source
                kept = incoming.select([n for n in incoming.column_names if n not in {f.name for f in added}])
                check_same_columns(str(name), delta.schema(), DeltaSchema.from_arrow(kept.schema))
                source = kept.select(current.names).cast(current)
                for new_field in added:
                    source = source.append_column(new_field, incoming.column(new_field.name))
                if delta.metadata().partition_columns:
                    metrics = self._rewrite_partitions(name, delta, source, keys, metadata)
                else:
                    metrics = self._delta_rs_merge(delta, source, keys, metadata, merge_schema=bool(added))
            metrics["version"] = self.version(name)
        lineage.wrote_table(self, name, metrics["version"])
        log.info(
            "merged into %s: %s updated, %s inserted -> version %d",
            name, metrics["num_target_rows_updated"], metrics["num_target_rows_inserted"], metrics["version"],
        )
        return metrics

    @staticmethod
    def _delta_rs_merge(
        delta: DeltaTable, source: pa.Table, keys: Sequence[str], metadata: Mapping[str, Any] | None,
        merge_schema: bool = False,
    ) -> dict[str, Any]:
        predicate = " AND ".join(f"t.{quoted_identifier(k)} = s.{quoted_identifier(k)}" for k in keys)
        return (
            delta.merge(
                source,
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                merge_schema=merge_schema,
                commit_properties=_commit_properties(metadata),
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

    def _rewrite_partitions(
        self,
        table: TableName,
        delta: DeltaTable,
        source: pa.Table,
        keys: Sequence[str],
        metadata: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Merge by overwriting the partitions present in ``source`` (see :meth:`merge_arrow`)."""
        schema = arrow_schema_of(delta)
        partition_columns = delta.metadata().partition_columns
        touched = source.select(partition_columns).group_by(partition_columns).aggregate([]).to_pylist()
        source_keys = source.select(list(keys))
        counts = {"read": 0, "kept": 0}

        def rows_kept_then_source() -> Iterator[pa.RecordBatch]:
            for batch in self._dataset_of(table, delta).to_batches(filter=partitions_expression(touched)):
                kept = pa.Table.from_batches([batch]).join(source_keys, keys=list(keys), join_type="left anti")
                counts["read"] += batch.num_rows
                counts["kept"] += kept.num_rows
                yield from kept.select(schema.names).cast(schema).to_batches()
            yield from source.to_batches()

        # Passing the loaded DeltaTable commits against the snapshot that was read.
        write_deltalake(
            delta,
            pa.RecordBatchReader.from_batches(schema, rows_kept_then_source()),
            mode="overwrite",
            predicate=partitions_predicate(touched),
            commit_properties=_commit_properties(metadata),
        )
        updated = counts["read"] - counts["kept"]
        return {
            "num_source_rows": source.num_rows,
            "num_target_rows_updated": updated,
            "num_target_rows_inserted": source.num_rows - updated,
            "num_target_rows_copied": counts["kept"],
            "num_partitions_rewritten": len(touched),
        }

    def delete(
        self, table: TableRef, predicate: str, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Delete the rows matching a delta-rs SQL ``predicate``; returns delta-rs' metrics."""
        with self.lock(table):
            delta = self.delta_table(table)
            # delete rewrites the files holding matching rows: their statistics follow the policy too.
            delta = self._apply_properties(delta, self._stats_properties(table, arrow_schema_of(delta), delta))
            metrics = delta.delete(predicate, commit_properties=_commit_properties(metadata))
        lineage.wrote_table(self, table, None)
        return metrics

    def vacuum(
        self,
        table: TableRef,
        retention_hours: int | None = None,
        dry_run: bool = True,
        full: bool = False,
    ) -> list[str]:
        """delta-rs vacuum: list (``dry_run``) or delete files no longer referenced by the log.

        ``full=True`` also removes files that never were referenced, such as those of a failed
        write. A retention shorter than the table's (7 days by default) is allowed here, so do
        not run a short-retention vacuum while a writer of this table may still be staging files.
        """
        with self.lock(table):
            return self.delta_table(table).vacuum(
                retention_hours=retention_hours,
                dry_run=dry_run,
                enforce_retention_duration=False,
                full=full,
            )

    def file_sizes(self, table: TableRef) -> list[int]:
        """The sizes in bytes of the data files of the table's current version."""
        sizes = pa.table(self.delta_table(table).get_add_actions()).column("size_bytes")
        return [int(size) for size in sizes.to_pylist()]

    def compact(
        self, table: TableRef, target_size: int | None = None, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """delta-rs ``optimize.compact``: rewrite the small files of each partition into files of
        about ``target_size`` bytes, rows unchanged; returns delta-rs' metrics.

        Readers of earlier versions keep their files until a vacuum past the retention removes
        them, so time travel within the retention still works. The rewritten files' statistics
        follow the stats policy, as any other write's do.
        """
        with self.lock(table):
            delta = self.delta_table(table)
            delta = self._apply_properties(delta, self._stats_properties(table, arrow_schema_of(delta), delta))
            return delta.optimize.compact(target_size=target_size, commit_properties=_commit_properties(metadata))

    def cleanup_log(self, table: TableRef, retention_hours: int) -> int:
        """Write a checkpoint, then delete the log entries older than ``retention_hours`` that the
        checkpoint makes unnecessary; returns the version of the checkpoint.

        A reader then replays one checkpoint and the few commits after it instead of the whole
        history; versions older than the log retention can no longer be time-travelled to.
        """
        with self.lock(table):
            delta = self._apply_properties(
                self.delta_table(table), {"delta.logRetentionDuration": f"interval {retention_hours} hours"},
                job="lake upkeep")
            delta.create_checkpoint()
            delta.cleanup_metadata()
            return delta.version()

    # ------------------------------------------------------------------------------ Spark

    def read_spark(self, spark: SparkSession, table: TableRef, version: int | None = None) -> DataFrame:
        """The table (latest or given version) as a Spark DataFrame, read from its Parquet files.

        Partitioned tables are read as a union of one Parquet scan per partition (the partition
        values live in the Delta log, not in the files): fine for tens or hundreds of partitions,
        a long query plan for many thousands.
        """
        delta = self.delta_table(table, version)
        lineage.read_table(self, table, delta.version())
        return spark_files.read_table_files(spark, delta, self.table_uri(table), storage_options=self.storage_options)

    def write_spark(
        self,
        df: DataFrame,
        table: TableRef,
        mode: Literal["append", "overwrite"] = "append",
        partition_by: Sequence[str] | None = None,
        partitions: PartitionSpec | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Write a Spark DataFrame without collecting it; return the new version.

        Spark writes Parquet files into a fresh folder of the table, then one delta-rs commit
        adds them. ``mode="overwrite"`` replaces the whole table, or with ``partitions``
        (``{"batch_date": date(2024, 5, 1)}``, or a list of values per column) only those
        partitions; the rows written must then lie inside them. The table is created if missing
        (partitioned by ``partition_by``: string, integer, date or boolean columns); otherwise
        the frame must have the table's columns and types. As in any Spark partitioned write,
        an empty-string partition value is stored as null.
        """
        if mode not in ("append", "overwrite"):
            raise ValueError(f"mode must be 'append' or 'overwrite', not {mode!r}")
        if partitions is not None and mode != "overwrite":
            raise ValueError("partitions only apply to mode='overwrite'")
        name = TableName.parse(table)
        arrow_schema = spark_to_arrow_schema(df.schema)
        existing = self._delta_table_or_none(name)
        partition_by = self._check_spark_write(name, existing, arrow_schema, partition_by)
        filters = overwrite_filters(name, partition_by, partitions) if partitions is not None else None

        actions, folder = self._stage(df, name, partition_by, arrow_schema, existing)
        try:
            if filters:
                check_actions_inside(name, actions, filters)
            with self.lock(name):
                delta = self._delta_table_or_none(name)
                if delta is not None and existing is None:
                    # Created by someone else meanwhile: check our frame against what they made.
                    self._check_spark_write(name, delta, arrow_schema, partition_by)
                self._commit_files(name, delta, actions, mode, arrow_schema, partition_by, filters, metadata)
                version = self.version(name)
        except BaseException:
            spark_files.delete_staging_folder(self._fs(name), folder)
            raise
        lineage.wrote_table(self, name, version)
        log.info("wrote %d Spark files to %s (%s) -> version %d", len(actions), name, mode, version)
        return version

    def merge_spark(
        self,
        df: DataFrame,
        table: TableRef,
        keys: Sequence[str],
        partition_by: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Upsert a Spark DataFrame into ``table`` by ``keys``, all in Spark; return the new version.

        Spark reads the target files that the source can touch (the partitions present in the
        source, or the whole table if unpartitioned), keeps the rows whose key is not in the
        source, adds the source rows, and writes the result as new files; one commit then
        replaces exactly the files that were read. The table's writer lock is held throughout.
        The source must have unique keys (checked with one Spark aggregation; cache an
        expensive source first) and, as in :meth:`merge_arrow`, a key's partition values must
        never change. ``partition_by`` is used only when the table is created by this call.
        """
        name = TableName.parse(table)
        check_spark_merge_keys(name, df, keys)

        arrow_schema = spark_to_arrow_schema(df.schema)
        with self.lock(name):
            target = self._delta_table_or_none(name)
            partition_by = self._check_spark_write(name, target, arrow_schema, partition_by)
            if target is None:
                actions, folder = self._stage(df, name, partition_by, arrow_schema, None)
                try:
                    self._commit_files(name, None, actions, "append", arrow_schema, partition_by, None, metadata)
                except BaseException:
                    spark_files.delete_staging_folder(self._fs(name), folder)
                    raise
                return self.version(name)

            read_version = target.version()
            touched = df.select(*partition_by).distinct().collect() if partition_by else None
            if touched == [] or (touched is None and df.isEmpty()):
                log.info("nothing to merge into %s: the source is empty", name)
                return read_version
            filters = covering_filters(partition_by, touched or [])
            current = spark_files.read_table_files(df.sparkSession, target, self.table_uri(name), filters,
                                                   storage_options=self.storage_options)
            merged = current.join(df.select(*keys), on=list(keys), how="left_anti").unionByName(
                df.select(*current.columns)
            )
            actions, folder = self._stage(merged, name, partition_by, arrow_schema, target)
            try:
                # The lock keeps other citylake writers out; this catches writers that ignore it.
                latest = self.version(name)
                if latest != read_version:
                    raise ConcurrentChangeError(
                        f"{name} changed from version {read_version} to {latest} during the merge; retry it"
                    )
                self._commit_files(name, target, actions, "overwrite", arrow_schema, partition_by, filters, metadata)
            except BaseException:
                spark_files.delete_staging_folder(self._fs(name), folder)
                raise
            version = self.version(name)
        lineage.wrote_table(self, name, version)
        log.info("merged Spark frame into %s (%d files rewritten) -> version %d", name, len(actions), version)
        return version

    def read_spark_changes(
        self, spark: SparkSession, table: TableRef, since_version: int | None, version: int | None = None,
        identity: Sequence[str] | None = None,
    ) -> tuple[DataFrame, DataFrame]:
        """(rows added, rows removed) between ``since_version`` (None: the table did not exist)
        and ``version`` (default: the latest), by data file: the rows of the files that ``version``
        has and ``since_version`` had not, and the reverse. A commit that rewrites a file lists its
        unchanged rows on both sides. ``identity``: columns that identify a row's version (a key
        and the batch that wrote it): a row whose identity is on both sides is left out of both.
        With it, the files are compared and filtered in Arrow, batch by batch, and the frames hold
        the differing rows only (on the driver: meant for a day's changes, not for a reload);
        without it, remove the unchanged rows with ``exceptAll`` where it matters.
        """
        name = TableName.parse(table)
        uri = self.table_uri(name)
        now = self.delta_table(name, version)
        lineage.read_table(self, name, now.version())
        then = self.delta_table(name, since_version) if since_version is not None else None
        now_files = spark_files.data_files(now)
        then_files = spark_files.data_files(then) if then is not None else set()
        added = spark_files.read_table_files(spark, now, uri, paths=now_files - then_files,
                                             storage_options=self.storage_options)
        if then is None:
            return added, spark.createDataFrame([], added.schema)
        removed = spark_files.read_table_files(spark, then, uri, paths=then_files - now_files,
                                               storage_options=self.storage_options)
        if not identity:
            return added, removed
        files = [self._files_of(name, delta, paths)
                 for delta, paths in ((now, now_files - then_files), (then, then_files - now_files))]
        ids = [_identities(part.to_table(columns=list(identity)), identity) for part in files]
        ids = [i.group_by(i.column_names).aggregate([]) for i in ids]
        return tuple(
            spark.createDataFrame(_rows_with(part, _anti(mine, other), identity).select(frame.columns),
                                  schema=frame.schema)
            for part, mine, other, frame in ((files[0], ids[0], ids[1], added), (files[1], ids[1], ids[0], removed)))

    def _files_of(self, name: TableName, delta: DeltaTable, paths: set[str]) -> ds.Dataset:
        """The pyarrow dataset of the data files ``paths`` (relative to the table) of ``delta``."""
        dataset = self._dataset_of(name, delta)
        fragments = [f for f in dataset.get_fragments()
                     if f.path in paths or any(f.path.endswith("/" + p) for p in paths)]
        return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)

    def replace_spark(
        self,
        df: DataFrame,
        table: TableRef,
        on: Sequence[str],
        keys: DataFrame,
        base_version: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> int:
        """Replace the rows of an unpartitioned ``table`` whose ``on`` columns match a row of
        ``keys`` by the rows of ``df`` (whose ``on`` values should lie in ``keys``); return the new
        version. A key-based merge where a key may own many rows (a person's conflicts) or none any
        more (a person whose records went elsewhere).

        The rows kept come from ``base_version`` (default: the latest): a job that recomputes
        from the versions of its last complete run passes them, so a run that died between its
        table commits leaves nothing behind. The writer lock is held throughout; one commit
        replaces every file of the latest version.
        """
        name = TableName.parse(table)
        arrow_schema = spark_to_arrow_schema(df.schema)
        with self.lock(name):
            target = self._delta_table_or_none(name)
            partition_by = self._check_spark_write(name, target, arrow_schema, None)
            if partition_by:
                raise PartitionMismatchError(f"replace_spark needs an unpartitioned table; {name} is "
                                             f"partitioned by {partition_by}")
            if target is None:
                merged = df
            else:
                base = target if base_version is None else self.delta_table(name, base_version)
                current = spark_files.read_table_files(df.sparkSession, base, self.table_uri(name),
                                                       storage_options=self.storage_options)
                merged = current.join(keys.select(*on).distinct(), on=list(on), how="left_anti").unionByName(
                    df.select(*current.columns))
            read_version = target.version() if target is not None else None
            actions, folder = self._stage(merged, name, [], arrow_schema, target)
            try:
                if target is None:
                    self._commit_files(name, None, actions, "append", arrow_schema, [], None, metadata)
                else:
                    latest = self.version(name)
                    if latest != read_version:
                        raise ConcurrentChangeError(
                            f"{name} changed from version {read_version} to {latest} during the replace; retry it")
                    self._commit_files(name, target, actions, "overwrite", arrow_schema, [], None, metadata)
            except BaseException:
                spark_files.delete_staging_folder(self._fs(name), folder)
                raise
            version = self.version(name)
        lineage.wrote_table(self, name, version)
        log.info("replaced rows of %s by key %s (%d files written) -> version %d", name, list(on), len(actions),
                 version)
        return version

    # ------------------------------------------------------------------------------ internals

    def _fs(self, table: TableName) -> pafs.FileSystem:
        """A file system rooted at the table's folder."""
        return filesystem_at(self.table_uri(table), self.storage_options)

    def _check_spark_write(
        self,
        table: TableName,
        existing: DeltaTable | None,
        arrow_schema: pa.Schema,
        partition_by: Sequence[str] | None,
    ) -> list[str]:
        """Check a Spark frame against the table; return the partition columns to write with."""
        if existing is None:
            columns = list(partition_by or [])
            spark_files.check_partition_types(str(table), arrow_schema, columns)
            return columns
        check_same_columns(str(table), existing.schema(), DeltaSchema.from_arrow(arrow_schema))
        columns = list(existing.metadata().partition_columns)
        if partition_by is not None and list(partition_by) != columns:
            raise PartitionMismatchError(
                f"{table} is partitioned by {columns}, not {list(partition_by)}"
            )
        spark_files.check_partition_types(str(table), arrow_schema, columns)
        return columns

    def _stats_columns(self, table: TableRef, schema: pa.Schema, existing: DeltaTable | None) -> list[str] | None:
        """Columns the stats policy allows statistics for, judged on ``schema`` plus the table's
        other columns (None: no policy, Delta's default)."""
        if self.stats_policy is None:
            return None
        if existing is not None:
            current = arrow_schema_of(existing)
            schema = pa.schema([*current, *(f for f in schema if f.name not in current.names)])
        columns = self.stats_policy(TableName.parse(table), schema)
        return None if columns is None else list(columns)

    def _stats_properties(
        self, table: TableRef, schema: pa.Schema, existing: DeltaTable | None
    ) -> dict[str, str] | None:
        """The table properties that apply the stats policy (None: no policy)."""
        columns = self._stats_columns(table, schema, existing)
        return None if columns is None else stats_properties(columns)

    @staticmethod
    def _apply_properties(
        delta: DeltaTable, properties: dict[str, str] | None, job: str = "stats policy"
    ) -> DeltaTable:
        """Set table properties (by default the stats policy's) on an existing table if it lacks
        them; call with the writer lock held."""
        if properties and properties_differ(delta.metadata().configuration, properties):
            delta.alter.set_table_properties(properties, commit_properties=_commit_properties({"job": job}))
            delta.update_incremental()
        return delta

    def _stage(
        self, df: DataFrame, table: TableName, partition_by: Sequence[str], arrow_schema: pa.Schema,
        existing: DeltaTable | None,
    ) -> tuple[list[AddAction], str]:
        """Run the Spark job writing ``df`` into a new staging folder; return its add actions.

        Their statistics are limited to the columns the stats policy allows for the table.
        """
        folder = spark_files.new_staging_folder()
        fs = self._fs(table)
        stats_columns = self._stats_columns(table, arrow_schema, existing)
        try:
            spark_files.write_staging_files(df, self.table_uri(table), folder, partition_by, self.storage_options)
            actions = spark_files.staged_add_actions(fs, folder, partition_by, stats_columns)
        except BaseException:
            spark_files.delete_staging_folder(fs, folder)
            raise
        return actions, folder

    def _commit_files(
        self,
        table: TableName,
        delta: DeltaTable | None,
        actions: list[AddAction],
        mode: Literal["append", "overwrite"],
        arrow_schema: pa.Schema,
        partition_by: Sequence[str],
        filters: PartitionFilters | None,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        """One delta-rs commit adding ``actions`` (and, for overwrite, removing replaced files).

        Call with the writer lock held. ``delta`` is the snapshot the removals are computed from.
        """
        properties = _commit_properties(metadata)
        table_properties = self._stats_properties(table, arrow_schema, delta)
        if delta is None:
            create_table_with_add_actions(
                self.table_uri(table),
                DeltaSchema.from_arrow(arrow_schema),
                actions,
                mode="error",
                partition_by=list(partition_by) or None,
                configuration=table_properties,
                storage_options=self.storage_options,
                commit_properties=properties,
            )
            return
        delta = self._apply_properties(delta, table_properties)
        # In append mode delta-rs 1.5.0 does not check the schema (and keeps the table's),
        # so the frame was checked against the table before staging.
        delta.create_write_transaction(
            actions,
            mode=mode,
            schema=delta.schema(),
            partition_by=list(partition_by) or None,
            partition_filters=filters,
            commit_properties=properties,
        )


#: An identity value that stands for null in :meth:`DeltaRsLake.read_spark_changes`' comparison.
_NULL_IDENTITY = "\x00"


def _identities(rows: pa.Table, identity: Sequence[str]) -> pa.Table:
    """The ``identity`` columns of ``rows`` as text, nulls as :data:`_NULL_IDENTITY` (a null
    equals a null), named ``_identity_<i>``."""
    return pa.table({f"_identity_{i}": pc.fill_null(pc.cast(rows[c], pa.string()), _NULL_IDENTITY)
                     for i, c in enumerate(identity)})


def _anti(rows: pa.Table, other: pa.Table) -> pa.Table:
    """The rows of ``rows`` that are not in ``other`` (same columns)."""
    return rows.join(other, keys=rows.column_names, join_type="left anti")


def _rows_with(files: ds.Dataset, wanted: pa.Table, identity: Sequence[str]) -> pa.Table:
    """The rows of ``files`` whose identity (:func:`_identities`) is one of ``wanted``, read batch
    by batch so that memory holds one batch and the rows kept."""
    kept = []
    if wanted.num_rows:
        for batch in files.to_batches():
            rows = pa.Table.from_batches([batch])
            probe = _identities(rows, identity).append_column("_row", pa.array(range(rows.num_rows), pa.int64()))
            matched = probe.join(wanted, keys=wanted.column_names, join_type="left semi")
            if matched.num_rows:
                kept.append(rows.take(matched["_row"]))
    return pa.concat_tables(kept) if kept else files.schema.empty_table()
