"""The source registry: one YAML file per department system under ``sources/systems/``.

Onboarding a department system is a registry entry, not code. Each file names the system (Chinese
and English), its owner department, the Airflow connection id it is reached through, a schedule,
and its tables: primary key, load mode (``incremental`` by an update column, or ``snapshot``),
and the mapping of its columns to the data standard. Files are validated on load; an error names
the file and the entry.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


class RegistryError(ValueError):
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


_SYSTEM_KEYS = {"system", "name_zh", "name_en", "owner", "connection", "schedule", "tables"}
_TABLE_KEYS = {"name", "description", "primary_key", "load", "update_column", "detect_deletes", "columns",
               "lookback_minutes", "error_threshold", "error_threshold_min_rows", "freshness_days",
               "max_volume_change", "lake_name"}


def _req(entry: dict, key: str, where: str, kind=str):
    if key not in entry or entry[key] in (None, ""):
        raise RegistryError(f"{where}: missing '{key}'")
    value = entry[key]
    if not isinstance(value, kind):
        raise RegistryError(f"{where}: '{key}' should be {kind.__name__}, got {type(value).__name__}")
    return value


def load_system(path: Path) -> SourceSystem:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        from citylake.configuration import yaml_error_line

        raise RegistryError(f"{path}: {yaml_error_line(exc)}") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: expected a mapping with {sorted(_SYSTEM_KEYS)}")
    unknown = set(doc) - _SYSTEM_KEYS
    if unknown:
        raise RegistryError(f"{path}: unknown entries {sorted(unknown)}")
    code = _req(doc, "system", str(path))
    if not _IDENT.match(code):
        raise RegistryError(f"{path}: system '{code}' must be lowercase letters, digits and underscores")
    tables = []
    for i, entry in enumerate(_req(doc, "tables", str(path), list)):
        where = f"{path}: tables[{i}]"
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: expected a mapping")
        unknown = set(entry) - _TABLE_KEYS
        if unknown:
            raise RegistryError(f"{where}: unknown entries {sorted(unknown)}")
        name = _req(entry, "name", where)
        where = f"{path}: tables[{i}] ({name})"
        lake_name = entry.get("lake_name", name.lower())
        if not isinstance(lake_name, str) or not _LAKE_NAME.fullmatch(lake_name):
            raise RegistryError(
                f"{where}: lake_name {lake_name!r} must be ASCII snake_case starting with a letter (it names the "
                "lake tables and the Airflow tasks)" if "lake_name" in entry else
                f"{where}: the table name is not ASCII snake_case once lowercased: give it a lake_name "
                "(e.g. lake_name: youfu_dx for 优抚对象信息); the Chinese name stays the source's and the catalog's")
        key = _req(entry, "primary_key", where, list)
        if not key or not all(isinstance(k, str) and k for k in key):
            raise RegistryError(f"{where}: primary_key must list at least one column")
        if len(key) > 1:
            # The gate merges silver, deletes and files issues by one key column; a compound key
            # would merge on its first column alone.
            raise RegistryError(f"{where}: primary_key {key}: compound keys are not supported yet; "
                                "name one unique column")
        load = _req(entry, "load", where)
        if load not in LOAD_MODES:
            raise RegistryError(f"{where}: load '{load}' is not one of {list(LOAD_MODES)}")
        update_column = entry.get("update_column")
        if load == "incremental" and not update_column:
            raise RegistryError(f"{where}: an incremental table needs an update_column")
        if load == "snapshot" and update_column:
            raise RegistryError(f"{where}: a snapshot table has no update_column (use load: incremental)")
        columns = entry.get("columns") or {}
        if not isinstance(columns, dict):
            raise RegistryError(f"{where}: columns must map source columns to standard fields")
        for column, standard in columns.items():
            match = _STANDARD_FIELD.match(standard) if isinstance(standard, str) else None
            if match is None:
                raise RegistryError(f"{where}: columns.{column}: '{standard}' is not '<entity>.<field>[@<role>]'")
            try:
                standard_field(match.group(1))
            except KeyError as exc:
                raise RegistryError(f"{where}: columns.{column}: {exc.args[0]}") from None
        lookback = entry.get("lookback_minutes", DEFAULT_LOOKBACK_MINUTES if load == "incremental" else 0)
        if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 0:
            raise RegistryError(f"{where}: lookback_minutes must be a whole number of minutes >= 0")
        if entry.get("lookback_minutes") and load != "incremental":
            raise RegistryError(f"{where}: lookback_minutes applies to incremental tables only")
        threshold = entry.get("error_threshold", 0.2)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise RegistryError(f"{where}: error_threshold must be a share between 0 and 1")
        min_rows = entry.get("error_threshold_min_rows", 50)
        if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
            raise RegistryError(f"{where}: error_threshold_min_rows must be a whole number of rows >= 0")
        freshness = entry.get("freshness_days", 2.0)
        if isinstance(freshness, bool) or not isinstance(freshness, int | float) or freshness <= 0:
            raise RegistryError(f"{where}: freshness_days must be a positive number of days")
        if "freshness_days" in entry and load != "incremental":
            raise RegistryError(f"{where}: freshness_days needs an update_column (incremental tables only)")
        volume = entry.get("max_volume_change", 0.2)
        if isinstance(volume, bool) or not isinstance(volume, int | float) or volume < 0:
            raise RegistryError(f"{where}: max_volume_change must be a share >= 0 (0.2 = 20%)")
        detect = entry.get("detect_deletes", load == "snapshot")
        if not isinstance(detect, bool):
            raise RegistryError(f"{where}: detect_deletes must be true or false")
        tables.append(SourceTable(name=name, description=_req(entry, "description", where), primary_key=tuple(key),
                                  load=load, update_column=update_column, detect_deletes=detect, columns=columns,
                                  lookback_minutes=lookback, error_threshold=float(threshold),
                                  error_threshold_min_rows=min_rows,
                                  freshness_days=float(freshness), max_volume_change=float(volume),
                                  lake_name=lake_name))
    for label, names in (("table names", [t.name for t in tables]), ("lake names", [t.lake_name for t in tables])):
        if len(set(names)) != len(names):
            raise RegistryError(f"{path}: {label} repeat: {sorted({n for n in names if names.count(n) > 1})}")
    return SourceSystem(code=code, name_zh=_req(doc, "name_zh", str(path)), name_en=_req(doc, "name_en", str(path)),
                        owner=_req(doc, "owner", str(path)), connection=_req(doc, "connection", str(path)),
                        schedule=_req(doc, "schedule", str(path)), tables=tuple(tables), path=path)


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
    """Load every registry file on its own: a broken file is reported, the others load."""
    root = Path(directory or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)
    if not root.is_dir():
        raise RegistryError(f"source registry {root} is not a directory")
    systems: dict[str, SourceSystem] = {}
    broken: dict[str, str] = {}
    for path in sorted(root.glob("*.yaml")):
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
