"""The legal-entity library build (法人库, 一企一档): enterprise-bearing records → gold tables.

Steps, each a function from DataFrames to DataFrames (lake I/O only in :func:`build_enterprise`):
:func:`citylake.jobs.enterprise.records.enterprise_records` →
:func:`citylake.jobs.enterprise.linkage.link_records` (one USCC per record, repairs, names) →
:func:`citylake.jobs.enterprise.golden.golden` (priority, provenance, standard address, legal
representative's person, employees, tax, property) → conflicts and profiles; the conflicts and
proposed USCC corrections go back to the departments (citylake.jobs.enterprise.feedback). Every
table is checked against its spec (``jobs/enterprise/tables/*.yaml``) and replaced; a rerun gives
the same tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from citylake.jobs.enterprise.golden import Priority

log = logging.getLogger(__name__)

TABLES_DIR = Path(__file__).with_name("tables")
ENTERPRISE, LINK = "gold.enterprise", "gold.enterprise_source_link"
CONFLICT, PROFILE = "gold.enterprise_conflict", "gold.enterprise_profile"
ADDRESS_LINK, PERSON_LINK = "gold.address_link", "gold.person_source_link"


@dataclass(frozen=True)
class EnterpriseTables:
    enterprise: DataFrame
    links: DataFrame
    conflicts: DataFrame
    profiles: DataFrame
    evaluated: DataFrame


def source_links(linked: DataFrame) -> DataFrame:
    """``gold.enterprise_source_link``: every record → its USCC, or unlinked with a reason."""
    from pyspark.sql import functions as F

    return linked.select(
        "record_id", "system", "source_table", "record_key", "role", "layer", "batch_id",
        F.col("uscc").alias("written_uscc"), F.col("uscc_check").alias("written_uscc_check"),
        F.col("enterprise_id").alias("uscc"), "link_method", "link_score", "link_reasons", "proposed_uscc",
        "unlinked_reason")


def enterprise_tables(records: DataFrame, registry: Mapping[str, SourceSystem], as_of: date,
                      address_links: DataFrame | None = None, person_links: DataFrame | None = None,
                      priority: Priority | None = None) -> EnterpriseTables:
    """Every gold frame of the library from the enterprise-bearing records (no I/O)."""
    from citylake.jobs.enterprise import feedback
    from citylake.jobs.enterprise.golden import golden, load_priority
    from citylake.jobs.enterprise.linkage import link_records
    from citylake.jobs.enterprise.profile import load_parts, profiles

    priority = priority or load_priority(registry)
    result = link_records(records, priority.authority)
    linked = result.records.localCheckpoint()
    enterprise, values = golden(linked, result.enterprises, priority, as_of, address_links, person_links)
    enterprise = enterprise.localCheckpoint()
    values = values.localCheckpoint()
    return EnterpriseTables(enterprise=enterprise, links=source_links(linked),
                            conflicts=feedback.conflicts(values, priority),
                            profiles=profiles(linked, enterprise, load_parts(registry)),
                            evaluated=feedback.evaluated(values, priority))


def as_of_date(records: DataFrame) -> date:
    """The reference date of the data: the day of the newest record update (today if none)."""
    from pyspark.sql import functions as F

    newest = records.agg(F.max("updated_at")).first()[0]
    return newest.date() if newest else datetime.now(UTC).date()


def build_enterprise(spark: SparkSession, lake, registry: Mapping[str, SourceSystem] | None = None,
                     as_of: date | None = None, build_id: str | None = None, feedback: bool = True) -> dict[str, Any]:
    """Build the legal-entity library from the lake's silver and quarantine tables; a summary.

    The standard addresses (gold.address_link) and the legal representatives' persons
    (gold.person_source_link) are joined when those libraries are built. ``feedback``: file the
    conflicts and proposed corrections as warnings in ``governance.quality_issue``.
    """
    from pyspark.sql import functions as F

    from citylake.jobs.enterprise.feedback import file_feedback
    from citylake.jobs.enterprise.records import enterprise_records, table_versions
    from citylake.jobs.spec import conform, load_specs
    from citylake.sources.registry import load_registry

    started = time.perf_counter()
    registry = load_registry() if registry is None else registry
    build_id = build_id or f"build_enterprise:{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    specs = load_specs(TABLES_DIR)
    # The versions read are fixed first: a batch promoted during the build waits for the next one.
    records = enterprise_records(spark, lake, registry, versions=table_versions(lake, registry)).localCheckpoint()
    as_of = as_of or as_of_date(records)
    address_links = lake.read_spark(spark, ADDRESS_LINK) if lake.exists(ADDRESS_LINK) else None
    person_links = lake.read_spark(spark, PERSON_LINK) if lake.exists(PERSON_LINK) else None
    tables = enterprise_tables(records, registry, as_of, address_links, person_links)
    metadata = {"batch_id": build_id, "job": "build_enterprise", "as_of": as_of.isoformat()}
    versions = {}
    for name, frame in ((ENTERPRISE, tables.enterprise), (LINK, tables.links), (CONFLICT, tables.conflicts),
                        (PROFILE, tables.profiles)):
        versions[name] = lake.write_spark(conform(frame, specs[name]), name, mode="overwrite", metadata=metadata)
    links = lake.read_spark(spark, LINK)
    counts = {r["k"]: r["n"] for r in links.groupBy(
        F.coalesce("link_method", F.lit("unlinked")).alias("k")).agg(F.count("*").alias("n")).collect()}
    proposals = links.where(F.col("proposed_uscc").isNotNull())
    enterprise = lake.read_spark(spark, ENTERPRISE)
    status = {r["status"]: r["n"] for r in enterprise.groupBy("status").agg(F.count("*").alias("n")).collect()}
    summary = {
        "build_id": build_id, "as_of": as_of.isoformat(), "records": sum(counts.values()),
        "linked_by_uscc": counts.get("uscc", 0) + counts.get("pilot_code", 0),
        "linked_by_repair": counts.get("uscc_repair", 0), "linked_by_name": counts.get("name", 0),
        "unlinked": counts.get("unlinked", 0), "proposed_corrections": proposals.count(),
        "enterprises": sum(status.values()), "status": {str(k): v for k, v in status.items()},
        "with_standard_address": enterprise.where(F.col("address_id").isNotNull()).count(),
        "with_legal_rep_person": enterprise.where(F.col("legal_rep_person_id").isNotNull()).count(),
        "conflicts": lake.row_count(CONFLICT), "versions": versions}
    if feedback:
        summary["feedback"] = file_feedback(lake, registry, lake.read_spark(spark, CONFLICT), tables.evaluated,
                                            proposals.join(records.select("record_id", "uscc_raw"), "record_id"),
                                            build_id)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built the legal-entity library: %d records -> %d enterprises (%d repaired, %d by name, %d unlinked) "
             "in %.1f s", summary["records"], summary["enterprises"], summary["linked_by_repair"],
             summary["linked_by_name"], summary["unlinked"], summary["seconds"])
    return summary
