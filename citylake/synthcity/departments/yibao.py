"""医保 (healthcare security): medical insurance enrolment, ``psn_insu_d``.

National medical-insurance platform naming (psn_no, certno, insutype …), lowercase, DATE columns.
Employees are in 职工医保 (310) through their employer, everyone else in 城乡居民医保 (390);
enrolments of the deceased are terminated (4) — unless the death never reached the system.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import (
    NO_DAY,
    Column,
    RenderContext,
    TableSpec,
    as_dates,
    days_of,
    render_sex,
)

COLUMNS = (
    Column("psn_insu_id", sa.String(20), "key", "人员参保关系ID", nullable=False),
    Column("psn_no", sa.String(30), "text", "人员编号"),
    Column("psn_cert_type", sa.String(6), "code", "人员证件类型(01 居民身份证)"),
    Column("certno", sa.String(50), "id_number", "证件号码"),
    Column("psn_name", sa.String(50), "person_name", "人员姓名"),
    Column("gend", sa.String(6), "sex", "性别", fmt="gb"),
    Column("brdy", sa.Date(), "date", "出生日期"),
    Column("naty", sa.String(3), "ethnicity", "民族", fmt="code"),
    Column("insutype", sa.String(6), "code", "险种类型(310 职工基本医疗保险 390 城乡居民基本医疗保险)"),
    Column("psn_insu_stas", sa.String(3), "insurance_status", "人员参保状态(1 正常参保 4 终止参保)", fmt="1"),
    Column("emp_name", sa.String(200), "org_name", "单位名称", role="employer"),
    Column("begndate", sa.Date(), "date", "开始日期", role="enrolment"),
    Column("enddate", sa.Date(), "date", "结束日期", role="enrolment"),
    Column("updt_time", sa.DateTime(), "timestamp", "数据更新时间"),
)


# 城镇居民基本医疗保险 started in pilot cities in July 2007; residents' enrolments begin then at the earliest.
RESIDENT_SCHEME_START = days_of(date(2007, 7, 1))


def render_psn_insu(ctx: RenderContext, coverage: float | None = None) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    if ctx.day == 0:
        keep = ctx.rng.random(len(p)) < (coverage if coverage is not None else _coverage(ctx))
        p = p[keep]
    e = w.enterprises.set_index("enterprise_id")
    employed = p["employer_id"].notna().to_numpy()
    col = {c.name: c for c in COLUMNS}
    dead = p["death_days"].to_numpy() != NO_DAY
    begin = np.where(employed, p["employment_start_days"], np.maximum(p["birth_days"] + 30, RESIDENT_SCHEME_START))
    spec = TABLES[0]
    keys = ctx.keys.take(spec, len(p))
    return pd.DataFrame({
        "psn_insu_id": keys,
        "psn_no": pd.Series(keys).str.replace("YB", "3701", n=1).to_numpy(),
        "psn_cert_type": "01",
        "certno": p["id_number"].to_numpy(),
        "psn_name": p["name"].to_numpy(),
        "gend": render_sex(p["male"], col["gend"]).to_numpy(),
        "brdy": as_dates(p["birth_days"]).to_numpy(),
        "naty": p["ethnicity"].to_numpy(),
        "insutype": np.where(employed, "310", "390"),
        "psn_insu_stas": np.where(dead, "4", "1"),
        "emp_name": p["employer_id"].map(e["name"]).to_numpy(),
        "begndate": as_dates(begin).to_numpy(),
        "enddate": as_dates(np.where(dead, p["death_days"], NO_DAY)).to_numpy(),
        "updt_time": ctx.update_times(len(p), np.maximum(begin, p["death_days"])).to_numpy(),
        "_truth_subject": p["person_id"].to_numpy(),
        "_truth_employer": p["employer_id"].to_numpy(),
        "_truth_enrolment": p["person_id"].to_numpy(),
        "_eligible_deceased": dead,
    })


def _coverage(ctx: RenderContext) -> float:
    return ctx.world.config.medical_insurance_coverage


TABLES = (
    TableSpec("yibao", "psn_insu_d", "人员参保信息", key="psn_insu_id", key_prefix="YB", key_width=14,
              columns=COLUMNS, roles={"subject": "person", "employer": "enterprise", "enrolment": "person"},
              render=render_psn_insu, update_column="updt_time",
              description="医保: medical insurance enrolments, employees (310) and residents (390)"),
)
