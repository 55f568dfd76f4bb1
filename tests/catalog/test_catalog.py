"""The catalog (citylake.catalog.build) of a small gated city, for real: generated department systems,
ingestion and the quality gate into Delta tables, then `citylake catalog build`. Checked against the
registry, the lake, the quality scores and docs/catalog_mapping.md; the declarations' validation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citylake.catalog.build import CATALOG_TABLE, build_catalog
from citylake.catalog.declarations import CatalogConfigError, declarations, load_declarations
from citylake.catalog.entries import build_entries
from citylake.cli import main
from citylake.quality import assessment
from citylake.sources.registry import load_registry
from tests.lake.pii_scan import find_personal_numbers
from tests.quality.cities import city, ingest_and_gate

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "docs" / "catalog_mapping.md"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog-city")
    home, lake, _ = city(root, 200, 4)
    ingest_and_gate(home, lake, "d0")
    build_catalog(home, lake)  # the first build creates governance.catalog
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CITYLAKE_HOME", str(home.root))
        assert main(["-q", "catalog", "build"]) == 0
    return home, lake


def _documents(home) -> dict[str, dict]:
    return {p.name.removesuffix(".json"): json.loads(p.read_text(encoding="utf-8"))
            for p in (home.catalog / "datasets").glob("*.json")}


def test_an_entry_for_every_registry_table_and_every_lake_table(built):
    home, lake = built
    documents = _documents(home)
    registry = {f"{code}.{t.name}" for code, s in load_registry().items() for t in s.tables}
    assert {i for i, d in documents.items() if d["kind"] == "source_table"} == registry
    assert {i for i, d in documents.items() if d["kind"] == "lake_table"} == set(lake.list_tables())
    assert {"bronze", "silver", "governance"} <= {d["layer"] for d in documents.values()}
    index = json.loads((home.catalog / "index.json").read_text(encoding="utf-8"))
    assert {d["id"] for d in index["datasets"]} == set(documents)
    assert index["undeclared"] == []
    rows = lake.read_arrow(CATALOG_TABLE).read_all().to_pylist()
    assert {r["id"] for r in rows} == set(documents)
    by_id = {r["id"]: r for r in rows}
    for dataset_id, doc in documents.items():
        if doc["kind"] == "lake_table" and dataset_id != CATALOG_TABLE:
            assert doc["row_count"] == lake.row_count(dataset_id) == by_id[dataset_id]["row_count"]
            assert doc["version"] == lake.version(dataset_id)


def test_entries_describe_a_source_table_and_its_lake_tables(built):
    home, lake = built
    documents = _documents(home)
    czrk, silver = documents["gongan.CZRK"], documents["silver.gongan_czrk"]
    assert czrk["name_zh"] == "常住人口信息" and czrk["owner"] == silver["owner"] == "公安局"
    assert czrk["update_cycle"] == "每日" and czrk["share_type"] == "有条件共享" and czrk["open_type"] == "不予开放"
    # The source table's row count is its rows at the latest extraction.
    assert czrk["row_count"] == lake.row_count("bronze.gongan_czrk")
    fields = {f["name"]: f for f in silver["fields"]}
    assert fields["GMSFHM"]["classification"] == "person.id_number"
    assert fields["GMSFHM"]["sensitivity"] == {"category": "敏感个人信息", "grade": 4}
    assert fields["GMSFHM"]["analyst_view"] == "假名化" and fields["XM"]["analyst_view"] == "脱敏"
    assert silver["grade"] == {"level": "一般数据", "sub_level": 4, "label": "一般数据4级",
                               "basis": "最高敏感字段 GMSFHM (敏感级别 4)"}
    # A weekly system (教育, cron 0 3 * * 1) gets a weekly cycle; 税务's tax returns are declared 不予共享.
    assert documents["jiaoyu.xj_xsjbxx"]["update_cycle"] == "每周"
    assert documents["shuiwu.sb_sbxx"]["share_type"] == "不予共享"
    assert documents["silver.shuiwu_sb_sbxx"]["share_type"] == "不予共享"
    assert documents["governance.quality_issue"]["name_zh"] == "问题数据反馈表"
    assert documents[CATALOG_TABLE]["share_type"] == "无条件共享"
    assert silver["freshness"]["status"] == "及时"


def test_quality_scores_are_the_assessment_of_the_table(built):
    home, lake = built
    documents = _documents(home)
    wide = assessment.wide(assessment.table_scores(lake, source_table="gongan.CZRK"))
    expected = round(float(wide[assessment.OVERALL].iloc[0]), 4)
    assert documents["gongan.CZRK"]["quality"]["score"] == documents["silver.gongan_czrk"]["quality"]["score"] == expected
    assert documents["gongan.CZRK"]["quality"]["indicators"]["可访问性"] is None
    assert documents["governance.batch_audit"]["quality"]["status"] == "未评价"


def test_freshness_follows_the_update_cycle(built):
    _, lake = built
    later = datetime.now(UTC) + timedelta(days=3)
    entries = {e["id"]: e for e in build_entries(lake, declarations(), now=later)}
    assert entries["silver.gongan_czrk"]["freshness"]["status"] == "超期"  # daily, three days old
    assert entries["jiaoyu.xj_xsjbxx"]["freshness"]["status"] == "及时"  # weekly


def _mapped_fields() -> list[str]:
    rows = [line for line in MAPPING.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]


def _has(document: dict, path: str) -> bool:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = document.get(head[:-2])
        return isinstance(items, list) and bool(items) and all(_has(item, rest) if rest else True for item in items)
    if head not in document:
        return False
    return not rest or (isinstance(document[head], dict) and _has(document[head], rest))


def test_every_document_has_every_field_the_mapping_maps_and_nothing_else(built):
    home, _ = built
    mapped = _mapped_fields()
    assert len(mapped) == len(set(mapped)) > 40
    for dataset_id, document in _documents(home).items():
        missing = [path for path in mapped if not _has(document, path)]
        assert not missing, (dataset_id, missing)
        unmapped = set(document) - {p.split(".")[0].removesuffix("[]") for p in mapped}
        assert not unmapped, (dataset_id, unmapped)


def test_no_personal_data_in_the_catalog(built):
    home, lake = built
    raw = set(lake.read_arrow("silver.gongan_czrk", columns=["GMSFHM", "XM"]).read_all().column("XM").to_pylist())
    for path in [*home.catalog.rglob("*.json"), *home.catalog.rglob("*.html")]:
        text = path.read_text(encoding="utf-8")
        assert not find_personal_numbers(text, str(path))
        assert not [name for name in raw if name and len(name) > 1 and f">{name}<" in text], path


DECLARATIONS = """
bureau: 市大数据局
sources:
  defaults: {category: 部门信息资源, share_type: 有条件共享, share_condition: 审核, open_type: 不予开放}
layers:
  bronze: {name_zh: 贴源层, description: 原样}
  silver: {name_zh: 标准层, description: 规范化}
  quarantine: {name_zh: 隔离区, description: 拒绝}
  governance: {name_zh: 治理层, description: 治理, category: 部门信息资源, share_type: 无条件共享,
               open_type: 不予开放, update_cycle: 每日}
tables: {}
"""


@pytest.mark.parametrize("old, new, message", [
    ("tables: {}", "tables: {}\nshare_type: 有条件共享", "unknown entries ['share_type']"),
    ("bureau: 市大数据局", "bureau: ''", "bureau: String should have at least 1 character, got ''"),
    ("tables: {}", "tables: {governance.person: {share_type: 随便共享}}",
     "tables.governance.person.share_type: Input should be '无条件共享', '有条件共享' or '不予共享', got '随便共享'"),
    ("tables: {}", "tables: {governance.person: {grade: 重要数据}}", "grade 重要数据 needs a grade_basis"),
    ("tables: {}", "tables: {governance.person: {update_cycle: 每分钟}}", "update_cycle: Input should be '实时', "),
    ("tables: {}", "tables: {governance.person: {category: 其他}}", "category: Input should be '基础信息资源', "),
    ("tables: {}", "tables: {nowhere.person: {}}", "of a declared layer"),
    ("bronze: {name_zh: 贴源层, description: 原样}", "bronze: {name_zh: 贴源层}",
     "layers.bronze: missing ['description']"),
    ("bureau: 市大数据局", "bureau: [unclosed", "not valid YAML"),
])
def test_malformed_declarations_name_the_file_and_the_entry(tmp_path, old, new, message):
    path = tmp_path / "catalog.yaml"
    path.write_text(DECLARATIONS.replace(old, new), encoding="utf-8")
    with pytest.raises(CatalogConfigError, match=re.escape(message)) as raised:
        load_declarations(path)
    assert str(path) in str(raised.value)


def test_declarations_are_checked_against_the_lake_and_the_fields(built, tmp_path):
    _, lake = built
    path = tmp_path / "catalog.yaml"
    path.write_text(DECLARATIONS, encoding="utf-8")
    decl = load_declarations(path)
    # The lake has a layer the declarations do not know.
    with pytest.raises(CatalogConfigError, match="the lake has a layer 'gold'"):
        build_entries(lake, decl, tables=["gold.person"], sources=False)
    # governance.quality_issue holds unclassified (possibly personal) columns: not 无条件共享.
    with pytest.raises(CatalogConfigError, match="governance.quality_issue holds personal or unclassified fields"):
        build_entries(lake, decl, tables=["governance.quality_issue"], sources=False)
    # A source table nobody declared a share condition for.
    path.write_text(DECLARATIONS.replace(", share_condition: 审核", ""), encoding="utf-8")
    with pytest.raises(CatalogConfigError, match="share_type 有条件共享 needs a share_condition"):
        build_entries(lake, load_declarations(path), tables=[])
    path.write_text(DECLARATIONS.replace("  defaults:", "  tables: {gongan.XXX: {share_type: 不予共享}}\n  defaults:"),
                    encoding="utf-8")
    with pytest.raises(CatalogConfigError, match=r"sources.tables \['gongan.XXX'\] are not registry tables"):
        build_entries(lake, load_declarations(path), tables=[])
