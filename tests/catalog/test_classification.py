"""Classification and grading from configuration, inherited downstream (citylake.catalog.classification,
citylake.catalog.access): a new sensitive standard field without a mask is hidden from analysts, a
gold column derived from a sensitive field stays sensitive, and bad entries fail with the file and
column named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from citylake.catalog import access, classification, masking
from citylake.catalog.classification import ClassificationError, gold_classifications
from citylake.cli import main
from citylake.jobs import spec as spec_module
from citylake.jobs.spec import SpecError
from citylake.lake import open_lake
from citylake.lake.names import TableName
from citylake.schemas import standards as standards_module

ROOT = Path(__file__).resolve().parents[2]
ID, ADDRESS, RELIGION = "110101199001011234", "山东省济南市历下区泉城路1号3单元502室", "某教"
RELIGION_FIELD = """  religion:
    name_zh: 宗教信仰
    type: string
    required: false
    standard: test-only field
    validator: text
    sensitivity: {category: 敏感个人信息, level: 一般数据, grade: 4}
    description: A sensitive field declared without a mask.
"""
SPEC = """table: gold.contact_link
name_zh: 联系关联
description: A gold table of the test, derived from 公安 常住人口.
key: [link_id]
sources: [silver.gongan_czrk]
columns:
  link_id: {name_zh: 标识, type: string, description: d, classification: public}
  raw_address: {name_zh: 原始地址, type: string, description: d, classification: public,
                derived_from: [%s]}
  holder: {name_zh: 当事人, type: string, description: d, derived_from: [gold.person.id_number]}
  document: {name_zh: 档案, type: 'struct<id:string,n:string>', description: d, classification: public,
             derived_from: [gold.person_profile.identity]}
  belief: {name_zh: 信仰, type: string, description: d, classification: person.religion}
"""


def _clear_caches():
    standards_module.standards.cache_clear()
    masking.rule_of.cache_clear()
    access._source_tables.cache_clear()
    gold_classifications.cache_clear()


@pytest.fixture
def configured(tmp_path, monkeypatch):
    """Standards with a new sensitive field (no mask), a registry mapping a 公安 column to it, and a
    gold spec whose columns derive from sensitive fields."""
    standards_dir = tmp_path / "standards"
    shutil.copytree(ROOT / "schemas" / "standards", standards_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    person = standards_dir / "person.yaml"
    person.write_text(person.read_text(encoding="utf-8") + RELIGION_FIELD, encoding="utf-8")
    registry = tmp_path / "systems"
    shutil.copytree(ROOT / "sources" / "systems", registry)
    gongan = registry / "gongan.yaml"
    gongan.write_text(gongan.read_text(encoding="utf-8").replace(
        "    LXDH: person.mobile\n", "    LXDH: person.mobile\n    ZJXY: person.religion\n", 1), encoding="utf-8")
    jobs = tmp_path / "jobs"
    for folder in (ROOT / "jobs").glob("*/tables"):
        shutil.copytree(folder, jobs / folder.parent.name / "tables")
    (jobs / "test" / "tables").mkdir(parents=True)
    (jobs / "test" / "tables" / "contact_link.yaml").write_text(SPEC % "gongan.CZRK.HJDZ", encoding="utf-8")
    monkeypatch.setattr(standards_module, "STANDARDS_DIR", standards_dir)
    monkeypatch.setattr(spec_module, "JOBS_DIR", jobs)
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CITYLAKE_PSEUDONYM_KEY", "test-only-key")
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    _clear_caches()
    yield tmp_path
    _clear_caches()


def _rows(capsys, *args: str) -> list[dict]:
    assert main(["-q", "sql", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_new_sensitive_field_without_a_mask_is_hidden_and_derived_columns_inherit(configured, capsys):
    lake = open_lake(configured / "home" / "lake")
    lake.write_arrow("silver.gongan_czrk", pa.table({"RYID": ["r1"], "GMSFHM": [ID], "HJDZ": [ADDRESS],
                                                     "ZJXY": [RELIGION], "_batch_id": ["b1"]}))
    lake.write_arrow("gold.contact_link", pa.table({
        "link_id": ["l1"], "raw_address": [ADDRESS], "holder": [ID],
        "document": pa.array([{"id": ID, "n": "张三"}], pa.struct([("id", pa.string()), ("n", pa.string())])),
        "belief": [RELIGION]}))

    silver = _rows(capsys, "SELECT * FROM silver.gongan_czrk")[0]
    assert "ZJXY" not in silver and silver["GMSFHM_masked"] == "110101********1234"
    gold = _rows(capsys, "SELECT * FROM gold.contact_link")[0]
    assert set(gold) == {"link_id", "raw_address", "holder", "holder_masked"}  # document, belief hidden
    assert gold["raw_address"] == masking.mask_text(ADDRESS) != ADDRESS  # declared public, carries an address
    assert gold["holder"].startswith("P") and gold["holder_masked"] == "110101********1234"
    out = json.dumps([silver, gold], ensure_ascii=False)
    assert ID not in out and RELIGION not in out and ADDRESS not in out
    # The engineer reads it as stored; the grades are inherited for the catalog too.
    assert _rows(capsys, "SELECT belief, document.id AS id FROM gold.contact_link", "--role", "engineer") == [
        {"belief": RELIGION, "id": ID}]
    labels = gold_classifications()["gold.contact_link"]
    assert labels == {"link_id": "public", "raw_address": "address.text", "holder": "person.id_number",
                      "document": "person.id_number", "belief": "person.religion"}
    table = TableName.parse("gold.contact_link")
    assert access.grade(access.classification(table, pa.field("document", pa.string()))) == 4
    # A printed value of the new field (a feedback row, a log) is only asterisks.
    assert masking.mask("person.religion", RELIGION) == "**"


def test_the_strictest_classification_wins():
    assert classification.strictest(["public", "person.sex", "person.id_number"]) == "person.id_number"
    # Same grade: the field without a mask (民族, hidden) is stricter than a masked one.
    assert classification.strictest(["person.name", "person.ethnicity"]) == "person.ethnicity"
    assert classification.strictest(["person.id_number", None]) is None  # unclassified: unknown, hidden
    assert classification.strictest(["public", "enterprise.uscc"]) == "public"


def test_a_derived_from_naming_nothing_fails_with_the_file_and_column(configured):
    path = configured / "jobs" / "test" / "tables" / "contact_link.yaml"
    path.write_text(SPEC % "gongan.NOPE.HJDZ", encoding="utf-8")
    with pytest.raises(ClassificationError, match=r"contact_link.yaml: columns.raw_address: derived_from "
                                                  r"'gongan.NOPE.HJDZ': no table gongan.NOPE in the source registry"):
        gold_classifications()
    path.write_text(SPEC % "person.passport", encoding="utf-8")
    with pytest.raises(SpecError, match=r"contact_link.yaml: columns.raw_address: derived_from: classification "
                                        r"'person.passport' is neither 'public' nor a standard field"):
        spec_module.all_gold_specs(configured / "jobs")
    path.write_text(SPEC % "'not a name'", encoding="utf-8")
    with pytest.raises(SpecError, match=r"contact_link.yaml: columns.raw_address: derived_from must list"):
        spec_module.all_gold_specs(configured / "jobs")
