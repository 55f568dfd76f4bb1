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
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from citylake import configuration
from citylake.config_files import resolve
from citylake.config_model import ConfigModel, validate_document

DEFAULT_CONFIG = Path(__file__).with_name("synthcity.yaml")


class ConfigError(configuration.ConfigurationError):
    """The synthetic-city configuration has an unknown, missing or malformed entry."""


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path``; a syntax error is one :class:`ConfigError` line naming file and place."""
    return configuration.read_yaml(path, ConfigError)


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


Rate = Annotated[float, Field(ge=0, le=1, description="a rate between 0 and 1")]


class SynthCityFile(ConfigModel):
    """``citylake/synthcity/synthcity.yaml`` (with a ``--config`` overlay merged in): every entry present."""

    as_of: str = Field(json_schema_extra={"format": "date"}, description="the city's date, e.g. 2026-10-31")
    household_types: dict[str, Rate] = Field(description="household type -> share (citylake.synthcity.world)")
    enterprises_per_person: Rate
    migrant_share: Rate
    employment_rate: Rate
    annual_mortality_over_70: Rate
    pilot_code_share: Rate
    shell_company_share: Rate
    low_income_household_share: Rate
    home_ownership: Rate
    medical_insurance_coverage: Rate
    defects: dict[str, dict[str, dict[str, Rate]]] = Field(
        description="<department>.<TABLE> -> column (or _record) -> defect -> rate among eligible rows")
    events_per_1000_per_day: dict[Literal[EVENTS], Annotated[float, Field(ge=0)]] = Field(
        description="daily changes per 1,000 persons (--advance-days)")
    corrections_per_day: dict[str, Rate] = Field(description="department -> share of its open defects "
                                                             "it corrects per day")

    @field_validator("as_of")
    @classmethod
    def _date(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"expected a date like 2026-10-31, got {value!r} ({exc})") from None
        return value

    @model_validator(mode="after")
    def _known_names(self) -> SynthCityFile:
        # Imported here: the generator's modules import this one.
        from citylake.synthcity.defects import DEFECTS, RECORD_DEFECTS
        from citylake.synthcity.departments import TABLES
        from citylake.synthcity.world import HOUSEHOLD_TYPES

        bad = set(self.household_types) - set(HOUSEHOLD_TYPES)
        if bad:
            raise ValueError(f"household_types: unknown {sorted(bad)}; known: {list(HOUSEHOLD_TYPES)}")
        if sum(self.household_types.values()) <= 0:
            raise ValueError("household_types: shares add up to zero")
        for table, columns in self.defects.items():
            if table not in TABLES:
                raise ValueError(f"defects.{table}: no such department table; known: {sorted(TABLES)}")
            for column, rates in columns.items():
                where = f"defects.{table}.{column}"
                if column == "_record":
                    for name in rates:
                        if name not in RECORD_DEFECTS:
                            raise ValueError(f"{where}.{name}: unknown record defect; known: {sorted(RECORD_DEFECTS)}")
                    continue
                try:
                    col = TABLES[table].column(column)
                except KeyError:
                    raise ValueError(f"{where}: {table} has no column {column}") from None
                for name in rates:
                    if name not in DEFECTS:
                        raise ValueError(f"{where}.{name}: unknown defect; known: {sorted(DEFECTS)}")
                    if col.kind not in DEFECTS[name].kinds:
                        raise ValueError(f"{where}.{name}: does not apply to a column of kind {col.kind!r}")
        departments = {t.department for t in TABLES.values()}
        bad = set(self.corrections_per_day) - departments
        if bad:
            raise ValueError(f"corrections_per_day: unknown departments {sorted(bad)}; known: {sorted(departments)}")
        return self


def default_config() -> Path:
    """``synthcity.yaml`` beside this module, or its override ``$CITYLAKE_CONFIG/synthcity/synthcity.yaml``
    (citylake.config_files)."""
    return resolve("synthcity/synthcity.yaml", DEFAULT_CONFIG)


def load_config(path: str | Path | None = None) -> SynthConfig:
    """Load the defaults (:func:`default_config`), overlaid with ``path`` when given, and validate every entry."""
    defaults = default_config()
    raw = read_yaml(defaults)
    source = str(defaults)
    if path is not None:
        overlay = read_yaml(path) or {}
        if not isinstance(overlay, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw = _merge(raw, overlay) if isinstance(raw, dict) else overlay
        source = str(path)
    return validate(raw, source)


def validate(raw: Any, source: str) -> SynthConfig:
    """``raw`` (the merged document) as a :class:`SynthConfig`; errors are one :class:`ConfigError` line
    naming ``source`` and the entry."""
    doc = validate_document(SynthCityFile, raw, source, ConfigError)
    return SynthConfig(
        as_of=date.fromisoformat(doc.as_of),
        household_types=dict(doc.household_types),
        defects={table: {column: dict(rates) for column, rates in columns.items()}
                 for table, columns in doc.defects.items()},
        events_per_1000_per_day={k: float(doc.events_per_1000_per_day.get(k, 0)) for k in EVENTS},
        corrections_per_day=dict(doc.corrections_per_day),
        source=source,
        **{k: float(getattr(doc, k)) for k in _SCALARS},
    )
