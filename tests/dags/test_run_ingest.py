"""The ingestion DAGs run for real through Airflow (dag.test()) and fill bronze exactly, idempotently.

Each test gets its own CITYLAKE_HOME, so its own lake, SQLite sources, Airflow home and metadata DB.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from citylake.lake import open_lake
from citylake.orchestration.run import IngestRunError, run_ingest
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from tests.dags.test_dagbag import TOY_SYSTEM
from tests.ingest.helpers import source_count as _count


@pytest.mark.slow
def test_every_department_is_ingested_exactly_and_reruns_are_idempotent(home):
    generate(300, 1, [home.sqlite_source_url()], home.truth)
    registry = load_registry()
    when = datetime(2026, 3, 1, tzinfo=UTC)

    started = time.perf_counter()
    first = run_ingest(home, logical_date=when)
    seconds = time.perf_counter() - started

    lake = open_lake(home.lake)
    tables = {t.bronze_name(code): (system, t) for code, system in registry.items() for t in system.tables}
    assert sorted(s["bronze_table"] for s in first) == sorted(tables)
    counts = {}
    for bronze, (system, table) in tables.items():
        counts[bronze] = lake.row_count(bronze)
        assert counts[bronze] == _count(source_url(system, home), table.name), bronze
    assert sum(counts.values()) > 1000  # (a small city can have no deaths yet: some tables may be empty)
    for summary in first:
        assert summary["run_id"] == "manual__2026-03-01T00:00:00+00:00"
        assert summary["batch_id"] == f"{summary['dag_id']}/{summary['run_id']}/{summary['source_table']}"
        assert summary["rows_written"] == counts[summary["bronze_table"]] and not summary["skipped"]
        # The batch reference rides on the asset event, for asset-scheduled consumers.
        event = summary["asset_event"]
        assert event["asset"] == summary["bronze_table"]
        assert event["batch_id"] == summary["batch_id"]
        assert event["bronze_version"] == summary["bronze_version"]
    assert seconds < 240, f"9 DAG runs took {seconds:.0f} s"

    # The same DAG runs again (same logical date, so same run ids and batch ids): nothing is added.
    second = run_ingest(home, logical_date=when)
    assert {s["batch_id"] for s in second} == {s["batch_id"] for s in first}
    assert all(s["skipped"] and s["asset_event"]["skipped"] for s in second)
    assert {bronze: lake.row_count(bronze) for bronze in tables} == counts


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_source_through_its_connection_and_postgres_metadata_db(home, databases, monkeypatch):
    source_url = databases.url("postgresql", "af_src")
    source = source_url.rsplit("/", 1)[1]
    metadata_url = databases.url("postgresql", "af_meta")
    generate(300, 2, [source_url], home.truth)
    # The connection as an operator would define it: Airflow's URI form, read by Connection.get.
    monkeypatch.setenv("AIRFLOW_CONN_CITYLAKE_GONGAN", f"postgres://postgres@127.0.0.1:5432/{source}")

    summaries = run_ingest(home, systems=["gongan"], metadata_db=metadata_url)

    gongan = load_registry()["gongan"]
    lake = open_lake(home.lake)
    assert [s["dag_id"] for s in summaries] == ["ingest_gongan"] * len(gongan.tables)
    for table in gongan.tables:
        assert lake.row_count(table.bronze_name("gongan")) == _count(source_url, table.name) > 100
    # Airflow really kept its state in PostgreSQL: the DAG run and its task instances are there.
    with sa.create_engine(metadata_url).connect() as conn:
        runs = conn.execute(sa.text("SELECT state FROM dag_run WHERE dag_id = 'ingest_gongan'")).scalars().all()
        tis = conn.execute(sa.text("SELECT count(*) FROM task_instance WHERE dag_id = 'ingest_gongan' "
                                   "AND state = 'success'")).scalar_one()
    assert runs == ["success"] and tis == len(gongan.tables)


@pytest.mark.slow
def test_a_failed_task_fails_the_run_with_its_reason_and_other_dags_still_run(home, tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "toy.yaml").write_text(TOY_SYSTEM, encoding="utf-8")
    (registry / "ghost.yaml").write_text(TOY_SYSTEM.replace("toy", "ghost"), encoding="utf-8")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))  # read by the DAG file in the Airflow process
    home.sources.mkdir(parents=True)
    with sqlite3.connect(home.sources / "toy.db") as db:  # ghost.db is never created
        db.execute('CREATE TABLE "PEOPLE" ("ID" INTEGER PRIMARY KEY, "XM" TEXT, "GXSJ" TIMESTAMP)')
        db.executemany('INSERT INTO "PEOPLE" VALUES (?, ?, ?)', [(i, f"n{i}", "2026-01-02 03:04:05") for i in range(7)])

    with pytest.raises(IngestRunError) as failure:
        run_ingest(home)

    message = str(failure.value)
    # No connection and no embedded file: a configuration error, naming the connection and the file.
    assert "ingest_ghost.extract_people: AirflowFailException" in message and "ghost.db" in message
    assert "no Airflow connection 'citylake_ghost'" in message
    assert "ingest_toy" not in message
    states = {r["dag_id"]: (r["state"], r["tasks"]) for r in failure.value.runs}
    assert states == {"ingest_ghost": ("failed", {"extract_people": "failed"}),
                      "ingest_toy": ("success", {"extract_people": "success"})}
    assert open_lake(home.lake).row_count("bronze.toy_people") == 7
    assert failure.value.log_path.is_file()


# -- issue 13: crash windows, concurrent runs, personal data in messages ------------------------------

HOSTILE_ID = "11010519491231002X"  # the standard's own example: a valid ID number
# A sitecustomize for the Airflow child: after its first extraction audit commits (where the
# watermark write used to follow) it says so in a file and waits there to be killed.
PAUSE_HOOK = '''
import os, time
if os.environ.get("CITYLAKE_TEST_PAUSE_AFTER_AUDIT"):
    from citylake.ingest import governance
    _append = governance.append

    def append(lake, table, rows):
        _append(lake, table, rows)
        if table == governance.BATCH_AUDIT and any(r.get("stage") == "extract" for r in rows):
            with open(os.environ["CITYLAKE_TEST_PAUSE_AFTER_AUDIT"], "w") as marker:
                marker.write(str(os.getpid()))
            time.sleep(600)

    governance.append = append
'''


def _toy_home(home, tmp_path, monkeypatch, rows: int = 50, systems: tuple[str, ...] = ("toy",)) -> None:
    """A registry of toy systems (one table, PEOPLE, each) and their SQLite sources of ``rows`` clean rows."""
    registry = tmp_path / "registry"
    registry.mkdir(exist_ok=True)
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))  # read by the DAG file in the Airflow process
    home.sources.mkdir(parents=True, exist_ok=True)
    for code in systems:
        (registry / f"{code}.yaml").write_text(TOY_SYSTEM.replace("toy", code), encoding="utf-8")
        with sqlite3.connect(home.sources / f"{code}.db") as db:
            db.execute('CREATE TABLE "PEOPLE" ("ID" INTEGER PRIMARY KEY, "XM" TEXT, "SCORE" INTEGER, '
                       '"GXSJ" TIMESTAMP)')
            db.executemany('INSERT INTO "PEOPLE" VALUES (?, ?, ?, ?)',
                           [(i, f"n{i}", i, f"2026-01-02 03:04:{i % 60:02d}") for i in range(rows)])


@pytest.mark.slow
def test_a_kill_9_right_after_the_audit_duplicates_nothing(home, tmp_path, monkeypatch):
    """A real SIGKILL of the Airflow child at the old crash window (audit committed, watermark not yet
    written): the next run, a new DAG run with new batch ids, adds no row."""
    import os
    import signal
    import threading

    _toy_home(home, tmp_path, monkeypatch)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK, encoding="utf-8")
    marker = tmp_path / "paused"
    monkeypatch.setenv("PYTHONPATH", str(hook))
    monkeypatch.setenv("CITYLAKE_TEST_PAUSE_AFTER_AUDIT", str(marker))
    failures: list[Exception] = []

    def first_run() -> None:
        try:
            run_ingest(home, logical_date=datetime(2026, 3, 1, tzinfo=UTC), timeout=300)
        except IngestRunError as exc:
            failures.append(exc)

    runner = threading.Thread(target=first_run)
    runner.start()
    deadline = time.monotonic() + 240
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and runner.is_alive(), "the child never reached its audit"
        time.sleep(0.2)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    runner.join()
    assert failures and "exit -9" in str(failures[0])
    lake = open_lake(home.lake)
    assert lake.row_count("bronze.toy_people") == 50

    monkeypatch.delenv("CITYLAKE_TEST_PAUSE_AFTER_AUDIT")
    monkeypatch.delenv("PYTHONPATH")
    [summary] = run_ingest(home, logical_date=datetime(2026, 3, 2, tzinfo=UTC))
    assert summary["rows_written"] == 0 and not summary["skipped"]
    assert lake.row_count("bronze.toy_people") == 50  # what an undisturbed run leaves: the source's rows


@pytest.mark.slow
def test_concurrent_runs_on_a_fresh_home_all_succeed(home, tmp_path, monkeypatch):
    """Three runs at once on a fresh home (four systems, so eight DAGs to sync): before the home's run
    lock they died on Airflow's migration and DAG sync ('UNIQUE constraint failed: dag.dag_id')."""
    import threading

    systems = ("toya", "toyb", "toyc", "toyd")
    _toy_home(home, tmp_path, monkeypatch, systems=systems)
    results: dict[int, list] = {}
    errors: list[Exception] = []
    start = threading.Barrier(3)

    def run(day: int) -> None:
        start.wait()
        try:
            results[day] = run_ingest(home, logical_date=datetime(2026, 3, day, tzinfo=UTC), timeout=300)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(day,)) for day in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [str(e)[:300] for e in errors] == []
    lake = open_lake(home.lake)
    for code in systems:
        # The first run to get the home extracted every row; the others found nothing new.
        written = sorted(s["rows_written"] for r in results.values() for s in r if s["system"] == code)
        assert written == [0, 0, 50], code
        assert lake.row_count(f"bronze.{code}_people") == 50, code


@pytest.mark.slow
def test_hostile_values_leave_no_id_number_in_logs_results_or_errors(home, tmp_path, monkeypatch, caplog):
    _toy_home(home, tmp_path, monkeypatch)
    with sqlite3.connect(home.sources / "toy.db") as db:  # SQLite keeps each of them
        db.execute(f"UPDATE \"PEOPLE\" SET \"SCORE\" = '{HOSTILE_ID}' WHERE \"ID\" = 1")
        db.execute(f"UPDATE \"PEOPLE\" SET \"GXSJ\" = '{HOSTILE_ID}' WHERE \"ID\" = 2")
        db.execute(f"UPDATE \"PEOPLE\" SET \"XM\" = CAST('{HOSTILE_ID}' || X'FF' AS TEXT) WHERE \"ID\" = 3")

    with caplog.at_level(logging.DEBUG):
        [summary] = run_ingest(home, logical_date=datetime(2026, 3, 1, tzinfo=UTC))
    assert summary["rows_written"] == 50
    lake = open_lake(home.lake)
    raw = {r["ID"]: r["_unconverted"] for r in lake.read_arrow("bronze.toy_people").read_all().to_pylist()
           if r["_unconverted"]}
    assert raw == {1: f'{{"SCORE": "{HOSTILE_ID}"}}', 2: f'{{"GXSJ": "{HOSTILE_ID}"}}',
                   3: f'{{"XM": "{HOSTILE_ID}\\\\xff"}}'}

    # A failing run: the column now holds text bronze's integer column cannot take.
    with sqlite3.connect(home.sources / "toy.db") as db:
        db.execute('ALTER TABLE "PEOPLE" DROP COLUMN "SCORE"')
        db.execute('ALTER TABLE "PEOPLE" ADD COLUMN "SCORE" TEXT')
        db.execute(f"UPDATE \"PEOPLE\" SET \"SCORE\" = '{HOSTILE_ID}', \"GXSJ\" = '2026-02-01 00:00:00' "
                   "WHERE \"ID\" = 4")
    with caplog.at_level(logging.DEBUG), pytest.raises(IngestRunError) as failure:
        run_ingest(home, logical_date=datetime(2026, 3, 2, tzinfo=UTC))
    assert "column SCORE changed type" in str(failure.value)
    assert HOSTILE_ID not in str(failure.value)
    assert HOSTILE_ID not in caplog.text
    written = [p for p in (home.airflow).rglob("*") if p.is_file() and p.suffix in (".log", ".json")]
    assert any(p.name == "run.log" for p in written) and any(p.name == "result.json" for p in written)
    for path in written:
        assert HOSTILE_ID[:17] not in path.read_text(encoding="utf-8", errors="replace"), path


def test_a_missing_connection_fails_at_once_naming_it(home, monkeypatch):
    """No AIRFLOW_CONN_CITYLAKE_GONGAN and no embedded SQLite file: a deployment's configuration error,
    failed without retries (the DAGs' own 3, with a minute's backoff, would outlast the timeout)."""
    monkeypatch.delenv("AIRFLOW_CONN_CITYLAKE_GONGAN", raising=False)
    with pytest.raises(IngestRunError) as raised:
        run_ingest(home, ["gongan"], retries=None, timeout=150)
    message = str(raised.value)
    assert "no Airflow connection 'citylake_gongan'" in message and "AIRFLOW_CONN_CITYLAKE_GONGAN" in message
    assert not (home.sources / "gongan.db").exists()  # nothing read, nothing created


@pytest.mark.slow
def test_a_broken_registry_file_stops_only_its_own_system(home, tmp_path, monkeypatch, caplog, capsys):
    import shutil

    from citylake.cli import main
    from citylake.sources.registry import DEFAULT_REGISTRY

    registry = tmp_path / "registry"
    shutil.copytree(DEFAULT_REGISTRY, registry)
    (registry / "tuiyi.yaml").write_text(
        "system: tuiyi\nname_zh: 退役军人优抚信息系统\nname_en: Veterans\nowner: 退役军人事务局\nconnection: citylake_tuiyi\n"
        "schedule: '@daily'\ntables:\n  - {name: YFDX, description: 优抚对象, primary_key: [ID], load: snapshot, "
        "columns: {SFZH: person.passport}}\n", encoding="utf-8")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    generate(200, 4, [home.sqlite_source_url()], home.truth)

    caplog.set_level(logging.INFO, logger="citylake")
    assert main(["run", "--stage", "ingest"]) == 1
    assert "not run: tuiyi" in capsys.readouterr().out
    assert any("tuiyi: not run, its registry file does not load" in r.getMessage() and "person.passport" in r.getMessage()
               for r in caplog.records)
    lake = open_lake(home.lake)
    assert all(lake.exists(t.bronze_name(code)) for code, s in load_registry().items() for t in s.tables)
    # In Airflow the broken file is a DAG of its own, failing with the file's error.
    with pytest.raises(IngestRunError, match=r"ingest_tuiyi\.registry_error: .*tuiyi\.yaml.*person\.passport"):
        run_ingest(home, ["tuiyi"])
