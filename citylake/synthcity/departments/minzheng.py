"""民政 (civil affairs): marriage registration ``HYDJ``, death registration ``SWDJ`` (殡葬) and the
minimum-living-allowance members list ``dbjz_cy`` (低保, a full snapshot with no update column).

The authoritative source of marriage and death.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import Column, RenderContext, TableSpec, as_dates, days_of, fmt_dates

HYDJ_COLUMNS = (
    Column("DJID", sa.String(16), "key", "登记编号", nullable=False),
    Column("YWLX", sa.String(4), "code", "业务类型(结婚/离婚)"),
    Column("NFXM", sa.String(50), "person_name", "男方姓名", role="husband"),
    Column("NFSFZH", sa.String(32), "id_number", "男方身份证号", role="husband"),
    Column("NFCSRQ", sa.String(10), "date_str", "男方出生日期", role="husband", fmt="%Y-%m-%d"),
    Column("NVFXM", sa.String(50), "person_name", "女方姓名", role="wife"),
    Column("NVFSFZH", sa.String(32), "id_number", "女方身份证号", role="wife"),
    Column("NVFCSRQ", sa.String(10), "date_str", "女方出生日期", role="wife", fmt="%Y-%m-%d"),
    Column("DJRQ", sa.String(10), "date_str", "登记日期", role="marriage", fmt="%Y-%m-%d"),
    Column("DJJG", sa.String(60), "text", "登记机关", role="marriage"),
    Column("CZSJ", sa.DateTime(), "timestamp", "操作时间"),
)
SWDJ_COLUMNS = (
    Column("SWDJBH", sa.String(16), "key", "死亡登记编号", nullable=False),
    Column("SZXM", sa.String(50), "person_name", "死者姓名"),
    Column("SZSFZH", sa.String(32), "id_number", "死者身份证号"),
    Column("XB", sa.String(1), "sex", "性别", fmt="gb"),
    Column("SWRQ", sa.String(10), "date_str", "死亡日期", fmt="%Y-%m-%d"),
    Column("SWYY", sa.String(20), "text", "死亡原因"),
    Column("HHRQ", sa.String(10), "date_str", "火化日期", fmt="%Y-%m-%d"),
    Column("HHJG", sa.String(40), "text", "火化机构"),
    Column("DJSJ", sa.DateTime(), "timestamp", "登记时间"),
)
DBJZ_COLUMNS = (
    Column("cyid", sa.String(14), "key", "成员编号", nullable=False),
    Column("jtbh", sa.String(20), "text", "家庭编号", role="household"),
    Column("xm", sa.String(50), "person_name", "姓名"),
    Column("sfzh", sa.String(32), "id_number", "身份证号"),
    Column("yhzgx", sa.String(10), "text", "与户主关系"),
    Column("jtzz", sa.String(200), "address", "家庭住址", role="address"),
    Column("bzje", sa.Numeric(10, 2), "number", "月保障金额(元)"),
    Column("pzrq", sa.Date(), "date", "批准日期", role="household"),
    Column("jzlx", sa.String(10), "text", "救助类型"),
)

FIRST_DIGITAL_MARRIAGE = date(1998, 1, 1)
DEATH_RECORDS_YEARS = 3
_RELATION_TEXT = {"02": "户主", "10": "配偶", "20": "子女", "30": "子女", "41": "孙子女", "42": "孙子女",
                  "51": "父母", "52": "父母"}
_CAUSES = ("疾病", "疾病", "疾病", "衰老", "意外")


def render_hydj(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    m = ctx.scope.marriages(w.marriages)
    people = w.persons.set_index("person_id")
    districts = {d.code: d.name for d in _districts()}
    events = []
    for kind, day_col in (("结婚", "married_days"), ("离婚", "divorced_days")):
        e = m[m[day_col] >= days_of(FIRST_DIGITAL_MARRIAGE)]
        if ctx.day > 0:
            e = e[e[day_col] == days_of(ctx.as_of) + ctx.day]
        events.append(e.assign(kind=kind, day=e[day_col]))
    e = pd.concat(events, ignore_index=True)
    husband = people.reindex(e["husband_id"])
    wife = people.reindex(e["wife_id"])
    office = husband["district_code"].map(districts).fillna("济南市").to_numpy()
    spec = TABLES[0]
    return pd.DataFrame({
        "DJID": ctx.keys.take(spec, len(e)),
        "YWLX": e["kind"].to_numpy(),
        "NFXM": husband["name"].to_numpy(),
        "NFSFZH": husband["id_number"].to_numpy(),
        "NFCSRQ": fmt_dates(husband["birth_days"], "%Y-%m-%d").to_numpy(),
        "NVFXM": wife["name"].to_numpy(),
        "NVFSFZH": wife["id_number"].to_numpy(),
        "NVFCSRQ": fmt_dates(wife["birth_days"], "%Y-%m-%d").to_numpy(),
        "DJRQ": fmt_dates(e["day"], "%Y-%m-%d").to_numpy(),
        "DJJG": pd.Series(office).radd("济南市").str.replace("济南市济南市", "济南市").add("民政局婚姻登记处").to_numpy(),
        "CZSJ": ctx.update_times(len(e), e["day"].to_numpy()).to_numpy(),
        "_truth_subject": e["marriage_id"].to_numpy(),
        "_truth_marriage": e["marriage_id"].to_numpy(),
        "_truth_husband": e["husband_id"].to_numpy(),
        "_truth_wife": e["wife_id"].to_numpy(),
    })


def render_swdj(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    p = ctx.scope.persons(w.persons)
    horizon = days_of(ctx.as_of) - int(DEATH_RECORDS_YEARS * 365.25)
    d = p[p["death_days"] >= horizon]
    spec = TABLES[1]
    cremated = d["death_days"].to_numpy() + ctx.rng.integers(2, 6, len(d))
    return pd.DataFrame({
        "SWDJBH": ctx.keys.take(spec, len(d)),
        "SZXM": d["name"].to_numpy(),
        "SZSFZH": d["id_number"].to_numpy(),
        "XB": np.where(d["male"], "1", "2"),
        "SWRQ": fmt_dates(d["death_days"], "%Y-%m-%d").to_numpy(),
        "SWYY": np.asarray(_CAUSES, dtype=object)[ctx.rng.integers(0, len(_CAUSES), len(d))],
        "HHRQ": fmt_dates(cremated, "%Y-%m-%d").to_numpy(),
        "HHJG": "济南市殡仪馆",
        "DJSJ": ctx.update_times(len(d), cremated).to_numpy(),
        "_truth_subject": d["person_id"].to_numpy(),
    })


def render_dbjz(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    h = w.households[w.households["low_income"]]
    # The living members, and those who died but are not yet struck off (world.dibao_after_death).
    listed = w.persons["alive"] | w.persons.get("dibao_after_death", pd.Series(False, index=w.persons.index)).eq(True)
    p = w.persons[w.persons["household_id"].isin(h["household_id"]) & listed]
    p = ctx.scope.persons(p)
    hh = h.set_index("household_id")
    addr = w.addresses.set_index("address_id")["text"]
    address_id = p["household_id"].map(hh["address_id"])
    rural = address_id.map(addr).str.contains("镇").to_numpy()
    spec = TABLES[2]
    # Allowance per member: the gap to the standard (1,000 yuan a month in the city, less in towns).
    standard = np.where(rural, 800.0, 1000.0)
    amount = np.round(standard * ctx.rng.uniform(0.3, 1.0, len(p)), 2)
    return pd.DataFrame({
        "cyid": ctx.keys.take(spec, len(p)),
        "jtbh": p["household_id"].map(hh["hukou_number"]).astype(str).radd("DB").to_numpy(),
        "xm": p["name"].to_numpy(),
        "sfzh": p["id_number"].to_numpy(),
        "yhzgx": p["relation"].map(_RELATION_TEXT).to_numpy(),
        "jtzz": address_id.map(addr).to_numpy(),
        "bzje": [_decimal(a) for a in amount],
        "pzrq": as_dates(p["household_id"].map(hh["low_income_since_days"])).to_numpy(),
        "jzlx": np.where(rural, "农村低保", "城市低保"),
        "_truth_subject": p["person_id"].to_numpy(),
        "_truth_household": p["household_id"].to_numpy(),
        "_truth_address": address_id.to_numpy(),
    })


def _decimal(value: float):
    from decimal import Decimal

    return Decimal(f"{value:.2f}")


def _districts():
    from citylake.schemas.reference import gazetteer

    return gazetteer().districts


TABLES = (
    TableSpec("minzheng", "HYDJ", "婚姻登记信息", key="DJID", key_prefix="HY", key_width=10, columns=HYDJ_COLUMNS,
              roles={"subject": "marriage", "marriage": "marriage", "husband": "person", "wife": "person"},
              render=render_hydj, update_column="CZSJ", description="民政: marriage and divorce registrations since 1998"),
    TableSpec("minzheng", "SWDJ", "死亡(火化)登记信息", key="SWDJBH", key_prefix="SW", key_width=10,
              columns=SWDJ_COLUMNS, roles={"subject": "person"}, render=render_swdj, update_column="DJSJ",
              description="民政 殡葬: deaths of the last three years"),
    TableSpec("minzheng", "dbjz_cy", "最低生活保障家庭成员", key="cyid", key_prefix="C", key_width=10,
              columns=DBJZ_COLUMNS, roles={"subject": "person", "household": "household", "address": "address"},
              render=render_dbjz, update_column=None,
              description="民政 低保: current members of allowance households; a full snapshot, rows are deleted"),
)
