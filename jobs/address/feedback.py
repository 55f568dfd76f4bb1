"""Feedback of the addresses the matcher could not resolve to a standard address (地址匹配反馈):
one warning per record in ``governance.quality_issue``, for the department owning the record, with
the level reached and the closest standard addresses (their codes: a code names a place of the
public list, not a person; the record's own text is shown masked, citylake.catalog.masking).

Filed per source table through :func:`citylake.quality.feedback.record_findings`, owning only the
rule :data:`RULE`, so an address fixed by the department (or a standard address added to the list)
closes its issue by itself on the next build; the counts go to ``governance.rule_result`` under the
跨源一致性 indicator, as the person conflicts do (citylake.jobs.person.conflicts).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from citylake.jobs.address.settings import LEVELS, MatchingSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

RULE = "cross.address_not_standard"
LEVEL_ZH = {"room": "室", "building": "楼栋", "compound": "小区/门牌", "road": "道路", "street": "街道乡镇",
            "district": "区县", "unmatched": "无"}


def needs_feedback(links: DataFrame, settings: MatchingSettings) -> DataFrame:
    """The links matched coarser than ``feedback_below`` (or not at all)."""
    from pyspark.sql import functions as F

    good = list(LEVELS[: LEVELS.index(settings.feedback_below) + 1])
    return links.where(~F.col("level").isin(good))


def message(level: str, candidates: list[str]) -> str:
    nearest = "、".join(candidates) if candidates else "无"
    return (f"地址未能匹配到标准地址 (matched only at level: {LEVEL_ZH.get(level, level)}); "
            f"最接近的标准地址编码: {nearest}")


def file_address_issues(lake, settings: MatchingSettings, links: DataFrame, records: DataFrame,
                        build_id: str) -> dict[str, int]:
    """Open (and close) the departments' address warnings; record the counts per table. Only the
    problem records and the previously open address issues reach the driver."""
    import pandas as pd
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    from citylake.quality.checks import Check
    from citylake.quality.feedback import STILL_OPEN, read_issue_table, record_findings
    from citylake.quality.rule_results import record_results, result_rows

    problems = needs_feedback(links, settings).join(records.select("record_id", "text"), "record_id")
    rows = problems.select("source_table", "record_key", "column", "level", "candidates", "text").collect()
    evaluated = {(r["source_table"], r["column"]): r["n"] for r in
                 links.groupBy("source_table", "column").agg(F.count("*").alias("n")).collect()}
    open_issues = read_issue_table(lake, pc.field("status").isin(list(STILL_OPEN)) & (pc.field("rule") == RULE))
    open_keys: dict[str, set[str]] = {}
    for table, key in zip(open_issues.column("source_table").to_pylist(),
                          open_issues.column("record_key").to_pylist(), strict=True):
        open_keys.setdefault(table, set()).add(key)
    totals = {"problems": len(rows), "opened": 0, "fixed": 0}
    for source in settings.sources:
        table_rows = [r for r in rows if r["source_table"] == source.source_table and r["column"] == source.column]
        if not table_rows and source.source_table not in open_keys and (source.source_table, source.column) \
                not in evaluated:
            continue
        key = source.table.primary_key[0]
        findings = {r["record_key"]: [{"rule": RULE, "columns": [source.column],
                                       "message": message(r["level"], list(r["candidates"] or []))}]
                    for r in table_rows}
        values = {r["record_key"]: r["text"] for r in table_rows}
        keys = sorted(set(findings) | open_keys.get(source.source_table, set()))
        checked = pd.DataFrame({key: keys, source.column: [values.get(k) for k in keys]})
        checked["_errors"] = [[] for _ in keys]
        checked["_warnings"] = [findings.get(k, []) for k in keys]
        result = record_findings(lake, source.system, source.table, build_id, checked, [],
                                 owns_rule=lambda rule: rule == RULE, job="build_address")
        totals["opened"] += result["opened"]
        totals["fixed"] += result["fixed"]
        n = evaluated.get((source.source_table, source.column), 0)
        check = Check(source.table.name, "cross_source", (source.column,), rule_name=RULE,
                      rule_criticality="warning")
        counts = {check.check_id: (n, len(table_rows), f"{len(table_rows)} of {n} addresses match no standard "
                                                          "address at the room level")}
        record_results(lake, result_rows(source.system, source.table, build_id, [check], counts), build_id)
    log.info("address feedback: %d addresses not standard, issues opened %d, fixed %d", totals["problems"],
             totals["opened"], totals["fixed"])
    return totals
