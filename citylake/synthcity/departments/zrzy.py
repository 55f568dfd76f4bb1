"""自然资源 (natural resources and planning): real-estate registration, 不动产登记 ``BDCDJ``.

One row per right holder of a registered property: households' homes (a couple holds them jointly,
共同共有) and some enterprises' offices. Holders are identified by ID number or USCC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import Column, RenderContext, TableSpec, days_of
from citylake.synthcity.departments.minzheng import _decimal

COLUMNS = (
    Column("YWH", sa.String(20), "key", "业务号", nullable=False),
    Column("BDCDYH", sa.String(28), "text", "不动产单元号", role="property"),
    Column("BDCQZH", sa.String(60), "text", "不动产权证号", role="property"),
    Column("QLRMC", sa.String(200), "holder_name", "权利人名称", role="holder"),
    Column("QLRZJZL", sa.String(2), "code", "权利人证件种类(1 身份证 7 营业执照)", role="holder"),
    Column("QLRZJH", sa.String(30), "holder_id", "权利人证件号", role="holder"),
    Column("GYFS", sa.String(10), "code", "共有方式"),
    Column("ZL", sa.String(200), "address", "坐落", role="property"),
    Column("JZMJ", sa.Numeric(12, 2), "number", "建筑面积(平方米)", role="property"),
    Column("GHYT", sa.String(10), "code", "规划用途", role="property"),
    Column("DJSJ", sa.DateTime(), "timestamp", "登记时间", role="property"),
    Column("GXSJ", sa.DateTime(), "timestamp", "更新时间"),
)


def render_bdcdj(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    rng = ctx.rng
    people = w.persons
    h = w.households
    owned = h[rng.random(len(h)) < w.config.home_ownership]
    heads = people[people["role"].eq("head") & people["household_id"].isin(owned["household_id"])]
    spouses = people[people["role"].eq("spouse") & people["household_id"].isin(owned["household_id"])]
    holders = pd.concat([heads, spouses], ignore_index=True)
    # A few 低保 households' heads also hold a second home (what 低保核查 looks for): every 4th
    # owning 低保 household, the home of the next owning household; no random numbers drawn.
    low = owned[owned["low_income"].eq(True)]["household_id"]
    second = heads[heads["household_id"].isin(low.iloc[::4])].copy()
    next_home = dict(zip(owned["household_id"], np.roll(owned["address_id"].to_numpy(), -1), strict=True))
    second["second_address_id"] = second["household_id"].map(next_home)
    holders = ctx.scope.persons(holders)
    second = ctx.scope.persons(second)
    joint = holders["household_id"].isin(spouses["household_id"]).to_numpy()
    address_id = holders["household_id"].map(h.set_index("household_id")["address_id"])
    homes = pd.DataFrame({
        "holder_name": holders["name"].to_numpy(), "holder_doc": "1", "holder_id": holders["id_number"].to_numpy(),
        "share": np.where(joint, "共同共有", "单独所有"), "address_id": address_id.to_numpy(), "use": "住宅",
        "area": np.round(rng.normal(95, 25, len(holders)).clip(30, 300), 2),
        "truth_holder": holders["person_id"].to_numpy(), "holder_type": "person",
    })
    homes = pd.concat([homes, pd.DataFrame({
        "holder_name": second["name"].to_numpy(), "holder_doc": "1", "holder_id": second["id_number"].to_numpy(),
        "share": "单独所有", "address_id": second["second_address_id"].to_numpy(), "use": "住宅", "area": 90.0,
        "truth_holder": second["person_id"].to_numpy(), "holder_type": "person"})], ignore_index=True)
    ent = w.enterprises
    offices = ent[(ent["status"] == "active") & (rng.random(len(ent)) < 0.1)]
    offices = ctx.scope.enterprises(offices)
    office = pd.DataFrame({
        "holder_name": offices["name"].to_numpy(), "holder_doc": "7", "holder_id": offices["uscc"].to_numpy(),
        "share": "单独所有", "address_id": offices["address_id"].to_numpy(), "use": "办公",
        "area": np.round(rng.lognormal(5, 0.8, len(offices)).clip(20, 5000), 2),
        "truth_holder": offices["enterprise_id"].to_numpy(), "holder_type": "enterprise",
    })
    r = pd.concat([homes, office], ignore_index=True)
    addr = w.addresses.set_index("address_id")
    district = r["address_id"].map(addr["district_code"]).to_numpy()
    # 不动产单元号: 6-digit division + 6-digit cadastral zone/subzone + GB/JC + parcel + F + unit number.
    parcel, unit_no = pd.factorize(r["address_id"])[0], rng.integers(1, 9999, len(r))
    unit = (pd.Series(district) + "001001" + np.where(r["use"] == "住宅", "GB", "JC")
            + pd.Series(parcel % 100000).astype(str).str.zfill(5) + "F"
            + pd.Series(unit_no).astype(str).str.zfill(8))
    registered = days_of(ctx.as_of) - rng.integers(30, 365 * 15, len(r))
    year = pd.Series(pd.to_datetime(registered, unit="D").year).astype(str)
    certificate = "鲁(" + year + ")济南市不动产权第" + pd.Series(rng.integers(1, 9_999_999, len(r))).astype(str).str.zfill(7) + "号"
    times = pd.to_datetime(registered, unit="D") + pd.to_timedelta(rng.integers(8 * 3600, 17 * 3600, len(r)), unit="s")
    spec = TABLES[0]
    return pd.DataFrame({
        "YWH": ctx.keys.take(spec, len(r)),
        "BDCDYH": unit.to_numpy(),
        "BDCQZH": certificate.to_numpy(),
        "QLRMC": r["holder_name"].to_numpy(),
        "QLRZJZL": r["holder_doc"].to_numpy(),
        "QLRZJH": r["holder_id"].to_numpy(),
        "GYFS": r["share"].to_numpy(),
        "ZL": r["address_id"].map(addr["text"]).str.replace("山东省", "", n=1).to_numpy(),
        "JZMJ": [_decimal(a) for a in r["area"]],
        "GHYT": r["use"].to_numpy(),
        "DJSJ": np.asarray(times.to_pydatetime(), dtype=object),
        "GXSJ": ctx.update_times(len(r), registered).to_numpy(),
        "_truth_subject": r["truth_holder"].to_numpy(),
        "_truth_holder": r["truth_holder"].to_numpy(),
        "_truth_property": r["address_id"].to_numpy(),
        "_truth_holder_type": r["holder_type"].to_numpy(),
    })


TABLES = (
    TableSpec("zrzy", "BDCDJ", "不动产登记信息", key="YWH", key_prefix="2", key_width=12, columns=COLUMNS,
              roles={"subject": "person|enterprise", "holder": "person|enterprise", "property": "address"},
              render=render_bdcdj, update_column="GXSJ",
              description="自然资源: right holders of registered homes and offices"),
)
