"""The GX suites built from the checks agree with the gate, batch by batch and check by check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from citylake.quality.checks import finding_check_id, finding_kind, table_checks
from citylake.quality.expectations.docs import build_data_docs
from citylake.quality.expectations.suite import build_suite
from citylake.quality.expectations.validate import (
    complete_format,
    failed_checks,
    unexpected_counts,
    validate_batch,
    validate_frame,
    validate_gated,
)
from citylake.quality.row_checks import check_frame
from citylake.quality.rule_results import RULE_RESULT, failing_rows
from citylake.schemas.standards import standard_field
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from tests.quality.cities import city, ingest_and_gate

BUSY = "corrections_per_day: {gongan: 0.5, renshe: 0.5, yibao: 0.5, scjg: 0.5}\n"


@pytest.fixture(scope="module")
def gated_city(tmp_path_factory):
    home, lake, _ = city(tmp_path_factory.mktemp("gx"), 1500, 31, BUSY)
    batches = []
    for day in ("day0", "day1"):
        if day == "day1":
            advance(1, [home.sqlite_source_url()], home.truth)
        for qualified, (extracted, gated) in ingest_and_gate(home, lake, day, gate_empty=False).items():
            if gated is not None:
                code, name = qualified.split(".", 1)
                system = load_registry()[code]
                batches.append((system, system.table(name), extracted.batch_id))
    return home, lake, batches


def test_every_expectation_counts_what_the_gate_counts(gated_city):
    _, lake, batches = gated_city
    results = lake.read_arrow(RULE_RESULT).read_all().to_pandas().set_index(["batch_id", "check_id"])
    compared = failing = 0
    for system, table, batch_id in batches:
        gx_result = validate_batch(lake, system, table, batch_id)
        assert not [r for r in gx_result.results if r.exception_info.get("raised_exception")]
        counts, failed = unexpected_counts(gx_result), failed_checks(gx_result)
        assert set(counts) == {c.check_id for c in table_checks(table) if c.kind != "volume"}
        for check_id, unexpected in counts.items():
            gate = results.loc[(f"gate:{batch_id}", check_id)]
            if unexpected is None:  # an aggregate expectation (freshness): same verdict
                assert failed[check_id] == bool(gate["failed"]), (batch_id, check_id)
            else:
                assert unexpected == gate["failed"], (batch_id, check_id, unexpected, gate["failed"])
                compared += 1
                failing += unexpected
    assert compared > 200 and failing > 100  # the city's defects really were counted on both sides


def test_complete_results_name_the_same_rows_as_the_gate(gated_city):
    _, lake, batches = gated_city
    system, table, batch_id = next(b for b in batches if b[1].name == "CZRK")
    result = validate_batch(lake, system, table, batch_id, result_format=complete_format(table))
    gx_keys = {r.expectation_config.meta["check_id"]: {str(i[table.primary_key[0]])
                                                       for i in r.result.get("unexpected_index_list") or []}
               for r in result.results}
    from citylake.quality.gate import read_batch

    checked = check_frame(read_batch(lake, system, table, batch_id).rows, table)
    key = table.primary_key[0]
    for check_id, keys in gx_keys.items():
        kind = check_id.rsplit(".", 1)[-1]
        if kind == "freshness":
            continue
        gate_keys = {str(k) for k, errs, warns in zip(checked[key], checked["_errors"], checked["_warnings"],
                                                       strict=True)
                     if any(_counts_for(f, criticality, table) == check_id
                            for criticality, findings in (("error", errs), ("warning", warns)) for f in findings)}
        assert keys == gate_keys, check_id


def _counts_for(finding: dict, criticality: str, table) -> str:
    """The check id a finding counts for (the gate's own mapping, quality.rule_results.failing_rows)."""
    validators = {c: standard_field(f).validator for c, f, _ in table.mapped_columns()}
    kind = finding_kind(finding["rule"], criticality, validators.get(finding["columns"][-1]))
    return finding_check_id(table.name, kind, finding["columns"])


def _crafted_czrk() -> pd.DataFrame:
    rows = [
        # A clean row, then: duplicate keys, a blank and a null key, a blank and a null ID number, a
        # full-width ID number, a wrong check digit, traditional characters, birth date and sex
        # disagreeing with the ID number, an unknown sex code.
        {"RYID": 1, "GMSFHM": "370102199003071238", "XM": "张伟", "XB": "1", "CSRQ": "19900307"},
        {"RYID": 2, "GMSFHM": "370102199003071238", "XM": "王芳", "XB": "1", "CSRQ": "19900307"},
        {"RYID": 2, "GMSFHM": "  ", "XM": "王芳", "XB": "2", "CSRQ": "19900307"},
        {"RYID": None, "GMSFHM": None, "XM": "李娜", "XB": "2", "CSRQ": "19900307"},
        {"RYID": 5, "GMSFHM": "３７０１０２１９９００３０７１２３８", "XM": "劉強", "XB": "1", "CSRQ": "19900307"},
        {"RYID": 6, "GMSFHM": "370102199003071234", "XM": "赵磊", "XB": "1", "CSRQ": "19900307"},
        {"RYID": 7, "GMSFHM": "370102199003071238", "XM": "孙丽", "XB": "2", "CSRQ": "19910307"},
        {"RYID": 8, "GMSFHM": "370102199003071238", "XM": "周杰", "XB": "7", "CSRQ": "19900307"},
    ]
    return pd.DataFrame(rows)


def test_crafted_defects_agree_row_for_row():
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    frame = _crafted_czrk()
    for column in table.columns:
        if column not in frame.columns:
            frame[column] = None
    checked = check_frame(frame, table)
    gate = failing_rows(checked, table)
    result = validate_frame(frame, system, table, datetime.now(UTC).isoformat(), {"result_format": "SUMMARY"})
    counts = unexpected_counts(result)
    assert counts["CZRK.RYID.key_unique"] == gate["CZRK.RYID.key_unique"] == 2
    assert counts["CZRK.RYID.key_present"] == gate["CZRK.RYID.key_present"] == 1
    assert counts["CZRK.GMSFHM.required"] == gate["CZRK.GMSFHM.required"] == 2
    assert counts["CZRK.GMSFHM.standard_form"] == gate["CZRK.GMSFHM.standard_form"] == 1
    assert counts["CZRK.GMSFHM.valid"] == gate["CZRK.GMSFHM.valid"] == 1
    assert counts["CZRK.XM.simplified_chinese"] == gate["CZRK.XM.simplified_chinese"] == 1
    assert counts["CZRK.XB.valid_code"] == gate["CZRK.XB.valid_code"] == 1
    assert counts["CZRK.GMSFHM,CSRQ.agrees_with_id"] == gate["CZRK.GMSFHM,CSRQ.agrees_with_id"] == 1
    assert counts["CZRK.GMSFHM,XB.agrees_with_id"] == gate["CZRK.GMSFHM,XB.agrees_with_id"] == 1


def test_freshness_is_judged_against_the_extraction_time():
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    frame = _crafted_czrk().assign(GXSJ=pd.Timestamp("2026-10-31 09:00:00"))
    check_id = "CZRK.GXSJ.freshness"
    day_after = (datetime(2026, 10, 31, 9, tzinfo=UTC) + timedelta(days=1)).isoformat()
    weeks_after = (datetime(2026, 10, 31, 9, tzinfo=UTC) + timedelta(days=20)).isoformat()
    fresh = validate_frame(frame, system, table, day_after, {"result_format": "SUMMARY"})
    stale = validate_frame(frame, system, table, weeks_after, {"result_format": "SUMMARY"})
    assert failed_checks(fresh)[check_id] is False
    assert failed_checks(stale)[check_id] is True


def test_suites_carry_indicator_and_severity_of_each_check():
    for system in load_registry().values():
        for table in system.tables:
            suite = build_suite(system, table)
            for exp in suite.expectations:
                spec = exp.meta
                assert spec["indicator"] in {"规范性", "完整性", "准确性", "一致性", "时效性"}
                assert exp.severity == ("critical" if spec["criticality"] == "error" else "warning")


def test_kept_results_carry_no_values_and_feed_the_data_docs(gated_city):
    home, lake, batches = gated_city
    for system in load_registry().values():
        for table in system.tables:
            validate_gated(home, lake, system, table)
    kept = sorted((home.gx / "validations").rglob("*.json"))
    assert len(kept) == len(batches)
    again = [validate_gated(home, lake, s, t) for s in load_registry().values() for t in s.tables]
    assert all(k == [] for k in again)  # a kept batch is not validated twice
    for path in kept:
        document = json.loads(path.read_text(encoding="utf-8"))
        for result in document["gx_result"]["results"]:
            assert not result["result"].get("partial_unexpected_list")
    index = build_data_docs(home)
    site = index.parent
    assert index.exists()
    pages = list((site / "validations").rglob("*.html"))
    assert len(pages) == len(kept)
    assert "gongan.CZRK" in index.read_text(encoding="utf-8")
