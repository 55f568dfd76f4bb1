"""Settings of the residue linker (citylake.jobs.person.linkage): thresholds, blocking rules and
comparison weights from ``linkage.yaml`` beside this module, validated on load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SETTINGS = Path(__file__).with_name("linkage.yaml")

#: The keys a blocking rule may join on (columns of the record and person features).
BLOCKING_KEYS = ("name", "birth_date", "sex", "phone", "address", "context_address")

#: Every comparison and its levels; each level's weight is required.
WEIGHT_LEVELS: dict[str, tuple[str, ...]] = {
    "id_number": ("check_character", "substitution", "transposition", "different"),
    "name": ("m", "frequency_floor", "equal_min", "equal_max", "one_character", "different"),
    "birth_date": ("equal", "different"),
    "sex": ("equal", "different"),
    "phone": ("equal", "different"),
    "address": ("equal", "same_district", "different"),
    "context_address": ("equal", "different"),
}


class LinkageSettingsError(ValueError):
    """A linkage settings file that does not validate; the message names the file and the entry."""


@dataclass(frozen=True)
class LinkageSettings:
    threshold: float
    margin: float
    blocking: tuple[tuple[str, ...], ...]
    role_sex: dict[str, str]
    weights: dict[str, dict[str, float]]
    source: str = str(DEFAULT_SETTINGS)


def load_settings(path: str | Path | None = None) -> LinkageSettings:
    """Read and validate the linkage settings (``linkage.yaml`` beside this module by default)."""
    source = Path(path) if path is not None else DEFAULT_SETTINGS
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LinkageSettingsError(f"{source}: not valid YAML: {exc}") from None
    return validate(raw, str(source))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LinkageSettingsError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise LinkageSettingsError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _exact_keys(value: dict, known: tuple[str, ...] | set[str], where: str) -> None:
    unknown = set(value) - set(known)
    if unknown:
        raise LinkageSettingsError(f"{where}: unknown entries {sorted(unknown)}; known: {sorted(known)}")
    missing = set(known) - set(value)
    if missing:
        raise LinkageSettingsError(f"{where}: missing entries {sorted(missing)}")


def validate(raw: Any, source: str) -> LinkageSettings:
    top = _mapping(raw, source)
    _exact_keys(top, {"decision", "blocking", "role_sex", "weights"}, source)

    decision = _mapping(top["decision"], f"{source}: decision")
    _exact_keys(decision, {"threshold", "margin"}, f"{source}: decision")
    threshold = _number(decision["threshold"], f"{source}: decision.threshold")
    margin = _number(decision["margin"], f"{source}: decision.margin")
    if margin < 0:
        raise LinkageSettingsError(f"{source}: decision.margin: must not be negative, got {margin}")

    rules = top["blocking"]
    if not isinstance(rules, list) or not rules:
        raise LinkageSettingsError(f"{source}: blocking: expected a non-empty list of key lists")
    blocking = []
    for i, rule in enumerate(rules):
        where = f"{source}: blocking[{i}]"
        if not isinstance(rule, list) or not rule:
            raise LinkageSettingsError(f"{where}: expected a non-empty list of keys, got {rule!r}")
        bad = [k for k in rule if k not in BLOCKING_KEYS]
        if bad:
            raise LinkageSettingsError(f"{where}: unknown keys {bad}; known: {list(BLOCKING_KEYS)}")
        if len(set(rule)) != len(rule):
            raise LinkageSettingsError(f"{where}: a key is repeated in {rule}")
        if rule == ["sex"]:
            raise LinkageSettingsError(f"{where}: sex alone would pair every record with half the city")
        blocking.append(tuple(rule))

    role_sex = _mapping(top["role_sex"] or {}, f"{source}: role_sex")
    for role, sex in role_sex.items():
        if sex not in ("1", "2"):
            raise LinkageSettingsError(f"{source}: role_sex.{role}: expected GB/T 2261.1 code '1' or '2', got {sex!r}")

    weights_raw = _mapping(top["weights"], f"{source}: weights")
    _exact_keys(weights_raw, tuple(WEIGHT_LEVELS), f"{source}: weights")
    weights: dict[str, dict[str, float]] = {}
    for comparison, levels in WEIGHT_LEVELS.items():
        where = f"{source}: weights.{comparison}"
        entry = _mapping(weights_raw[comparison], where)
        _exact_keys(entry, levels, where)
        weights[comparison] = {level: _number(entry[level], f"{where}.{level}") for level in levels}
    name = weights["name"]
    if not 0 < name["m"] <= 1 or not 0 < name["frequency_floor"] < 1:
        raise LinkageSettingsError(f"{source}: weights.name: m and frequency_floor must be probabilities")
    if name["equal_min"] > name["equal_max"]:
        raise LinkageSettingsError(f"{source}: weights.name: equal_min is above equal_max")
    return LinkageSettings(threshold, margin, tuple(blocking), dict(role_sex), weights, source)
