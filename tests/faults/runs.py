"""``citylake run`` as a process group the fault tests can SIGKILL, and the lake compared across homes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from citylake.ingest import governance as gov
from citylake.jobs.person.build_state import BUILD_TABLE as PERSON_BUILD
from citylake.lake import open_lake
from citylake.quality.rule_results import RULE_RESULT
from citylake.settings import Home

CITYLAKE = str(Path(sys.executable).with_name("citylake"))
POLL_SECONDS = 0.05
# Columns that say which run wrote a row or when, not what it holds.
RUN_COLUMNS = {"_batch_id", "batch_id", "target_version", "resolved_batch_id", "issue_id", "gate_id",
               "run_id", "build_id"}


def start(home: Home, *args: str, log: Path) -> subprocess.Popen:
    """``citylake run ARGS`` on ``home``, in a session of its own: its Airflow child is in its group."""
    env = {**os.environ, "CITYLAKE_HOME": str(home.root)}
    with open(log, "ab") as out:
        return subprocess.Popen([CITYLAKE, "run", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def run(home: Home, *args: str, log: Path, timeout: float = 400) -> None:
    process = start(home, *args, log=log)
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert code == 0, log.read_text(encoding="utf-8", errors="replace")[-4000:]


def kill_when(process: subprocess.Popen, condition: Callable[[], bool], timeout: float = 300) -> None:
    """SIGKILL the whole process group (the CLI and its Airflow child) as soon as ``condition`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before the fault point"
        assert time.monotonic() < deadline, "the fault point never came"
        time.sleep(POLL_SECONDS)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def committed(folder: Path, pattern: str) -> Callable[[], bool]:
    """Whether a Delta commit of a table matching ``pattern`` (e.g. ``gongan_*``) is in ``folder``."""
    return lambda: any(folder.glob(f"{pattern}/_delta_log/*.json"))


def copy_home(home: Home, folder: Path, name: str = "home") -> Home:
    """A copy of ``home`` (department systems, truth, lake, Airflow state) at ``folder/name``."""
    shutil.copytree(home.root, folder / name)
    return Home(folder / name)


def unfinished_runs(home: Home) -> list[Path]:
    """The Airflow run folders of ``home`` whose child never wrote its result (killed mid-run)."""
    return [d for d in sorted((home.airflow / "runs").iterdir()) if not (d / "result.json").exists()]


def table_rows(home: Home) -> dict[str, Counter]:
    """Every table of the lake as a multiset of rows, without the run-identity and wall-clock columns.

    The extraction audits and source-schema records of batches that found nothing new (a rerun's), and
    the records of population builds that touched no person, are left out: they record that a run
    happened, not what the tables hold. So are the repeats of a check result measured outside the gate
    (a gold build's cross-source counts): each build is a batch of its own, and a rebuild over the same
    data measures the same counts again (the scores read each check's latest batch,
    citylake.quality.assessment); the gate's results stay a multiset."""
    lake = open_lake(home.lake)
    empty = pa.array([a["batch_id"] for a in gov.read(lake, gov.BATCH_AUDIT)
                      if a["stage"] == "extract" and a["rows_written"] == 0], pa.string())
    out = {}
    for name in lake.list_tables():
        data = lake.read_arrow(name).read_all()
        if name in (gov.BATCH_AUDIT, gov.SOURCE_SCHEMA):
            data = data.filter(pc.invert(pc.is_in(data["batch_id"], value_set=empty)))
        if name == PERSON_BUILD:
            data = data.filter(pc.invert(pc.fill_null(pc.equal(data["touched_persons"], 0), False)))
        kept = [f.name for f in data.schema if f.name not in RUN_COLUMNS and not pa.types.is_timestamp(f.type)]
        rows = _row_counts(name, data.select(kept))
        if name == RULE_RESULT:
            repeated = _row_counts(name, data.filter(pc.invert(pc.starts_with(data["batch_id"], "gate:"))).select(kept))
            rows -= Counter({row: n - 1 for row, n in repeated.items() if n > 1})
        out[name] = rows
    return out


def _row_counts(table: str, data: pa.Table) -> Counter:
    return Counter(json.dumps(_without_clock(table, r), sort_keys=True, default=str, ensure_ascii=False)
                   for r in data.to_pylist())


def _without_clock(table: str, row: dict) -> dict:
    """A freshness result's ``observed`` is the data's age at extraction ("newest change 34.2 days
    before extraction"): a wall-clock reading, which two runs minutes apart can round differently.
    A population build's record of the Delta versions it left (``table_versions``) counts the
    commits a killed build made before it; the fault tests check it against the tables instead."""
    if table == RULE_RESULT and row.get("kind") == "freshness":
        row = {k: v for k, v in row.items() if k != "observed"}
    if table == PERSON_BUILD:
        row = {k: v for k, v in row.items() if k != "table_versions"}
    return row


def assert_same_tables(actual: dict[str, Counter], expected: dict[str, Counter]) -> None:
    assert sorted(actual) == sorted(expected)
    for name in expected:
        extra, missing = actual[name] - expected[name], expected[name] - actual[name]
        assert not extra and not missing, (f"{name}: {sum(extra.values())} rows not in the undisturbed run, "
                                           f"{sum(missing.values())} missing; e.g. {list(extra)[:2]} / {list(missing)[:2]}")


def assert_conserved(home: Home) -> None:
    """Every extracted batch was gated once and conserved: bronze rows = promoted + deleted + quarantined."""
    lake = open_lake(home.lake)
    audits = gov.read(lake, gov.BATCH_AUDIT)
    keys = Counter((a["batch_id"], a["stage"]) for a in audits)
    assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1]
    gates = {a["batch_id"]: a for a in audits if a["stage"] == "gate"}
    for extract in (a for a in audits if a["stage"] == "extract" and a["rows_written"] > 0):
        batch = extract["batch_id"]
        bronze_rows = lake.read_arrow(extract["target_table"], columns=["_op"],
                                      filter=pc.field("_batch_id") == batch).read_all().num_rows
        assert bronze_rows == extract["rows_written"], batch
        gate = gates[f"gate:{batch}"]
        promoted, deleted, quarantined = gate["inserted"], gate["deleted"], gate["rows_unchanged"]
        assert gate["rows_read"] == bronze_rows == promoted + deleted + quarantined, batch
        quarantine = gate["target_table"].replace("silver.", "quarantine.", 1)
        held = (lake.read_arrow(quarantine, columns=["_batch_id"], filter=pc.field("_batch_id") == batch)
                .read_all().num_rows if lake.exists(quarantine) else 0)
        assert held == quarantined, batch
