"""Column-level lineage of a job's outputs, derived from the configuration that drives the jobs.

Nothing here is a list of columns: every rule reads what the job itself reads.

* ``bronze.<system>_<table>`` ← the department table: every source column as extracted
  (citylake.ingest.extract), from the bronze schema.
* ``silver.<system>_<table>`` and ``quarantine.<system>_<table>`` ← bronze: each column from its
  bronze column; a column the registry maps to a standard field (``sources/systems/*.yaml``) is
  standardised in silver (citylake.quality.gate), kept as written in quarantine.
* ``gold.person`` ← silver and quarantine: each golden attribute from the department columns that
  carry it in every person-bearing table and role — the registry mapping (source column →
  standard field → records column, citylake.jobs.person.records) and ``jobs/person/attributes.yaml``
  — with the authority order of ``jobs/person/source_priority.yaml``.
* other gold tables ← silver and quarantine: a column whose spec classification
  (``jobs/*/tables/*.yaml``) is a standard field, from the source columns mapped to that field.

Only inputs the run actually read are named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from citylake.sources.registry import SourceSystem, SourceTable

# Columns a layer adds (citylake.ingest.extract, citylake.quality.gate): not from a source column.
_ADDED = {"_source", "_extracted_at", "_row_hash", "_op", "_unconverted", "_warnings", "_errors"}


@dataclass(frozen=True)
class ColumnSource:
    """One input column of an output column."""

    table: str  # catalog id of the input: <layer>.<name> or <system>.<TABLE>
    column: str
    subtype: str  # OpenLineage transformation subtype: IDENTITY, TRANSFORMATION, AGGREGATION
    description: str


def _tables(registry: Mapping[str, SourceSystem]) -> dict[str, tuple[SourceSystem, SourceTable]]:
    return {t.lake_id(code): (system, t) for code, system in registry.items() for t in system.tables}


def output_columns(output: str, columns: Iterable[str], inputs: set[str],
                   registry: Mapping[str, SourceSystem]) -> dict[str, list[ColumnSource]]:
    """Output column -> its input columns, for the output table ``output`` (``<layer>.<name>``)
    with ``columns`` written by a run that read ``inputs`` (catalog ids)."""
    layer, _, name = output.partition(".")
    columns = list(columns)
    if layer == "bronze":
        return _bronze(name, columns, inputs, registry)
    if layer in ("silver", "quarantine"):
        return _gated(layer, name, columns, inputs, registry)
    if output == "gold.person":
        return _person(columns, inputs, registry)
    if layer == "gold":
        return _classified(output, columns, inputs, registry)
    return {}


def _bronze(name, columns, inputs, registry):
    found = _tables(registry).get(name)
    if found is None or f"{found[0].code}.{found[1].name}" not in inputs:
        return {}
    source = f"{found[0].code}.{found[1].name}"
    return {c: [ColumnSource(source, c, "IDENTITY", "extracted as it is (citylake.ingest.extract)")]
            for c in columns if not c.startswith("_")}


def _gated(layer, name, columns, inputs, registry):
    bronze = f"bronze.{name}"
    found = _tables(registry).get(name)
    if bronze not in inputs or found is None:
        return {}
    mapped = {c: standard for c, standard, _ in found[1].mapped_columns()}
    out = {}
    for c in columns:
        if c in _ADDED:
            continue
        if c in mapped and layer == "silver":
            out[c] = [ColumnSource(bronze, c, "TRANSFORMATION",
                                   f"standardised as {mapped[c]} by the quality gate (citylake.quality.gate)")]
        else:
            out[c] = [ColumnSource(bronze, c, "IDENTITY", "as extracted")]
    return out


def _person(columns, inputs, registry):
    from citylake.jobs.person.golden import load_priority
    from citylake.jobs.person.records import person_roles

    priority = load_priority(registry)
    candidates: dict[str, list[ColumnSource]] = {}
    for role in person_roles(registry):
        lake_name = role.table.lake_id(role.system.code)
        carried = {**role.columns, **role.attributes}
        if "id_number" in carried:
            carried["person_id"] = carried["id_number"]
        for attribute, column in carried.items():
            order = priority.attributes.get(attribute)
            how = (f"chosen by authority ({', '.join(order)} first; citylake.jobs.person.golden)" if order
                   else "from the person's linked records (citylake.jobs.person)")
            for layer in ("silver", "quarantine"):
                table = f"{layer}.{lake_name}"
                if table in inputs:
                    candidates.setdefault(attribute, []).append(
                        ColumnSource(table, column, "TRANSFORMATION", f"{how}; role {role.role}"))
    return {c: candidates[c] for c in columns if c in candidates}


def _classified(output, columns, inputs, registry):
    from citylake.jobs.spec import all_gold_specs

    spec = all_gold_specs().get(output)
    if spec is None:
        return {}
    by_field: dict[str, list[tuple[str, str]]] = {}
    for lake_name, (_, table) in _tables(registry).items():
        for column, standard, _ in table.mapped_columns():
            by_field.setdefault(standard, []).append((lake_name, column))
    out = {}
    for column in spec.columns:
        if column.name not in columns or not column.classification:
            continue
        sources = [ColumnSource(f"{layer}.{lake_name}", source_column, "TRANSFORMATION",
                                f"values of {column.classification} ({spec.path.parent.parent.name} build)")
                   for lake_name, source_column in by_field.get(column.classification, [])
                   for layer in ("silver", "quarantine") if f"{layer}.{lake_name}" in inputs]
        if sources:
            out[column.name] = sources
    return out
