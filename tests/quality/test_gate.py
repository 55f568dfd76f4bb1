"""The gate: every row of a batch to silver or quarantine; issues open, and close when fixed."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from citylake.ingest import governance as gov
from citylake.ingest.extract import ingest_table
from citylake.quality.feedback import FIXED, OPEN, QUALITY_ISSUE
from citylake.quality.gate import GateThresholdError, gate_batch
from citylake.quality.scoring import expected_flags
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from citylake.synthcity.truth import TruthDir
from tests.quality.cities import city, ingest_and_gate

BUSY = """
corrections_per_day: {gongan: 0.5, renshe: 0.5, yibao: 0.5, scjg: 0.5}
"""


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    home, lake, _ = city(tmp_path_factory.mktemp("gate"), 2500, 23, BUSY)
    day0 = ingest_and_gate(home, lake, "day0")
    advance(1, [home.sqlite_source_url()], home.truth)
    day1 = ingest_and_gate(home, lake, "day1")
    return home, lake, day0, day1


def test_every_row_goes_to_silver_or_quarantine(gated):
    _, lake, day0, day1 = gated
    for qualified, (extracted, gate) in {**day0, **{k + "@1": v for k, v in day1.items()}}.items():
        assert gate.rows_read == extracted.rows_written, qualified
        assert gate.rows_read == gate.promoted + gate.deleted + gate.quarantined, qualified
        audit = gov.audited_batch(lake, gate.batch_id, gate.silver_table)
        assert audit["rows_read"] == audit["rows_written"] + audit["rows_unchanged"], qualified
    for qualified, (_, gate) in day0.items():
        if gate.quarantined:
            rows = lake.read_arrow(gate.quarantine_table).read_all()
            assert all(len(e) > 0 for e in rows.column("_errors").to_pylist()), qualified
        assert "_errors" not in lake.schema(gate.silver_table).names


def test_department_fixes_close_their_issues(gated):
    home, lake, _, _ = gated
    defects = TruthDir(home.truth).read_record_defects()
    registry = load_registry()
    issues = lake.read_arrow(QUALITY_ISSUE).read_all().to_pandas()
    checked = 0
    for qualified, group in defects[(defects["corrected_day"] == 1)
                                    & (defects["corrected_by"] == "department")].groupby("source_table"):
        code, name = qualified.split(".")
        table = registry[code].table(name)
        visible = expected_flags(table, table.primary_key[0], group)
        for record_key, column in visible:
            mine = issues[(issues["source_table"] == qualified) & (issues["record_key"] == record_key)
                          & (issues["field"].str.split(",").str[-1] == column)]
            assert len(mine) > 0, (qualified, record_key, column)
            assert set(mine["status"]) == {FIXED}, (qualified, record_key, column)
            checked += 1
    assert checked > 5
    assert (issues["status"] == OPEN).sum() > 0


def test_a_rerun_of_a_gated_batch_changes_nothing(gated):
    _, lake, day0, _ = gated
    extracted, gate = day0["gongan.CZRK"]
    version = lake.version(gate.silver_table)
    system = load_registry()["gongan"]
    again = gate_batch(lake, system, system.table("CZRK"), extracted.batch_id)
    assert again.skipped and lake.version(gate.silver_table) == version


def test_a_batch_over_its_threshold_is_not_promoted(tmp_path):
    home, lake, _ = city(tmp_path, 800, 2)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    extracted = ingest_table(system, table, "b1", lake, source_url(system, home))
    with pytest.raises(GateThresholdError, match=r"with errors .* > threshold 0.0%\); not promoted"):
        gate_batch(lake, system, table, extracted.batch_id, error_threshold=0.0)
    assert not lake.exists("silver.gongan_czrk")
    opened = lake.read_arrow(QUALITY_ISSUE, filter=pc.field("source_table") == "gongan.CZRK").read_all()
    assert opened.num_rows > 0


def test_the_feedback_table_flags_exactly_the_visible_defects(gated):
    """governance.quality_issue, as the departments get it, scored against the truth: the issues the
    day-0 batches opened against the defects injected before them (recall >= 99%, false flags <= 0.1%)."""
    home, lake, day0, _ = gated
    defects = TruthDir(home.truth).read_record_defects()
    defects = defects[defects["injected_day"] == 0]
    issues = lake.read_arrow(QUALITY_ISSUE).read_all().to_pandas()
    # Early pilot USCCs failing their check character are real: routed to review, not defects.
    issues = issues[~(issues["rule"].str.endswith(".check_digit") & (issues["severity"] == "warning"))]
    expected_total = caught = false = values = 0
    for qualified, (extracted, gate) in day0.items():
        code, name = qualified.split(".")
        table = load_registry()[code].table(name)
        mine = defects[defects["source_table"] == qualified]
        expected = expected_flags(table, table.primary_key[0], mine)
        opened = issues[issues["batch_id"] == gate.batch_id]
        flagged = set(zip(opened["record_key"], opened["field"].str.split(",").str[-1], strict=True))
        spoiled = set(zip(mine["record_key"].astype(str), mine["column"], strict=True))
        expected_total, caught = expected_total + len(expected), caught + len(expected & flagged)
        false += len(flagged - expected - spoiled)
        values += extracted.rows_written * len(table.mapped_columns())
    assert expected_total > 200
    assert caught / expected_total >= 0.99
    assert false / values <= 0.001
