"""Department reports, rendered from a real gated city and opened in headless Chromium: the key
figures shown equal the lake's counts, the charts render, nothing leaves the page, no console
errors, and no unmasked ID number appears; after real reads through ``citylake sql`` and a usage
report, the providing department's report shows who read its tables and scores 可访问性."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from citylake.catalog.usage_report import USAGE_REPORT, build_usage_report
from citylake.cli import main
from citylake.ingest import governance as gov
from citylake.quality import assessment
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.quality.report import render_all_reports, render_department_report
from citylake.quality.report.render import report_file_name
from citylake.quality.rule_results import RULE_RESULT
from citylake.sources.registry import load_registry
from tests.quality.test_assessment import build_gated_city

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu"]
# GB 11643: province 11-82, rest of the division code, birth date YYYYMMDD, sequence, check character.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12])\d{4}"
                       r"(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])")
FIGURES = ("kf-overall", "kf-rows-checked", "kf-rows-quarantined", "kf-open", "kf-fixed", "kf-disputed")
# Reads of 公安 常住人口 through citylake sql: (user, role, query, exit code). Two served, one refused
# (a department reading another's table), one failed (a masked name cast to a number).
READS = (("li.gong", "engineer", "SELECT count(*) AS n FROM silver.gongan_czrk", 0),
         ("wang.ke", "analyst", "SELECT * FROM silver.gongan_czrk LIMIT 5", 0),
         ("zhao.mz", "department:minzheng", "SELECT * FROM silver.gongan_czrk", 2),
         ("wang.ke", "analyst", "SELECT CAST(XM AS INTEGER) FROM silver.gongan_czrk", 2))


def _read_the_lake(home) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CITYLAKE_HOME", str(home.root))
        env.setenv("CITYLAKE_PSEUDONYM_KEY", "test-only-key")
        for user, role, query, code in READS:
            env.setenv("CITYLAKE_USER", user)
            assert main(["-q", "sql", query, "--role", role, "--format", "csv"]) == code, query


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    home, lake = build_gated_city(root)
    _read_the_lake(home)
    now = datetime.now(UTC)
    build_usage_report(lake, now - timedelta(days=1), now)
    paths = render_all_reports(lake, root / "reports")
    return lake, root / "reports", paths


@pytest.fixture(scope="module")
def sql(city):
    lake = city[0]
    con = duckdb.connect()
    for name, table in (("rr", RULE_RESULT), ("issues", QUALITY_ISSUE), ("audit", gov.BATCH_AUDIT)):
        con.register(name, lake.dataset(table))
    yield con
    con.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the report tests drive Debian's chromium, which CI installs "
                    "(apt-get install chromium, in .ci/run); install it the same way to run them locally")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield launched
        launched.close()


def _open(browser, path: Path):
    """Open a report as a file; record every request and console error, block anything not local."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = {"requests": [], "errors": []}

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, seen


def _expected_figures(sql, lake, department: str) -> dict[str, str]:
    """The key figures recomputed from the lake, as the report prints them."""
    systems = [r[0] for r in sql.execute("SELECT DISTINCT system FROM rr WHERE department = ?", [department]).fetchall()]
    checked, quarantined = sql.execute("""
        WITH latest AS (SELECT * FROM audit WHERE stage = 'gate' AND list_contains(?, system)
                        QUALIFY row_number() OVER (PARTITION BY system, source_table ORDER BY committed_at DESC) = 1)
        SELECT coalesce(sum(rows_read - deleted), 0), coalesce(sum(rows_unchanged), 0) FROM latest""",
                                       [systems]).fetchone()
    status = dict(sql.execute("SELECT status, count(*) FROM issues WHERE department = ? GROUP BY 1",
                              [department]).fetchall())
    overall = assessment.overall_scores(assessment.department_scores(lake, department))["score"].iloc[0]
    return {"kf-overall": f"{100 * overall:.1f}%", "kf-rows-checked": f"{int(checked):,}",
            "kf-rows-quarantined": f"{int(quarantined):,}", "kf-open": f"{status.get('待整改', 0):,}",
            "kf-fixed": f"{status.get('已整改', 0):,}", "kf-disputed": f"{status.get('异议', 0):,}"}


def _raw_id_numbers(lake, department: str) -> set[str]:
    """Every ID number the department's bronze tables hold, as the department wrote it."""
    found = set()
    for code, system in load_registry().items():
        if system.owner != department:
            continue
        for table in system.tables:
            columns = [c for c, f, _ in table.mapped_columns() if f.endswith(".id_number")]
            if columns and lake.exists(table.bronze_name(code)):
                data = lake.read_arrow(table.bronze_name(code), columns=columns).read_all()
                found |= {str(v).strip() for c in columns for v in data.column(c).to_pylist()
                          if v is not None and len(str(v).strip()) >= 15}
    return found


def test_a_report_per_department_and_an_index(city, sql, browser):
    lake, out, paths = city
    departments = sorted(r[0] for r in sql.execute("SELECT DISTINCT department FROM rr").fetchall())
    assert [p.name for p in paths] == [report_file_name(d) for d in departments] + ["index.html"]
    assert (out / "公安局.html").exists()
    overall = assessment.overall_scores(assessment.department_scores(lake)).set_index("department")["score"]
    page, seen = _open(browser, out / "index.html")
    rows = page.locator("#departments tbody tr")
    assert rows.count() == len(departments)
    for i in range(rows.count()):
        row = rows.nth(i)
        department = row.get_attribute("data-department")
        assert float(row.get_attribute("data-overall")) == pytest.approx(overall[department], abs=1e-6)
        assert f"{100 * overall[department]:.1f}%" in row.inner_text()
        assert row.locator("a").get_attribute("href").endswith(".html")
    assert not seen["errors"]
    page.close()


def test_department_reports_show_the_lakes_figures_and_stay_offline(city, sql, browser):
    lake, out, paths = city
    for path in paths[:-1]:
        html = path.read_text(encoding="utf-8")
        assert '<meta charset="utf-8">' in html
        assert not re.search(r"https?://|//cdn|<script|<link|@import|url\((?!#)", html), path.name
        page, seen = _open(browser, path)
        department = page.locator("#department").get_attribute("data-department")
        assert path.name == report_file_name(department)
        expected = _expected_figures(sql, lake, department)
        shown = {f: page.locator(f"#{f}").inner_text().strip() for f in FIGURES}
        assert shown == expected, department
        assert int(page.locator("#kf-open").get_attribute("data-value")) == int(expected["kf-open"].replace(",", ""))
        # Charts: inline SVG with a real size, their Chinese labels drawn as text.
        charts = page.locator("svg.chart")
        assert charts.count() == 2, department
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 100 and box["height"] > 50, (department, i, box)
        labels = page.locator('svg.chart[data-chart="indicators"] text')
        texts = [labels.nth(i).text_content() for i in range(labels.count())]
        statuses = page.locator("#indicator-scores tbody tr")
        not_evaluated = any(statuses.nth(i).get_attribute("data-status") == "未评价" for i in range(statuses.count()))
        assert {"规范性", "可访问性"} <= set(texts) and ("未评价" in texts) == not_evaluated, texts
        label = labels.nth(texts.index("规范性")).bounding_box()
        assert label and label["width"] > 0 and label["height"] > 0
        # Sample records: at most 20, all open issues of the department, masked values only.
        samples = page.locator("#samples tbody tr")
        assert samples.count() <= 20
        masked = {r[0] for r in sql.execute("SELECT masked_value FROM issues WHERE department = ? AND status = '待整改'",
                                            [department]).fetchall()}
        for i in range(samples.count()):
            value = samples.nth(i).locator("td.masked").inner_text()
            assert value in masked or value == "(空)", (department, value)
        assert f"citylake feedback export --department {department} --format xlsx" in page.inner_text("#export-note")
        # Nothing requested but the file itself; no console errors.
        assert seen["requests"] and all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
        assert not seen["errors"], (department, seen["errors"])
        # No ID number in clear: neither the GB 11643 pattern nor any raw value of the department's tables.
        text = page.inner_text("body")
        content = page.content()
        assert not ID_NUMBER.search(text) and not ID_NUMBER.search(content), ID_NUMBER.search(content)
        leaked = [v for v in _raw_id_numbers(lake, department) if v in content]
        assert not leaked, (department, leaked[:3])
        page.close()


def test_the_providing_department_sees_who_read_its_tables(city, browser):
    lake, out, paths = city
    expected = {(r["source_table"], r["read_table"], r["user"], r["role"]): (r["reads"], r["rows"], r["refused"], r["failed"])
                for r in lake.read_arrow(USAGE_REPORT).read_all().to_pylist() if r["department"] == "公安局"}
    assert expected == {("gongan.CZRK", "silver.gongan_czrk", "li.gong", "engineer"): (1, 1, 0, 0),
                        ("gongan.CZRK", "silver.gongan_czrk", "wang.ke", "analyst"): (1, 5, 0, 1),
                        ("gongan.CZRK", "silver.gongan_czrk", "zhao.mz", "department:minzheng"): (0, 0, 1, 0)}
    page, seen = _open(browser, out / "公安局.html")
    rows = page.locator("#usage tbody tr")
    shown = {}
    for i in range(rows.count()):
        row = rows.nth(i)
        key = tuple(row.get_attribute(a) for a in ("data-source-table", "data-read-table", "data-user", "data-role"))
        shown[key] = tuple(int(row.get_attribute(a)) for a in ("data-reads", "data-rows", "data-refused", "data-failed"))
        assert row.is_visible() and "直接读取" in row.inner_text()
    assert shown == expected
    assert "统计期间" in page.inner_text("#usage-period")
    # 可访问性 from those reads: 2 served of 3 served or failed; the refusal is listed, not scored.
    accessibility = page.locator('#indicator-scores tr[data-indicator="06"]')
    assert accessibility.get_attribute("data-status") == "已评价"
    cells = [accessibility.locator("td").nth(i).inner_text() for i in range(5)]
    assert cells[2:] == ["2", "3", "66.7%"], cells
    text = page.content()
    assert not any(query in text for _, _, query, _ in READS) and not seen["errors"]
    page.close()
    # A department nobody read: the section says so, 可访问性 stays 未评价.
    page, _ = _open(browser, next(p for p in paths[:-1] if p.name != "公安局.html"))
    assert "尚无数据调用情况报告" in page.inner_text('section[aria-labelledby="h-usage"]')
    assert page.locator('#indicator-scores tr[data-indicator="06"]').get_attribute("data-status") == "未评价"
    page.close()


def test_the_id_pattern_catches_an_id_number():
    assert ID_NUMBER.search("证件 11010519491231002X 号")
    assert ID_NUMBER.search("370102199001011234")
    assert not ID_NUMBER.search("370102********1234")
    assert not ID_NUMBER.search("370100000000000011")  # a market-entity id (PRIPID), not a person


def test_screenshot(city, browser, tmp_path):
    lake, out, _ = city
    path = render_department_report(lake, "公安局", tmp_path / "single")
    page, seen = _open(browser, path)
    shot = tmp_path / "公安局.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert not seen["errors"]
    page.close()
