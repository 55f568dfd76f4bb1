"""The governance tables ingestion writes: batch audit, source schemas and schema drift.

They are small Delta tables in the ``governance`` layer, appended to after each bronze commit and
read whole (a row per batch and table). A table's watermark is its latest extraction audit's
``watermark_after``: the audit and the watermark are one commit, so no crash can keep one without
the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

BATCH_AUDIT = "governance.batch_audit"
SOURCE_SCHEMA = "governance.source_schema"
SCHEMA_DRIFT = "governance.schema_drift"
# The audit stage and batch-id prefix of a rejected bronze batch (citylake.quality.held_batches).
REJECT = "reject"
REJECT_PREFIX = "reject:"

_TS = pa.timestamp("us", tz="UTC")
SCHEMAS = {
    BATCH_AUDIT: pa.schema([
        ("batch_id", pa.string()), ("stage", pa.string()), ("system", pa.string()), ("source_table", pa.string()),
        ("target_table", pa.string()), ("load_mode", pa.string()), ("rows_read", pa.int64()),
        ("rows_unchanged", pa.int64()), ("rows_written", pa.int64()), ("inserted", pa.int64()),
        ("updated", pa.int64()), ("deleted", pa.int64()), ("live_rows", pa.int64()), ("watermark_before", pa.string()),
        ("watermark_after", pa.string()), ("target_version", pa.int64()), ("started_at", _TS),
        ("committed_at", _TS),
    ]),
    SOURCE_SCHEMA: pa.schema([
        ("system", pa.string()), ("source_table", pa.string()), ("columns_json", pa.string()),
        ("batch_id", pa.string()), ("recorded_at", _TS),
    ]),
    SCHEMA_DRIFT: pa.schema([
        ("system", pa.string()), ("source_table", pa.string()), ("column", pa.string()), ("change", pa.string()),
        ("old_type", pa.string()), ("new_type", pa.string()), ("batch_id", pa.string()), ("detected_at", _TS),
    ]),
}


def now() -> datetime:
    return datetime.now(UTC)


def append(lake, table: str, rows: list[Mapping[str, Any]]) -> None:
    if rows:
        lake.write_arrow(table, pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMAS[table]))


def read(lake, table: str, **equal: str | None) -> list[dict[str, Any]]:
    """Rows of a governance table whose columns equal the given values (``None``: is null).

    The condition is pushed down to the scan, so files and row groups whose statistics exclude it are
    not read: the audit of one table is a small part of a history that grows every round."""
    if not lake.exists(table):
        return []
    condition = None
    for column, value in equal.items():
        term = pc.field(column).is_null() if value is None else pc.field(column) == value
        condition = term if condition is None else condition & term
    return lake.read_arrow(table, filter=condition).read_all().to_pylist()


def audited_batch(lake, batch_id: str, target_table: str) -> dict[str, Any] | None:
    found = read(lake, BATCH_AUDIT, batch_id=batch_id, target_table=target_table)
    return found[-1] if found else None


def last_batch(lake, target_table: str) -> dict[str, Any] | None:
    rows = read(lake, BATCH_AUDIT, target_table=target_table)
    return max(rows, key=lambda r: r["committed_at"]) if rows else None


def last_watermark(lake, system: str, source_table: str) -> str | None:
    """The watermark of an incremental table: ``watermark_after`` of its latest extraction audit that
    has one (a batch may move it back, to a row it left for the next batch), or of a later rejection
    (stage ``reject``, citylake.quality.held_batches), which moves it back to where the rejected
    batch started: None, every row, when that was the first load."""
    return watermark_of(read(lake, BATCH_AUDIT, system=system, source_table=source_table))


def watermark_of(audits: list[Mapping[str, Any]]) -> str | None:
    """:func:`last_watermark` from one table's audit rows (any stages) already read."""
    rows = [r for r in audits
            if (r["stage"] == "extract" and r["watermark_after"] is not None) or r["stage"] == REJECT]
    return max(rows, key=lambda r: r["committed_at"])["watermark_after"] if rows else None


def rejected_batches(lake, bronze_table: str) -> set[str]:
    """The bronze batches of a table that were rejected (discarded): extraction does not count their
    rows as held by bronze, so they are read again from the source."""
    return {r["batch_id"].removeprefix(REJECT_PREFIX) for r in read(lake, BATCH_AUDIT, stage=REJECT,
                                                                     target_table=bronze_table)}


def last_source_columns(lake, system: str, source_table: str) -> dict[str, str] | None:
    rows = read(lake, SOURCE_SCHEMA, system=system, source_table=source_table)
    return json.loads(max(rows, key=lambda r: r["recorded_at"])["columns_json"]) if rows else None
