"""``citylake run`` and ``citylake status`` on an existing home: the next daily round (issue 14, item 2).

A city generated into the embedded default's department systems, run through the ingestion and gate
DAGs (real Airflow runs), advanced one day by the generator and run again: the day's batches are
extracted and gated, issues the departments fixed are closed, and ``citylake status`` shows it.
"""

from __future__ import annotations

import logging

import pyarrow.compute as pc
import pytest

from citylake.cli import main
from citylake.lake import open_lake
from citylake.orchestration.status import table_status
from citylake.quality.feedback import FIXED, QUALITY_ISSUE
from citylake.settings import Home

BUSY = "corrections_per_day: {gongan: 0.5, renshe: 0.5, yibao: 0.5, scjg: 0.5}\n"


def _fixed(lake) -> int:
    return lake.read_arrow(QUALITY_ISSUE, columns=["issue_id"], filter=pc.field("status") == FIXED).read_all().num_rows


@pytest.mark.slow
def test_run_the_next_round_and_see_it_in_status(tmp_path, monkeypatch, capsys, caplog):
    home = Home(tmp_path / "home")
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    config = tmp_path / "city.yaml"
    config.write_text(BUSY, encoding="utf-8")
    target = f"sqlite:///{home.sources}/{{department}}.db"
    assert main(["generate", "--persons", "400", "--seed", "3", "--target", target, "--truth", str(home.truth),
                 "--config", str(config)]) == 0
    caplog.set_level(logging.INFO, logger="citylake")
    assert main(["run", "--stage", "ingest", "--stage", "gate"]) == 0
    out = capsys.readouterr().out
    assert "bronze.gongan_czrk" in out and "silver table" in out and "citylake status" in out
    # Progress off a terminal: a line per finished task, as it finished.
    progress = [r.getMessage() for r in caplog.records if r.name == "citylake.orchestration.progress"]
    assert any(m.startswith("ingest_gongan.extract_czrk success") for m in progress), progress
    assert any(m.startswith("promote_gongan.gate_czrk success") for m in progress), progress
    lake = open_lake(home.lake)
    day0 = {f"{r['system']}.{r['table']}": r for r in table_status(lake)}
    assert all(r["last_batch"] and r["pending"] == [] and r["held"] is None for r in day0.values()), day0
    assert all(r["last_gated"] == r["last_batch"] for r in day0.values() if r["rows"])
    fixed_before = _fixed(lake)

    assert main(["generate", "--advance-days", "1", "--target", target, "--truth", str(home.truth),
                 "--config", str(config)]) == 0
    assert main(["run", "--stage", "ingest", "--stage", "gate", "--system", "gongan", "--system", "renshe"]) == 0
    capsys.readouterr()
    day1 = {f"{r['system']}.{r['table']}": r for r in table_status(lake)}
    for table in ("gongan.CZRK", "renshe.AC02"):
        assert day1[table]["last_batch"] != day0[table]["last_batch"], table
        assert day1[table]["last_gated"] == day1[table]["last_batch"] and day1[table]["rows"] > 0, table
        assert day1[table]["watermark"] > day0[table]["watermark"], table
    assert day1["minzheng.HYDJ"]["last_batch"] == day0["minzheng.HYDJ"]["last_batch"]  # not selected
    assert _fixed(lake) > fixed_before  # the departments' corrections closed their issues

    assert main(["status", "--system", "gongan"]) == 0
    shown = capsys.readouterr().out
    assert "gongan.CZRK" in shown and day1["gongan.CZRK"]["last_batch"] in shown and "renshe" not in shown
    assert main(["run", "--system", "nosuch"]) == 2


def test_on_a_terminal_progress_is_a_live_table_of_tasks(tmp_path):
    from rich.console import Console

    from citylake.orchestration.progress import RunProgress

    console = Console(file=(tmp_path / "tty").open("w"), force_terminal=True, width=120, record=True)
    with RunProgress("ingestion", console) as progress:
        assert progress.live is not None
        progress({"event": "task", "dag_id": "ingest_gongan", "task_id": "extract_czrk", "state": "running", "at": 10.0})
        progress({"event": "task", "dag_id": "ingest_gongan", "task_id": "extract_bzdz", "state": "running", "at": 10.0})
        progress({"event": "task", "dag_id": "ingest_gongan", "task_id": "extract_czrk", "state": "success", "at": 12.5})
        progress({"event": "dag", "dag_id": "ingest_gongan", "run_id": "r", "state": "running", "seconds": 3.0,
                  "at": 13.0, "rows": {"extract_czrk": 20100}})
    text = console.export_text()
    assert "ingest_gongan" in text and "extract_czrk" in text and "20,100" in text and "2.5 s" in text
    assert "running" in text  # extract_bzdz had not finished
