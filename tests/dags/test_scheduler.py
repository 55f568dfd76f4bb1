"""``citylake airflow`` for real: scheduler, DAG processor and API server (LocalExecutor) on a fresh
PostgreSQL metadata DB; one department's ingestion triggered through the REST API, and the
asset-triggered promotion it causes, run by the scheduler."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime

import psutil
import pytest

from citylake.ingest import governance as gov
from citylake.lake import open_lake
from citylake.orchestration.scheduler import AirflowApi, dags_to_unpause, require_server_db
from citylake.synthcity.generate import generate

SYSTEM = "weijian"  # one small table: the test waits for one gate, one GX suite, one report


def test_the_unpause_policies():
    dags = [{"dag_id": "ingest_gongan", "is_paused": True, "timetable_summary": "@daily"},
            {"dag_id": "promote_gongan", "is_paused": True, "timetable_summary": "Asset"},
            {"dag_id": "build_person", "is_paused": False, "timetable_summary": "Asset"}]
    assert dags_to_unpause(dags, ["assets"]) == ["promote_gongan"]
    assert dags_to_unpause(dags, ["all"]) == ["ingest_gongan", "promote_gongan"]
    assert dags_to_unpause(dags, ["none"]) == []
    assert dags_to_unpause(dags, ["ingest_*"]) == ["ingest_gongan"]


def test_sqlite_is_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="LocalExecutor cannot run on a SQLite"):
        require_server_db("sqlite:////tmp/airflow.db")
    with pytest.raises(ValueError, match="needs a PostgreSQL metadata database"):
        require_server_db(None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
@pytest.mark.postgres
def test_the_scheduler_runs_an_ingestion_and_its_asset_triggered_promotion(home, databases):
    started = time.perf_counter()
    generate(300, 1, [home.sqlite_source_url()], home.truth)
    metadata = databases.url("postgresql", "sched_meta")
    port = _free_port()
    env = {**os.environ, "CITYLAKE_HOME": str(home.root)}
    # Only this system's promotion is unpaused: the libraries' Spark builds would only slow the test.
    command = subprocess.Popen([sys.executable, "-m", "citylake.cli", "airflow", "--metadata-db", metadata,
                                "--port", str(port), "--unpause", f"promote_{SYSTEM}"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict[int, psutil.Process] = {}
    output: list[str] = []
    try:
        for line in command.stdout:
            output.append(line)
            if line.startswith("Airflow UI:"):
                break
        assert command.poll() is None, "".join(output)
        ready = time.perf_counter() - started
        assert "password in" in output[-1] and f"http://127.0.0.1:{port}/" in output[-1]
        api = AirflowApi.for_home(home, f"http://127.0.0.1:{port}")
        dags = {d["dag_id"]: d for d in api.dags()}
        assert not dags[f"promote_{SYSTEM}"]["is_paused"] and dags[f"ingest_{SYSTEM}"]["is_paused"]

        ingest = api.run_due(f"ingest_{SYSTEM}")  # a manual run through the REST API
        deadline = time.monotonic() + 240
        promote = None
        while time.monotonic() < deadline and promote is None:
            seen.update({c.pid: c for c in psutil.Process(command.pid).children(recursive=True)})
            runs = api.get(f"dags/promote_{SYSTEM}/dagRuns")["dag_runs"]
            assert all(r["state"] != "failed" for r in runs), runs
            promote = next((r for r in runs if r["state"] == "success"), None)
            time.sleep(2)
        assert promote is not None, f"no successful promote_{SYSTEM} run within the timeout"
        assert promote["run_type"] == "asset_triggered" and promote["logical_date"] is None
        ingested = api.get(f"dags/ingest_{SYSTEM}/dagRuns/{ingest['dag_run_id']}")
        assert ingested["state"] == "success"
        assert len(api.get(f"dags/ingest_{SYSTEM}/dagRuns")["dag_runs"]) == 1  # no second, scheduled run
        # The batch rode on the asset event to the asset-triggered run.
        events = api.get(f"dags/promote_{SYSTEM}/dagRuns/{promote['dag_run_id']}/upstreamAssetEvents")["asset_events"]
        batches = {e["extra"]["batch_id"] for e in events}
        assert batches == {f"ingest_{SYSTEM}/{ingest['dag_run_id']}/CSYXZM"}
        latency = _when(promote["start_date"]) - _when(ingested["end_date"])
        print(f"\nready {ready:.0f} s; ingest run {ingested['start_date']} → {ingested['end_date']}; promote "
              f"{promote['start_date']} → {promote['end_date']}; ingest end → promote start {latency:.1f} s")
    finally:
        if command.poll() is None:
            seen.update({c.pid: c for c in psutil.Process(command.pid).children(recursive=True)})
            command.send_signal(signal.SIGTERM)
            try:
                command.wait(timeout=90)
            except subprocess.TimeoutExpired:
                command.kill()
        left = [pid for pid, p in seen.items() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for pid in left:
            psutil.Process(pid).kill()
    assert command.returncode == 0, command.stdout.read()
    assert left == [], "processes outlived citylake airflow"
    # The tables are written, and the audit accounts for every extracted row.
    lake = open_lake(home.lake)
    assert lake.row_count(f"silver.{SYSTEM}_csyxzm") > 0
    (extract,) = gov.read(lake, gov.BATCH_AUDIT, stage="extract", batch_id=batches.pop())
    (gate,) = gov.read(lake, gov.BATCH_AUDIT, stage="gate", batch_id=f"gate:{extract['batch_id']}")
    assert extract["rows_written"] > 0 and gate["rows_read"] == extract["rows_written"]
    assert gate["rows_read"] == gate["inserted"] + gate["deleted"] + gate["rows_unchanged"]
    print(f"test {time.perf_counter() - started:.0f} s")
