"""Which residue records an incremental person build relinks
(citylake.jobs.person.incremental.residue_to_relink), on crafted records: every record whose link
can change, and no other."""

from __future__ import annotations

import dataclasses
from datetime import date

from pyspark.sql import functions as F

from citylake.jobs.person.incremental import SOURCE_RECORD, residue_to_relink
from citylake.jobs.person.linkage import person_features, record_features
from citylake.jobs.person.linkage_settings import load_settings
from citylake.jobs.person.records import RECORD_COLUMNS, records_schema
from tests.jobs.test_linkage import record, substituted, valid

A, B, C, D = (valid(f"3701021990010112{i}") for i in range(4))
E, F_, G = (valid(f"3701031985061245{i}") for i in range(3))
ADDRESS = "历下区山大路{}号"
BASIS = "person_id string, name string, sex string, birth_date date, address string, phone string"


def _settings():
    """Name weights unclipped at the bottom: in a city of six, every name is common."""
    settings = load_settings()
    weights = {k: dict(v) for k, v in settings.weights.items()}
    weights["name"]["equal_min"] = 0.0
    return dataclasses.replace(settings, weights=weights)


def test_relinked_are_the_records_whose_link_can_change(spark):
    before = [
        (A, "李明", "1", date(1990, 1, 1), ADDRESS.format(1), "13800000001"),
        (C, "孙强", "1", date(1970, 3, 3), ADDRESS.format(3), None),
        (D, "张三", "1", date(1980, 1, 1), ADDRESS.format(4), None),
        (E, "王伟", "1", date(1990, 5, 5), ADDRESS.format(5), None),
        (F_, "赵丽", "2", date(1985, 6, 12), ADDRESS.format(6), None),
        (G, "刘洋", "1", date(1960, 2, 2), ADDRESS.format(7), None),
    ]
    after = [
        (A, "李明", "1", date(1990, 1, 1), ADDRESS.format(1), "13900000001"),  # a new phone number
        (B, "钱多", "1", date(1975, 7, 7), ADDRESS.format(2), "13800000002"),  # a new person
        # C is gone; D is now called 王伟, so 王伟 is commoner than it was (and 张三 gone)
        (D, "王伟", "1", date(1980, 1, 1), ADDRESS.format(4), None),
        (E, "王伟", "1", date(1990, 5, 5), ADDRESS.format(5), None),
        (F_, "赵丽", "2", date(1985, 6, 12), ADDRESS.format(6), None),
        (G, "刘洋", "1", date(1960, 2, 2), ADDRESS.format(8), None),  # moved: the context of S6
    ]
    rows = [
        record("S1", name="李明", birth=date(1990, 1, 1)),  # a candidate of A, whose row changed
        record("S2", name="钱朵", birth=date(1975, 7, 7), phone="13800000002"),  # now a candidate of B
        record("S3", raw=substituted(C, 16), name="周杰"),  # was one digit from C
        record("S4", name="王伟", birth=date(1990, 5, 5)),  # E's, but the weight of 王伟 changed
        record("S5", name="赵丽", birth=date(1985, 6, 12)),  # F's, and nothing of it changed
        record("S6", name="陈红", role="mother"),  # the father (G) moved
        record("S6", valid_id=G, name="刘洋", role="father"),
        record("S7", name="吴敏", role="wife"),  # the husband's record was touched
        record("S8", name="郑重"),  # no candidate before or now
    ]
    records = spark.createDataFrame([tuple(r[c] for c in RECORD_COLUMNS) for r in rows], records_schema())
    touched_sources = spark.createDataFrame([("renshe", "renshe.AC02", "S7")], SOURCE_RECORD)
    changed = spark.createDataFrame([(p,) for p in (A, B, C, D, G)], "person_id string")
    settings = _settings()
    people = person_features(spark.createDataFrame(after, BASIS), settings)
    relink = residue_to_relink(records, record_features(records, people, settings), touched_sources, changed,
                               spark.createDataFrame(before, BASIS), people, settings)
    assert sorted(r.record_key for r in relink.where(F.col("system") == "renshe").collect()) == [
        "S1", "S2", "S3", "S4", "S6", "S7"]
    assert relink.count() == 6
