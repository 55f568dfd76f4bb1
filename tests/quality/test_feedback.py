"""问题数据反馈表 and its disputes (异议): issues open and close with batches; a dispute goes
异议提出 → 受理 → 标注 → 核实与处理 → 标注撤销 → 归档; an upheld one exempts the record from the rule."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from citylake.lake import open_lake
from citylake.quality.disputes import (
    DISPUTE_LOG,
    FLOW,
    InvalidTransitionError,
    IssueNotFoundError,
    NotAuthorisedError,
    accept_dispute,
    decide_dispute,
    get_issue,
    history,
    raise_dispute,
)
from citylake.quality.feedback import (
    CONFIRMED,
    DISPUTED,
    FIXED,
    OPEN,
    QUALITY_ISSUE,
    SCHEMA,
    exemptions,
    issue_lock,
    open_issues,
    read_issues,
    record_findings,
)
from citylake.sources.registry import load_registry

ID_OK = "11010519491231002X"  # GB 11643's own example
ID_BAD = "110105194912310021"  # same, wrong check character
CHECK_DIGIT = {"rule": "person.id_number.check_digit", "message": "身份证号校验码错误 (check character is wrong)",
               "columns": ["GMSFHM"]}
SEX = {"rule": "person.sex.disagrees_with_id", "message": "性别与身份证号不符 (sex disagrees with the ID number)",
       "columns": ["GMSFHM", "XB"]}


def czrk_batch(rows: dict[str, tuple[str, list[dict]]]) -> pd.DataFrame:
    """A checked 公安 CZRK batch as check_frame returns it: record key -> (ID number, errors)."""
    return pd.DataFrame([{"RYID": key, "GMSFHM": number, "XM": "张三", "XB": "1", "_errors": errors, "_warnings": []}
                         for key, (number, errors) in rows.items()])


@pytest.fixture
def gongan(tmp_path):
    system = load_registry()["gongan"]
    return open_lake(tmp_path / "lake"), system, system.table("CZRK")


@pytest.fixture
def opened(gongan):
    """Three open issues of gongan.CZRK from one real batch; returns them by record key."""
    lake, system, table = gongan
    batch = czrk_batch({"1": (ID_BAD, [CHECK_DIGIT]), "2": (ID_BAD, [CHECK_DIGIT]), "3": (ID_OK, [SEX])})
    assert record_findings(lake, system, table, "b1", batch, []) == {"opened": 3, "fixed": 0, "still_open": 0,
                                                                     "exempted": 0}
    issues = open_issues(lake, "gongan.CZRK")
    return {row["record_key"]: row["issue_id"] for row in issues.to_dict("records")}


def test_issues_open_masked_and_close_when_fixed(gongan, opened):
    lake, system, table = gongan
    issues = read_issues(lake)
    assert set(issues["status"]) == {OPEN} and set(issues["department"]) == {"公安局"}
    # The value shown is the failing field's (for a cross-field rule, the last column: the sex).
    assert set(issues["masked_value"]) == {"110105********0021", "1"}
    assert not any(ID_BAD in str(v) or ID_OK in str(v) for v in issues.astype(str).to_numpy().ravel())
    again = record_findings(lake, system, table, "b2", czrk_batch({"1": (ID_OK, []), "2": (ID_BAD, [CHECK_DIGIT])}),
                            deleted_keys=["3"])
    assert again == {"opened": 0, "fixed": 2, "still_open": 1, "exempted": 0}
    status = read_issues(lake).set_index("record_key")["status"]
    assert status.to_dict() == {"1": FIXED, "2": OPEN, "3": FIXED}


def test_an_upheld_dispute_confirms_and_exempts_the_record(gongan, opened):
    lake, system, table = gongan
    issue = opened["3"]
    raised = raise_dispute(lake, issue, "该人员性别经户籍档案核实无误", by="公安局")
    assert (raised["status"], raised["dispute_stage"], raised["dispute_raised_by"]) == (DISPUTED, "异议提出", "公安局")
    assert accept_dispute(lake, issue)["dispute_stage"] == "标注"
    decided = decide_dispute(lake, issue, uphold=True, reply="经核实，规则不适用于该记录", by="大数据局")
    assert (decided["status"], decided["dispute_stage"], decided["handled_by"]) == (CONFIRMED, "归档", "大数据局")
    assert decided["resolved_at"] is not None and decided["dispute_decided_at"] is not None
    assert get_issue(lake, issue)["dispute_reply"] == "经核实，规则不适用于该记录"
    assert exemptions(lake, "gongan.CZRK") == {("3", SEX["rule"], "GMSFHM,XB")}

    # The department sends the record again, still "failing" the rule: nothing reopens.
    later = record_findings(lake, system, table, "b2", czrk_batch({"3": (ID_OK, [SEX]), "2": (ID_BAD, [CHECK_DIGIT])}),
                            [])
    assert later == {"opened": 0, "fixed": 0, "still_open": 1, "exempted": 1}
    mine = read_issues(lake, pc.field("record_key") == "3")
    assert mine["issue_id"].tolist() == [issue] and mine["status"].tolist() == [CONFIRMED]

    steps = [e["step"] for e in history(lake, issue)]
    assert steps == list(FLOW)
    events = history(lake, issue)
    assert [e["actor"] for e in events] == ["公安局", *["大数据局"] * 5]
    assert {e["department"] for e in events} == {"公安局"} and events[-1]["status"] == CONFIRMED


def test_a_rejected_dispute_goes_back_to_the_department(gongan, opened):
    lake, system, table = gongan
    issue = opened["1"]
    raise_dispute(lake, issue, "校验码无误")
    accept_dispute(lake, issue, by="大数据局")
    decided = decide_dispute(lake, issue, uphold=False, reply="校验码经 GB 11643 计算不符，请整改")
    assert (decided["status"], decided["dispute_stage"]) == (OPEN, "归档")
    assert decided["dispute_reply"] == "校验码经 GB 11643 计算不符，请整改" and decided["resolved_at"] is None
    assert exemptions(lake, "gongan.CZRK") == set()
    assert [e["step"] for e in history(lake, issue)] == list(FLOW)
    assert history(lake, issue)[0]["actor"] == "公安局"

    # Back to 待整改: the department fixes it in the next batch and it closes by itself.
    record_findings(lake, system, table, "b2", czrk_batch({"1": (ID_OK, [])}), [])
    assert get_issue(lake, issue)["status"] == FIXED
    # A second round after a rejection is allowed while the issue is open.
    other = opened["2"]
    raise_dispute(lake, other, "first")
    accept_dispute(lake, other)
    decide_dispute(lake, other, uphold=False, reply="no")
    raise_dispute(lake, other, "second, with the household register attached")
    assert [e["step"] for e in history(lake, other)] == [*FLOW, "异议提出"]


def test_a_disputed_issue_is_neither_closed_nor_reopened_by_the_gate(gongan, opened):
    lake, system, table = gongan
    raise_dispute(lake, opened["2"], "正确")
    result = record_findings(lake, system, table, "b2", czrk_batch({"2": (ID_BAD, [CHECK_DIGIT])}), [])
    assert result["opened"] == 0 and result["still_open"] == 1
    assert get_issue(lake, opened["2"])["status"] == DISPUTED


def test_invalid_transitions_name_the_issue_and_its_status(gongan, opened):
    lake, system, table = gongan
    fixed, open_, never = opened["1"], opened["2"], opened["3"]
    record_findings(lake, system, table, "b2", czrk_batch({"1": (ID_OK, [])}), [])
    with pytest.raises(InvalidTransitionError, match=rf"cannot dispute issue {fixed}: its status is 已整改"):
        raise_dispute(lake, fixed, "reason")
    with pytest.raises(InvalidTransitionError, match=rf"cannot accept issue {never}: its status is 待整改"):
        accept_dispute(lake, never)
    raise_dispute(lake, open_, "reason")
    with pytest.raises(InvalidTransitionError, match=rf"cannot dispute issue {open_}: its status is 异议, "
                                                     "dispute stage 异议提出"):
        raise_dispute(lake, open_, "again")
    with pytest.raises(InvalidTransitionError, match=r"accept it first|only an accepted dispute"):
        decide_dispute(lake, open_, uphold=True, reply="ok")
    accept_dispute(lake, open_)
    with pytest.raises(InvalidTransitionError, match=r"its status is 异议, dispute stage 标注"):
        accept_dispute(lake, open_)
    decide_dispute(lake, open_, uphold=True, reply="ok")
    with pytest.raises(InvalidTransitionError, match=rf"cannot decide issue {open_}: its status is 已确认, "
                                                     "dispute stage 归档"):
        decide_dispute(lake, open_, uphold=False, reply="changed my mind")
    with pytest.raises(IssueNotFoundError, match="no issue 0000 in governance.quality_issue"):
        accept_dispute(lake, "0000")
    with pytest.raises(ValueError, match="a reason is required"):
        raise_dispute(lake, never, "  ")
    # Failed steps left no events.
    assert [e["step"] for e in history(lake, open_)] == list(FLOW)
    assert history(lake, never) == [] and history(lake, fixed) == []


def test_personal_data_in_reasons_and_replies_is_masked(gongan, opened):
    lake, _, _ = gongan
    issue = opened["1"]
    raise_dispute(lake, issue, f"本人身份证号 {ID_OK}，电话13812345678，与档案一致")
    accept_dispute(lake, issue)
    decide_dispute(lake, issue, uphold=False, reply=f"{ID_BAD} 校验码不符")
    stored = get_issue(lake, issue)
    assert stored["dispute_reason"] == "本人身份证号 110105********002X，电话138****5678，与档案一致"
    assert stored["dispute_reply"] == "110105********0021 校验码不符"
    text = str(lake.read_arrow(DISPUTE_LOG).read_all().to_pylist()) + str(read_issues(lake).to_dict("records"))
    assert ID_OK not in text and ID_BAD not in text and "13812345678" not in text


def test_a_table_written_before_the_dispute_columns_still_works(gongan, opened):
    lake, system, table = gongan
    old_columns = SCHEMA.names[:SCHEMA.names.index("dispute_reason") + 1]
    old = lake.read_arrow(QUALITY_ISSUE, columns=old_columns).read_all()
    lake.write_arrow(QUALITY_ISSUE, old, mode="overwrite", schema_mode="overwrite")
    assert lake.schema(QUALITY_ISSUE).names == old_columns
    assert read_issues(lake)["dispute_stage"].isna().all() and len(open_issues(lake, "gongan.CZRK")) == 3
    assert exemptions(lake, "gongan.CZRK") == set()

    raise_dispute(lake, opened["3"], "正确")
    assert "dispute_stage" in lake.schema(QUALITY_ISSUE).names
    assert record_findings(lake, system, table, "b2", czrk_batch({"1": (ID_OK, [])}), [])["fixed"] == 1
    issues = read_issues(lake).set_index("record_key")
    assert issues.loc["3", "status"] == DISPUTED and issues.loc["1", "status"] == FIXED
    assert lake.schema(QUALITY_ISSUE).field("dispute_raised_at").type == pa.timestamp("us", tz="UTC")


def test_a_dispute_step_waits_for_a_gate_holding_the_issue_table(gongan, opened):
    """Read-check-write under the table's lock: a step never works on a row the gate is rewriting."""
    lake, _, _ = gongan
    done = threading.Event()
    worker = threading.Thread(target=lambda: (raise_dispute(lake, opened["1"], "正确"), done.set()))
    with issue_lock(lake):
        worker.start()
        assert not done.wait(0.3)
        assert get_issue(lake, opened["1"])["status"] == OPEN
    worker.join(10)
    assert done.is_set() and get_issue(lake, opened["1"])["status"] == DISPUTED


@pytest.mark.parametrize(("written", "stored"), [
    ("电话+8613912345678", "电话139****5678"),
    ("电话 +86 139-1234-5678。", "电话 139****5678。"),
    ("139-1234-5678", "139****5678"),
    ("139 1234 5678", "139****5678"),
    ("0086 139 1234 5678", "139****5678"),
    ("电话：139.1234.5678", "电话：139****5678"),
    ("TEL13912345678", "TEL139****5678"),
    ("１３９１２３４５６７８", "139****5678"),
    ("13812345678 13912345678", "138****5678 139****5678"),
    (f"号码 {ID_OK[:4]} {ID_OK[4:8]} {ID_OK[8:12]} {ID_OK[12:16]} {ID_OK[16:]}", "号码 110105********002X"),
    ("110105-19491231-002x", "110105********002X"),
    ("旧号码 110105491231002", "旧号码 110105*****1002"),
    # Dates, times and short numbers are not personal numbers and stay as written.
    ("2024-05-01 12:30 第3批", "2024-05-01 12:30 第3批"),
    ("合同 1234-5678", "合同 1234-5678"),
])
def test_numbers_written_with_separators_are_masked(gongan, opened, written, stored):
    lake, _, _ = gongan
    issue = opened["1"]
    raise_dispute(lake, issue, written)
    assert get_issue(lake, issue)["dispute_reason"] == stored
    assert history(lake, issue)[0]["note"] == stored


def test_a_department_acts_only_on_its_own_issues(gongan, opened):
    lake, _, _ = gongan
    issue = opened["1"]  # 公安局's
    with pytest.raises(NotAuthorisedError, match=rf"教育局 cannot dispute issue {issue} of 公安局: a department acts "
                                                 "only on its own issues"):
        raise_dispute(lake, issue, "不是我的", by="教育局")
    with pytest.raises(NotAuthorisedError, match=rf"大数据局 cannot dispute issue {issue} of 公安局"):
        raise_dispute(lake, issue, "局里提的", by="大数据局")
    # A name that is no organisation (a person's, perhaps) is refused and never shown in full.
    with pytest.raises(NotAuthorisedError, match=r"^王\*\* \(not a department\) cannot dispute") as refused:
        raise_dispute(lake, issue, "个人", by="王警官")
    assert "王警官" not in str(refused.value)
    assert get_issue(lake, issue)["status"] == OPEN and history(lake, issue) == []

    raise_dispute(lake, issue, "号码正确", by="公安局")
    with pytest.raises(NotAuthorisedError, match=rf"公安局 cannot accept issue {issue}: only the bureau \(大数据局\)"):
        accept_dispute(lake, issue, by="公安局")
    accept_dispute(lake, issue)
    with pytest.raises(NotAuthorisedError, match=rf"教育局 cannot decide issue {issue}: only the bureau"):
        decide_dispute(lake, issue, uphold=True, reply="ok", by="教育局")
    decided = decide_dispute(lake, issue, uphold=True, reply="ok", by="大数据局")
    assert decided["status"] == CONFIRMED
    assert [e["actor"] for e in history(lake, issue)] == ["公安局", *["大数据局"] * 5]
