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

import yaml

from citylake.schemas import validators

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


class StandardsError(ValueError):
    """A standards file has a missing, unknown or malformed entry."""


# GB/T 43697-2024: personal-information classes (Annex B), grades, and the sub-levels of 一般数据 (Annex H).
CATEGORIES = ("敏感个人信息", "一般个人信息", "非个人信息")
NON_PERSONAL = "非个人信息"
LEVELS = ("一般数据", "重要数据", "核心数据")
GRADES = (1, 2, 3, 4)
_SENSITIVITY_KEYS = {"category", "level", "grade"}


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


_FIELD_KEYS = {"name_zh", "type", "required", "standard", "validator", "sensitivity", "description"}
_OPTIONAL_KEYS = {"max_length"}


def _sensitivity(entry: object, where: str) -> Sensitivity:
    from citylake.catalog.masking import RULES

    where = f"{where}: sensitivity"
    if not isinstance(entry, dict) or not _SENSITIVITY_KEYS <= set(entry) <= _SENSITIVITY_KEYS | {"mask"}:
        raise StandardsError(f"{where}: expected {{category, level, grade}} and optionally mask, got {entry!r}")
    if entry["category"] not in CATEGORIES:
        raise StandardsError(f"{where}: category {entry['category']!r} is not one of {list(CATEGORIES)} (GB/T 43697)")
    if entry["level"] not in LEVELS:
        raise StandardsError(f"{where}: level {entry['level']!r} is not one of {list(LEVELS)} (GB/T 43697)")
    if type(entry["grade"]) is not int or entry["grade"] not in GRADES:
        raise StandardsError(f"{where}: grade {entry['grade']!r} is not one of {list(GRADES)}")
    mask = entry.get("mask")
    if mask is not None and mask not in RULES:
        raise StandardsError(f"{where}: mask {mask!r} is not one of {sorted(RULES)} (citylake.catalog.masking)")
    return Sensitivity(entry["category"], entry["level"], entry["grade"], mask)


def _load(path: Path) -> StandardEntity:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise StandardsError(f"{path}: expected a mapping")
    for key in ("entity", "name_zh", "description", "fields"):
        if not doc.get(key):
            raise StandardsError(f"{path}: missing '{key}'")
    entity = doc["entity"]
    fields = {}
    for name, spec in doc["fields"].items():
        where = f"{path}: fields.{name}"
        if not isinstance(spec, dict):
            raise StandardsError(f"{where}: expected a mapping")
        missing = _FIELD_KEYS - set(spec)
        if missing:
            raise StandardsError(f"{where}: missing {sorted(missing)} (descriptions are required)")
        unknown = set(spec) - _FIELD_KEYS - _OPTIONAL_KEYS
        if unknown:
            raise StandardsError(f"{where}: unknown entries {sorted(unknown)}")
        if spec["type"] not in TYPES:
            raise StandardsError(f"{where}: type '{spec['type']}' is not one of {list(TYPES)}")
        if spec["validator"] not in VALIDATORS:
            raise StandardsError(f"{where}: validator '{spec['validator']}' is not one of {sorted(VALIDATORS)}")
        max_length = spec.get("max_length")
        if max_length is not None and (type(max_length) is not int or max_length < 1 or spec["type"] != "string"):
            raise StandardsError(f"{where}: max_length must be a positive whole number, on a string field")
        fields[name] = StandardField(entity, name, spec["name_zh"], spec["type"], bool(spec["required"]),
                                     spec["standard"], spec["validator"], _sensitivity(spec["sensitivity"], where),
                                     spec["description"], max_length)
    return StandardEntity(entity, doc["name_zh"], doc["description"], fields)


@cache
def standards(directory: str | None = None) -> dict[str, StandardEntity]:
    """The standard entities by name."""
    root = Path(directory) if directory else STANDARDS_DIR
    entities = [_load(p) for p in sorted(root.glob("*.yaml"))]
    return {e.name: e for e in entities}


def standard_field(qualified: str) -> StandardField:
    """``"person.id_number"`` -> its field; KeyError naming what exists otherwise."""
    entity, _, name = qualified.partition(".")
    known = standards()
    if entity not in known or name not in known[entity].fields:
        raise KeyError(f"no standard field {qualified!r}; known: "
                       f"{sorted(f.qualified_name for e in known.values() for f in e.fields.values())}")
    return known[entity].fields[name]
