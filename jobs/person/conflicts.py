"""``gold.person_conflict`` (多源校核): a less authoritative source whose value of a conflict attribute
(``conflicts:`` in jobs/person/source_priority.yaml) disagrees with the golden value, and the
warnings it gives the department that owns the record in ``governance.quality_issue``.

The issues are filed per source table through :func:`citylake.quality.feedback.record_findings`,
owning only the rules ``cross.person_<attribute>_conflict``, so they open and close by themselves
as the records or the authority change, without touching what the gate or the other cross-source
rules found; their counts go to ``governance.rule_result`` under the 跨源一致性 indicator (040301),
which scores them as 一致性.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from citylake.jobs.person.golden import Priority

log = logging.getLogger(__name__)

ATTRIBUTE_ZH = {"name": "姓名", "sex": "性别", "birth_date": "出生日期", "ethnicity": "民族", "address": "地址",
                "phone": "手机号码"}
RULE_PREFIX, RULE_SUFFIX = "cross.person_", "_conflict"


def rule_of(attribute: str) -> str:
    return f"{RULE_PREFIX}{attribute}{RULE_SUFFIX}"


def compared_values(values: DataFrame, priority: Priority) -> DataFrame:
    """The values of a conflict attribute from a source less authoritative than the chosen one's
    (``values``: :func:`citylake.jobs.person.golden.golden`'s second frame): what is compared."""
    from pyspark.sql import functions as F

    return values.where(F.col("attribute").isin(list(priority.conflicts)) & (F.col("rank") > F.col("chosen_rank")))


def conflicts(compared: DataFrame) -> DataFrame:
    """One row per (record, attribute) whose value differs from the golden one chosen from a more
    authoritative source (``compared``: :func:`compared_values`)."""
    from pyspark.sql import functions as F

    disagree = compared.where(F.col("value") != F.col("chosen_value"))
    return disagree.select(
        "person_id", "attribute", "record_id", "system", "source_table", "record_key", "role", "batch_id",
        F.col("value").alias("source_value"), F.col("chosen_value").alias("authority_value"),
        F.col("chosen_provenance.system").alias("authority_system"),
        F.col("chosen_provenance.source_table").alias("authority_table"),
        F.col("chosen_provenance.record_key").alias("authority_record_key"),
        F.col("chosen_provenance.batch_id").alias("authority_batch_id"),
        F.concat(F.lit(RULE_PREFIX), "attribute", F.lit(RULE_SUFFIX)).alias("rule"))


def evaluated_per_person(compared: DataFrame) -> DataFrame:
    """(person_id, source_table, attribute, evaluated): the values compared with a more authoritative
    one (``compared``: :func:`compared_values`)."""
    from pyspark.sql import functions as F

    return compared.groupBy("person_id", "source_table", "attribute").agg(F.count("*").alias("evaluated"))


def evaluated_counts(per_person: DataFrame) -> DataFrame:
    """(source_table, attribute, evaluated) from :func:`evaluated_per_person`'s rows."""
    from pyspark.sql import functions as F

    return per_person.groupBy("source_table", "attribute").agg(F.sum("evaluated").alias("evaluated"))


def file_conflicts(lake, registry: Mapping[str, SourceSystem], found: DataFrame, evaluated: DataFrame,
                   build_id: str) -> dict[str, int]:
    """Open (and close) the departments' conflict warnings; record the 一致性 counts per table.

    Only conflicts and previously open conflict issues reach the driver, never a whole table.
    """
    import pandas as pd
    import pyarrow.compute as pc

    from citylake.jobs.person.records import table_roles
    from citylake.quality.checks import Check
    from citylake.quality.feedback import STILL_OPEN, read_issue_table, record_findings
    from citylake.quality.rule_results import record_results, result_rows

    rows = found.select("source_table", "record_key", "role", "attribute", "source_value", "authority_table",
                        "rule").collect()
    counts = {(r["source_table"], r["attribute"]): r["evaluated"] for r in evaluated.collect()}
    owns = lambda rule: rule.startswith(RULE_PREFIX) and rule.endswith(RULE_SUFFIX)  # noqa: E731
    open_issues = read_issue_table(lake, pc.field("status").isin(list(STILL_OPEN)))
    open_issues = open_issues.filter(pc.starts_with(open_issues.column("rule"), RULE_PREFIX))
    open_keys: dict[str, set[str]] = {}
    for table, key in zip(open_issues.column("source_table").to_pylist(),
                          open_issues.column("record_key").to_pylist(), strict=True):
        open_keys.setdefault(table, set()).add(key)
    tables = sorted({r["source_table"] for r in rows} | set(open_keys) | {t for t, _ in counts})
    totals = {"opened": 0, "fixed": 0, "conflicts": len(rows)}
    for source_table in tables:
        code, _, name = source_table.partition(".")
        if code not in registry:
            continue
        system = registry[code]
        table = system.table(name)
        key = table.primary_key[0]
        roles = table_roles(system, table)
        findings: dict[str, list[dict]] = {}
        values: dict[str, dict[str, str]] = {}
        for r in (r for r in rows if r["source_table"] == source_table):
            column = roles[r["role"]].get(r["attribute"])
            if column is None:
                continue
            findings.setdefault(r["record_key"], []).append({
                "rule": r["rule"], "columns": [column],
                "message": f"{ATTRIBUTE_ZH.get(r['attribute'], r['attribute'])}与权威来源({r['authority_table']})"
                           f"不一致 (disagrees with the authoritative source)"})
            values.setdefault(r["record_key"], {})[column] = r["source_value"]
        keys = sorted(set(findings) | open_keys.get(source_table, set()))
        columns = sorted({c for v in values.values() for c in v})
        checked = pd.DataFrame({key: keys, **{c: [values.get(k, {}).get(c) for k in keys] for c in columns}})
        checked["_errors"] = [[] for _ in keys]
        checked["_warnings"] = [findings.get(k, []) for k in keys]
        result = record_findings(lake, system, table, build_id, checked, [], owns_rule=owns, job="build_person")
        totals["opened"] += result["opened"]
        totals["fixed"] += result["fixed"]
        checks, check_counts = [], {}
        for attribute in sorted({a for t, a in counts if t == source_table}):
            column = next((cols[attribute] for cols in roles.values() if attribute in cols), attribute)
            check = Check(table.name, "cross_source", (column,), rule_name=rule_of(attribute),
                          rule_criticality="warning")
            failed = sum(1 for r in rows if r["source_table"] == source_table and r["attribute"] == attribute)
            checks.append(check)
            check_counts[check.check_id] = (counts[(source_table, attribute)], failed,
                                            f"{failed} of {counts[(source_table, attribute)]} values disagree "
                                            "with the authoritative source")
        if checks:
            record_results(lake, result_rows(system, table, build_id, checks, check_counts), build_id)
    log.info("person conflicts: %d, issues opened %d, fixed %d", totals["conflicts"], totals["opened"],
             totals["fixed"])
    return totals
