"""Who may see what of the lake (数据可用不可见): roles, column classification and the views a role reads.

Roles (``--role`` or ``$CITYLAKE_ROLE``; analyst when neither is set — deny by default):

* ``engineer`` — every table and column as stored.
* ``analyst`` — every table; each column as its classification's sensitivity declares
  (``schemas/standards/*.yaml``, ``sensitivity.mask``): non-personal columns as they are; ID numbers
  (``mask: pseudonym``) as keyed pseudonyms (``P`` + HMAC-SHA256 of the normalised number under
  ``$CITYLAKE_PSEUDONYM_KEY``, the same in every table, so tables still join on them) with the masked
  number beside them in ``<column>_masked`` (370102********1234); names, phones, addresses and birth
  dates by their rule in :mod:`citylake.catalog.masking` (张*, 138****5678); a personal field that
  declares no mask, a personal nested value and any unclassified column hidden (absent from the
  table): deny by default.
* ``district:<GB/T 2260 code>`` — as analyst, only tables with a ``district_code`` column and only
  their rows of that district (区县数据返还).
* ``department:<system>`` — the department's own source tables (bronze, silver, quarantine of that
  system code) as stored, and its own rows of the governance tables that carry a ``system``
  column (its feedback, rule results, disputes, batches); nothing else.

A column's classification: in the source layers the standard field the registry maps it to (its
``sensitivity`` in ``schemas/standards/``); unmapped lake metadata, keys, update times and non-text
columns are non-personal, unmapped text is unclassified. In gold, the spec's ``classification``
(``public`` or the standard field whose values the column carries) made stricter by what the column
is ``derived_from`` (:mod:`citylake.catalog.classification`), so that a value derived from a
sensitive field stays sensitive. In governance, the non-personal columns of
:mod:`citylake.privacy`, plus the values masked when they were recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from citylake.lake.names import TableName
from citylake.privacy import GOVERNANCE_STATS_COLUMNS, METADATA_COLUMNS, SOURCE_LAYERS

ROLE_ENV = "CITYLAKE_ROLE"
PSEUDONYM_KEY_ENV = "CITYLAKE_PSEUDONYM_KEY"
PUBLIC = "public"
SHOWN, PSEUDONYMISED, MASKED, HIDDEN = "shown", "pseudonymised", "masked", "hidden"
ROLE_KINDS = ("engineer", "analyst", "district", "department")
# The mask (schemas/standards, sensitivity.mask) of fields whose values identify a person across
# tables: pseudonymised, not masked, so that analysts can still join on them.
PSEUDONYM = "pseudonym"
# Governance columns holding values masked when they were recorded.
_GOVERNANCE_MASKED = frozenset({"masked_value", "description"})
# Governance tables a department does not read even for its own system: who read its data is the
# bureau's usage report (issue 11, item 6), not a table the department queries.
_BUREAU_ONLY = frozenset({"access_log"})


class AccessError(ValueError):
    """A role that does not exist, or a table the role may not read."""


@dataclass(frozen=True)
class Role:
    kind: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> Role:
        """``engineer``, ``analyst``, ``district:370102`` or ``department:gongan`` (None: analyst)."""
        text = (text or "analyst").strip()
        kind, _, scope = text.partition(":")
        if kind not in ROLE_KINDS:
            raise AccessError(f"unknown role {text!r}: roles are engineer, analyst, district:<code>, "
                              "department:<system>")
        if (kind in ("district", "department")) != bool(scope):
            raise AccessError(f"role {text!r}: district and department roles name a district code or a "
                              "system (district:370102, department:gongan); the others take none")
        if kind == "district" and not (scope.isdigit() and len(scope) == 6):
            raise AccessError(f"role {text!r}: a district is its six-digit GB/T 2260 code")
        if kind == "department":
            from citylake.sources.registry import load_registry

            systems = sorted(load_registry())
            if scope not in systems:
                raise AccessError(f"role {text!r}: no system {scope!r} in the registry; systems: {', '.join(systems)}")
        return cls(kind, scope or None)

    @classmethod
    def from_env(cls, text: str | None = None) -> Role:
        return cls.parse(text or os.environ.get(ROLE_ENV))

    def __str__(self) -> str:
        return f"{self.kind}:{self.scope}" if self.scope else self.kind


def pseudonym_key() -> bytes | None:
    key = os.environ.get(PSEUDONYM_KEY_ENV)
    return key.encode("utf-8") if key else None


def pseudonym(key: bytes, value: str | None) -> str | None:
    """The keyed pseudonym of an ID number: equal numbers (after normalising) give equal pseudonyms."""
    if value is None:
        return None
    normalised = str(value).strip().upper()
    return "P" + hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


# ------------------------------------------------------------------------------ classification

@dataclass(frozen=True)
class _SourceTable:
    system: str
    fields: Mapping[str, str]  # column -> standard field
    own: frozenset[str]  # key and update columns


@cache
def _source_tables() -> dict[str, _SourceTable]:
    """Lake name ``<system>_<table>`` of every registry table -> its system and mapped columns."""
    from citylake.sources.registry import load_registry

    out = {}
    for system in load_registry().values():
        for source in system.tables:
            mapped = {column: field for column, field, _role in source.mapped_columns()}
            own = frozenset(c for c in (*source.primary_key, source.update_column) if c)
            out[source.lake_id(system.code)] = _SourceTable(system.code, mapped, own)
    return out


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type)


def classification(table: TableName, field: pa.Field) -> str | None:
    """``public``, a standard field (``person.name``), or None (unclassified: hidden from analysts)."""
    if field.name in METADATA_COLUMNS:
        return PUBLIC
    if table.layer in SOURCE_LAYERS:
        source = _source_tables().get(table.name)
        if source is None:
            return None
        if field.name in source.fields:
            return source.fields[field.name]
        if field.name in source.own or not (_is_text(field.type) or pa.types.is_nested(field.type)):
            return PUBLIC
        return None
    if table.layer == "governance":
        allowed = GOVERNANCE_STATS_COLUMNS.get(table.name, frozenset()) | _GOVERNANCE_MASKED
        return PUBLIC if field.name in allowed else None
    if table.layer == "gold":
        from citylake.catalog.classification import gold_classifications

        return gold_classifications().get(str(table), {}).get(field.name)
    return None


def _sensitivity(label: str):
    from citylake.schemas.standards import standard_field

    return standard_field(label.partition("@")[0]).sensitivity


def _is_public(label: str | None) -> bool:
    if label == PUBLIC:
        return True
    return label is not None and not _sensitivity(label).personal


def is_identifier(label: str | None) -> bool:
    """Whether a column of classification ``label`` is pseudonymised for analysts (``mask: pseudonym``)."""
    return label not in (None, PUBLIC) and _sensitivity(label).mask == PSEUDONYM


# ------------------------------------------------------------------------------ views

@dataclass(frozen=True)
class View:
    """What a role reads of one table: the SELECT list over the raw scan and a row filter."""

    select: tuple[str, ...]
    where: str | None
    hidden: tuple[str, ...]
    needs_key: bool

    def sql(self, raw: str) -> str:
        return f"SELECT {', '.join(self.select)} FROM {raw}" + (f" WHERE {self.where}" if self.where else "")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def readable(role: Role, table: TableName, schema: pa.Schema) -> bool:
    """Whether ``role`` reads ``table`` at all."""
    if role.kind in ("engineer", "analyst"):
        return True
    if role.kind == "district":
        return "district_code" in schema.names
    if table.layer in SOURCE_LAYERS:
        source = _source_tables().get(table.name)
        return source is not None and source.system == role.scope
    return table.layer == "governance" and table.name not in _BUREAU_ONLY and "system" in schema.names


def view(role: Role, table: TableName, schema: pa.Schema, key_available: bool) -> View:
    """The view of ``table`` for ``role`` (:class:`AccessError` if the role may not read it)."""
    if not readable(role, table, schema):
        raise AccessError(f"role {role} may not read {table}")
    if role.kind == "engineer":
        return View(("*",), None, (), False)
    if role.kind == "department":
        where = f"system = {_literal(role.scope)}" if table.layer == "governance" else None
        return View(("*",), where, (), False)
    select, hidden, needs_key = [], [], False
    for field in schema:
        label = classification(table, field)
        column = _quote(field.name)
        how = treatment(label, field.type, key_available)
        if how == SHOWN:
            select.append(column)
        elif how == PSEUDONYMISED:
            text = f"CAST({column} AS VARCHAR)"
            select.append(f"citylake_pseudonym({text}) AS {column}")
            select.append(f"citylake_mask({_literal(label)}, {text}) AS {_quote(field.name + '_masked')}")
            needs_key = True
        elif how == MASKED:
            # Without a key an ID number is only masked, and under <column>_masked as when it is
            # pseudonymised: a masked number is no join key, so it must not pass for the column.
            identifier = is_identifier(label)
            alias = _quote(field.name + "_masked") if identifier else column
            select.append(f"citylake_mask({_literal(label)}, CAST({column} AS VARCHAR)) AS {alias}")
            if identifier:
                hidden.append(field.name)
        else:
            hidden.append(field.name)
    where = f"district_code = {_literal(role.scope)}" if role.kind == "district" else None
    return View(tuple(select) or ("NULL AS no_visible_columns",), where, tuple(hidden), needs_key)


def treatment(label: str | None, data_type: pa.DataType, key_available: bool) -> str:
    """How an analyst reads a column of classification ``label``: shown, pseudonymised, masked or hidden.

    As its standard field's ``sensitivity.mask`` says (schemas/standards); deny by default: an
    unclassified column, a personal field without a mask, and a personal nested value (a document,
    a list: no mask applies to its parts) are hidden."""
    if _is_public(label):
        return SHOWN
    if label is None or pa.types.is_nested(data_type):
        return HIDDEN
    rule = _sensitivity(label).mask
    if rule == PSEUDONYM:
        return PSEUDONYMISED if key_available else MASKED
    if rule == "shown":
        return SHOWN
    return MASKED if rule else HIDDEN


def grade(label: str | None) -> int | None:
    """The sensitivity grade (schemas/standards) of a column's classification; None if public or unclassified."""
    if label is None or label == PUBLIC:
        return None
    return _sensitivity(label).grade


def mask_values(fields: pa.Array, values: pa.Array) -> pa.Array:
    """``citylake_mask(field, value)`` for DuckDB: :func:`citylake.catalog.masking.mask` per value."""
    from citylake.catalog.masking import mask

    return pa.array([None if v is None else mask(f, v) for f, v in zip(fields.to_pylist(), values.to_pylist(),
                                                                        strict=True)], pa.string())


def pseudonym_values(key: bytes, values: pa.Array) -> pa.Array:
    return pa.array([pseudonym(key, v) for v in values.to_pylist()], pa.string())
