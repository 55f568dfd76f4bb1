"""市场监管 (market regulation): enterprise registration, 企业登记 ``QYDJ``.

The authoritative source of legal entities. Keyed by the internal 主体身份代码 ``PRIPID``; the
USCC is an attribute (and can be mistyped like any other).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import Column, RenderContext, TableSpec, as_dates
from citylake.synthcity.departments.minzheng import _decimal

COLUMNS = (
    Column("PRIPID", sa.String(20), "key", "主体身份代码", nullable=False),
    Column("TYSHXYDM", sa.String(32), "uscc", "统一社会信用代码"),
    Column("QYMC", sa.String(200), "org_name", "企业名称"),
    Column("QYLX", sa.String(50), "code", "企业类型"),
    Column("FDDBR", sa.String(50), "person_name", "法定代表人", role="legal_rep"),
    Column("FDDBRZJHM", sa.String(32), "id_number", "法定代表人证件号码", role="legal_rep"),
    Column("ZS", sa.String(200), "address", "住所", role="address"),
    Column("ZCZB", sa.Numeric(18, 4), "number", "注册资本(万元)"),
    Column("CLRQ", sa.Date(), "date", "成立日期"),
    Column("HYML", sa.String(1), "code", "行业门类(GB/T 4754-2017)"),
    Column("HYDM", sa.String(2), "code", "行业大类代码(GB/T 4754-2017)"),
    Column("DJZT", sa.String(10), "code", "登记状态"),
    Column("DJJG", sa.String(60), "text", "登记机关"),
    Column("GXSJ", sa.DateTime(), "timestamp", "更新时间"),
)

KIND_TEXT = {"enterprise": "有限责任公司(自然人投资或控股)", "individual": "个体工商户", "cooperative": "农民专业合作社"}
STATUS_TEXT = {"active": "存续", "revoked": "吊销", "deregistered": "注销"}


def render_qydj(ctx: RenderContext) -> pd.DataFrame:
    w = ctx.world
    e = ctx.scope.enterprises(w.enterprises)
    people = w.persons.set_index("person_id")
    rep = people.reindex(e["legal_rep_person_id"])
    addr = w.addresses.set_index("address_id")["text"]
    districts = {d.code: d.name for d in _districts()}
    spec = TABLES[0]
    return pd.DataFrame({
        "PRIPID": ctx.keys.take(spec, len(e)),
        "TYSHXYDM": e["uscc"].to_numpy(),
        "QYMC": e["name"].to_numpy(),
        "QYLX": e["kind"].map(KIND_TEXT).to_numpy(),
        "FDDBR": rep["name"].to_numpy(),
        "FDDBRZJHM": rep["id_number"].to_numpy(),
        "ZS": e["address_id"].map(addr).to_numpy(),
        "ZCZB": [_decimal(v) for v in e["registered_capital_10k"]],
        "CLRQ": as_dates(e["established_days"]).to_numpy(),
        "HYML": e["industry_section"].to_numpy(),
        "HYDM": e["industry_code"].to_numpy(),
        "DJZT": e["status"].map(STATUS_TEXT).to_numpy(),
        "DJJG": ("济南市" + e["district_code"].map(districts) + "市场监督管理局").to_numpy(),
        "GXSJ": ctx.update_times(len(e), e["established_days"].to_numpy()).to_numpy(),
        "_truth_subject": e["enterprise_id"].to_numpy(),
        "_truth_legal_rep": e["legal_rep_person_id"].to_numpy(),
        "_truth_address": e["address_id"].to_numpy(),
    })


def _districts():
    from citylake.schemas.reference import gazetteer

    return gazetteer().districts


TABLES = (
    TableSpec("scjg", "QYDJ", "企业登记信息", key="PRIPID", key_prefix="370100", key_width=12, columns=COLUMNS,
              roles={"subject": "enterprise", "legal_rep": "person", "address": "address"}, render=render_qydj,
              update_column="GXSJ", description="市场监管: registered market entities (enterprises, 个体户, cooperatives)"),
)
