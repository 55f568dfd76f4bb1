"""The checks of one department table, declared once from its registry entry and the standards.

The same list drives both sides of the gate: the row checks (:mod:`quality.row_checks`) count their
findings per check into ``governance.rule_result``, and :mod:`quality.expectations.suite` turns each
check into one Great Expectations expectation. Each check has a kind from
``quality/indicators.yaml``, which gives its GB/T 36344 indicator (DB31/T 1523 code) and default
criticality.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from citylake.config_files import resolve
from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import ConfigurationError, read_yaml
from citylake.quality.check_functions import CheckFunctionError, bind_arguments, filter_columns, load_function
from citylake.schemas.rules import CRITICALITIES, RuleEntry
from citylake.schemas.standards import REVIEW_VALIDATORS, TEXT_VALIDATORS, StandardField, standard_field
from citylake.schemas.validators import REVIEW_RULES
from citylake.sources.registry import SourceTable

INDICATORS_FILE = Path(__file__).with_name("indicators.yaml")
ROW_KINDS = ("valid", "valid_code", "review", "standard_form", "simplified_chinese", "required", "agrees_with_id",
             "key_present", "key_unique", "update_time_present", "convertible")
# Bronze's column of the raw text of the cells ingestion could not convert (citylake.ingest.extract):
# a JSON object {column: raw text}, NULL when every cell of the row converted.
UNCONVERTED = "_unconverted"
# The rule of a row whose update time is missing (the update_time_present check).
UPDATE_TIME_MISSING = "update_time.missing"
BATCH_KINDS = ("volume", "freshness")
# Checks of a whole table measured outside the gate, each run a batch of its own.
TABLE_KINDS = ("cross_source", "accessible")
BUILT_IN_KINDS = (*ROW_KINDS, *BATCH_KINDS, *TABLE_KINDS)
# The built-in checks of one column's values whose criticality a rule may change (schemas/rules.py),
# and those where dropping the value means something (a missing value has nothing to drop).
OVERRIDABLE_KINDS = ("valid", "valid_code", "review", "standard_form", "simplified_chinese", "required")
DROPPABLE_KINDS = ("valid", "valid_code", "review")


class IndicatorsError(ConfigurationError):
    """quality/indicators.yaml has a missing or malformed entry."""


class IndicatorEntry(ConfigModel):
    """A first-level GB/T 36344 indicator (01 规范性 …)."""

    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


class CheckKindEntry(ConfigModel):
    """A check kind: its DB31/T 1523 item code (the first two digits name its indicator)."""

    code: str = Field(pattern=r"^[0-9]{6}$", description="DB31/T 1523 item code, e.g. '030101'")
    name_zh: str = Field(min_length=1)
    description: str = Field(min_length=1)
    criticality: Literal[CRITICALITIES]
    evaluates: str = Field(min_length=1, description="what B, the elements evaluated, counts")
    function: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                                 description="a check function, module:name (citylake.quality.check_functions); "
                                             "none for the checks built into the gate")
    message: str | None = Field(None, min_length=1,
                                description="a check function's finding, {field} the column (never the value)")

    @model_validator(mode="after")
    def _function_has_message(self) -> CheckKindEntry:
        if self.function and not self.message:
            raise ValueError("a check function needs a message (what a department reads, {field} the column)")
        return self


class IndicatorsFile(ConfigModel):
    """``quality/indicators.yaml``."""

    indicators: dict[str, IndicatorEntry]
    checks: dict[str, CheckKindEntry]
    code_list_validators: list[str] = Field(description="validators whose `valid` check is scored as "
                                                        "valid_code (conformity with reference data)")
    weights: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="综合得分 weights of the indicators (1 where not given)")

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorsFile:
        missing = [kind for kind in BUILT_IN_KINDS if kind not in self.checks]
        if missing:
            raise ValueError(f"checks: missing {missing} (the check kinds the quality stage uses)")
        for kind, entry in self.checks.items():
            if entry.code[:2] not in self.indicators:
                raise ValueError(f"checks.{kind}.code {entry.code} names no indicator")
            if kind in BUILT_IN_KINDS and entry.function:
                raise ValueError(f"checks.{kind}: a check built into the gate takes no function")
            if kind not in BUILT_IN_KINDS and not entry.function:
                raise ValueError(f"checks.{kind}: not a check the gate knows; a new check kind needs a function "
                                 "(module:name, see citylake.quality.check_functions)")
            if entry.function:
                try:
                    load_function(entry.function)
                except CheckFunctionError as exc:
                    raise ValueError(f"checks.{kind}: {exc}") from None
        unknown = set(self.weights) - set(self.indicators)
        if unknown:
            raise ValueError(f"weights name unknown indicators {sorted(unknown)}")
        return self


@dataclass(frozen=True)
class CheckKind:
    kind: str
    code: str
    name_zh: str
    description: str
    criticality: str
    evaluates: str
    function: str | None = None
    message: str | None = None

    @property
    def indicator(self) -> str:
        """The first-level GB/T 36344 indicator, e.g. 准确性."""
        return indicators()["indicators"][self.code[:2]]["name_zh"]


def indicators_file() -> Path:
    """``quality/indicators.yaml``, or its override in ``$CITYLAKE_CONFIG`` (citylake.config_files)."""
    return resolve("quality/indicators.yaml", INDICATORS_FILE)


def indicators() -> dict:
    """The indicators file as a mapping (``indicators``, ``checks``, ``code_list_validators``,
    ``weights``), validated (:class:`IndicatorsFile`)."""
    return load_indicators(indicators_file())


@cache
def load_indicators(path: Path) -> dict:
    return validate_document(IndicatorsFile, read_yaml(path, IndicatorsError), path, IndicatorsError).model_dump()


def check_kind(kind: str) -> CheckKind:
    entry = indicators()["checks"][kind]
    return CheckKind(kind, str(entry["code"]), entry["name_zh"], entry["description"], entry["criticality"],
                     entry["evaluates"], entry["function"], entry["message"])


def function_kinds() -> dict[str, str]:
    """The check kinds that are check functions: kind -> ``module:name``."""
    return _function_kinds(indicators_file())


@cache
def _function_kinds(path: Path) -> dict[str, str]:
    return {kind: entry["function"] for kind, entry in load_indicators(path)["checks"].items() if entry["function"]}


def rule_problem(rule: RuleEntry, field: StandardField | None, is_key: bool = False) -> str | None:
    """What is wrong with ``rule`` on a column of ``field`` (``None``: an unmapped column), or
    ``None``. Called by the standards and the registry as they load, so a misspelt function or a
    missing argument is an error of the file that declares it."""
    function = rule.check.function
    functions = function_kinds()
    if function in functions:
        try:
            bind_arguments(functions[function], rule.function_arguments())
            if rule.filter:
                filter_columns(rule.filter)
        except CheckFunctionError as exc:
            return f"check {function}: {exc}"
        if rule.criticality == "drop_value" and is_key:
            return f"check {function}: a key column's value cannot be dropped (silver is merged by key)"
        return None
    if function not in OVERRIDABLE_KINDS:
        return (f"check.function {function!r} is neither a check function of quality/indicators.yaml "
                f"({sorted(functions)}) nor a built-in check whose criticality a rule may set {list(OVERRIDABLE_KINDS)}")
    if rule.function_arguments() or rule.filter or rule.criticality is None:
        return (f"check {function} is built in: a rule of it sets its criticality, and only that (a criticality, "
                "no arguments, no filter)")
    if field is None:
        return f"check {function} applies to columns mapped to a standard field only"
    if is_key and rule.criticality != "error":
        return f"check {function} of a key column stays an error (silver is merged by key)"
    if rule.criticality == "drop_value" and function not in DROPPABLE_KINDS:
        return f"check {function}: drop_value applies to {list(DROPPABLE_KINDS)} (a value that can be left out)"
    if rule.criticality == "warning" and function in ("valid", "valid_code") and field.type != "string":
        return (f"check {function} of a {field.type} field cannot be a warning: silver holds the field as a "
                f"{field.type}, so an invalid value can only be dropped (drop_value) or quarantined (error)")
    return None


@dataclass(frozen=True)
class Check:
    """One rule applied to one table: ``check_id`` is ``<TABLE>.<column[,column]>.<kind>``."""

    table: str
    kind: str
    columns: tuple[str, ...]
    standard_field: str | None = None
    role: str | None = None
    # For ``required`` outside the subject: the other columns of the party; the field is required
    # once any of them is present.
    party_columns: tuple[str, ...] = ()
    # A cross-source check is named by its rule (quality/cross_source.yaml), not by its kind, and
    # carries the rule's criticality.
    rule_name: str | None = None
    # A rule's criticality (schemas/rules.py; cross-source rules carry their own), else the kind's.
    rule_criticality: str | None = None
    # A check function's arguments (name, value) and filter (schemas/rules.py).
    arguments: tuple[tuple[str, object], ...] = ()
    filter: str | None = None

    @property
    def check_id(self) -> str:
        return f"{self.table}.{','.join(self.columns) or '*'}.{self.rule_name or self.kind}"

    @property
    def spec(self) -> CheckKind:
        return check_kind(self.kind)

    @property
    def criticality(self) -> str:
        return self.rule_criticality or self.spec.criticality

    @property
    def function_arguments(self) -> dict[str, object]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in self.arguments}


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def column_rules(table: SourceTable) -> dict[tuple[str, str], RuleEntry]:
    """The rules of each mapped column, (column, function) -> rule: its standard field's, then the
    table's own (a table rule replaces the field's rule of the same function)."""
    out: dict[tuple[str, str], RuleEntry] = {}
    for column, field_name, _ in table.mapped_columns():
        field = standard_field(field_name)
        for rule in field.checks:
            # A field's rule is checked against the field; here also against the column's use as a key.
            problem = rule_problem(rule, field, is_key=column in table.primary_key)
            if problem:
                raise ConfigurationError(f"{table.name}.{column} ({field_name}): {problem}")
            out[(column, rule.check.function)] = rule
    for rule in table.rules:
        out[(rule.column, rule.check.function)] = rule
    return out


def table_checks(table: SourceTable) -> list[Check]:
    """Every check of ``table``, in a stable order."""
    code_lists = set(indicators()["code_list_validators"])
    rules = column_rules(table)
    out: list[Check] = []
    by_role: dict[str, dict[str, str]] = {}
    for column, field_name, role in table.mapped_columns():
        by_role.setdefault(role, {})[field_name] = column

    def built_in(kind: str, column: str, field_name: str, role: str, party: tuple[str, ...] = ()) -> Check:
        rule = rules.pop((column, kind), None)
        return Check(table.name, kind, (column,), field_name, role, party,
                     rule_criticality=rule.criticality if rule else None)

    for column, field_name, role in table.mapped_columns():
        field = standard_field(field_name)
        valid = "valid_code" if field.validator in code_lists else "valid"
        if (column, "valid") in rules and valid == "valid_code":  # a rule may name either of the pair
            rules[(column, valid)] = rules.pop((column, "valid"))
        out.append(built_in(valid, column, field_name, role))
        if field.validator in REVIEW_VALIDATORS:
            out.append(built_in("review", column, field_name, role))
        out.append(built_in("standard_form", column, field_name, role))
        if field.validator in TEXT_VALIDATORS:
            out.append(built_in("simplified_chinese", column, field_name, role))
        party = tuple(c for c in by_role[role].values() if c != column)
        # Outside the subject a field is required once its party is named; a party known by this one
        # column alone may be absent, so nothing is required of it.
        if field.required and (role == "subject" or party):
            out.append(built_in("required", column, field_name, role, () if role == "subject" else party))
    functions = function_kinds()
    mapped = {column: (field_name, role) for column, field_name, role in table.mapped_columns()}
    for (column, function), rule in rules.items():
        if function not in functions:
            raise ConfigurationError(f"{table.name}.{column}: check {function} does not apply to the column "
                                     "(its standard field has no such check)")
        field_name, role = mapped.get(column, (None, None))
        out.append(Check(table.name, function, (column,), field_name, role, rule_criticality=rule.criticality,
                         arguments=tuple((k, _frozen(v)) for k, v in sorted(rule.function_arguments().items())),
                         filter=rule.filter))
    for fields in by_role.values():
        id_column = fields.get("person.id_number")
        for other in ("person.birth_date", "person.sex"):
            if id_column and other in fields:
                out.append(Check(table.name, "agrees_with_id", (id_column, fields[other]), other))
    key = tuple(table.primary_key)
    out.append(Check(table.name, "key_present", key))
    out.append(Check(table.name, "key_unique", key))
    out.append(Check(table.name, "convertible", (UNCONVERTED,)))
    if table.update_column:
        out.append(Check(table.name, "update_time_present", (table.update_column,)))
    out.append(Check(table.name, "volume", ()))
    if table.update_column:
        out.append(Check(table.name, "freshness", (table.update_column,)))
    return out


def is_row_rule(rule: str) -> bool:
    """A rule of the row checks (not a cross-source rule, whose ids start with ``cross.``)."""
    return not rule.startswith("cross.")


def finding_kind(rule: str, field_validator: str | None) -> str:
    """The check kind a row-check finding belongs to (its rule id is more specific, e.g.
    ``person.id_number.check_digit`` is a ``valid`` finding)."""
    suffix = rule.rsplit(".", 1)[-1]
    if not is_row_rule(rule):
        return "cross_source"
    if suffix in function_kinds():
        return suffix
    if rule.endswith("key.missing"):
        return "key_present"
    if rule.endswith("key.not_unique"):
        return "key_unique"
    if rule == UPDATE_TIME_MISSING:
        return "update_time_present"
    kinds = {"missing": "required", "nonstandard_form": "standard_form", "traditional_chars": "simplified_chinese",
             "disagrees_with_id": "agrees_with_id", "unconverted": "convertible"}
    if suffix in kinds:
        return kinds[suffix]
    if f"{field_validator}.{suffix}" in REVIEW_RULES:
        return "review"
    return "valid_code" if field_validator in set(indicators()["code_list_validators"]) else "valid"


def finding_check_id(table: str, kind: str, columns) -> str:
    """The id of the check a finding of ``kind`` on ``columns`` counts for: the findings of the
    ``convertible`` check name the cell's column, the check is one per table on ``_unconverted``."""
    columns = (UNCONVERTED,) if kind == "convertible" else tuple(columns)
    return f"{table}.{','.join(columns)}.{kind}"
