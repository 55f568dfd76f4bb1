"""A record corrected at its source counts once in every library (citylake.jobs.source_records.current).

The gate merges the corrected version into silver and leaves the rejected one in quarantine, which
is append-only; the person, enterprise and address builds read both layers. The city below has its
departments correct every open defect on day 1, so many records have a version in each layer."""

from __future__ import annotations

from datetime import datetime

import pyarrow.compute as pc
import pytest
from pyspark.testing import assertDataFrameEqual

from citylake.jobs.address.build import LINK as ADDRESS_LINK
from citylake.jobs.address.build import build_address
from citylake.jobs.enterprise.build import LINK as ENTERPRISE_LINK
from citylake.jobs.enterprise.build import build_enterprise
from citylake.jobs.person.build import LINK as PERSON_LINK
from citylake.jobs.person.build import build_person
from citylake.jobs.source_records import current
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from tests.quality.cities import city, ingest_and_gate

# Broken ID numbers and USCCs in the enterprise-bearing tables too: at the default rates a city
# this small quarantines none of their records.
CITY = """
enterprises_per_person: 0.15
defects:
  renshe.AC02: {aac002: {bad_check_digit: 0.05}}
  scjg.QYDJ: {TYSHXYDM: {bad_check_digit: 0.1}, FDDBRZJHM: {bad_check_digit: 0.05}}
corrections_per_day: {gongan: 1.0, minzheng: 1.0, renshe: 1.0, yibao: 1.0, scjg: 1.0}
"""


def test_the_silver_version_wins_then_the_newest_quarantined(spark):
    rows = [  # record_id, layer, updated_at, batch_id
        ("a", "quarantine", datetime(2026, 5, 2), "d1"), ("a", "silver", datetime(2026, 5, 1), "d0"),
        ("b", "quarantine", datetime(2026, 5, 1), "d0"), ("b", "quarantine", datetime(2026, 5, 3), "d1"),
        ("c", "quarantine", None, "d0"), ("c", "quarantine", None, "d1"),
        ("d", "quarantine", None, "d2"), ("d", "quarantine", datetime(2026, 5, 1), "d0"),
    ]
    versions = spark.createDataFrame(rows, "record_id string, layer string, updated_at timestamp, batch_id string")
    expected = [r + (r[:2] in {("a", "silver")} or (r[0], r[3]) in {("b", "d1"), ("c", "d1"), ("d", "d0")},)
                for r in rows]
    assertDataFrameEqual(current(versions), spark.createDataFrame(
        expected, "record_id string, layer string, updated_at timestamp, batch_id string, current boolean"))


def _corrected(lake, registry) -> set[tuple[str, str]]:
    """(source table, record key) of every record with a row in silver and in quarantine."""
    out = set()
    for code, system in registry.items():
        for table in system.tables:
            name, key = table.lake_id(code), table.primary_key[0]
            if not (lake.exists(f"silver.{name}") and lake.exists(f"quarantine.{name}")):
                continue
            keys = [set(pc.cast(lake.read_arrow(f"{layer}.{name}", columns=[key]).read_all()[key], "string")
                        .to_pylist()) for layer in ("silver", "quarantine")]
            out |= {(f"{code}.{table.name}", k) for k in keys[0] & keys[1]}
    return out


@pytest.mark.slow
def test_a_corrected_record_is_linked_once_from_silver(tmp_path, spark):
    home, lake, config = city(tmp_path, 300, 17, CITY)
    registry = load_registry()
    ingest_and_gate(home, lake, "d0")
    advance(1, [home.sqlite_source_url()], home.truth, config_path=str(config))
    ingest_and_gate(home, lake, "d1")
    corrected = _corrected(lake, registry)
    build_person(spark, lake, registry, feedback=False)
    build_address(spark, lake, registry, feedback=False)
    build_enterprise(spark, lake, registry, feedback=False)
    for table in (PERSON_LINK, ADDRESS_LINK, ENTERPRISE_LINK):
        links = lake.read_arrow(table).read_all().to_pandas()
        assert links["record_id"].is_unique, table
        mine = links[[k in corrected for k in zip(links["source_table"], links["record_key"], strict=True)]]
        # Every library has corrected records to show it (the city corrects every open defect).
        assert len(mine) > 0, table
        if "layer" in mine:
            assert (mine["layer"] == "silver").all(), (table, mine[mine["layer"] != "silver"]["record_id"].tolist())
