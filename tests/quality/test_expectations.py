"""The GX suites built from the checks agree with the gate, batch by batch and check by check; the
Data Docs built from their kept results open offline in headless Chromium."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import great_expectations as gx
import pandas as pd
import pytest

from citylake.quality.checks import finding_check_id, finding_kind, table_checks
from citylake.quality.expectations.docs import build_data_docs
from citylake.quality.expectations.offline import OfflineAssetError, external_assets, make_site_offline
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
from tests.quality.test_report import browser  # noqa: F401  (the Chromium fixture)

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
                     if any(_counts_for(f, table) == check_id for f in (*errs, *warns))}
        assert keys == gate_keys, check_id


def _counts_for(finding: dict, table) -> str:
    """The check id a finding counts for (the gate's own mapping, quality.rule_results.failing_rows)."""
    validators = {c: standard_field(f).validator for c, f, _ in table.mapped_columns()}
    kind = finding_kind(finding["rule"], validators.get(finding["columns"][-1]))
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
    # GX 1.x adds expectations to a suite through the active context: one of its own, so the test
    # does not depend on another test having made one in this process.
    gx.get_context(mode="ephemeral")
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


def _open_offline(chromium, url: str):
    """Open a page; every request that is not a local file is recorded and refused."""
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    seen = {"outside": [], "failed": [], "errors": []}

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            seen["outside"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: seen["failed"].append(request.url))
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(url, wait_until="load")
    return page, seen


@pytest.mark.slow
def test_data_docs_open_offline_in_chromium(gated_city, browser):  # noqa: F811
    home, lake, _ = gated_city
    for system in load_registry().values():
        for table in system.tables:
            validate_gated(home, lake, system, table)
    kept = sorted((home.gx / "validations").rglob("*.json"))
    index = build_data_docs(home)
    site = index.parent
    assert external_assets(site) == []
    page, seen = _open_offline(browser, index.resolve().as_uri())
    rows = page.locator("#Validation-Results table tbody tr")
    rows.first.wait_for()
    # The index lists every kept validation result, each row linking to its page.
    assert rows.count() == len(kept)
    links = rows.evaluate_all("rows => rows.map(r => r.dataset.href)")
    assert len(set(links)) == len(kept) and all((site / link).is_file() for link in links)
    suites = page.locator("#Expectation-Suites table tbody tr")
    assert suites.count() == sum(len(s.tables) for s in load_registry().values())
    # Font Awesome's font came from the vendored files (the status icons).
    assert page.evaluate("document.fonts.check('900 1em \"Font Awesome 6 Free\"')")
    page.fill("#Validation-Results .citylake-table-search", "gongan.CZRK")
    czrk = len(list((home.gx / "validations" / "gongan_czrk").glob("*.json")))
    assert rows.count() == czrk > 0
    rows.first.click()
    page.wait_for_url("**/validations/gongan/CZRK/**")
    assert "gongan.CZRK" in page.content()
    assert seen == {"outside": [], "failed": [], "errors": []}
    page.close()
    for link in links:
        page, seen = _open_offline(browser, (site / link).resolve().as_uri())
        assert page.locator(".ge-breadcrumbs").count() == 1 and page.locator("table").count() > 0, link
        assert seen == {"outside": [], "failed": [], "errors": []}, link
        page.close()


GX_PAGE = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
{extra}</head><body><a href="https://greatexpectations.io">GX</a></body></html>
"""


def test_an_asset_left_on_a_cdn_fails_the_build_naming_page_and_url(tmp_path):
    site = tmp_path / "site"
    (site / "validations").mkdir(parents=True)
    page = site / "validations" / "one.html"
    page.write_text(GX_PAGE.format(extra=""), encoding="utf-8")
    assert make_site_offline(site) == {"pages": 1, "rewritten": 1, "dropped": 1}
    text = page.read_text(encoding="utf-8")
    assert '<link rel="stylesheet" href="../static/vendor/bootstrap/css/bootstrap.min.css"/>' in text
    assert '<script src="../static/vendor/jquery/jquery.min.js"></script>' in text  # no CDN integrity hash
    assert "vega" not in text and 'href="https://greatexpectations.io"' in text  # a link is not a request
    assert (site / "static/vendor/font_awesome/webfonts/fa-solid-900.woff2").is_file()
    assert (site / "static/vendor/citylake/citylake-table.js").is_file()
    assert make_site_offline(site)["rewritten"] == 0  # idempotent
    page.write_text(GX_PAGE.format(extra='<script src="https://unpkg.com/new-widget@2/w.js"></script>'),
                    encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"validations/one\.html loads https://unpkg\.com/new-widget@2/w\.js"):
        make_site_offline(site)
    page.write_text(GX_PAGE.format(extra="<style>h1 { background: url(//cdn.example/x.png) }</style>"),
                    encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"loads //cdn\.example/x\.png"):
        make_site_offline(site)
    # A dropped asset that the page does use (a Vega chart) is an error, not a silent removal.
    page.write_text(GX_PAGE.format(extra="<script>vegaEmbed('#c', {})</script>"), encoding="utf-8")
    with pytest.raises(OfflineAssetError, match=r"uses https://cdn\.jsdelivr\.net/npm/vega@5"):
        make_site_offline(site)
