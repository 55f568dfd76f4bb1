"""kill -9 during ``citylake run --stage gold`` (the Spark builds), then a rerun: the tables of an
undisturbed build.

One small generated city (120 persons, every department), ingested and gated once; each test works
on its own copy of that gated home, so the undisturbed build reads the identical silver and
quarantine tables. Two fault points: inside the population build, right after its first gold
commit (``gold.person`` written, its other tables, its build state and the other libraries not yet),
and inside the legal-entity build, after the population and address libraries completed (so the
rerun's population build is an incremental one that finds nothing changed). See tests.faults for
what is compared and what is ignored.
"""

from __future__ import annotations

from collections import Counter

import pytest

from citylake.jobs.person import build_state
from citylake.lake import open_lake
from citylake.settings import Home
from citylake.synthcity.generate import generate
from tests.faults.runs import (
    assert_same_tables,
    committed,
    copy_home,
    kill_when,
    run,
    start,
    table_rows,
    unfinished_runs,
)

pytestmark = pytest.mark.slow
GOLD = ("--stage", "gold")
# The Spark builds take minutes on two cores (four libraries, each a Spark application).
BUILD_SECONDS = 900


@pytest.fixture(scope="module")
def gated(tmp_path_factory) -> Home:
    """The city after ingestion and the gate, never built on (copied by each test)."""
    home = Home(tmp_path_factory.mktemp("gold_faults") / "home")
    generate(120, 5, [home.sqlite_source_url()], home.truth)
    run(home, "--stage", "ingest", "--stage", "gate", log=home.root / "cli.log", timeout=BUILD_SECONDS)
    return home



@pytest.fixture(scope="module")
def undisturbed(gated, tmp_path_factory) -> dict[str, Counter]:
    home = copy_home(gated, tmp_path_factory.mktemp("undisturbed_gold"))
    run(home, *GOLD, log=home.root / "cli.log", timeout=BUILD_SECONDS)
    tables = table_rows(home)
    assert {"gold.person", "gold.address_link", "gold.enterprise"} <= set(tables)
    return tables


@pytest.mark.parametrize("fault_point", ["person", "enterprise"])
def test_kill_9_during_a_gold_build_then_rerun(gated, undisturbed, tmp_path, fault_point):
    home = copy_home(gated, tmp_path)
    log = tmp_path / "cli.log"
    process = start(home, *GOLD, log=log)
    kill_when(process, committed(home.lake / "gold", fault_point), timeout=BUILD_SECONDS)
    assert len(unfinished_runs(home)) == 1  # killed mid-stage: the build never reported
    assert not (home.lake / "gold" / "topic_elderly").exists()  # the last library never started

    run(home, *GOLD, log=log, timeout=BUILD_SECONDS)
    assert_same_tables(table_rows(home), undisturbed)
    # The next incremental build starts from what the completed one left, not from the killed one's commits.
    lake = open_lake(home.lake)
    state = build_state.last_complete_build(lake)
    assert state is not None and state.table_versions == {t: lake.version(t) for t in state.table_versions}
