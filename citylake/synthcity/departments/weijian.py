"""卫健 (health commission): birth medical certificates, 出生医学证明 ``CSYXZM``.

The authoritative source of birth. Issued for children born in the city since 2008; the child has
no ID number yet, the parents are identified by theirs.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import (
    Column,
    RenderContext,
    TableSpec,
    as_dates,
    days_of,
    render_date,
    render_sex,
)

COLUMNS = (
    Column("CSZMBH", sa.String(12), "key", "出生医学证明编号", nullable=False),
    Column("XSEXM", sa.String(50), "person_name", "新生儿姓名"),
    Column("XSEXB", sa.String(2), "sex", "新生儿性别", fmt="zh"),
    Column("CSSJ", sa.DateTime(), "datetime", "出生时间"),
    Column("CSDD", sa.String(100), "text", "出生地点"),
    Column("MQXM", sa.String(50), "person_name", "母亲姓名", role="mother"),
    Column("MQSFZH", sa.String(32), "id_number", "母亲身份证号", role="mother"),
    Column("FQXM", sa.String(50), "person_name", "父亲姓名", role="father"),
    Column("FQSFZH", sa.String(32), "id_number", "父亲身份证号", role="father"),
    Column("QFRQ", sa.Date(), "date", "签发日期"),
    Column("UPDATE_TIME", sa.DateTime(), "timestamp", "更新时间"),
)

FIRST_CERTIFIED_BIRTH = date(2008, 1, 1)
_HOSPITALS = ("人民医院", "妇幼保健院", "中医医院", "第一人民医院")


def render_csyxzm(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    city_codes = {d.code for d in _gazetteer().districts} | {
        h.code for d in _gazetteer().districts for h in d.historical_codes}
    born_here = p["birth_division_code"].isin(city_codes) & (p["birth_days"] >= days_of(FIRST_CERTIFIED_BIRTH))
    kids = p[born_here & p["mother_id"].notna()]
    people = w.persons.set_index("person_id")
    mother = people.reindex(kids["mother_id"])
    father = people.reindex(kids["father_id"])
    col = {c.name: c for c in COLUMNS}
    district_names = {d.code: d.short_name for d in _gazetteer().districts}
    hospital = (pd.Series(kids["district_code"].map(district_names).to_numpy()).radd("济南市")
                + np.asarray(_HOSPITALS, dtype=object)[ctx.rng.integers(0, len(_HOSPITALS), len(kids))])
    spec = TABLES[0]
    issued = kids["birth_days"].to_numpy() + ctx.rng.integers(1, 30, len(kids))
    return pd.DataFrame({
        "CSZMBH": ctx.keys.take(spec, len(kids)),
        "XSEXM": kids["name"].to_numpy(),
        "XSEXB": render_sex(kids["male"], col["XSEXB"]).to_numpy(),
        "CSSJ": render_date(kids["birth_days"], col["CSSJ"]).to_numpy(),
        "CSDD": hospital.to_numpy(),
        "MQXM": mother["name"].to_numpy(),
        "MQSFZH": mother["id_number"].to_numpy(),
        "FQXM": father["name"].to_numpy(),
        "FQSFZH": father["id_number"].to_numpy(),
        "QFRQ": as_dates(issued).to_numpy(),
        "UPDATE_TIME": ctx.update_times(len(kids), issued).to_numpy(),
        "_truth_subject": kids["person_id"].to_numpy(),
        "_truth_mother": kids["mother_id"].to_numpy(),
        "_truth_father": kids["father_id"].to_numpy(),
    })


def _gazetteer():
    from citylake.schemas.reference import gazetteer

    return gazetteer()


TABLES = (
    TableSpec("weijian", "CSYXZM", "出生医学证明", key="CSZMBH", key_prefix="Q", key_width=9, columns=COLUMNS,
              roles={"subject": "person", "mother": "person", "father": "person"}, render=render_csyxzm,
              update_column="UPDATE_TIME", description="卫健: birth certificates of children born in the city since 2008"),
)
