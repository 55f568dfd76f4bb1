"""问题数据反馈表 ``governance.quality_issue``: one row per (record, failed rule), for the department
that owns the record.

An issue opens as 待整改 (open) when a batch brings a record that fails a rule, and closes by itself
as 已整改 (fixed) when a later batch brings the same record without that failure (or the
department deletes the record). Values are shown masked.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from citylake.catalog.masking import mask
from citylake.sources.registry import SourceSystem, SourceTable

QUALITY_ISSUE = "governance.quality_issue"
OPEN = "待整改"
FIXED = "已整改"
DISPUTED = "异议"
CONFIRMED = "已确认"
STILL_OPEN = (OPEN, DISPUTED)

SCHEMA = pa.schema([
    ("issue_id", pa.string()), ("department", pa.string()), ("system", pa.string()),
    ("source_table", pa.string()), ("record_key", pa.string()), ("field", pa.string()),
    ("standard_field", pa.string()), ("masked_value", pa.string()), ("rule", pa.string()),
    ("description", pa.string()), ("severity", pa.string()), ("batch_id", pa.string()),
    ("detected_at", pa.timestamp("us", tz="UTC")), ("status", pa.string()), ("resolved_batch_id", pa.string()),
    ("resolved_at", pa.timestamp("us", tz="UTC")), ("dispute_reason", pa.string()),
])


def issue_id(source_table: str, record_key: str, rule: str, field: str, batch_id: str) -> str:
    text = "\x1f".join((source_table, record_key, rule, field, batch_id))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def open_issues(lake, source_table: str) -> pd.DataFrame:
    if not lake.exists(QUALITY_ISSUE):
        return pd.DataFrame(columns=SCHEMA.names)
    reader = lake.read_arrow(QUALITY_ISSUE, filter=(pc.field("source_table") == source_table)
                             & pc.field("status").isin(list(STILL_OPEN)))
    return reader.read_all().to_pandas()


def record_findings(lake, system: SourceSystem, table: SourceTable, batch_id: str, checked: pd.DataFrame,
                    deleted_keys: list[str]) -> dict[str, int]:
    """Open issues for the batch's failures, close the ones its records no longer fail; one commit."""
    source_table = f"{system.code}.{table.name}"
    key = table.primary_key[0]
    standard = {c: f for c, f, _ in table.mapped_columns()}
    now = datetime.now(UTC)
    failing: dict[tuple[str, str, str], dict[str, Any]] = {}
    for record_key, row_errors, row_warnings, row in zip(checked[key].astype(str), checked["_errors"],
                                                         checked["_warnings"], checked.to_dict("records"),
                                                         strict=True):
        for severity, findings in (("error", row_errors), ("warning", row_warnings)):
            for finding in findings:
                field = ",".join(finding["columns"])
                value_column = finding["columns"][-1]
                failing[(record_key, finding["rule"], field)] = {
                    "department": system.owner, "system": system.code, "source_table": source_table,
                    "record_key": record_key, "field": field, "standard_field": standard.get(value_column),
                    "masked_value": mask(standard.get(value_column, ""), row.get(value_column)),
                    "rule": finding["rule"], "description": finding["message"], "severity": severity,
                    "batch_id": batch_id, "detected_at": now, "status": OPEN, "resolved_batch_id": None,
                    "resolved_at": None, "dispute_reason": None,
                }
    seen = set(checked[key].astype(str)) | {str(k) for k in deleted_keys}
    existing = open_issues(lake, source_table)
    changes = []
    still_open = set()
    for issue in existing.astype(object).where(existing.notna(), None).to_dict("records"):
        ident = (issue["record_key"], issue["rule"], issue["field"])
        if ident in failing:
            still_open.add(ident)
        elif issue["record_key"] in seen and issue["status"] == OPEN:
            changes.append({**issue, "status": FIXED, "resolved_batch_id": batch_id, "resolved_at": now})
    new = [{"issue_id": issue_id(source_table, *ident, batch_id), **values}
           for ident, values in failing.items() if ident not in still_open]
    rows = changes + new
    if rows:
        lake.merge_arrow(QUALITY_ISSUE, pa.Table.from_pylist(rows, schema=SCHEMA), keys=["issue_id"],
                         metadata={"batch_id": batch_id, "job": "quality_gate"})
    return {"opened": len(new), "fixed": len(changes), "still_open": len(still_open)}
