"""Free-text addresses parsed into 区县 (with its GB/T 2260 code) / 街道乡镇 / 社区村 / 道路 / 门牌号 /
小区 / 楼栋 / 单元 / 室.

The parser reads left to right on the cleaned text (:func:`citylake.jobs.address.normalise.clean`):
the province and city prefix, when written (山东省济南市, 济南, none at all; 济南市中区 is 济南 +
市中区); the district by its name, short name, former names (济阳县 → 济阳区 370115, 长清县, 章丘市,
莱芜市莱城区) or an alias, or a management zone in its place (高新区); the street (街道/镇) with any
of the usual suffixes (东关街道办事处, 普集镇 for 普集街道) or a former name (刁镇); the community
(千佛社区居委会 → 千佛社区, 王家村村委会 → 王家村, a village 王家村 before its house number); the road, from the gazetteer or, before a house number, by its suffix;
the house number (142号, 一百四十二号, 142-1号). What follows is the compound (小区) and, read from the
end, 楼栋/单元/室 in every usual form: 5号楼/5栋/5幢/5座/5#楼/5#, 2单元, 1801室/1801户, the
abbreviated 5-2-1801, and Chinese numerals (二十四号楼, 二四号楼, 二单元). A district left unwritten
is inferred from the street, or from the road when the road lies in one district only.

Lookups are longest-match dictionary probes (:class:`citylake.jobs.address.lexicon.Forms`) and a
handful of regular expressions, so a text costs microseconds; the parse is deterministic and does
no I/O until its first call (the lexicon and OpenCC's table then load once per process).

Bad input never raises: ``None``, a non-string, an empty text, digits only, control characters or an
over-long text give an empty or partial :class:`ParsedAddress` whose ``reasons`` say why (codes in
:data:`REASONS`; a reason never quotes the text, which is personal data).

Batch entry points: :func:`parse_many` (a list), :func:`parse_arrow` (an Arrow array → an Arrow
table), :func:`map_in_arrow` (for Spark's ``DataFrame.mapInArrow`` with :data:`SPARK_SCHEMA`) and
:func:`parse_frame` (pandas, for ``applyInPandas``). Each distinct text in a batch is parsed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from functools import cache

import pyarrow as pa

from citylake.jobs.address.lexicon import Lexicon, lexicon
from citylake.jobs.address.normalise import CN_NUMERALS, clean, to_number

# Department columns hold at most a few hundred characters (String(200) in the synthetic city);
# a longer value is not an address, and is refused before any work is done on it.
MAX_CHARS = 500

REASONS = {
    "empty": "地址为空",
    "not_text": "地址不是文本",
    "too_long": f"地址超过 {MAX_CHARS} 个字符",
    "no_address": "未识别出任何地址要素",
    "outside_city": "地址不在本市",
    "district_missing": "区县缺失, 无法由街道或道路推断",
    "district_ambiguous": "区县不唯一 (道路跨区县或旧地名对应多个区县)",
    "street_outside_district": "街道不属于所写区县",
    "numeral_unreadable": "楼栋/单元/室号无法识别",
    "unparsed_text": "部分文字无法识别",
}


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """One parsed address; components not found are ``None``. ``district_source`` says how the
    district was found: written (its name), short, old_name, alias, street or road (inferred)."""

    district_code: str | None = None
    district: str | None = None
    street: str | None = None
    community: str | None = None
    road: str | None = None
    house_number: str | None = None
    compound: str | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    district_source: str | None = None
    reasons: tuple[str, ...] = ()


FIELDS = tuple(f.name for f in fields(ParsedAddress))
COMPONENTS = FIELDS[:-2]
ARROW_SCHEMA = pa.schema([*((name, pa.string()) for name in FIELDS[:-1]), ("reasons", pa.list_(pa.string()))])


def spark_schema(column: str = "address") -> str:
    """The DDL schema of :func:`map_in_arrow`'s output: the input text column, then :data:`FIELDS`."""
    return ", ".join([f"`{column}` string", *(f"{name} string" for name in FIELDS[:-1]), "reasons array<string>"])


SPARK_SCHEMA = spark_schema()

# Numbers of 门牌号/楼栋/单元/室 are short; bounded repeats also keep the regular expressions linear
# on long runs of digits.
_NUM = rf"[0-9]{{1,6}}|[{CN_NUMERALS}]{{1,8}}"
_NAME_CHAR = re.compile(r"[A-Z\u3400-\u9fff]")  # a compound's name has a letter or a Chinese character


@dataclass(frozen=True)
class _Grammar:
    community: re.Pattern
    village: re.Pattern
    road: re.Pattern
    house_number: re.Pattern
    tail: re.Pattern


def _alternatives(options: Iterable[str]) -> str:
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


@cache
def _grammar() -> _Grammar:
    lx = lexicon()
    names = r"[^0-9\-#]"
    return _Grammar(
        community=re.compile(rf"({names}{{1,8}}?)({_alternatives(lx.community_suffixes.values)})"),
        village=re.compile(rf"{names}{{1,6}}?村(?=[0-9]|(?:{_NUM})号|$)"),
        road=re.compile(rf"{names}{{1,10}}?(?:{_alternatives(lx.road_suffixes)})(?=(?:{_NUM})号)"),
        house_number=re.compile(rf"([0-9]{{1,6}}(?:-[0-9]{{1,4}})?|[{CN_NUMERALS}]{{1,8}})号(?!楼)院?"),
        tail=re.compile(
            rf"(?:(?P<b>{_NUM}|[A-Z])(?P<bs>{_alternatives(lx.building_suffixes)}|-))?"
            rf"(?:(?P<u>{_NUM})(?P<us>{_alternatives(lx.unit_suffixes)}|-))?"
            rf"(?:(?P<r>{_NUM}|[A-Z][0-9]{{1,6}})(?P<rs>{_alternatives(lx.room_suffixes)})?)?$"),
    )


def _empty(reason: str) -> ParsedAddress:
    return ParsedAddress(reasons=(reason,))


def _after_prefix(s: str, lx: Lexicon) -> int:
    """The position after the province and city prefix; of 济南市 and 济南 the one a district follows
    (济南市中区 is 济南 + 市中区)."""
    pos = 0
    for form in lx.province_forms:
        if s.startswith(form):
            pos = len(form)
            break
    ends = [pos + len(f) for f in lx.city_forms if s.startswith(f, pos)]
    for end in ends:
        if lx.districts.longest(s, end) is not None:
            return end
    return ends[0] if ends else pos


def parse(text) -> ParsedAddress:
    """Parse one free-text address (see the module docstring); never raises on bad input."""
    if text is None:
        return _empty("empty")
    if not isinstance(text, str):
        return _empty("not_text")
    if len(text) > MAX_CHARS:
        return _empty("too_long")
    s = clean(text)
    if not s:
        return _empty("empty" if not text.strip() else "no_address")
    return _parse_clean(s, lexicon(), _grammar())


def _parse_clean(s: str, lx: Lexicon, g: _Grammar) -> ParsedAddress:
    reasons: list[str] = []
    pos = _after_prefix(s, lx)
    code = source = None
    candidates: set[str] | None = None  # districts a former name (莱芜市) leaves open
    start = pos

    zone = lx.zones.longest(s, pos)
    if zone:
        pos += len(zone[0])
    hit = lx.districts.longest(s, pos)
    while hit:  # 莱芜市 (莱芜区 or 钢城区) may be followed by the district itself
        form, values = hit
        codes = {c for c, _ in values}
        if candidates is not None and not codes & candidates:
            break
        candidates = codes if candidates is None else codes & candidates
        pos += len(form)
        if len(candidates) == 1:
            code, source = next(v for v in values if v[0] in candidates)
            break
        hit = lx.districts.longest(s, pos)
    zone = lx.zones.longest(s, pos)
    if zone:
        pos += len(zone[0])
    if code is None and candidates is None and pos == start and lx.outside.longest(s, pos):
        return _empty("outside_city")

    street = None
    hit = lx.streets.longest(s, pos)
    if hit:
        form, values = hit
        pos += len(form)
        if code is not None:
            mine = [v for v in values if v[0] == code]
            if mine:
                street = mine[0][1]
            else:
                street = values[0][1]
                reasons.append("street_outside_district")
        else:
            fitting = [v for v in values if candidates is None or v[0] in candidates]
            if len({c for c, _ in fitting}) == 1:
                code, street = fitting[0]
                source = "street"
            else:
                street = values[0][1] if len({v[1] for v in values}) == 1 else None

    community = None
    if lx.roads.longest(s, pos) is None:
        m = g.community.match(s, pos)
        if m:
            standard = lx.community_suffixes.values[m.group(2)][0]  # 王家村村委会 is 王家村's: no 村 more
            community = m.group(1) if m.group(1).endswith(standard) else m.group(1) + standard
            pos = m.end()
        else:
            # A village written without 村委会 (王家村12号), unless the name is a compound's (阳光新村).
            m = g.village.match(s, pos)
            if m and not m.group().endswith(lx.compound_suffixes):
                community = m.group()
                pos = m.end()

    road = None
    hit = lx.roads.longest(s, pos)
    if hit:
        road, road_codes = hit
        pos += len(road)
    else:
        m = g.road.match(s, pos)
        road_codes = ()
        if m:
            road = m.group()
            pos = m.end()
    if road is not None and code is None and road_codes:
        fitting = {c for c in road_codes if candidates is None or c in candidates}
        if len(fitting) == 1:
            code, source = fitting.pop(), "road"

    house_number = None
    if road is not None or (community is not None and community.endswith("村")):
        m = g.house_number.match(s, pos)
        if m:
            house_number = _number(m.group(1), reasons)
            pos = m.end()

    rest = s[pos:]
    building = unit = room = None
    m = g.tail.search(rest)
    # A lone "N号" at the end stays in the compound's name (奥体一号, 中海1号): it is a building
    # only when a unit or room follows it.
    if m and m.group() and not (m.group("bs") == "号" and m.group("u") is None and m.group("r") is None):
        building = _number(m.group("b"), reasons)
        unit = _number(m.group("u"), reasons)
        room = _number(m.group("r"), reasons)
        rest = rest[:m.start()]
    compound = rest.strip("-") or None
    if compound is not None and not _NAME_CHAR.search(compound):  # "#", "-#-": no name
        compound = None
        reasons.append("unparsed_text")

    if not (code or street or community or road or compound or candidates):
        return _empty("no_address")
    if code is None:
        reasons.append("district_ambiguous" if candidates or (road_codes and len(road_codes) > 1)
                       else "district_missing")
    return ParsedAddress(code, lx.district_names.get(code) if code else None, street, community, road,
                         house_number, compound, building, unit, room, source, tuple(dict.fromkeys(reasons)))


def _number(token: str | None, reasons: list[str]) -> str | None:
    if token is None:
        return None
    if token.isascii():  # 142, 142-1, A (a building letter), B1201
        return (token.lstrip("0") or "0") if token.isdigit() else token
    value = to_number(token)
    if value is None:
        reasons.append("numeral_unreadable")
        return token
    return value


def parse_many(texts: Iterable) -> list[ParsedAddress]:
    """Parse every text; a text repeated in ``texts`` is parsed once."""
    seen: dict = {}
    out = []
    for t in texts:
        try:
            p = seen[t]
        except KeyError:
            p = seen[t] = parse(t)
        except TypeError:  # an unhashable value is not an address
            p = _empty("not_text")
        out.append(p)
    return out


def parse_arrow(texts: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The parse of a string array as an Arrow table of :data:`ARROW_SCHEMA`, row for row."""
    return pa.Table.from_batches([_batch(parse_many(texts.to_pylist()))])


def _batch(parsed: list[ParsedAddress]) -> pa.RecordBatch:
    columns = list(zip(*(astuple(p) for p in parsed), strict=True)) if parsed else [()] * len(FIELDS)
    return pa.RecordBatch.from_arrays([pa.array(list(col), type=f.type) for col, f in zip(columns, ARROW_SCHEMA,
                                                                                           strict=True)],
                                      schema=ARROW_SCHEMA)


def map_in_arrow(batches: Iterator[pa.RecordBatch], column: str = "address") -> Iterator[pa.RecordBatch]:
    """For ``df.select(column).distinct().mapInArrow(lambda b: map_in_arrow(b, column),
    spark_schema(column))``: each batch's ``column`` and its parse."""
    for batch in batches:
        texts = batch.column(column).cast(pa.string())
        parsed = _batch(parse_many(texts.to_pylist()))
        yield pa.RecordBatch.from_arrays([texts, *parsed.columns], names=[column, *parsed.schema.names])


def parse_frame(frame, column: str = "address"):
    """For pandas (``applyInPandas``): ``frame[[column]]`` with the parse's columns beside it."""
    texts = frame[column].astype(object)
    out = _batch(parse_many(texts.where(texts.notna(), None).tolist())).to_pandas()
    out.insert(0, column, frame[column].to_numpy())
    out.index = frame.index
    return out
