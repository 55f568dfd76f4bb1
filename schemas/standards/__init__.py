"""The data standards: one YAML file per standard entity (person 人口, enterprise 法人, address 地址,
party 当事人), each field with its Chinese name, type, whether it is required, the national
standard it follows, its validator (:mod:`citylake.schemas.validators`) and its sensitivity.

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


def _text(raw: object) -> validators.Verdict:
    fixes: list[str] = []
    text = None if raw is None else " ".join(str(raw).split())
    if text is not None and text != str(raw):
        fixes.append("whitespace")
    if not text:
        return validators.Verdict(None, "text.missing", "值缺失 (value missing)", validators.SEVERITY_ERROR,
                                  tuple(fixes))
    return validators.Verdict(text, fixes=tuple(fixes))


def _name(raw: object) -> validators.Verdict:
    """A person's or organisation's name: half-width, no whitespace anywhere (Chinese names have none)."""
    fixes: list[str] = []
    text = validators.normalise_text(raw, fixes)
    if not text:
        return validators.Verdict(None, "name.missing", "名称缺失 (name missing)", validators.SEVERITY_ERROR,
                                  tuple(fixes))
    return validators.Verdict(text, fixes=tuple(fixes))


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
    "name": _name,
    "text": _text,
}


class StandardsError(ValueError):
    """A standards file has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class Sensitivity:
    category: str
    grade: int


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

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}.{self.name}"

    def validate(self, raw: object) -> validators.Verdict:
        return VALIDATORS[self.validator](raw)


@dataclass(frozen=True)
class StandardEntity:
    name: str
    name_zh: str
    description: str
    fields: dict[str, StandardField]


_FIELD_KEYS = {"name_zh", "type", "required", "standard", "validator", "sensitivity", "description"}


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
        unknown = set(spec) - _FIELD_KEYS
        if unknown:
            raise StandardsError(f"{where}: unknown entries {sorted(unknown)}")
        if spec["type"] not in TYPES:
            raise StandardsError(f"{where}: type '{spec['type']}' is not one of {list(TYPES)}")
        if spec["validator"] not in VALIDATORS:
            raise StandardsError(f"{where}: validator '{spec['validator']}' is not one of {sorted(VALIDATORS)}")
        sensitivity = spec["sensitivity"]
        if not isinstance(sensitivity, dict) or set(sensitivity) != {"category", "grade"}:
            raise StandardsError(f"{where}: sensitivity needs a category and a grade")
        fields[name] = StandardField(entity, name, spec["name_zh"], spec["type"], bool(spec["required"]),
                                     spec["standard"], spec["validator"],
                                     Sensitivity(sensitivity["category"], int(sensitivity["grade"])),
                                     spec["description"])
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
