"""数据调用情况反馈 (citylake.catalog.usage_report): real reads through ``citylake sql`` end up, per
providing department, in governance.usage_report — directly and through the gold tables derived from
the department's tables, refused and failed reads apart — and score 可访问性; no query text in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from citylake.catalog.usage_report import USAGE_REPORT, gold_upstream, providers
from citylake.cli import main
from citylake.lake import open_lake
from citylake.quality import assessment
from citylake.quality.rule_results import RULE_RESULT

ID = "110101199001011234"
FAILING = f"SELECT CAST(name AS INTEGER) FROM gold.person WHERE person_id_masked <> '{ID}'"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("CITYLAKE_PSEUDONYM_KEY", "test-only-key")
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    lake = open_lake(tmp_path / "lake")
    lake.write_arrow("silver.gongan_czrk", pa.table({"RYID": ["r1", "r2", "r3"], "GMSFHM": [ID] * 3,
                                                     "_batch_id": ["b1"] * 3}))
    lake.write_arrow("silver.scjg_qydj", pa.table({"TYSHXYDM": ["91370102MA3C12345X"], "_batch_id": ["b1"]}))
    lake.write_arrow("gold.person", pa.table({"person_id": [ID, "110101198502024321"], "id_number": [ID, ID],
                                              "name": ["张三", "李四"], "district_code": ["370102", "370102"]}))
    return tmp_path


def _sql(monkeypatch, user: str, query: str, *args: str) -> int:
    monkeypatch.setenv("CITYLAKE_USER", user)
    return main(["-q", "sql", query, "--format", "csv", *args])


def test_gold_tables_trace_back_to_the_registry_tables_they_are_built_from():
    upstream = gold_upstream()
    assert upstream["gold.standard_address"] == {"silver.gongan_bzdz"}
    assert {"silver.gongan_czrk", "quarantine.minzheng_hydj"} <= upstream["gold.person"]
    # Through gold tables: person_address is built from gold.person and gold.address_link.
    assert upstream["gold.person"] | upstream["gold.address_link"] == upstream["gold.person_address"]
    assert all(t.split(".")[0] in ("silver", "quarantine") for ts in upstream.values() for t in ts)
    departments = {p.department for p in providers()["gold.person"]}
    assert {"公安局", "民政局", "市场监督管理局"} <= departments and "税务局" not in departments


def test_reads_are_reported_to_the_providing_department_and_score_accessibility(home, monkeypatch, capsys):
    assert _sql(monkeypatch, "li.gong", "SELECT * FROM silver.gongan_czrk", "--role", "engineer") == 0
    assert _sql(monkeypatch, "wang.ke", "SELECT count(*) AS n FROM gold.person") == 0
    assert _sql(monkeypatch, "wang.ke", "SELECT * FROM gold.person") == 0
    assert _sql(monkeypatch, "zhao.mz", "SELECT * FROM silver.gongan_czrk", "--role", "department:minzheng") == 2
    assert _sql(monkeypatch, "wang.ke", FAILING) == 2
    capsys.readouterr()
    assert main(["usage", "report", "--days", "1"]) == 0
    printed = capsys.readouterr().out
    assert "gongan.CZRK" in printed and "可访问性" in printed

    lake = open_lake(home / "lake")
    rows = lake.read_arrow(USAGE_REPORT, filter=pc.field("source_table") == "gongan.CZRK").read_all().to_pylist()
    got = {(r["read_table"], r["via"], r["user"], r["role"], r["interface"]): (r["reads"], r["rows"], r["refused"],
                                                                             r["failed"], r["distinct_queries"])
           for r in rows}
    assert got == {
        ("silver.gongan_czrk", "direct", "li.gong", "engineer", "citylake sql"): (1, 3, 0, 0, 1),
        ("silver.gongan_czrk", "direct", "zhao.mz", "department:minzheng", "citylake sql"): (0, 0, 1, 0, 1),
        ("gold.person", "derived", "wang.ke", "analyst", "citylake sql"): (2, 3, 0, 1, 3),
    }
    assert {r["department"] for r in rows} == {"公安局"}
    assert all(r["period_end"] - r["period_start"] == timedelta(days=1) for r in rows)
    # gold.person is reported to every department it is built from (税务 is not one of them).
    derived = lake.read_arrow(USAGE_REPORT, filter=pc.field("read_table") == "gold.person").read_all()
    assert {"公安局", "民政局"} <= set(derived.column("department").to_pylist())
    everything = str(lake.read_arrow(USAGE_REPORT).read_all().to_pylist())
    assert "shuiwu" not in everything and ID not in everything and "SELECT" not in everything

    # 可访问性 of 公安 常住人口: 3 reads served, 1 failed; the refusal is not scored.
    result = lake.read_arrow(RULE_RESULT, filter=(pc.field("source_table") == "gongan.CZRK")
                             & (pc.field("kind") == "accessible")).read_all().to_pylist()
    assert [(r["evaluated"], r["failed"], r["indicator_code"]) for r in result] == [(4, 1, "060101")]
    scores = assessment.department_scores(lake, "公安局").set_index("indicator")
    assert scores.at["可访问性", "score"] == pytest.approx(3 / 4) and scores.at["可访问性", "status"] == "已评价"

    # The same period again replaces its rows; the department report has the section.
    assert main(["-q", "usage", "report", "--until", (datetime.now(UTC) + timedelta(days=2)).date().isoformat(),
                 "--days", "5"]) == 0
    html = (home / "reports" / "公安局.html").read_text(encoding="utf-8")
    assert 'id="usage"' in html and 'data-user="wang.ke"' in html and ID not in html and "SELECT" not in html


def test_a_period_that_ends_before_it_starts_is_refused(home):
    from citylake.catalog.usage_report import UsageReportError, usage_rows

    now = datetime.now(UTC)
    with pytest.raises(UsageReportError, match="the period must end after it starts"):
        usage_rows(open_lake(home / "lake"), now, now - timedelta(days=1))


@pytest.mark.slow
def test_the_weekly_usage_dag_reports_the_weeks_reads(home, monkeypatch):
    """定时: ``report_usage`` (every Monday) run for real through Airflow after two reads."""
    from citylake.orchestration.run import run_usage_report
    from citylake.settings import Home

    assert _sql(monkeypatch, "analyst.li", "SELECT count(*) FROM silver.gongan_czrk") == 0
    assert _sql(monkeypatch, "analyst.li", "SELECT name FROM gold.person") == 0
    summary = run_usage_report(Home(home))
    assert summary["dag_id"] == "report_usage" and summary["task_id"] == "usage_report"
    assert summary["rows"] > 0 and summary["reads"] >= 2
    rows = open_lake(home / "lake").read_arrow(USAGE_REPORT).read_all().to_pylist()
    # silver.gongan_czrk is 公安局's; gold.person is derived from every person-bearing department's tables.
    assert {r["user"] for r in rows} == {"analyst.li"} and "公安局" in {r["department"] for r in rows}
