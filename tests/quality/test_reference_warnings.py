"""Issue 14, item 1: reference data that rejected real values. Through ingestion and the gate of a
real city: a well-formed mobile number of a segment the list does not hold is a review warning and
the person reaches silver; names mixing traditional and simplified characters (鄭晓珍, 劉峰) are
found, reach silver in simplified characters, and bronze keeps them as written. GX's suite counts
both as the gate does."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from deltalake import DeltaTable

from citylake.ingest.extract import ingest_table
from citylake.quality.expectations.validate import unexpected_counts, validate_batch
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.quality.gate import gate_batch
from citylake.quality.rule_results import RULE_RESULT
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from tests.quality.cities import city

UNKNOWN_SEGMENT = "14012345678"      # 140: no segment of the list (11 digits, well-formed)
VIRTUAL_OPERATOR = "17051234567"     # 1705: 中国移动's resale segment, allocated
MALFORMED = "1381234567"             # 10 digits: still invalid, dropped from silver
NAMES = {"鄭晓珍": "郑晓珍", "劉峰": "刘峰", "乾坤": "乾坤", "沈著": "沈著"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    home, lake, _ = city(tmp_path_factory.mktemp("refdata"), 300, 29)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    db = sqlite3.connect(home.sources / "gongan.db")
    # Rows the city left clean in the columns planted here, so each finding is the planted one.
    keys = [k for (k,) in db.execute("SELECT RYID FROM CZRK ORDER BY RYID LIMIT 60")]
    plan = {}
    for key, phone in zip(keys[:3], (UNKNOWN_SEGMENT, VIRTUAL_OPERATOR, MALFORMED), strict=True):
        db.execute("UPDATE CZRK SET LXDH = ? WHERE RYID = ?", (phone, key))
        plan[phone] = key
    for key, name in zip(keys[3:], NAMES, strict=False):
        db.execute("UPDATE CZRK SET XM = ? WHERE RYID = ?", (name, key))
        plan[name] = key
    db.commit()
    db.close()
    extracted = ingest_table(system, table, "refdata:gongan.CZRK", lake, source_url(system, home))
    gated = gate_batch(lake, system, table, extracted.batch_id)
    return lake, system, table, extracted, gated, plan


def _rows(lake, name: str) -> pd.DataFrame:
    return DeltaTable(lake.table_uri(name)).to_pandas()


def _rules(findings) -> set[str]:
    return {f["rule"] for f in findings}


def test_an_unknown_segment_is_a_warning_and_the_person_reaches_silver(planted):
    lake, _, _, _, gated, plan = planted
    silver = _rows(lake, gated.silver_table).set_index("RYID")
    person = silver.loc[plan[UNKNOWN_SEGMENT]]
    assert person["LXDH"] == UNKNOWN_SEGMENT
    assert "person.mobile.prefix" in _rules(person["_warnings"])
    allocated = silver.loc[plan[VIRTUAL_OPERATOR]]
    assert "person.mobile.prefix" not in _rules(allocated["_warnings"])
    # A malformed number is dropped (person.mobile's drop_value rule): the person reaches silver too.
    malformed = silver.loc[plan[MALFORMED]]
    assert malformed["LXDH"] is None and "person.mobile.format" in _rules(malformed["_warnings"])


def test_mixed_traditional_names_reach_silver_simplified_with_a_warning(planted):
    lake, _, _, _, gated, plan = planted
    silver = _rows(lake, gated.silver_table).set_index("RYID")
    bronze = _rows(lake, gated.bronze_table).set_index("RYID")
    for written, simplified in NAMES.items():
        person = silver.loc[plan[written]]
        assert person["XM"] == simplified, written
        assert bronze.loc[plan[written], "XM"] == written
        traditional = "person.name.traditional_chars" in _rules(person["_warnings"])
        assert traditional == (written != simplified), written


def test_the_department_is_told_with_masked_values(planted):
    lake, _, _, _, gated, plan = planted
    issues = _rows(lake, QUALITY_ISSUE)
    issues = issues[issues["batch_id"] == gated.batch_id].set_index(["record_key", "rule"])
    prefix = issues.loc[(str(plan[UNKNOWN_SEGMENT]), "person.mobile.prefix")]
    assert prefix["severity"] == "warning" and prefix["masked_value"] != UNKNOWN_SEGMENT
    assert "4012" not in prefix["masked_value"]
    for written in ("鄭晓珍", "劉峰"):
        issue = issues.loc[(str(plan[written]), "person.name.traditional_chars")]
        assert issue["severity"] == "warning" and issue["masked_value"] not in (written, NAMES[written])


def test_gx_counts_the_new_warnings_as_the_gate_does(planted):
    lake, system, table, extracted, gated, _ = planted
    results = _rows(lake, RULE_RESULT)
    results = results[results["batch_id"] == gated.batch_id].set_index("check_id")
    review = results.loc["CZRK.LXDH.review"]
    assert review["failed"] >= 1 and review["criticality"] == "warning"
    assert results.loc["CZRK.XM.simplified_chinese", "failed"] >= 2
    counts = unexpected_counts(validate_batch(lake, system, table, extracted.batch_id))
    assert counts["CZRK.LXDH.review"] == review["failed"]
    for check_id, unexpected in counts.items():
        if unexpected is not None:
            assert unexpected == results.loc[check_id, "failed"], check_id
