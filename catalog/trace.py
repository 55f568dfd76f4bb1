"""Per-record provenance (每一条数据来龙去脉): ``citylake trace TABLE KEY [--column COL]``.

From one row of a gold or source-layer table back to the department record and the batch that gave
it, step by step:

* a ``gold.person`` row: each attribute's provenance as the build stored it (citylake.jobs.person.golden:
  system, table, record key, role, batch); another gold table: the row's own ``source_table``,
  ``record_key`` (else its key) and ``batch_id``;
* the source-layer row: ``silver.<system>_<table>`` by the record key (or ``quarantine`` when the
  record was refused), the bronze row of the batch, the batch's audit (Delta versions of bronze and
  silver, when extracted and gated, ``governance.batch_audit``);
* the department: system, owner, table and the source column of the attribute, from the column
  lineage of the OpenLineage events (citylake.catalog.lineage), and the job runs that moved the
  record (extract, gate, build) matched to the Delta versions they committed.

Values are shown as the role sees them in ``citylake sql`` — through the same views
(:mod:`citylake.catalog.access`): an analyst sees masked values and pseudonyms, and gives the key as
the view shows it (the pseudonym of an ID number); a department traces only its own tables. Every
trace is written to ``governance.access_log``. Messages never quote a key or a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from citylake.catalog.access import (
    PSEUDONYMISED,
    SHOWN,
    AccessError,
    Role,
    classification,
    readable,
    treatment,
)
from citylake.catalog.lineage import COMPLETE, column_lineage, column_origins, dataset_id, read_events
from citylake.lake.names import TableName
from citylake.settings import Home

PERSON = "gold.person"
BATCH_AUDIT = "governance.batch_audit"
# Columns of a gold row that point at one source record (person_source_link, address_link …).
_ROW_SOURCE = ("source_table", "record_key", "batch_id")


class TraceError(ValueError):
    """A table without rows to trace, a key not found, a column the table does not have."""


@dataclass
class Trace:
    """The provenance of one row: the row as the role sees it and one origin per attribute."""

    table: str
    role: str
    row: dict[str, Any]
    origins: list[dict[str, Any]] = field(default_factory=list)
    tables_read: set[str] = field(default_factory=set)
    version: int | None = None  # the table's Delta version traced
    written_by: dict[str, str] | None = None  # the run that committed that version

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "role": self.role, "delta_version": self.version, "written_by": self.written_by,
                "row": self.row, "origins": self.origins}


# ------------------------------------------------------------------------------ the role's view


def _view_rows(role: Role, table: str, rows: pa.Table, schema: pa.Schema) -> list[dict[str, Any]]:
    """``rows`` of ``table`` as ``role`` reads them through citylake sql's view of the table."""
    import duckdb

    from citylake.catalog.access import pseudonym_key, view
    from citylake.catalog.sql import _register_functions

    key = pseudonym_key()
    table_view = view(role, TableName.parse(table), schema, key is not None)
    con = duckdb.connect()
    if role.kind != "engineer":
        _register_functions(con, key)
    con.register("trace_rows", rows)
    return con.sql(table_view.sql("trace_rows")).to_arrow_table().to_pylist()


def _find_key(lake, role: Role, table: str, column: str, key: str, schema: pa.Schema) -> Any:
    """The stored value of ``column`` that the role's ``key`` names (the key as the role's view shows it)."""
    from citylake.catalog.access import pseudonym, pseudonym_key

    how = treatment(classification(TableName.parse(table), schema.field(column)), schema.field(column).type,
                    pseudonym_key() is not None)
    if role.kind in ("engineer", "department") or how == SHOWN:
        return pa.scalar(key).cast(schema.field(column).type).as_py()
    if how != PSEUDONYMISED:
        raise AccessError(f"role {role}: {table}.{column} is masked for this role and cannot be looked up; "
                          "trace by its pseudonym (set CITYLAKE_PSEUDONYM_KEY) or as engineer")
    secret = pseudonym_key()
    for batch in lake.read_arrow(table, columns=[column]):
        for value in batch.column(0).to_pylist():
            if pseudonym(secret, value) == key:
                return value
    return None


def _rows(lake, table: str, where: pc.Expression) -> pa.Table:
    return lake.read_arrow(table, filter=where).read_all()


# ------------------------------------------------------------------------------ walking back


def _origins_of(table: str, row: dict[str, Any], key_column: str, column: str | None) -> list[dict[str, Any]]:
    """(attribute, system, source_table, record_key, role, batch_id) of a gold row's values."""
    if table == PERSON:
        provenance = dict(row.get("provenance") or {})
        attributes = [column] if column else sorted(provenance)
        if column and column not in provenance:
            raise TraceError(f"{table}: the row has no provenance for {column!r} "
                             f"(attributes with provenance: {', '.join(sorted(provenance))})")
        return [{"attribute": a, **provenance[a]} for a in attributes]
    if "source_table" not in row or "batch_id" not in row:
        raise TraceError(f"{table} keeps no source of its rows (no source_table and batch_id columns)")
    system = row.get("system") or str(row["source_table"]).partition(".")[0]
    return [{"attribute": column, "system": system, "source_table": row["source_table"],
             "record_key": row.get("record_key", row[key_column]), "role": row.get("role"),
             "batch_id": row["batch_id"]}]


def _source_row_step(lake, role: Role, layer_table: str, key_column: str, record_key: Any,
                     batch_id: str | None, column: str | None, trace: Trace) -> dict[str, Any] | None:
    if not lake.exists(layer_table):
        return None
    schema = lake.schema(layer_table)
    typed = pa.scalar(str(record_key)).cast(schema.field(key_column).type)
    where = pc.field(key_column) == typed
    if batch_id is not None and layer_table.startswith(("bronze.", "quarantine.")):
        where = where & (pc.field("_batch_id") == batch_id)
    rows = _rows(lake, layer_table, where)
    trace.tables_read.add(layer_table)
    if rows.num_rows == 0:
        return None
    step: dict[str, Any] = {"table": layer_table, "key": {key_column: "(not shown)"},
                            "batch_id": rows.column("_batch_id")[rows.num_rows - 1].as_py()
                            if "_batch_id" in rows.column_names else None}
    if not readable(role, TableName.parse(layer_table), schema):
        step["visible"] = False
        return step
    shown = _view_rows(role, layer_table, rows.slice(rows.num_rows - 1), schema)[0]
    # The key as the role sees it: a key that is an ID number is a pseudonym or masked for analysts.
    step["key"] = {key_column: str(shown.get(key_column, shown.get(f"{key_column}_masked", "(hidden)")))}
    for meta in ("_op", "_extracted_at", "_errors"):
        if meta in shown:
            step[meta.lstrip("_")] = shown[meta]
    if column is not None:
        step["column"] = column
        step["value"] = shown.get(column, shown.get(f"{column}_masked", "(hidden)"))
    return step


def _audit(lake, role: Role, batch_id: str, trace: Trace) -> dict[str, Any]:
    """The extraction and gate audits of a batch: Delta versions and times."""
    from citylake.ingest import governance as gov

    trace.tables_read.add(BATCH_AUDIT)
    out = {}
    for stage, audit_id in (("extract", batch_id), ("gate", f"gate:{batch_id}")):
        found = [r for r in gov.read(lake, BATCH_AUDIT, batch_id=audit_id) if r["stage"] == stage]
        if found:
            r = found[-1]
            out[stage] = {"batch_id": audit_id, "table": r["target_table"], "delta_version": r["target_version"],
                          "committed_at": str(r["committed_at"]), "rows_read": r["rows_read"],
                          "rows_written": r["rows_written"]}
    return out


def _runs_writing(edges_by_output: dict[tuple[str, str], tuple[str, str]], table: str,
                  version: int | None) -> dict[str, str] | None:
    found = edges_by_output.get((table, str(version)))
    return {"job": found[0], "run_id": found[1]} if found else None


def _events_index(home: Home) -> dict[tuple[str, str], tuple[str, str]]:
    """(table, Delta version) -> (job, run id) of the COMPLETE runs that committed it."""
    index = {}
    for event in read_events(home):
        if event.get("eventType") != COMPLETE:
            continue
        for dataset in event.get("outputs") or []:
            version = (dataset.get("facets") or {}).get("version", {}).get("datasetVersion")
            index[(dataset_id(dataset), version)] = (event["job"]["name"], event["run"]["runId"])
    return index


def trace(lake, home: Home, table: str, key: str, column: str | None = None, role: Role | None = None) -> Trace:
    """The provenance of the row of ``table`` with key ``key`` (see the module doc)."""
    from citylake.jobs.spec import all_gold_specs
    from citylake.sources.registry import load_registry

    role = role or Role("engineer")
    name = TableName.parse(table)
    registry = load_registry()
    sources = {t.lake_id(code): (s, t) for code, s in registry.items() for t in s.tables}
    if name.layer == "gold":
        spec = all_gold_specs().get(table)
        if spec is None:
            raise TraceError(f"{table} is not a gold table of jobs/*/tables/")
        key_column = spec.key[0]
    elif name.layer in ("silver", "quarantine", "bronze") and name.name in sources:
        key_column = sources[name.name][1].primary_key[0]
    else:
        raise TraceError(f"{table}: trace starts at a gold table or a source-layer table (silver.<system>_<table>)")
    if not lake.exists(table):
        raise TraceError(f"{table} does not exist in the lake")
    schema = lake.schema(table)
    if not readable(role, name, schema):
        raise AccessError(f"role {role} may not read {table}")
    if column is not None and column not in schema.names:
        raise TraceError(f"{table} has no column {column!r}")
    stored = _find_key(lake, role, table, key_column, key, schema)
    rows = _rows(lake, table, pc.field(key_column) == stored) if stored is not None else pa.table({})
    found = Trace(table, str(role), {}, tables_read={table})
    if rows.num_rows == 0:
        hint = "" if role.kind in ("engineer", "department") else " (give the key as citylake sql shows it to the role)"
        raise TraceError(f"no row of {table} has that {key_column}{hint}")
    raw = rows.slice(rows.num_rows - 1).to_pylist()[0]
    found.row = {k: v for k, v in _view_rows(role, table, rows.slice(rows.num_rows - 1), schema)[0].items()
                 if k != "provenance"}
    if name.layer == "gold":
        origins = _origins_of(table, raw, key_column, column)
    else:
        system, source = sources[name.name]
        origins = [{"attribute": column, "system": system.code, "source_table": f"{system.code}.{source.name}",
                    "record_key": raw[key_column], "role": None, "batch_id": raw.get("_batch_id")}]
    index = _events_index(home)
    found.version = lake.version(table)
    found.written_by = _runs_writing(index, table, found.version)
    lineage_cache: dict[str, dict] = {}
    for origin in origins:
        found.origins.append(_origin(lake, home, role, table, origin, sources, index, lineage_cache, found))
    return found


def _origin(lake, home: Home, role: Role, table: str, origin: dict[str, Any], sources, index, lineage_cache: dict,
            found: Trace) -> dict[str, Any]:
    """One value's way back: the source-layer rows, the batch's audits and runs, the department record."""
    system_code, _, source_name = str(origin["source_table"]).partition(".")
    system, source = next(v for v in sources.values() if v[0].code == system_code and v[1].name == source_name)
    lake_name = source.lake_id(system_code)
    key_column = source.primary_key[0]
    batch_id = origin.get("batch_id")
    attribute = origin.get("attribute")
    # The department column of the attribute: from the column lineage the runs recorded.
    source_column = attribute if not table.startswith("gold.") else None
    if table.startswith("gold.") and attribute:
        if table not in lineage_cache:
            lineage_cache[table] = column_lineage(home, table)
        candidates = [c for t, c in lineage_cache[table].get(attribute, [])
                      if t in (f"silver.{lake_name}", f"quarantine.{lake_name}")]
        source_column = candidates[0] if candidates else None
    step_column = source_column
    steps = []
    silver = _source_row_step(lake, role, f"silver.{lake_name}", key_column, origin["record_key"], None,
                              step_column, found)
    if silver is not None and (batch_id is None or silver["batch_id"] == batch_id):
        steps.append({"layer": "silver", **silver})
    else:
        quarantined = _source_row_step(lake, role, f"quarantine.{lake_name}", key_column, origin["record_key"],
                                       batch_id, step_column, found)
        if quarantined is not None:
            steps.append({"layer": "quarantine", **quarantined})
        if silver is not None:
            steps.append({"layer": "silver", "note": "the silver row is of a later batch than the value", **silver})
    batch_id = batch_id or (steps[0]["batch_id"] if steps else None)
    bronze = _source_row_step(lake, role, f"bronze.{lake_name}", key_column, origin["record_key"], batch_id,
                              step_column, found) if batch_id else None
    audits = _audit(lake, role, batch_id, found) if batch_id else {}
    if bronze is not None:
        bronze["delta_version"] = audits.get("extract", {}).get("delta_version")
        bronze["written_by"] = _runs_writing(index, f"bronze.{lake_name}", bronze["delta_version"])
        steps.append({"layer": "bronze", **bronze})
    for stage, layer in (("extract", "bronze"), ("gate", "silver")):
        if stage in audits:
            audits[stage]["written_by"] = _runs_writing(index, f"{layer}.{lake_name}", audits[stage]["delta_version"])
    department_columns = ([c for t, c in column_origins(home, f"silver.{lake_name}", source_column)
                           if t == origin["source_table"]] if source_column else [])
    return {
        "attribute": attribute,
        "value_role": origin.get("role"),
        "department": {"system": system.code, "system_name": system.name_zh, "owner": system.owner,
                       "table": source.name, "table_description": source.description,
                       "record_key": steps[0]["key"] if steps else {key_column: "(not found)"},
                       "column": department_columns[0] if department_columns else source_column},
        "batch_id": batch_id,
        "audit": audits,
        "steps": steps,
    }


def render(result: Trace) -> str:
    """The human-readable trace."""
    writer = result.written_by
    lines = [f"{result.table} Delta version {result.version} (as {result.role})"
             + (f", built by {writer['job']} run {writer['run_id']}" if writer else "")]
    for k, v in result.row.items():
        if v is not None and not isinstance(v, (list, dict)):
            lines.append(f"  {k}: {v}")
    for origin in result.origins:
        dept = origin["department"]
        head = origin["attribute"] or "row"
        value = result.row.get(origin["attribute"], result.row.get(f"{origin['attribute']}_masked")) \
            if origin["attribute"] else None
        lines.append("")
        lines.append(f"{head}" + (f" = {value}" if value is not None else "")
                     + (f"  [role {origin['value_role']}]" if origin["value_role"] else ""))
        for step in origin["steps"]:
            detail = ", ".join(f"{k} {v}" for k, v in step.items()
                               if k not in ("layer", "table", "key", "written_by", "visible") and v is not None)
            writer = step.get("written_by")
            lines.append(f"  <- {step['table']} {_key(step['key'])}" + (f": {detail}" if detail else "")
                         + (f" (by {writer['job']} run {writer['run_id']})" if writer else "")
                         + ("" if step.get("visible", True) else " (not visible to this role)"))
        for stage, audit in origin["audit"].items():
            writer = audit.get("written_by")
            lines.append(f"  <- {stage} batch {audit['batch_id']}: {audit['table']} Delta version "
                         f"{audit['delta_version']} at {audit['committed_at']}, {audit['rows_read']} rows read"
                         + (f" (by {writer['job']} run {writer['run_id']})" if writer else ""))
        lines.append(f"  <- {dept['owner']} {dept['system_name']} ({dept['system']}): table {dept['table']} "
                     f"({dept['table_description']}) record {_key(dept['record_key'])}"
                     + (f", column {dept['column']}" if dept["column"] else ""))
    return "\n".join(lines) + "\n"


def _key(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def tables_of(result: Trace | None, table: str) -> Iterable[str]:
    """The tables a trace read, for the access log (the asked-for table when it failed early)."""
    return sorted(result.tables_read) if result is not None else [table]
