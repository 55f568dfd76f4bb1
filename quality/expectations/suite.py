"""A table's Great Expectations suite, built in code from its checks (``quality/checks.py``).

One expectation per check, with the check's id, kind and GB/T 36344 indicator in ``meta`` and its
criticality as GX ``severity`` (error -> critical, warning -> warning). The freshness expectation
takes the batch's extraction time as the suite parameter ``as_of``. Cells ingestion could not convert
are GX's own null expectation on bronze's ``_unconverted`` column. The row-count change against the
previous batch is not a property of a batch (a batch is a change set), so it is evaluated from
``governance.batch_audit`` by the gate (:func:`quality.rule_results.volume_check`) and has no
expectation here.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from citylake.quality.check_functions import filter_columns
from citylake.quality.checks import Check, table_checks
from citylake.quality.expectations import custom
from citylake.sources.registry import SourceSystem, SourceTable

NOT_IN_SUITE = ("volume",)


def suite_name(system: SourceSystem, table: SourceTable) -> str:
    return f"{system.code}.{table.name}"


def expectation(check: Check, table: SourceTable):
    """The GX expectation of one check (``None`` for the checks a batch cannot show)."""
    if check.kind in NOT_IN_SUITE:
        return None
    spec = check.spec
    common = {"meta": {"check_id": check.check_id, "kind": check.kind, "indicator_code": spec.code,
                       "indicator": spec.indicator, "check_name": spec.name_zh, "criticality": check.criticality},
              "severity": "critical" if check.criticality == "error" else "warning"}
    column = check.columns[0] if check.columns else None
    # A filter naming other columns takes them along in the expectation's column list: its metric
    # evaluates the filter.
    others = [c for c in filter_columns(check.filter) if c != column] if spec.function and check.filter else []
    if others:
        return custom.ExpectFilteredColumnValuesToPassCheckFunction(
            column_list=[column, *others], function=spec.function, arguments=check.function_arguments,
            row_filter=check.filter, standard_field=check.standard_field, **common)
    if spec.function:
        return custom.ExpectColumnValuesToPassCheckFunction(
            column=column, function=spec.function, arguments=check.function_arguments, row_filter=check.filter,
            standard_field=check.standard_field, **common)
    if check.kind in ("valid", "valid_code", "review"):
        return custom.ExpectColumnValuesToConformToStandard(
            column=column, standard_field=check.standard_field, outcome="review" if check.kind == "review" else "error",
            **common)
    if check.kind == "standard_form":
        return custom.ExpectColumnValuesToBeInStandardForm(column=column, standard_field=check.standard_field,
                                                           **common)
    if check.kind == "simplified_chinese":
        return custom.ExpectColumnValuesToBeSimplifiedChinese(column=column, standard_field=check.standard_field,
                                                              **common)
    if check.kind == "required" and check.party_columns:
        return custom.ExpectColumnValuesToBePresentWhenPartyNamed(column_list=[column, *check.party_columns],
                                                                  **common)
    if check.kind in ("required", "key_present", "update_time_present"):  # keys are one column (sources/registry.py)
        return custom.ExpectColumnValuesToBePresent(column=column, **common)
    if check.kind == "convertible":  # _unconverted is NULL where every cell converted
        return gxe.ExpectColumnValuesToBeNull(column=column, **common)
    if check.kind == "key_unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column, **common)
    if check.kind == "agrees_with_id":
        return custom.ExpectColumnPairValuesToAgreeWithIdNumber(column_A=check.columns[0], column_B=check.columns[1],
                                                                standard_field=check.standard_field, **common)
    if check.kind == "freshness":
        return custom.ExpectColumnNewestChangeToBeRecent(column=column, as_of={"$PARAMETER": "as_of"},
                                                         max_days=table.freshness_days, **common)
    raise ValueError(f"{check.check_id}: no expectation for check kind '{check.kind}'")


def build_suite(system: SourceSystem, table: SourceTable) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name=suite_name(system, table),
                                meta={"department": system.owner, "system": system.code, "table": table.name,
                                      "description": table.description})
    for check in table_checks(table):
        exp = expectation(check, table)
        if exp is not None:
            suite.add_expectation(exp)
    return suite
