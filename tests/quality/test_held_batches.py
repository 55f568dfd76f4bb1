"""A refused batch is held (已退回) and decided, never blocking its table for good (issue 14, item 4).

Real batches of the synthetic city's 公安 CZRK (SQLite), gated through citylake.quality.gate and
decided through ``citylake batch``. Released: the batch is promoted as it is and the batch that
waited behind it follows. Rejected: the department's corrected row and the batch's unchanged rows
are extracted again; either way every extracted row is accounted for.
"""

from __future__ import annotations

import dataclasses
import sqlite3

import pyarrow.compute as pc
import pytest

from citylake.cli import main
from citylake.ingest import governance as gov
from citylake.ingest.extract import ingest_table
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.quality.gate import GateThresholdError, gate_pending
from citylake.quality.held_batches import HELD, REJECTED, RELEASED, HeldBatchError, held_batch, reject
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from tests.quality.cities import city


@pytest.fixture
def czrk(tmp_path, monkeypatch):
    """A city whose CZRK first load is held at a 0% threshold; the CLI reads the same home."""
    home, lake, _ = city(tmp_path, 800, 2)
    monkeypatch.setenv("CITYLAKE_HOME", str(home.root))
    monkeypatch.setenv("CITYLAKE_USER", "engineer.li")
    system = load_registry()["gongan"]
    # Judge every batch, however small: the department's one-row corrections are batches too.
    table = dataclasses.replace(system.table("CZRK"), error_threshold_min_rows=1)
    return home, lake, system, table


def _extract(home, lake, system, table, batch_id):
    return ingest_table(system, table, batch_id, lake, source_url(system, home))


def _department_writes(home, sql: str, *params) -> None:
    with sqlite3.connect(home.sources / "gongan.db") as db:
        db.execute(sql, params)


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def _clean_keys(lake, n: int) -> list[str]:
    """``n`` CZRK keys of the first load without errors: the department's updates of them pass the gate."""
    extracted = lake.read_arrow("bronze.gongan_czrk", columns=["RYID"]).read_all().column(0).to_pylist()
    failing = lake.read_arrow(QUALITY_ISSUE, columns=["record_key"], filter=(pc.field("source_table") == "gongan.CZRK")
                              & (pc.field("severity") == "error")).read_all().column(0).to_pylist()
    return sorted(set(extracted) - set(failing))[:n]


def _in(keys: list[str]) -> str:
    return "(" + ", ".join(f"'{k}'" for k in keys) + ")"


def _silver_keys(lake) -> set[str]:
    return set(lake.read_arrow("silver.gongan_czrk", columns=["RYID"]).read_all().column(0).to_pylist())


def test_a_released_batch_is_promoted_and_the_batch_behind_it_follows(czrk, capsys):
    home, lake, system, table = czrk
    first = _extract(home, lake, system, table, "b1")
    with pytest.raises(GateThresholdError, match="held"):
        gate_pending(lake, system, table, 0.0)
    held = held_batch(lake, "b1")
    assert held["status"] == HELD and held["rows"] == first.rows_written and held["rows_with_errors"] > 0
    # The department writes again; its batch waits behind the held one rather than overtaking it.
    _department_writes(home, "UPDATE CZRK SET GXSJ = (SELECT datetime(max(GXSJ), '+1 hour') FROM CZRK) "
                             f"WHERE RYID IN {_in(_clean_keys(lake, 3))}")
    second = _extract(home, lake, system, table, "b2")
    assert second.rows_written == 3
    with pytest.raises(GateThresholdError, match="batch b1 is held"):
        gate_pending(lake, system, table, 0.0)
    assert not lake.exists("silver.gongan_czrk") and gov.audited_batch(lake, "gate:b2", "silver.gongan_czrk") is None

    code, out = _cli(capsys, "batch", "list")
    assert code == 0 and "b1" in out and "已退回" in out and "b2" not in out
    code, out = _cli(capsys, "batch", "release", "b1", "--reason", "部门确认 370102199001011234 一批数据属实")
    assert code == 0 and "已放行" in out

    released = held_batch(lake, "b1")
    assert released["status"] == RELEASED and released["decided_by"] == "engineer.li"
    assert "370102199001011234" not in released["reason"] and released["reason"].startswith("部门确认")
    audit = gov.audited_batch(lake, "gate:b1", "silver.gongan_czrk")
    assert audit["rows_read"] == first.rows_written == (released["rows_promoted"] + released["rows_quarantined"]
                                                       + released["rows_deleted"])
    assert lake.row_count("quarantine.gongan_czrk") == released["rows_quarantined"] > 0
    # The batch that waited is gated now (its three rows, all valid, pass the 0% threshold).
    results = gate_pending(lake, system, table, 0.0)
    assert [r.batch_id for r in results] == ["gate:b2"] and results[0].promoted == 3
    code, out = _cli(capsys, "batch", "list", "--status", "all")
    assert "已放行" in out and "engineer.li" in out

    # A decision is taken once; a reason is required.
    assert _cli(capsys, "batch", "reject", "b1", "--reason", "again")[0] == 2
    with pytest.raises(HeldBatchError, match="already released"):
        reject(lake, "b1", "again")
    with pytest.raises(HeldBatchError, match="not held"):
        reject(lake, "b2", "no")


def test_a_rejected_batch_is_read_again_with_the_departments_correction(czrk, capsys):
    home, lake, system, table = czrk
    _extract(home, lake, system, table, "b1")
    gate_pending(lake, system, table, None)
    before = _silver_keys(lake)
    # The department writes one broken ID number among five ordinary updates.
    keys = _clean_keys(lake, 6)
    broken = keys[0]
    good_id = sqlite3.connect(home.sources / "gongan.db").execute(
        "SELECT GMSFHM FROM CZRK WHERE RYID = ?", (broken,)).fetchone()[0]
    _department_writes(home, "UPDATE CZRK SET GXSJ = (SELECT datetime(max(GXSJ), '+1 hour') FROM CZRK), "
                             f"XM = XM || '明' WHERE RYID IN {_in(keys)}")
    _department_writes(home, "UPDATE CZRK SET GMSFHM = '37010219900101123' WHERE RYID = ?", broken)
    rejected_batch = _extract(home, lake, system, table, "b2")
    assert rejected_batch.rows_written == 6
    with pytest.raises(GateThresholdError):
        gate_pending(lake, system, table, 0.1)

    # 部门治理: the department repairs the ID, then the bureau rejects the batch it had sent.
    _department_writes(home, "UPDATE CZRK SET GMSFHM = ?, GXSJ = (SELECT datetime(max(GXSJ), '+1 hour') FROM CZRK) "
                             "WHERE RYID = ?", good_id, broken)
    code, out = _cli(capsys, "batch", "reject", "b2", "--reason", "身份证号错误，部门已更正")
    assert code == 0 and "已驳回" in out
    decision = held_batch(lake, "b2")
    assert decision["status"] == REJECTED and decision["rows_rejected"] == rejected_batch.rows_written
    audit = gov.audited_batch(lake, "reject:b2", "bronze.gongan_czrk")
    assert audit["rows_read"] == audit["rows_unchanged"] == rejected_batch.rows_written  # every row accounted for
    assert gov.last_watermark(lake, "gongan", "CZRK") == rejected_batch.watermark_before

    # The next extraction brings every row of the rejected batch again, the repaired one corrected.
    again = _extract(home, lake, system, table, "b3")
    bronze = lake.read_arrow("bronze.gongan_czrk", filter=pc.field("_batch_id") == "b3").read_all()
    assert set(bronze.column("RYID").to_pylist()) == set(keys) and again.rows_written == len(keys)
    [result] = gate_pending(lake, system, table, 0.1)
    assert result.batch_id == "gate:b3" and result.promoted == len(keys) and result.quarantined == 0
    silver = lake.read_arrow("silver.gongan_czrk", filter=pc.field("RYID").isin(keys)).read_all().to_pylist()
    assert {r["RYID"]: r["GMSFHM"] for r in silver}[broken] == good_id
    assert all(r["XM"].endswith("明") for r in silver)
    assert _silver_keys(lake) == before
