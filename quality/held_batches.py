"""Batches the gate refused (已退回): held until the bureau releases or rejects them.

检测不达标的数据由部门治理后再次汇聚: a bronze batch whose share of rows with errors passes its table's
``error_threshold`` is not promoted. Its issues go to the department (citylake.quality.feedback) and
the batch is held in ``governance.held_batch``; the table's later batches wait behind it, because
they must not overtake it into silver (an older row would then overwrite a newer one). The hold
ends with a decision, never by itself (``citylake batch list | release | reject``):

- **released** (已放行): promoted as it is, by whom and why: the gate runs without the threshold, so
  its rows without errors reach silver and the others quarantine, audited like any gated batch;
- **rejected** (已驳回): discarded. One audit row (stage ``reject``) accounts for every row of the
  batch and moves the table's watermark back to where the batch started, and extraction stops
  counting the batch's rows as held by bronze (citylake.ingest.governance.rejected_batches), so
  the next extraction reads the department's rows again: the corrected ones and the unchanged ones.

Nothing is lost either way: a batch's rows are promoted + deleted + quarantined, or all rejected.
Each decision is audited first and its status written second, and a decision already audited is
only completed when repeated, so a crash in between is mended by running the command again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from citylake.catalog.access_log import current_user
from citylake.ingest import governance as gov
from citylake.ingest.redact import scrub_numbers
from citylake.sources.registry import SourceSystem, SourceTable, load_registry

HELD_BATCH = "governance.held_batch"
HELD, RELEASED, REJECTED = "held", "released", "rejected"
STATUS_LABELS = {HELD: "已退回", RELEASED: "已放行", REJECTED: "已驳回"}

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([
    ("batch_id", pa.string()), ("system", pa.string()), ("source_table", pa.string()),
    ("bronze_table", pa.string()), ("silver_table", pa.string()), ("department", pa.string()),
    ("status", pa.string()), ("rows", pa.int64()), ("rows_with_errors", pa.int64()),
    ("error_rate", pa.float64()), ("error_threshold", pa.float64()), ("issues_opened", pa.int64()),
    ("held_at", _TS), ("decided_by", pa.string()), ("decided_at", _TS), ("reason", pa.string()),
    ("rows_promoted", pa.int64()), ("rows_quarantined", pa.int64()), ("rows_deleted", pa.int64()),
    ("rows_rejected", pa.int64()), ("watermark_rewound_to", pa.string()),
])


class HeldBatchError(ValueError):
    """A decision on a batch that cannot be taken (unknown, not held, no reason)."""


def hold(lake, system: SourceSystem, table: SourceTable, batch_id: str, *, rows: int, rows_with_errors: int,
         error_rate: float, error_threshold: float, issues_opened: int) -> None:
    """Hold a refused batch (called by citylake.quality.gate); holding it again changes nothing."""
    with lake.lock(HELD_BATCH):
        if _row(lake, batch_id) is not None:
            return
        bronze, silver = table.bronze_name(system.code), table.silver_name(system.code)
        _write(lake, {"batch_id": batch_id, "system": system.code, "source_table": table.name,
                      "bronze_table": bronze, "silver_table": silver, "department": system.owner, "status": HELD,
                      "rows": rows, "rows_with_errors": rows_with_errors, "error_rate": error_rate,
                      "error_threshold": error_threshold, "issues_opened": issues_opened, "held_at": gov.now()})


def held_batch(lake, batch_id: str) -> dict[str, Any] | None:
    """The hold of a bronze batch (any status), or None."""
    return _row(lake, batch_id)


def waiting_on(lake, bronze_table: str) -> dict[str, Any] | None:
    """The batch the table waits on: its held batch still undecided, or None."""
    if not lake.exists(HELD_BATCH):
        return None
    found = lake.read_arrow(HELD_BATCH, filter=(pc.field("bronze_table") == bronze_table)
                            & (pc.field("status") == HELD)).read_all().to_pylist()
    return found[0] if found else None


def list_held(lake, status: str | None = None, system: str | None = None) -> list[dict[str, Any]]:
    """Held batches, oldest first, filtered by status (held/released/rejected) and system code."""
    if status is not None and status not in STATUS_LABELS:
        raise HeldBatchError(f"unknown status {status!r}: one of {', '.join(STATUS_LABELS)}")
    if not lake.exists(HELD_BATCH):
        return []
    condition = None
    for column, value in (("status", status), ("system", system)):
        if value is not None:
            term = pc.field(column) == value
            condition = term if condition is None else condition & term
    rows = lake.read_arrow(HELD_BATCH, filter=condition).read_all().to_pylist()
    return sorted(rows, key=lambda r: r["held_at"])


def release(lake, batch_id: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """Promote a held batch as it is (已放行); returns its row, with the gate's counts."""
    from citylake.quality.gate import gate_batch

    held, system, table, reason = _decidable(lake, batch_id, reason)
    result = gate_batch(lake, system, table, batch_id, error_threshold=None)
    return _decide(lake, held, RELEASED, reason, by, rows_promoted=result.promoted,
                   rows_quarantined=result.quarantined, rows_deleted=result.deleted)


def reject(lake, batch_id: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """Discard a held batch (已驳回) and move the table's watermark back to where it started."""
    held, system, table, reason = _decidable(lake, batch_id, reason)
    bronze = held["bronze_table"]
    extracted = gov.audited_batch(lake, batch_id, bronze)
    if extracted is None:
        raise HeldBatchError(f"batch {batch_id} has no extraction audit in {gov.BATCH_AUDIT}")
    audit_id = f"{gov.REJECT_PREFIX}{batch_id}"
    with lake.lock(gov.BATCH_AUDIT):
        if gov.audited_batch(lake, audit_id, bronze) is None:
            now = gov.now()
            gov.append(lake, gov.BATCH_AUDIT, [{
                "batch_id": audit_id, "stage": gov.REJECT, "system": system.code, "source_table": table.name,
                "target_table": bronze, "load_mode": table.load, "rows_read": extracted["rows_written"],
                "rows_unchanged": extracted["rows_written"], "rows_written": 0, "inserted": 0, "updated": 0,
                "deleted": 0, "live_rows": None, "watermark_before": gov.last_watermark(lake, system.code, table.name),
                "watermark_after": extracted["watermark_before"], "target_version": lake.version(bronze),
                "started_at": now, "committed_at": now}])
    return _decide(lake, held, REJECTED, reason, by, rows_rejected=extracted["rows_written"],
                   watermark_rewound_to=extracted["watermark_before"])


def _decidable(lake, batch_id: str, reason: str) -> tuple[dict[str, Any], SourceSystem, SourceTable, str]:
    held = _row(lake, batch_id)
    if held is None:
        raise HeldBatchError(f"batch {batch_id} is not held (citylake batch list shows the held batches)")
    if held["status"] != HELD:
        raise HeldBatchError(f"batch {batch_id} was already {held['status']} ({STATUS_LABELS[held['status']]}) "
                             f"by {held['decided_by']} at {_when(held['decided_at'])}")
    if reason is None or not reason.strip():
        raise HeldBatchError("a reason is required: it is kept with the decision")
    system = load_registry()[held["system"]]
    return held, system, system.table(held["source_table"]), scrub_numbers(reason.strip())


def _decide(lake, held: dict[str, Any], status: str, reason: str, by: str | None, **counts: Any) -> dict[str, Any]:
    row = {**held, **counts, "status": status, "reason": reason, "decided_by": by or current_user(),
           "decided_at": gov.now()}
    with lake.lock(HELD_BATCH):
        _write(lake, row)
    return row


def _row(lake, batch_id: str) -> dict[str, Any] | None:
    if not lake.exists(HELD_BATCH):
        return None
    found = lake.read_arrow(HELD_BATCH, filter=pc.field("batch_id") == batch_id).read_all().to_pylist()
    return found[0] if found else None


def _write(lake, row: dict[str, Any]) -> None:
    lake.merge_arrow(HELD_BATCH, pa.Table.from_pylist([row], schema=SCHEMA), keys=["batch_id"],
                     metadata={"batch_id": row["batch_id"], "job": "held_batches"})


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "?"
