"""``citylake feedback``: a department lists and exports its issues and disputes one; the bureau
accepts and decides it; every step shows in the history."""

from __future__ import annotations

import pandas as pd
import pytest
from openpyxl import load_workbook

from citylake.cli import main
from citylake.lake import open_lake
from citylake.quality.feedback import CONFIRMED, OPEN, read_issues, record_findings
from citylake.settings import Home
from citylake.sources.registry import load_registry

ID_BAD = "110105194912310021"
CHECK_DIGIT = {"rule": "person.id_number.check_digit", "message": "身份证号校验码错误 (check character is wrong)"}
MISSING_NAME = {"rule": "person.name.missing", "message": "姓名缺失 (required value missing)"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A CITYLAKE_HOME whose lake holds issues of 公安局 (CZRK) and 人社局 (AC02), from real batches."""
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path / "home"))
    home = Home.from_env()
    lake = open_lake(home.lake)
    registry = load_registry()
    gongan = registry["gongan"]
    czrk = pd.DataFrame([
        {"RYID": str(k), "GMSFHM": ID_BAD, "XM": None if k == 3 else "李四",
         "_errors": [{**CHECK_DIGIT, "columns": ["GMSFHM"]}] + ([{**MISSING_NAME, "columns": ["XM"]}] if k == 3 else []),
         "_warnings": []} for k in (1, 2, 3)])
    record_findings(lake, gongan, gongan.table("CZRK"), "gate:b1", czrk, [])
    renshe = registry["renshe"]
    ac02 = pd.DataFrame([{"aac001": "9", "aac002": ID_BAD, "_errors": [{**CHECK_DIGIT, "columns": ["aac002"]}],
                          "_warnings": []}])
    record_findings(lake, renshe, renshe.table("AC02"), "gate:b1", ac02, [])
    return home


def _issue(home, record_key: str, rule: str = CHECK_DIGIT["rule"]) -> str:
    issues = read_issues(open_lake(home.lake))
    return issues[(issues["source_table"] == "gongan.CZRK") & (issues["record_key"] == record_key)
                  & (issues["rule"] == rule)]["issue_id"].item()


def test_list_a_department_or_system(home, capsys):
    assert main(["-q", "feedback", "list", "--department", "公安局"]) == 0
    out = capsys.readouterr().out
    assert "问题编号" in out and "值(脱敏)" in out and "110105********0021" in out and ID_BAD not in out
    assert "公安局: 共 4 条问题 (待整改 4)" in out
    assert "gongan.CZRK" in out and "renshe.AC02" not in out

    assert main(["-q", "feedback", "list", "--system", "gongan", "--status", "open", "--table", "czrk",
                 "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "gongan: 共 4 条问题 (待整改 4); 显示前 2 条 (--limit)" in out
    assert len([line for line in out.splitlines() if "gongan.CZRK" in line]) == 2
    reads = open_lake(Home.from_env().lake).read_arrow("governance.access_log").read_all().to_pylist()
    assert sorted((r["role"], r["interface"], r["rows"]) for r in reads) == [
        ("department:gongan", "citylake feedback list", 2), ("department:公安局", "citylake feedback list", 4)]

    assert main(["-q", "feedback", "list", "--department", "公安局", "--status", "已确认"]) == 0
    assert "公安局: 共 0 条问题" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--department", "公安厅"], "unknown department '公安厅'; departments: "),
    (["--system", "gonga"], "unknown system 'gonga'; systems: gongan, "),
    (["--department", "公安局", "--table", "AC02"], "公安局 has no table 'AC02'; tables: gongan.BZDZ, gongan.CZRK"),
])
def test_unknown_department_system_or_table_exit_2(home, caplog, argv, message):
    assert main(["feedback", "list", *argv]) == 2
    assert message in caplog.text


def test_export_csv_with_bom_and_chinese_headers(home, tmp_path, capsys):
    output = tmp_path / "out" / "公安局.csv"
    assert main(["-q", "feedback", "export", "--department", "公安局", "--format", "csv", "--output",
                 str(output)]) == 0
    assert f"4 条问题 written to {output} (csv)" in capsys.readouterr().out
    raw = output.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and ID_BAD.encode() not in raw
    frame = pd.read_csv(output, encoding="utf-8-sig", dtype=str)
    assert list(frame.columns[:6]) == ["问题编号", "部门", "系统", "源表", "记录主键", "字段"]
    assert {"值(脱敏)", "规则编号", "问题描述", "严重程度", "状态", "异议阶段", "处理意见"} <= set(frame.columns)
    assert len(frame) == 4 and set(frame["部门"]) == {"公安局"} and set(frame["严重程度"]) == {"错误"}
    assert "110105********0021" in set(frame["值(脱敏)"])


def test_export_xlsx_has_issues_and_a_summary_by_rule(home, tmp_path):
    output = tmp_path / "gongan.xlsx"
    assert main(["-q", "feedback", "export", "--system", "gongan", "--output", str(output)]) == 0
    book = load_workbook(output, read_only=True)
    assert book.sheetnames == ["问题清单", "按规则汇总"]
    issues = list(book["问题清单"].values)
    assert issues[0][:4] == ("问题编号", "部门", "系统", "源表") and len(issues) == 5
    assert all(ID_BAD not in str(cell) for row in issues for cell in row)
    detected = issues[0].index("发现时间")
    assert all(row[detected] is not None and row[detected].tzinfo is None for row in issues[1:])
    summary = {row[0]: row for row in list(book["按规则汇总"].values)[1:]}
    header = list(book["按规则汇总"].values)[0]
    assert header[:5] == ("规则编号", "问题描述", "严重程度", "涉及源表", "问题数")
    assert summary[CHECK_DIGIT["rule"]][4] == 3 and summary[MISSING_NAME["rule"]][4] == 1
    assert summary[CHECK_DIGIT["rule"]][header.index(OPEN)] == 3


def test_export_defaults_to_xlsx_under_citylake_home(home, capsys):
    assert main(["-q", "feedback", "export", "--department", "人力资源和社会保障局"]) == 0
    assert (home.reports / "feedback_人力资源和社会保障局.xlsx").exists()


def test_dispute_accept_decide_and_history(home, capsys, caplog):
    issue = _issue(home, "3", MISSING_NAME["rule"])
    assert main(["-q", "feedback", "dispute", issue, "--reason", "该人员姓名为空系户籍档案原始记录", "--by", "公安局"]) == 0
    assert f"问题 {issue}: 状态 异议, 异议阶段 异议提出" in capsys.readouterr().out
    assert main(["-q", "feedback", "list", "--department", "公安局", "--status", "disputed"]) == 0
    assert "公安局: 共 1 条问题 (异议 1)" in capsys.readouterr().out
    assert main(["-q", "feedback", "accept", issue]) == 0
    assert "异议阶段 标注" in capsys.readouterr().out
    assert main(["-q", "feedback", "decide", issue, "--uphold", "--reply", "核实属实", "--by", "大数据局"]) == 0
    assert f"问题 {issue}: 状态 {CONFIRMED}, 异议阶段 归档" in capsys.readouterr().out

    assert main(["-q", "feedback", "history", issue]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    steps = [s for line in lines for s in ("异议提出", "受理", "标注", "核实与处理", "标注撤销", "归档")
             if line.split() and len(line.split()) > 2 and line.split()[2] == s]
    assert steps == ["异议提出", "受理", "标注", "核实与处理", "标注撤销", "归档"]
    assert "公安局" in out and "大数据局" in out and "6 条异议处理记录" in out

    caplog.clear()
    assert main(["feedback", "decide", issue, "--reject", "--reply", "again"]) == 2
    assert f"cannot decide issue {issue}: its status is 已确认, dispute stage 归档" in caplog.text
    assert main(["feedback", "accept", _issue(home, "1")]) == 2
    assert "its status is 待整改" in caplog.text
    assert main(["feedback", "history", "nosuchissue"]) == 2
    assert "no issue nosuchissue" in caplog.text


def test_reject_sends_the_issue_back(home, capsys):
    issue = _issue(home, "1")
    assert main(["-q", "feedback", "dispute", issue, "--reason", "号码正确"]) == 0
    assert main(["-q", "feedback", "accept", issue, "--by", "大数据局"]) == 0
    assert main(["-q", "feedback", "decide", issue, "--reject", "--reply", "校验码不符，请整改"]) == 0
    assert f"问题 {issue}: 状态 {OPEN}, 异议阶段 归档 (异议不成立" in capsys.readouterr().out
    issues = read_issues(open_lake(home.lake)).set_index("issue_id")
    assert issues.loc[issue, "dispute_reply"] == "校验码不符，请整改" and issues.loc[issue, "handled_by"] == "大数据局"


def test_a_department_cannot_dispute_another_departments_issue(home, capsys, caplog):
    issue = _issue(home, "1")  # 公安局's
    assert main(["feedback", "dispute", issue, "--reason", "不是我的", "--by", "教育局"]) == 2
    assert f"教育局 cannot dispute issue {issue} of 公安局: a department acts only on its own issues" in caplog.text
    assert main(["feedback", "dispute", issue, "--reason", "个人", "--by", "张三丰"]) == 2
    assert "张** (not a department) cannot dispute" in caplog.text and "张三丰" not in caplog.text
    assert main(["-q", "feedback", "dispute", issue, "--reason", "号码正确"]) == 0
    assert main(["feedback", "accept", issue, "--by", "公安局"]) == 2
    assert f"公安局 cannot accept issue {issue}: only the bureau (大数据局) accepts and decides disputes" in caplog.text
    capsys.readouterr()
    assert main(["-q", "feedback", "history", issue]) == 0
    assert "1 条异议处理记录" in capsys.readouterr().out


def test_dispute_text_and_actor_are_stored_masked(home, capsys):
    issue = _issue(home, "2")
    reason = "联系人电话 +86 139-1234-5678，身份证 1101 0519 4912 3100 2X"
    assert main(["-q", "feedback", "dispute", issue, "--reason", reason]) == 0
    assert main(["-q", "feedback", "history", issue]) == 0
    out = capsys.readouterr().out
    assert "联系人电话 139****5678，身份证 110105********002X" in out
    assert "13912345678" not in out.replace("-", "").replace(" ", "")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_into_a_folder_names_the_file_after_scope_and_format(home, tmp_path, capsys, fmt):
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["-q", "feedback", "export", "--department", "公安局", "--format", fmt, "--output", str(folder)]) == 0
    written = folder / f"feedback_公安局.{fmt}"
    assert f"4 条问题 written to {written} ({fmt})" in capsys.readouterr().out
    assert written.is_file() and [p.name for p in folder.iterdir()] == [written.name]
    # A folder that does not exist yet, written with a trailing slash, is made.
    assert main(["-q", "feedback", "export", "--system", "renshe", "--output", f"{tmp_path}/new/"]) == 0
    assert (tmp_path / "new" / "feedback_renshe.xlsx").is_file()


def test_export_to_an_unwritable_place_is_one_clear_error(home, tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    assert main(["feedback", "export", "--department", "公安局", "--output", str(blocker / "out.csv")]) == 2
    assert "a_file" in caplog.text and "Traceback" not in caplog.text
