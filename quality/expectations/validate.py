"""Validate a bronze batch with its Great Expectations suite in an ephemeral context, and keep the
result for the Data Docs (:mod:`quality.expectations.docs`).

Run inside the promotion DAG's tasks, after the gate: the gate decides what reaches silver, and GX
gives the engineers the same verdicts in GX's own terms (and Data Docs to browse them). Results are
kept as JSON under ``$CITYLAKE_HOME/gx/validations/<system>_<table>/``, one file per gated batch;
a batch already kept is not validated again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pyarrow.compute as pc
from great_expectations.data_context.types.base import ProgressBarsConfig

from citylake.quality.checks import UNCONVERTED
from citylake.quality.expectations.suite import build_suite, suite_name
from citylake.quality.gate import read_batch
from citylake.quality.rule_results import RULE_RESULT
from citylake.settings import Home
from citylake.sources.registry import SourceSystem, SourceTable

log = logging.getLogger(__name__)

# Counts without sample values: kept results and Data Docs must not carry personal data.
SUMMARY = {"result_format": "SUMMARY", "partial_unexpected_count": 0}


def complete_format(table: SourceTable) -> dict[str, Any]:
    """Every failing row's key (GX's COMPLETE unexpected-index results). COMPLETE results also
    list the failing values themselves (personal data): for tests and benchmarks, never kept."""
    return {"result_format": "COMPLETE", "unexpected_index_column_names": list(table.primary_key),
            "return_unexpected_index_query": False}


@dataclass(frozen=True)
class KeptValidation:
    gate_batch_id: str
    path: Path
    success: bool
    evaluated_expectations: int
    failed_expectations: int


def validate_batch(lake, system: SourceSystem, table: SourceTable, bronze_batch_id: str,
                   result_format: dict[str, Any] | None = None):
    """The suite's validation result on the bronze batch (the rows the gate checked)."""
    batch = read_batch(lake, system, table, bronze_batch_id)
    # The result format is set on the run: a per-expectation setting is overridden (GX #11647).
    return validate_frame(batch.rows, system, table, batch.extracted_at.isoformat(), result_format or SUMMARY,
                          batch_id=bronze_batch_id)


def validate_frame(frame, system: SourceSystem, table: SourceTable, as_of: str, result_format: dict[str, Any],
                   batch_id: str = "batch"):
    if UNCONVERTED not in frame.columns:  # a table extracted before ingestion kept unconvertible cells
        frame = frame.assign(**{UNCONVERTED: None})
    context = gx.get_context(mode="ephemeral")
    # Task logs get one line per validation (below), not GX's progress bars.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("bronze").add_dataframe_asset(name=table.lake_id(system.code))
    definition = context.validation_definitions.add(gx.ValidationDefinition(
        name=f"{suite_name(system, table)}:{batch_id}", data=asset.add_batch_definition_whole_dataframe("batch"),
        suite=context.suites.add(build_suite(system, table))))
    return definition.run(batch_parameters={"dataframe": frame}, expectation_parameters={"as_of": as_of},
                          result_format=result_format)


def unexpected_counts(result) -> dict[str, int | None]:
    """GX's unexpected count per check id (``None`` for expectations without rows, e.g. freshness)."""
    return {r.expectation_config.meta["check_id"]: r.result.get("unexpected_count") for r in result.results}


def failed_checks(result) -> dict[str, bool]:
    return {r.expectation_config.meta["check_id"]: not r.success for r in result.results}


def results_dir(home: Home, system: SourceSystem, table: SourceTable) -> Path:
    return home.gx / "validations" / table.lake_id(system.code)


def _file_name(gate_batch_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in gate_batch_id) + ".json"


def validate_gated(home: Home, lake, system: SourceSystem, table: SourceTable) -> list[KeptValidation]:
    """Validate every batch the gate has evaluated (promoted or refused) whose GX result is not kept."""
    source_table = f"{system.code}.{table.name}"
    if not lake.exists(RULE_RESULT):
        return []
    gated = lake.read_arrow(RULE_RESULT, columns=["batch_id", "evaluated_at"],
                            filter=pc.field("source_table") == source_table).read_all().to_pandas()
    gated = gated[gated["batch_id"].str.startswith("gate:")]  # not the cross-source checks
    order = gated.groupby("batch_id")["evaluated_at"].min().sort_values()
    out_dir = results_dir(home, system, table)
    kept = []
    for gate_batch_id in order.index:
        path = out_dir / _file_name(gate_batch_id)
        if path.exists():
            continue
        result = validate_batch(lake, system, table, gate_batch_id.removeprefix("gate:"))
        out_dir.mkdir(parents=True, exist_ok=True)
        document = {"gate_batch_id": gate_batch_id, "suite": suite_name(system, table),
                    "department": system.owner, "gx_result": result.to_json_dict()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(document, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(path)
        stats = result.statistics
        kept.append(KeptValidation(gate_batch_id, path, result.success, stats["evaluated_expectations"],
                                   stats["unsuccessful_expectations"]))
        log.info("%s: GX suite on %s: %d of %d expectations met", source_table, gate_batch_id,
                 stats["successful_expectations"], stats["evaluated_expectations"])
    return kept
