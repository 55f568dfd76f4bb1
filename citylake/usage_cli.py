"""``citylake usage report``: 定时向数据提供方反馈数据调用情况 — build ``governance.usage_report`` for a
period (:mod:`citylake.catalog.usage_report`), score 可访问性 from it, and render the quality reports
again so that each department's report shows who used its data. Heavy imports happen when the
command runs."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time, timedelta

from citylake.settings import Home

DEFAULT_DAYS = 30


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _days(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of days, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    usage = sub.add_parser("usage", help="数据调用情况: who read each department's tables (governance.usage_report)")
    usage_sub = usage.add_subparsers(dest="usage_command", required=True)
    report = usage_sub.add_parser("report", help="build governance.usage_report for a period, score 可访问性 and "
                                                 "add the section to the department quality reports")
    report.add_argument("--days", type=_days, default=DEFAULT_DAYS, help=f"length of the period (default {DEFAULT_DAYS})")
    report.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                        help="the period ends at the start of this day, Beijing time (default: now)")


def period(days: int, until: date | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC: ``days`` days up to ``until`` (00:00 Beijing time) or up to now."""
    from citylake.quality.rule_results import SOURCE_TIME_ZONE

    end = (datetime.combine(until, time(), SOURCE_TIME_ZONE).astimezone(UTC) if until
           else now or datetime.now(UTC))
    return end - timedelta(days=days), end


def run(args: argparse.Namespace) -> int:
    from citylake.catalog.usage_report import build_usage_report
    from citylake.lake import open_lake
    from citylake.quality.report import render_all_reports

    home = Home.from_env()
    lake = open_lake()
    start, end = period(args.days, args.until)
    rows = build_usage_report(lake, start, end)
    render_all_reports(lake, home.reports)
    print(f"usage report {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC: {len(rows):,} rows in "
          f"governance.usage_report")
    print(f"{'department':<12}{'source table':<24}{'reads':>8}{'rows':>10}{'refused':>9}{'failed':>8}{'consumers':>11}")
    totals: dict[tuple[str, str], list] = {}
    for row in rows:
        entry = totals.setdefault((row["department"], row["source_table"]), [0, 0, 0, 0, set()])
        entry[0] += row["reads"]
        entry[1] += row["rows"]
        entry[2] += row["refused"]
        entry[3] += row["failed"]
        entry[4].add((row["user"], row["role"], row["interface"]))
    for (department, table), (reads, served, refused, failed, consumers) in sorted(totals.items()):
        print(f"{department:<12}{table:<24}{reads:>8,}{served:>10,}{refused:>9,}{failed:>8,}{len(consumers):>11,}")
    print(f"可访问性 scored in governance.rule_result; the department reports: {home.reports}/index.html")
    return 0
