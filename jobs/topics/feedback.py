"""Feedback from the topic models to the departments whose data they find wrong.

- a 低保 member who is deceased (低保核查) → 民政, on the member's record of the 低保 list;
- an enterprise whose legal representative is deceased → 市场监管, on its registration record.

Both are warnings in ``governance.quality_issue`` filed per source table through
:func:`citylake.quality.feedback.record_findings`, owning only the rules ``cross.topic_*``: the keys
passed are the findings and the records of the still-open ``cross.topic_*`` issues, so an issue the next
build no longer finds (the department struck the member off, or registered a new representative)
closes as 已整改 — the way the person and enterprise conflicts close
(:func:`citylake.jobs.enterprise.feedback.file_feedback`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

# Cross-source rules (``cross.``): the quality gate owns every other rule and would close these
# whenever the department re-sends the record (the 低保 list is a daily snapshot).
RULE_PREFIX = "cross.topic_"
DIBAO_DECEASED = f"{RULE_PREFIX}dibao_member_deceased"
LEGAL_REP_DECEASED = f"{RULE_PREFIX}legal_rep_deceased"
REGISTRATION = "scjg.QYDJ"
MESSAGES = {
    DIBAO_DECEASED: "低保成员已死亡, 请核实并停发 (the member is deceased according to the population library)",
    LEGAL_REP_DECEASED: "法定代表人已死亡, 请督促变更登记 (the legal representative is deceased)",
}
# The role (registry column mapping) of the person each rule's finding names.
ROLES = {DIBAO_DECEASED: "subject", LEGAL_REP_DECEASED: "legal_rep"}


def deceased_legal_reps(enterprise: DataFrame, enterprise_link: DataFrame, person: DataFrame) -> DataFrame:
    """(source_table, record_key, rule): the registration records of enterprises whose legal
    representative is deceased."""
    from pyspark.sql import functions as F

    dead = person.where(F.col("life_status") == "deceased").select(F.col("person_id").alias("legal_rep_person_id"))
    usccs = enterprise.join(dead, "legal_rep_person_id").select("uscc")
    return (enterprise_link.where((F.col("source_table") == REGISTRATION) & (F.col("role") == "subject"))
            .join(usccs, "uscc").select("source_table", "record_key", F.lit(LEGAL_REP_DECEASED).alias("rule")))


def file_feedback(lake, registry: Mapping[str, SourceSystem], dibao: DataFrame,
                  enterprise: DataFrame, enterprise_link: DataFrame, person: DataFrame,
                  build_id: str) -> dict[str, int]:
    """Open the models' findings as warnings, close the ones no longer found; the counts.

    A shell-company candidate is not filed: it is a lead for 市场监管 to inspect, not an error in
    its data. Only findings and the open ``cross.topic_*`` issues reach the driver.
    """
    import pandas as pd
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    from citylake.quality.feedback import STILL_OPEN, read_issue_table, record_findings

    found = dibao.where(F.array_contains("rules", "dibao_review.deceased")).select(
        "source_table", "record_key", F.lit(DIBAO_DECEASED).alias("rule"))
    found = found.unionByName(deceased_legal_reps(enterprise, enterprise_link, person))
    rows = [r.asDict() for r in found.collect()]
    issues = read_issue_table(lake, pc.field("status").isin(list(STILL_OPEN)))
    issues = issues.filter(pc.starts_with(issues.column("rule"), RULE_PREFIX))
    open_keys: dict[str, set[str]] = {}
    for table, key in zip(issues.column("source_table").to_pylist(), issues.column("record_key").to_pylist(),
                          strict=True):
        open_keys.setdefault(table, set()).add(key)
    totals = {"findings": len(rows), "opened": 0, "fixed": 0, "still_open": 0}
    for source_table in sorted({r["source_table"] for r in rows} | set(open_keys)):
        code, _, name = source_table.partition(".")
        if code not in registry:
            continue
        system = registry[code]
        table = system.table(name)
        # The column a finding is about: the one carrying the ID number of the person it names.
        id_column = {role: c for c, standard, role in table.mapped_columns() if standard == "person.id_number"}
        column_of = {rule: id_column.get(role, table.primary_key[0]) for rule, role in ROLES.items()}
        findings: dict[str, list[dict]] = {}
        for r in (r for r in rows if r["source_table"] == source_table):
            findings.setdefault(r["record_key"], []).append(
                {"rule": r["rule"], "columns": [column_of[r["rule"]]], "message": MESSAGES[r["rule"]]})
        keys = sorted(set(findings) | open_keys.get(source_table, set()))
        checked = pd.DataFrame({table.primary_key[0]: keys})
        checked["_errors"] = [[] for _ in keys]
        checked["_warnings"] = [findings.get(k, []) for k in keys]
        result = record_findings(lake, system, table, build_id, checked, [],
                                 owns_rule=lambda rule: rule.startswith(RULE_PREFIX), job="build_topics")
        for k in ("opened", "fixed", "still_open"):
            totals[k] += result[k]
    log.info("topic findings %d; issues opened %d, fixed %d, still open %d", totals["findings"], totals["opened"],
             totals["fixed"], totals["still_open"])
    return totals
