"""The incremental build of the population library (人口库, item 7; citylake.jobs.person.incremental):
recompute only the persons that the silver and quarantine changes since the last complete build
touch, and replace their rows in the gold tables.

Touched records: the rows of the layer files added or removed since the recorded versions
(``citylake.lake`` ``read_spark_changes``), less the rows a rewrite kept as they were. Touched
persons:

- the old person of every touched record (its link in the last complete build) and the new one;
- the persons the residue (records without a valid ID) linked to before or links to now, where
  they differ: the whole residue is relinked, because the linker's candidates and name weights are
  the linkage basis of *every* person (citylake.jobs.person.build.linkage_basis), which is kept in
  ``state.person_basis`` and updated for the touched ID numbers only;
- the persons whose activity crosses the 实有人口 window as the reference date moves.

Everything else of a gold row is a function of that person's linked records (households and
profiles included: a household row is its member's), so replacing the touched persons' rows gives
the tables a full build gives. Every table is replaced from the version the last complete build
left (citylake.jobs.person.build_state), never from a later one a failed build may have written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from citylake.jobs.person.build_state import BASIS, RECORDS, BuildState
from citylake.jobs.person.golden import Priority
from citylake.jobs.person.records import layer_tables, person_roles, role_frames, standardised
from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Increment:
    """What an incremental build replaces, table by table (keys -> rows)."""

    records: DataFrame  # the records after the changes (all)
    changed: DataFrame  # the changed records, standardised
    touched_records: DataFrame  # record_id of every changed, new or gone record
    link_keys: DataFrame  # record_id of every link row to replace: touched records and the residue
    basis: DataFrame  # the recomputed linkage basis rows
    basis_keys: DataFrame  # person_id of the basis rows to replace
    touched_persons: DataFrame  # person_id
    linked: DataFrame  # the linked records of the touched persons
    link_source: DataFrame  # the records whose link rows are written
    residue_links: DataFrame
    as_of: date


def changed_records(spark: SparkSession, lake, registry: Mapping[str, SourceSystem], since: Mapping[str, int],
                    now: Mapping[str, int]) -> tuple[DataFrame, DataFrame]:
    """(changed or new records, standardised; record_id of every changed, new or gone record)."""
    from functools import reduce

    from pyspark.sql import functions as F

    def comparable(frame: DataFrame) -> DataFrame:
        return frame.withColumn("attributes", F.array_sort(F.map_entries("attributes")))

    changed, touched = [], []
    for table, roles in layer_tables(person_roles(registry)).items():
        before, after = since.get(table), now.get(table)
        if before == after:
            continue
        if after is None:
            removed = lake.read_spark(spark, table, before)
            added = spark.createDataFrame([], removed.schema)
        else:
            added, removed = lake.read_spark_changes(spark, table, before, after)
        for new, old in zip(role_frames(added, table, roles), role_frames(removed, table, roles), strict=True):
            kept_new, kept_old = comparable(new), comparable(old)
            fresh = kept_new.exceptAll(kept_old)
            changed.append(fresh.withColumn("attributes", F.map_from_entries("attributes")))
            touched.append(fresh.select("record_id").unionByName(kept_old.exceptAll(kept_new).select("record_id")))
    if not touched:
        empty = spark.createDataFrame([], "record_id string")
        return standardised(spark, []), empty
    return standardised(spark, changed), reduce(lambda a, b: a.unionByName(b), touched).distinct()


def increment(spark: SparkSession, lake, registry: Mapping[str, SourceSystem], state: BuildState,
              versions: Mapping[str, int], priority: Priority, as_of: date | None) -> Increment:
    """The touched records and persons and their recomputed frames (module doc)."""
    from pyspark.sql import functions as F

    from citylake.jobs.person.build import LINK, PERSON, as_of_date, linkage_basis, linked_records
    from citylake.jobs.person.life import ACTIVITY_DAYS
    from citylake.jobs.person.linkage import link_residue

    base = state.table_versions
    old_records = lake.read_spark(spark, RECORDS, base[RECORDS])
    old_links = lake.read_spark(spark, LINK, base[LINK]).select("record_id", "person_id")
    changed, touched = changed_records(spark, lake, registry, state.source_versions, versions)
    changed, touched = changed.localCheckpoint(), touched.localCheckpoint()
    records = old_records.join(touched, "record_id", "left_anti").unionByName(changed).localCheckpoint()
    as_of = as_of or as_of_date(records)

    keyed = F.col("id_number").isNotNull()
    basis_keys = (old_records.join(touched, "record_id").where(keyed).select(F.col("id_number").alias("person_id"))
                  .unionByName(changed.where(keyed).select(F.col("id_number").alias("person_id")))
                  .distinct().localCheckpoint())
    basis_rows = linkage_basis(records.join(basis_keys.withColumnRenamed("person_id", "id_number"), "id_number"),
                               priority).localCheckpoint()
    basis = (lake.read_spark(spark, BASIS, base[BASIS]).join(basis_keys, "person_id", "left_anti")
             .unionByName(basis_rows))
    residue_links = link_residue(records, basis).localCheckpoint()

    old_residue = old_records.where(~keyed).select("record_id").join(old_links, "record_id")
    new_links = residue_links.select("record_id", F.col("person_id").alias("new_person_id"))
    moved = (old_residue.join(new_links, "record_id", "full")
             .where(~F.col("person_id").eqNullSafe(F.col("new_person_id"))))
    touched_new = linked_records(records.join(touched, "record_id"), residue_links).select("person_id")
    # 实有人口 counts activity within ACTIVITY_DAYS of the reference date: moving the date moves
    # some persons in or out of the window without any record of theirs changing.
    starts = sorted([as_of - timedelta(days=ACTIVITY_DAYS), state.as_of - timedelta(days=ACTIVITY_DAYS)])
    window = (lake.read_spark(spark, PERSON, base[PERSON])
              .where((F.col("last_active") >= F.lit(starts[0])) & (F.col("last_active") < F.lit(starts[1])))
              .select("person_id"))
    persons = (old_links.join(touched, "record_id").select("person_id")
               .unionByName(touched_new)
               .unionByName(moved.select("person_id"))
               .unionByName(moved.select(F.col("new_person_id").alias("person_id")))
               .unionByName(window)
               .where(F.col("person_id").isNotNull()).distinct().localCheckpoint())
    residue_ids = records.where(~keyed).select("record_id")
    link_keys = (touched.unionByName(old_residue.select("record_id")).unionByName(residue_ids)
                 .distinct().localCheckpoint())
    return Increment(
        records=records, changed=changed, touched_records=touched, link_keys=link_keys, basis=basis_rows,
        basis_keys=basis_keys, touched_persons=persons,
        linked=linked_records(records, residue_links).join(persons, "person_id"),
        link_source=records.join(link_keys, "record_id"), residue_links=residue_links, as_of=as_of)
