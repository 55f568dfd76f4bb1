"""Extract one source table into its bronze Delta table, as one idempotent batch.

Rows stream from the source in bounded chunks through a server-side cursor, become Arrow record
batches and are appended to ``bronze.<system>_<table>`` in one Delta commit, with metadata
columns: ``_batch_id``, ``_source``, ``_extracted_at``, ``_row_hash``, ``_op``
(insert / update / delete) and ``_unconverted`` (the raw text of the row's cells that do not fit
their column's type, see ``citylake.ingest.convert``). Bronze holds changes: an incremental table
contributes the rows changed since the watermark; a snapshot table the rows that are new, changed
or gone.

The watermark rule (incremental tables): a batch reads the rows whose update time is at or after
the watermark less the table's lookback (``>=``: rows of the watermark's own second committed after
the last batch are not skipped), plus every row whose update time is NULL or does not convert (a
defect the gate reports to the department). Rows bronze already holds unchanged are dropped by
their row hash, so re-reading costs a read, never a duplicate. Reading the NULL-time rows in every
batch, rather than in a periodic reconciliation of all keys, keeps their changes as timely as any
other row's at a cost proportional to those rows (and the department is told to fill them in). The
watermark only moves on converted, non-NULL update times.

Two writes make a batch, and reruns are safe in every window between them: the bronze commit, then
the batch audit, which also carries the new watermark (``governance.batch_audit.watermark_after``),
so there is no third write to lose. A batch already audited is skipped; a batch committed to bronze
but not audited (a crash in between) is completed from what bronze holds; a batch that died before
its commit left nothing visible and is simply extracted again. The bronze table's writer lock is held
from the audited-check to the audit, so two concurrent extractions of a table take turns.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from citylake.ingest import governance as gov
from citylake.ingest.convert import UNCONVERTED
from citylake.ingest.readers import read_batches
from citylake.ingest.redact import scrub
from citylake.lake.errors import LockTimeoutError
from citylake.lineage import collector as lineage
from citylake.sources.registry import DEFAULT_LOOKBACK_MINUTES, SourceSystem, SourceTable

log = logging.getLogger(__name__)

META_COLUMNS = ("_batch_id", "_source", "_extracted_at", "_row_hash", "_op", UNCONVERTED)
META_SCHEMA = [pa.field("_batch_id", pa.string()), pa.field("_source", pa.string()),
               pa.field("_extracted_at", pa.timestamp("us", tz="UTC")), pa.field("_row_hash", pa.int64()),
               pa.field("_op", pa.string()), pa.field(UNCONVERTED, pa.string())]
# Re-exported for callers that tune or test the watermark (the registry owns the value).
__all__ = ["DEFAULT_LOOKBACK_MINUTES", "META_COLUMNS", "BatchResult", "ExtractionError", "SchemaDriftError",
           "SourceUnavailableError", "ingest_table"]
CHUNK_ROWS = 50_000
# Bronze data files of about 32 MiB: the writer holds the file in progress in memory, so this (with
# the chunk size) is what bounds an extraction's memory, whatever the table's size.
BRONZE_FILE_BYTES = 32 * 2**20


class SourceUnavailableError(RuntimeError):
    """The source database cannot be reached (after the caller's retries)."""


class SchemaDriftError(RuntimeError):
    """A source column changed type in a way bronze cannot hold without losing values."""


class ExtractionError(RuntimeError):
    """An unexpected error of an extraction, its message scrubbed of anything that may be a source
    value (see :func:`citylake.ingest.redact.scrub`)."""


@dataclass
class BatchResult:
    batch_id: str
    system: str
    source_table: str
    bronze_table: str
    load_mode: str
    rows_read: int = 0
    rows_unchanged: int = 0
    rows_written: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    watermark_before: str | None = None
    watermark_after: str | None = None
    bronze_version: int | None = None
    skipped: bool = False
    drift: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """A small, JSON-able reference for XCom and logs."""
        return {k: v for k, v in asdict(self).items() if k != "drift"} | {"drift": len(self.drift)}


def arrow_type(column: sa.Column) -> pa.DataType:
    """The Arrow type that holds a source column's values faithfully."""
    t = column.type
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.Integer):
        return pa.int64()
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Float):
        precision = t.precision or 38
        scale = t.scale if t.scale is not None else (0 if t.precision else 10)
        return pa.decimal128(min(precision, 38), scale)
    if isinstance(t, sa.Float):
        return pa.float64()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.LargeBinary):
        return pa.binary()
    return pa.string()


def row_hashes(batch: pa.RecordBatch, unconverted: pa.Array | None = None) -> pa.Array:
    """A 64-bit hash of each row's values (as text; null distinct from empty), for change detection.

    The raw text of unconverted cells joins the hash of their rows only, so a change from one bad
    value to another is seen while every clean row keeps the hash bronze already holds."""
    texts = [pc.fill_null(pc.cast(column, pa.string()), "\x00") for column in batch.columns]
    joined = pc.binary_join_element_wise(*texts, "\x1f") if len(texts) > 1 else texts[0]
    if unconverted is not None and unconverted.null_count < len(unconverted):
        joined = pc.coalesce(pc.binary_join_element_wise(joined, unconverted, "\x1e"), joined)
    digests = pd.util.hash_array(joined.to_numpy(zero_copy_only=False))
    return pa.array(digests.view(np.int64))


def _keys(batch: pa.RecordBatch, key_columns: tuple[str, ...]) -> list[str]:
    texts = [pc.cast(batch.column(k), pa.string()) for k in key_columns]
    joined = pc.binary_join_element_wise(*texts, "\x1f") if len(texts) > 1 else texts[0]
    return joined.to_pylist()


def _key_text(values: tuple) -> str:
    return "\x1f".join(str(v) for v in values)


class _Extraction:
    def __init__(self, system: SourceSystem, table: SourceTable, batch_id: str, lake, engine: sa.Engine,
                 chunk_rows: int):
        self.system, self.table, self.batch_id, self.lake, self.engine = system, table, batch_id, lake, engine
        self.chunk_rows = chunk_rows
        self.bronze = table.bronze_name(system.code)
        self.source = f"{system.code}.{table.name}"
        self.extracted_at = gov.now()
        self.result = BatchResult(batch_id, system.code, table.name, self.bronze, table.load)
        self.error: Exception | None = None
        self.live_before: int | None = None
        # The source's row count, when the batch counted it (then it is the live rows after the batch).
        self.live_after: int | None = None

    # -- source side -------------------------------------------------------------------------------
    def reflect(self) -> sa.Table:
        try:
            return sa.Table(self.table.name, sa.MetaData(), autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise SourceUnavailableError(f"{self.source}: table {self.table.name} not found in the source") from None

    def schema(self, source: sa.Table) -> pa.Schema:
        return pa.schema([pa.field(c.name, arrow_type(c)) for c in source.columns] + META_SCHEMA)

    def check_drift(self, source: sa.Table, schema: pa.Schema) -> None:
        now_cols = {f.name: str(f.type) for f in schema if f.name not in META_COLUMNS}
        before = gov.last_source_columns(self.lake, self.system.code, self.table.name)
        if before is not None:
            for name in now_cols.keys() - before.keys():
                self.result.drift.append({"column": name, "change": "added", "old_type": None, "new_type": now_cols[name]})
            for name in before.keys() - now_cols.keys():
                self.result.drift.append({"column": name, "change": "removed", "old_type": before[name], "new_type": None})
            for name in now_cols.keys() & before.keys():
                if now_cols[name] != before[name]:
                    self.result.drift.append({"column": name, "change": "type_changed", "old_type": before[name],
                                              "new_type": now_cols[name]})
        for d in self.result.drift:
            log.warning("schema drift in %s: column %s %s (%s -> %s)", self.source, d["column"], d["change"],
                        d["old_type"], d["new_type"])
        self.columns_json = now_cols

    def batches(self, source: sa.Table, schema: pa.Schema, since: sa.ColumnElement | None
                ) -> Iterator[tuple[pa.RecordBatch, pa.Array, pa.Array]]:
        """Source batches with their row hashes and ``_unconverted`` column. PostgreSQL hashes the
        rows itself (its own process, the other core) as it sends them; elsewhere the hash is
        computed here."""
        server_hash = self.engine.dialect.name == "postgresql"
        columns = list(source.columns)
        if server_hash:
            row_text = sa.literal_column(f"{self.engine.dialect.identifier_preparer.format_table(source)}::text")
            columns.append(sa.func.hashtextextended(row_text, 0).label("_row_hash"))
            read_schema = schema.append(pa.field("_row_hash", pa.int64()))
        else:
            read_schema = schema
        query = sa.select(*columns)
        if since is not None:
            query = query.where(since)
        if self.table.load == "incremental":
            query = query.order_by(source.c[self.table.update_column], *[source.c[k] for k in self.table.primary_key])
        for batch, unconverted in read_batches(self.engine, query, read_schema, self.chunk_rows):
            if server_hash:
                yield batch.drop_columns(["_row_hash"]), batch.column("_row_hash"), unconverted
            else:
                yield batch, row_hashes(batch, unconverted), unconverted

    def source_keys(self, source: sa.Table, since: sa.ColumnElement | None = None) -> set[str]:
        """The keys of the source rows (those matching ``since`` when given)."""
        columns = [source.c[k] for k in self.table.primary_key]
        schema = pa.schema([pa.field(c.name, arrow_type(c)) for c in columns])
        query = sa.select(*columns) if since is None else sa.select(*columns).where(since)
        keys: set[str] = set()
        for batch, _ in read_batches(self.engine, query, schema, self.chunk_rows):
            keys.update(_keys(batch, self.table.primary_key))
        return keys

    # -- bronze side ---------------------------------------------------------------------------------
    def bronze_state(self) -> dict[str, tuple[int | None, str]]:
        """Latest (row hash, op) per key in bronze. Reads only the key and metadata columns."""
        if not self.lake.exists(self.bronze):
            return {}
        columns = [*self.table.primary_key, "_extracted_at", "_row_hash", "_op"]
        frame = self.lake.read_arrow(self.bronze, columns=columns, filter=self._not_rejected()).read_all().to_pandas()
        if frame.empty:
            return {}
        keys = frame[list(self.table.primary_key)].astype(str).agg("\x1f".join, axis=1) \
            if len(self.table.primary_key) > 1 else frame[self.table.primary_key[0]].astype(str)
        frame = frame.assign(_key=keys).sort_values("_extracted_at", kind="stable").drop_duplicates("_key", keep="last")
        hashes = frame["_row_hash"].astype("Int64")
        return {k: (None if pd.isna(h) else int(h), op)
                for k, h, op in zip(frame["_key"], hashes, frame["_op"], strict=True)}

    def _not_rejected(self) -> pc.Expression | None:
        """Bronze rows outside rejected batches: a rejected batch's rows were discarded, so the
        source's rows are to be read again, as if bronze had never held them."""
        rejected = gov.rejected_batches(self.lake, self.bronze)
        return ~pc.field("_batch_id").isin(sorted(rejected)) if rejected else None

    def bronze_latest(self, candidates: set[str]) -> dict[str, tuple[int | None, str]]:
        """Latest (row hash, op) in bronze of the ``candidates`` keys bronze has seen (one filtered scan)."""
        # A key that did not convert (NULL) matches nothing in bronze: its row goes in as an insert
        # and the gate quarantines it for its missing key.
        candidates = {k for k in candidates if k is not None}
        if not candidates or not self.lake.exists(self.bronze):
            return {}
        if len(self.table.primary_key) > 1:
            return {k: v for k, v in self.bronze_state().items() if k in candidates}
        k = self.table.primary_key[0]
        # Keys travel as text; the filter needs them in the key column's own type (integer keys …).
        typed = pa.array(sorted(candidates), pa.string()).cast(self.lake.schema(self.bronze).field(k).type)
        wanted = pc.field(k).isin(typed)
        not_rejected = self._not_rejected()
        reader = self.lake.read_arrow(self.bronze, columns=[k, "_extracted_at", "_row_hash", "_op"],
                                      filter=wanted if not_rejected is None else wanted & not_rejected)
        latest: dict[str, tuple[Any, int | None, str]] = {}
        for batch in reader:
            for key, at, digest, op in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(),
                                           batch.column(2).to_pylist(), batch.column(3).to_pylist(), strict=True):
                key = str(key)
                if key not in latest or latest[key][0] <= at:
                    latest[key] = (at, digest, op)
        return {key: (digest, op) for key, (_, digest, op) in latest.items()}


def _later(a: str, b: str) -> bool:
    """Whether watermark text ``a`` is after ``b`` (ISO dates and times compare as text; numbers don't)."""
    try:
        return float(a) > float(b)
    except ValueError:
        return a > b


def _since(job: _Extraction, source: sa.Table, watermark: str | None) -> sa.ColumnElement | None:
    """The rows an incremental batch reads (module doc): from the watermark less the lookback, and
    those whose update time is NULL or below year 1 (zero dates, and on SQLite text that sorts
    before any date). ``None``: every row (no watermark yet)."""
    if watermark is None:
        return None
    update = source.c[job.table.update_column]
    value = _watermark_value(watermark, update)
    temporal = isinstance(value, datetime | date)
    if temporal and job.table.lookback_minutes:
        value = value - timedelta(minutes=job.table.lookback_minutes)
    elif job.table.lookback_minutes and job.table.lookback_minutes != DEFAULT_LOOKBACK_MINUTES:
        # The default lookback is for date and time columns; asking for another on a version number
        # (or text) update column is a registry mistake worth failing on.
        raise ValueError(f"{job.source}: lookback_minutes needs a date or timestamp update column, "
                         f"not {update.type}")
    clauses = [update >= _bound(value, update, job.engine), update.is_(None)]
    if temporal:
        floor = datetime(1, 1, 1) if isinstance(value, datetime) else date(1, 1, 1)
        clauses.append(update < _bound(floor, update, job.engine))
    return sa.or_(*clauses)


def _bound(value, column: sa.Column, engine: sa.Engine):
    """A bound of the update column. SQLite compares its date-time text as text, and SQLAlchemy would
    bind '…:30.000000', which sorts after a stored '…:30': the bound is the whole second as text."""
    if engine.dialect.name != "sqlite" or not isinstance(value, datetime | date):
        return value
    text = value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else value.isoformat()
    return sa.literal(text, sa.String())


def _watermark_value(text: str, column: sa.Column):
    if isinstance(column.type, sa.DateTime):
        return datetime.fromisoformat(text)
    if isinstance(column.type, sa.Date):
        return date.fromisoformat(text)
    if isinstance(column.type, sa.Integer):
        return int(text)
    return text


def ingest_table(system: SourceSystem, table: SourceTable, batch_id: str, lake, url: sa.URL | str,
                 chunk_rows: int = CHUNK_ROWS) -> BatchResult:
    """Extract ``table`` of ``system`` into bronze as batch ``batch_id`` (idempotent: see the module doc).

    Errors name the table and column, never a source value: an unexpected one is raised as
    :class:`ExtractionError` with its message scrubbed."""
    started = time.perf_counter()
    url = sa.make_url(url)
    source_name = f"{system.code}.{table.name}"
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Connecting would create an empty database file instead of failing.
        raise SourceUnavailableError(f"{source_name}: SQLite source {url.database} does not exist")
    # hide_parameters: a failing statement's bound values (watermarks, keys) stay out of messages.
    engine = sa.create_engine(url, hide_parameters=True)
    try:
        job = _Extraction(system, table, batch_id, lake, engine, chunk_rows)
        # Held from the audited-check to the audit: a concurrent extraction of the table waits, then
        # finds the batch audited (the same batch) or plans from what this one wrote (another).
        with lake.lock(job.bronze):
            return _ingest(job, started)
    except (SourceUnavailableError, SchemaDriftError, LockTimeoutError):
        raise
    except Exception as exc:
        raise ExtractionError(f"{source_name}: {type(exc).__name__}: {scrub(str(exc))}") from None
    finally:
        engine.dispose()


def _ingest(job: _Extraction, started: float) -> BatchResult:
    system, table, batch_id, lake = job.system, job.table, job.batch_id, job.lake
    done = gov.audited_batch(lake, batch_id, job.bronze)
    if done is not None:
        log.info("%s: batch %s already in %s (version %s); nothing to do", job.source, batch_id, job.bronze,
                 done["target_version"])
        return _from_audit(job, done)
    if _committed_to_bronze(lake, job.bronze, batch_id):
        return _complete_from_bronze(job, started)
    # A batch of another id that died between its bronze commit and its audit is completed
    # first: otherwise this batch would take its rows for unchanged and lose its count.
    for orphan in _unaudited_batches(lake, job.bronze):
        _complete_from_bronze(_Extraction(system, table, orphan, lake, job.engine, job.chunk_rows), started)
    try:
        source = job.reflect()
    except sa.exc.OperationalError as exc:
        raise SourceUnavailableError(f"{job.source}: cannot reach the source database "
                                     f"({type(exc.orig).__name__})") from None
    read_schema = job.schema(source)
    _report_source_read(job, read_schema)
    job.check_drift(source, read_schema)
    schema = _bronze_types(lake, job.bronze, read_schema)
    watermark = gov.last_watermark(lake, system.code, table.name) if table.load == "incremental" else None
    job.result.watermark_before = watermark
    since = _since(job, source, watermark) if table.load == "incremental" else None
    plan = _plan(job, source, since)
    job.live_after = plan.source_rows
    reader = pa.RecordBatchReader.from_batches(schema, _guarded(job, _batches(job, source, read_schema, schema,
                                                                              watermark, since, plan)))
    try:
        version = lake.write_arrow(job.bronze, reader, mode="append", schema_mode="merge",
                                   metadata={"batch_id": batch_id, "job": "ingest", "source": job.source,
                                             # What _record writes after the commit, kept in the commit so
                                             # that a batch killed before its audit is completed whole.
                                             "source_columns": _json(job.columns_json),
                                             "schema_drift": _json(job.result.drift)},
                                   target_file_size=BRONZE_FILE_BYTES)
    except Exception:
        # delta-rs wraps an error raised inside the stream in its own; raise the original.
        if job.error is not None:
            raise job.error from None
        raise
    job.result.bronze_version = version
    _record(job, started)
    return job.result


@dataclass
class _Plan:
    """What the batch needs to know from bronze, read before the write starts (delta-rs cannot be
    called from inside the stream it is consuming)."""

    known: dict[str, tuple[int | None, str]]
    previous: dict[str, tuple[int | None, str]]
    gone: list[str]
    # Incremental batch on an existing bronze table: the keys the plan saw changed. The read keeps
    # only their rows; a row that arrived between the plan and the read waits for the next batch
    # (its state in bronze was not looked up, so its op could be wrong).
    candidates: set[str] | None = None
    # The source's row count when the plan counted or scanned it (the live rows after the batch).
    source_rows: int | None = None


def _plan(job: _Extraction, source: sa.Table, since: sa.ColumnElement | None) -> _Plan:
    t = job.table
    exists = job.lake.exists(job.bronze)
    known: dict[str, tuple[int | None, str]] = {}
    candidates = None
    if t.load == "incremental" and exists:
        candidates = job.source_keys(source, since)
        known = job.bronze_latest(candidates)
    previous: dict[str, tuple[int | None, str]] = {}
    gone: list[str] = []
    source_rows = None
    if exists and t.load == "snapshot":
        previous = job.bronze_state()
    if exists and t.detect_deletes:
        source_rows = _source_count(job, source)
        if t.load == "snapshot" or _deletes_possible(job, source_rows, candidates or set(), known):
            previous = previous or job.bronze_state()
            alive = {k for k, (_, op) in previous.items() if op != "delete"}
            keys = job.source_keys(source)
            gone = sorted(alive - keys)
            source_rows = len(keys)
    job.live_before = _live_rows(job)
    return _Plan(known=known, previous=previous, gone=gone, candidates=candidates, source_rows=source_rows)


def _live_rows(job: _Extraction) -> int | None:
    last = gov.last_batch(job.lake, job.bronze)
    return None if last is None else last["live_rows"]


def _source_count(job: _Extraction, source: sa.Table) -> int:
    with job.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(source)).scalar_one()


def _deletes_possible(job: _Extraction, count: int, changed: set[str], known: dict) -> bool:
    """Whether the source can have lost rows since the last batch: a key scan of source and bronze
    costs as much as the table, so it runs only when the source's row count says rows went."""
    live = _live_rows(job)
    if live is None:
        return True
    # New keys: never seen, or seen last as deleted (a re-inserted key).
    new = sum(1 for k in changed if k not in known or known[k][1] == "delete")
    return count != live + new


def _guarded(job: _Extraction, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    try:
        yield from batches
    except Exception as exc:
        job.error = exc
        raise


def _report_source_read(job: _Extraction, read_schema: pa.Schema) -> None:
    """Tell the running job's lineage which department table it reads (citylake.lineage.collector)."""
    url = job.engine.url
    lineage.read_source(lineage.SourceRead(
        system=job.system.code, table=job.table.name, backend=url.get_backend_name(), host=url.host, port=url.port,
        database=url.database, schema=job.engine.dialect.default_schema_name,
        columns={f.name: str(f.type) for f in read_schema if f.name not in META_COLUMNS}))


def _bronze_types(lake, bronze: str, read_schema: pa.Schema) -> pa.Schema:
    """The schema written to bronze: a column whose source type changed keeps its bronze type."""
    if not lake.exists(bronze):
        return read_schema
    existing = lake.schema(bronze)
    fields = []
    for f in read_schema:
        if f.name in existing.names and existing.field(f.name).type != f.type:
            fields.append(pa.field(f.name, existing.field(f.name).type))
        else:
            fields.append(f)
    return pa.schema(fields)


def _conform(job: _Extraction, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast drifted columns to their bronze type, refusing any cast that would lose values."""
    if batch.schema == schema:
        return batch
    arrays = []
    for column, target in zip(batch.columns, schema, strict=True):
        if column.type == target.type:
            arrays.append(column)
            continue
        try:
            arrays.append(column.cast(target.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise SchemaDriftError(
                f"{job.source}: column {target.name} changed type to {column.type}; its values do not fit the "
                f"bronze type {target.type} without loss. Migrate bronze (or map the column) before ingesting."
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _batches(job: _Extraction, source: sa.Table, read_schema: pa.Schema, schema: pa.Schema, watermark: str | None,
             since: sa.ColumnElement | None, plan: _Plan) -> Iterator[pa.RecordBatch]:
    t = job.table
    source_schema = pa.schema([f for f in read_schema if f.name not in META_COLUMNS])
    bronze_schema = pa.schema([f for f in schema if f.name not in META_COLUMNS])
    incremental = t.load == "incremental"
    latest = watermark
    # The oldest update time among rows left for the next batch: the watermark must not pass it.
    ceiling = None
    batches = iter(()) if plan.candidates == set() else job.batches(source, source_schema, since)
    for batch, hashes, unconverted in batches:
        if incremental and plan.candidates is None:
            # The table's first batch: every row is an insert, no key needs looking at.
            job.result.rows_read += batch.num_rows
            if batch.num_rows:
                latest = _latest(latest, _text(pc.max(batch.column(t.update_column)).as_py()))
                yield _record_batch(job, schema, _conform(job, batch, bronze_schema), hashes,
                                    ["insert"] * batch.num_rows, unconverted)
            continue
        keys = _keys(batch, t.primary_key)
        if incremental:
            planned = [i for i, k in enumerate(keys) if k in plan.candidates]
            if len(planned) < batch.num_rows:
                late = pc.min(batch.filter(pc.invert(_mask(planned, batch.num_rows))).column(t.update_column))
                ceiling = _earliest(ceiling, _text(late.as_py()))
                batch, hashes, unconverted = _take(planned, batch, hashes, unconverted)
                keys = [keys[i] for i in planned]
            job.result.rows_read += batch.num_rows
            if batch.num_rows:
                latest = _latest(latest, _text(pc.max(batch.column(t.update_column)).as_py()))
            # Rows bronze already holds unchanged (re-read by the lookback, the watermark's own second
            # or a NULL update time) are dropped.
            ops, keep = [], []
            for i, (k, h) in enumerate(zip(keys, hashes.to_pylist(), strict=True)):
                before = plan.known.get(k)
                if before is not None and before[1] != "delete" and before[0] == h:
                    continue
                ops.append("insert" if before is None or before[1] == "delete" else "update")
                keep.append(i)
        else:
            job.result.rows_read += batch.num_rows
            ops, keep = [], []
            for i, (k, h) in enumerate(zip(keys, hashes.to_pylist(), strict=True)):
                before = plan.previous.get(k)
                if before is None or before[1] == "delete":
                    ops.append("insert")
                    keep.append(i)
                elif before[0] != h:
                    ops.append("update")
                    keep.append(i)
        job.result.rows_unchanged += batch.num_rows - len(keep)
        if len(keep) < batch.num_rows:
            batch, hashes, unconverted = _take(keep, batch, hashes, unconverted)
        if batch.num_rows:
            yield _record_batch(job, schema, _conform(job, batch, bronze_schema), hashes, ops, unconverted)
    job.result.watermark_after = latest if ceiling is None or latest is None or _later(ceiling, latest) \
        else ceiling
    if plan.gone:
        yield _tombstones(job, schema, bronze_schema, plan.gone)


def _mask(positions: list[int], n: int) -> pa.Array:
    mask = np.zeros(n, dtype=bool)
    mask[positions] = True
    return pa.array(mask)


def _take(positions: list[int], *arrays):
    index = pa.array(positions, pa.int64())
    return tuple(a.take(index) for a in arrays)


def _text(value) -> str | None:
    """An update time as watermark text (ISO for dates and times); ``None`` for NULL."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _latest(a: str | None, b: str | None) -> str | None:
    return a if b is None else b if a is None else (b if _later(b, a) else a)


def _earliest(a: str | None, b: str | None) -> str | None:
    return a if b is None else b if a is None else (a if _later(b, a) else b)


def _record_batch(job: _Extraction, schema: pa.Schema, batch: pa.RecordBatch, hashes: pa.Array,
                  ops: list[str], unconverted: pa.Array) -> pa.RecordBatch:
    n = batch.num_rows
    arrays = [*batch.columns, pa.array([job.batch_id] * n, pa.string()), pa.array([job.source] * n, pa.string()),
              pa.array([job.extracted_at] * n, type=pa.timestamp("us", tz="UTC")), hashes, pa.array(ops, pa.string()),
              unconverted]
    job.result.rows_written += n
    job.result.inserted += ops.count("insert")
    job.result.updated += ops.count("update")
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _tombstones(job: _Extraction, schema: pa.Schema, source_schema: pa.Schema, keys: list[str]) -> pa.RecordBatch:
    """Delete markers: the key columns and metadata, other columns null."""
    parts = [k.split("\x1f") for k in keys]
    position = {k: i for i, k in enumerate(job.table.primary_key)}
    arrays = []
    for column in source_schema:
        if column.name in position:
            arrays.append(pa.array([p[position[column.name]] for p in parts], pa.string()).cast(column.type))
        else:
            arrays.append(pa.nulls(len(keys), column.type))
    batch = pa.RecordBatch.from_arrays(arrays, schema=source_schema)
    out = _record_batch(job, schema, batch, pa.nulls(len(keys), pa.int64()), ["delete"] * len(keys),
                        pa.nulls(len(keys), pa.string()))
    job.result.deleted += len(keys)
    return out


def _record(job: _Extraction, started: float, recorded: frozenset[str] = frozenset()) -> None:
    """Drift, source schema and audit of the batch, in that order; ``recorded`` names the governance
    tables that already hold the batch's rows (a run killed between these commits)."""
    r = job.result
    r.seconds = time.perf_counter() - started
    at = gov.now()
    if gov.SCHEMA_DRIFT not in recorded:
        gov.append(job.lake, gov.SCHEMA_DRIFT, [{"system": r.system, "source_table": r.source_table, **d,
                                                 "batch_id": r.batch_id, "detected_at": at} for d in r.drift])
    if gov.SOURCE_SCHEMA not in recorded:
        gov.append(job.lake, gov.SOURCE_SCHEMA, [{"system": r.system, "source_table": r.source_table,
                                                  "columns_json": _json(job.columns_json), "batch_id": r.batch_id,
                                                  "recorded_at": at}])
    _audit(job, at)
    log.info("%s -> %s: batch %s read %d, wrote %d (+%d ~%d -%d), unchanged %d, version %s", job.source, job.bronze,
             r.batch_id, r.rows_read, r.rows_written, r.inserted, r.updated, r.deleted, r.rows_unchanged,
             r.bronze_version)


def _audit(job: _Extraction, at: datetime) -> None:
    r = job.result
    gov.append(job.lake, gov.BATCH_AUDIT, [{
        "batch_id": r.batch_id, "stage": "extract", "system": r.system, "source_table": r.source_table,
        "target_table": r.bronze_table, "load_mode": r.load_mode, "rows_read": r.rows_read,
        "rows_unchanged": r.rows_unchanged, "rows_written": r.rows_written, "inserted": r.inserted,
        "updated": r.updated, "deleted": r.deleted,
        "live_rows": job.live_after if job.live_after is not None else (job.live_before or 0) + r.inserted - r.deleted,
        "watermark_before": r.watermark_before,
        "watermark_after": r.watermark_after, "target_version": r.bronze_version,
        "started_at": job.extracted_at, "committed_at": at}])


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _committed_to_bronze(lake, bronze: str, batch_id: str) -> bool:
    if not lake.exists(bronze):
        return False
    return any(_commit_batch(h) == batch_id for h in lake.history(bronze))


def _unaudited_batches(lake, bronze: str) -> list[str]:
    """Batches committed to bronze by ingestion that have no audit row, oldest first."""
    if not lake.exists(bronze):
        return []
    audited = {r["batch_id"] for r in gov.read(lake, gov.BATCH_AUDIT, target_table=bronze)}
    committed = [_commit_batch(h) for h in reversed(lake.history(bronze))]
    return [b for b in dict.fromkeys(committed) if b is not None and b not in audited]


def _commit_batch(entry: dict) -> str | None:
    for where in (entry, entry.get("customMetadata") or {}, entry.get("userMetadata") or {}):
        if isinstance(where, dict) and "batch_id" in where:
            return where["batch_id"]
    return None


def _complete_from_bronze(job: _Extraction, started: float) -> BatchResult:
    """A batch whose bronze commit landed but whose audit did not: count it from bronze and record it
    (source schema, drift and audit) as its own run would have, from what its commit kept."""
    rows = job.lake.read_arrow(job.bronze, filter=pc.field("_batch_id") == job.batch_id).read_all()
    job.live_before = _live_rows(job)
    r = job.result
    ops = rows.column("_op").to_pylist()
    r.rows_written = rows.num_rows
    r.inserted, r.updated, r.deleted = ops.count("insert"), ops.count("update"), ops.count("delete")
    r.rows_read = r.rows_written - r.deleted
    r.watermark_before = gov.last_watermark(job.lake, job.system.code, job.table.name)
    r.watermark_after = r.watermark_before
    if job.table.update_column and rows.num_rows:
        r.watermark_after = _latest(r.watermark_before, _text(pc.max(rows.column(job.table.update_column)).as_py()))
    r.bronze_version = job.lake.version(job.bronze)
    job.extracted_at = rows.column("_extracted_at")[0].as_py() if rows.num_rows else job.extracted_at
    log.warning("%s: batch %s was committed to bronze but not audited; audited it now", job.source, job.batch_id)
    commit = next(h for h in job.lake.history(job.bronze) if _commit_batch(h) == job.batch_id)
    if "source_columns" in commit:
        job.columns_json = json.loads(commit["source_columns"])
        r.drift = json.loads(commit["schema_drift"])
        _record(job, started, frozenset(t for t in (gov.SCHEMA_DRIFT, gov.SOURCE_SCHEMA)
                                        if gov.read(job.lake, t, batch_id=job.batch_id)))
    else:
        # A commit written before the commit kept the source columns: the next batch records them.
        _audit(job, gov.now())
        r.seconds = time.perf_counter() - started
    return r


def _from_audit(job: _Extraction, row: dict[str, Any]) -> BatchResult:
    r = job.result
    for name in ("rows_read", "rows_unchanged", "rows_written", "inserted", "updated", "deleted",
                 "watermark_before", "watermark_after"):
        setattr(r, name, row[name])
    r.bronze_version = row["target_version"]
    r.skipped = True
    return r
