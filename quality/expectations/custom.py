"""Great Expectations classes for the data standards (数据标准) and dataset rules.

Each expectation applies the same per-value logic as the row checks of the gate
(:mod:`quality.row_checks`: the field's validator, writing fixes, traditional characters, birth date
and sex against the ID number), so for every expectation GX's unexpected count on a batch equals the
gate's count of failing rows for the matching check (``quality/checks.py``). Importing this module
registers the classes with GX, as any custom expectation is.

Blank text counts as missing, as in the gate: the map conditions pass blanks (a missing value is the
business of the ``required`` expectations, which see nulls and blanks alike).
"""

from __future__ import annotations

from typing import ClassVar, Literal, Union

import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.compatibility import pydantic
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnAggregateExpectation,
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.column_aggregate_metric_provider import (
    ColumnAggregateMetricProvider,
    column_aggregate_value,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
    multicolumn_condition_partial,
)

from citylake.quality.check_functions import distinct_array, filter_mask, judge
from citylake.quality.row_checks import agrees_with_id, has_traditional, is_missing, writing_fixes
from citylake.schemas.standards import standard_field as lookup_field

_CONDITION_DOMAIN = ("batch_id", "table", "row_condition", "condition_parser")


def _per_value(column: pd.Series, passes) -> pd.Series:
    return pd.Series([True if is_missing(v) else bool(passes(v)) for v in column], index=column.index, dtype=bool)


# --- metrics ---------------------------------------------------------------------------------------

class ColumnValuesConformToStandard(ColumnMapMetricProvider):
    """The field's validator accepts the value (or, with ``outcome='review'``, does not route it to
    manual review)."""

    condition_metric_name = "column_values.conform_to_standard"
    condition_value_keys = ("standard_field", "outcome")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, standard_field, outcome, **kwargs):
        field = lookup_field(standard_field)
        severity = "review" if outcome == "review" else "error"

        def passes(raw):
            verdict = field.validate(raw)
            return verdict.ok or verdict.severity != severity

        return _per_value(column, passes)


class ColumnValuesInStandardForm(ColumnMapMetricProvider):
    """The value is written as its standard says (no full-width characters, stray spaces, lowercase
    x, 15-digit ID number ...)."""

    condition_metric_name = "column_values.in_standard_form"
    condition_value_keys = ("standard_field",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, standard_field, **kwargs):
        field = lookup_field(standard_field)
        return _per_value(column, lambda raw: not writing_fixes(field.validate(raw)))


class ColumnValuesSimplifiedChinese(ColumnMapMetricProvider):
    """Not in traditional characters (a value too long for its field is not judged: it is an error)."""

    condition_metric_name = "column_values.simplified_chinese"
    condition_value_keys = ("standard_field",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, standard_field, **kwargs):
        field = lookup_field(standard_field)
        return _per_value(column, lambda raw: not has_traditional(field, raw))


class ColumnValuesPresent(ColumnMapMetricProvider):
    """Not null and not blank; evaluated on every row (nulls are what it is about)."""

    condition_metric_name = "column_values.present"
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return pd.Series([not is_missing(v) for v in column], index=column.index, dtype=bool)


class MulticolumnValuesRequiredWhenPartyNamed(MulticolumnMapMetricProvider):
    """The first column has a value wherever any of the others (the party's other fields) has one."""

    condition_metric_name = "multicolumn_values.required_when_party_named"
    condition_domain_keys = (*_CONDITION_DOMAIN, "column_list", "ignore_row_if")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, **kwargs):
        target, *party = column_list.columns
        named = column_list[party].apply(lambda c: c.map(lambda v: not is_missing(v))).any(axis=1)
        return ~named | column_list[target].map(lambda v: not is_missing(v))


class ColumnPairValuesAgreeWithIdNumber(ColumnPairMapMetricProvider):
    """Column B (birth date or sex) agrees with the ID number in column A, where both are valid."""

    condition_metric_name = "column_pair_values.agree_with_id_number"
    condition_domain_keys = (*_CONDITION_DOMAIN, "column_A", "column_B", "ignore_row_if")
    condition_value_keys = ("standard_field",)

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A, column_B, standard_field, **kwargs):
        id_field = lookup_field("person.id_number")
        other_field = lookup_field(standard_field)

        def passes(raw_id, raw_other) -> bool:
            if is_missing(raw_id) or is_missing(raw_other):
                return True
            number, other = id_field.validate(raw_id), other_field.validate(raw_other)
            if not (number.ok and other.ok):
                return True
            return agrees_with_id(standard_field, number.value, other.value)

        return pd.Series([passes(a, b) for a, b in zip(column_A, column_B, strict=True)], index=column_A.index,
                         dtype=bool)


def _passes_check_function(values: pd.Series, rows: pd.DataFrame | None, function: str, arguments: dict,
                           row_filter: str | None, standard_field: str | None) -> pd.Series:
    """Row by row, whether ``values`` pass a check function (citylake.quality.check_functions) as
    the gate judges them: on the standardised value where the column maps a standard field and its
    validator accepts the value, and only on the rows where ``row_filter`` holds on ``rows``."""
    import numpy as np

    field = lookup_field(standard_field) if standard_field else None
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    judged = np.zeros(len(uniques), dtype=bool)
    standard = list(uniques)
    for k, raw in enumerate(uniques):
        if is_missing(raw):
            continue
        verdict = field.validate(raw) if field is not None else None
        judged[k] = verdict is None or verdict.ok
        if verdict is not None and verdict.value is not None:
            standard[k] = verdict.value
    usable = np.append(judged, False)[codes]
    if row_filter:
        usable &= filter_mask(rows, row_filter)
    judged_rows = np.flatnonzero(usable)
    passes = np.ones(len(values), dtype=bool)
    if len(judged_rows):
        value_codes, distinct = pd.factorize(pd.Series(np.asarray(standard, dtype=object)[codes[judged_rows]],
                                                       dtype=object))
        passes[judged_rows] = judge(function, distinct_array(list(distinct)), arguments)[value_codes]
    return pd.Series(passes, index=values.index, dtype=bool)


class ColumnValuesPassCheckFunction(ColumnMapMetricProvider):
    """The value passes a check function (a rule without a filter, or one naming this column only)."""

    condition_metric_name = "column_values.pass_check_function"
    condition_value_keys = ("function", "arguments", "row_filter", "standard_field")
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, function, arguments, row_filter, standard_field, **kwargs):
        return _passes_check_function(column, column.to_frame(), function, arguments, row_filter, standard_field)


class MulticolumnValuesPassCheckFunction(MulticolumnMapMetricProvider):
    """The first column's value passes a check function on the rows where the rule's filter holds
    (the other columns of ``column_list`` are those the filter names)."""

    condition_metric_name = "multicolumn_values.pass_check_function"
    condition_domain_keys = (*_CONDITION_DOMAIN, "column_list", "ignore_row_if")
    condition_value_keys = ("function", "arguments", "row_filter", "standard_field")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list, function, arguments, row_filter, standard_field, **kwargs):
        return _passes_check_function(column_list[column_list.columns[0]], column_list, function, arguments,
                                      row_filter, standard_field)


class ColumnNewestChangeAgeDays(ColumnAggregateMetricProvider):
    """Days between the newest change time in the column (department local time) and ``as_of``."""

    metric_name = "column.newest_change_age_days"
    value_keys = ("as_of",)

    @column_aggregate_value(engine=PandasExecutionEngine)
    def _pandas(cls, column, as_of, **kwargs):
        from citylake.quality.rule_results import newest_change_age

        age = newest_change_age(column, pd.Timestamp(as_of).to_pydatetime())
        return None if age is None else age.total_seconds() / 86400


# --- expectations ----------------------------------------------------------------------------------

class ExpectColumnValuesToConformToStandard(ColumnMapExpectation):
    """Values conform to their data standard: GB 11643 ID numbers, GB 32100 USCCs, GB/T 2260 division
    codes, GB/T 2261.1 sex, GB/T 3304 ethnicity, dates, mobile numbers (``schemas/standards``).
    With ``outcome='review'``: values the standard routes to manual review (e.g. early pilot USCCs)."""

    standard_field: str
    outcome: Literal["error", "review"] = "error"
    map_metric = "column_values.conform_to_standard"
    success_keys = ("standard_field", "outcome", "mostly")
    args_keys = ("column", "standard_field")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "data standard"], "contributors": ["citylake"]}


class ExpectColumnValuesToBeInStandardForm(ColumnMapExpectation):
    """Values are written in their standard form, without needing standardisation."""

    standard_field: str
    map_metric = "column_values.in_standard_form"
    success_keys = ("standard_field", "mostly")
    args_keys = ("column", "standard_field")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "data standard"], "contributors": ["citylake"]}


class ExpectColumnValuesToBeSimplifiedChinese(ColumnMapExpectation):
    """Chinese text is written in simplified characters (规范汉字)."""

    standard_field: str
    map_metric = "column_values.simplified_chinese"
    success_keys = ("standard_field", "mostly")
    args_keys = ("column", "standard_field")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "data standard"], "contributors": ["citylake"]}


class ExpectColumnValuesToBePresent(gxe.ExpectColumnValuesToNotBeNull):
    """Values are neither null nor blank (a blank string is as missing as a null). GX's own not-null
    expectation with a condition that also rejects blanks: its validation counts over every row."""

    map_metric: ClassVar[str] = "column_values.present"
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "completeness"], "contributors": ["citylake"]}


class ExpectColumnValuesToBePresentWhenPartyNamed(MulticolumnMapExpectation):
    """``column_list[0]`` has a value in every row where the party it belongs to is named in any of
    ``column_list[1:]`` (a guardian's ID number once the guardian is recorded)."""

    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = pydantic.Field(
        default="never")
    map_metric = "multicolumn_values.required_when_party_named"
    success_keys = ("column_list", "ignore_row_if", "mostly")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "completeness"], "contributors": ["citylake"]}


class ExpectColumnPairValuesToAgreeWithIdNumber(ColumnPairMapExpectation):
    """The birth date or sex in ``column_B`` agrees with the GB 11643 ID number in ``column_A``."""

    standard_field: Literal["person.birth_date", "person.sex"]
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = pydantic.Field(
        default="either_value_is_missing")
    map_metric = "column_pair_values.agree_with_id_number"
    success_keys = ("column_A", "column_B", "standard_field", "ignore_row_if", "mostly")
    args_keys = ("column_A", "column_B", "standard_field")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "consistency"], "contributors": ["citylake"]}


class ExpectColumnValuesToPassCheckFunction(ColumnMapExpectation):
    """Values pass a check function of quality/indicators.yaml with the rule's arguments (where
    ``row_filter``, a filter on this column alone, holds)."""

    function: str
    arguments: dict = pydantic.Field(default_factory=dict)
    row_filter: Union[str, None] = None  # noqa: UP007 (GX's pydantic v1 models want typing.Union)
    standard_field: Union[str, None] = None  # noqa: UP007
    map_metric = "column_values.pass_check_function"
    success_keys = ("function", "arguments", "row_filter", "standard_field", "mostly")
    args_keys = ("column", "function", "arguments")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "check function"], "contributors": ["citylake"]}


class ExpectFilteredColumnValuesToPassCheckFunction(MulticolumnMapExpectation):
    """``column_list[0]``'s values pass a check function with the rule's arguments, on the rows where
    ``row_filter`` (the rule's SQL filter on ``column_list[1:]``) holds."""

    function: str
    arguments: dict = pydantic.Field(default_factory=dict)
    row_filter: str
    standard_field: Union[str, None] = None  # noqa: UP007
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = pydantic.Field(
        default="never")
    map_metric = "multicolumn_values.pass_check_function"
    success_keys = ("column_list", "function", "arguments", "row_filter", "standard_field", "ignore_row_if", "mostly")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "check function"], "contributors": ["citylake"]}


class ExpectColumnNewestChangeToBeRecent(ColumnAggregateExpectation):
    """The newest change time in the update column is at most ``max_days`` before ``as_of`` (the
    extraction time of the batch): the department keeps its system current."""

    as_of: Union[str, SuiteParameterDict]  # noqa: UP007 (GX's pydantic v1 models want typing.Union)
    max_days: float
    metric_dependencies = ("column.newest_change_age_days",)
    success_keys = ("as_of", "max_days")
    args_keys = ("column", "as_of", "max_days")
    library_metadata: ClassVar[dict] = {"tags": ["citylake", "timeliness"], "contributors": ["citylake"]}

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        age = metrics["column.newest_change_age_days"]
        # No change time in the batch: nothing to judge (the gate counts it as not evaluated).
        return {"success": age is None or age <= self.max_days,
                "result": {"observed_value": None if age is None else round(age, 2)}}
