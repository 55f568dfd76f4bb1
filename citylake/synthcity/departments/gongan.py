"""公安 (public security): the household registry of permanent residents, 常住人口 ``CZRK``.

The authoritative source of identity and 户籍 address. Uppercase pinyin-initial names, dates as
``CHAR(8)`` yyyymmdd, GB codes for sex and ethnicity, a cancellation flag for the deceased.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import (
    NO_DAY,
    Column,
    RenderContext,
    TableSpec,
    fmt_dates,
    render_sex,
)

COLUMNS = (
    Column("RYID", sa.String(20), "key", "人员编号", nullable=False),
    Column("GMSFHM", sa.String(32), "id_number", "公民身份号码"),
    Column("XM", sa.String(50), "person_name", "姓名"),
    Column("XB", sa.String(1), "sex", "性别(GB/T 2261.1)", fmt="gb"),
    Column("MZ", sa.String(2), "ethnicity", "民族(GB/T 3304)", fmt="code"),
    Column("CSRQ", sa.String(8), "date_str", "出生日期", fmt="%Y%m%d"),
    Column("HH", sa.String(20), "text", "户号", role="household"),
    Column("YHZGX", sa.String(2), "code", "与户主关系(GB/T 4761)"),
    Column("HJDZ", sa.String(200), "address", "户籍地址", role="address"),
    Column("HYZK", sa.String(2), "code", "婚姻状况(GB/T 2261.2)"),
    Column("LXDH", sa.String(20), "phone", "联系电话"),
    Column("ZXBS", sa.String(1), "code", "注销标识(0正常 1注销)"),
    Column("ZXRQ", sa.String(8), "date_str", "注销日期", fmt="%Y%m%d"),
    Column("ZXYY", sa.String(20), "text", "注销原因"),
    Column("GXSJ", sa.DateTime(), "timestamp", "更新时间"),
)


def render_czrk(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    h = w.households.set_index("household_id")
    addr = w.addresses.set_index("address_id")["text"]
    address_id = p["household_id"].map(h["address_id"])
    spec = TABLES[0]
    col = {c.name: c for c in COLUMNS}
    dead = p["death_days"].to_numpy() != NO_DAY
    frame = pd.DataFrame({
        "RYID": ctx.keys.take(spec, len(p)),
        "GMSFHM": p["id_number"].to_numpy(),
        "XM": p["name"].to_numpy(),
        "XB": render_sex(p["male"], col["XB"]).to_numpy(),
        "MZ": p["ethnicity"].to_numpy(),
        "CSRQ": fmt_dates(p["birth_days"], "%Y%m%d").to_numpy(),
        "HH": p["household_id"].map(h["hukou_number"]).to_numpy(),
        "YHZGX": p["relation"].to_numpy(),
        "HJDZ": address_id.map(addr).to_numpy(),
        "HYZK": p["marital_status"].to_numpy(),
        "LXDH": p["mobile"].to_numpy(),
        "ZXBS": np.where(dead, "1", "0"),
        "ZXRQ": fmt_dates(np.where(dead, p["death_days"] + 3, NO_DAY), "%Y%m%d").to_numpy(),
        "ZXYY": np.where(dead, "死亡", None),
        "GXSJ": ctx.update_times(len(p), np.maximum(p["birth_days"], p["death_days"])).to_numpy(),
        "_truth_subject": p["person_id"].to_numpy(),
        "_truth_household": p["household_id"].to_numpy(),
        "_truth_address": address_id.to_numpy(),
    })
    return frame


TABLES = (
    TableSpec("gongan", "CZRK", "常住人口信息", key="RYID", key_prefix="3701", key_width=12, columns=COLUMNS,
              roles={"subject": "person", "household": "household", "address": "address"}, render=render_czrk,
              update_column="GXSJ", description="公安 户籍: one row per registered resident, the deceased cancelled"),
)
