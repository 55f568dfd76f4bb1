"""The quality-gate DAGs: one per system, scheduled by its bronze assets, run for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citylake.lake import open_lake
from citylake.orchestration.run import IngestRunError, run_ingest, run_promote
from citylake.quality.cross_source import rules_for
from citylake.quality.expectations.offline import external_assets
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from tests.dags.conftest import DAGS
from tests.ingest.helpers import edited_registry


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_one_promotion_dag_per_system_scheduled_by_its_bronze_assets(dagbag):
    from airflow.sdk import AssetAny

    assert dagbag.import_errors == {}
    for code, system in load_registry().items():
        dag = dagbag.dags[f"promote_{code}"]
        assert isinstance(dag.timetable.asset_condition, AssetAny)
        rules = rules_for(code)
        scheduled = {a.name for a in dag.timetable.asset_condition.objects}
        assert scheduled == {t.bronze_name(code) for t in system.tables} | {
            ref.silver for rule in rules for ref in rule.contradicted_by if ref.system.code != code}
        tables = [t.lake_name for t in system.tables]
        assert {t.task_id for t in dag.tasks} == {*(f"gate_{t}" for t in tables), *(f"validate_{t}" for t in tables),
                                                  *(f"check_{r.rule.removeprefix('cross.')}" for r in rules),
                                                  "department_report", "fail_if_any_failed"}
        for name in tables:
            gate, validate = dag.get_task(f"gate_{name}"), dag.get_task(f"validate_{name}")
            assert [o.name for o in gate.outlets] == [f"silver.{code}_{name}"]
            assert validate.upstream_task_ids == {gate.task_id}
            # The Data Docs are built once per round by build_data_docs, on these assets.
            assert [o.name for o in validate.outlets] == [f"gx.{code}_{name}"]
            assert "department_report" in validate.downstream_task_ids
            assert "fail_if_any_failed" in gate.downstream_task_ids


@pytest.mark.slow
def test_promotion_sends_every_extracted_row_to_silver_or_quarantine(home):
    generate(300, 4, [home.sqlite_source_url()], home.truth)
    run_ingest(home)
    events: list[dict] = []
    tasks = run_promote(home, on_progress=events.append)
    finished = [e["dag_id"] for e in events if e["event"] == "dag"]
    # The Data Docs are built once, after every department's promotion DAG.
    assert finished[-1] == "build_data_docs" and finished.count("build_data_docs") == 1
    assert sorted(finished[:-1]) == sorted(f"promote_{code}" for code in load_registry())
    lake = open_lake(home.lake)
    for task in tasks:
        for batch in task["gated"]:
            assert batch["rows_read"] == batch["promoted"] + batch["deleted"] + batch["quarantined"]
            assert lake.row_count(batch["bronze_table"]) == batch["rows_read"]
            if batch["promoted"]:
                assert lake.row_count(batch["silver_table"]) == batch["promoted"]
    non_empty = [b for b in (lake.row_count(t.bronze_name(c)) for c, s in load_registry().items() for t in s.tables)
                 if b > 0]
    assert sum(len(t["gated"]) for t in tasks) == len(non_empty)
    again = run_promote(home)
    assert all(t["gated"] == [] for t in again)
    # The GX suites ran on every gated batch, and the Data Docs site was rendered from them, offline.
    kept = list((home.gx / "validations").rglob("*.json"))
    assert len(kept) == len(non_empty)
    site = home.gx / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert (site / "index.html").exists() and external_assets(site) == []
    assert len(list((site / "validations").rglob("*.html"))) == len(kept)
    # Each department's quality report, and the index of them.
    assert {p.stem for p in home.reports.glob("*.html")} == {"index"} | {s.owner for s in load_registry().values()}


@pytest.mark.slow
def test_a_batch_over_its_threshold_fails_its_task_and_is_not_promoted(home, tmp_path, monkeypatch):
    registry = edited_registry(tmp_path, "gongan", "  detect_deletes: true\n",
                               "  detect_deletes: true\n  error_threshold: 0.0\n")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    generate(400, 5, [home.sqlite_source_url()], home.truth)
    run_ingest(home)
    with pytest.raises(IngestRunError) as failure:
        run_promote(home)
    message = str(failure.value)
    assert "promote_gongan.gate_czrk" in message and "not promoted" in message
    lake = open_lake(home.lake)
    assert not lake.exists("silver.gongan_czrk")
    # The refused batch was still validated by GX and its results recorded for the department, and
    # the round's Data Docs were built all the same.
    assert list((home.gx / "validations" / "gongan_czrk").glob("*.json"))
    assert list((home.gx / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "gongan").rglob("*.html"))
    assert lake.row_count("governance.rule_result") > 0
