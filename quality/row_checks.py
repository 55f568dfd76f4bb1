"""Row-level checks of a department table against the data standards.

Each mapped column (``sources/systems/*.yaml``: column -> ``<entity>.<field>[@<role>]``) is
standardised by its field's validator; what the validator had to fix (full-width characters,
spaces, a lowercase x, a 15-digit ID number) is a *warning*, a value that breaks the standard is an
*error*. Cross-field rules compare the columns of one role: birth date and sex against the ID
number, and a party named without its ID number.

Two checks of the row as a whole: its update time is there (a *warning*: the department's system
should stamp every change), and ingestion could convert every cell to its column's type (an
*error*; bronze's ``_unconverted`` holds the raw text of the cells it could not).

Results follow databrickslabs/dqx: ``_errors`` and ``_warnings`` per row, each a list of
``{rule, message, columns}``. Messages never quote values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from citylake.quality.check_functions import distinct_array, filter_mask, judge, with_defaults
from citylake.quality.checks import UNCONVERTED, UPDATE_TIME_MISSING, Check, table_checks
from citylake.schemas import simplified
from citylake.schemas.fast_paths import accept, standardise_dates
from citylake.schemas.standards import NAME_VALIDATORS, TEXT_VALIDATORS, StandardField, standard_field
from citylake.schemas.validators import id_is_male
from citylake.sources.registry import SourceTable

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    columns: tuple[str, ...]
    criticality: str

    def as_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message, "columns": list(self.columns)}


# What a validator fixed that is a writing error the department should correct. Mapping a
# department's own coding to the standard (男 -> 1, 汉族 -> 01, yyyymmdd -> ISO) is not.
WRITING_FIXES = {"fullwidth", "whitespace", "lowercase_x", "upgraded_from_15_digits", "lowercase",
                 "country_code_or_separators", "middle_dot"}


def has_traditional(field: StandardField, raw) -> bool:
    """Whether a value of ``field`` holds a traditional character (:mod:`citylake.schemas.simplified`):
    text fields only, and not a value too long for its field (an error already)."""
    return (field.validator in TEXT_VALIDATORS and isinstance(raw, str) and not field.too_long(raw)
            and simplified.has_traditional(raw))


def silver_value(field: StandardField, value):
    """The standardised value as silver holds it: a name in simplified characters (bronze keeps the
    name as written, and the traditional_chars warning tells the department)."""
    return simplified.to_simplified(value) if field.validator in NAME_VALIDATORS and isinstance(value, str) else value


def check_frame(frame: pd.DataFrame, table: SourceTable, presence: dict | None = None,
                rows_judged: dict[str, int] | None = None) -> pd.DataFrame:
    """``frame`` (a department table's rows) with its mapped columns standardised and two added
    columns, ``_errors`` and ``_warnings``.

    Each distinct value of a column is judged once (``pd.factorize``): codes, dates and names repeat
    across a batch, and a validator costs far more than a lookup. ``presence``, when given, receives
    each mapped column's has-a-value mask; ``rows_judged``, the rows each check function judged, by
    check id (``governance.rule_result``'s evaluated count). A third added column, ``_dropped``,
    names the values drop_value rules leave out of silver (:func:`without_dropped_values`).
    """
    out = frame.copy()
    errors: list[list[dict]] = [[] for _ in range(len(frame))]
    warnings: list[list[dict]] = [[] for _ in range(len(frame))]
    by_role: dict[str, dict[str, str]] = defaultdict(dict)
    mapped = [(c, f, r) for c, f, r in table.mapped_columns() if c in frame.columns]
    for column, field_name, role in table.mapped_columns():
        by_role[role][field_name] = column
    factorized = {column: pd.factorize(frame[column].astype(object), use_na_sentinel=True) for column, _, _ in mapped}
    present = {column: presence_mask(*factorized[column]) for column, _, _ in mapped}
    if presence is not None:  # shared with the caller's counts (quality.rule_results.Presence)
        presence.update({column: pd.Series(p, index=frame.index) for column, p in present.items()})
    standardised: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    checks = table_checks(table)
    dropped: dict[str, list[int]] = defaultdict(list)
    for column, field_name, role in mapped:
        field = standard_field(field_name)
        placement = _Criticality.of(checks, column)
        codes, uniques = factorized[column]
        accepted = accept(field.validator, list(uniques), field.max_length)
        # Per distinct value, then taken row by row; the sentinel -1 (null) picks the trailing slot.
        # A value the fast path accepted is valid and standard as written: it stands for itself, and
        # only its characters remain to be judged (all of a column's in one conversion).
        value_of = np.append(np.asarray(uniques, dtype=object), None)
        if field.validator == "date":  # valid as written, standard once in ISO form: also no validator
            dated, iso = standardise_dates(list(uniques))
            accepted = accepted | dated
            value_of[:-1][dated] = np.asarray(iso, dtype=object)[dated]
        ok_of = np.append(accepted, False)
        flagged_of, missing_of = np.zeros(len(value_of), dtype=bool), np.zeros(len(value_of), dtype=bool)
        missing_of[-1] = True
        judged: dict[int, _Outcome] = {}
        if field.validator in TEXT_VALIDATORS:
            candidates = np.flatnonzero(accepted)
            traditional = placement.sort([("simplified_chinese", Finding(
                f"{field_name}.traditional_chars", f"{field.name_zh}含繁体字 (traditional characters)", (column,),
                WARNING).as_dict())])
            found = simplified.has_traditional_many([uniques[k] for k in candidates])
            for k in candidates[found]:
                value_of[k] = silver_value(field, uniques[k])
                judged[k] = _Outcome(value_of[k], True, *traditional)
                flagged_of[k] = True
        for k in np.flatnonzero(~accepted):
            outcome = _judge(field, field_name, column, uniques[k], placement)
            if outcome is None:
                value_of[k], missing_of[k] = None, True
                continue
            judged[k] = outcome
            value_of[k], ok_of[k] = outcome.value, outcome.ok
            flagged_of[k] = bool(outcome.errors or outcome.warnings)
        others = [present[c] for c in by_role[role].values() if c != column and c in present]
        named = np.logical_or.reduce(others) if others else np.zeros(len(frame), dtype=bool)
        missing = placement.sort([("required", Finding(
            f"{field_name}.missing", f"{field.name_zh}缺失 (required value missing)", (column,), ERROR).as_dict())]
                                 ) if field.required else None
        values, oks = value_of[codes], ok_of[codes]
        for i in np.flatnonzero(flagged_of[codes]):
            outcome = judged[codes[i]]
            errors[i].extend(outcome.errors)
            warnings[i].extend(outcome.warnings)
            if outcome.drop:
                dropped[column].append(i)
        if missing is not None:
            for i in np.flatnonzero(missing_of[codes] & (named | (role == "subject"))):
                errors[i].extend(missing[0])
                warnings[i].extend(missing[1])
        standardised[column] = values
        valid[column] = oks
    for column, values in standardised.items():
        out[column] = values
    _cross_field(frame, by_role, standardised, valid, errors)
    # On the standardised values: silver is merged on them (a key written two ways is one key).
    _key_checks(out, table, errors)
    _update_time_check(frame, table, warnings)
    _unconverted_check(frame, table, errors)
    counts = _function_checks(frame, table, checks, standardised, valid, present, errors, warnings, dropped)
    if rows_judged is not None:
        rows_judged.update(counts)
    # The values a drop_value rule leaves out of silver, per row (None: none): the gate nulls them
    # as it writes silver; the findings and the issues still see them.
    dropped_columns = np.full(len(frame), None, dtype=object)
    for column, rows in dropped.items():
        for i in rows:
            dropped_columns[i] = [*(dropped_columns[i] or ()), column]
    out["_errors"] = errors
    out["_warnings"] = warnings
    out[DROPPED_COLUMNS] = dropped_columns
    return out


def without_dropped_values(checked: pd.DataFrame) -> pd.DataFrame:
    """``checked`` rows with the values their drop_value rules leave out nulled, as silver holds them
    (and without the :data:`DROPPED_COLUMNS` column)."""
    out = checked.drop(columns=[DROPPED_COLUMNS])
    rows = np.flatnonzero(checked[DROPPED_COLUMNS].notna().to_numpy())
    for column in {c for i in rows for c in checked[DROPPED_COLUMNS].iat[i]}:
        values = out[column].to_numpy(dtype=object, copy=True)
        values[[i for i in rows if column in checked[DROPPED_COLUMNS].iat[i]]] = None
        out[column] = values
    return out


# check_frame's column of the columns whose values a row's drop_value rules leave out of silver.
DROPPED_COLUMNS = "_dropped"
DROPPED = "该值未进入 silver (the value is left out of silver; the record is kept)"


def _function_checks(frame, table: SourceTable, checks: list[Check], standardised, valid, present, errors, warnings,
                     dropped) -> dict[str, int]:
    """The check functions' findings (citylake.quality.check_functions), each distinct value judged
    once; the rows judged per check. A mapped column's function sees its standardised values where
    its standard accepts them (an invalid value is the standard's finding already); an unmapped
    column's, its present values as written. A rule's filter narrows the rows."""
    mapped = {c: f for c, f, _ in table.mapped_columns()}
    counts: dict[str, int] = {}
    for check in checks:
        spec = check.spec
        if not spec.function:
            continue
        column = check.columns[0]
        if column not in frame.columns:  # as for a mapped column the batch lacks: nothing to judge
            counts[check.check_id] = 0
            continue
        if column in standardised:
            values, usable = standardised[column], valid[column] & present[column]
        else:
            values = frame[column].to_numpy(dtype=object)
            usable = column_presence(frame[column])
        if check.filter:
            try:
                usable = usable & filter_mask(frame, check.filter)
            except ValueError as exc:
                raise ValueError(f"{check.check_id}: {exc}") from None
        rows = np.flatnonzero(usable)
        counts[check.check_id] = len(rows)
        if not len(rows):
            continue
        codes, uniques = pd.factorize(pd.Series(values[rows], dtype=object))
        try:
            passes = judge(spec.function, distinct_array(list(uniques)), check.function_arguments)
        except (ValueError, TypeError, NotImplementedError) as exc:  # the message names no value
            raise ValueError(f"{check.check_id}: {spec.function} failed on the batch ({type(exc).__name__}: "
                             f"{exc})") from None
        label = f"{standard_field(mapped[column]).name_zh}({column})" if column in mapped else column
        message = spec.message.format_map(_Arguments(with_defaults(spec.function, check.function_arguments), label))
        criticality = check.criticality
        if criticality == "drop_value":
            message = f"{message}; {DROPPED}"
        finding = Finding(f"{mapped.get(column, column)}.{check.kind}", message, (column,), criticality).as_dict()
        target = errors if criticality == ERROR else warnings
        for i in rows[~passes[codes]]:
            target[i].append(finding)
            if criticality == "drop_value":
                dropped[column].append(i)
    return counts


class _Arguments(dict):
    """A message's placeholders: ``{field}`` and the rule's arguments (an argument left at None reads
    as nothing); an unknown one stays as written."""

    def __init__(self, arguments: dict, field: str):
        super().__init__({k: ", ".join(map(str, v)) if isinstance(v, list) else "" if v is None else v
                          for k, v in arguments.items()}, field=field)

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# The criticality of each built-in check of a column's values, unless a rule of the column sets another.
DEFAULT_CRITICALITY = {"valid": ERROR, "valid_code": ERROR, "review": WARNING, "standard_form": WARNING,
                       "simplified_chinese": WARNING, "required": ERROR}


@dataclass(frozen=True)
class _Criticality:
    """Where one column's findings go: the criticality its rules (citylake.schemas.rules) give its
    built-in checks, else :data:`DEFAULT_CRITICALITY`. Decided per distinct value, as it is judged."""

    rules: dict[str, str]
    valid_kind: str  # the column's `valid` check: valid, or valid_code for a code list

    @classmethod
    def of(cls, checks: list[Check], column: str) -> _Criticality:
        own = [c for c in checks if c.columns == (column,) and c.kind in DEFAULT_CRITICALITY]
        return cls({c.kind: c.rule_criticality for c in own if c.rule_criticality},
                   next((c.kind for c in own if c.kind in ("valid", "valid_code")), "valid"))

    def sort(self, found: list[tuple[str, dict]]) -> tuple[tuple[dict, ...], tuple[dict, ...], bool]:
        """(check kind, finding) pairs -> the errors, the warnings, and whether silver drops the value."""
        errors, warnings, drop = [], [], False
        for kind, finding in found:
            criticality = self.rules.get(kind, DEFAULT_CRITICALITY[kind])
            if criticality == "drop_value":
                finding, drop = {**finding, "message": f"{finding['message']}; {DROPPED}"}, True
            (errors if criticality == ERROR else warnings).append(finding)
        return tuple(errors), tuple(warnings), drop


@dataclass(frozen=True)
class _Outcome:
    value: object
    ok: bool
    errors: tuple[dict, ...]
    warnings: tuple[dict, ...]
    drop: bool = False


def _judge(field, field_name: str, column: str, raw, placement: _Criticality) -> _Outcome | None:
    """The findings of one (present) value; ``None`` for a missing one."""
    if is_missing(raw):
        return None
    verdict = field.validate(raw)
    found: list[tuple[str, dict]] = []
    if not verdict.ok:
        review = verdict.severity == "review"
        found.append(("review" if review else placement.valid_kind, Finding(
            f"{field_name}.{verdict.rule.split('.', 1)[1]}", verdict.message or "", (column,),
            WARNING if review else ERROR).as_dict()))
    writing = writing_fixes(verdict)
    if writing:
        found.append(("standard_form", Finding(f"{field_name}.nonstandard_form",
                                               f"{field.name_zh}书写不规范: {', '.join(writing)} (standardised)",
                                               (column,), WARNING).as_dict()))
    value = verdict.value if verdict.value is not None else raw
    if has_traditional(field, raw):
        found.append(("simplified_chinese", Finding(f"{field_name}.traditional_chars",
                                                    f"{field.name_zh}含繁体字 (traditional characters)", (column,),
                                                    WARNING).as_dict()))
        if verdict.ok:
            value = silver_value(field, value)
    return _Outcome(value, verdict.ok, *placement.sort(found))


def column_presence(values: pd.Series) -> np.ndarray:
    """Row by row, the column has a value. Only text can be blank: a column of dates, times or
    numbers has one wherever it is not null (and converting it to Python objects costs seconds)."""
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        return values.notna().to_numpy()
    return presence_mask(*pd.factorize(values.astype(object), use_na_sentinel=True))


def presence_mask(codes: np.ndarray, uniques) -> np.ndarray:
    """Row by row, from a column's ``pd.factorize``: the column has a value (not null, not blank)."""
    return np.append(has_value(uniques), False)[codes]  # the sentinel -1 picks the trailing False


def has_value(values) -> np.ndarray:
    """:func:`is_missing`'s negation over many values (text the common case, judged without it)."""
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return np.fromiter((bool(v.strip()) for v in values), dtype=bool, count=len(values))
    return np.fromiter((not is_missing(v) for v in values), dtype=bool, count=len(values))


def is_missing(raw) -> bool:
    """No value: null, NaN, NaT, pandas' NA or blank text."""
    return (raw is None or raw is pd.NaT or raw is pd.NA or (isinstance(raw, float) and pd.isna(raw))
            or (isinstance(raw, str) and not raw.strip()))


def writing_fixes(verdict) -> list[str]:
    """The fixes a validator made that are writing errors of the department's."""
    return [f for f in verdict.fixes if f in WRITING_FIXES]


def agrees_with_id(other_field: str, id_number: str, value) -> bool:
    """Whether a standardised birth date or sex agrees with a valid, standardised ID number (sex codes
    0 unknown and 9 unspecified agree with any)."""
    if other_field == "person.birth_date":
        # The ID number is valid, so its yyyymmdd is a real date: compare the text.
        return f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}" == str(value)[:10]
    return value in ("0", "9") or (value == "1") == id_is_male(id_number)


def _cross_field(frame, by_role, standardised, valid, errors) -> None:
    """Birth date and sex of a role must agree with its (valid) ID number."""
    for fields in by_role.values():
        id_column = fields.get("person.id_number")
        if id_column is None or id_column not in standardised:
            continue
        for other, rule, message in (("person.birth_date", "person.birth_date.disagrees_with_id",
                                      "出生日期与身份证号不符 (birth date disagrees with the ID number)"),
                                     ("person.sex", "person.sex.disagrees_with_id",
                                      "性别与身份证号不符 (sex disagrees with the ID number)")):
            column = fields.get(other)
            if column is None or column not in standardised:
                continue
            rows = np.flatnonzero(valid[id_column] & valid[column])
            finding = Finding(rule, message, (id_column, column), ERROR).as_dict()
            for i in rows[~_agree(other, standardised[id_column][rows], standardised[column][rows])]:
                errors[i].append(finding)


def _agree(other_field: str, id_numbers: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`agrees_with_id` over many rows at once, on Arrow (valid, standardised ID numbers and
    values: text)."""
    ids = pa.array(id_numbers, pa.string())
    values = pa.array([v if isinstance(v, str) else str(v) for v in values], pa.string())
    if other_field == "person.birth_date":
        born = pc.binary_join_element_wise(*(pc.utf8_slice_codeunits(ids, a, b) for a, b in ((6, 10), (10, 12), (12, 14))),
                                           "-")
        agree = pc.equal(born, pc.utf8_slice_codeunits(values, 0, 10))
    else:
        male = pc.is_in(pc.utf8_slice_codeunits(ids, 16, 17), value_set=pa.array(list("13579")))
        agree = pc.or_(pc.is_in(values, value_set=pa.array(["0", "9"])), pc.equal(pc.equal(values, "1"), male))
    return np.asarray(agree, dtype=bool)


def _key_checks(frame: pd.DataFrame, table: SourceTable, errors) -> None:
    """Every row has its primary key, and no key repeats within the batch (silver is merged by key:
    two rows with one key cannot both be the record)."""
    key = list(table.primary_key)
    if not set(key) <= set(frame.columns):
        return
    keys = frame[key]
    missing = keys.isna().any(axis=1) | keys.astype(str).apply(lambda c: c.str.strip() == "").any(axis=1)
    repeated = keys[~missing].duplicated(keep=False).reindex(frame.index, fill_value=False)
    for i in np.flatnonzero(missing.to_numpy()):
        errors[i].append(Finding("key.missing", "主键缺失 (primary key missing)", tuple(key), ERROR).as_dict())
    for i in np.flatnonzero(repeated.to_numpy()):
        errors[i].append(Finding("key.not_unique", "主键在同一批次内重复 (primary key repeats within the batch)",
                                 tuple(key), ERROR).as_dict())


def _update_time_check(frame: pd.DataFrame, table: SourceTable, warnings) -> None:
    """A row of a table with an update column whose update time is missing: the department's system
    did not stamp the change, so the record's timeliness cannot be judged and an incremental
    extraction by that column would not see it (a warning: the record itself may be right)."""
    column = table.update_column
    if not column or column not in frame.columns:
        return
    finding = Finding(UPDATE_TIME_MISSING, "更新时间缺失, 无法判断记录的时效 (update time missing)", (column,),
                      WARNING).as_dict()
    for i in np.flatnonzero(~column_presence(frame[column])):
        warnings[i].append(finding)


def unconverted_columns(raw) -> list[str]:
    """The columns named by one row's ``_unconverted`` (``[]`` when it is null). ``ValueError`` for a
    value that is not a JSON object naming at least one column: ingestion writes NULL when every cell
    converted, so anything else is a fault of the pipeline (the message does not quote it: it holds
    source values)."""
    if raw is None or raw is pd.NA or (isinstance(raw, float) and pd.isna(raw)):
        return []
    try:
        cells = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        cells = None
    if not isinstance(cells, dict) or not cells:
        raise ValueError(f"{UNCONVERTED} is not a JSON object of column names and raw texts "
                         "(citylake.ingest writes NULL when every cell converted)")
    return [str(c) for c in cells]


def _unconverted_check(frame: pd.DataFrame, table: SourceTable, errors) -> None:
    """One error per cell ingestion could not convert to its column's type (bronze keeps the raw text
    in ``_unconverted``; the typed column holds NULL). The rule names the column's standard field
    where it is mapped, else the column; the message names the column, never the value."""
    if UNCONVERTED not in frame.columns:  # tables extracted before the column existed
        return
    mapped = {c: f for c, f, _ in table.mapped_columns()}
    findings: dict[str, dict] = {}
    for i, raw in zip(np.flatnonzero(frame[UNCONVERTED].notna().to_numpy()),
                      frame[UNCONVERTED].dropna(), strict=True):
        for column in unconverted_columns(raw):
            if column not in findings:
                label = f"{standard_field(mapped[column]).name_zh}({column})" if column in mapped else column
                findings[column] = Finding(f"{mapped.get(column, column)}.unconverted",
                                           f"{label}的源值无法转换为该列的数据类型 "
                                           f"(the value of column {column} cannot be converted to its type)",
                                           (column,), ERROR).as_dict()
            errors[i].append(findings[column])
