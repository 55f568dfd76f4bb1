"""Reference data shipped with the standards: national code tables and the Jinan gazetteer.

The files and their sources are described in ``SOURCES.md`` beside this module. Loaders return
plain Python structures and validate the files on load, naming the file and row of any problem.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

REFERENCE_DIR = Path(__file__).parent


class ReferenceDataError(ValueError):
    """A shipped reference file is missing a field or holds a malformed value."""


@dataclass(frozen=True)
class HistoricalCode:
    code: str
    name: str
    valid_until: int


@dataclass(frozen=True)
class District:
    """A county-level division of the city (区/县), with its streets (街道/镇) and roads."""

    code: str
    name: str
    short_name: str
    population_2020: int
    streets: tuple[str, ...]
    roads: tuple[str, ...]
    historical_codes: tuple[HistoricalCode, ...] = field(default=())

    def code_for_birth_year(self, year: int) -> str:
        """The division code an ID number issued for a birth in ``year`` carries.

        A district that replaced an older division (济阳县 370125 -> 济阳区 370115) issued the old
        code to persons born before the change; those old codes stay valid for life.
        """
        for old in sorted(self.historical_codes, key=lambda h: h.valid_until):
            if year < old.valid_until:
                return old.code
        return self.code


@dataclass(frozen=True)
class Gazetteer:
    city_code: str
    city_name: str
    province: str
    districts: tuple[District, ...]
    compound_prefixes: tuple[str, ...]
    compound_suffixes: tuple[str, ...]

    def district(self, code: str) -> District:
        for d in self.districts:
            if d.code == code:
                return d
        raise KeyError(code)


def _read_csv(name: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    path = REFERENCE_DIR / name
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows, start=2):
        missing = [c for c in required if not (row.get(c) or "").strip()]
        if missing:
            raise ReferenceDataError(f"{path}: line {number} lacks {', '.join(missing)}")
    return rows


def _require(entry: dict, key: str, where: str):
    if key not in entry or entry[key] in (None, ""):
        raise ReferenceDataError(f"{where}: missing '{key}'")
    return entry[key]


@cache
def gazetteer() -> Gazetteer:
    path = REFERENCE_DIR / "jinan_gazetteer.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    city = _require(doc, "city", str(path))
    districts = []
    for i, d in enumerate(_require(doc, "districts", str(path))):
        where = f"{path}: districts[{i}]"
        code = str(_require(d, "code", where))
        if len(code) != 6 or not code.isdigit():
            raise ReferenceDataError(f"{where}: code {code!r} is not a 6-digit division code")
        history = tuple(
            HistoricalCode(str(_require(h, "code", where)), str(h.get("name", "")), int(_require(h, "valid_until", where)))
            for h in d.get("historical_codes") or ()
        )
        streets = tuple(_require(d, "streets", where))
        roads = tuple(_require(d, "roads", where))
        districts.append(
            District(
                code=code,
                name=str(_require(d, "name", where)),
                short_name=str(_require(d, "short_name", where)),
                population_2020=int(_require(d, "population_2020", where)),
                streets=streets,
                roads=roads,
                historical_codes=history,
            )
        )
    parts = _require(doc, "residential_compound_name_parts", str(path))
    return Gazetteer(
        city_code=str(_require(city, "code", str(path))),
        city_name=str(_require(city, "name", str(path))),
        province=str(_require(city, "province", str(path))),
        districts=tuple(districts),
        compound_prefixes=tuple(_require(parts, "prefixes", str(path))),
        compound_suffixes=tuple(_require(parts, "suffixes", str(path))),
    )


@cache
def code_table(name: str) -> dict[str, str]:
    """A ``code,name`` table, e.g. ``code_table("sex_gbt2261_1")`` -> {'1': '男性', ...}."""
    return {r["code"]: r["name"] for r in _read_csv(f"{name}.csv", ("code", "name"))}


@cache
def ethnicity_shares() -> dict[str, float]:
    """GB/T 3304 code -> share of Jinan's population."""
    rows = _read_csv("ethnicity_gbt3304.csv", ("code", "name", "jinan_share"))
    return {r["code"]: float(r["jinan_share"]) for r in rows}


@cache
def industry_divisions() -> list[dict[str, str]]:
    """GB/T 4754-2017 divisions (大类): code, name, section, section_name, jinan_weight."""
    return _read_csv("industry_gbt4754_2017.csv", ("code", "name", "section", "section_name", "jinan_weight"))


@cache
def other_birthplaces() -> list[dict[str, str]]:
    """County-level divisions outside the city where residents were born: code, name, province, weight."""
    return _read_csv("other_birthplaces.csv", ("code", "name", "province", "weight"))


MOBILE_SERVICES = ("mobile", "data", "virtual", "satellite")


@cache
def mobile_prefixes() -> list[dict[str, str]]:
    """Mobile number segments (号段) of the numbering plan: prefix (3 digits, or 4 where the fourth
    digit names the operator or service: 1700-1709, 1740, 1349), carrier, weight, service (mobile,
    data 上网卡, virtual 移动转售, satellite)."""
    path = REFERENCE_DIR / "mobile_prefixes.csv"
    rows = _read_csv("mobile_prefixes.csv", ("prefix", "carrier", "weight", "service"))
    for number, row in enumerate(rows, start=2):
        if not re.fullmatch(r"1\d{2,3}", row["prefix"]):
            raise ReferenceDataError(f"{path}: line {number}: prefix {row['prefix']!r} is not 3 or 4 digits from 1")
        if row["service"] not in MOBILE_SERVICES:
            raise ReferenceDataError(f"{path}: line {number}: service {row['service']!r} is not one of "
                                     f"{list(MOBILE_SERVICES)}")
    return rows


@cache
def divisions() -> list[dict[str, str]]:
    """GB/T 2260 codes since 1981 (county level and up): code, names, level, status, validity years."""
    return _read_csv("divisions_gbt2260.csv", ("code", "name", "level", "status", "valid_from"))
