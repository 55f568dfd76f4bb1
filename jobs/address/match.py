"""Matching (地址匹配): every distinct source address, parsed once, to a standard address of
``gold.standard_address`` with the level it matched at and a confidence; ``gold.address_link``.

Both sides get the same keys, one per level and way of naming the place (``_KEYS``): the room
(区县 + 道路门牌 + 小区 + 楼栋 + 单元 + 室, or with 小区 alone, or with 道路门牌 alone), the building,
the compound or house number, the road, the street, the district. A text reaches the finest level
whose key finds the list: at the room level only a key naming exactly one standard address counts
(two compounds sharing a road and house number are told apart by the compound, or not at all), and
only with a confidence of at least ``min_room_confidence``: street or community written but
disagreeing with the standard address lower it. Coarser than the room there is no address id:
the place is known, the address is not, and it is never guessed — the link names the closest
standard addresses instead (``candidates``) and the department gets the address back
(citylake.jobs.address.feedback).

Frames: :func:`address_records` (the records and their texts), :func:`match_texts` (distinct
text → match), :func:`address_links` (records → ``gold.address_link``). No I/O but the reads of
:func:`address_records`; no collect.
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

from citylake.jobs.address.settings import LEVELS, MatchingSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql import Column, DataFrame, SparkSession

    from citylake.sources.registry import SourceSystem

# (key name, level, the components it joins). ``building?``/``unit?``: an absent component is a
# value of its own (an office has no building or unit), so a text leaving it out where the list
# has one does not reach the room.
_KEYS = (
    ("room_full", "room", ("district_code", "road", "house_number", "compound", "building?", "unit?", "room")),
    ("room_compound", "room", ("district_code", "compound", "building?", "unit?", "room")),
    ("room_road", "room", ("district_code", "road", "house_number", "building?", "unit?", "room")),
    ("building_full", "building", ("district_code", "road", "house_number", "compound", "building")),
    ("building_compound", "building", ("district_code", "compound", "building")),
    ("building_road", "building", ("district_code", "road", "house_number", "building")),
    ("compound_full", "compound", ("district_code", "road", "house_number", "compound")),
    ("compound_compound", "compound", ("district_code", "compound")),
    ("compound_road", "compound", ("district_code", "road", "house_number")),
    ("road", "road", ("district_code", "road")),
    ("street", "street", ("district_code", "street")),
    ("district", "district", ("district_code",)),
)
UNMATCHED = "unmatched"


def _keys() -> Column:
    """array<struct<key, level, rank>> of the keys a row (parsed text or standard address) has."""
    from pyspark.sql import functions as F

    entries = []
    for rank, (name, level, parts) in enumerate(_KEYS):
        cols = [F.coalesce(F.col(p[:-1]), F.lit("")) if p.endswith("?") else F.col(p) for p in parts]
        required = [F.col(p) for p in parts if not p.endswith("?")]
        present = reduce(lambda a, b: a & b, [c.isNotNull() & (c != "") for c in required])
        key = F.when(present, F.concat_ws("|", F.lit(name), *cols))
        entries.append(F.struct(key.alias("key"), F.lit(level).alias("level"), F.lit(rank).alias("rank")))
    return F.filter(F.array(*entries), lambda e: e["key"].isNotNull())


def standard_keys(standard: DataFrame, candidates: int) -> DataFrame:
    """(key, level, rank, n, address_id, s_street, s_community, candidates): per key of the list, how
    many standard addresses it names, the smallest id with its street and community, and the first
    ``candidates`` ids (for feedback)."""
    from pyspark.sql import functions as F

    exploded = standard.select("address_id", "street", "community", F.explode(_keys()).alias("k")).select(
        "address_id", "street", "community", "k.*")
    # Lists of ids only for the keys of a building or a compound (tens to hundreds of addresses):
    # a road's, a street's or a district's key names its smallest id alone, so memory stays bounded.
    listed = F.when(F.col("level").isin("building", "compound"), F.col("address_id"))
    return exploded.groupBy("key", "level", "rank").agg(
        F.count("*").alias("n"), F.min(F.struct("address_id", "street", "community")).alias("first"),
        F.collect_list(listed).alias("listed")).select(
        "key", "level", "rank", "n", "first.address_id", F.col("first.street").alias("s_street"),
        F.col("first.community").alias("s_community"),
        F.when(F.size("listed") > 0, F.slice(F.array_sort("listed"), 1, candidates))
        .otherwise(F.array("first.address_id")).alias("candidates"))


def parse_texts(texts: DataFrame) -> DataFrame:
    """The parse (citylake.jobs.address.parse) of each distinct ``text``, once."""
    from citylake.jobs.address.parse import map_in_arrow, spark_schema

    return texts.select("text").distinct().mapInArrow(lambda b: map_in_arrow(b, "text"), spark_schema("text"))


def match_texts(parsed: DataFrame, standard: DataFrame, settings: MatchingSettings) -> DataFrame:
    """Per distinct parsed text: ``address_id`` (room level only), ``level``, ``confidence``,
    ``candidates`` and ``reasons`` (the parser's and the matcher's).

    One pass over ``parsed`` (the parse runs in Python workers, so it is read once). Most texts name
    their room in full, and a unique room hit on a text's finest key, with the confidence the room
    level needs, is its match whatever its coarser keys would find. So each text's finest key is
    tried first against the list's unique room keys; only the texts it does not settle have all
    their keys exploded (a settled text keeps its finest key alone). The keys, with the few
    components the confidence needs carried along, are joined to the list's keys and grouped back
    by text, keeping the finest unique room hit and the finest coarser hit (a text has one key per
    rank, so the smallest rank is the finest and has no tie)."""
    from pyspark.sql import functions as F

    keys = standard_keys(standard, settings.candidates)
    carried = ("district_code", "street", "community", "room", "reasons")
    unique_rooms = keys.where((F.col("level") == "room") & (F.col("n") == 1)).select(
        "key", F.struct("rank", "address_id", "s_street", "s_community").alias("finest_room"))
    # The parse's components travel through the first join rather than the keys built from them
    # (an array of up to twelve long strings a text): the keys are built again after it.
    tried = parsed.withColumn("key", F.get(_keys(), 0)["key"]).join(unique_rooms, "key", "left")
    settled = _room_ok(F.col("finest_room"), settings)
    exploded = (tried.select("text", *carried, F.explode_outer(
                    F.when(settled, F.slice(_keys(), 1, 1)).otherwise(_keys())).alias("k"))
                .select("text", *carried, F.col("k.key").alias("key")))
    hits = exploded.join(keys, "key", "left")
    room_hit = (F.col("level") == "room") & (F.col("n") == 1)
    best = hits.groupBy("text").agg(
        *(F.first(c).alias(c) for c in carried),
        F.min(F.when(room_hit, F.struct("rank", "address_id", "s_street", "s_community"))).alias("room_hit"),
        F.min(F.when(F.col("level") != "room", F.struct("rank", "level", "candidates"))).alias("coarse_hit"))
    room_id = F.col("room_hit.address_id")
    coarse_level = F.col("coarse_hit.level")
    room_confidence = _room_confidence(F.col("room_hit"), settings)
    room_ok = _room_ok(F.col("room_hit"), settings)
    level_confidence = reduce(lambda acc, lv: acc.when(coarse_level == lv, settings.confidence[lv]),
                              LEVELS[2:], F.when(coarse_level == LEVELS[1], settings.confidence[LEVELS[1]]))
    level = F.when(room_ok, F.lit("room")).otherwise(F.coalesce(coarse_level, F.lit(UNMATCHED)))
    why = (F.when(room_ok, F.lit(None))
           .when(room_id.isNotNull(), F.lit("room_disagrees_with_street_or_community"))
           .when(F.col("room").isNull(), F.lit("room_missing"))
           .when(coarse_level.isNull(), F.lit("no_standard_address"))
           .otherwise(F.lit("no_standard_address_at_room_level")))
    return best.select(
        "text", "district_code",
        F.when(room_ok, room_id).alias("address_id"), level.alias("level"),
        F.when(room_ok, room_confidence).otherwise(level_confidence.otherwise(0.0)).cast("double").alias("confidence"),
        F.when(room_ok, F.array(room_id)).otherwise(
            F.coalesce(F.col("coarse_hit.candidates"), F.array().cast("array<string>"))).alias("candidates"),
        F.when(why.isNull(), F.col("reasons")).otherwise(F.concat(F.col("reasons"), F.array(why))).alias("reasons"))


def _room_confidence(hit: Column, settings: MatchingSettings) -> Column:
    """The confidence of a room hit (struct of rank, address_id, s_street, s_community): full key or
    not, lowered where the text's street or community disagrees with the standard address's."""
    from pyspark.sql import functions as F

    disagree = settings.disagreement_factor
    full = next(i for i, (name, _, _) in enumerate(_KEYS) if name == "room_full")
    return (F.lit(settings.confidence["room"])
            * F.when(hit["rank"] == full, 1.0).otherwise(settings.partial_key_factor)
            * F.when(F.col("street").isNotNull() & (F.col("street") != hit["s_street"]), disagree).otherwise(1.0)
            * F.when(F.col("community").isNotNull() & (F.col("community") != hit["s_community"]), disagree)
            .otherwise(1.0))


def _room_ok(hit: Column, settings: MatchingSettings) -> Column:
    """A room hit that is there and confident enough for the room level."""
    return hit["address_id"].isNotNull() & (_room_confidence(hit, settings) >= settings.min_room_confidence)


def source_tables(registry: Mapping[str, SourceSystem]) -> list[str]:
    """The layer tables whose address columns are matched (what the gold specs' ``sources`` refer to by
    this module)."""
    from citylake.jobs.address.settings import load_settings

    return sorted({f"{layer}.{s.table.lake_id(s.system.code)}" for s in load_settings(registry).sources
                   for layer in ("silver", "quarantine")})


def address_records(spark: SparkSession, lake, settings: MatchingSettings) -> DataFrame:
    """Every record of the sources' address columns with its text: the current version of each
    (citylake.jobs.source_records.current), from silver or quarantine."""
    from pyspark.sql import functions as F

    from citylake.jobs import source_records

    frames = []
    for source in settings.sources:
        name = source.table.lake_id(source.system.code)
        key = source.table.primary_key[0]
        for layer in ("silver", "quarantine"):
            if not lake.exists(f"{layer}.{name}"):
                continue
            frame = lake.read_spark(spark, f"{layer}.{name}")
            frames.append(frame.select(
                F.concat(F.lit(f"{source.source_table}:"), F.col(key).cast("string"),
                         F.lit(f"#{source.role}")).alias("record_id"),
                F.lit(source.system.code).alias("system"), F.lit(source.source_table).alias("source_table"),
                F.col(key).cast("string").alias("record_key"), F.lit(source.column).alias("column"),
                F.lit(source.role).alias("role"), F.lit(layer).alias("layer"), F.col("_batch_id").alias("batch_id"),
                F.col(source.column).cast("string").alias("text"), source_records.updated_at(source.table)))
    if not frames:
        return spark.createDataFrame([], ", ".join(f"{c} string" for c in RECORD_COLUMNS))
    # The current version first, then whether it has an address: an address emptied in silver must
    # not fall back to the old quarantined one.
    versions = source_records.current(reduce(lambda a, b: a.unionByName(b), frames))
    return versions.where(F.col("current") & F.col("text").isNotNull()).select(*RECORD_COLUMNS)


RECORD_COLUMNS = ("record_id", "system", "source_table", "record_key", "column", "role", "layer", "batch_id", "text")


def address_links(records: DataFrame, matches: DataFrame) -> DataFrame:
    """``gold.address_link``: each record's address (by its text's match); the text itself stays in
    its silver or quarantine table (personal data in a person's record)."""
    return records.join(matches, "text").drop("text")

