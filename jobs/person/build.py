"""The population library build (人口库): person-bearing records -> ``gold.person``,
``gold.person_source_link``, ``gold.person_conflict``, ``gold.person_profile``,
``gold.household_member``, and the conflict warnings for the departments.

Steps, each a function from DataFrames to DataFrames (lake I/O only in :func:`build_person`):

1. :func:`citylake.jobs.person.records.person_records` — every person-bearing record, per role;
2. records with a valid ID are keyed by it; the others (the residue) are linked to the golden
   persons of a first pass by :func:`citylake.jobs.person.linkage.link_residue` (score, reasons,
   proposed corrected ID, or why not);
3. :func:`citylake.jobs.person.golden.golden` over every linked record — the golden attributes by
   source priority, with provenance; :mod:`citylake.jobs.person.life` — life status, 实有人口;
4. conflicts (:mod:`citylake.jobs.person.conflicts`), profiles and households
   (:mod:`citylake.jobs.person.profile`).

Every table is checked against its spec (``jobs/person/tables/*.yaml``) and replaced in one commit
each; the build is a function of the current silver and quarantine tables, so a rerun gives the
same tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citylake.jobs.person.golden import Priority, golden, load_priority
from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

TABLES_DIR = Path(__file__).with_name("tables")
PERSON, LINK, CONFLICT, PROFILE, HOUSEHOLD = ("gold.person", "gold.person_source_link", "gold.person_conflict",
                                              "gold.person_profile", "gold.household_member")
LINKAGE_PERSON_COLUMNS = ("name", "sex", "birth_date", "address", "phone")
NO_VALID_ID = "no valid id number"


@dataclass(frozen=True)
class PersonTables:
    """The frames of one build, before they are written."""

    person: DataFrame
    links: DataFrame
    conflicts: DataFrame
    profiles: DataFrame
    households: DataFrame
    values: DataFrame  # per (record, attribute) with the chosen value: for the 一致性 counts


def link_records(records: DataFrame, priority: Priority) -> tuple[DataFrame, DataFrame]:
    """(records with ``person_id`` and ``link_method``, the residue's link rows).

    A valid ID number is the person id; the residue goes through the linker against the persons
    that the records with a valid ID make (their golden name, sex, birth date, address, phone).
    """
    from pyspark.sql import functions as F

    from citylake.jobs.person.linkage import link_residue

    keyed = records.where(F.col("id_number").isNotNull()).withColumn("person_id", F.col("id_number"))
    first = Priority({a: priority.attributes[a] for a in LINKAGE_PERSON_COLUMNS if a in priority.attributes}, ())
    persons, _ = golden(keyed, first)
    # Checkpoints cut the query plans short: the linker's plan over the records' plan (one scan per
    # table and layer) is too large for the optimiser otherwise.
    residue_links = link_residue(records, persons.select("person_id", *first.attributes)).localCheckpoint()
    linked = (keyed.withColumn("link_method", F.lit("id_number"))
              .unionByName(records.where(F.col("id_number").isNull())
                           .join(residue_links.where(F.col("person_id").isNotNull()).select("record_id", "person_id"),
                                 "record_id")
                           .withColumn("link_method", F.lit("linkage"))))
    return linked, residue_links


def source_links(records: DataFrame, residue_links: DataFrame) -> DataFrame:
    """``gold.person_source_link``: every person-bearing record (and role) -> a person, or why not."""
    from pyspark.sql import functions as F

    joined = records.join(residue_links.withColumnRenamed("person_id", "linked_person_id"), "record_id", "left")
    valid = F.col("id_number").isNotNull()
    linked = F.col("linked_person_id")
    return joined.select(
        "record_id", "system", "source_table", "record_key", "role", "layer", "batch_id",
        F.when(valid, F.col("id_number")).otherwise(linked).alias("person_id"),
        F.when(valid, F.lit("id_number")).when(linked.isNotNull(), F.lit("linkage"))
        .alias("link_method"),
        F.when(valid, F.lit(1.0)).otherwise(F.col("match_score")).alias("match_score"),
        F.when(valid, F.array(F.lit("valid id number"))).otherwise(
            F.coalesce(F.col("match_reasons"), F.array().cast("array<string>"))).alias("match_reasons"),
        F.col("proposed_id_number"),
        F.when(valid, F.lit(None).cast("string"))
        .otherwise(F.coalesce(F.col("unlinked_reason"),
                              F.when(linked.isNull(), F.lit(NO_VALID_ID))))
        .alias("unlinked_reason"))


def person_tables(records: DataFrame, registry: Mapping[str, SourceSystem], as_of: date,
                  priority: Priority | None = None) -> PersonTables:
    """Every gold frame of the library from the person-bearing records (no I/O)."""
    from pyspark.sql import functions as F

    from citylake.jobs.person import conflicts as conflict_rules
    from citylake.jobs.person.life import district_code, life_status
    from citylake.jobs.person.profile import household_members, load_parts, profiles

    priority = priority or load_priority(registry)
    linked, residue_links = link_records(records, priority)
    linked = linked.localCheckpoint()
    persons, values = golden(linked, priority)
    life = life_status(linked, as_of)
    person = (persons.join(life, "person_id", "left")
              .withColumn("id_number", F.col("person_id"))
              .withColumn("district_code", district_code(F.col("address")))
              .withColumn("resident", F.coalesce((F.col("life_status") == "alive") & F.col("active_recently"),
                                                 F.lit(False)))
              .drop("active_recently")).localCheckpoint()
    return PersonTables(
        person=person, links=source_links(records, residue_links),
        conflicts=conflict_rules.conflicts(values, priority),
        profiles=profiles(linked, person, load_parts(registry)), households=household_members(person),
        values=values)


def as_of_date(records: DataFrame) -> date:
    """The reference date of the data: the day of the newest record update (today if none)."""
    from pyspark.sql import functions as F

    newest = records.agg(F.max("updated_at")).first()[0]
    return newest.date() if newest else datetime.now(UTC).date()


def build_person(spark: SparkSession, lake, registry: Mapping[str, SourceSystem] | None = None,
                 as_of: date | None = None, build_id: str | None = None, feedback: bool = True) -> dict[str, Any]:
    """Build the population library from the lake's silver and quarantine tables; a summary.

    ``as_of``: the reference date of life status and 实有人口 (default: the newest record update).
    ``feedback``: file the conflicts as warnings in ``governance.quality_issue``.
    """
    from pyspark.sql import functions as F

    from citylake.jobs.person.conflicts import evaluated_counts, file_conflicts
    from citylake.jobs.person.records import person_records
    from citylake.jobs.spec import conform, load_specs
    from citylake.sources.registry import load_registry

    started = time.perf_counter()
    registry = load_registry() if registry is None else registry
    build_id = build_id or f"build_person:{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    specs = load_specs(TABLES_DIR)
    records = person_records(spark, lake, registry).localCheckpoint()
    as_of = as_of or as_of_date(records)
    priority = load_priority(registry)
    tables = person_tables(records, registry, as_of, priority)
    metadata = {"batch_id": build_id, "job": "build_person", "as_of": as_of.isoformat()}
    versions = {}
    for name, frame in ((PERSON, tables.person), (LINK, tables.links), (CONFLICT, tables.conflicts),
                        (PROFILE, tables.profiles), (HOUSEHOLD, tables.households)):
        versions[name] = lake.write_spark(conform(frame, specs[name]), name, mode="overwrite", metadata=metadata)
    links = lake.read_spark(spark, LINK)
    counts = {r["k"]: r["n"] for r in links.groupBy(
        F.coalesce("link_method", F.lit("unlinked")).alias("k")).agg(F.count("*").alias("n")).collect()}
    proposals = links.where(F.col("proposed_id_number").isNotNull()).count()
    person = lake.read_spark(spark, PERSON)
    life = {r["life_status"]: r["n"] for r in person.groupBy("life_status").agg(F.count("*").alias("n")).collect()}
    summary = {
        "build_id": build_id, "as_of": as_of.isoformat(), "records": sum(counts.values()),
        "linked_by_id": counts.get("id_number", 0), "linked_by_linkage": counts.get("linkage", 0),
        "unlinked": counts.get("unlinked", 0), "proposed_corrections": proposals,
        "persons": sum(life.values()), "life_status": life,
        "residents": person.where("resident").count(), "conflicts": lake.row_count(CONFLICT),
        "households": lake.read_spark(spark, HOUSEHOLD).select("household_number").distinct().count(),
        "versions": versions}
    if feedback:
        conflicts = lake.read_spark(spark, CONFLICT)
        summary["conflict_issues"] = file_conflicts(lake, registry, conflicts,
                                                    evaluated_counts(tables.values, priority), build_id)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built the population library: %d records -> %d persons (%d by linkage, %d unlinked) in %.1f s",
             summary["records"], summary["persons"], summary["linked_by_linkage"], summary["unlinked"],
             summary["seconds"])
    return summary
