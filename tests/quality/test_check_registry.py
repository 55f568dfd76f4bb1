"""Check kinds as a registry of functions (citylake.quality.check_functions): a new kind is one
function and one indicators.yaml entry, applied by a rule next to the column; it reaches the gate,
the GX suite, the scores and the department report. A rule also sets a built-in check's
criticality: a malformed phone number is dropped from silver, and its record kept."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.config_files import CONFIG_ENV
from citylake.configuration import ConfigurationError
from citylake.ingest.extract import ingest_table
from citylake.quality import check_functions
from citylake.quality.assessment import read_results, table_scores
from citylake.quality.checks import INDICATORS_FILE, table_checks
from citylake.quality.expectations.validate import unexpected_counts, validate_batch
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.quality.gate import gate_batch
from citylake.quality.report.render import render_department_report
from citylake.quality.rule_results import RULE_RESULT
from citylake.sources.connections import source_url
from citylake.sources.registry import DEFAULT_REGISTRY, load_registry
from tests.quality.cities import city

# The new kind: a registered address that is a placeholder (不详, 无) rather than an address.
MODULE = '''
import pyarrow as pa
import pyarrow.compute as pc


def is_not_placeholder(values, placeholders):
    return pc.invert(pc.is_in(pc.utf8_trim_whitespace(pc.cast(values, pa.string())),
                              value_set=pa.array(placeholders, pa.string())))
'''
ENTRY = '''
  is_not_placeholder:
    code: '020103'
    name_zh: 非占位值
    description: 值不是占位符(不详、无), 而是真实内容
    criticality: error
    evaluates: present values the rule applies to
    function: city_checks:is_not_placeholder
    message: '{field}为占位值({placeholders}), 不是真实内容 (a placeholder, not a value)'
'''
# The rule, on 公安 CZRK: men's records only (the filter), to show a filter narrows the rows.
RULE = '''  - criticality: error
    check: {function: is_not_placeholder, arguments: {column: HJDZ, placeholders: [不详, 无]}}
    filter: "XB = '1'"
  - criticality: warning
    check: {function: is_in_range, arguments: {column: CSRQ, min_limit: '1900-01-01'}}
'''
PLACEHOLDER_MEN, PLACEHOLDER_WOMEN = 3, 2


def _configuration(root: Path) -> Path:
    folder = root / "config"
    (folder / "quality").mkdir(parents=True)
    (folder / "quality" / "indicators.yaml").write_text(
        INDICATORS_FILE.read_text(encoding="utf-8").replace("\n# Validators whose `valid` check",
                                                            ENTRY + "\n# Validators whose `valid` check", 1),
        encoding="utf-8")
    (folder / "sources" / "systems").mkdir(parents=True)
    shipped = (DEFAULT_REGISTRY / "gongan.yaml").read_text(encoding="utf-8")
    marker = "  checks:\n"  # CZRK's, the first table's
    assert marker in shipped
    (folder / "sources" / "systems" / "gongan.yaml").write_text(shipped.replace(marker, marker + RULE, 1),
                                                               encoding="utf-8")
    modules = root / "modules"
    modules.mkdir()
    (modules / "city_checks.py").write_text(MODULE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    root = tmp_path_factory.mktemp("check_registry")
    folder = _configuration(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_ENV, str(folder))
        patch.syspath_prepend(str(root / "modules"))
        home, lake, _ = city(root, 400, 5)
        system = load_registry()["gongan"]
        table = system.table("CZRK")
        engine = sa.create_engine(source_url(system, home))
        with engine.begin() as conn:
            rows = conn.execute(sa.text("SELECT RYID, XB FROM CZRK WHERE HJDZ IS NOT NULL AND LXDH IS NOT NULL "
                                        "ORDER BY RYID")).fetchall()
            men = [r.RYID for r in rows if r.XB == "1"][:PLACEHOLDER_MEN]
            women = [r.RYID for r in rows if r.XB == "2"][:PLACEHOLDER_WOMEN]
            phone = next(r.RYID for r in rows if r.RYID not in men + women)
            for key in men + women:
                conn.execute(sa.text("UPDATE CZRK SET HJDZ = '不详' WHERE RYID = :k"), {"k": key})
            conn.execute(sa.text("UPDATE CZRK SET LXDH = '1380013' WHERE RYID = :k"), {"k": phone})
        engine.dispose()
        extracted = ingest_table(system, table, "day0:gongan.CZRK", lake, source_url(system, home))
        gate = gate_batch(lake, system, table, extracted.batch_id)
        gx = validate_batch(lake, system, table, extracted.batch_id)
        report = render_department_report(lake, system.owner, root / "reports").read_text(encoding="utf-8")
        scores = table_scores(lake, source_table="gongan.CZRK")
        yield {"home": home, "lake": lake, "system": system, "table": table, "batch": extracted.batch_id,
               "gate": gate, "gx": gx, "report": report, "scores": scores, "men": men, "women": women,
               "phone": phone}


def _keys(lake, name: str) -> set[str]:
    return set(map(str, lake.read_arrow(name, columns=["RYID"]).read_all().column("RYID").to_pylist()))


def test_the_new_kind_reaches_the_gate_within_its_filter(registered):
    lake, table, gate = registered["lake"], registered["table"], registered["gate"]
    quarantined = lake.read_arrow(gate.quarantine_table).read_all().to_pylist()
    placeholder = {str(r["RYID"]) for r in quarantined
                   if any(f["rule"] == "address.text.is_not_placeholder" for f in r["_errors"])}
    assert placeholder == set(map(str, registered["men"]))
    finding = next(f for r in quarantined for f in r["_errors"] if f["rule"] == "address.text.is_not_placeholder")
    assert finding["message"] == "地址全称(HJDZ)为占位值(不详, 无), 不是真实内容 (a placeholder, not a value)"
    assert finding["columns"] == ["HJDZ"]
    # The women's placeholders are outside the filter: not judged, in silver.
    assert set(map(str, registered["women"])) <= _keys(lake, gate.silver_table)
    check = next(c for c in table_checks(table) if c.kind == "is_not_placeholder")
    assert check.check_id == "CZRK.HJDZ.is_not_placeholder" and check.filter == "XB = '1'"


def test_rule_results_count_what_the_filter_let_through(registered):
    lake, batch = registered["lake"], registered["batch"]
    bronze = lake.read_arrow(registered["gate"].bronze_table).read_all().to_pandas()
    men_with_address = int(((bronze["XB"] == "1") & bronze["HJDZ"].notna() & (bronze["HJDZ"].str.strip() != "")).sum())
    results = lake.read_arrow(RULE_RESULT, filter=pc.field("check_id") == "CZRK.HJDZ.is_not_placeholder"
                              ).read_all().to_pylist()
    assert len(results) == 1
    result = results[0]
    assert result["batch_id"] == f"gate:{batch}"
    assert (result["failed"], result["kind"], result["indicator"], result["check_name"]) == (
        PLACEHOLDER_MEN, "is_not_placeholder", "完整性", "非占位值")
    # Men whose address is valid by the address standard (all of them here: the city's addresses are).
    assert 0 < result["evaluated"] <= men_with_address
    assert result["evaluated"] >= men_with_address - 5


def test_gx_counts_the_same_failures_as_the_gate(registered):
    counts = unexpected_counts(registered["gx"])
    lake = registered["lake"]
    gate = {r["check_id"]: r["failed"] for r in lake.read_arrow(RULE_RESULT).read_all().to_pylist()
            if r["check_id"] in counts and counts[r["check_id"]] is not None}
    assert counts["CZRK.HJDZ.is_not_placeholder"] == PLACEHOLDER_MEN
    assert "CZRK.CSRQ.is_in_range" in counts and counts["CZRK.ZXBS.is_in_list"] == 0
    assert gate == {k: v for k, v in counts.items() if k in gate}
    meta = next(r.expectation_config for r in registered["gx"].results
                if r.expectation_config.meta["check_id"] == "CZRK.HJDZ.is_not_placeholder")
    assert meta.meta["indicator_code"] == "020103" and meta.severity == "critical"


def test_the_scores_and_the_report_carry_the_new_kind(registered):
    results = read_results(registered["lake"], source_table="gongan.CZRK")
    mine = results[results["check_id"] == "CZRK.HJDZ.is_not_placeholder"]
    assert mine[["check_code", "indicator_code"]].values.tolist() == [["020103", "02"]]
    completeness = registered["scores"].set_index("indicator_code").loc["02"]
    counts = results[results["indicator_code"] == "02"]
    assert completeness["evaluated"] == counts["evaluated"].sum()
    assert completeness["passed"] == (counts["evaluated"] - counts["failed"]).sum()
    # The department's report lists the rule with its check name among the open issues' rules.
    assert "address.text.is_not_placeholder" in registered["report"]
    assert "非占位值" in registered["report"]


def test_a_malformed_phone_number_is_dropped_and_the_record_kept(registered):
    lake, gate, key = registered["lake"], registered["gate"], str(registered["phone"])
    silver = lake.read_arrow(gate.silver_table, filter=pc.field("RYID") == pa.scalar(registered["phone"])
                             ).read_all().to_pylist()
    assert len(silver) == 1 and silver[0]["LXDH"] is None
    warning = next(f for f in silver[0]["_warnings"] if f["rule"] == "person.mobile.format")
    assert "该值未进入 silver" in warning["message"] and "1380013" not in warning["message"]
    bronze = lake.read_arrow(gate.bronze_table, filter=pc.field("RYID") == pa.scalar(registered["phone"])
                             ).read_all().to_pylist()
    assert bronze[0]["LXDH"] == "1380013"  # bronze keeps what the department wrote
    issues = lake.read_arrow(QUALITY_ISSUE, filter=pc.field("rule") == "person.mobile.format").read_all().to_pylist()
    assert [(i["record_key"], i["severity"]) for i in issues] == [(key, "warning")]
    # The department sees which number, masked, though silver no longer holds it.
    assert issues[0]["masked_value"] and issues[0]["masked_value"] != "1380013"
    results = {r["check_id"]: r for r in lake.read_arrow(RULE_RESULT).read_all().to_pylist()}
    assert results["CZRK.LXDH.valid"]["failed"] == 1 and results["CZRK.LXDH.valid"]["criticality"] == "drop_value"
    assert unexpected_counts(registered["gx"])["CZRK.LXDH.valid"] == 1


def test_the_shipped_check_functions():
    values = pa.array(["0", "1", "2", "x1"])
    assert check_functions.is_in_list(values, allowed=[0, 1]).to_pylist() == [True, True, False, False]
    assert check_functions.regex_match(values, regex=r"\d").to_pylist() == [True, True, True, False]
    assert check_functions.regex_match(values, regex=r"\d", negate=True).to_pylist() == [False, False, False, True]
    dates = pa.array(["1899-12-31", "1900-01-01", "2030-01-01"])
    assert check_functions.is_in_range(dates, min_limit="1900-01-01", max_limit="2026-12-31").to_pylist() == [
        False, True, False]
    assert check_functions.is_in_range(pa.array([5, 50, 500]), max_limit=100).to_pylist() == [True, True, False]


@pytest.mark.parametrize(("rule", "problem"), [
    ("{check: {function: is_in_lst, arguments: {column: ZXBS, allowed: ['0']}}}",
     "check.function 'is_in_lst' is neither a check function"),
    ("{check: {function: is_in_list, arguments: {column: ZXBS, allowd: ['0']}}}",
     "check is_in_list: arguments ['allowd'] do not fit"),
    ("{check: {function: is_in_list, arguments: {allowed: ['0']}}}",
     "check.arguments.column must name the column the rule judges"),
    ("{check: {function: valid, arguments: {column: LXDH}}, filter: \"XB = '1'\"}",
     "check valid is built in: a rule of it sets its criticality, and only that"),
    ("{criticality: warning, check: {function: valid, arguments: {column: CSRQ}}}",
     "check valid of a date field cannot be a warning"),
    ("{criticality: drop_value, check: {function: is_in_list, arguments: {column: RYID, allowed: ['1']}}}",
     "a key column's value cannot be dropped"),
    ("{check: {function: is_in_list, arguments: {column: ZXBS, allowed: ['0']}}, filter: 'XB = = 1'}",
     "is not a SQL expression"),
])
def test_a_wrong_rule_is_one_line_naming_the_file_and_the_rule(tmp_path, rule, problem):
    shipped = (DEFAULT_REGISTRY / "gongan.yaml").read_text(encoding="utf-8")
    (tmp_path / "gongan.yaml").write_text(shipped.replace("  checks:\n", f"  checks:\n  - {rule}\n", 1),
                                          encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_registry(tmp_path, strict=True)
    message = str(caught.value)
    assert "gongan.yaml" in message and "tables[0] (CZRK): checks[0]" in message and problem in message, message
    assert "\n" not in message
