"""Written forms of the city's divisions, streets and roads, for the address parser.

Built from the gazetteer (:func:`citylake.schemas.reference.gazetteer`: district names, short names,
the names of historical codes, streets, roads) and ``lexicon.yaml`` beside this module (aliases the
gazetteer lacks, management zones, the suffixes addresses are written with), plus the in-use
province, prefecture and county names of GB/T 2260 (``divisions_gbt2260.csv``) so that an address
elsewhere is recognised as outside the city. Validated on load: an error names the file and entry.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

LEXICON_FILE = Path(__file__).with_name("lexicon.yaml")

_PARENTHETICAL = re.compile(r"（[^）]*）|\([^)]*\)")


class LexiconError(ValueError):
    """``lexicon.yaml`` (or a file it relies on) holds a missing or malformed entry."""


@dataclass(frozen=True)
class Forms:
    """Written forms -> what they stand for, looked up longest first at a position in a text."""

    values: dict[str, tuple]
    lengths: dict[str, tuple[int, ...]]  # first character -> lengths of the forms it starts, longest first

    @classmethod
    def of(cls, values: dict[str, tuple]) -> Forms:
        lengths: dict[str, set[int]] = {}
        for form in values:
            lengths.setdefault(form[0], set()).add(len(form))
        return cls(values, {c: tuple(sorted(n, reverse=True)) for c, n in lengths.items()})

    def longest(self, text: str, pos: int) -> tuple[str, tuple] | None:
        """The longest form that ``text`` holds at ``pos``, and its values."""
        for n in self.lengths.get(text[pos:pos + 1], ()):
            hit = self.values.get(text[pos:pos + n])
            if hit is not None:
                return text[pos:pos + n], hit
        return None


@dataclass(frozen=True)
class Lexicon:
    province: str
    city: str
    province_forms: tuple[str, ...]   # 山东省, 山东
    city_forms: tuple[str, ...]       # 济南市, 济南
    district_names: dict[str, str]    # code -> current name
    # form -> ((district code, how the form names it: written / short / old_name / alias), ...);
    # a form of several districts (莱芜市: 莱芜区 and 钢城区) narrows the street search to them.
    districts: Forms
    zones: Forms                      # form -> () : consumed, the district comes from the street
    streets: Forms                    # form -> ((district code, street), ...)
    roads: Forms                      # road -> (district codes ...)
    outside: Forms                    # a division name elsewhere in China -> (its code,)
    community_suffixes: Forms         # written suffix -> (standard suffix,)
    compound_suffixes: tuple[str, ...]  # 花园, 新村 …: a name ending so is a compound, not a village
    road_suffixes: tuple[str, ...]
    building_suffixes: tuple[str, ...]
    unit_suffixes: tuple[str, ...]
    room_suffixes: tuple[str, ...]


def _strings(doc: dict, key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise LexiconError(f"{where}: '{key}' must be a non-empty list of strings")
    return tuple(value)


def _entry(item, keys: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise LexiconError(f"{where}: must be a mapping with {', '.join(keys)}")
    missing = [k for k in keys if not isinstance(item.get(k), str) or not item[k]]
    if missing:
        raise LexiconError(f"{where}: missing or empty {', '.join(missing)}")
    unknown = set(item) - set(keys) - {"basis"}
    if unknown:
        raise LexiconError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return item


def _add(table: dict[str, list], form: str, value) -> None:
    bucket = table.setdefault(form, [])
    if value not in bucket:
        bucket.append(value)


def _outside_names(province: str, city: str) -> dict[str, tuple]:
    """In-use GB/T 2260 names that are not this city's: provinces, prefectures and counties."""
    from citylake.schemas.reference import REFERENCE_DIR

    names: dict[str, tuple] = {}
    with (REFERENCE_DIR / "divisions_gbt2260.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["status"] != "in_use" or row["prefecture"] == city:
                continue
            if row["level"] != "county" or row["province"] != province:
                # Counties of our own province are left out: 市中区 (济宁, 枣庄) is also a Jinan district.
                names.setdefault(row["name"], (row["code"],))
    names.pop(province, None)
    return names


def build_lexicon(doc: dict, where: str) -> Lexicon:
    """A lexicon from the parsed YAML ``doc`` (``where`` names its file in errors)."""
    from citylake.schemas.reference import gazetteer

    if not isinstance(doc, dict):
        raise LexiconError(f"{where}: must be a mapping")
    gaz = gazetteer()
    codes = {d.code for d in gaz.districts}
    districts: dict[str, list] = {}
    streets: dict[str, list] = {}
    roads: dict[str, list] = {}
    street_suffixes = _strings(doc, "street_suffixes", where)
    for d in gaz.districts:
        _add(districts, d.name, (d.code, "written"))
        _add(districts, d.short_name, (d.code, "short"))
        for old in d.historical_codes:
            _add(districts, _PARENTHETICAL.sub("", old.name), (d.code, "old_name"))
        for s in d.streets:
            stem = next((s[:-len(x)] for x in street_suffixes if s.endswith(x) and len(s) > len(x)), s)
            for suffix in street_suffixes:
                _add(streets, stem + suffix, (d.code, s))
        for r in d.roads:
            _add(roads, r, d.code)
    for i, item in enumerate(doc.get("district_aliases") or ()):
        e = _entry(item, ("form", "district"), f"{where}: district_aliases[{i}]")
        if e["district"] not in codes:
            raise LexiconError(f"{where}: district_aliases[{i}]: {e['district']} is not a district of {gaz.city_name}")
        _add(districts, e["form"], (e["district"], "alias"))
    for i, item in enumerate(doc.get("street_aliases") or ()):
        e = _entry(item, ("form", "street", "district"), f"{where}: street_aliases[{i}]")
        if e["district"] not in codes or e["street"] not in gaz.district(e["district"]).streets:
            raise LexiconError(f"{where}: street_aliases[{i}]: {e['street']} is not a street of district "
                               f"{e['district']} in the gazetteer")
        _add(streets, e["form"], (e["district"], e["street"]))
    # A street form that is also a district form is a district (济阳 is 济阳区, not 济阳街道 unsuffixed).
    for form in districts:
        streets.pop(form, None)
    suffixes = doc.get("community_suffixes")
    if not isinstance(suffixes, dict) or not suffixes or not all(
            isinstance(k, str) and k and v in ("社区", "村") for k, v in suffixes.items()):
        raise LexiconError(f"{where}: 'community_suffixes' must map written suffixes to 社区 or 村")
    zones = _strings(doc, "zones", where)
    province_short = gaz.province.removesuffix("省")
    city_short = gaz.city_name.removesuffix("市")
    return Lexicon(
        province=gaz.province, city=gaz.city_name,
        province_forms=(gaz.province, province_short), city_forms=(gaz.city_name, city_short),
        district_names={d.code: d.name for d in gaz.districts},
        districts=Forms.of({k: tuple(v) for k, v in districts.items()}),
        zones=Forms.of({z: () for z in zones}),
        streets=Forms.of({k: tuple(v) for k, v in streets.items()}),
        roads=Forms.of({k: tuple(v) for k, v in roads.items()}),
        outside=Forms.of(_outside_names(gaz.province, gaz.city_name)),
        community_suffixes=Forms.of({k: (v,) for k, v in suffixes.items()}),
        compound_suffixes=gaz.compound_suffixes,
        road_suffixes=_strings(doc, "road_suffixes", where),
        building_suffixes=_strings(doc, "building_suffixes", where),
        unit_suffixes=_strings(doc, "unit_suffixes", where),
        room_suffixes=_strings(doc, "room_suffixes", where),
    )


def load_lexicon(path: str | Path = LEXICON_FILE) -> Lexicon:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: not valid YAML: {exc}") from exc
    return build_lexicon(doc, str(path))


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon, loaded once per process."""
    return load_lexicon()
