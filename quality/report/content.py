"""What a department report shows, gathered from the lake: key figures, scores, trend, the rules
failing most, sample records to fix, and who used the department's data (数据调用情况, the newest
period of ``governance.usage_report``, :mod:`citylake.catalog.usage_report`).

Scores come from :mod:`quality.assessment`; counts of rows from ``governance.batch_audit`` (the gate
stage) and of issues from ``governance.quality_issue``. Every read is filtered to the department (or
its systems) and selects only the columns it needs. Issue values are shown as the gate recorded
them: masked (``masked_value``); raw values are never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow.compute as pc

from citylake.catalog.usage_report import latest_report
from citylake.ingest import governance as gov
from citylake.quality import assessment
from citylake.quality.checks import check_kind, finding_kind
from citylake.quality.feedback import CONFIRMED, DISPUTED, FIXED, OPEN, QUALITY_ISSUE, SEVERITY_ZH
from citylake.schemas.standards import standard_field
from citylake.sources.registry import load_registry

TOP_RULES = 10
SAMPLE_RECORDS = 20
AUDIT_COLUMNS = ["batch_id", "stage", "system", "source_table", "rows_read", "rows_unchanged", "deleted",
                 "committed_at"]


@dataclass(frozen=True)
class KeyFigures:
    """The report's headline numbers (关键指标).

    ``rows_checked`` and ``rows_quarantined`` add up each table's latest gated batch (gate audit:
    rows read less tombstones, and rows sent to quarantine); the issue counts are all the
    department's issues by status; ``overall`` is its overall score (NaN: 未评价)."""

    rows_checked: int
    rows_quarantined: int
    open_issues: int
    fixed_issues: int
    disputed_issues: int
    confirmed_issues: int
    overall: float


@dataclass
class DepartmentContent:
    """Everything one department's report shows."""

    department: str
    generated_at: datetime
    figures: KeyFigures
    indicators: pd.DataFrame  # long: indicator_code, indicator, passed, evaluated, score, status
    tables: pd.DataFrame  # wide per source table, with name_zh, rows_checked, rows_quarantined
    trend: pd.DataFrame  # assessment.department_trend
    top_rules: pd.DataFrame
    samples: pd.DataFrame
    systems: list[str] = field(default_factory=list)
    usage: list[dict] = field(default_factory=list)  # governance.usage_report rows of the newest period


# ------------------------------------------------------------------------------------ batch audit

def latest_gate_audit(lake, systems: list[str]) -> pd.DataFrame:
    """The gate audit row of each table's latest gated batch, for the given systems: ``system``,
    ``source_table`` (``gongan.CZRK``), ``batch_id``, ``rows_checked``, ``rows_quarantined``."""
    columns = ["system", "source_table", "batch_id", "rows_checked", "rows_quarantined"]
    if not systems or not lake.exists(gov.BATCH_AUDIT):
        return pd.DataFrame(columns=columns)
    condition = (pc.field("stage") == "gate") & pc.field("system").isin(systems)
    audit = lake.read_arrow(gov.BATCH_AUDIT, columns=AUDIT_COLUMNS, filter=condition).read_all().to_pandas()
    if audit.empty:
        return pd.DataFrame(columns=columns)
    audit = audit.sort_values("committed_at").drop_duplicates(["system", "source_table"], keep="last")
    counts = audit[["rows_read", "rows_unchanged", "deleted"]].fillna(0).astype("int64")
    return pd.DataFrame({
        "system": audit["system"], "source_table": audit["system"] + "." + audit["source_table"],
        "batch_id": audit["batch_id"],
        # Tombstones (deleted records) are read but not checked.
        "rows_checked": counts["rows_read"] - counts["deleted"], "rows_quarantined": counts["rows_unchanged"],
    }).sort_values("source_table", ignore_index=True)


# ----------------------------------------------------------------------------------------- issues

def _issues(lake, department: str, columns: list[str], status: str | None = None) -> pd.DataFrame:
    if not lake.exists(QUALITY_ISSUE):
        return pd.DataFrame(columns=columns)
    condition = pc.field("department") == department
    if status is not None:
        condition = condition & (pc.field("status") == status)
    return lake.read_arrow(QUALITY_ISSUE, columns=columns, filter=condition).read_all().to_pandas()


def issue_counts(lake, department: str) -> dict[str, int]:
    """The department's issues by status (待整改, 已整改, 异议, 已确认), zero where none."""
    status = _issues(lake, department, ["status"])["status"]
    return {s: int((status == s).sum()) for s in (OPEN, FIXED, DISPUTED, CONFIRMED)}


def _validator(qualified: str | None) -> str | None:
    try:
        return standard_field(qualified).validator if qualified else None
    except KeyError:
        return None


def top_rules(lake, department: str, limit: int = TOP_RULES) -> pd.DataFrame:
    """The rules with the most open issues (待整改): ``rule``, ``code``, ``indicator``, ``check_name``,
    ``description`` (the commonest wording), ``tables``, ``open_issues``."""
    columns = ["rule", "code", "indicator", "check_name", "description", "tables", "open_issues"]
    issues = _issues(lake, department, ["source_table", "rule", "field", "standard_field", "severity",
                                        "description"], status=OPEN)
    if issues.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for rule, group in issues.groupby("rule"):
        first = group.iloc[0]
        kind = finding_kind(rule, _validator(first["standard_field"]))
        spec = check_kind(kind)
        rows.append({"rule": rule, "code": spec.code, "indicator": spec.indicator, "check_name": spec.name_zh,
                     "description": group["description"].value_counts().index[0],
                     "tables": "、".join(sorted(group["source_table"].unique())), "open_issues": len(group)})
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["open_issues", "rule"], ascending=[False, True], ignore_index=True).head(limit)


def sample_records(lake, department: str, limit: int = SAMPLE_RECORDS) -> pd.DataFrame:
    """Up to ``limit`` open issues to fix, errors first: ``source_table``, ``record_key``, ``field``,
    ``masked_value``, ``description``, ``severity`` (错误/警告), ``rule``."""
    columns = ["source_table", "record_key", "field", "masked_value", "description", "severity", "rule"]
    issues = _issues(lake, department, columns, status=OPEN)
    if issues.empty:
        return pd.DataFrame(columns=columns)
    issues = issues.assign(_order=issues["severity"].map({"error": 0}).fillna(1))
    issues = issues.sort_values(["_order", "source_table", "record_key", "field", "rule"], ignore_index=True)
    out = issues.head(limit).drop(columns=["_order"])
    out["severity"] = out["severity"].map(SEVERITY_ZH).fillna(out["severity"])
    return out[columns]


# ------------------------------------------------------------------------------------------ tables

def table_names_zh() -> dict[str, str]:
    """``gongan.CZRK`` → its description in the source registry (常住人口信息)."""
    try:
        registry = load_registry()
    except (OSError, ValueError):
        return {}
    return {f"{code}.{t.name}": t.description for code, system in registry.items() for t in system.tables}


def table_rows(lake, department: str) -> pd.DataFrame:
    """Per source table of the department: its scores (:func:`assessment.wide` of the table states),
    its Chinese name (``name_zh``) and the rows checked and quarantined in its latest gated batch."""
    scores = assessment.wide(assessment.table_scores(lake, department=department))
    scores.insert(3, "name_zh", scores["source_table"].map(table_names_zh()).fillna(""))
    audit = latest_gate_audit(lake, sorted(scores["system"].dropna().unique()))
    merged = scores.merge(audit[["source_table", "rows_checked", "rows_quarantined"]], on="source_table", how="left")
    merged[["rows_checked", "rows_quarantined"]] = merged[["rows_checked", "rows_quarantined"]].fillna(0).astype("int64")
    return merged.sort_values("source_table", ignore_index=True)


# ---------------------------------------------------------------------------------------- gather

def gather(lake, department: str, generated_at: datetime) -> DepartmentContent:
    """Everything the report of ``department`` shows."""
    indicators = assessment.department_scores(lake, department)
    if indicators.empty:
        indicators = assessment.indicator_frame().assign(department=department, passed=0, evaluated=0,
                                                         score=float("nan"), status=assessment.NOT_EVALUATED)
    overall = assessment.overall_scores(indicators)["score"]
    tables = table_rows(lake, department)
    counts = issue_counts(lake, department)
    figures = KeyFigures(rows_checked=int(tables["rows_checked"].sum()),
                         rows_quarantined=int(tables["rows_quarantined"].sum()),
                         open_issues=counts[OPEN], fixed_issues=counts[FIXED], disputed_issues=counts[DISPUTED],
                         confirmed_issues=counts[CONFIRMED], overall=float(overall.iloc[0]))
    return DepartmentContent(
        department=department, generated_at=generated_at, figures=figures,
        indicators=indicators[assessment.SCORE_COLUMNS].reset_index(drop=True), tables=tables,
        trend=assessment.department_trend(lake, department), top_rules=top_rules(lake, department),
        samples=sample_records(lake, department), systems=sorted(tables["system"].dropna().unique()),
        usage=latest_report(lake, department))
