"""公安 标准地址 (public security's standard-address system, the 标准地址/门楼牌 part of 一标三实):
the city's authoritative list of standard addresses, ``BZDZ``.

One row per standard address (a room of a residential building, an office of a commercial one),
with the address code (地址编码) as key and the full hierarchy in its own columns: 行政区划代码 and
区县, 街道(乡镇), 社区(村), 街路巷, 门牌号 (``142号``), 小区, 楼号, 单元号, 户室号, the full standard text
(地址全称), the address type and its status. Its update column is ``ZHGXSJ`` (最后更新时间), not the
``GXSJ`` of the population system. The truth ties every row to the true address it stands for
(role ``subject``, entity type ``address``), so every source address variant can be scored against the standard list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments.base import Column, RenderContext, TableSpec

COLUMNS = (
    Column("DZBM", sa.String(20), "key", "地址编码", nullable=False),
    Column("XZQHDM", sa.String(6), "code", "行政区划代码(GB/T 2260)"),
    Column("QXMC", sa.String(30), "text", "区县名称"),
    Column("JDXZMC", sa.String(50), "text", "街道(乡镇)名称"),
    Column("SQCMC", sa.String(50), "text", "社区(村)名称"),
    Column("JLXMC", sa.String(50), "text", "街路巷名称"),
    Column("MPH", sa.String(20), "text", "门牌号"),
    Column("XQMC", sa.String(50), "text", "小区名称"),
    Column("LH", sa.String(10), "text", "楼号"),
    Column("DYH", sa.String(10), "text", "单元号"),
    Column("HSH", sa.String(10), "text", "户室号"),
    Column("DZQC", sa.String(200), "address", "地址全称"),
    Column("DZLX", sa.String(2), "code", "地址类型(10 住宅 20 商业办公)"),
    Column("DZZT", sa.String(1), "code", "地址状态(1 有效 0 注销)"),
    Column("ZHGXSJ", sa.DateTime(), "timestamp", "最后更新时间"),
)
ADDRESS_TYPES = {"residential": "10", "commercial": "20"}


def render_bzdz(ctx: RenderContext) -> pd.DataFrame:
    a = ctx.scope.addresses(ctx.world.addresses)
    spec = TABLES[0]
    residential = a["kind"].eq("residential").to_numpy()
    return pd.DataFrame({
        "DZBM": ctx.keys.take(spec, len(a)),
        "XZQHDM": a["district_code"].to_numpy(),
        "QXMC": a["district"].to_numpy(),
        "JDXZMC": a["street"].to_numpy(),
        "SQCMC": a["community"].to_numpy(),
        "JLXMC": a["road"].to_numpy(),
        "MPH": a["house_number"].astype(str).add("号").to_numpy(),
        "XQMC": a["compound"].to_numpy(),
        # Offices are rooms of one building: the system leaves their 楼号 and 单元号 empty.
        "LH": np.where(residential, a["building"].astype(str), None),
        "DYH": np.where(residential, a["unit"].astype(str), None),
        "HSH": a["room"].astype(str).to_numpy(),
        "DZQC": a["text"].to_numpy(),
        "DZLX": a["kind"].map(ADDRESS_TYPES).to_numpy(),
        "DZZT": "1",
        "ZHGXSJ": ctx.update_times(len(a)).to_numpy(),
        "_truth_subject": a["address_id"].to_numpy(),
    })


TABLES = (
    TableSpec("gongan", "BZDZ", "标准地址信息", key="DZBM", key_prefix="3701DZ", key_width=12, columns=COLUMNS,
              roles={"subject": "address"}, render=render_bzdz, update_column="ZHGXSJ",
              description="公安 一标三实: the authoritative list of standard addresses (门楼牌 down to the room)"),
)
