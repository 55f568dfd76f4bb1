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
from citylake.schemas.standards import REVIEW_VALIDATORS, TEXT_VALIDATORS, standard_field
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
    criticality: Literal["error", "warning"]
    evaluates: str = Field(min_length=1, description="what B, the elements evaluated, counts")


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
        missing = [kind for kind in (*ROW_KINDS, *BATCH_KINDS, *TABLE_KINDS) if kind not in self.checks]
        if missing:
            raise ValueError(f"checks: missing {missing} (the check kinds the quality stage uses)")
        for kind, entry in self.checks.items():
            if entry.code[:2] not in self.indicators:
                raise ValueError(f"checks.{kind}.code {entry.code} names no indicator")
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
                     entry["evaluates"])


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
    rule_criticality: str | None = None

    @property
    def check_id(self) -> str:
        return f"{self.table}.{','.join(self.columns) or '*'}.{self.rule_name or self.kind}"

    @property
    def spec(self) -> CheckKind:
        return check_kind(self.kind)

    @property
    def criticality(self) -> str:
        return self.rule_criticality or self.spec.criticality


def table_checks(table: SourceTable) -> list[Check]:
    """Every check of ``table``, in a stable order."""
    code_lists = set(indicators()["code_list_validators"])
    out: list[Check] = []
    by_role: dict[str, dict[str, str]] = {}
    for column, field_name, role in table.mapped_columns():
        by_role.setdefault(role, {})[field_name] = column
    for column, field_name, role in table.mapped_columns():
        field = standard_field(field_name)
        valid = "valid_code" if field.validator in code_lists else "valid"
        out.append(Check(table.name, valid, (column,), field_name, role))
        if field.validator in REVIEW_VALIDATORS:
            out.append(Check(table.name, "review", (column,), field_name, role))
        out.append(Check(table.name, "standard_form", (column,), field_name, role))
        if field.validator in TEXT_VALIDATORS:
            out.append(Check(table.name, "simplified_chinese", (column,), field_name, role))
        party = tuple(c for c in by_role[role].values() if c != column)
        # Outside the subject a field is required once its party is named; a party known by this one
        # column alone may be absent, so nothing is required of it.
        if field.required and (role == "subject" or party):
            out.append(Check(table.name, "required", (column,), field_name, role,
                             () if role == "subject" else party))
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


def finding_kind(rule: str, criticality: str, field_validator: str | None) -> str:
    """The check kind a row-check finding belongs to (its rule id is more specific, e.g.
    ``person.id_number.check_digit`` is a ``valid`` finding)."""
    suffix = rule.rsplit(".", 1)[-1]
    if not is_row_rule(rule):
        return "cross_source"
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
    if criticality == "warning":
        return "review"
    return "valid_code" if field_validator in set(indicators()["code_list_validators"]) else "valid"


def finding_check_id(table: str, kind: str, columns) -> str:
    """The id of the check a finding of ``kind`` on ``columns`` counts for: the findings of the
    ``convertible`` check name the cell's column, the check is one per table on ``_unconverted``."""
    columns = (UNCONVERTED,) if kind == "convertible" else tuple(columns)
    return f"{table}.{','.join(columns)}.{kind}"
