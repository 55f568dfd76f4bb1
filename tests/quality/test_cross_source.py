"""Cross-source rules: a department's records judged against other departments' records."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.quality.cross_source import CrossSourceRuleError, check_rule, load_rules, read_rules
from citylake.quality.feedback import FIXED, OPEN, QUALITY_ISSUE
from citylake.quality.rule_results import RULE_RESULT
from citylake.synthcity.advance import advance
from citylake.synthcity.truth import TruthDir
from tests.quality.cities import city, ingest_and_gate

RULE = "cross.insured_after_death"
# Many deaths a day and a 医保 that corrects half of its open defects daily: day 1 both fixes
# earlier contradictions and brings new ones.
BUSY = """
corrections_per_day: {yibao: 0.5}
events_per_1000_per_day: {deaths: 3.0}
"""


def _round(home, lake, tag) -> dict:
    ingest_and_gate(home, lake, tag, gate_empty=False)
    (rule,) = [r for r in load_rules() if r.rule == RULE]
    return check_rule(lake, rule)


def _issues(lake) -> pd.DataFrame:
    return lake.read_arrow(QUALITY_ISSUE, filter=pc.field("rule") == RULE).read_all().to_pandas()


def _contradicted_in_truth(truth: TruthDir) -> set[str]:
    """Insurance records of the deceased left active, not (yet) corrected by 医保."""
    defects = pd.read_parquet(truth.root / "record_defect.parquet")
    lagging = defects[(defects["defect"] == "still_insured_after_death") & defects["corrected_day"].isna()]
    return set(lagging["record_key"].astype(str))


@pytest.fixture(scope="module")
def checked_city(tmp_path_factory):
    home, lake, config = city(tmp_path_factory.mktemp("cross"), 2000, 41, BUSY)
    day0 = _round(home, lake, "day0")
    issues0 = _issues(lake)
    expected0 = _contradicted_in_truth(TruthDir(home.truth))
    advance(1, [home.sqlite_source_url()], home.truth, config_path=str(config))
    day1 = _round(home, lake, "day1")
    return lake, home, (day0, issues0, expected0), (day1, _issues(lake), _contradicted_in_truth(TruthDir(home.truth)))


def test_flags_exactly_the_deceased_left_insured(checked_city):
    _, _, (day0, issues, expected), _ = checked_city
    assert expected, "the synthetic city should hold insured deceased persons"
    assert set(issues.loc[issues["status"] == OPEN, "record_key"]) == expected
    assert day0["failed"] == len(expected)
    assert set(issues["department"]) == {"医疗保障局"} and set(issues["severity"]) == {"warning"}
    assert issues["masked_value"].str.contains(r"\*").all()  # the ID number, masked


def test_the_next_day_brings_new_contradictions(checked_city):
    lake, _, (_, _, expected0), (day1, issues1, expected1) = checked_city
    assert set(issues1.loc[issues1["status"] == OPEN, "record_key"]) == expected1
    assert expected1 > expected0, "day 1's deaths left more insurance records active"
    results = lake.read_arrow(RULE_RESULT, filter=pc.field("kind") == "cross_source").read_all().to_pandas()
    assert sorted(results["failed"]) == sorted([len(expected0), len(expected1)])
    assert set(results["indicator"]) == {"一致性"}


def test_a_terminated_insurance_closes_its_issue(checked_city):
    """医保 terminates one of the records in its own system: the next batch and check close the issue."""
    lake, home, _, (_, _, expected1) = checked_city
    key = sorted(expected1)[0]
    engine = sa.create_engine(f"sqlite:///{home.sources}/yibao.db")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE psn_insu_d SET psn_insu_stas = '4', updt_time = :now "
                                   "WHERE psn_insu_id = :key"), {"now": datetime(2030, 1, 1), "key": key})
    engine.dispose()
    after = _round(home, lake, "day1b")
    issues = _issues(lake).set_index("record_key")
    assert issues.loc[key, "status"] == FIXED
    assert after["issues_fixed"] == 1 and after["failed"] == len(expected1) - 1


def test_the_gate_leaves_cross_source_issues_to_their_rule(checked_city):
    """A record that comes through the gate again without row-level failures keeps its open
    cross-source issue: only the rule's own check closes it."""
    lake, _, _, (_, issues1, expected1) = checked_city
    touched_on_day1 = set(lake.read_arrow("bronze.yibao_psn_insu_d", columns=["psn_insu_id"],
                                          filter=pc.field("_batch_id") == "day1:yibao.psn_insu_d").read_all()
                          .column(0).to_pylist())
    kept = expected1 & touched_on_day1
    open_now = issues1[issues1["status"] == OPEN]
    assert kept <= set(open_now["record_key"])
    assert not (set(issues1.loc[issues1["status"] == FIXED, "resolved_batch_id"]) & {"gate:day1:yibao.psn_insu_d"})


def test_rules_file_is_validated_with_clear_errors(tmp_path):
    bad = tmp_path / "rules.yaml"
    cases = {
        "rules: [{rule: cross.x, description: d, criticality: warning, subject: {table: yibao.NOSUCH, field: "
        "person.id_number}, contradicted_by: [{table: minzheng.SWDJ, field: person.id_number}]}]": "has no table",
        "rules: [{rule: cross.x, description: d, criticality: warning, subject: {table: yibao.psn_insu_d, field: "
        "person.mobile}, contradicted_by: [{table: minzheng.SWDJ, field: person.id_number}]}]": "maps no column",
        "rules: [{rule: x, description: d, criticality: warning, subject: {table: yibao.psn_insu_d, field: "
        "person.id_number}, contradicted_by: [{table: minzheng.SWDJ, field: person.id_number}]}]": "start with 'cross.'",
        "rules: [{rule: cross.x, criticality: warning}]": "missing",
    }
    for text, message in cases.items():
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(CrossSourceRuleError, match=message) as error:
            read_rules(bad)
        assert str(bad) in str(error.value)


def test_a_rule_on_systems_not_onboarded_is_inactive(tmp_path, caplog):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: [{rule: cross.x, description: d, criticality: warning, subject: {table: nosuch.T, "
                     "field: person.id_number}, contradicted_by: [{table: minzheng.SWDJ, field: person.id_number}]}]",
                     encoding="utf-8")
    assert read_rules(rules) == ()
    assert "inactive" in caplog.text and "nosuch" in caplog.text


def test_scores_keep_the_gate_checks_beside_the_cross_source_one(checked_city):
    """A cross-source run is a batch of its own in rule_result: it joins the table's current checks
    and is no point of the gate-batch trend."""
    from citylake.quality import assessment

    lake = checked_city[0]
    scores = assessment.table_scores(lake, source_table="yibao.psn_insu_d").set_index("indicator")
    assert {"规范性", "完整性", "准确性", "一致性"} <= set(scores.index[scores["evaluated"] > 0])
    assert scores.loc["一致性", "evaluated"] > scores.loc["一致性", "passed"]  # the contradictions count
    trend = assessment.table_trend(lake, "yibao.psn_insu_d")
    assert trend["batch_id"].str.startswith("gate:").all()


def test_the_department_report_lists_the_rule_under_consistency(checked_city):
    from citylake.quality.report.content import top_rules

    rules = top_rules(checked_city[0], "医疗保障局", limit=50).set_index("rule")
    assert rules.loc[RULE, "indicator"] == "一致性" and rules.loc[RULE, "code"] == "040301"
