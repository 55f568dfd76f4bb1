"""The population library build (人口库): person-bearing records -> ``gold.person``,
``gold.person_source_link``, ``gold.person_conflict``, ``gold.person_profile``,
``gold.household_member``, and the conflict warnings for the departments.

Steps, each a function from DataFrames to DataFrames (lake I/O only in :func:`build_person`):

1. :func:`citylake.jobs.person.records.person_records` — every person-bearing record, per role,
   in its current version (:func:`citylake.jobs.source_records.current`);
2. records with a valid ID are keyed by it; the others (the residue) are linked to the golden
   persons of a first pass by :func:`citylake.jobs.person.linkage.link_residue` (score, reasons,
   proposed corrected ID, or why not);
3. :func:`citylake.jobs.person.golden.golden` over every linked record — the golden attributes by
   source priority, with provenance; :mod:`citylake.jobs.person.life` — life status, 实有人口;
4. conflicts (:mod:`citylake.jobs.person.conflicts`), profiles and households
   (:mod:`citylake.jobs.person.profile`).

Every table is checked against its spec (``jobs/person/tables/*.yaml``) and replaced in one commit
each; the build is a function of the silver and quarantine tables, so a rerun gives the same
tables. After a complete build, the next one is incremental (citylake.jobs.person.incremental): it
recomputes the persons the changes touch and replaces their rows, giving the same tables.
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
    """The frames of one build (or of the persons one incremental build touches), before they are
    written."""

    person: DataFrame
    links: DataFrame
    conflicts: DataFrame
    profiles: DataFrame
    households: DataFrame
    evaluated: DataFrame  # per (person, source table, attribute): values compared with the authority


class StepLog:
    """Logs each step of a build as it ends, with the seconds since the build started: a build of
    a million persons runs for minutes, and the log shows how far it is and where the time goes."""

    def __init__(self, build_id: str):
        self.build_id, self.started = build_id, time.perf_counter()

    def done(self, step: str) -> None:
        log.info("%s: %s (%.1f s)", self.build_id, step, time.perf_counter() - self.started)


def linkage_basis(records: DataFrame, priority: Priority) -> DataFrame:
    """The persons the records with a valid ID make, with the golden attributes the linker compares
    (name, sex, birth date, address, phone): what the residue is linked against."""
    from pyspark.sql import functions as F

    keyed = records.where(F.col("id_number").isNotNull()).withColumn("person_id", F.col("id_number"))
    first = Priority({a: priority.attributes[a] for a in LINKAGE_PERSON_COLUMNS if a in priority.attributes}, ())
    persons, _ = golden(keyed, first)
    return persons.select("person_id", *first.attributes)


def linked_records(records: DataFrame, residue_links: DataFrame) -> DataFrame:
    """The records with ``person_id`` and ``link_method``: a valid ID number is the person id; the
    residue takes the person it was linked to (unlinked records are left out)."""
    from pyspark.sql import functions as F

    keyed = records.where(F.col("id_number").isNotNull()).withColumn("person_id", F.col("id_number"))
    return (keyed.withColumn("link_method", F.lit("id_number"))
            .unionByName(records.where(F.col("id_number").isNull())
                         .join(residue_links.where(F.col("person_id").isNotNull()).select("record_id", "person_id"),
                               "record_id")
                         .withColumn("link_method", F.lit("linkage"))))


def link_records(records: DataFrame, basis: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(records with ``person_id`` and ``link_method``, the residue's link rows).

    The residue goes through the linker against ``basis`` (:func:`linkage_basis` of the records).
    """
    from citylake.jobs.person.linkage import link_residue

    # Checkpoints cut the query plans short: the linker's plan over the records' plan (one scan per
    # table and layer) is too large for the optimiser otherwise.
    residue_links = link_residue(records, basis).localCheckpoint()
    return linked_records(records, residue_links), residue_links


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


def derive(linked: DataFrame, link_source: DataFrame, residue_links: DataFrame, registry: Mapping[str, SourceSystem],
           as_of: date, priority: Priority) -> PersonTables:
    """The gold frames of the persons of ``linked`` (all, or those an incremental build touches)
    and the link rows of the records of ``link_source``. Every frame but the links is a function
    of one person's linked records, which is what lets an incremental build recompute only some."""
    from pyspark.sql import functions as F

    from citylake.jobs.person import conflicts as conflict_rules
    from citylake.jobs.person.life import district_code, life_status
    from citylake.jobs.person.profile import household_members, load_parts, profiles

    linked = linked.localCheckpoint()
    persons, values = golden(linked, priority)
    # Conflicts and the 一致性 counts both read the values compared with a more authoritative one:
    # computed once (at 1M persons, each pass over every value took about 85 s).
    compared = conflict_rules.compared_values(values, priority).localCheckpoint()
    life = life_status(linked, as_of)
    person = (persons.join(life, "person_id", "left")
              .withColumn("id_number", F.col("person_id"))
              .withColumn("district_code", district_code(F.col("address")))
              .withColumn("resident", F.coalesce((F.col("life_status") == "alive") & F.col("active_recently"),
                                                 F.lit(False)))
              .drop("active_recently")).localCheckpoint()
    return PersonTables(
        person=person, links=source_links(link_source, residue_links),
        conflicts=conflict_rules.conflicts(compared),
        profiles=profiles(linked, person, load_parts(registry)), households=household_members(person),
        evaluated=conflict_rules.evaluated_per_person(compared))


def as_of_date(records: DataFrame) -> date:
    """The reference date of the data: the day of the newest record update (today if none)."""
    from pyspark.sql import functions as F

    newest = records.agg(F.max("updated_at")).first()[0]
    return newest.date() if newest else datetime.now(UTC).date()


def build_person(spark: SparkSession, lake, registry: Mapping[str, SourceSystem] | None = None,
                 as_of: date | None = None, build_id: str | None = None, feedback: bool = True,
                 full: bool = False) -> dict[str, Any]:
    """Build the population library from the lake's silver and quarantine tables; a summary.

    Incremental (citylake.jobs.person.incremental) when a complete earlier build is recorded
    (citylake.jobs.person.build_state) with the same configuration, full otherwise or with ``full``.
    ``as_of``: the reference date of life status and 实有人口 (default: the newest record update).
    ``feedback``: file the conflicts as warnings in ``governance.quality_issue``.
    """
    from pyspark.sql import functions as F

    from citylake.jobs.person import build_state
    from citylake.jobs.person.conflicts import evaluated_counts, file_conflicts
    from citylake.jobs.person.records import person_records, table_versions
    from citylake.jobs.source_records import current
    from citylake.jobs.spec import conform, load_specs
    from citylake.sources.registry import load_registry

    started = time.perf_counter()
    registry = load_registry() if registry is None else registry
    build_id = build_id or f"build_person:{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    steps = StepLog(build_id)
    specs = load_specs(TABLES_DIR)
    priority = load_priority(registry)
    # The versions read are fixed first: a batch promoted during the build waits for the next one.
    sources = table_versions(lake, registry)
    state = None if full else build_state.last_complete_build(lake)
    if state is not None and state.config_digest != build_state.config_digest():
        log.info("the person build configuration changed since %s: full build", state.build_id)
        state = None
    metadata = {"batch_id": build_id, "job": "build_person"}
    versions: dict[str, int] = {}
    if state is None:
        record_versions = current(person_records(spark, lake, registry, versions=sources)).localCheckpoint()
        records = record_versions.where("current").drop("current")
        steps.done("records read and standardised")
        as_of = as_of or as_of_date(records)
        # The basis is both what the residue is linked against and a state table: computed once.
        basis = linkage_basis(records, priority).localCheckpoint()
        linked, residue_links = link_records(records, basis)
        steps.done("residue linked")
        tables = derive(linked, records, residue_links, registry, as_of, priority)
        steps.done("golden records derived")
        metadata["as_of"] = as_of.isoformat()
        for name, frame in ((PERSON, tables.person), (LINK, tables.links), (CONFLICT, tables.conflicts),
                            (PROFILE, tables.profiles), (HOUSEHOLD, tables.households)):
            versions[name] = lake.write_spark(conform(frame, specs[name]), name, mode="overwrite", metadata=metadata)
            steps.done(f"{name} written")
        for name, frame in ((build_state.RECORDS, record_versions),
                            (build_state.BASIS, basis),
                            (build_state.EVALUATED, tables.evaluated)):
            versions[name] = lake.write_spark(frame, name, mode="overwrite", metadata=metadata)
            steps.done(f"{name} written")
        mode, touched = "full", None
    else:
        from citylake.jobs.person.incremental import increment

        step = increment(spark, lake, registry, state, sources, priority, as_of, steps)
        as_of = step.as_of
        metadata["as_of"] = as_of.isoformat()
        tables = derive(step.linked, step.link_source, step.residue_links, registry, as_of, priority)
        steps.done("golden records of the touched persons derived")
        base = state.table_versions
        persons = step.touched_persons
        for name, frame, on, keys in (
                (PERSON, conform(tables.person, specs[PERSON]), "person_id", persons),
                (LINK, conform(tables.links, specs[LINK]), "record_id", step.link_keys),
                (CONFLICT, conform(tables.conflicts, specs[CONFLICT]), "person_id", persons),
                (PROFILE, conform(tables.profiles, specs[PROFILE]), "person_id", persons),
                (HOUSEHOLD, conform(tables.households, specs[HOUSEHOLD]), "person_id", persons),
                (build_state.RECORDS, step.touched_versions, "record_id", step.touched_records),
                (build_state.BASIS, step.basis, "person_id", step.basis_keys),
                (build_state.EVALUATED, tables.evaluated, "person_id", persons)):
            versions[name] = lake.replace_spark(frame, name, [on], keys, base_version=base[name], metadata=metadata)
            steps.done(f"{name} rows replaced")
        mode, touched = "incremental", persons.count()
    build_state.record_build(lake, build_id, mode, as_of, sources, versions, touched)
    steps.done(f"{mode} build recorded")
    links = lake.read_spark(spark, LINK)
    counts = {r["k"]: r["n"] for r in links.groupBy(
        F.coalesce("link_method", F.lit("unlinked")).alias("k")).agg(F.count("*").alias("n")).collect()}
    proposals = links.where(F.col("proposed_id_number").isNotNull()).count()
    person = lake.read_spark(spark, PERSON)
    life = {r["life_status"]: r["n"] for r in person.groupBy("life_status").agg(F.count("*").alias("n")).collect()}
    summary = {
        "build_id": build_id, "mode": mode, "touched_persons": touched, "as_of": as_of.isoformat(),
        "records": sum(counts.values()),
        "linked_by_id": counts.get("id_number", 0), "linked_by_linkage": counts.get("linkage", 0),
        "unlinked": counts.get("unlinked", 0), "proposed_corrections": proposals,
        "persons": sum(life.values()), "life_status": life,
        "residents": person.where("resident").count(), "conflicts": lake.row_count(CONFLICT),
        "households": lake.read_spark(spark, HOUSEHOLD).select("household_number").distinct().count(),
        "versions": versions}
    steps.done("summary counted")
    if feedback:
        conflicts = lake.read_spark(spark, CONFLICT)
        evaluated = evaluated_counts(lake.read_spark(spark, build_state.EVALUATED))
        summary["conflict_issues"] = file_conflicts(lake, registry, conflicts, evaluated, build_id)
        steps.done("conflicts filed")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built the population library (%s): %d records -> %d persons (%d by linkage, %d unlinked) in %.1f s",
             mode, summary["records"], summary["persons"], summary["linked_by_linkage"], summary["unlinked"],
             summary["seconds"])
    return summary
