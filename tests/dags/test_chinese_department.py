"""A department whose system names its table and columns in Chinese, onboarded by YAML alone
(issue 14, item 1): real Airflow runs of its ingestion and promotion DAGs, the gate, the feedback
table and the department's report.

The table keeps its Chinese name (the source's, the feedback's, the report's and the catalog's);
the registry's ``lake_name`` names its lake tables and Airflow tasks, which must be ASCII.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.lake import open_lake
from citylake.orchestration.run import run_ingest, run_promote
from citylake.quality.feedback import QUALITY_ISSUE
from citylake.schemas.identifiers import id_check_char
from citylake.sources.registry import DEFAULT_REGISTRY, RegistryError, load_system

TUIYI = """
system: tuiyi
name_zh: 退役军人优抚信息系统
name_en: Veterans Affairs benefits system
owner: 退役军人事务局
connection: citylake_tuiyi
schedule: '@daily'
tables:
  - name: 优抚对象信息
    lake_name: youfu_dx
    description: 优抚对象(享受抚恤补助的退役军人及其家属)
    primary_key: [记录编号]
    load: incremental
    update_column: 更新时间
    columns:
      身份证号: person.id_number
      姓名: person.name
      性别: person.sex
      出生日期: person.birth_date
      联系电话: person.mobile
"""


def _id(body17: str) -> str:
    return body17 + id_check_char(body17)


@pytest.mark.slow
def test_a_department_named_in_chinese_runs_end_to_end(home, tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    shutil.copytree(DEFAULT_REGISTRY, registry)
    (registry / "tuiyi.yaml").write_text(TUIYI, encoding="utf-8")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    home.sources.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{home.sources}/tuiyi.db")
    good, right = _id("37010219520314003"), _id("37010419600101002")
    broken = right[:-1] + ("0" if right[-1] != "0" else "1")  # the check character wrong
    with engine.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE "优抚对象信息" ("记录编号" VARCHAR(12) PRIMARY KEY, "身份证号" VARCHAR(18), '
                             '"姓名" VARCHAR(20), "性别" VARCHAR(1), "出生日期" VARCHAR(8), "联系电话" VARCHAR(11), '
                             '"更新时间" DATETIME)')
        conn.exec_driver_sql(
            'INSERT INTO "优抚对象信息" VALUES '
            f"('YF0001', '{good}', '张建国', '1', '19520314', '13905310001', '2026-11-30 09:00:00'), "
            f"('YF0002', '{broken}', '李卫东', '1', '19600101', "
            "'13905310002', '2026-11-30 09:05:00'), "
            "('YF0003', NULL, '王秀英', '2', '19581120', '1390531', '2026-11-30 09:10:00')")
    engine.dispose()

    when = datetime(2026, 12, 1, tzinfo=UTC)
    [extracted] = run_ingest(home, ["tuiyi"], logical_date=when)
    assert extracted["task_id"] == "extract_youfu_dx" and extracted["bronze_table"] == "bronze.tuiyi_youfu_dx"
    assert extracted["rows_written"] == 3 and extracted["asset_event"]["source_table"] == "优抚对象信息"
    [gated] = run_promote(home, ["tuiyi"], logical_date=when)
    assert gated["task_id"] == "gate_youfu_dx" and gated["silver_table"] == "silver.tuiyi_youfu_dx"
    [batch] = gated["gated"]
    assert batch["rows_read"] == 3 == batch["promoted"] + batch["quarantined"] and batch["quarantined"] == 2

    lake = open_lake(home.lake)
    silver = lake.read_arrow("silver.tuiyi_youfu_dx").read_all().to_pylist()
    assert [(r["记录编号"], r["姓名"], str(r["出生日期"])) for r in silver] == [("YF0001", "张建国", "1952-03-14")]
    issues = lake.read_arrow(QUALITY_ISSUE, filter=pc.field("source_table") == "tuiyi.优抚对象信息").read_all()
    found = {(r["record_key"], r["field"], r["department"]) for r in issues.to_pylist()}
    assert ("YF0002", "身份证号", "退役军人事务局") in found and ("YF0003", "身份证号", "退役军人事务局") in found
    assert ("YF0003", "联系电话", "退役军人事务局") in found
    report = (home.reports / "退役军人事务局.html").read_text(encoding="utf-8")
    assert "优抚对象信息" in report and "身份证号" in report
    assert broken not in report  # the report shows masked values


def test_a_chinese_table_name_without_a_lake_name_is_a_clear_error(tmp_path):
    path = tmp_path / "tuiyi.yaml"
    path.write_text(TUIYI.replace("    lake_name: youfu_dx\n", ""), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"tables\[0\] \(优抚对象信息\): the table name is not ASCII snake_case.*lake_name"):
        load_system(path)
    path.write_text(TUIYI.replace("lake_name: youfu_dx", "lake_name: Youfu__dx"), encoding="utf-8")
    with pytest.raises(RegistryError, match="lake_name 'Youfu__dx' must be ASCII snake_case"):
        load_system(path)
