"""The matching settings of the standard-address library (``jobs/address/matching.yaml``), validated
on load against the source registry: the authoritative table, the source address columns and their
roles, the confidence of each level and the feedback threshold (citylake.jobs.address.match)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from citylake.sources.registry import SourceSystem, SourceTable

SETTINGS_FILE = Path(__file__).with_name("matching.yaml")
LEVELS = ("room", "building", "compound", "road", "street", "district")
# Standard field (address.<component>) of the authoritative table -> component of the library.
COMPONENTS = ("district_code", "district", "street", "community", "road", "house_number", "compound", "building",
              "unit", "room", "text")
_KEYS = {"authority", "roles", "levels", "partial_key_factor", "disagreement_factor", "min_room_confidence",
         "feedback_below", "candidates"}


class MatchingSettingsError(ValueError):
    """jobs/address/matching.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class AddressColumn:
    """One source column of free-text addresses and the role the address plays for the record."""

    system: SourceSystem
    table: SourceTable
    column: str
    role: str

    @property
    def source_table(self) -> str:
        return f"{self.system.code}.{self.table.name}"


@dataclass(frozen=True)
class MatchingSettings:
    authority_system: SourceSystem
    authority_table: SourceTable
    authority_columns: Mapping[str, str]  # component -> department column
    sources: tuple[AddressColumn, ...]
    confidence: Mapping[str, float]
    partial_key_factor: float
    disagreement_factor: float
    min_room_confidence: float
    feedback_below: str
    candidates: int

    @property
    def authority(self) -> str:
        return f"{self.authority_system.code}.{self.authority_table.name}"


def _table(registry: Mapping[str, SourceSystem], qualified: str, where: str) -> tuple[SourceSystem, SourceTable]:
    code, _, name = qualified.partition(".")
    if code not in registry or name not in {t.name for t in registry[code].tables}:
        raise MatchingSettingsError(f"{where}: {qualified!r} is not a table of the source registry")
    return registry[code], registry[code].table(name)


def _share(doc: dict, key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise MatchingSettingsError(f"{where}: {key} must be a number in (0, 1], got {value!r}")
    return float(value)


def load_settings(registry: Mapping[str, SourceSystem], path: Path = SETTINGS_FILE) -> MatchingSettings:
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MatchingSettingsError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != _KEYS:
        found = set(doc) if isinstance(doc, dict) else set()
        raise MatchingSettingsError(f"{where}: expected the entries {sorted(_KEYS)}; missing {sorted(_KEYS - found)}, "
                                    f"unknown {sorted(found - _KEYS)}")
    system, table = _table(registry, str(doc["authority"]), f"{where}: authority")
    columns = {}
    for column, standard, _ in table.mapped_columns():
        entity, _, field = standard.partition(".")
        if entity == "address" and field in COMPONENTS:
            columns[field] = column
    missing = [c for c in ("district_code", "road", "house_number", "room") if c not in columns]
    if missing:
        raise MatchingSettingsError(f"{where}: authority {doc['authority']} maps no column to "
                                    f"{['address.' + c for c in missing]} in the registry")
    roles = doc["roles"]
    if not isinstance(roles, dict) or not roles:
        raise MatchingSettingsError(f"{where}: roles must map <system>.<TABLE>.<column> to a role")
    sources = []
    for qualified, role in roles.items():
        table_name, _, column = str(qualified).rpartition(".")
        src_system, src_table = _table(registry, table_name, f"{where}: roles.{qualified}")
        mapped = {c for c, s, _ in src_table.mapped_columns() if s == "address.text"}
        if column not in mapped:
            raise MatchingSettingsError(f"{where}: roles.{qualified}: the registry maps no address.text to {column}")
        if not isinstance(role, str) or not role.isidentifier():
            raise MatchingSettingsError(f"{where}: roles.{qualified}: role must be a snake_case word")
        sources.append(AddressColumn(src_system, src_table, column, role))
    levels = doc["levels"]
    if not isinstance(levels, dict) or list(levels) != list(LEVELS):
        raise MatchingSettingsError(f"{where}: levels must give, in this order, {list(LEVELS)}")
    confidence = {level: _share(levels, level, f"{where}: levels") for level in LEVELS}
    if doc["feedback_below"] not in LEVELS:
        raise MatchingSettingsError(f"{where}: feedback_below must be one of {list(LEVELS)}")
    candidates = doc["candidates"]
    if isinstance(candidates, bool) or not isinstance(candidates, int) or not 1 <= candidates <= 10:
        raise MatchingSettingsError(f"{where}: candidates must be a whole number from 1 to 10")
    return MatchingSettings(system, table, columns, tuple(sources), confidence,
                            _share(doc, "partial_key_factor", where), _share(doc, "disagreement_factor", where),
                            _share(doc, "min_room_confidence", where), doc["feedback_below"], candidates)
