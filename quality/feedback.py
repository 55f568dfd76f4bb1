"""问题数据反馈表 ``governance.quality_issue``: one row per (record, failed rule), for the department
that owns the record.

An issue opens as 待整改 (open) when a batch brings a record that fails a rule, and closes by itself
as 已整改 (fixed) when a later batch brings the same record without that failure (or the
department deletes the record). A department may dispute an open issue (异议, see
:mod:`quality.disputes`); a dispute the bureau upholds turns the issue into 已确认 (confirmed), an
exemption: the same (record, rule, field) is not reported again. Values are shown masked.

Every read-check-write of this table (the gate closing issues, a dispute step) holds the table's
writer lock, so a dispute raised while a batch is being gated is never overwritten by the gate's
older copy of the row, nor the other way round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
STATUSES = (OPEN, FIXED, DISPUTED, CONFIRMED)
STILL_OPEN = (OPEN, DISPUTED)

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([
    ("issue_id", pa.string()), ("department", pa.string()), ("system", pa.string()),
    ("source_table", pa.string()), ("record_key", pa.string()), ("field", pa.string()),
    ("standard_field", pa.string()), ("masked_value", pa.string()), ("rule", pa.string()),
    ("description", pa.string()), ("severity", pa.string()), ("batch_id", pa.string()),
    ("detected_at", _TS), ("status", pa.string()), ("resolved_batch_id", pa.string()),
    # resolved_at: when a batch fixed the record (已整改) or the bureau upheld a dispute (已确认).
    ("resolved_at", _TS), ("dispute_reason", pa.string()),
    # The dispute flow (quality.disputes): its current stage (异议提出 / 标注 / 归档), who raised it
    # and when, who handled it for the bureau, when it was decided and the bureau's reply.
    ("dispute_stage", pa.string()), ("dispute_raised_by", pa.string()), ("dispute_raised_at", _TS),
    ("handled_by", pa.string()), ("dispute_decided_at", _TS), ("dispute_reply", pa.string()),
])

# Column headers for departments (exports, reports).
HEADERS_ZH = {
    "issue_id": "问题编号", "department": "部门", "system": "系统", "source_table": "源表",
    "record_key": "记录主键", "field": "字段", "standard_field": "标准字段", "masked_value": "值(脱敏)",
    "rule": "规则编号", "description": "问题描述", "severity": "严重程度", "batch_id": "发现批次",
    "detected_at": "发现时间", "status": "状态", "resolved_batch_id": "整改批次", "resolved_at": "办结时间",
    "dispute_reason": "异议理由", "dispute_stage": "异议阶段", "dispute_raised_by": "异议提出人",
    "dispute_raised_at": "异议提出时间", "handled_by": "处理人", "dispute_decided_at": "异议处理时间",
    "dispute_reply": "处理意见",
}
SEVERITY_ZH = {"error": "错误", "warning": "警告"}


def issue_id(source_table: str, record_key: str, rule: str, field: str, batch_id: str) -> str:
    text = "\x1f".join((source_table, record_key, rule, field, batch_id))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# ---------------------------------------------------------------------------------------- reading

def read_issue_table(lake, filter: pc.Expression | None = None) -> pa.Table:
    """Issues matching ``filter``, with every column of :data:`SCHEMA` in its order.

    Tables written before a column existed (the dispute columns) read as if it were null, so
    filter only on the original columns (``issue_id`` … ``dispute_reason``).
    """
    if not lake.exists(QUALITY_ISSUE):
        return SCHEMA.empty_table()
    table = lake.read_arrow(QUALITY_ISSUE, filter=filter).read_all()
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in SCHEMA]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def read_issues(lake, filter: pc.Expression | None = None) -> pd.DataFrame:
    """:func:`read_issue_table` as a pandas frame."""
    return read_issue_table(lake, filter).to_pandas()


def open_issues(lake, source_table: str) -> pd.DataFrame:
    """The source table's issues still waiting for the department or the bureau (待整改, 异议)."""
    return read_issues(lake, (pc.field("source_table") == source_table) & pc.field("status").isin(list(STILL_OPEN)))


def exemptions(lake, source_table: str) -> set[tuple[str, str, str]]:
    """(record_key, rule, field) of the source table's confirmed issues (已确认): disputes the bureau
    upheld, so the rule does not apply to that record and its failure is neither reported again
    nor, at the gate, a reason to keep the row out of silver."""
    confirmed = read_issue_table(lake, (pc.field("source_table") == source_table) & (pc.field("status") == CONFIRMED))
    return set(zip(*(confirmed.column(c).to_pylist() for c in ("record_key", "rule", "field")), strict=True))


# ---------------------------------------------------------------------------------------- writing

@contextmanager
def issue_lock(lake) -> Iterator[None]:
    """The writer lock of ``governance.quality_issue``: hold it around a read-check-write."""
    with lake.lock(QUALITY_ISSUE):
        yield


def write_issues(lake, rows: list[Mapping[str, Any]], metadata: Mapping[str, Any]) -> None:
    """Upsert issue rows by ``issue_id`` in one commit; call it inside :func:`issue_lock` (the lake's
    lock is reentrant within a thread). A table written before the dispute columns existed gains them."""
    source = pa.Table.from_pylist([dict(r) for r in rows], schema=SCHEMA)
    lake.merge_arrow(QUALITY_ISSUE, source, keys=["issue_id"], metadata=metadata, schema_mode="merge")


def record_findings(lake, system: SourceSystem, table: SourceTable, batch_id: str, checked: pd.DataFrame,
                    deleted_keys: list[str], owns_rule: Callable[[str], bool] = lambda rule: True,
                    job: str = "quality_gate") -> dict[str, int]:
    """Open issues for the batch's failures, close the ones its records no longer fail; one commit.

    ``checked`` is :func:`quality.row_checks.check_frame`'s output. A failure the bureau exempted
    (an upheld dispute, :func:`exemptions`) opens nothing and is counted as ``exempted``. Only open
    issues of rules for which ``owns_rule`` is true can be closed: the gate does not close what the
    cross-source checks found, nor they what the gate found.
    """
    source_table = f"{system.code}.{table.name}"
    key = table.primary_key[0]
    standard = {c: f for c, f, _ in table.mapped_columns()}
    now = datetime.now(UTC)
    failing: dict[tuple[str, str, str], dict[str, Any]] = {}
    has_findings = pd.Series([bool(e or w) for e, w in zip(checked["_errors"], checked["_warnings"], strict=True)],
                             index=checked.index, dtype=bool)
    flagged = checked.loc[has_findings]
    columns = {c: flagged[c].to_numpy(dtype=object) for c in flagged.columns}  # a value per finding, by position
    for j, (record_key, row_errors, row_warnings) in enumerate(zip(flagged[key].astype(str), flagged["_errors"],
                                                                   flagged["_warnings"], strict=True)):
        for severity, findings in (("error", row_errors), ("warning", row_warnings)):
            for finding in findings:
                field = ",".join(finding["columns"])
                value_column = finding["columns"][-1]
                failing[(record_key, finding["rule"], field)] = {
                    "department": system.owner, "system": system.code, "source_table": source_table,
                    "record_key": record_key, "field": field, "standard_field": standard.get(value_column),
                    "masked_value": mask(standard.get(value_column, ""),
                                         columns[value_column][j] if value_column in columns else None),
                    "rule": finding["rule"], "description": finding["message"], "severity": severity,
                    "batch_id": batch_id, "detected_at": now, "status": OPEN,
                }
    seen = set(checked[key].astype(str)) | {str(k) for k in deleted_keys}
    with issue_lock(lake):
        existing = read_issues(lake, (pc.field("source_table") == source_table)
                               & pc.field("status").isin([*STILL_OPEN, CONFIRMED]))
        changes = []
        still_open = set()
        exempt = set()
        for issue in existing.astype(object).where(existing.notna(), None).to_dict("records"):
            if not owns_rule(issue["rule"]):
                continue
            ident = (issue["record_key"], issue["rule"], issue["field"])
            if issue["status"] == CONFIRMED:
                exempt.add(ident)
            elif ident in failing:
                still_open.add(ident)
            elif issue["record_key"] in seen and issue["status"] == OPEN:
                changes.append({**issue, "status": FIXED, "resolved_batch_id": batch_id, "resolved_at": now})
        new = [{"issue_id": issue_id(source_table, *ident, batch_id), **values}
               for ident, values in failing.items() if ident not in still_open and ident not in exempt]
        rows = changes + new
        if rows:
            write_issues(lake, rows, metadata={"batch_id": batch_id, "job": job})
    return {"opened": len(new), "fixed": len(changes), "still_open": len(still_open),
            "exempted": len(exempt & failing.keys())}
