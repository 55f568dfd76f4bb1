"""``citylake status``: where every registry table stands in the pipeline.

Per system and table: its last extraction (batch, when, rows, watermark), its last gated batch,
the batches extracted and not gated yet, the batch it waits on if the gate held one (已退回,
citylake.quality.held_batches), silver's row count and the department's open issues (待整改 and 异议).
Read from the governance tables, each once, columns and filters pushed down to the scan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow.compute as pc

from citylake.ingest import governance as gov
from citylake.sources.registry import SourceSystem, load_registry

_AUDIT_COLUMNS = ["batch_id", "stage", "target_table", "rows_written", "watermark_after", "committed_at"]


def table_status(lake, registry: Mapping[str, SourceSystem] | None = None) -> list[dict[str, Any]]:
    """One dict per registry table, in registry order (see the module doc for the fields)."""
    from citylake.quality.feedback import QUALITY_ISSUE, STILL_OPEN
    from citylake.quality.gate import table_names
    from citylake.quality.held_batches import HELD, HELD_BATCH

    systems = load_registry() if registry is None else registry
    audits = (lake.read_arrow(gov.BATCH_AUDIT, columns=_AUDIT_COLUMNS).read_all().to_pylist()
              if lake.exists(gov.BATCH_AUDIT) else [])
    last: dict[tuple[str, str], dict[str, Any]] = {}
    done: dict[str, set[str]] = {}
    for audit in sorted(audits, key=lambda a: a["committed_at"]):
        last[audit["stage"], audit["target_table"]] = audit
        done.setdefault(audit["target_table"], set()).add(audit["batch_id"])
    open_issues = Counter(
        lake.read_arrow(QUALITY_ISSUE, columns=["source_table"], filter=pc.field("status").isin(list(STILL_OPEN)))
        .read_all().column(0).to_pylist()) if lake.exists(QUALITY_ISSUE) else Counter()
    held = {r["bronze_table"]: r for r in lake.read_arrow(HELD_BATCH, filter=pc.field("status") == HELD)
            .read_all().to_pylist()} if lake.exists(HELD_BATCH) else {}
    out = []
    for code, system in systems.items():
        for table in system.tables:
            bronze, silver, _ = table_names(system, table)
            extracted = last.get(("extract", bronze))
            gated = last.get(("gate", silver))
            settled = {b.removeprefix("gate:") for b in done.get(silver, set())} | {
                b.removeprefix(gov.REJECT_PREFIX) for b in done.get(bronze, set()) if b.startswith(gov.REJECT_PREFIX)}
            pending = sorted((a for a in audits if a["stage"] == "extract" and a["target_table"] == bronze
                              and a["rows_written"] > 0 and a["batch_id"] not in settled),
                             key=lambda a: a["committed_at"])
            out.append({
                "system": code, "table": table.name, "owner": system.owner, "load": table.load,
                "last_batch": extracted["batch_id"] if extracted else None,
                "extracted_at": extracted["committed_at"] if extracted else None,
                "rows": extracted["rows_written"] if extracted else None,
                "watermark": gov.watermark_of([a for a in audits if a["target_table"] == bronze])
                if table.load == "incremental" else None,
                "last_gated": gated["batch_id"].removeprefix("gate:") if gated else None,
                "pending": [a["batch_id"] for a in pending],
                "held": held[bronze]["batch_id"] if bronze in held else None,
                "silver_rows": lake.row_count(silver) if lake.exists(silver) else None,
                "open_issues": open_issues.get(f"{code}.{table.name}", 0),
            })
    return out
