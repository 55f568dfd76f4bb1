"""Five days of a demo city through the real path (issue 13's must-show): every table's batches pass
the gate, and every batch is conserved — its bronze rows = promoted + deleted + quarantined."""

from __future__ import annotations

from datetime import datetime

import pyarrow.compute as pc
import pytest

from citylake.ingest import governance as gov
from citylake.lake import open_lake
from citylake.orchestration.run import run_ingest, run_promote
from citylake.quality.rule_results import SOURCE_TIME_ZONE
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from citylake.synthcity.generate import generate


@pytest.mark.slow
def test_five_days_of_the_demo_city_pass_the_gate_and_conserve_every_batch(home, tmp_path):
    overlay = tmp_path / "demo-city.yaml"  # as citylake demo dates its city
    # Departments busy fixing their records (folded duplicates are deletes), so that five days hold
    # deletes whatever the defects' draws: they are part of the test.
    overlay.write_text(f"as_of: {datetime.now(SOURCE_TIME_ZONE).date().isoformat()}\n"
                       "corrections_per_day: {gongan: 0.5, renshe: 0.5, yibao: 0.5, scjg: 0.5}\n", encoding="utf-8")
    generate(2000, 7, [home.sqlite_source_url()], home.truth, config_path=str(overlay))
    run_ingest(home)
    run_promote(home)  # raises if any gate task failed (a refused batch)
    report = advance(5, [home.sqlite_source_url()], home.truth, config_path=str(overlay))
    assert sum(c["deleted"] for c in report.changes.values()) > 0  # deletes are part of the test
    run_ingest(home)
    tasks = run_promote(home)
    assert tasks and all(task["gated"] is not None for task in tasks)

    lake = open_lake(home.lake)
    audits = gov.read(lake, gov.BATCH_AUDIT)
    gates = {a["batch_id"]: a for a in audits if a["stage"] == "gate"}
    extracts = [a for a in audits if a["stage"] == "extract" and a["rows_written"] > 0]
    assert len({a["target_table"] for a in extracts}) == sum(len(s.tables) for s in load_registry().values())
    for extract in extracts:
        batch = extract["batch_id"]
        bronze_rows = lake.read_arrow(extract["target_table"], columns=["_op"],
                                      filter=pc.field("_batch_id") == batch).read_all().num_rows
        assert bronze_rows == extract["rows_written"], batch
        gate = gates.get(f"gate:{batch}")
        assert gate is not None, f"{batch} of {extract['target_table']} was never gated"
        promoted, deleted, quarantined = gate["inserted"], gate["deleted"], gate["rows_unchanged"]
        assert gate["rows_read"] == bronze_rows == promoted + deleted + quarantined, batch
        quarantine = gate["target_table"].replace("silver.", "quarantine.", 1)
        held = (lake.read_arrow(quarantine, columns=["_batch_id"], filter=pc.field("_batch_id") == batch)
                .read_all().num_rows if lake.exists(quarantine) else 0)
        assert held == quarantined, batch
        assert deleted == extract["deleted"], batch
    assert any(a["deleted"] for a in extracts)
