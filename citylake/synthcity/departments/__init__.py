"""The department systems of the synthetic city: one module per department, each rendering its
tables from the true world in that department's own naming, types and formats."""

from __future__ import annotations

from citylake.synthcity.departments import (
    bzdz,
    gongan,
    jiaoyu,
    minzheng,
    renshe,
    scjg,
    shuiwu,
    weijian,
    yibao,
    zrzy,
)
from citylake.synthcity.departments.base import TableSpec

# Department code -> (Chinese name, English name). The code names the database of the department.
DEPARTMENTS = {
    "gongan": ("公安局", "Public Security Bureau"),
    "weijian": ("卫生健康委员会", "Health Commission"),
    "minzheng": ("民政局", "Civil Affairs Bureau"),
    "renshe": ("人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    "yibao": ("医疗保障局", "Healthcare Security Administration"),
    "scjg": ("市场监督管理局", "Administration for Market Regulation"),
    "shuiwu": ("税务局", "Tax Bureau"),
    "zrzy": ("自然资源和规划局", "Natural Resources and Planning Bureau"),
    "jiaoyu": ("教育局", "Education Bureau"),
}

TABLES: dict[str, TableSpec] = {
    spec.qualified_name: spec
    for module in (gongan, weijian, minzheng, renshe, yibao, scjg, shuiwu, zrzy, jiaoyu, bzdz)
    for spec in module.TABLES
}
