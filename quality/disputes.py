"""异议处理: a department disputes an issue of the 问题数据反馈表 and the bureau decides it.

The flow follows the usual government one (e.g. Huai'an DB3208/T 219-2024)::

    异议提出 (department raises it, with a reason)        raise_dispute   status 待整改 -> 异议
    受理 (the bureau accepts it for processing)            accept_dispute  logged with
    标注 (the record is marked as disputed)                                 the same command
    核实与处理 (verified: upheld or rejected, with a reply) decide_dispute  status -> 已确认 | 待整改
    标注撤销 (the mark is removed)                                          logged with
    归档 (archived)                                                         the same command

The issue's status is 异议 from raising on, so the gate neither closes nor reopens it meanwhile. An
upheld dispute means the department's data is right and the rule does not apply to that record:
the issue becomes 已确认, an exemption (:func:`quality.feedback.exemptions`). A rejected one goes
back to 待整改 with the bureau's reply; the department may fix the record or dispute again.

``governance.quality_issue`` keeps where each dispute stands (``dispute_stage``: 异议提出, 标注 or
归档); ``governance.dispute_log`` keeps every step as an event. Reasons and replies are free text:
ID numbers and mobile numbers in them are masked before they are stored, however they are written
(``+86 139-1234-5678``, an ID with spaces). Who acts is an organisation, checked against the issue:
a department (a registry ``owner``) raises disputes on its own issues only, and only the bureau
(大数据局) accepts and decides them. A name that is neither is refused and shown masked.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from citylake.catalog.masking import mask_id_number, mask_name, mask_phone
from citylake.quality.feedback import (
    CONFIRMED,
    DISPUTED,
    OPEN,
    QUALITY_ISSUE,
    issue_lock,
    read_issue_table,
    write_issues,
)

log = logging.getLogger(__name__)

DISPUTE_LOG = "governance.dispute_log"
RAISE, ACCEPT, MARK, VERIFY, UNMARK, ARCHIVE = "异议提出", "受理", "标注", "核实与处理", "标注撤销", "归档"
FLOW = (RAISE, ACCEPT, MARK, VERIFY, UNMARK, ARCHIVE)
BUREAU = "大数据局"

_TS = pa.timestamp("us", tz="UTC")
LOG_SCHEMA = pa.schema([
    ("issue_id", pa.string()), ("step", pa.string()), ("step_no", pa.int32()), ("actor", pa.string()),
    ("at", _TS), ("note", pa.string()),
    # The issue's status after the command, and whose issue it is (a department sees its own log).
    ("status", pa.string()), ("department", pa.string()), ("system", pa.string()), ("source_table", pa.string()),
])

# A run of digit groups (half- or full-width) that people join with spaces, hyphens or dots when
# they write a number: "+86 139-1234-5678", "3701 0219 8001 0100 1X". An X ends an ID number only.
_DIGITS = "0-9０-９"
_SEPARATORS = r"[ \t\u00a0\u3000\-\u2010-\u2015－.．·]{1,2}"
_GROUP = rf"[{_DIGITS}]+(?:[Xxｘ](?![A-Za-z]))?"
# Letters may touch a number ("TEL13912345678"); masking a code that merely looks like one is harmless.
_NUMBER_RUN = re.compile(rf"(?<![{_DIGITS}])(?:[+＋])?{_GROUP}(?:{_SEPARATORS}{_GROUP})*(?![{_DIGITS}])")
_GROUP_IN_RUN = re.compile(_GROUP)
# 18-digit (or 15-digit) ID numbers, and mainland mobile numbers with or without +86 / 0086.
_ID_NUMBER = re.compile(r"\d{17}[\dX]|\d{15}")
_MOBILE = re.compile(r"(?:0086|86)?(1[3-9]\d{9})")


class DisputeError(ValueError):
    """A dispute step that cannot be done (the CLI reports it and exits with 2)."""


class IssueNotFoundError(DisputeError):
    """No issue has this id."""


class InvalidTransitionError(DisputeError):
    """The issue is not at a stage where this step is allowed."""


class NotAuthorisedError(DisputeError):
    """The actor may not take this step on this issue (another department's, or not the bureau)."""


def scrub(text: str) -> str:
    """``text`` with ID numbers and mobile numbers masked (370102********1234, 138****5678).

    Numbers are recognised on their digits once separators are removed, so a number written in
    groups is masked as a whole; the masked form replaces the groups it spans.
    """
    return _NUMBER_RUN.sub(lambda m: _mask_run(m.group()), text)


def _personal_number(digits: str) -> str | None:
    """The masked form of ``digits`` if they are exactly one ID or mobile number."""
    mobile = _MOBILE.fullmatch(digits)  # first: 0086 and a mobile are 15 digits, like an old ID
    if mobile:
        return mask_phone(mobile.group(1))
    return mask_id_number(digits) if _ID_NUMBER.fullmatch(digits) else None


def _mask_run(run: str) -> str:
    """Mask every stretch of consecutive digit groups in ``run`` that forms one personal number."""
    groups = list(_GROUP_IN_RUN.finditer(run))
    digits = [unicodedata.normalize("NFKC", g.group()).upper() for g in groups]
    out, done, i = [], 0, 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):  # the longest stretch first: an ID before a mobile
            masked = _personal_number("".join(digits[i:j + 1]))
            if masked is not None:
                start = 0 if i == 0 else groups[i].start()  # a leading + goes with the number
                out += [run[done:start], masked]
                done, i = groups[j].end(), j + 1
                break
        else:
            i += 1
    return "".join(out) + run[done:]


def get_issue(lake, issue_id: str) -> dict[str, Any]:
    """The issue row (masked values only) or :class:`IssueNotFoundError`."""
    rows = read_issue_table(lake, pc.field("issue_id") == issue_id).to_pylist()
    if not rows:
        raise IssueNotFoundError(f"no issue {issue_id} in {QUALITY_ISSUE}")
    return rows[0]


def raise_dispute(lake, issue_id: str, reason: str, by: str | None = None) -> dict[str, Any]:
    """异议提出: the department says its record is right; the issue's status becomes 异议.

    Only an open issue (待整改) can be disputed, and only by its own department (``by``, the
    default).
    """
    reason = _required_text(reason, "a reason")

    def change(issue: dict[str, Any], now: datetime, actor: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return ({"status": DISPUTED, "dispute_stage": RAISE, "dispute_reason": reason, "dispute_raised_by": actor,
                 "dispute_raised_at": now, "handled_by": None, "dispute_decided_at": None, "dispute_reply": None},
                [(RAISE, reason)])

    return _step(lake, issue_id, "dispute", by, lambda i: i["status"] == OPEN,
                 f"only an open issue ({OPEN}) can be disputed", change, bureau_step=False)


def accept_dispute(lake, issue_id: str, by: str | None = None) -> dict[str, Any]:
    """受理 and 标注: the bureau takes the dispute up; the record stays marked 异议 until decided.

    Only the bureau (``by``, default 大数据局) accepts.
    """

    def change(issue: dict[str, Any], now: datetime, actor: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return ({"dispute_stage": MARK, "handled_by": actor},
                [(ACCEPT, "异议已受理 (accepted for verification)"),
                 (MARK, f"记录标注为{DISPUTED} (marked as disputed while it is verified)")])

    return _step(lake, issue_id, "accept", by,
                 lambda i: i["status"] == DISPUTED and i["dispute_stage"] in (RAISE, None),
                 f"only a dispute just raised ({DISPUTED}, stage {RAISE}) can be accepted", change, bureau_step=True)


def decide_dispute(lake, issue_id: str, uphold: bool, reply: str, by: str | None = None) -> dict[str, Any]:
    """核实与处理, then 标注撤销 and 归档: upheld -> 已确认 (an exemption), rejected -> 待整改 with the reply.

    Only the bureau (``by``, default 大数据局) decides.
    """
    reply = _required_text(reply, "a reply")

    def change(issue: dict[str, Any], now: datetime, actor: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if uphold:
            values = {"status": CONFIRMED, "resolved_at": now, "resolved_batch_id": None}
            verdict = f"异议成立，规则不适用于该记录，问题{CONFIRMED} (upheld): {reply}"
        else:
            values = {"status": OPEN}
            verdict = f"异议不成立，问题退回{OPEN} (rejected): {reply}"
        values.update({"dispute_stage": ARCHIVE, "dispute_reply": reply, "handled_by": actor, "dispute_decided_at": now})
        return values, [(VERIFY, verdict), (UNMARK, "撤销异议标注 (dispute mark removed)"),
                        (ARCHIVE, "异议处理结果归档 (archived)")]

    return _step(lake, issue_id, "decide", by,
                 lambda i: i["status"] == DISPUTED and i["dispute_stage"] == MARK,
                 f"only an accepted dispute ({DISPUTED}, stage {MARK}) can be decided", change, bureau_step=True)


def history(lake, issue_id: str) -> list[dict[str, Any]]:
    """Every step of the issue's disputes, oldest first."""
    get_issue(lake, issue_id)
    if not lake.exists(DISPUTE_LOG):
        return []
    events = lake.read_arrow(DISPUTE_LOG, filter=pc.field("issue_id") == issue_id).read_all().to_pylist()
    return sorted(events, key=lambda e: (e["at"], e["step_no"]))


def _required_text(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise DisputeError(f"{what} is required")
    return scrub(text.strip())


def _organisations() -> set[str]:
    """Who may act: the departments owning registered systems, and the bureau."""
    from citylake.sources.registry import load_registry

    return {system.owner for system in load_registry().values()} | {BUREAU}


def _actor(issue: dict[str, Any], action: str, by: str | None, bureau_step: bool) -> str:
    """The organisation taking the step, checked: the issue's department, or the bureau for its steps."""
    wanted = BUREAU if bureau_step else issue["department"]
    actor = wanted if by is None or not by.strip() else by.strip()
    if actor == wanted:
        return actor
    # A name typed here may be a person's: shown masked unless it is an organisation.
    shown = actor if actor in _organisations() else f"{mask_name(actor)} (not a department)"
    if bureau_step:
        raise NotAuthorisedError(f"{shown} cannot {action} issue {issue['issue_id']}: only the bureau ({BUREAU}) "
                                 "accepts and decides disputes")
    raise NotAuthorisedError(f"{shown} cannot {action} issue {issue['issue_id']} of {issue['department']}: "
                             "a department acts only on its own issues")


def _step(lake, issue_id: str, action: str, by: str | None, allowed, rule: str, change,
          bureau_step: bool) -> dict[str, Any]:
    """Check the actor and the issue's stage and apply ``change`` to it and the log, under the issue
    table's lock.

    ``by`` is the acting organisation (None: the issue's department, or the bureau for a
    ``bureau_step``). The issue row is committed first, then its events; the issue's row is what
    the gate and the exemptions follow.
    """
    with issue_lock(lake):
        issue = get_issue(lake, issue_id)
        actor = _actor(issue, action, by, bureau_step)
        if not allowed(issue):
            stage = f", dispute stage {issue['dispute_stage']}" if issue["dispute_stage"] else ""
            raise InvalidTransitionError(
                f"cannot {action} issue {issue_id}: its status is {issue['status']}{stage}; {rule}")
        now = datetime.now(UTC)
        values, steps = change(issue, now, actor)
        updated = {**issue, **values}
        write_issues(lake, [updated], metadata={"job": "dispute", "issue_id": issue_id, "step": steps[-1][0]})
        events = [{"issue_id": issue_id, "step": step, "step_no": FLOW.index(step) + 1, "actor": actor, "at": now,
                   "note": note, "status": updated["status"], "department": issue["department"],
                   "system": issue["system"], "source_table": issue["source_table"]} for step, note in steps]
        lake.write_arrow(DISPUTE_LOG, pa.Table.from_pylist(events, schema=LOG_SCHEMA), mode="append",
                         metadata={"job": "dispute", "issue_id": issue_id})
    log.info("issue %s (%s): %s -> status %s", issue_id, issue["source_table"], " → ".join(s for s, _ in steps),
             updated["status"])
    return updated
