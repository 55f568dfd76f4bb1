"""A department database going away mid-run, then coming back (real PostgreSQL).

公安 (gongan) runs on a scratch PostgreSQL database through its Airflow connection, as an operator
defines it. Once the run's first table has reached bronze, the database stops accepting connections
(``ALTER DATABASE … ALLOW_CONNECTIONS false``) and its open ones are terminated
(``pg_terminate_backend``): the department's server gone, mid-run. See tests.faults for the checks.
"""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest

from citylake.ingest import governance as gov
from citylake.lake import open_lake
from citylake.settings import Home
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from tests.faults.runs import POLL_SECONDS, committed, run, start
from tests.ingest.helpers import source_count
from tests.servers import ScratchDatabases

SYSTEM = "gongan"
ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


def _admin(statement: str) -> None:
    ScratchDatabases._admin("postgresql", statement)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_source_database_going_away_mid_run_fails_clearly_and_recovers(tmp_path, databases, monkeypatch):
    home = Home(tmp_path / "home")
    url = databases.url("postgresql", "down")
    name = url.rsplit("/", 1)[1]
    generate(150, 3, [url], home.truth)
    monkeypatch.setenv(f"AIRFLOW_CONN_CITYLAKE_{SYSTEM.upper()}", f"postgres://postgres@127.0.0.1:5432/{name}")
    tables = load_registry()[SYSTEM].tables
    log = tmp_path / "cli.log"

    process = start(home, "--stage", "ingest", "--system", SYSTEM, log=log)
    first_commit = committed(home.lake / "bronze", f"{SYSTEM}_*")
    try:
        while not first_commit():
            assert process.poll() is None, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(POLL_SECONDS)
        _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code != 0
    lake = open_lake(home.lake)
    audited = {a["target_table"] for a in gov.read(lake, gov.BATCH_AUDIT) if a["stage"] == "extract"}
    failed = [t for t in tables if t.bronze_name(SYSTEM) not in audited]
    assert failed, "every table was extracted before the database went away"
    for table in failed:
        # A clear failure: the DAG, the task and the table named, the reason said, no source value.
        assert f"ingest_{SYSTEM}.extract_{table.name.lower()}" in output
        assert f"{SYSTEM}.{table.name}: cannot reach the source database" in output
        # Nothing half-written: no bronze commit of the failed batch, no audit, so no watermark.
        bronze = table.bronze_name(SYSTEM)
        assert not lake.exists(bronze) or lake.row_count(bronze) == 0
        assert gov.last_watermark(lake, SYSTEM, table.name) is None
    run_logs = [p.read_text(encoding="utf-8", errors="replace") for p in (home.airflow / "runs").rglob("*.log")]
    for text in (output, *run_logs):
        assert not ID_NUMBER.search(text), ID_NUMBER.search(text).group()[:6]

    _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    run(home, "--stage", "ingest", "--system", SYSTEM, log=log)
    for table in tables:
        bronze = lake.read_arrow(table.bronze_name(SYSTEM)).read_all()
        keys = Counter(tuple(r[k] for k in table.primary_key) for r in bronze.to_pylist())
        # Every source row exactly once (a first load: inserts only), the failed batch's included.
        assert len(keys) == source_count(url, table.name) > 0 and set(keys.values()) == {1}, table.name
