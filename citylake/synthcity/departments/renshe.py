"""人社 (human resources and social security): employees' pension insurance, ``AC02``.

金保工程 naming (aac002 公民身份号码, aab001 单位编号 …); birth dates as integers yyyymmdd. The
authoritative source of employment.
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
    render_date,
    render_sex,
)

COLUMNS = (
    Column("aac001", sa.String(16), "key", "个人编号", nullable=False),
    Column("aac002", sa.String(32), "id_number", "公民身份号码"),
    Column("aac003", sa.String(50), "person_name", "姓名"),
    Column("aac004", sa.String(1), "sex", "性别", fmt="gb"),
    Column("aac005", sa.String(2), "ethnicity", "民族", fmt="code"),
    Column("aac006", sa.Integer(), "date_int", "出生日期"),
    Column("aab001", sa.String(12), "text", "单位编号", role="employer"),
    Column("aab998", sa.String(32), "uscc", "统一社会信用代码", role="employer"),
    Column("aab004", sa.String(100), "org_name", "单位名称", role="employer"),
    Column("aae140", sa.String(3), "code", "险种类型(110 企业职工基本养老保险)"),
    Column("aac008", sa.String(1), "insurance_status", "参保状态(1 参保缴费 2 暂停缴费 3 终止参保)", fmt="1"),
    Column("aae030", sa.Integer(), "date_int", "参保开始日期", role="employment"),
    Column("aae036", sa.DateTime(), "timestamp", "经办时间"),
)


def render_ac02(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    p = p[p["employer_id"].notna()]
    e = w.enterprises.set_index("enterprise_id").reindex(p["employer_id"])
    col = {c.name: c for c in COLUMNS}
    spec = TABLES[0]
    dead = p["death_days"].to_numpy() != NO_DAY
    return pd.DataFrame({
        "aac001": ctx.keys.take(spec, len(p)),
        "aac002": p["id_number"].to_numpy(),
        "aac003": p["name"].to_numpy(),
        "aac004": render_sex(p["male"], col["aac004"]).to_numpy(),
        "aac005": p["ethnicity"].to_numpy(),
        "aac006": render_date(p["birth_days"], col["aac006"]),
        "aab001": ("S" + pd.Series(e.index).str[1:]).to_numpy(),
        "aab998": e["uscc"].to_numpy(),
        "aab004": e["name"].to_numpy(),
        "aae140": "110",
        "aac008": np.where(dead, "3", "1"),
        "aae030": render_date(p["employment_start_days"], col["aae030"]),
        "aae036": ctx.update_times(len(p), p["employment_start_days"].to_numpy()).to_numpy(),
        "_truth_subject": p["person_id"].to_numpy(),
        "_truth_employer": p["employer_id"].to_numpy(),
        "_truth_employment": p["person_id"].to_numpy(),
        "_eligible_deceased": dead,
    })


TABLES = (
    TableSpec("renshe", "AC02", "企业职工养老保险参保信息", key="aac001", key_prefix="37", key_width=12,
              columns=COLUMNS, roles={"subject": "person", "employer": "enterprise", "employment": "person"},
              render=render_ac02, update_column="aae036", description="人社: employees insured by their employers"),
)
