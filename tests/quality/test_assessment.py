"""数据质量评价 on a real gated city: every score is recomputed here from ``governance.rule_result``
with DuckDB, independently of :mod:`quality.assessment`, and must agree with it."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from citylake.quality import assessment
from citylake.quality.rule_results import RULE_RESULT
from citylake.settings import Home
from citylake.synthcity.advance import advance
from tests.quality.cities import city, ingest_and_gate

# Departments correct a share of their defects each day, so the day-1 batches carry fixes.
BUSY = """
corrections_per_day: {gongan: 0.5, renshe: 0.5, yibao: 0.5, scjg: 0.5}
"""
PERSONS = 1500
INDICATORS = ["01", "02", "03", "04", "05", "06"]


def build_gated_city(root: Path) -> tuple[Home, object]:
    """Generate a small city, ingest and gate every table (day 0), advance a day and do it again."""
    home, lake, _ = city(root, PERSONS, 23, BUSY)
    ingest_and_gate(home, lake, "day0")
    advance(1, [home.sqlite_source_url()], home.truth)
    ingest_and_gate(home, lake, "day1")
    return home, lake


@pytest.fixture(scope="module")
def gated_city(tmp_path_factory):
    return build_gated_city(tmp_path_factory.mktemp("assessment"))


@pytest.fixture(scope="module")
def sql(gated_city):
    """DuckDB over the lake's rule results (``rr``)."""
    _, lake = gated_city
    con = duckdb.connect()
    con.register("rr_dataset", lake.dataset(RULE_RESULT))
    con.execute("""CREATE VIEW rr AS SELECT *, substr(indicator_code, 1, 2) AS code,
                   max(evaluated_at) OVER (PARTITION BY batch_id) AS batch_at FROM rr_dataset""")
    yield con
    con.close()


# The state of each table after its latest batch: per check of that batch, the latest batch that
# evaluated it (B > 0).
STATE_SQL = """
WITH latest AS (SELECT source_table, max(batch_at) AS at FROM rr GROUP BY source_table),
current AS (SELECT rr.source_table, rr.check_id FROM rr JOIN latest
            ON rr.source_table = latest.source_table AND rr.batch_at = latest.at),
measured AS (SELECT * FROM rr WHERE evaluated > 0
             QUALIFY row_number() OVER (PARTITION BY source_table, check_id ORDER BY batch_at DESC, batch_id DESC) = 1)
SELECT m.department, m.source_table, m.code, m.evaluated - m.failed AS a, m.evaluated AS b
FROM current c JOIN measured m ON c.source_table = m.source_table AND c.check_id = m.check_id
"""


def _frame_counts(scores: pd.DataFrame, keys: list[str]) -> dict[tuple, tuple[int, int]]:
    return {(*(r[k] for k in keys), r["indicator_code"]): (r["passed"], r["evaluated"])
            for r in scores.to_dict("records")}


def _expect_same(scores: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    """``scores`` (long) has expected A, B and X = A/B where SQL found B > 0, and 未评价 elsewhere."""
    found = _frame_counts(scores, keys)
    wanted = {(*(r[k] for k in keys), r["code"]): (int(r["a"]), int(r["b"])) for r in expected.to_dict("records")
              if r["b"] > 0}
    assert wanted, "the city produced no evaluated elements"
    for key, (a, b) in wanted.items():
        assert found[key] == (a, b), key
    for row in scores.to_dict("records"):
        key = (*(row[k] for k in keys), row["indicator_code"])
        if key in wanted:
            assert row["score"] == pytest.approx(wanted[key][0] / wanted[key][1]), key
            assert row["status"] == assessment.EVALUATED
        else:
            assert row["evaluated"] == 0 and math.isnan(row["score"]), key
            assert row["status"] == assessment.NOT_EVALUATED, key


def _equal_weight_overall(scores: pd.DataFrame, keys: list[str]) -> dict[tuple, float]:
    out = {}
    for key, group in scores.groupby(keys):
        evaluated = group[group["evaluated"] > 0]
        out[key if isinstance(key, tuple) else (key,)] = (evaluated["passed"] / evaluated["evaluated"]).mean()
    return out


def test_batch_scores_are_a_over_b_of_the_rule_results(gated_city, sql):
    _, lake = gated_city
    expected = sql.execute("""SELECT department, source_table, batch_id, code, sum(evaluated - failed) AS a,
                              sum(evaluated) AS b FROM rr GROUP BY ALL""").df()
    scores = assessment.batch_scores(lake)
    keys = ["department", "source_table", "batch_id"]
    _expect_same(scores, expected, keys)
    batches = sql.execute("SELECT count(DISTINCT batch_id) FROM rr").fetchone()[0]
    assert len(scores) == batches * len(INDICATORS)
    assert list(scores.drop_duplicates("batch_id")["evaluated_at"]) == sorted(scores["evaluated_at"].unique())
    # A bounded read returns only what it was asked for.
    one = assessment.batch_scores(lake, department="公安局")
    assert set(one["department"]) == {"公安局"} and len(one) > 0
    assert set(assessment.batch_scores(lake, source_table="minzheng.HYDJ")["source_table"]) == {"minzheng.HYDJ"}


def test_table_and_department_scores_sum_each_checks_latest_measurement(gated_city, sql):
    _, lake = gated_city
    state = sql.execute(STATE_SQL).df()
    per_table = state.groupby(["department", "source_table", "code"], as_index=False)[["a", "b"]].sum()
    _expect_same(assessment.table_scores(lake), per_table, ["department", "source_table"])
    per_department = state.groupby(["department", "code"], as_index=False)[["a", "b"]].sum()
    departments = assessment.department_scores(lake)
    _expect_same(departments, per_department, ["department"])
    assert sorted(departments["department"].unique()) == assessment.departments(lake)
    # Equal weights by default: the overall score is the mean of the evaluated indicators.
    overall = assessment.overall_scores(departments).set_index("department")["score"]
    for (department,), mean in _equal_weight_overall(departments, ["department"]).items():
        assert overall[department] == pytest.approx(mean), department


def test_an_indicator_without_evaluated_elements_is_not_evaluated(gated_city, sql):
    _, lake = gated_city
    scores = assessment.batch_scores(lake)
    # 可访问性 has no check yet.
    access = scores[scores["indicator_code"] == "06"]
    assert (access["status"] == "未评价").all() and access["score"].isna().all() and len(access) > 0
    # A day-1 batch without changes evaluates its row-count check only: 完整性 is scored, the rest are
    # 未评价 (not 100%), and the overall score is 完整性 alone.
    empty = sql.execute("""SELECT batch_id FROM rr GROUP BY batch_id
                           HAVING sum(evaluated) FILTER (WHERE kind <> 'volume') = 0
                              AND sum(evaluated) FILTER (WHERE kind = 'volume') > 0""").df()["batch_id"]
    assert len(empty) > 0, "expected a day-1 batch without changes"
    batch = scores[scores["batch_id"] == empty.iloc[0]].set_index("indicator_code")
    assert batch.loc["02", "status"] == "已评价"
    assert batch.drop(index="02")["status"].eq("未评价").all()
    assert batch.drop(index="02")["score"].isna().all()
    overall = assessment.overall_scores(batch.reset_index())["score"].iloc[0]
    assert overall == pytest.approx(batch.loc["02", "score"])
    # Nothing evaluated at all: the overall score is NaN, not 0 or 100%.
    nothing = assessment.read_results(lake)
    nothing = nothing[nothing["evaluated"] == 0]
    scored = assessment.score_counts(nothing, ["source_table"])
    assert scored["status"].eq("未评价").all()
    assert assessment.overall_scores(scored)["score"].isna().all()
    assert assessment.wide(scored)["综合"].isna().all()


def test_weights_apply_to_the_evaluated_indicators_only(gated_city):
    _, lake = gated_city
    scores = assessment.department_scores(lake, department="公安局")
    x = scores.set_index("indicator_code")["score"]
    weights = {"01": 3.0, "02": 1.0, "03": 2.0, "04": 1.0, "05": 0.5, "06": 100.0}
    got = assessment.overall_scores(scores, weights)["score"].iloc[0]
    used = [c for c in INDICATORS if not math.isnan(x[c])]
    assert "06" not in used
    assert got == pytest.approx(sum(weights[c] * x[c] for c in used) / sum(weights[c] for c in used))
    # The weights of indicators.yaml are equal unless configured.
    assert set(assessment.indicator_frame()["weight"]) == {1.0}


def test_table_trend_has_a_point_per_batch_and_day_one_changes_it(gated_city, sql):
    _, lake = gated_city
    for source_table in ("gongan.CZRK", "minzheng.HYDJ", "zrzy.BDCDJ"):
        trend = assessment.table_trend(lake, source_table)
        batches = sql.execute("SELECT batch_id, max(batch_at) AS batch_time FROM rr WHERE source_table = ? "
                              "GROUP BY 1 ORDER BY batch_time", [source_table]).df()
        assert trend["batch_id"].tolist() == batches["batch_id"].tolist(), source_table
        assert trend["point"].tolist() == list(range(1, len(batches) + 1))
        # The last point is the table's current state.
        now = assessment.wide(assessment.table_scores(lake, source_table=source_table)).iloc[0]
        for column in [*assessment.indicator_names(), "综合"]:
            assert trend[column].iloc[-1] == pytest.approx(now[column], nan_ok=True), (source_table, column)
    czrk = assessment.table_trend(lake, "gongan.CZRK")
    assert czrk["batch_id"].tolist() == ["gate:day0:gongan.CZRK", "gate:day1:gongan.CZRK"]
    first, second = czrk.iloc[0], czrk.iloc[1]
    changed = [c for c in assessment.indicator_names() if not first[c] == pytest.approx(second[c], nan_ok=True)]
    assert changed, "the day-1 batch (with the department's fixes) should change the state"
    # Day 0's point is the state as of that batch alone: its own batch score.
    assert first["综合"] == pytest.approx(first["batch_overall"])


def test_department_trend_has_a_point_per_batch_round(gated_city, sql):
    _, lake = gated_city
    for department in assessment.departments(lake):
        trend = assessment.department_trend(lake, department)
        tables = sql.execute("SELECT count(DISTINCT source_table) FROM rr WHERE department = ?",
                             [department]).fetchone()[0]
        # Every table was gated once a day: two rounds of one batch per table.
        assert trend["point"].tolist() == [1, 2], department
        assert trend["batches"].tolist() == [tables, tables], department
        assert all(i.startswith("gate:day0:") for i in trend["batch_ids"].iloc[0])
        assert all(i.startswith("gate:day1:") for i in trend["batch_ids"].iloc[1])
        now = assessment.wide(assessment.department_scores(lake, department)).iloc[0]
        assert trend["综合"].iloc[-1] == pytest.approx(now["综合"], nan_ok=True)
        day0 = assessment.wide(assessment.department_scores(lake, department, as_of=trend["ended_at"].iloc[0]))
        assert trend["综合"].iloc[0] == pytest.approx(day0["综合"].iloc[0], nan_ok=True)
    police = assessment.department_trend(lake, "公安局")
    assert police["综合"].iloc[0] != pytest.approx(police["综合"].iloc[1])
