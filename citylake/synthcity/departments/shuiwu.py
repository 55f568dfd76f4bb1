"""税务 (taxation): tax returns, 申报信息 ``sb_sbxx``.

Golden-tax-system naming in lowercase (nsrsbh 纳税人识别号 = the USCC, skssqq 税款所属期起 …),
periods as text dates. Active enterprises file monthly VAT and quarterly corporate income tax for
the last six months; shell companies file zero returns or none.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import Column, RenderContext, TableSpec, as_dates, days_of, fmt_dates
from citylake.synthcity.departments.minzheng import _decimal

COLUMNS = (
    Column("sbxh", sa.String(20), "key", "申报序号", nullable=False),
    Column("nsrsbh", sa.String(32), "uscc", "纳税人识别号"),
    Column("nsrmc", sa.String(200), "org_name", "纳税人名称"),
    Column("zsxm_dm", sa.String(5), "code", "征收项目代码(10101 增值税 10104 企业所得税)"),
    Column("skssqq", sa.String(10), "date_str", "税款所属期起", role="period", fmt="%Y-%m-%d"),
    Column("skssqz", sa.String(10), "date_str", "税款所属期止", role="period", fmt="%Y-%m-%d"),
    Column("ynse", sa.Numeric(18, 2), "number", "应纳税额(元)"),
    Column("sbrq", sa.Date(), "date", "申报日期", role="period"),
    Column("xgrq", sa.DateTime(), "timestamp", "修改日期"),
)
MONTHS = 6


def _periods(as_of: date) -> list[tuple[date, date, str]]:
    """The last MONTHS monthly VAT periods and the quarters among them, each filed by the 15th after."""
    periods = []
    y, m = as_of.year, as_of.month
    for _ in range(MONTHS):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        start = date(y, m, 1)
        end = date(y + (m == 12), m % 12 + 1, 1)
        periods.append((start, end, "10101"))
        if m % 3 == 0:
            periods.append((date(y, m - 2, 1), end, "10104"))
    return periods


def render_sbxx(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    e = ctx.scope.enterprises(w.enterprises)
    e = e[(e["status"] == "active") & (e["established_days"] < days_of(ctx.as_of) - 200)]
    # Shell companies: half file zero returns, half file nothing.
    files = ~e["is_shell"].to_numpy() | (ctx.rng.random(len(e)) < 0.5)
    e = e[files]
    frames = []
    for start, end, item in _periods(ctx.as_of):
        filed = days_of(end) + ctx.rng.integers(0, 14, len(e))
        if ctx.day > 0:
            continue
        scale = (e["employees"].to_numpy() + 1) * (3000.0 if item == "10101" else 8000.0)
        amount = np.where(e["is_shell"].to_numpy(), 0.0, np.round(scale * ctx.rng.lognormal(0, 0.8, len(e)), 2))
        frames.append(pd.DataFrame({
            "nsrsbh": e["uscc"].to_numpy(), "nsrmc": e["name"].to_numpy(), "zsxm_dm": item,
            "skssqq": fmt_dates(np.full(len(e), days_of(start)), "%Y-%m-%d").to_numpy(),
            "skssqz": fmt_dates(np.full(len(e), days_of(end) - 1), "%Y-%m-%d").to_numpy(),
            "ynse": [_decimal(a) for a in amount], "sbrq": as_dates(filed).to_numpy(),
            "xgrq": ctx.update_times(len(e), filed).to_numpy(),
            "_truth_subject": e["enterprise_id"].to_numpy(), "_truth_period": e["enterprise_id"].to_numpy(),
        }))
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[c.name for c in COLUMNS])
    frame.insert(0, "sbxh", ctx.keys.take(TABLES[0], len(frame)))
    return frame


TABLES = (
    TableSpec("shuiwu", "sb_sbxx", "纳税申报信息", key="sbxh", key_prefix="1", key_width=18, columns=COLUMNS,
              roles={"subject": "enterprise", "period": "enterprise"}, render=render_sbxx, update_column="xgrq",
              description="税务: monthly VAT and quarterly corporate income tax returns of the last six months"),
)
