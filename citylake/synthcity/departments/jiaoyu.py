"""教育 (education): student registry, 学籍 ``xj_xsjbxx``.

National student-registry naming (xjh 学籍号 = 'G' + ID number, xbm, mzm …) with ethnicity written
out in Chinese; one row per school-age child (6-18), with a guardian.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.schemas.reference import code_table
from citylake.synthcity.departments.base import (
    Column,
    RenderContext,
    TableSpec,
    as_dates,
    days_of,
    render_sex,
)

COLUMNS = (
    Column("xsid", sa.String(16), "key", "学生ID", nullable=False),
    Column("xjh", sa.String(20), "text", "全国学籍号"),
    Column("xm", sa.String(50), "person_name", "姓名"),
    Column("xbm", sa.String(1), "sex", "性别码", fmt="gb"),
    Column("csrq", sa.Date(), "date", "出生日期"),
    Column("mzm", sa.String(20), "ethnicity", "民族", fmt="name"),
    Column("sfzjh", sa.String(32), "id_number", "身份证件号"),
    Column("xxmc", sa.String(100), "text", "学校名称", role="school"),
    Column("nj", sa.String(10), "code", "年级"),
    Column("jtzz", sa.String(200), "address", "家庭住址", role="address"),
    Column("jhrxm", sa.String(50), "person_name", "监护人姓名", role="guardian"),
    Column("jhrsfzjh", sa.String(32), "id_number", "监护人身份证件号", role="guardian"),
    Column("jhrgx", sa.String(10), "code", "监护人关系", role="guardian"),
    Column("gxsj", sa.DateTime(), "timestamp", "更新时间"),
)
GRADES = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三", "高一", "高二", "高三")


def render_xsjbxx(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    age_days = days_of(ctx.as_of) - p["birth_days"]
    kids = p[(age_days >= 6 * 365.25) & (age_days < 18 * 365.25) & p["alive"]]
    # School year starts 1 September; a child starts grade 1 the September after turning six.
    school_year = ctx.as_of.year if ctx.as_of.month >= 9 else ctx.as_of.year - 1
    birth = pd.to_datetime(kids["birth_days"], unit="D")
    first_year = birth.dt.year + 6 + (birth.dt.month >= 9).astype(int)
    grade = (school_year - first_year).clip(0, len(GRADES) - 1).to_numpy()
    people = w.persons.set_index("person_id")
    alive = people["alive"]
    guardian_id = kids["mother_id"].where(kids["mother_id"].map(alive).eq(True), kids["father_id"])
    head = w.persons[w.persons["role"].eq("head")].set_index("household_id")["person_id"]
    guardian_id = guardian_id.where(guardian_id.map(alive).eq(True), kids["household_id"].map(head))
    g = people.reindex(guardian_id)
    relation = np.where(guardian_id.to_numpy() == kids["mother_id"].to_numpy(), "母亲",
                        np.where(guardian_id.to_numpy() == kids["father_id"].to_numpy(), "父亲", "祖父母"))
    ethnicity_names = code_table("ethnicity_gbt3304")
    h = w.households.set_index("household_id")
    addr = w.addresses.set_index("address_id")
    address_id = kids["household_id"].map(h["address_id"])
    district = address_id.map(addr["district"])
    road = address_id.map(addr["road"])
    level = np.where(grade < 6, "小学", np.where(grade < 9, "初级中学", "高级中学"))
    school = "济南市" + district + road.str[:2] + pd.Series(level, index=kids.index)
    col = {c.name: c for c in COLUMNS}
    spec = TABLES[0]
    return pd.DataFrame({
        "xsid": ctx.keys.take(spec, len(kids)),
        "xjh": ("G" + kids["id_number"]).to_numpy(),
        "xm": kids["name"].to_numpy(),
        "xbm": render_sex(kids["male"], col["xbm"]).to_numpy(),
        "csrq": as_dates(kids["birth_days"]).to_numpy(),
        "mzm": kids["ethnicity"].map(ethnicity_names).to_numpy(),
        "sfzjh": kids["id_number"].to_numpy(),
        "xxmc": school.to_numpy(),
        "nj": np.asarray(GRADES, dtype=object)[grade],
        "jtzz": address_id.map(addr["text"]).str.replace("山东省", "", n=1).to_numpy(),
        "jhrxm": g["name"].to_numpy(),
        "jhrsfzjh": g["id_number"].to_numpy(),
        "jhrgx": relation,
        "gxsj": ctx.update_times(len(kids), np.full(len(kids), days_of(ctx.as_of) - 400)).to_numpy(),
        "_truth_subject": kids["person_id"].to_numpy(),
        "_truth_guardian": guardian_id.to_numpy(),
        "_truth_address": address_id.to_numpy(),
        "_truth_school": school.to_numpy(),
    })


TABLES = (
    TableSpec("jiaoyu", "xj_xsjbxx", "学生基本信息", key="xsid", key_prefix="XS", key_width=10, columns=COLUMNS,
              roles={"subject": "person", "guardian": "person", "address": "address", "school": "school"},
              render=render_xsjbxx, update_column="gxsj", description="教育: the registry of school-age pupils"),
)
