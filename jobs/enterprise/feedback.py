"""``gold.enterprise_conflict`` (多源校核) and the legal-entity library's feedback to departments.

A conflict is a value of a less authoritative source that disagrees with the golden one (``conflicts:``
of jobs/enterprise/source_priority.yaml; names compared by their loose key). A proposed USCC
correction (建议更正为 …) is a record whose written code was repaired or whose enterprise was found
by name. Both reach the department that owns the record as warnings in ``governance.quality_issue``
through :func:`citylake.quality.feedback.record_findings`, owning only the rules
``cross.enterprise_*``, so they open and close by themselves as the records change; the conflict
counts go to ``governance.rule_result`` (跨源一致性, scored as 一致性).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from citylake.jobs.enterprise.golden import Priority

log = logging.getLogger(__name__)

ATTRIBUTE_ZH = {"name": "企业名称", "status": "登记状态", "uscc": "统一社会信用代码"}
RULE_PREFIX = "cross.enterprise_"
CORRECTION_RULE = f"{RULE_PREFIX}uscc_correction"


def rule_of(attribute: str) -> str:
    return f"{RULE_PREFIX}{attribute}_conflict"


def conflicts(values: DataFrame, priority: Priority) -> DataFrame:
    """One row per (record, attribute) whose value differs from the golden one chosen from a more
    authoritative source (:func:`citylake.jobs.enterprise.golden.golden`'s second frame)."""
    from pyspark.sql import functions as F

    disagree = values.where(F.col("attribute").isin(list(priority.conflicts)) & (F.col("rank") > F.col("chosen_rank"))
                            & (F.col("compare") != F.col("chosen_compare")))
    return disagree.select(
        F.col("enterprise_id").alias("uscc"), "attribute", "record_id", "system", "source_table", "record_key",
        "role", "batch_id", F.col("value").alias("source_value"), F.col("chosen_value").alias("authority_value"),
        F.col("chosen_provenance.system").alias("authority_system"),
        F.col("chosen_provenance.source_table").alias("authority_table"),
        F.col("chosen_provenance.record_key").alias("authority_record_key"),
        F.col("chosen_provenance.batch_id").alias("authority_batch_id"),
        F.concat(F.lit(RULE_PREFIX), "attribute", F.lit("_conflict")).alias("rule"))


def evaluated(values: DataFrame, priority: Priority) -> DataFrame:
    """(source_table, attribute, evaluated): the values compared with a more authoritative one."""
    from pyspark.sql import functions as F

    return (values.where(F.col("attribute").isin(list(priority.conflicts)) & (F.col("rank") > F.col("chosen_rank")))
            .groupBy("source_table", "attribute").agg(F.count("*").alias("evaluated")))


def file_feedback(lake, registry: Mapping[str, SourceSystem], found: DataFrame, counted: DataFrame,
                  proposals: DataFrame, build_id: str) -> dict[str, int]:
    """Open (and close) the departments' conflict and correction warnings; record the 一致性 counts.

    ``proposals``: link rows with ``proposed_uscc``. Only findings and open ``cross.enterprise_*``
    issues reach the driver, never a whole table.
    """
    import pandas as pd
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    from citylake.jobs.enterprise.records import load_attributes, table_roles
    from citylake.quality.checks import Check
    from citylake.quality.feedback import STILL_OPEN, read_issue_table, record_findings
    from citylake.quality.rule_results import record_results, result_rows

    attributes_of = load_attributes(registry).tables
    rows = [dict(r.asDict(), kind="conflict") for r in found.select(
        "source_table", "record_key", "role", "attribute", "source_value", "authority_table", "rule").collect()]
    rows += [dict(r.asDict(), kind="correction", attribute="uscc", rule=CORRECTION_RULE) for r in proposals.select(
        "source_table", "record_key", "role", F.col("uscc_raw").alias("source_value"),
        "proposed_uscc").collect()]
    counts = {(r["source_table"], r["attribute"]): r["evaluated"] for r in counted.collect()}
    open_issues = read_issue_table(lake, pc.field("status").isin(list(STILL_OPEN)))
    open_issues = open_issues.filter(pc.starts_with(open_issues.column("rule"), RULE_PREFIX))
    open_keys: dict[str, set[str]] = {}
    for table, key in zip(open_issues.column("source_table").to_pylist(),
                          open_issues.column("record_key").to_pylist(), strict=True):
        open_keys.setdefault(table, set()).add(key)
    tables = sorted({r["source_table"] for r in rows} | set(open_keys) | {t for t, _ in counts})
    totals = {"opened": 0, "fixed": 0, "conflicts": sum(r["kind"] == "conflict" for r in rows),
              "corrections": sum(r["kind"] == "correction" for r in rows)}
    for source_table in tables:
        code, _, name = source_table.partition(".")
        if code not in registry:
            continue
        system = registry[code]
        table = system.table(name)
        roles = table_roles(table)
        findings: dict[str, list[dict]] = {}
        values: dict[str, dict[str, str]] = {}
        for r in (r for r in rows if r["source_table"] == source_table):
            column = roles.get(r["role"], {}).get(r["attribute"]) or attributes_of.get(
                (source_table, r["role"]), {}).get(r["attribute"])
            if column is None:
                continue
            zh = ATTRIBUTE_ZH.get(r["attribute"], r["attribute"])
            message = (f"{zh}疑似录入错误, 建议更正为 {r['proposed_uscc']} (proposed correction)"
                       if r["kind"] == "correction" else
                       f"{zh}与权威来源({r['authority_table']})不一致 (disagrees with the authoritative source)")
            findings.setdefault(r["record_key"], []).append({"rule": r["rule"], "columns": [column],
                                                             "message": message})
            values.setdefault(r["record_key"], {})[column] = r["source_value"]
        keys = sorted(set(findings) | open_keys.get(source_table, set()))
        columns = sorted({c for v in values.values() for c in v})
        checked = pd.DataFrame({table.primary_key[0]: keys,
                                **{c: [values.get(k, {}).get(c) for k in keys] for c in columns}})
        checked["_errors"] = [[] for _ in keys]
        checked["_warnings"] = [findings.get(k, []) for k in keys]
        result = record_findings(lake, system, table, build_id, checked, [],
                                 owns_rule=lambda rule: rule.startswith(RULE_PREFIX), job="build_enterprise")
        totals["opened"] += result["opened"]
        totals["fixed"] += result["fixed"]
        checks, check_counts = [], {}
        for attribute in sorted({a for t, a in counts if t == source_table}):
            column = next((cols[attribute] for cols in roles.values() if attribute in cols), None) or next(
                (cols[attribute] for (t, _), cols in attributes_of.items() if t == source_table and attribute in cols),
                attribute)
            check = Check(table.name, "cross_source", (column,), rule_name=rule_of(attribute),
                          rule_criticality="warning")
            failed = sum(1 for r in rows if r["source_table"] == source_table and r["kind"] == "conflict"
                         and r["attribute"] == attribute)
            checks.append(check)
            check_counts[check.check_id] = (counts[(source_table, attribute)], failed,
                                            f"{failed} of {counts[(source_table, attribute)]} values disagree "
                                            "with the authoritative source")
        if checks:
            record_results(lake, result_rows(system, table, build_id, checks, check_counts), build_id)
    log.info("enterprise conflicts %d, corrections proposed %d; issues opened %d, fixed %d", totals["conflicts"],
             totals["corrections"], totals["opened"], totals["fixed"])
    return totals

