"""Gold-table specs: one YAML per gold table beside the job that builds it (``jobs/<library>/tables/``),
with its Chinese name, description, key, sources and columns (Chinese name, Spark type, description,
and optionally a ``classification``: ``public`` for a non-personal column, or the standard field whose
values the column carries, e.g. ``person.id_number`` — a column derived from a sensitive field stays
sensitive; an unclassified column is hidden from analysts, see :mod:`citylake.catalog.access`), and
optionally ``derived_from``: the standard fields, source columns (``<system>.<TABLE>.<COLUMN>``) or
gold columns (``gold.<table>.<column>``) its values come from, whose sensitivity it inherits
(:mod:`citylake.catalog.classification`).

A spec is validated on load (errors name the file and the entry) and a job's output is checked
against it before it is written (:func:`conform`), so the catalog's description of a table and the
table itself cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_KEYS = {"table", "name_zh", "description", "key", "sources", "columns"}
_COLUMN_KEYS = {"name_zh", "type", "description"}
_OPTIONAL_COLUMN_KEYS = {"classification", "derived_from"}
PUBLIC = "public"
JOBS_DIR = Path(__file__).resolve().parent
_TABLE = re.compile(r"^gold\.[a-z][a-z0-9_]*$")
# A derived_from entry: a standard field (entity.field), a gold column, or a source column.
_DERIVED = re.compile(r"^(?:[a-z_]+\.[a-z_]+|gold\.[a-z][a-z0-9_]*\.\w+|[a-z][a-z0-9_]*\.\w+\.\w+)$")


class SpecError(ValueError):
    """A gold-table spec has a missing, unknown or malformed entry, or a frame does not match it."""


@dataclass(frozen=True)
class Column:
    name: str
    name_zh: str
    type: str  # Spark SQL type as DataType.simpleString() writes it: string, date, array<string> …
    description: str
    classification: str | None = None  # "public", a standard field, or None: unclassified
    derived_from: tuple[str, ...] = ()  # what its values come from (citylake.catalog.classification)


@dataclass(frozen=True)
class TableSpec:
    table: str
    name_zh: str
    description: str
    key: tuple[str, ...]
    sources: tuple[str, ...]
    columns: tuple[Column, ...]
    path: Path

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: '{key}' must be a non-empty text")
    return value


def _classification(entry: dict, where: str) -> str | None:
    if "classification" not in entry:
        return None
    label = _text(entry, "classification", where)
    if label != PUBLIC:
        from citylake.schemas.standards import standard_field

        try:
            standard_field(label)
        except KeyError as exc:
            raise SpecError(f"{where}: classification '{label}' is neither '{PUBLIC}' nor a standard field "
                            f"({exc.args[0]})") from None
    return label


def _derived_from(entry: dict, where: str) -> tuple[str, ...]:
    values = entry.get("derived_from", [])
    if not isinstance(values, list) or not all(isinstance(v, str) and _DERIVED.match(v) for v in values):
        raise SpecError(f"{where}: derived_from must list standard fields (person.id_number), gold columns "
                        f"(gold.<table>.<column>) or source columns (<system>.<TABLE>.<COLUMN>), got {values!r}")
    for value in values:
        if value.count(".") == 1:
            _classification({"classification": value}, f"{where}: derived_from")
    return tuple(values)


def load_spec(path: Path) -> TableSpec:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: expected a mapping with {sorted(_KEYS)}")
    if set(doc) != _KEYS:
        raise SpecError(f"{path}: expected the entries {sorted(_KEYS)}; missing {sorted(_KEYS - set(doc))}, "
                        f"unknown {sorted(set(doc) - _KEYS)}")
    table = _text(doc, "table", str(path))
    if not _TABLE.match(table):
        raise SpecError(f"{path}: table '{table}' must be gold.<snake_case name>")
    columns = []
    if not isinstance(doc["columns"], dict) or not doc["columns"]:
        raise SpecError(f"{path}: columns must map column names to {sorted(_COLUMN_KEYS)}")
    for name, entry in doc["columns"].items():
        where = f"{path}: columns.{name}"
        if not isinstance(entry, dict) or not _COLUMN_KEYS <= set(entry) <= _COLUMN_KEYS | _OPTIONAL_COLUMN_KEYS:
            raise SpecError(f"{where}: expected {sorted(_COLUMN_KEYS)} and optionally {sorted(_OPTIONAL_COLUMN_KEYS)}")
        columns.append(Column(name, _text(entry, "name_zh", where), _text(entry, "type", where).replace(" ", ""),
                              _text(entry, "description", where), _classification(entry, where),
                              _derived_from(entry, where)))
    names = {c.name for c in columns}
    for list_key in ("key", "sources"):
        values = doc[list_key]
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise SpecError(f"{path}: {list_key} must list at least one name")
    missing = [k for k in doc["key"] if k not in names]
    if missing:
        raise SpecError(f"{path}: key columns {missing} are not in columns")
    return TableSpec(table, _text(doc, "name_zh", str(path)), _text(doc, "description", str(path)),
                     tuple(doc["key"]), tuple(doc["sources"]), tuple(columns), path)


def load_specs(folder: Path) -> dict[str, TableSpec]:
    """Every ``*.yaml`` spec of ``folder``, by table name."""
    specs = {}
    for path in sorted(folder.glob("*.yaml")):
        spec = load_spec(path)
        if spec.table in specs:
            raise SpecError(f"{path}: {spec.table} is already specified in {specs[spec.table].path}")
        specs[spec.table] = spec
    return specs


def all_gold_specs(jobs_dir: Path = JOBS_DIR) -> dict[str, TableSpec]:
    """The specs of every library's gold tables (``jobs/<library>/tables/*.yaml``), by table name."""
    specs: dict[str, TableSpec] = {}
    for folder in sorted(jobs_dir.glob("*/tables")):
        for table, spec in load_specs(folder).items():
            if table in specs:
                raise SpecError(f"{spec.path}: {table} is already specified in {specs[table].path}")
            specs[table] = spec
    return specs


def conform(frame: DataFrame, spec: TableSpec) -> DataFrame:
    """``frame`` with the spec's columns in the spec's order; :class:`SpecError` if a column is
    missing, extra or of another type."""
    actual = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
    problems = [f"{c.name}: missing" for c in spec.columns if c.name not in actual]
    problems += [f"{name}: not in the spec" for name in actual if name not in spec.column_names]
    problems += [f"{c.name}: {actual[c.name]}, the spec says {c.type}" for c in spec.columns
                 if c.name in actual and actual[c.name] != c.type]
    if problems:
        raise SpecError(f"{spec.table} does not match {spec.path}: " + "; ".join(problems))
    return frame.select(*spec.column_names)
