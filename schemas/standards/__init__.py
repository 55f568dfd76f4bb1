"""The data standards: one YAML file per standard entity (person 人口, enterprise 法人, address 地址,
party 当事人), each field with its Chinese name, type, whether it is required, the national
standard it follows, its validator (:mod:`citylake.schemas.validators`) and its sensitivity.

Sensitivity (数据分类分级) is declared in GB/T 43697-2024's terms: ``category`` the personal-information
class (敏感个人信息, 一般个人信息, or 非个人信息), ``level`` the grade (一般数据, 重要数据, 核心数据),
``grade`` the sub-level of 一般数据 (1-4, its Annex H), and ``mask`` the rule a reader who may not see
the value gets it through (:data:`citylake.catalog.masking.RULES`). A personal field without a mask
is hidden (deny by default). What is derived from a field inherits its sensitivity
(:mod:`citylake.catalog.classification`).

Department columns are mapped to these fields in the source registry; the quality stage derives
its checks from them. Files are validated on load and errors name the file and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from citylake.config_files import folder_files
from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import ConfigurationError, read_yaml
from citylake.schemas import validators
from citylake.schemas.rules import RuleEntry

STANDARDS_DIR = Path(__file__).parent
TYPES = ("string", "date", "integer", "decimal")


def _party_id(raw: object) -> validators.Verdict:
    verdict = validators.check_id_number(raw)
    return verdict if verdict.ok else validators.check_uscc(raw) if len(str(raw or "").strip()) == 18 else verdict


VALIDATORS: dict[str, Callable[[object], validators.Verdict]] = {
    "id_number": validators.check_id_number,
    "uscc": validators.check_uscc,
    "sex": validators.check_sex,
    "ethnicity": validators.check_ethnicity,
    "date": validators.check_date,
    "mobile": validators.check_mobile,
    "division_code": validators.check_division_code,
    "party_id": _party_id,
    "person_name": validators.check_person_name,
    "name": validators.check_name,
    "text": validators.check_text,
}
# Validators of text fields: their values are judged for traditional characters too.
TEXT_VALIDATORS = frozenset({"person_name", "name", "text"})
# Validators that route some values to manual review (severity review) rather than rejecting them:
# early pilot USCCs, mobile numbers of a segment not in the reference list.
REVIEW_VALIDATORS = frozenset({"uscc", "mobile"})
# Validators of names: silver holds their values in simplified characters (citylake.schemas.simplified).
NAME_VALIDATORS = frozenset({"person_name", "name"})


class StandardsError(ConfigurationError):
    """A standards file has a missing, unknown or malformed entry."""


# GB/T 43697-2024: personal-information classes (Annex B), grades, and the sub-levels of 一般数据 (Annex H).
CATEGORIES = ("敏感个人信息", "一般个人信息", "非个人信息")
NON_PERSONAL = "非个人信息"
LEVELS = ("一般数据", "重要数据", "核心数据")
GRADES = (1, 2, 3, 4)


@dataclass(frozen=True)
class Sensitivity:
    category: str
    level: str
    grade: int
    mask: str | None = None  # a rule of citylake.catalog.masking.RULES; None: hidden where not shown

    @property
    def personal(self) -> bool:
        return self.category != NON_PERSONAL

    @property
    def label(self) -> str:
        """``一般数据4级``, ``重要数据`` …: the grade as a catalog writes it."""
        return f"{self.level}{self.grade}级" if self.level == LEVELS[0] else self.level


@dataclass(frozen=True)
class StandardField:
    entity: str
    name: str
    name_zh: str
    type: str
    required: bool
    standard: str
    validator: str
    sensitivity: Sensitivity
    description: str
    # The most characters (code points) the field holds; None: no limit beyond its validator's.
    max_length: int | None = None
    # Rules of every column mapped to the field (citylake.schemas.rules): check functions, or the
    # criticality of a built-in check (a malformed phone number dropped, its record kept).
    checks: tuple[RuleEntry, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}.{self.name}"

    def too_long(self, raw: object) -> bool:
        """Longer than the field allows, as written less surrounding whitespace (a padded CHAR column
        is not too long). Judged before anything else: it costs one pass over the text, and a
        value this long is not worth standardising."""
        return self.max_length is not None and raw is not None and len(str(raw).strip()) > self.max_length

    def validate(self, raw: object) -> validators.Verdict:
        if self.too_long(raw):
            return validators.Verdict(None, f"{self.validator}.too_long",
                                      f"{self.name_zh}超过标准允许的{self.max_length}个字符 "
                                      f"(longer than the {self.max_length} characters the standard allows)",
                                      validators.SEVERITY_ERROR)
        return VALIDATORS[self.validator](raw)


@dataclass(frozen=True)
class StandardEntity:
    name: str
    name_zh: str
    description: str
    fields: dict[str, StandardField]


def _mask_rules(schema: dict) -> None:
    from citylake.catalog.masking import RULES

    schema["anyOf"] = [{"enum": sorted(RULES)}, {"type": "null"}]


class SensitivityEntry(ConfigModel):
    """GB/T 43697-2024 sensitivity of a field (数据分类分级)."""

    category: Literal[CATEGORIES] = Field(description="personal-information class (Annex B)")
    level: Literal[LEVELS] = Field(description="grade of the data")
    grade: Literal[GRADES] = Field(description="sub-level of 一般数据 (Annex H)")
    mask: str | None = Field(None, json_schema_extra=_mask_rules,
                             description="how a reader who may not see the value gets it "
                                         "(citylake.catalog.masking.RULES); none: hidden")

    @model_validator(mode="after")
    def _known_mask(self) -> SensitivityEntry:
        from citylake.catalog.masking import RULES

        if self.mask is not None and self.mask not in RULES:
            raise ValueError(f"mask {self.mask!r} is not one of {sorted(RULES)} (citylake.catalog.masking)")
        return self


class FieldEntry(ConfigModel):
    """One field of a standard entity; descriptions are required."""

    name_zh: str = Field(min_length=1)
    type: Literal[TYPES]
    required: bool
    standard: str = Field(min_length=1, description="the national standard the field follows")
    validator: Literal[tuple(VALIDATORS)] = Field(description="its check (citylake.schemas.validators)")
    sensitivity: SensitivityEntry
    description: str = Field(min_length=1)
    max_length: int | None = Field(None, ge=1, description="the most characters the field holds (string fields)")
    checks: list[RuleEntry] = Field(default_factory=list, description="rules of every column mapped to the field "
                                    "({criticality, check: {function, arguments}, filter}, as dqx)")

    @model_validator(mode="after")
    def _length_of_text(self) -> FieldEntry:
        if self.max_length is not None and self.type != "string":
            raise ValueError("max_length must be a positive whole number, on a string field")
        return self

    @model_validator(mode="after")
    def _known_rules(self) -> FieldEntry:
        from citylake.quality.checks import rule_problem

        seen = set()
        for i, rule in enumerate(self.checks):
            if rule.column is not None:
                raise ValueError(f"checks[{i}]: a field's rule applies to every column mapped to it: no column argument")
            if rule.check.function in seen:
                raise ValueError(f"checks[{i}]: a second rule of {rule.check.function}")
            seen.add(rule.check.function)
            field = StandardField("", "", self.name_zh, self.type, self.required, self.standard, self.validator,
                                  Sensitivity(**self.sensitivity.model_dump()), self.description, self.max_length)
            problem = rule_problem(rule, field)
            if problem:
                raise ValueError(f"checks[{i}]: {problem}")
        return self


class StandardFile(ConfigModel):
    """``schemas/standards/<entity>.yaml``: one standard entity."""

    entity: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1)
    description: str = Field(min_length=1)
    fields: dict[str, FieldEntry] = Field(min_length=1)


def _load(path: Path) -> StandardEntity:
    doc = validate_document(StandardFile, read_yaml(path, StandardsError), path, StandardsError)
    fields = {name: StandardField(doc.entity, name, spec.name_zh, spec.type, spec.required, spec.standard,
                                  spec.validator, Sensitivity(**spec.sensitivity.model_dump()), spec.description,
                                  spec.max_length, tuple(spec.checks))
              for name, spec in doc.fields.items()}
    return StandardEntity(doc.entity, doc.name_zh, doc.description, fields)


def standard_files(directory: str | Path | None = None) -> list[Path]:
    """The standards' files: ``directory``'s, else the shipped ones overlaid by
    ``$CITYLAKE_CONFIG/schemas/standards/`` (citylake.config_files)."""
    if directory:
        return sorted(Path(directory).glob("*.yaml"))
    return folder_files("schemas/standards", STANDARDS_DIR)


def standards(directory: str | None = None) -> dict[str, StandardEntity]:
    """The standard entities by name (loaded once per set of files)."""
    return _standards(tuple(standard_files(directory)))


@cache
def _standards(paths: tuple[Path, ...]) -> dict[str, StandardEntity]:
    entities = [_load(p) for p in paths]
    return {e.name: e for e in entities}


standards.cache_clear = _standards.cache_clear  # type: ignore[attr-defined]
def standard_field(qualified: str) -> StandardField:
    """``"person.id_number"`` -> its field; KeyError naming what exists otherwise."""
    entity, _, name = qualified.partition(".")
    known = standards()
    if entity not in known or name not in known[entity].fields:
        raise KeyError(f"no standard field {qualified!r}; known: "
                       f"{sorted(f.qualified_name for e in known.values() for f in e.fields.values())}")
    return known[entity].fields[name]
