"""The topic libraries' rules (专题库规则), ``jobs/topics/rules.yaml``, validated on load.

Every threshold, window and source of :mod:`citylake.jobs.topics.build` is here; an unknown,
missing or out-of-range entry is one :class:`citylake.configuration.ConfigurationError` line naming
the file and the entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from citylake.configuration import ConfigurationError, read_yaml

RULES_FILE = Path(__file__).with_name("rules.yaml")
SOURCE_TABLE = r"^[a-z][a-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*$"
CHILD_RULES = ("both_parents_deceased", "one_parent_deceased_dibao", "raised_by_grandparents")
SHELL_REASONS = ("no_insured_employees", "no_tax_declared", "shared_registered_address", "legal_rep_deceased",
                 "legal_rep_of_many")
ENTERPRISE_STATUSES = ("存续", "吊销", "注销")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Elderly(_Rule):
    min_age: int = Field(ge=0, le=120)
    age_bands: tuple[int, ...] = Field(min_length=1)

    @field_validator("age_bands")
    @classmethod
    def _ascending(cls, bands: tuple[int, ...]) -> tuple[int, ...]:
        if list(bands) != sorted(set(bands)):
            raise ValueError("age bands must be strictly ascending")
        return bands


class ElderlyLivingAlone(_Rule):
    min_age: int = Field(ge=0, le=120)
    active_within_days: int = Field(gt=0)
    address_sources: tuple[str, ...] = Field(min_length=1)

    @field_validator("address_sources")
    @classmethod
    def _tables(cls, tables: tuple[str, ...]) -> tuple[str, ...]:
        return _source_tables(tables)


class ChildrenInDifficulty(_Rule):
    max_age: int = Field(gt=0, le=30)
    dibao_source: str = Field(pattern=SOURCE_TABLE)
    rules: tuple[Literal["both_parents_deceased", "one_parent_deceased_dibao", "raised_by_grandparents"], ...] = (
        Field(min_length=1))


class ShellCompany(_Rule):
    months: int = Field(gt=0, le=36)
    min_shared_address: int = Field(ge=2)
    min_represented: int = Field(ge=2)
    min_score: int = Field(gt=0)
    statuses: tuple[Literal["存续", "吊销", "注销"], ...] = Field(min_length=1)
    weights: dict[Literal["no_insured_employees", "no_tax_declared", "shared_registered_address",
                          "legal_rep_deceased", "legal_rep_of_many"], int]

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, int]) -> dict[str, int]:
        bad = sorted(k for k, v in weights.items() if v <= 0)
        if bad:
            raise ValueError(f"weights must be positive: {bad}")
        return weights


class DibaoReview(_Rule):
    source: str = Field(pattern=SOURCE_TABLE)
    property_source: str = Field(pattern=SOURCE_TABLE)
    min_properties: int = Field(ge=2)
    min_capital_10k: float = Field(gt=0)
    enterprise_statuses: tuple[Literal["存续", "吊销", "注销"], ...] = Field(min_length=1)


class TopicRules(_Rule):
    elderly: Elderly
    elderly_living_alone: ElderlyLivingAlone
    children_in_difficulty: ChildrenInDifficulty
    shell_company: ShellCompany
    dibao_review: DibaoReview


def _source_tables(tables: tuple[str, ...]) -> tuple[str, ...]:
    import re

    bad = [t for t in tables if not re.match(SOURCE_TABLE, t)]
    if bad:
        raise ValueError(f"not <system>.<TABLE> names: {bad}")
    return tables


def load_rules(path: str | Path = RULES_FILE) -> TopicRules:
    """The rules in ``path``; an invalid entry is one line naming the file and the entry."""
    document = read_yaml(path)
    try:
        return TopicRules.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        entry = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise ConfigurationError(f"{path}: {entry}: {first['msg']}") from None
