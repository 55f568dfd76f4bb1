"""kill -9 during each stage of ``citylake run``, then a rerun: the tables of an undisturbed run.

One small generated city (150 persons, more defects in CZRK so that rows are quarantined), 公安 (gongan: two tables, CZRK and BZDZ) as the department;
every test works on its own copy of the same generated home, so the undisturbed run is on an
identical home. See tests.faults for what is compared and what is ignored.
"""

from __future__ import annotations

from collections import Counter

import pytest

from citylake.ingest import governance as gov
from citylake.lake import open_lake
from citylake.settings import Home
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from tests.faults.runs import (
    assert_conserved,
    assert_same_tables,
    committed,
    copy_home,
    kill_when,
    run,
    start,
    table_rows,
    unfinished_runs,
)

SYSTEM = "gongan"
ONE = ("--system", SYSTEM)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Home:
    """The generated department systems and truth, never run on (copied by each test)."""
    root = tmp_path_factory.mktemp("faults")
    home = Home(root / "city")
    # More defective ID numbers and birth dates than the defaults (still under the 20 % threshold), so
    # that the gate quarantines rows and quarantine is among the tables compared.
    config = root / "city.yaml"
    config.write_text("defects: {gongan.CZRK: {GMSFHM: {bad_check_digit: 0.04}, CSRQ: {impossible_date: 0.02}}}\n",
                      encoding="utf-8")
    generate(150, 3, [home.sqlite_source_url()], home.truth, config_path=str(config))
    return home



@pytest.fixture(scope="module")
def undisturbed(city, tmp_path_factory) -> tuple[Home, dict[str, Counter]]:
    home = copy_home(city, tmp_path_factory.mktemp("undisturbed"))
    run(home, "--stage", "ingest", "--stage", "gate", *ONE, log=home.root / "cli.log")
    assert open_lake(home.lake).row_count(f"quarantine.{SYSTEM}_czrk") > 0
    return home, table_rows(home)


def test_kill_9_during_ingestion_then_rerun(city, undisturbed, tmp_path):
    home = copy_home(city, tmp_path)
    log = tmp_path / "cli.log"
    process = start(home, "--stage", "ingest", *ONE, log=log)
    # After the stage's first bronze commit: one table in bronze, maybe audited, the other not yet.
    kill_when(process, committed(home.lake / "bronze", f"{SYSTEM}_*"))
    assert len(unfinished_runs(home)) == 1  # killed mid-stage: the Airflow run never reported
    tables = [t.bronze_name(SYSTEM) for t in load_registry()[SYSTEM].tables]
    audited = {a["target_table"] for a in gov.read(open_lake(home.lake), gov.BATCH_AUDIT)}
    assert len(audited & set(tables)) < len(tables)

    run(home, "--stage", "ingest", "--stage", "gate", *ONE, log=log)
    assert_same_tables(table_rows(home), undisturbed[1])
    assert_conserved(home)


def test_kill_9_during_the_gate_then_rerun(city, undisturbed, tmp_path):
    home = copy_home(city, tmp_path)
    log = tmp_path / "cli.log"
    run(home, "--stage", "ingest", *ONE, log=log)
    process = start(home, "--stage", "gate", *ONE, log=log)
    # After the first silver commit: that table's quarantine and audit, and the other table, to come.
    kill_when(process, committed(home.lake / "silver", f"{SYSTEM}_*"))
    assert len(unfinished_runs(home)) == 1
    lake = open_lake(home.lake)
    gated = [a for a in gov.read(lake, gov.BATCH_AUDIT) if a["stage"] == "gate"]
    assert len(gated) < len(load_registry()[SYSTEM].tables)

    run(home, "--stage", "gate", *ONE, log=log)
    assert_same_tables(table_rows(home), undisturbed[1])
    assert_conserved(home)


def test_rerunning_a_round_duplicates_nothing(undisturbed, tmp_path):
    home, before = undisturbed
    run(home, "--stage", "ingest", "--stage", "gate", *ONE, log=tmp_path / "cli.log")
    after = table_rows(home)
    # The rerun's batches found nothing new (left out by table_rows): every table holds what it held.
    assert_same_tables(after, before)
    lake = open_lake(home.lake)
    for table in load_registry()[SYSTEM].tables:
        silver = lake.read_arrow(f"silver.{SYSTEM}_{table.name.lower()}", columns=list(table.primary_key))
        keys = Counter(tuple(r.values()) for r in silver.read_all().to_pylist())
        assert keys and set(keys.values()) == {1}, table.name
    assert_conserved(home)  # one audit per batch and stage
    issues = gov.read(lake, "governance.quality_issue")
    assert len({i["issue_id"] for i in issues}) == len(issues)
