"""A refused batch: the gate task's FAIL event says why, without a personal value, and names what the
task wrote before it failed."""

from __future__ import annotations

import pytest

from citylake.catalog.lineage import dataset_id, read_events
from citylake.lake import open_lake
from citylake.orchestration.run import IngestRunError, run_ingest, run_promote
from citylake.settings import Home
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from tests.ingest.helpers import edited_registry


@pytest.mark.slow
def test_a_failed_gate_gives_fail_events_without_personal_values(tmp_path, monkeypatch):
    home = Home(tmp_path / "home")
    registry = edited_registry(tmp_path, "gongan", "  detect_deletes: true\n",
                               "  detect_deletes: true\n  error_threshold: 0.0\n")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    generate(300, 5, [home.sqlite_source_url()], home.truth)
    run_ingest(home)
    with pytest.raises(IngestRunError):
        run_promote(home)
    events = list(read_events(home))
    failed = {e["job"]["name"]: e for e in events if e["eventType"] == "FAIL"}
    assert {"promote_gongan.gate_czrk", "promote_gongan"} <= set(failed)
    gate = failed["promote_gongan.gate_czrk"]
    assert "not promoted" in gate["run"]["facets"]["errorMessage"]["message"]
    written = {dataset_id(d) for d in gate["outputs"]}
    assert "governance.quality_issue" in written and "silver.gongan_czrk" not in written
    assert "bronze.gongan_czrk" in {dataset_id(d) for d in gate["inputs"]}
    # The events hold names, versions and schemas, never a value: no ID number of the source appears.
    text = (home.lineage / "events.jsonl").read_text(encoding="utf-8")
    id_column = next(c for c, standard, _ in load_registry()["gongan"].table("CZRK").mapped_columns()
                     if standard == "person.id_number")
    ids = open_lake(home.lake).read_arrow("bronze.gongan_czrk", columns=[id_column]).read_all().column(0).to_pylist()
    assert not [v for v in ids if v and len(str(v)) >= 15 and str(v) in text]
