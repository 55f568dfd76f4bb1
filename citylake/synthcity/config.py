"""The synthetic city's parameters: world shape, defect rates and daily change rates.

Defaults live in ``synthcity.yaml`` beside this module; ``--config FILE`` overlays another file.
Everything is validated on load and errors name the file and the entry, in one line: YAML syntax
errors with their line and column, values of the wrong shape with their entry. Dates are parsed
here rather than by the YAML loader, which would raise a bare "month must be in 1..12".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from citylake import configuration

DEFAULT_CONFIG = Path(__file__).with_name("synthcity.yaml")


class ConfigError(ValueError):
    """The synthetic-city configuration has an unknown, missing or malformed entry."""


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path``; a syntax error is one :class:`ConfigError` line naming file and place."""
    return configuration.read_yaml(path, ConfigError)


def _mapping(value: Any, where: str, of: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of {of}, got {value!r}")
    return value


@dataclass(frozen=True)
class SynthConfig:
    as_of: date
    household_types: dict[str, float]
    enterprises_per_person: float
    migrant_share: float
    employment_rate: float
    annual_mortality_over_70: float
    pilot_code_share: float
    shell_company_share: float
    low_income_household_share: float
    home_ownership: float
    medical_insurance_coverage: float
    # "<department>.<TABLE>" -> column (or "_record") -> defect -> rate among eligible rows
    defects: dict[str, dict[str, dict[str, float]]]
    # daily changes per 1,000 persons (births, deaths …) for --advance-days
    events_per_1000_per_day: dict[str, float]
    # "<department>" -> share of its open defects it corrects per day
    corrections_per_day: dict[str, float]
    source: str = field(default=str(DEFAULT_CONFIG))


_SCALARS = ("enterprises_per_person", "migrant_share", "employment_rate", "annual_mortality_over_70",
            "pilot_code_share", "shell_company_share", "low_income_household_share", "home_ownership",
            "medical_insurance_coverage")
EVENTS = ("births", "deaths", "moves", "marriages", "new_enterprises", "deregistrations")


def _merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for k, v in overlay.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: expected a rate between 0 and 1, got {value!r}")
    return float(value)


def load_config(path: str | Path | None = None) -> SynthConfig:
    """Load the defaults, overlaid with ``path`` when given, and validate every entry."""
    raw = read_yaml(DEFAULT_CONFIG)
    source = str(DEFAULT_CONFIG)
    if path is not None:
        overlay = read_yaml(path) or {}
        if not isinstance(overlay, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = _merge(raw, overlay)
        source = str(path)
    return validate(raw, source)


def _as_of(value: Any, source: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{source}: as_of: expected a date like 2026-10-31, got {value!r} ({exc})") from None


def validate(raw: dict, source: str) -> SynthConfig:
    from citylake.synthcity.defects import DEFECTS, RECORD_DEFECTS
    from citylake.synthcity.departments import TABLES
    from citylake.synthcity.world import HOUSEHOLD_TYPES

    known = {"as_of", "household_types", "defects", "events_per_1000_per_day", "corrections_per_day", *_SCALARS}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"{source}: unknown entries {sorted(unknown)}; known: {sorted(known)}")
    missing = known - set(raw)
    if missing:
        raise ConfigError(f"{source}: missing entries {sorted(missing)}")
    as_of = _as_of(raw["as_of"], source)
    types = _mapping(raw["household_types"], f"{source}: household_types", "household type -> share")
    bad = set(types) - set(HOUSEHOLD_TYPES)
    if bad:
        raise ConfigError(f"{source}: household_types: unknown {sorted(bad)}; known: {list(HOUSEHOLD_TYPES)}")
    shares = {k: _rate(v, f"{source}: household_types.{k}") for k, v in types.items()}
    if sum(shares.values()) <= 0:
        raise ConfigError(f"{source}: household_types: shares add up to zero")

    defects: dict[str, dict[str, dict[str, float]]] = {}
    for table, columns in _mapping(raw["defects"], f"{source}: defects", "table -> columns").items():
        if table not in TABLES:
            raise ConfigError(f"{source}: defects.{table}: no such department table; known: {sorted(TABLES)}")
        spec = TABLES[table]
        defects[table] = {}
        for column, rates in _mapping(columns, f"{source}: defects.{table}", "column -> defects").items():
            where = f"{source}: defects.{table}.{column}"
            rates = _mapping(rates, where, "defect -> rate")
            if column == "_record":
                for name in rates:
                    if name not in RECORD_DEFECTS:
                        raise ConfigError(f"{where}.{name}: unknown record defect; known: {sorted(RECORD_DEFECTS)}")
                defects[table][column] = {k: _rate(v, f"{where}.{k}") for k, v in rates.items()}
                continue
            try:
                col = spec.column(column)
            except KeyError:
                raise ConfigError(f"{where}: {table} has no column {column}") from None
            defects[table][column] = {}
            for name, rate in rates.items():
                if name not in DEFECTS:
                    raise ConfigError(f"{where}.{name}: unknown defect; known: {sorted(DEFECTS)}")
                if col.kind not in DEFECTS[name].kinds:
                    raise ConfigError(f"{where}.{name}: does not apply to a column of kind {col.kind!r}")
                defects[table][column][name] = _rate(rate, f"{where}.{name}")

    events = _mapping(raw["events_per_1000_per_day"], f"{source}: events_per_1000_per_day", "event -> number")
    bad = set(events) - set(EVENTS)
    if bad:
        raise ConfigError(f"{source}: events_per_1000_per_day: unknown {sorted(bad)}; known: {list(EVENTS)}")
    for k, v in events.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise ConfigError(f"{source}: events_per_1000_per_day.{k}: expected a non-negative number")
    departments = {t.department for t in TABLES.values()}
    corrections = _mapping(raw["corrections_per_day"], f"{source}: corrections_per_day", "department -> rate")
    bad = set(corrections) - departments
    if bad:
        raise ConfigError(f"{source}: corrections_per_day: unknown departments {sorted(bad)}; known: {sorted(departments)}")
    return SynthConfig(
        as_of=as_of,
        household_types=shares,
        defects=defects,
        events_per_1000_per_day={k: float(events.get(k, 0)) for k in EVENTS},
        corrections_per_day={k: _rate(v, f"{source}: corrections_per_day.{k}") for k, v in corrections.items()},
        source=source,
        **{k: _rate(raw[k], f"{source}: {k}") for k in _SCALARS},
    )
