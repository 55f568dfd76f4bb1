"""The source registry: one YAML file per department system under ``sources/systems/``.

Onboarding a department system is a registry entry, not code. Each file names the system (Chinese
and English), its owner department, the Airflow connection id it is reached through, a schedule,
and its tables: primary key, load mode (``incremental`` by an update column, or ``snapshot``),
and the mapping of its columns to the data standard. Files are validated on load; an error names
the file and the entry.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import ConfigurationError, read_yaml
from citylake.schemas.rules import RuleEntry
from citylake.schemas.standards import standard_field

log = logging.getLogger(__name__)

REGISTRY_ENV = "CITYLAKE_SOURCES"
DEFAULT_REGISTRY = Path(__file__).with_name("systems")
LOAD_MODES = ("incremental", "snapshot")
# The lookback of an incremental table without its own: an hour covers the long transactions and
# clock skew of department systems, and re-reading an hour of changes costs little (they are
# dropped by their row hash when bronze holds them already).
DEFAULT_LOOKBACK_MINUTES = 60
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
# "<entity>.<field>" or "<entity>.<field>@<role>" when a table describes several parties (a
# marriage record's husband and wife): columns of one role are checked against each other.
_STANDARD_FIELD = re.compile(r"^([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)(?:@([a-z][a-z0-9_]*))?$")
# A lake name part (citylake.lake.names): lowercase snake_case, no doubled or trailing underscores.
_LAKE_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class RegistryError(ConfigurationError):
    """A source registry file has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class SourceTable:
    name: str
    description: str
    primary_key: tuple[str, ...]
    load: str
    update_column: str | None
    detect_deletes: bool
    columns: dict[str, str] = field(default_factory=dict)
    # Re-read this many minutes before the watermark: rows committed late by long transactions (or
    # stamped by a server whose clock lags) carry update times older than rows already extracted.
    # Re-read rows that bronze already holds unchanged are dropped by their row hash. Every
    # incremental table has DEFAULT_LOOKBACK_MINUTES unless its entry says otherwise (0 turns it off).
    lookback_minutes: int = 0
    # The share of a batch's rows with errors above which the batch is not promoted to silver.
    error_threshold: float = 0.2
    # The threshold judges batches of at least this many rows: the error share of a small daily
    # increment (one birth certificate) says nothing of the department's delivery, and refusing it
    # would hold the table back. Smaller batches are gated row by row (bad rows to quarantine).
    error_threshold_min_rows: int = 50
    # Dataset checks (quality/indicators.yaml): the newest change may be at most this many days
    # older than the extraction (incremental tables), and the live row count may change by at most
    # this share from one batch to the next.
    freshness_days: float = 2.0
    max_volume_change: float = 0.2

    # The table's name in the lake (bronze.<system>_<lake_name> …), in Airflow task and asset ids:
    # ASCII snake_case. The registry's ``lake_name``, else the source name lowercased; a source
    # table named in Chinese (优抚对象信息) keeps that name here and in the catalog.
    lake_name: str = ""
    # The table's own quality rules (citylake.schemas.rules, ``arguments.column`` the column): check
    # functions, or a built-in check's criticality for one column; they replace the standard field's.
    rules: tuple[RuleEntry, ...] = ()

    def __post_init__(self) -> None:
        if not self.lake_name:
            object.__setattr__(self, "lake_name", self.name.lower())

    def lake_id(self, system: str) -> str:
        """``<system>_<lake_name>``: the name of the table's bronze, silver and quarantine tables."""
        return f"{system}_{self.lake_name}"

    def bronze_name(self, system: str) -> str:
        return f"bronze.{self.lake_id(system)}"

    def silver_name(self, system: str) -> str:
        return f"silver.{self.lake_id(system)}"

    def quarantine_name(self, system: str) -> str:
        return f"quarantine.{self.lake_id(system)}"

    def mapped_columns(self) -> list[tuple[str, str, str]]:
        """(source column, standard field, role) for every mapped column; role defaults to 'subject'."""
        out = []
        for column, target in self.columns.items():
            field_name, _, role = target.partition("@")
            out.append((column, field_name, role or "subject"))
        return out


@dataclass(frozen=True)
class SourceSystem:
    code: str
    name_zh: str
    name_en: str
    owner: str
    connection: str
    schedule: str
    tables: tuple[SourceTable, ...]
    path: Path

    def table(self, name: str) -> SourceTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"{self.code} has no table {name}")


class TableEntry(ConfigModel):
    """One table of a department system (an entry of ``tables:``)."""

    name: str = Field(min_length=1, description="the table's name in the source system")
    description: str = Field(min_length=1)
    primary_key: list[Annotated[str, Field(min_length=1)]] = Field(
        json_schema_extra={"minItems": 1, "maxItems": 1}, description="one unique column")
    load: Literal[LOAD_MODES] = Field(description="incremental (by update_column) or snapshot")
    update_column: str | None = Field(None, min_length=1, description="incremental tables: the update time")
    detect_deletes: bool | None = Field(None, description="default: true for snapshot tables")
    columns: dict[str, Annotated[str, Field(json_schema_extra={"pattern": _STANDARD_FIELD.pattern})]] = Field(
        default_factory=dict, description="source column -> standard field <entity>.<field>[@<role>]")
    lookback_minutes: int | None = Field(None, ge=0, description="incremental tables: re-read this many minutes "
                                                                 f"before the watermark (default {DEFAULT_LOOKBACK_MINUTES})")
    error_threshold: float = Field(0.2, ge=0, le=1, description="error share above which a batch is held")
    error_threshold_min_rows: int = Field(50, ge=0, description="batches smaller than this are gated row by row")
    freshness_days: float | None = Field(None, gt=0, description="incremental tables: newest change at most "
                                                                 "this many days old (default 2)")
    max_volume_change: float = Field(0.2, ge=0, description="the live row count may change by this share")
    lake_name: str | None = Field(None, json_schema_extra={"pattern": f"^{_LAKE_NAME.pattern}$"},
                                  description="ASCII snake_case name in the lake (default: name lowercased)")
    checks: list[RuleEntry] = Field(default_factory=list,
                                    description="quality rules of the table's columns ({criticality, check: {function, "
                                                "arguments: {column, ...}}, filter}, as dqx); they replace the standard "
                                                "field's rule of the same function")

    @field_validator("primary_key")
    @classmethod
    def _one_key(cls, key: list[str]) -> list[str]:
        if not key:
            raise ValueError("primary_key must list at least one column")
        if len(key) > 1:
            # The gate merges silver, deletes and files issues by one key column; a compound key
            # would merge on its first column alone.
            raise ValueError(f"primary_key {key}: compound keys are not supported yet; name one unique column")
        return key

    @model_validator(mode="after")
    def _consistent(self) -> TableEntry:
        if self.lake_name is not None and not _LAKE_NAME.fullmatch(self.lake_name):
            raise ValueError(f"lake_name {self.lake_name!r} must be ASCII snake_case starting with a letter (it "
                             "names the lake tables and the Airflow tasks)")
        if self.lake_name is None and not _LAKE_NAME.fullmatch(self.name.lower()):
            raise ValueError("the table name is not ASCII snake_case once lowercased: give it a lake_name (e.g. "
                             "lake_name: youfu_dx for 优抚对象信息); the Chinese name stays the source's and the catalog's")
        incremental = self.load == "incremental"
        if incremental and not self.update_column:
            raise ValueError("an incremental table needs an update_column")
        if not incremental and self.update_column:
            raise ValueError("a snapshot table has no update_column (use load: incremental)")
        if self.lookback_minutes and not incremental:
            raise ValueError("lookback_minutes applies to incremental tables only")
        if self.freshness_days is not None and not incremental:
            raise ValueError("freshness_days needs an update_column (incremental tables only)")
        for column, standard in self.columns.items():
            match = _STANDARD_FIELD.match(standard)
            if match is None:
                raise ValueError(f"columns.{column}: '{standard}' is not '<entity>.<field>[@<role>]'")
            try:
                standard_field(match.group(1))
            except KeyError as exc:
                raise ValueError(f"columns.{column}: {exc.args[0]}") from None
        self._known_rules()
        return self

    def _known_rules(self) -> None:
        from citylake.quality.checks import rule_problem

        seen = set()
        for i, rule in enumerate(self.checks):
            column = rule.column
            if not isinstance(column, str) or not column:
                raise ValueError(f"checks[{i}]: check.arguments.column must name the column the rule judges")
            if (column, rule.check.function) in seen:
                raise ValueError(f"checks[{i}]: a second rule of {rule.check.function} on {column}")
            seen.add((column, rule.check.function))
            target = self.columns.get(column)
            field = standard_field(_STANDARD_FIELD.match(target).group(1)) if target else None
            problem = rule_problem(rule, field, is_key=column in self.primary_key)
            if problem:
                raise ValueError(f"checks[{i}] ({column}): {problem}")

    def build(self) -> SourceTable:
        incremental = self.load == "incremental"
        return SourceTable(
            name=self.name, description=self.description, primary_key=tuple(self.primary_key), load=self.load,
            update_column=self.update_column,
            detect_deletes=self.detect_deletes if self.detect_deletes is not None else not incremental,
            columns=dict(self.columns),
            lookback_minutes=self.lookback_minutes if self.lookback_minutes is not None else
            DEFAULT_LOOKBACK_MINUTES if incremental else 0,
            error_threshold=float(self.error_threshold), error_threshold_min_rows=self.error_threshold_min_rows,
            freshness_days=float(self.freshness_days if self.freshness_days is not None else 2.0),
            max_volume_change=float(self.max_volume_change), lake_name=self.lake_name or self.name.lower(),
            rules=tuple(self.checks))


class SystemFile(ConfigModel):
    """``sources/systems/<system>.yaml``: one department system of the source registry."""

    system: str = Field(json_schema_extra={"pattern": _IDENT.pattern}, description="the system's code")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="the owner department")
    connection: str = Field(min_length=1, description="the Airflow connection id")
    schedule: str = Field(min_length=1, description="an Airflow schedule (@daily, a cron expression)")
    tables: list[TableEntry]

    @field_validator("system")
    @classmethod
    def _code(cls, code: str) -> str:
        if not _IDENT.match(code):
            raise ValueError(f"system '{code}' must be lowercase letters, digits and underscores")
        return code

    @model_validator(mode="after")
    def _no_repeats(self) -> SystemFile:
        for label, names in (("table names", [t.name for t in self.tables]),
                             ("lake names", [t.lake_name or t.name.lower() for t in self.tables])):
            if len(set(names)) != len(names):
                raise ValueError(f"{label} repeat: {sorted({n for n in names if names.count(n) > 1})}")
        return self


def load_system(path: Path) -> SourceSystem:
    """One registry file, validated (:class:`SystemFile`); errors are one :class:`RegistryError` line."""
    doc = validate_document(SystemFile, read_yaml(path, RegistryError), path, RegistryError)
    return SourceSystem(code=doc.system, name_zh=doc.name_zh, name_en=doc.name_en, owner=doc.owner,
                        connection=doc.connection, schedule=doc.schedule,
                        tables=tuple(t.build() for t in doc.tables), path=path)


def load_registry(directory: str | Path | None = None, strict: bool = False) -> dict[str, SourceSystem]:
    """Every ``*.yaml`` of the registry directory (``$CITYLAKE_SOURCES``, else ``sources/systems/``), by code.

    A file that does not load stops its own system only: it is left out and its error logged (once
    per process); its ingestion DAG fails naming it (citylake.orchestration.ingest_dags), and
    ``citylake run`` prints it. ``strict`` raises :class:`RegistryError` for the first broken file
    instead (citylake.configuration.check_configuration, before a demo)."""
    report = load_registry_report(directory)
    if report.broken and strict:
        raise RegistryError(next(iter(report.broken.values())))
    for message in report.broken.values():
        if message not in _REPORTED:
            _REPORTED.add(message)
            log.error("source registry: %s (this system is left out; the others run)", message)
    return report.systems


_REPORTED: set[str] = set()


@dataclass(frozen=True)
class RegistryReport:
    """The systems that loaded, and the message of each file that did not, by its system code
    (the file's ``system:`` entry when readable, else the file name without ``.yaml``)."""

    systems: dict[str, SourceSystem]
    broken: dict[str, str]


def load_registry_report(directory: str | Path | None = None) -> RegistryReport:
    """Load every registry file on its own: a broken file is reported, the others load. The files are
    ``directory``'s, else ``$CITYLAKE_SOURCES``'s, else the shipped ones overlaid by
    ``$CITYLAKE_CONFIG/sources/systems/`` (citylake.config_files.registry_files)."""
    from citylake.config_files import registry_files

    systems: dict[str, SourceSystem] = {}
    broken: dict[str, str] = {}
    for path in registry_files(directory):
        try:
            system = load_system(path)
            if system.code in systems:
                raise RegistryError(f"{path}: system '{system.code}' is already defined in "
                                    f"{systems[system.code].path}")
        except RegistryError as exc:
            code = _code_of(path)
            # A file repeating a loaded system's code is reported under its own file name.
            while code in systems or code in broken:
                code = f"{code}_{len(broken) + 1}"
            broken[code] = str(exc)
            continue
        systems[system.code] = system
    return RegistryReport(systems, broken)


def _code_of(path: Path) -> str:
    """The system code a (possibly broken) registry file declares, for naming its error."""
    try:
        code = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("system")
    except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
        code = None
    if isinstance(code, str) and _IDENT.match(code):
        return code
    stem = re.sub(r"[^a-z0-9_]", "_", path.stem.lower()).strip("_")
    return stem if _IDENT.match(stem or "") else "unnamed"
