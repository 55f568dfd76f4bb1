"""校验规则结果 ``governance.rule_result``: per batch, every check of the table with the elements it
evaluated and the elements that failed it (GB/T 36344's X = A/B, A = evaluated - failed).

Row checks are counted from the gate's findings; the batch checks (row-count change against the
previous batch, freshness of the newest change) are evaluated here from ``governance.batch_audit``
and the batch itself. The Great Expectations suite of the same table reports the same failures
(tested), so these counts are what the scores and reports are built on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from citylake.ingest import governance as gov
from citylake.quality.checks import Check, finding_check_id, finding_kind
from citylake.quality.row_checks import column_presence
from citylake.schemas.standards import standard_field
from citylake.sources.registry import SourceSystem, SourceTable

RULE_RESULT = "governance.rule_result"
# Department systems keep local (Beijing) time without a zone.
SOURCE_TIME_ZONE = ZoneInfo("Asia/Shanghai")

SCHEMA = pa.schema([
    ("batch_id", pa.string()), ("department", pa.string()), ("system", pa.string()), ("source_table", pa.string()),
    ("check_id", pa.string()), ("kind", pa.string()), ("indicator_code", pa.string()), ("indicator", pa.string()),
    ("check_name", pa.string()), ("criticality", pa.string()), ("columns", pa.list_(pa.string())),
    ("standard_field", pa.string()), ("evaluated", pa.int64()), ("failed", pa.int64()), ("observed", pa.string()),
    ("evaluated_at", pa.timestamp("us", tz="UTC")),
])


@dataclass(frozen=True)
class BatchCheck:
    evaluated: int
    failed: int
    observed: str


def present(series: pd.Series) -> pd.Series:
    """Has a value: not null and not blank text (a blank is as missing as a null)."""
    return pd.Series(column_presence(series), index=series.index)


class Presence(dict):
    """:func:`present` of each column of a frame, computed once on first use."""

    def __init__(self, frame: pd.DataFrame):
        super().__init__()
        self.frame = frame

    def __missing__(self, column: str) -> pd.Series:
        self[column] = present(self.frame[column])
        return self[column]


def failing_rows(checked: pd.DataFrame, table: SourceTable) -> Counter:
    """Rows failing each check, by check id (a row counts once per check)."""
    validators = {c: standard_field(f).validator for c, f, _ in table.mapped_columns()}
    counts: Counter = Counter()
    for column in ("_errors", "_warnings"):
        for findings in checked[column]:
            if not findings:
                continue
            seen = set()
            for f in findings:
                columns = tuple(f["columns"])
                kind = finding_kind(f["rule"], validators.get(columns[-1]))
                seen.add(finding_check_id(table.name, kind, columns))
            counts.update(seen)
    return counts


def evaluated_rows(check: Check, frame: pd.DataFrame, checked: pd.DataFrame, presence: Presence | None = None,
                   judged: dict[str, int] | None = None) -> int:
    """How many elements ``check`` evaluated in the batch (``frame``: the rows as extracted).
    ``judged``: the rows each check function judged, as :func:`citylake.quality.row_checks.check_frame`
    counted them (its rule's filter and the column's own validity decide)."""
    if check.spec.function:
        if judged is None or check.check_id not in judged:
            raise ValueError(f"{check.check_id}: check_frame's count of the rows it judged is needed")
        return judged[check.check_id]
    presence = Presence(frame) if presence is None else presence
    if check.kind in ("key_present", "key_unique", "update_time_present", "convertible"):
        return len(frame)  # judged on every row (the _unconverted column may be absent: all converted)
    if check.kind == "required":
        if not check.party_columns:
            return len(frame)
        named = [presence[c] for c in check.party_columns if c in frame.columns]
        return int(pd.concat(named, axis=1).any(axis=1).sum()) if named else 0
    if check.kind == "agrees_with_id":
        # Agreement is judged only where both values are there and valid on their own.
        both = presence[check.columns[0]] & presence[check.columns[1]]
        own_error = np.zeros(len(frame), dtype=bool)
        for i in np.flatnonzero(checked["_errors"].map(bool).to_numpy()):  # the few rows with errors
            own_error[i] = any(len(f["columns"]) == 1 and f["columns"][0] in check.columns
                               for f in checked["_errors"].iat[i])
        return int((both.to_numpy() & ~own_error).sum())
    return int(presence[check.columns[0]].sum()) if check.columns[0] in frame.columns else 0


def volume_check(lake, bronze: str, bronze_batch_id: str, max_change: float) -> BatchCheck:
    """The table's live row count after this batch against after the previous one."""
    history = sorted(gov.read(lake, gov.BATCH_AUDIT, stage="extract", target_table=bronze),
                     key=lambda r: r["committed_at"])
    ids = [r["batch_id"] for r in history]
    if bronze_batch_id not in ids or ids.index(bronze_batch_id) == 0:
        return BatchCheck(0, 0, "first batch: no previous row count")
    i = ids.index(bronze_batch_id)
    before, after = history[i - 1]["live_rows"] or 0, history[i]["live_rows"] or 0
    change = (after - before) / before if before else (0.0 if after == 0 else float("inf"))
    return BatchCheck(1, int(abs(change) > max_change), f"{before} -> {after} rows ({change:+.1%}, allowed "
                                                        f"±{max_change:.0%})" if before else f"{before} -> {after} rows")


def newest_change_age(values: pd.Series, extracted_at: datetime) -> timedelta | None:
    """Age of the newest change in ``values`` (the table's update column, local time) at extraction."""
    stamps = pd.to_datetime(values, errors="coerce", format="mixed").dropna()
    if stamps.empty:
        return None
    newest = stamps.max().to_pydatetime()
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=SOURCE_TIME_ZONE)
    return extracted_at - newest


def freshness_check(values: pd.Series, extracted_at: datetime, max_days: float) -> BatchCheck:
    age = newest_change_age(values, extracted_at)
    if age is None:
        return BatchCheck(0, 0, "no change times in the batch")
    days = age.total_seconds() / 86400
    return BatchCheck(1, int(days > max_days), f"newest change {days:.1f} days before extraction "
                                               f"(allowed {max_days:g})")


def result_rows(system: SourceSystem, table: SourceTable, batch_id: str, checks: list[Check],
                counts: dict[str, tuple[int, int, str | None]]) -> list[dict]:
    now = gov.now()
    rows = []
    for check in checks:
        evaluated, failed, observed = counts[check.check_id]
        spec = check.spec
        rows.append({
            "batch_id": batch_id, "department": system.owner, "system": system.code,
            "source_table": f"{system.code}.{table.name}", "check_id": check.check_id, "kind": check.kind,
            "indicator_code": spec.code, "indicator": spec.indicator, "check_name": spec.name_zh,
            "criticality": check.criticality, "columns": list(check.columns), "standard_field": check.standard_field,
            "evaluated": evaluated, "failed": failed, "observed": observed, "evaluated_at": now})
    return rows


def record_results(lake, rows: list[dict], batch_id: str) -> None:
    """Merged by (batch, check): a gate rerun after a crash replaces its results."""
    if rows:
        lake.merge_arrow(RULE_RESULT, pa.Table.from_pylist(rows, schema=SCHEMA), keys=["batch_id", "check_id"],
                         metadata={"batch_id": batch_id, "job": "quality_gate"})
