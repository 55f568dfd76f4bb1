"""The standard-address library build (地址库): ``gold.standard_address`` from the authoritative list,
``gold.address_link`` for every source address, ``gold.person_address`` once the population
library is built, and the unresolved addresses fed back to their departments.

Steps, each a function from DataFrames to DataFrames (lake I/O only in :func:`build_address`):
:func:`citylake.jobs.address.standard.standard_addresses`, then
:func:`citylake.jobs.address.match.address_records` → :func:`~citylake.jobs.address.match.parse_texts`
(each distinct text once) → :func:`~citylake.jobs.address.match.match_texts` →
:func:`~citylake.jobs.address.match.address_links`; :func:`person_addresses`; and
:func:`citylake.jobs.address.feedback.file_address_issues`. Every table is checked against its spec
(``jobs/address/tables/*.yaml``) and replaced in one commit; a rerun gives the same tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

TABLES_DIR = Path(__file__).with_name("tables")
STANDARD, LINK, PERSON_ADDRESS = "gold.standard_address", "gold.address_link", "gold.person_address"
PERSON = "gold.person"


def person_addresses(person: DataFrame, links: DataFrame) -> DataFrame:
    """``gold.person_address``: the link of the record each person's address came from."""
    from pyspark.sql import functions as F

    source = person.select("person_id", F.col("provenance")["address"].alias("p")).where(F.col("p").isNotNull())
    return (source.join(links, (F.col("p.source_table") == F.col("source_table"))
                        & (F.col("p.record_key") == F.col("record_key")), "left")
            .select("person_id", "address_id", F.coalesce("level", F.lit("unmatched")).alias("level"),
                    F.coalesce("confidence", F.lit(0.0)).alias("confidence"),
                    F.col("p.source_table").alias("source_table"), F.col("p.record_key").alias("record_key"))
            .dropDuplicates(["person_id"]))


def build_address(spark: SparkSession, lake, registry: Mapping[str, SourceSystem] | None = None,
                  build_id: str | None = None, feedback: bool = True) -> dict[str, Any]:
    """Build the standard-address library from the lake's silver and quarantine tables; a summary."""
    from pyspark.sql import functions as F

    from citylake.jobs.address.feedback import file_address_issues
    from citylake.jobs.address.match import address_links, address_records, match_texts, parse_texts
    from citylake.jobs.address.settings import load_settings
    from citylake.jobs.address.standard import standard_addresses
    from citylake.jobs.spec import conform, load_specs
    from citylake.sources.registry import load_registry

    started = time.perf_counter()
    registry = load_registry() if registry is None else registry
    settings = load_settings(registry)
    build_id = build_id or f"build_address:{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    specs = load_specs(TABLES_DIR)
    metadata = {"batch_id": build_id, "job": "build_address"}
    authority = settings.authority_table.silver_name(settings.authority_system.code)
    if not lake.exists(authority):
        raise FileNotFoundError(f"{authority} does not exist: ingest and gate {settings.authority} first")
    versions = {STANDARD: lake.write_spark(conform(standard_addresses(lake.read_spark(spark, authority), settings),
                                                   specs[STANDARD]), STANDARD, mode="overwrite", metadata=metadata)}
    standard = lake.read_spark(spark, STANDARD)
    records = address_records(spark, lake, settings).localCheckpoint()
    matches = match_texts(parse_texts(records), standard, settings).localCheckpoint()
    versions[LINK] = lake.write_spark(conform(address_links(records, matches), specs[LINK]), LINK, mode="overwrite",
                                      metadata=metadata)
    links = lake.read_spark(spark, LINK)
    if lake.exists(PERSON):
        versions[PERSON_ADDRESS] = lake.write_spark(
            conform(person_addresses(lake.read_spark(spark, PERSON), links), specs[PERSON_ADDRESS]),
            PERSON_ADDRESS, mode="overwrite", metadata=metadata)
    levels = {r["level"]: r["n"] for r in links.groupBy("level").agg(F.count("*").alias("n")).collect()}
    summary = {"build_id": build_id, "standard_addresses": lake.row_count(STANDARD), "records": sum(levels.values()),
               "distinct_addresses": matches.count(), "levels": levels, "versions": versions}
    if feedback:
        summary["address_issues"] = file_address_issues(lake, settings, links, records, build_id)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built the standard-address library: %d standard addresses, %d records (%d distinct addresses), "
             "levels %s in %.1f s", summary["standard_addresses"], summary["records"], summary["distinct_addresses"],
             levels, summary["seconds"])
    return summary
