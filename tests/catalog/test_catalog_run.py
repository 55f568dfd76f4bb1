"""The catalog after a real round: a tiny city through the real DAGs (ingest_*, promote_*,
build_person, then build_catalog, each a dag.test() run with lineage on). Its upstream and downstream
equal what ran (the runs' OpenLineage events, the lake's Delta history); the site, opened in headless
Chromium, finds a table by its Chinese name and shows its lineage, fields and grade, offline."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from citylake.catalog.lineage import column_lineage, table_edges
from citylake.lake import open_lake
from citylake.orchestration.run import run_build, run_catalog, run_ingest, run_promote
from citylake.settings import Home
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, object, dict]]:
    home = Home(tmp_path_factory.mktemp("catalog-run") / "home")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AIRFLOW_CONN_CITYLAKE_", "CITYLAKE_")):
                patch.delenv(name)
        patch.setenv("CITYLAKE_HOME", str(home.root))
        generate(120, 6, [home.sqlite_source_url()], home.truth)
        run_ingest(home)
        run_promote(home)
        run_build(home, ["person"])
        summary = run_catalog(home)
        yield home, open_lake(Path(home.lake)), summary


def _documents(home: Home) -> dict[str, dict]:
    return {p.name.removesuffix(".json"): json.loads(p.read_text(encoding="utf-8"))
            for p in (home.catalog / "datasets").glob("*.json")}


def test_the_catalog_dag_lists_every_table_with_the_edges_that_ran(ran):
    home, lake, summary = ran
    documents = _documents(home)
    assert summary["dag_id"] == "build_catalog" and summary["entries"] == len(documents)
    assert {i for i, d in documents.items() if d["kind"] == "lake_table"} == set(lake.list_tables())
    assert {i for i, d in documents.items() if d["kind"] == "source_table"} == {
        f"{code}.{t.name}" for code, s in load_registry().items() for t in s.tables}
    # The catalog's edges are the runs' events, nothing added, nothing lost (build_catalog's own run
    # ended after the catalog was written, so it is not among them).
    edges = [e for e in table_edges(home) if not e.job.startswith("build_catalog.")]
    upstream: dict[str, set[str]] = {}
    downstream: dict[str, set[str]] = {}
    for edge in edges:
        for output in edge.outputs:
            for source in edge.inputs:
                if source != output:
                    upstream.setdefault(output, set()).add(source)
                    downstream.setdefault(source, set()).add(output)
    assert summary["lineage_edges"] == len(edges) > 0
    for dataset_id, document in documents.items():
        assert set(document["upstream"]) == upstream.get(dataset_id, set()), dataset_id
        assert set(document["downstream"]) == downstream.get(dataset_id, set()), dataset_id
    # What ran, from the other side: each registry table was extracted into its bronze table, each
    # bronze table gated into silver, the person build read the person-bearing silver tables. (Edges
    # are per task run: a task's every input is upstream of its every output, governance tables too.)
    for code, system in load_registry().items():
        for table in system.tables:
            bronze, silver = table.bronze_name(code), f"silver.{code}_{table.name.lower()}"
            assert bronze in documents[f"{code}.{table.name}"]["downstream"]
            assert f"{code}.{table.name}" in documents[bronze]["upstream"]
            # (A table the tiny city leaves empty, 低保 or deaths, has no batch to gate: no silver table.)
            assert (silver in documents[bronze]["downstream"]) == (silver in documents)
    assert {"silver.gongan_czrk", "silver.weijian_csyxzm"} <= set(documents["gold.person"]["upstream"])
    assert documents["gold.person"]["producers"] == ["build_person.build"]
    # Every lake table the runs wrote has a writer in the catalog, and each writer's run committed a
    # version of the table while it ran (the Delta history).
    started = {e.run_id: e for e in edges}
    for dataset_id, document in documents.items():
        if document["kind"] != "lake_table" or dataset_id == "governance.catalog":
            continue
        assert document["producers"], dataset_id
        commits = [datetime.fromtimestamp(c["timestamp"] / 1000, UTC) for c in lake.history(dataset_id)]
        writes = [datetime.fromisoformat(e.event_time).astimezone(UTC) for e in started.values()
                  if dataset_id in e.outputs]
        assert writes and max(commits) <= max(writes), dataset_id
    assert documents["gold.person"]["grade"]["level"] == "重要数据"
    # Column lineage: each field lists the input fields the run that wrote it recorded.
    for table in ("gold.person", "bronze.gongan_czrk"):
        recorded = column_lineage(home, table)
        assert recorded, table
        for field in documents[table]["fields"]:
            assert field["upstream"] == sorted(f"{t}.{c}" for t, c in recorded.get(field["name"], ())), field["name"]
    name = {f["name"]: f for f in documents["gold.person"]["fields"]}["name"]
    assert "silver.gongan_czrk.XM" in name["upstream"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the site tests drive Debian's chromium, which CI installs "
                    "(apt-get install chromium, in .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


def _open(browser, url: str):
    """Open a page; record every request and console error; block (and record) anything not local."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = {"requests": [], "errors": []}
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(url, wait_until="load")
    return page, seen


def test_the_site_finds_a_table_by_its_chinese_name_and_shows_its_lineage_offline(ran, browser):
    home, _, _ = ran
    documents = _documents(home)
    index = home.catalog / "site" / "index.html"
    page, seen = _open(browser, index.resolve().as_uri())
    page.fill("#q", "常住人口")
    hits = page.locator("#results a.hit")
    names = [hits.nth(i).inner_text() for i in range(hits.count())]
    assert "常住人口信息（标准层）" in names and "常住人口信息" in names
    hits.nth(names.index("常住人口信息（标准层）")).click()
    page.wait_for_load_state("load")
    assert page.locator("#dataset").get_attribute("data-id") == "silver.gongan_czrk"
    document = documents["silver.gongan_czrk"]
    shown = {n: [page.locator(f"#{n} li").nth(i).get_attribute("data-id")
                 for i in range(page.locator(f"#{n} li").count())] for n in ("upstream", "downstream")}
    assert shown == {"upstream": document["upstream"], "downstream": document["downstream"]}
    assert "bronze.gongan_czrk" in shown["upstream"] and "gold.person" in shown["downstream"]
    # The graph: the dataset and every neighbour drawn as a node of the inline SVG, with a real size.
    graph = page.locator("svg#lineage-graph")
    box = graph.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 40
    nodes = {graph.locator("g.node").nth(i).get_attribute("data-id") for i in range(graph.locator("g.node").count())}
    assert nodes == {"silver.gongan_czrk", *document["upstream"], *document["downstream"]}
    assert graph.locator("line").count() == len(document["upstream"]) + len(document["downstream"])
    assert page.locator("#grade").inner_text().startswith("一般数据4级")
    fields = page.locator("#fields tbody tr")
    assert [fields.nth(i).get_attribute("data-field") for i in range(fields.count())] == [
        f["name"] for f in document["fields"]]
    gmsfhm = page.locator('#fields tr[data-field="GMSFHM"]').inner_text()
    assert "公民身份号码" in gmsfhm and "敏感个人信息" in gmsfhm and "假名化" in gmsfhm
    assert page.locator("#owner").inner_text() == "公安局"
    assert "bronze.gongan_czrk.GMSFHM" in page.locator('#fields tr[data-field="GMSFHM"] td.upstream-fields').inner_text()
    # Following the graph: the upstream node's link opens its page.
    graph_link = page.locator('svg#lineage-graph g.node[data-id="bronze.gongan_czrk"] a')
    graph_link.click()
    page.wait_for_load_state("load")
    assert page.locator("#dataset").get_attribute("data-id") == "bronze.gongan_czrk"
    # ?q= searches on opening: a gold table by its Chinese name.
    page.goto(index.resolve().as_uri() + "?q=一人一档", wait_until="load")
    assert "gold.person" in page.locator("#results").inner_text()
    assert seen["requests"] and all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert not seen["errors"], seen["errors"]
    page.close()


def test_site_pages_are_self_contained(ran):
    home, _, _ = ran
    for path in (home.catalog / "site").rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert '<meta charset="utf-8">' in html
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
        assert "<link" not in html and "src=" not in html and "@import" not in html, path.name
