"""Issue 13, finding 6 and the gate's two new row checks, through ingestion and the gate of a real
city: values a name or an address cannot hold (control characters, emoji, symbols, digits in a name,
a 1,000-character name, a 1.7-million-character address) are errors of the ``valid`` check; a NULL
update time is a warning; a cell ingestion could not convert is an error of the ``convertible``
check. GX's suite counts each of them as the gate does."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

import pandas as pd
import pytest
from deltalake import DeltaTable

from citylake.ingest.extract import ingest_table
from citylake.quality.checks import UNCONVERTED, check_kind, finding_kind, table_checks
from citylake.quality.expectations.validate import unexpected_counts, validate_batch, validate_frame
from citylake.quality.gate import gate_batch
from citylake.quality.row_checks import check_frame, unconverted_columns
from citylake.quality.rule_results import RULE_RESULT, evaluated_rows, failing_rows
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from tests.quality.cities import city

LONG_ADDRESS = "济南市历下区泉城路1号" * 154_546  # 1,700,006 characters
HOSTILE_NAMES = {
    "nul": "张\x00伟", "bel": "李\x07娜", "esc": "王\x1b[31m芳", "file_separator": "刘\x1c洋", "zero_width": "陈\u200b静",
    "emoji": "赵磊😀", "symbol": "孙★丽", "digits": "周杰2", "latin": "Zhang Wei", "too_long": "张" * 1000,
}
HOSTILE_ADDRESSES = {"too_long": LONG_ADDRESS, "nul": "济南市历下区\x00泉城路1号", "emoji": "济南市历下区泉城路1号🏠"}
REAL_NAMES = ["阿卜杜热合曼·买买提", "欧阳娜娜", "王〇", "司马相如"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    home, lake, _ = city(tmp_path_factory.mktemp("hostile"), 300, 13)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    db = sqlite3.connect(home.sources / "gongan.db")
    keys = [k for (k,) in db.execute("SELECT RYID FROM CZRK ORDER BY RYID LIMIT 40")]
    planted: dict[str, object] = {}
    for key, (what, name) in zip(keys, HOSTILE_NAMES.items(), strict=False):
        db.execute("UPDATE CZRK SET XM = ? WHERE RYID = ?", (name, key))
        planted[f"name.{what}"] = key
    for key, (what, address) in zip(keys[15:], HOSTILE_ADDRESSES.items(), strict=False):
        db.execute("UPDATE CZRK SET HJDZ = ? WHERE RYID = ?", (address, key))
        planted[f"address.{what}"] = key
    for key, name in zip(keys[20:], REAL_NAMES, strict=False):
        db.execute("UPDATE CZRK SET XM = ? WHERE RYID = ?", (name, key))
        planted[f"real.{name}"] = key
    for key in keys[25:27]:
        db.execute("UPDATE CZRK SET GXSJ = NULL WHERE RYID = ?", (key,))
    planted["no_update_time"] = keys[25:27]
    db.commit()
    db.close()
    extracted = ingest_table(system, table, "hostile:gongan.CZRK", lake, source_url(system, home))
    started = time.perf_counter()
    gated = gate_batch(lake, system, table, extracted.batch_id)
    seconds = time.perf_counter() - started
    return lake, system, table, extracted, gated, planted, seconds


def _rows(lake, name: str) -> pd.DataFrame:
    return DeltaTable(lake.table_uri(name)).to_pandas()


def _by_key(frame: pd.DataFrame, column: str = "RYID") -> dict:
    return {row[column]: row for row in frame.to_dict("records")}


def test_values_a_name_or_address_cannot_hold_are_quarantined(hostile):
    lake, _, _, extracted, gated, planted, _ = hostile
    quarantined = _by_key(_rows(lake, gated.quarantine_table))
    assert gated.rows_read == extracted.rows_written == gated.promoted + gated.deleted + gated.quarantined
    expected = {f"name.{w}": "person.name.invalid_chars" for w in HOSTILE_NAMES if w != "too_long"}
    expected |= {"name.too_long": "person.name.too_long", "address.too_long": "address.text.too_long",
                 "address.nul": "address.text.invalid_chars", "address.emoji": "address.text.invalid_chars"}
    for what, rule in expected.items():
        row = quarantined[planted[what]]
        findings = [f for f in row["_errors"] if f["rule"] == rule]
        assert findings, (what, [f["rule"] for f in row["_errors"]])
        value = HOSTILE_NAMES.get(what.removeprefix("name.")) if what.startswith("name.") else \
            HOSTILE_ADDRESSES[what.removeprefix("address.")]
        # Messages name the kind of character, never the value (nor any part of it).
        assert all(value not in f["message"] and value[:2] not in f["message"] for f in row["_errors"])
    # The quarantine keeps the value as the department wrote it, NUL bytes and all.
    assert quarantined[planted["name.nul"]]["XM"] == HOSTILE_NAMES["nul"]
    assert len(quarantined[planted["address.too_long"]]["HJDZ"]) == len(LONG_ADDRESS)
    assert "控制字符" in next(f["message"] for f in quarantined[planted["name.bel"]]["_errors"])


def test_real_names_reach_silver(hostile):
    lake, _, _, _, gated, planted, _ = hostile
    silver = _by_key(_rows(lake, gated.silver_table))
    for name in REAL_NAMES:
        assert silver[planted[f"real.{name}"]]["XM"] == name


def test_a_missing_update_time_is_a_warning_and_the_row_reaches_silver(hostile):
    lake, _, _, _, gated, planted, _ = hostile
    silver = _by_key(_rows(lake, gated.silver_table))
    for key in planted["no_update_time"]:
        warnings = [f for f in silver[key]["_warnings"] if f["rule"] == "update_time.missing"]
        assert [f["columns"] for f in warnings] == [["GXSJ"]]
    others = [r for k, r in silver.items() if k not in planted["no_update_time"]]
    assert others and not any(f["rule"] == "update_time.missing" for r in others for f in r["_warnings"])


def test_rule_results_and_gx_count_the_new_findings_alike(hostile):
    lake, system, table, extracted, gated, _, _ = hostile
    results = _rows(lake, RULE_RESULT)
    results = results[results["batch_id"] == gated.batch_id].set_index("check_id")
    name_errors = len(HOSTILE_NAMES)
    assert results.loc["CZRK.XM.valid", "failed"] == name_errors
    assert results.loc["CZRK.HJDZ.valid", "failed"] == len(HOSTILE_ADDRESSES)
    update = results.loc["CZRK.GXSJ.update_time_present"]
    assert (update["failed"], update["evaluated"], update["criticality"], update["indicator"]) == (
        2, gated.rows_read, "warning", "时效性")
    convertible = results.loc[f"CZRK.{UNCONVERTED}.convertible"]
    assert (convertible["failed"], convertible["evaluated"], convertible["indicator"]) == (0, gated.rows_read, "规范性")
    counts = unexpected_counts(validate_batch(lake, system, table, extracted.batch_id))
    assert set(counts) == {c.check_id for c in table_checks(table) if c.kind != "volume"}
    for check_id, unexpected in counts.items():
        if unexpected is not None:
            assert unexpected == results.loc[check_id, "failed"], check_id


def test_a_long_value_does_not_slow_the_gate():
    table = load_registry()["gongan"].table("CZRK")
    frame = pd.DataFrame({"RYID": [1, 2], "XM": ["张伟", "李娜"], "HJDZ": ["济南市历下区泉城路1号", "济南市历下区泉城路2号"]})
    started = time.perf_counter()
    check_frame(frame, table)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    checked = check_frame(frame.assign(HJDZ=[LONG_ADDRESS, LONG_ADDRESS + "x"], XM=["张" * 1000, "李娜"]), table)
    assert time.perf_counter() - started < baseline + 1.0
    assert [f["rule"] for f in checked["_errors"][0]] == ["person.name.too_long", "address.text.too_long"]


# --- cells ingestion could not convert (bronze's _unconverted) -----------------------------------

def _czrk_frame() -> pd.DataFrame:
    table = load_registry()["gongan"].table("CZRK")
    rows = [
        {"RYID": 1, "GMSFHM": "370102199003071238", "XM": "张伟", "XB": "1", "CSRQ": "19900307",
         "GXSJ": pd.Timestamp("2026-11-30 09:00"), UNCONVERTED: None},
        {"RYID": 2, "GMSFHM": None, "XM": "王芳", "XB": "2", "CSRQ": None, "GXSJ": pd.Timestamp("2026-11-30 09:00"),
         UNCONVERTED: '{"GMSFHM": "37010219900307123８", "CSRQ": "1990-02-30"}'},
        {"RYID": 3, "GMSFHM": "370102199003071238", "XM": "李娜", "XB": "2", "CSRQ": "19900307", "GXSJ": pd.NaT,
         UNCONVERTED: '{"GXSJ": "0000-00-00 00:00:00"}'},
        {"RYID": 4, "GMSFHM": "370102199003071238", "XM": "赵磊", "XB": "1", "CSRQ": "19900307", "GXSJ": pd.NaT,
         UNCONVERTED: None},
    ]
    frame = pd.DataFrame(rows)
    for column in table.columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def test_each_unconvertible_cell_is_an_error_named_by_its_field_or_column():
    table = load_registry()["gongan"].table("CZRK")
    checked = check_frame(_czrk_frame(), table)
    unconverted = [[f for f in errors if f["rule"].endswith(".unconverted")] for errors in checked["_errors"]]
    assert [[f["rule"] for f in row] for row in unconverted] == [
        [], ["person.id_number.unconverted", "person.birth_date.unconverted"], ["GXSJ.unconverted"], []]
    assert [f["columns"] for f in unconverted[1]] == [["GMSFHM"], ["CSRQ"]]
    messages = " ".join(f["message"] for row in unconverted for f in row)
    assert "GMSFHM" in messages and "37010219900307123" not in messages and "0000-00-00" not in messages
    # A NULL update time (here because it could not be converted) is the update-time warning too.
    assert [[f["rule"] for f in w] for w in checked["_warnings"]][2:] == [["update_time.missing"]] * 2


def test_gx_counts_unconvertible_cells_and_missing_update_times_as_the_gate_does():
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    frame = _czrk_frame()
    checked = check_frame(frame, table)
    gate = failing_rows(checked, table)
    counts = unexpected_counts(validate_frame(frame, system, table, datetime.now(UTC).isoformat(),
                                              {"result_format": "SUMMARY"}))
    assert counts[f"CZRK.{UNCONVERTED}.convertible"] == gate[f"CZRK.{UNCONVERTED}.convertible"] == 2
    assert counts["CZRK.GXSJ.update_time_present"] == gate["CZRK.GXSJ.update_time_present"] == 2
    for check in table_checks(table):
        if counts.get(check.check_id) is not None:
            assert counts[check.check_id] == gate.get(check.check_id, 0), check.check_id
        if check.kind in ("convertible", "update_time_present"):
            assert evaluated_rows(check, frame, checked) == len(frame)
    # A table extracted before _unconverted existed: nothing unconvertible, on both sides.
    old = frame.drop(columns=[UNCONVERTED])
    assert failing_rows(check_frame(old, table), table)[f"CZRK.{UNCONVERTED}.convertible"] == 0
    old_counts = unexpected_counts(validate_frame(old, system, table, datetime.now(UTC).isoformat(),
                                                  {"result_format": "SUMMARY"}))
    assert old_counts[f"CZRK.{UNCONVERTED}.convertible"] == 0


def test_a_malformed_unconverted_record_is_a_clear_error_without_its_values():
    assert unconverted_columns(None) == [] and unconverted_columns('{"a": "1", "b": "x"}') == ["a", "b"]
    for bad in ("", "{}", "not json 370102199003071238", '["370102199003071238"]'):
        with pytest.raises(ValueError, match="_unconverted is not a JSON object") as caught:
            unconverted_columns(bad)
        assert "370102199003071238" not in str(caught.value)


def test_scores_and_reports_classify_the_new_findings():
    # quality.assessment scores rule_result rows by their kind's indicator; quality.report.content
    # classifies open issues by finding_kind: both see the new rules under the right check.
    assert finding_kind("person.name.invalid_chars", "person_name") == "valid"
    assert finding_kind("address.text.too_long", "text") == "valid"
    assert finding_kind("enterprise.name.invalid_chars", "name") == "valid"
    assert finding_kind("update_time.missing", None) == "update_time_present"
    assert finding_kind("person.birth_date.unconverted", "date") == "convertible"
    assert finding_kind("GXSJ.unconverted", None) == "convertible"
    update, convertible = check_kind("update_time_present"), check_kind("convertible")
    assert (update.indicator, update.criticality, convertible.indicator, convertible.criticality) == (
        "时效性", "warning", "规范性", "error")
