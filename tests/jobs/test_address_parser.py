"""citylake.jobs.address.parse: crafted cases for every normalisation, bad input, the batch entry
points (Arrow, pandas, Spark's mapInArrow), and a score against a generated city's truth."""

from __future__ import annotations

import random
import sqlite3
import time

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from citylake.jobs.address.lexicon import LEXICON_FILE, LexiconError, load_lexicon
from citylake.jobs.address.parse import (
    COMPONENTS,
    FIELDS,
    REASONS,
    ParsedAddress,
    map_in_arrow,
    parse,
    parse_arrow,
    parse_frame,
    parse_many,
    spark_schema,
)

STANDARD = "山东省济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5号楼2单元1801室"
FULL = dict(district_code="370102", district="历下区", street="东关街道", community="千佛社区", road="千佛山东路",
            house_number="142", compound="舜和庭院", building="5", unit="2", room="1801")


def components(p: ParsedAddress) -> dict:
    return {k: v for k, v in ((k, getattr(p, k)) for k in COMPONENTS) if v is not None}


def test_the_standard_form_parses_into_every_component():
    p = parse(STANDARD)
    assert components(p) == FULL
    assert p.district_source == "written" and p.reasons == ()


@pytest.mark.parametrize("text", [
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5号楼2单元1801室",          # no province
    "历下区东关街道千佛社区千佛山东路142号舜和庭院5号楼2单元1801室",                # no province, no city
    "山东济南历下区东关街道千佛社区千佛山东路142号舜和庭院5号楼2单元1801室",         # short prefixes
    "济南历下东关街道千佛社区千佛山东路142号舜和庭院5号楼2单元1801室",              # district short name
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5栋2单元1801室",             # 栋
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5幢2单元1801户",             # 幢, 户
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5座2单元1801室",             # 座
    "济南历下区东关街道千佛社区千佛山东路142号舜和庭院5#楼2单元1801室",              # #楼
    "济南历下区东关街道千佛社区千佛山东路142号舜和庭院5#2单元1801",                  # #, no 室
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5-2-1801",                   # abbreviated
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5—2—1801室",                 # other dashes
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5号楼2-1801",                # unit-room abbreviated
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院五号楼二单元1801室",         # Chinese numerals
    "济南市历下区东关街道千佛社区千佛山东路一百四十二号舜和庭院五号楼二单元一八零一室",
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院伍号楼贰单元1801室",         # financial numerals
    "ｊ济南市历下区东关街道千佛社区千佛山东路１４２号舜和庭院５号楼２单元１８０１室"[1:],  # full-width digits
    "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院５＃楼２单元１８０１室",
    " 济南市 历下区，东关街道（千佛社区）千佛山东路 142 号 舜和庭院 5号楼 2单元 1801室。 ",  # spaces, punctuation
    "济南市历下区东关街道\u3000千佛社区\u200b千佛山东路142号舜和庭院5号楼2单元1801室\t",  # ideographic/zero-width space
    "濟南市歷下區東關街道千佛社區千佛山東路142號舜和庭院5號樓2單元1801室",          # traditional characters
    "济南市历下区东关街道办事处千佛社区千佛山东路142号舜和庭院5号楼2单元1801室",     # 街道办事处
    "济南市历下区东关办事处千佛社区居委会千佛山东路142号舜和庭院5号楼2单元1801室",   # 办事处, 社区居委会
    "济南市历下区东关街道千佛居委会千佛山东路142号舜和庭院5号楼2单元1801室",         # 居委会
    "济南市历下区东关街道千佛社区居民委员会千佛山东路142号舜和庭院5号楼2单元1801室",
])
def test_written_forms_of_one_address_parse_alike(text):
    assert components(parse(text)) == FULL


@pytest.mark.parametrize("text, code, name, source", [
    ("济阳县济北街道开元社区开元大街345号", "370115", "济阳区", "old_name"),
    ("山东省济南市长清县文昌街道", "370113", "长清区", "old_name"),
    ("济南市章丘市明水街道", "370114", "章丘区", "old_name"),
    ("章丘县明水街道", "370114", "章丘区", "old_name"),
    ("历城县山大路街道", "370112", "历城区", "old_name"),
    ("莱芜市莱城区凤城街道", "370116", "莱芜区", "old_name"),
    ("莱城区凤城街道", "370116", "莱芜区", "alias"),
    ("莱芜市钢城区艾山街道", "370117", "钢城区", "old_name"),
    ("莱芜市艾山街道", "370117", "钢城区", "street"),          # 莱芜市 (莱芜区 or 钢城区) decided by the street
    ("莱芜市凤城西大街12号", "370116", "莱芜区", "road"),       # … or by the road
    ("济南市中区舜耕街道", "370103", "市中区", "written"),      # 济南 + 市中区, not 济南市 + 中区
    ("东关街道千佛社区千佛山东路142号", "370102", "历下区", "street"),
    ("千佛山东路142号舜和庭院5号楼2单元1801室", "370102", "历下区", "road"),
    ("济南高新区舜华路街道", "370102", "历下区", "street"),      # a management zone, district from the street
    ("济南市高新区孙村街道", "370112", "历城区", "street"),
])
def test_districts_from_old_names_aliases_and_inference(text, code, name, source):
    p = parse(text)
    assert (p.district_code, p.district, p.district_source) == (code, name, source)
    assert "district_missing" not in p.reasons


@pytest.mark.parametrize("text, street", [
    ("章丘区普集镇", "普集街道"),         # a town turned 街道, written with its old suffix
    ("长清区马山乡", "马山镇"),
    ("章丘区刁镇", "刁镇街道"),           # former names from lexicon.yaml
    ("莱芜区口镇", "口镇街道"),
    ("历城区山大路街道山大路12号", "山大路街道"),
])
def test_street_aliases(text, street):
    assert parse(text).street == street


def test_numerals_in_names_stay_as_written():
    p = parse("济南市平阴县安城镇府前社区府前街186号奥体一号二一号楼二单元602室")
    assert (p.compound, p.building, p.unit, p.room) == ("奥体一号", "21", "2", "602")
    p = parse("济南市平阴县安城镇府前社区府前街186号奥体一号21-2-602")
    assert (p.compound, p.building, p.unit, p.room) == ("奥体一号", "21", "2", "602")
    p = parse("山东省济南市历城区山大路街道开源社区开源路180号东城壹号院23号楼4单元1901室")
    assert (p.compound, p.building) == ("东城壹号院", "23")
    assert parse("济南市中区二七街道二七社区二七南路18号").road == "二七南路"
    p = parse("市中区纬一路十二号")
    assert (p.road, p.house_number) == ("纬一路", "12")
    assert parse("济南市平阴县安城镇府前街186号奥体一号").compound == "奥体一号"  # a lone N号 is part of the name


def test_other_building_unit_room_forms():
    assert components(parse("历下区经十路100号阳光大厦A座1201室")) | {} == {
        "district_code": "370102", "district": "历下区", "road": "经十路", "house_number": "100",
        "compound": "阳光大厦", "building": "A", "room": "1201"}
    p = parse("历下区千佛山东路142号舜和庭院5-1801")                  # two parts: building-room
    assert (p.building, p.unit, p.room) == ("5", None, "1801")
    p = parse("历下区千佛山东路142号舜和庭院二四号楼3门501")           # digit-by-digit numeral, 门 for 单元
    assert (p.building, p.unit, p.room) == ("24", "3", "501")
    p = parse("章丘区明水街道文化社区文化路8号文化大厦318")            # a commercial address: room only
    assert (p.compound, p.building, p.unit, p.room) == ("文化大厦", None, None, "318")
    assert parse("历下区千佛山东路142-1号").house_number == "142-1"


def test_villages():
    p = parse("章丘区普集街道王家村村委会")
    assert (p.street, p.community) == ("普集街道", "王家村")
    p = parse("济南市章丘区普集街道王家村123号")
    assert (p.community, p.house_number, p.room) == ("王家村", "123", None)
    p = parse("历下区东关街道阳光新村5号楼2单元301室")   # 新村 ends a compound's name, not a village's
    assert (p.community, p.compound, p.building) == (None, "阳光新村", "5")


def test_roads_outside_the_gazetteer_are_read_before_a_house_number():
    p = parse("历下区明湖东路8号泉景花园3号楼1单元101室")
    assert (p.road, p.house_number, p.compound, p.building) == ("明湖东路", "8", "泉景花园", "3")


def test_doubtful_parses_say_why():
    p = parse("经十路100号")                      # 经十路 runs through 历下区 and 槐荫区
    assert p.district_code is None and p.road == "经十路" and p.reasons == ("district_ambiguous",)
    p = parse("泉景花园3号楼1单元101室")
    assert p.compound == "泉景花园" and p.reasons == ("district_missing",)
    p = parse("历下区山大路街道")                  # 山大路街道 is a street of 历城区: the written district kept
    assert (p.district_code, p.street, p.reasons) == ("370102", "山大路街道", ("street_outside_district",))
    p = parse("历下区千佛山东路142号舜和庭院十十十号楼2单元")
    assert p.building == "十十十" and "numeral_unreadable" in p.reasons
    assert parse("北京市朝阳区建国路1号").reasons == ("outside_city",)
    assert parse("泰安市泰山区财源街道").reasons == ("outside_city",)
    assert all(r in REASONS for p in parse_many(["", "经十路100号", "北京市朝阳区"]) for r in p.reasons)


NOT_ADDRESSES = [None, "", "   ", "\t\n", "13800138000", "123456", "-#-", "\x00\x01\x07\x1b", "\u200b\ufeff\u202e",
                 12345, 3.5, float("nan"), b"\xe6\xb5\x8e", ["济南市"], "x" * 1_700_000, "山东省济南市历下区" * 200_000,
                 "\x00" * 1_700_000]


def test_values_that_are_not_addresses_give_an_empty_parse_with_a_reason_quickly():
    started = time.perf_counter()
    parsed = parse_many(NOT_ADDRESSES)
    assert time.perf_counter() - started < 1.0
    for value, p in zip(NOT_ADDRESSES, parsed, strict=True):
        assert components(p) == {}, repr(value)[:40]
        assert len(p.reasons) == 1 and p.reasons[0] in REASONS, repr(value)[:40]
    assert [p.reasons[0] for p in parsed[:4]] == ["empty", "empty", "empty", "empty"]
    assert parsed[5].reasons == ("no_address",) and parsed[7].reasons == ("no_address",)
    assert parsed[-3].reasons == parsed[-2].reasons == ("too_long",)
    assert parsed[10].reasons == ("not_text",) and parsed[13].reasons == ("not_text",)


def test_random_and_pathological_texts_never_raise_and_stay_fast():
    rng = random.Random(5)
    alphabet = list("济南市历下区东关街道千佛社区居委会村路街号楼栋幢座单元室户院-#—－ 　，。（）０１２3456789"
                    "〇零一二三四五六七八九十百千两壹贰拾AbＡ\x00\u200b\ufeff\U0002000B")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    texts += [run * (499 // len(run)) for run in ("1", "一", "1-", "1号", "号楼", "5号楼", "村", "社区", "-#", "十")]
    texts += ["历下区" + run * (490 // len(run)) for run in ("1", "一二", "1号", "5号楼2单元")]
    started = time.perf_counter()
    parsed = parse_many(texts)
    assert time.perf_counter() - started < 10  # about 0.1 s on an idle machine; the import of cn2an included
    assert all(r in REASONS for p in parsed for r in p.reasons)
    assert all(p.room is None or len(p.room) <= 8 for p in parsed)  # numbers are bounded (no run of digits)


def test_a_partial_address_keeps_what_it_has():
    p = parse("历下区")
    assert components(p) == {"district_code": "370102", "district": "历下区"} and p.reasons == ()
    assert components(parse("乱码¥%……&*历下区")) == {"compound": "乱码¥%&*历下区"}  # not at the start: not a district


def test_parse_is_deterministic_and_batches_agree_row_for_row():
    texts = [STANDARD, None, "经十路100号", STANDARD, "莱芜市艾山街道"]
    assert parse_many(texts) == [parse(t) for t in texts] == parse_many(texts)
    table = parse_arrow(pa.array(texts, pa.string()))
    assert table.column_names == list(FIELDS) and table.num_rows == 5
    assert table.column("district_code").to_pylist() == ["370102", None, None, "370102", "370117"]
    assert table.column("reasons").to_pylist()[1:3] == [["empty"], ["district_ambiguous"]]
    frame = parse_frame(pd.DataFrame({"addr": texts}, index=[10, 11, 12, 13, 14]), "addr")
    assert list(frame.index) == [10, 11, 12, 13, 14] and frame.loc[14, "street"] == "艾山街道"
    assert frame.loc[11, "addr"] is None and list(frame.columns) == ["addr", *FIELDS]
    batches = list(map_in_arrow(iter([pa.record_batch({"addr": texts})]), "addr"))
    assert batches[0].column("room").to_pylist()[0] == "1801"


@pytest.mark.slow
def test_spark_parses_distinct_addresses_through_map_in_arrow(spark):
    texts = [STANDARD, "济南市历下区东关街道千佛社区千佛山东路142号舜和庭院5-2-1801", STANDARD, None, "经十路100号"]
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "rid int, HJDZ string")
    parsed = df.select("HJDZ").distinct().mapInArrow(lambda b: map_in_arrow(b, "HJDZ"), spark_schema("HJDZ"))
    rows = {r["HJDZ"]: r for r in parsed.collect()}
    assert len(rows) == 4
    assert rows[STANDARD]["room"] == "1801" and rows["经十路100号"]["reasons"] == ["district_ambiguous"]
    assert rows[None]["reasons"] == ["empty"]


def test_the_lexicon_is_validated_on_load(tmp_path):
    assert load_lexicon().districts.longest("济阳县", 0)[1] == (("370115", "old_name"),)
    shipped = yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))
    bad = tmp_path / "lexicon.yaml"

    def write(**changes):
        bad.write_text(yaml.safe_dump({**shipped, **changes}, allow_unicode=True), encoding="utf-8")

    write(district_aliases=[{"form": "莱城区", "district": "379999"}])
    with pytest.raises(LexiconError, match=r"lexicon.yaml: district_aliases\[0\]: 379999 is not a district"):
        load_lexicon(bad)
    write(street_aliases=[{"form": "刁镇", "street": "刁镇街道"}])
    with pytest.raises(LexiconError, match=r"lexicon.yaml: street_aliases\[0\]: missing or empty district"):
        load_lexicon(bad)
    write(street_aliases=[{"form": "刁镇", "street": "刁镇街道", "district": "370102"}])
    with pytest.raises(LexiconError, match=r"street_aliases\[0\]: 刁镇街道 is not a street of district 370102"):
        load_lexicon(bad)
    write(street_suffixes="街道")
    with pytest.raises(LexiconError, match=r"lexicon.yaml: 'street_suffixes' must be a non-empty list"):
        load_lexicon(bad)
    write(community_suffixes={"居委会": "小区"})
    with pytest.raises(LexiconError, match=r"'community_suffixes' must map written suffixes to 社区 or 村"):
        load_lexicon(bad)
    bad.write_text("[unclosed", encoding="utf-8")
    with pytest.raises(LexiconError, match="lexicon.yaml: not valid YAML"):
        load_lexicon(bad)


# --- scored against a generated city ------------------------------------------------------------

LEVELS = ("district_code", "street", "community", "road", "house_number", "compound", "building", "unit", "room")
# Besides the default address variants, the defects the generator can put into any address.
CITY_CONFIG = """
defects:
  gongan.CZRK:
    HJDZ: {address_variant: 0.3, traditional_chars: 0.05, stray_space: 0.05, fullwidth: 0.05}
  scjg.QYDJ:
    ZS: {address_variant: 0.4, traditional_chars: 0.05, stray_space: 0.05}
"""


def _written_addresses(home) -> pd.DataFrame:
    from citylake.synthcity.departments import TABLES

    truth = pd.read_parquet(home.truth / "record_truth")
    frames = []
    for name, spec in TABLES.items():
        for col in (c for c in spec.columns if c.kind == "address"):
            with sqlite3.connect(home.sources / f"{spec.department}.db") as con:
                rows = pd.read_sql(f'SELECT "{spec.key}" AS record_key, "{col.name}" AS text FROM "{spec.name}"', con)
            t = truth[(truth["source_table"] == name) & (truth["role"] == col.role) & (truth["entity_type"] == "address")]
            rows = rows.astype({"record_key": str}).merge(t, on="record_key")
            rows["defect"] = rows["defects"].map(lambda d, c=col.name: next(
                (x.split(":")[1] for x in d if x.startswith(c + ":")), "none"))
            frames.append(rows[["text", "entity_id", "defect"]])
    out = pd.concat(frames, ignore_index=True).dropna(subset=["text"]).drop_duplicates(["text", "entity_id"])
    true = pd.read_parquet(home.truth / "address.parquet").drop(columns="text")
    return out.merge(true.rename(columns={"address_id": "entity_id"}), on="entity_id")


@pytest.mark.slow
def test_every_level_is_right_for_at_least_99_percent_of_the_forms_the_city_writes(tmp_path):
    from tests.quality.cities import city

    home, _, _ = city(tmp_path, 1500, 11, CITY_CONFIG)
    written = _written_addresses(home)
    counts = written["defect"].value_counts()
    assert counts["none"] > 500 and counts["address_variant"] > 200
    assert min(counts[d] for d in ("traditional_chars", "stray_space", "fullwidth")) >= 10
    # The variant styles of citylake.synthcity.defects all occur (栋, 3-2-501, #楼, full-width, 五号楼).
    variants = written.loc[written["defect"] == "address_variant", "text"]
    for marker in ("栋", "-", "#楼", "１", "号楼"):
        assert variants.str.contains(marker, regex=False).any(), marker
    assert variants.str.contains("[一二三四五六七八九]号楼", regex=True).any()

    parsed = pd.DataFrame([{level: getattr(p, level) for level in LEVELS}
                           for p in parse_many(written["text"].tolist())], index=written.index)
    want = written[list(LEVELS)].astype(str)
    commercial = written["kind"].eq("commercial")  # …文化大厦318室: 楼栋 and 单元 are not written
    want.loc[commercial, ["building", "unit"]] = None
    for defect, rows in written.groupby("defect").groups.items():
        for level in LEVELS:
            right = (parsed.loc[rows, level].to_numpy() == want.loc[rows, level].to_numpy()).mean()
            assert right >= 0.99, (defect, level, right)
