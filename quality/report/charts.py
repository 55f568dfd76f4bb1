"""The report's charts as inline SVG (matplotlib, no pyplot state, no files).

Text stays text (``svg.fonttype = none``): the browser draws the Chinese labels with the reader's
fonts, so the server needs no CJK font and the report embeds none. Matplotlib still measures the
labels to lay them out; without a CJK font it measures them with a fallback, so the layouts below
use fixed margins with room to spare instead of tight bounding boxes, and its "Glyph missing"
warnings are silenced here. The SVG is stripped of its XML prologue, DTD and namespace URLs so the
report holds no external address at all, and each chart gets its own id salt so two charts in one
page never share an element id.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
# Families named in the SVG, first found wins in the browser; the generic sans-serif ends the list.
CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC",
             "SimHei", "DejaVu Sans"]
COLORS = ["#3b6ea5", "#e08a2c", "#4f9a5b", "#b0413e", "#7b5ea7", "#8c8c8c"]
OVERALL_COLOR = "#1f2d3d"
GRID = "#d9dee5"
MAX_TICKS = 12


@contextmanager
def _style(name: str):
    rc = {"svg.fonttype": "none", "svg.hashsalt": f"citylake-{name}", "font.family": "sans-serif",
          "font.sans-serif": CJK_FONTS, "font.size": 10, "axes.unicode_minus": False,
          "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#6b7785"}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        yield


def _inline(svg: str, name: str, label: str) -> str:
    """Matplotlib's SVG document as an element to inline in HTML."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return svg.replace("<svg", f'<svg class="chart" data-chart="{name}" role="img" aria-label="{label}"', 1)


def _render(fig: Figure, name: str, label: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return _inline(buffer.getvalue(), name, label)


def percent(value: float) -> str:
    """0.9965 → '99.7%'; NaN → '未评价'."""
    return "未评价" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def indicator_bars(names: Sequence[str], scores: Sequence[float]) -> str:
    """Bar chart of the indicator scores (0-100%); an indicator not evaluated gets no bar but a
    grey 未评价 label, so it cannot be read as 0 or 100."""
    with _style("indicators"):
        fig = Figure(figsize=(6.4, 3.0))
        fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.14)
        ax = fig.add_subplot()
        positions = range(len(names))
        for i, (name, score) in enumerate(zip(names, scores, strict=True)):
            if score is None or math.isnan(score):
                ax.text(i, 4, "未评价", ha="center", va="bottom", color="#8c8c8c", fontsize=9)
                continue
            ax.bar(i, 100 * score, width=0.6, color=COLORS[i % len(COLORS)], label=name)
            ax.text(i, 100 * score + 2, percent(score), ha="center", va="bottom", fontsize=9)
        ax.set_xticks(list(positions), list(names))
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylim(0, 112)
        ax.set_yticks([0, 20, 40, 60, 80, 100])
        ax.set_ylabel("得分 (%)")
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        return _render(fig, "indicators", "各评价指标得分")


def _tick_label(point: int, when: datetime | pd.Timestamp) -> str:
    local = pd.Timestamp(when).tz_convert(DISPLAY_TZ) if pd.Timestamp(when).tzinfo else pd.Timestamp(when)
    return f"第{point}轮\n{local:%m-%d %H:%M}"


def trend_lines(trend: pd.DataFrame, names: Sequence[str], overall: str, time_column: str = "ended_at") -> str:
    """Line chart of the overall score (bold) and each indicator that was ever evaluated, one point
    per batch round; a round where an indicator was 未评价 leaves a gap. ``trend`` has rows."""
    with _style("trend"):
        fig = Figure(figsize=(7.2, 3.4))
        fig.subplots_adjust(left=0.09, right=0.8, top=0.92, bottom=0.2)
        ax = fig.add_subplot()
        x = trend["point"].tolist()
        for i, name in enumerate(names):
            values = pd.to_numeric(trend[name], errors="coerce") * 100
            if values.notna().any():
                ax.plot(x, values, marker="o", markersize=3.5, linewidth=1.2, color=COLORS[i % len(COLORS)],
                        label=name)
        totals = pd.to_numeric(trend[overall], errors="coerce") * 100
        ax.plot(x, totals, marker="o", markersize=5, linewidth=2.6, color=OVERALL_COLOR, label=overall)
        shown = x if len(x) <= MAX_TICKS else x[:: math.ceil(len(x) / MAX_TICKS)]
        labels = {p: _tick_label(p, t) for p, t in zip(trend["point"], trend[time_column], strict=True)}
        ax.set_xticks(shown, [labels[p] for p in shown], fontsize=8)
        ax.set_xlim(min(x) - 0.5, max(x) + 0.5)
        low = pd.concat([pd.to_numeric(trend[n], errors="coerce") for n in [*names, overall]]).min() * 100
        ax.set_ylim(max(0.0, math.floor((low if not math.isnan(low) else 0) / 5) * 5 - 5), 102)
        ax.set_ylabel("得分 (%)")
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=9)
        return _render(fig, "trend", "各批次轮次的质量得分趋势")
