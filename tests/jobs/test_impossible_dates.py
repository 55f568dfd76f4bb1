"""An impossible date in a source (2026-02-31, read from quarantine) does not fail a gold build:
under Spark's ANSI mode ``to_date`` raises on it, so the builds parse source dates with
``try_to_date`` and it becomes no date. Found by benchmarks/pipeline.py on a 100,000-person city."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.testing import assertDataFrameEqual

from citylake.jobs.person.life import life_status

SCHEMA = "person_id string, source_table string, record_key string, attributes map<string,string>, updated_at timestamp"

def test_an_impossible_death_date_leaves_the_person_deceased_without_that_date(spark):
    linked = spark.createDataFrame([
        # 死亡日期 that no calendar has; the 户籍注销 date is the one left.
        ("p1", "minzheng.SWDJ", "S1", {"death_date": "20260231"}, datetime(2026, 3, 1)),
        ("p1", "gongan.CZRK", "C1", {"registration_cancelled": "1", "cancel_reason": "死亡",
                                    "cancel_date": "20260305"}, datetime(2026, 3, 5)),
        # No other date: deceased, date unknown.
        ("p2", "minzheng.SWDJ", "S2", {"death_date": "2026-02-30"}, datetime(2026, 3, 1)),
        ("p3", "gongan.CZRK", "C3", {"registration_cancelled": "1", "cancel_reason": "死亡",
                                    "cancel_date": "2026１305"}, datetime(2026, 3, 5)),
    ], SCHEMA)
    judged = life_status(linked, date(2026, 6, 1)).select("person_id", "life_status", "death_date")
    expected = spark.createDataFrame([("p1", "deceased", date(2026, 3, 5)), ("p2", "deceased", None),
                                      ("p3", "deceased", None)], "person_id string, life_status string, death_date date")
    assertDataFrameEqual(judged, expected)
