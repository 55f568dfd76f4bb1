"""``citylake feedback``: the 问题数据反馈表 for a department, and its disputes (异议).

    citylake feedback list    --department 公安局 | --system gongan [--status 待整改] [--table CZRK] [--limit N]
    citylake feedback export  --department 公安局 | --system gongan [--format csv|xlsx] [--output FILE|DIR]
    citylake feedback dispute ISSUE_ID --reason TEXT [--by DEPARTMENT]    (department: 异议提出)
    citylake feedback accept  ISSUE_ID [--by 大数据局]                     (bureau: 受理, 标注)
    citylake feedback decide  ISSUE_ID --uphold|--reject --reply TEXT [--by 大数据局]
                                                     (bureau: 核实与处理, 标注撤销, 归档)
    citylake feedback history ISSUE_ID

Departments are the ``owner`` of the registry's systems (sources/systems/*.yaml), systems their
``system`` code. A department disputes its own issues only; the bureau (大数据局) accepts and
decides (:mod:`citylake.quality.disputes`). Everything shown or exported is masked (values were
masked when recorded). Times
are shown in Beijing time. Heavy imports (pandas, the lake) happen when a command runs, so that
``citylake --help`` stays quick.
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.settings import Home

if TYPE_CHECKING:
    import pandas as pd

DISPLAY_TZ = "Asia/Shanghai"
# Status names as typed in a shell without a Chinese input method.
STATUS_ALIASES = {"open": "待整改", "fixed": "已整改", "disputed": "异议", "confirmed": "已确认"}
LIST_COLUMNS = ("issue_id", "source_table", "record_key", "field", "masked_value", "rule", "severity", "status",
                "dispute_stage", "detected_at", "description")
TIME_COLUMNS = ("detected_at", "resolved_at", "dispute_raised_at", "dispute_decided_at")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``feedback`` and its subcommands on the ``citylake`` parser."""
    feedback = sub.add_parser("feedback", help="problem records for the departments (问题数据反馈) and their disputes")
    commands = feedback.add_subparsers(dest="feedback_command", required=True)

    listing = commands.add_parser("list", help="a department's issues as a table")
    _scope_arguments(listing)
    listing.add_argument("--limit", type=_positive, metavar="N", help="show at most N issues")

    export = commands.add_parser("export", help="a department's issues as CSV or XLSX (Chinese headers)")
    _scope_arguments(export)
    export.add_argument("--format", choices=("csv", "xlsx"),
                        help="file format (default: from --output's suffix, else xlsx)")
    export.add_argument("--output", metavar="FILE|DIR",
                        help="file to write, or a folder to write feedback_<scope>.<format> into "
                             "(default $CITYLAKE_HOME/reports/)")

    dispute = commands.add_parser("dispute", help="异议提出: the department disputes an open issue")
    dispute.add_argument("issue_id")
    dispute.add_argument("--reason", required=True, help="why the record is right")
    dispute.add_argument("--by", metavar="DEPARTMENT",
                         help="the department raising it: the issue's own (the default)")

    accept = commands.add_parser("accept", help="受理: the bureau accepts a dispute (and marks the record)")
    accept.add_argument("issue_id")
    accept.add_argument("--by", metavar="NAME", help="who accepts it: only the bureau, 大数据局 (the default)")

    decide = commands.add_parser("decide", help="核实与处理: the bureau upholds or rejects a dispute")
    decide.add_argument("issue_id")
    verdict = decide.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--uphold", action="store_true", help="the department is right: the issue is exempted")
    verdict.add_argument("--reject", action="store_true", help="the issue goes back to the department")
    decide.add_argument("--reply", required=True, help="the bureau's reply to the department")
    decide.add_argument("--by", metavar="NAME", help="who decides it: only the bureau, 大数据局 (the default)")

    shown = commands.add_parser("history", help="an issue and every step of its disputes")
    shown.add_argument("issue_id")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _status(text: str) -> str:
    from citylake.quality.feedback import STATUSES

    status = STATUS_ALIASES.get(text.lower(), text)
    if status not in STATUSES:
        raise argparse.ArgumentTypeError(f"unknown status {text!r}: choose one of {', '.join(STATUSES)} "
                                         f"(or {', '.join(STATUS_ALIASES)})")
    return status


def _scope_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--department", metavar="NAME", help="owner department, e.g. 公安局")
    scope.add_argument("--system", metavar="CODE", help="department system code, e.g. gongan")
    parser.add_argument("--status", type=_status, help="待整改|已整改|异议|已确认 (or open|fixed|disputed|confirmed)")
    parser.add_argument("--table", metavar="TABLE", help="one source table, e.g. CZRK or gongan.CZRK")


def run(args: argparse.Namespace) -> int:
    """Run ``citylake feedback <command>``; unknown departments, systems or issues raise ValueError."""
    from citylake.lake import open_lake

    lake = open_lake()
    command = {"list": _list, "export": _export, "dispute": _dispute, "accept": _accept, "decide": _decide,
               "history": _history}[args.feedback_command]
    return command(lake, args)


# ------------------------------------------------------------------------------------ list, export

def scoped_issues(lake, department: str | None = None, system: str | None = None, status: str | None = None,
                  table: str | None = None) -> tuple[str, pd.DataFrame]:
    """(scope label, issues) of a department or system, optionally one status and table; sorted."""
    import pyarrow.compute as pc

    from citylake.quality.feedback import STATUSES, read_issues
    from citylake.sources.registry import load_registry

    registry = load_registry()
    if department is not None:
        systems = [s for s in registry.values() if s.owner == department]
        if not systems:
            owners = sorted({s.owner for s in registry.values()})
            raise ValueError(f"unknown department {department!r}; departments: {', '.join(owners)}")
        label = department
    else:
        if system not in registry:
            raise ValueError(f"unknown system {system!r}; systems: {', '.join(sorted(registry))}")
        systems = [registry[system]]
        label = system
    tables = {f"{s.code}.{t.name}" for s in systems for t in s.tables}
    if table is not None:
        wanted = {t for t in tables if table.lower() in (t.lower(), t.split(".", 1)[1].lower())}
        if not wanted:
            raise ValueError(f"{label} has no table {table!r}; tables: {', '.join(sorted(tables))}")
        tables = wanted
    condition = pc.field("source_table").isin(sorted(tables))
    if status is not None:
        condition &= pc.field("status") == status
    issues = read_issues(lake, condition)
    order = {s: i for i, s in enumerate(STATUSES)}
    issues = issues.assign(_order=issues["status"].map(order)).sort_values(
        ["_order", "source_table", "detected_at", "record_key", "rule"], kind="stable").drop(columns="_order")
    return label, issues.reset_index(drop=True)


def _log_read(lake, args: argparse.Namespace, label: str, rows: int) -> None:
    """Feedback lists and exports are reads of the lake like any other (``governance.access_log``)."""
    from citylake.catalog.access_log import log_access
    from citylake.quality.feedback import QUALITY_ISSUE

    scope = " ".join(f"--{k} {getattr(args, k)}" for k in ("department", "system", "status", "table")
                     if getattr(args, k, None))
    log_access(lake, role=f"department:{label}", interface=f"citylake feedback {args.feedback_command}",
               tables=[QUALITY_ISSUE], rows=rows, query=scope, outcome="ok")


def _list(lake, args: argparse.Namespace) -> int:
    label, issues = scoped_issues(lake, args.department, args.system, args.status, args.table)
    shown = issues.head(args.limit) if args.limit else issues
    _log_read(lake, args, label, len(shown))
    print(render_table([_header(c) for c in LIST_COLUMNS], _display(shown, LIST_COLUMNS)))
    print(_count_line(label, issues, len(shown)))
    return 0


def _export(lake, args: argparse.Namespace) -> int:
    label, issues = scoped_issues(lake, args.department, args.system, args.status, args.table)
    output = Path(args.output) if args.output else Home.from_env().reports
    # A folder (existing, or written with a trailing slash) gets a file named after the scope and format.
    folder = output.is_dir() or (args.output or "/").endswith(("/", "\\"))
    suffix = "" if folder else output.suffix.lower()
    fmt = args.format or (suffix.lstrip(".") if suffix in (".csv", ".xlsx") else "xlsx")
    if folder:
        output = output / f"feedback_{label}.{fmt}"
    export_issues(issues, output, fmt)
    _log_read(lake, args, label, len(issues))
    print(f"{len(issues)} 条问题 written to {output} ({fmt})")
    return 0


def export_issues(issues: pd.DataFrame, output: Path, fmt: str) -> None:
    """Write issues with Chinese headers: CSV (UTF-8 with BOM, so Excel reads the Chinese) or XLSX
    with two sheets, 问题清单 (the issues) and 按规则汇总 (a summary by rule)."""
    import pandas as pd

    from citylake.quality.feedback import HEADERS_ZH, SCHEMA

    output.parent.mkdir(parents=True, exist_ok=True)
    frame = _for_people(issues[SCHEMA.names]).rename(columns=HEADERS_ZH)
    if fmt == "csv":
        frame.to_csv(output, index=False, encoding="utf-8-sig")
        return
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}: csv or xlsx")
    with pd.ExcelWriter(output, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="问题清单", index=False)
        summary_by_rule(issues).to_excel(writer, sheet_name="按规则汇总", index=False)
        for sheet in writer.sheets.values():
            sheet.freeze_panes = "A2"
            for column in sheet.columns:
                width = max(_width(str(c.value)) if c.value is not None else 0 for c in column)
                sheet.column_dimensions[column[0].column_letter].width = min(60, width + 2)


def summary_by_rule(issues: pd.DataFrame) -> pd.DataFrame:
    """Issues per rule: description, severity, tables, total and per status (Chinese headers)."""
    import pandas as pd

    from citylake.quality.feedback import HEADERS_ZH, SEVERITY_ZH, STATUSES

    rows = []
    for rule, group in issues.groupby("rule", sort=True):
        rows.append({HEADERS_ZH["rule"]: rule, HEADERS_ZH["description"]: group["description"].iloc[0],
                     HEADERS_ZH["severity"]: SEVERITY_ZH.get(group["severity"].iloc[0], group["severity"].iloc[0]),
                     "涉及源表": ", ".join(sorted(group["source_table"].unique())), "问题数": len(group),
                     **{s: int((group["status"] == s).sum()) for s in STATUSES}})
    columns = [HEADERS_ZH["rule"], HEADERS_ZH["description"], HEADERS_ZH["severity"], "涉及源表", "问题数", *STATUSES]
    return pd.DataFrame(rows, columns=columns)


def _for_people(frame: pd.DataFrame) -> pd.DataFrame:
    """Times in Beijing time without a zone (Excel has none), severities in Chinese."""
    from citylake.quality.feedback import SEVERITY_ZH

    out = frame.copy()
    for column in TIME_COLUMNS:
        if column in out.columns:
            out[column] = out[column].dt.tz_convert(DISPLAY_TZ).dt.tz_localize(None).dt.floor("s")
    if "severity" in out.columns:
        out["severity"] = out["severity"].map(lambda s: SEVERITY_ZH.get(s, s))
    return out


def _display(frame: pd.DataFrame, columns: Sequence[str]) -> list[list[str]]:
    out = _for_people(frame[list(columns)])
    return [["" if _missing(v) else v.strftime("%Y-%m-%d %H:%M") if hasattr(v, "strftime") else str(v) for v in row]
            for row in out.itertuples(index=False)]


def _count_line(label: str, issues: pd.DataFrame, shown: int) -> str:
    from citylake.quality.feedback import STATUSES

    counts = issues["status"].value_counts()
    parts = ", ".join(f"{s} {int(counts.get(s, 0))}" for s in STATUSES if counts.get(s, 0))
    line = f"{label}: 共 {len(issues)} 条问题" + (f" ({parts})" if parts else "")
    return line + (f"; 显示前 {shown} 条 (--limit)" if shown < len(issues) else "")


def _header(column: str) -> str:
    from citylake.quality.feedback import HEADERS_ZH

    return HEADERS_ZH[column]


# ------------------------------------------------------------------------------------ disputes

def _dispute(lake, args: argparse.Namespace) -> int:
    from citylake.quality.disputes import raise_dispute

    _print_issue_state(raise_dispute(lake, args.issue_id, args.reason, by=args.by), "等待大数据局受理")
    return 0


def _accept(lake, args: argparse.Namespace) -> int:
    from citylake.quality.disputes import accept_dispute

    _print_issue_state(accept_dispute(lake, args.issue_id, by=args.by), "核实中")
    return 0


def _decide(lake, args: argparse.Namespace) -> int:
    from citylake.quality.disputes import decide_dispute

    issue = decide_dispute(lake, args.issue_id, uphold=args.uphold, reply=args.reply, by=args.by)
    _print_issue_state(issue, "异议成立, 已豁免该规则" if args.uphold else "异议不成立, 退回部门整改")
    return 0


def _history(lake, args: argparse.Namespace) -> int:
    from citylake.quality.disputes import get_issue, history

    issue = get_issue(lake, args.issue_id)
    _print_issue_state(issue, None)
    print(f"{issue['source_table']} {issue['record_key']} {issue['field']}: {issue['rule']} "
          f"({issue['masked_value'] or ''}) {issue['description']}")
    events = history(lake, args.issue_id)
    rows = [[beijing_time(e["at"]), e["step"], e["actor"], e["status"], e["note"] or ""] for e in events]
    print(render_table(["时间", "步骤", "操作人", "状态", "说明"], rows))
    print(f"{len(events)} 条异议处理记录")
    return 0


def _print_issue_state(issue: dict[str, Any], note: str | None) -> None:
    stage = f", 异议阶段 {issue['dispute_stage']}" if issue["dispute_stage"] else ""
    print(f"问题 {issue['issue_id']}: 状态 {issue['status']}{stage}" + (f" ({note})" if note else ""))


def beijing_time(at) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(DISPLAY_TZ)).strftime("%Y-%m-%d %H:%M:%S")


# ------------------------------------------------------------------------------------ text tables

def _missing(value: Any) -> bool:
    return value is None or value != value  # None, NaN or NaT


def _width(text: str) -> int:
    """Columns a terminal uses for ``text``: Chinese (wide) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, aligned for terminals that show Chinese characters double-width."""
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
