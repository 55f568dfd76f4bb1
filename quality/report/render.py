"""Render the department reports and their index to self-contained HTML files.

``render_department_report`` writes ``<out_dir>/<department>.html``; ``render_all_reports`` writes
one per department with rule results and ``<out_dir>/index.html``. The Jinja2 templates
(``base.html``, ``department.html``, ``index.html``) sit next to this module as package data (not in
a sub-folder, which setuptools would take for a namespace package) and are rendered with autoescape
on: every value from the lake is escaped, only the charts (SVG made here by matplotlib, which
escapes their text) are inserted as markup.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow.compute as pc
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from citylake.quality import assessment
from citylake.quality.feedback import OPEN, QUALITY_ISSUE
from citylake.quality.report import charts
from citylake.quality.report.content import DepartmentContent, gather

INDEX = "index.html"
TEMPLATES = Path(__file__).parent


def _number(value) -> float | None:
    """A score as a float, None for 未评价 (NaN/None), for the templates."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _percent(value) -> str:
    return charts.percent(_number(value))


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["percent"] = _percent
    env.filters["thousands"] = lambda n: f"{int(n):,}"
    env.filters["weight"] = lambda w: f"{float(w):g}"
    return env


def local_time(when: datetime | pd.Timestamp) -> str:
    """Beijing time for display, e.g. '2026-11-23 19:39 (北京时间)'."""
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp
    return f"{stamp.tz_convert(charts.DISPLAY_TZ):%Y-%m-%d %H:%M} (北京时间)"


def report_file_name(department: str) -> str:
    """``公安局.html``: the department name, with path separators made harmless."""
    safe = "".join("_" if c in '/\\:*?"<>|\0' or ord(c) < 32 else c for c in department).strip(" .")
    return f"{safe or '_'}.html"


def _generated(generated_at: datetime | None) -> dict[str, str]:
    when = generated_at or datetime.now(UTC)
    return {"generated_iso": pd.Timestamp(when).isoformat(), "generated_text": local_time(when)}


def department_context(content: DepartmentContent) -> dict:
    """The template context of one department report."""
    names = assessment.indicator_names()
    f = content.figures
    scores = content.indicators
    trend = content.trend
    return {
        "department": content.department, "systems": content.systems, **_generated(content.generated_at),
        "figures": {"rows_checked": f.rows_checked, "rows_quarantined": f.rows_quarantined,
                    "open_issues": f.open_issues, "fixed_issues": f.fixed_issues,
                    "disputed_issues": f.disputed_issues, "confirmed_issues": f.confirmed_issues,
                    "overall_value": "" if _number(f.overall) is None else f"{f.overall:.6f}",
                    "overall_text": _percent(f.overall)},
        "indicators": scores.to_dict("records"),
        "indicator_chart": Markup(charts.indicator_bars(scores["indicator"].tolist(),
                                                        scores["score"].astype(float).tolist())),
        "trend_chart": Markup(charts.trend_lines(trend, names, assessment.OVERALL)) if len(trend) else None,
        "trend": [{"point": int(r["point"]), "ended_text": local_time(r["ended_at"]), "batches": int(r["batches"]),
                   "overall": r[assessment.OVERALL]} for r in trend.to_dict("records")],
        "indicator_names": names,
        "tables": [{"source_table": r["source_table"], "name_zh": r["name_zh"], "batch_id": r["batch_id"],
                    "scores": [_number(r[n]) for n in names], "overall": r[assessment.OVERALL],
                    "rows_checked": r["rows_checked"], "rows_quarantined": r["rows_quarantined"]}
                   for r in content.tables.to_dict("records")],
        "top_rules": content.top_rules.to_dict("records"),
        "samples": content.samples.astype(object).where(content.samples.notna(), None).to_dict("records"),
        "export_command": f"citylake feedback export --department {content.department} --format xlsx",
        **usage_context(content.usage),
    }


def usage_context(rows: list[dict]) -> dict:
    """The 数据调用情况 section: the period and one line per (source table, table read, consumer)."""
    if not rows:
        return {"usage": [], "usage_period": None}
    first = rows[0]
    order = sorted(rows, key=lambda r: (r["source_table"], r["via"] != "direct", r["read_table"], r["user"],
                                        r["role"], r["interface"]))
    return {"usage_period": f"{local_time(first['period_start'])} 至 {local_time(first['period_end'])}",
            "usage": [{**r, "via_zh": "直接读取" if r["via"] == "direct" else "经由派生的主题库表",
                       "last_text": local_time(r["last_read_at"])} for r in order]}


def render_department_report(lake, department: str, out_dir: str | Path,
                             generated_at: datetime | None = None) -> Path:
    """Write ``<out_dir>/<department>.html``, the department's quality report; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    content = gather(lake, department, generated_at or datetime.now(UTC))
    html = environment().get_template("department.html").render(department_context(content))
    path = out / report_file_name(department)
    path.write_text(html, encoding="utf-8")
    return path


def _open_issue_counts(lake) -> dict[str, int]:
    if not lake.exists(QUALITY_ISSUE):
        return {}
    column = lake.read_arrow(QUALITY_ISSUE, columns=["department"],
                             filter=pc.field("status") == OPEN).read_all().column("department")
    counts = pc.value_counts(column).to_pylist()
    return {c["values"]: int(c["counts"]) for c in counts}


def render_index(lake, departments: list[str], out_dir: str | Path, generated_at: datetime | None = None) -> Path:
    """Write ``<out_dir>/index.html``: every department with its indicator and overall scores, open
    issues and a link to its report."""
    names = assessment.indicator_names()
    scores = assessment.wide(assessment.department_scores(lake)).set_index("department")
    open_counts = _open_issue_counts(lake)
    rows = []
    for department in departments:
        known = department in scores.index
        overall = scores.at[department, assessment.OVERALL] if known else float("nan")
        rows.append({"department": department, "href": quote(report_file_name(department)),
                     "scores": [_number(scores.at[department, n]) if known else None for n in names],
                     "overall": overall, "overall_value": "" if _number(overall) is None else f"{overall:.6f}",
                     "open_issues": open_counts.get(department, 0)})
    html = environment().get_template("index.html").render(
        departments=rows, indicator_names=names, **_generated(generated_at))
    path = Path(out_dir) / INDEX
    path.write_text(html, encoding="utf-8")
    return path


def render_all_reports(lake, out_dir: str | Path, generated_at: datetime | None = None) -> list[Path]:
    """Write a report for every department present in ``governance.rule_result`` and the index;
    return the department reports' paths (sorted by department) followed by index.html."""
    when = generated_at or datetime.now(UTC)
    departments = assessment.departments(lake)
    paths = [render_department_report(lake, d, out_dir, when) for d in departments]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [*paths, render_index(lake, departments, out_dir, when)]
