"""The quality gate of one bronze batch: every row to silver or to quarantine, with its reasons.

``bronze.<system>_<table>`` batch -> row checks from the standards (:mod:`quality.row_checks`) ->
- rows without errors: standardised, upserted into ``silver.<system>_<table>`` by key (with their
  warnings); tombstones delete their key from silver;
- rows with errors: appended to ``quarantine.<system>_<table>`` with ``_errors`` and ``_warnings``;
- findings: ``governance.quality_issue`` (opened, or closed when fixed);
- ``governance.batch_audit`` (stage ``gate``): rows read = rows promoted + rows quarantined.

A batch (of at least ``error_threshold_min_rows`` rows) whose share of rows with errors passes
``error_threshold`` is not promoted: its issues are recorded for the department, nothing reaches
silver, the batch is held (citylake.quality.held_batches, 已退回) until it is released or rejected,
and :class:`GateThresholdError` says why; so does every later gate of the table while it waits.
Rerunning a gated batch does nothing, and a rerun after a crash between any two of these commits
gives the tables of an undisturbed run: each commit is idempotent (merges by key, the quarantine
append once per gate id as a Delta transaction), and the audit, which marks the batch gated, is last.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from citylake.ingest import governance as gov
from citylake.lake.partitions import quoted_identifier, sql_literal
from citylake.quality.checks import UNCONVERTED, is_row_rule, table_checks
from citylake.quality.feedback import exemptions, record_findings
from citylake.quality.held_batches import HELD, held_batch, hold
from citylake.quality.row_checks import check_frame, without_dropped_values
from citylake.quality.rule_results import (
    Presence,
    evaluated_rows,
    failing_rows,
    freshness_check,
    record_results,
    result_rows,
    volume_check,
)
from citylake.schemas.standards import standard_field
from citylake.sources.registry import SourceSystem, SourceTable

log = logging.getLogger(__name__)

FINDINGS = pa.list_(pa.struct([("rule", pa.string()), ("message", pa.string()), ("columns", pa.list_(pa.string()))]))
BRONZE_META = ("_batch_id", "_source", "_extracted_at", "_row_hash", "_op")
NEVER_WAIVED = (".invalid_chars", ".too_long", ".unconverted")
# UNCONVERTED (citylake.quality.checks): bronze's raw text of the cells ingestion could not convert
# (citylake.ingest.extract): the row checks judge it, quarantine keeps it, silver never has it.


class GateThresholdError(RuntimeError):
    """The batch's error rate passed its threshold; it is not promoted."""


@dataclass
class GateResult:
    batch_id: str
    bronze_table: str
    silver_table: str
    quarantine_table: str
    rows_read: int = 0
    promoted: int = 0
    deleted: int = 0
    quarantined: int = 0
    error_rate: float = 0.0
    issues_opened: int = 0
    issues_fixed: int = 0
    skipped: bool = False

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def table_names(system: SourceSystem, table: SourceTable) -> tuple[str, str, str]:
    return table.bronze_name(system.code), table.silver_name(system.code), table.quarantine_name(system.code)


def gate_batch(lake, system: SourceSystem, table: SourceTable, bronze_batch_id: str,
               error_threshold: float | None = None) -> GateResult:
    """Gate one bronze batch (see the module doc). Holds silver's writer lock from the audited-check
    to the audit, so two runs gating the same batch at once do it once: the second finds it audited."""
    silver = table_names(system, table)[1]
    with lake.lock(silver):
        return _gate_batch(lake, system, table, bronze_batch_id, error_threshold)


def _gate_batch(lake, system: SourceSystem, table: SourceTable, bronze_batch_id: str,
                error_threshold: float | None) -> GateResult:
    bronze, silver, quarantine = table_names(system, table)
    gate_id = f"gate:{bronze_batch_id}"
    result = GateResult(gate_id, bronze, silver, quarantine)
    done = gov.audited_batch(lake, gate_id, silver)
    if done is not None:
        result.rows_read, result.promoted = done["rows_read"], done["rows_written"] - done["deleted"]
        result.deleted, result.quarantined, result.skipped = done["deleted"], done["rows_unchanged"], True
        return result
    held = held_batch(lake, bronze_batch_id) if error_threshold is not None else None
    if held is not None and held["status"] == HELD:
        raise GateThresholdError(_held_message(system, table, held))
    started = gov.now()
    batch = read_batch(lake, system, table, bronze_batch_id)
    original, deleted, extracted_at = batch.rows, batch.deleted_keys, batch.extracted_at
    result.rows_read = batch.rows_read
    key = table.primary_key[0]
    presence, judged = Presence(original), {}
    checked = waive_exempted(check_frame(original, table, presence, judged), table,
                             exemptions(lake, f"{system.code}.{table.name}"))
    has_error = np.array([bool(e) for e in checked["_errors"]], dtype=bool)
    result.error_rate = float(has_error.mean()) if len(checked) else 0.0
    record_results(lake, check_results(lake, system, table, gate_id, bronze_batch_id, original, checked,
                                       extracted_at, presence, judged), gate_id)
    feedback = record_findings(lake, system, table, gate_id, checked, deleted, owns_rule=is_row_rule)
    result.issues_opened, result.issues_fixed = feedback["opened"], feedback["fixed"]
    if (error_threshold is not None and result.error_rate > error_threshold
            and len(checked) >= table.error_threshold_min_rows):
        hold(lake, system, table, bronze_batch_id, rows=len(checked), rows_with_errors=int(has_error.sum()),
             error_rate=result.error_rate, error_threshold=error_threshold, issues_opened=feedback["opened"])
        raise GateThresholdError(
            f"{system.code}.{table.name}: batch {bronze_batch_id} has {int(has_error.sum())} of {len(checked)} rows "
            f"with errors ({result.error_rate:.1%} > threshold {error_threshold:.1%}); not promoted. "
            f"{feedback['opened']} issues sent back to {system.owner}; the batch is held (已退回) until "
            f"`citylake batch release` or `citylake batch reject` decides it.")
    source_schema = pa.schema([f for f in lake.schema(bronze) if f.name not in BRONZE_META])
    good = _typed(without_dropped_values(checked[~has_error]), table).assign(_batch_id=bronze_batch_id).drop(
        columns=["_errors"])
    # Quarantine keeps the values as the department wrote them, with the reasons.
    bad = original[has_error].assign(_errors=checked.loc[has_error, "_errors"].to_numpy(),
                                     _warnings=checked.loc[has_error, "_warnings"].to_numpy(),
                                     _batch_id=bronze_batch_id)
    if len(good):
        lake.merge_arrow(silver, _arrow(good, silver_schema(source_schema, table)), keys=[key],
                         metadata={"batch_id": gate_id, "job": "quality_gate"})
    if deleted and lake.exists(silver):
        lake.delete(silver, _keys_predicate(lake.schema(silver).field(key), deleted),
                    metadata={"batch_id": gate_id, "job": "quality_gate"})
    if len(bad):
        # An append is the one commit a rerun would repeat (the merge and the delete are by key):
        # the gate id as its Delta transaction makes it happen once.
        lake.write_arrow(quarantine, _arrow(bad, quarantine_schema(source_schema)), mode="append",
                         schema_mode="merge", metadata={"batch_id": gate_id, "job": "quality_gate"},
                         transaction=gate_id)
    result.promoted, result.deleted, result.quarantined = len(good), len(deleted), len(bad)
    gov.append(lake, gov.BATCH_AUDIT, [{
        "batch_id": gate_id, "stage": "gate", "system": system.code, "source_table": table.name,
        "target_table": silver, "load_mode": table.load, "rows_read": result.rows_read,
        "rows_unchanged": result.quarantined, "rows_written": result.promoted + result.deleted,
        "inserted": result.promoted, "updated": 0, "deleted": result.deleted, "live_rows": None,
        "watermark_before": None, "watermark_after": None,
        "target_version": lake.version(silver) if lake.exists(silver) else None,
        "started_at": started, "committed_at": gov.now()}])
    log.info("%s: batch %s: %d read, %d to silver, %d deleted, %d quarantined (%.2f%% errors), issues +%d fixed %d",
             bronze, bronze_batch_id, result.rows_read, result.promoted, result.deleted, result.quarantined,
             100 * result.error_rate, result.issues_opened, result.issues_fixed)
    return result


def waive_exempted(checked: pd.DataFrame, table: SourceTable, exempt: set[tuple[str, str, str]]) -> pd.DataFrame:
    """Drop the errors the bureau exempted (upheld disputes, 已确认) from their records: a record
    whose only errors are exempted reaches silver. Never waived: key errors (silver is merged by
    key), invalid dates (silver stores a date), and values silver must not hold whatever the
    dispute says (characters a field cannot hold, lengths past its standard, unconverted cells)."""
    if not exempt:
        return checked
    key = table.primary_key[0]
    dates = {c for c, f, _ in table.mapped_columns() if standard_field(f).type == "date"}

    def waived(record_key, finding) -> bool:
        if finding["rule"].startswith("key.") or finding["rule"].endswith(NEVER_WAIVED) or (dates & set(finding["columns"])
                                                  and not finding["rule"].endswith(("disagrees_with_id", ".missing"))):
            return False
        return (str(record_key), finding["rule"], ",".join(finding["columns"])) in exempt

    checked["_errors"] = [[f for f in errors if not waived(k, f)]
                          for k, errors in zip(checked[key], checked["_errors"], strict=True)]
    return checked


@dataclass
class BronzeBatch:
    """One extracted batch as the gate sees it: the rows (source columns only, as extracted), the keys
    the batch deletes, and when it was extracted."""

    rows: pd.DataFrame
    deleted_keys: list[str]
    extracted_at: datetime
    rows_read: int


def read_batch(lake, system: SourceSystem, table: SourceTable, bronze_batch_id: str) -> BronzeBatch:
    bronze = table_names(system, table)[0]
    # Integers with nulls stay Python ints (pandas would make them floats: 20060403.0 is no date),
    # and a tombstone's null columns must not change the type of anything else in its batch.
    rows = lake.read_arrow(bronze, filter=pc.field("_batch_id") == bronze_batch_id).read_all()
    key = table.primary_key[0]
    tombstone = pc.equal(rows.column("_op"), "delete").fill_null(False)
    deleted = [str(k) for k in rows.filter(tombstone).column(key).to_pylist()]
    source_columns = [c for c in rows.column_names if c not in BRONZE_META]
    # Filtered and projected on Arrow: one conversion to pandas, of the live rows' source columns.
    live = rows.filter(pc.invert(tombstone)).select(source_columns).to_pandas(integer_object_nulls=True)
    extracted_at = pc.max(rows.column("_extracted_at")).as_py() if rows.num_rows else gov.now()
    return BronzeBatch(live, deleted, extracted_at, rows.num_rows)


def check_results(lake, system: SourceSystem, table: SourceTable, gate_id: str, bronze_batch_id: str,
                  original: pd.DataFrame, checked: pd.DataFrame, extracted_at: datetime,
                  presence: Presence | None = None, judged: dict[str, int] | None = None) -> list[dict]:
    """``governance.rule_result`` rows of the batch: every check of the table, failed or not
    (``judged``: check_frame's rows judged per check function)."""
    checks = table_checks(table)
    failing = failing_rows(checked, table)
    presence = Presence(original) if presence is None else presence
    counts = {}
    for check in checks:
        if check.kind == "volume":
            bronze = table_names(system, table)[0]
            b = volume_check(lake, bronze, bronze_batch_id, table.max_volume_change)
            counts[check.check_id] = (b.evaluated, b.failed, b.observed)
        elif check.kind == "freshness":
            b = freshness_check(original[table.update_column], extracted_at, table.freshness_days)
            counts[check.check_id] = (b.evaluated, b.failed, b.observed)
        else:
            counts[check.check_id] = (evaluated_rows(check, original, checked, presence, judged),
                                      failing.get(check.check_id, 0), None)
    return result_rows(system, table, gate_id, checks, counts)


def _held_message(system: SourceSystem, table: SourceTable, held: dict[str, Any]) -> str:
    return (f"{system.code}.{table.name}: batch {held['batch_id']} is held (已退回) since "
            f"{held['held_at']:%Y-%m-%d %H:%M} UTC with {held['error_rate']:.1%} of its rows in error; the table's "
            f"batches wait behind it until `citylake batch release {held['batch_id']}` or "
            f"`citylake batch reject {held['batch_id']}` (after the department's fix) decides it.")


def _keys_predicate(key: pa.Field, keys: list[str]) -> str:
    """``key IN (…)`` for delta-rs, each key (text, as tombstones carry it) as a literal of the key
    column's own type: an integer key compared with text is an error in DataFusion."""
    typed = pa.array(keys, pa.string()).cast(key.type).to_pylist()
    return f"{quoted_identifier(key.name)} IN ({', '.join(sql_literal(k) for k in typed)})"


def _typed(frame: pd.DataFrame, table: SourceTable) -> pd.DataFrame:
    """Standardised date fields as dates (validators return ISO text)."""
    out = frame.copy()
    for column, field_name, _ in table.mapped_columns():
        if column in out.columns and standard_field(field_name).type == "date":
            # ISO text (or None) per distinct value: parse each once.
            codes, uniques = pd.factorize(out[column].astype(object), use_na_sentinel=True)
            parsed = [v if isinstance(v, date) and not isinstance(v, datetime) else date.fromisoformat(str(v)[:10])
                      for v in uniques]
            out[column] = np.append(np.asarray(parsed, dtype=object), None)[codes]
    return out


def silver_schema(source: pa.Schema, table: SourceTable) -> pa.Schema:
    """Bronze's source columns, with standardised fields in their standard type, plus warnings."""
    types = {"date": pa.date32(), "string": pa.string()}
    mapped = {c: standard_field(f).type for c, f, _ in table.mapped_columns()}
    fields = [pa.field(f.name, types.get(mapped.get(f.name), f.type)) if f.name in mapped else f for f in source
              if f.name != UNCONVERTED]
    return pa.schema([*fields, pa.field("_warnings", FINDINGS), pa.field("_batch_id", pa.string())])


def quarantine_schema(source: pa.Schema) -> pa.Schema:
    return pa.schema([*source, pa.field("_errors", FINDINGS), pa.field("_warnings", FINDINGS),
                      pa.field("_batch_id", pa.string())])


def _arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """``frame``'s columns of ``schema`` as Arrow, column by column (NaN, NaT and None are null)."""
    return pa.Table.from_arrays([pa.array(frame[f.name], type=f.type, from_pandas=True) for f in schema],
                                schema=schema)


def pending_batches(lake, system: SourceSystem, table: SourceTable) -> list[str]:
    """Bronze batches of the table that were extracted and neither gated nor rejected, oldest first."""
    bronze, silver, _ = table_names(system, table)
    extracted = gov.read(lake, gov.BATCH_AUDIT, stage="extract", target_table=bronze)
    gated = {r["batch_id"] for r in gov.read(lake, gov.BATCH_AUDIT, stage="gate", target_table=silver)}
    rejected = gov.rejected_batches(lake, bronze)
    ordered = sorted(extracted, key=lambda r: r["committed_at"])
    return [r["batch_id"] for r in ordered if f"gate:{r['batch_id']}" not in gated and r["rows_written"] > 0
            and r["batch_id"] not in rejected]


def gate_pending(lake, system: SourceSystem, table: SourceTable,
                 error_threshold: float | None = None) -> list[GateResult]:
    """Gate every pending batch of the table in extraction order; stop at the first one over its
    threshold (later batches must not overtake it into silver)."""
    return [gate_batch(lake, system, table, batch_id, error_threshold)
            for batch_id in pending_batches(lake, system, table)]
