"""The incremental build of the population library (人口库, item 7; citylake.jobs.person.incremental):
recompute only the persons that the silver and quarantine changes since the last complete build
touch, and replace their rows in the gold tables.

Touched records: those with a version (a silver row or a quarantined one) in the layer files
added or removed since the recorded versions (``citylake.lake`` ``read_spark_changes``), less the
rows a rewrite kept as they were; ``state.person_record`` keeps every version, and the current one
of each touched record is chosen again (citylake.jobs.source_records.current). Touched persons:

- the old person of every touched record (its link in the last complete build) and the new one;
- the persons the residue (records without a valid ID) linked to before or links to now, where
  they differ. The linker's candidates and name weights come from the linkage basis of every
  person (citylake.jobs.person.build.linkage_basis, kept in ``state.person_basis`` and updated for
  the touched ID numbers only), so a residue record is relinked when its source record was
  touched, when a party of it or one of its candidates (before or now) is a person whose basis row
  was recomputed, or when the weight of its name changed (:func:`residue_to_relink`); every other
  residue record keeps its link;
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

    from citylake.jobs.person.build import StepLog
    from citylake.jobs.person.linkage_settings import LinkageSettings

#: A source record: the row the records of its roles come from.
SOURCE_RECORD = ["system", "source_table", "record_key"]
#: One version of a record: its silver row or one of its quarantined rows.
VERSION = ["record_id", "layer", "batch_id"]


@dataclass(frozen=True)
class Increment:
    """What an incremental build replaces, table by table (keys -> rows)."""

    records: DataFrame  # the records after the changes (all)
    touched_versions: DataFrame  # every version of the touched records, ``current`` marking the one used
    touched_records: DataFrame  # record_id of every changed, new or gone record
    link_keys: DataFrame  # record_id of every link row to replace: the touched and the relinked records
    basis: DataFrame  # the recomputed linkage basis rows
    basis_keys: DataFrame  # person_id of the basis rows to replace
    touched_persons: DataFrame  # person_id
    linked: DataFrame  # the linked records of the touched persons
    link_source: DataFrame  # the records whose link rows are written
    residue_links: DataFrame
    as_of: date


def changed_records(spark: SparkSession, lake, registry: Mapping[str, SourceSystem], since: Mapping[str, int],
                    now: Mapping[str, int]) -> tuple[DataFrame, DataFrame]:
    """(record versions added or changed, standardised; the versions gone — ``record_id``,
    ``layer``, ``batch_id``).

    A version is a row's key and the batch that wrote it (``_batch_id``): a merge that rewrites a
    file lists the rows it kept on both sides, with the same key and batch, and they are dropped
    by comparing those two columns only, before any row is standardised."""
    from functools import reduce

    changed, gone = [], []
    for table, roles in layer_tables(person_roles(registry)).items():
        before, after = since.get(table), now.get(table)
        if before == after:
            continue
        if after is None:
            removed = lake.read_spark(spark, table, before)
            added = spark.createDataFrame([], removed.schema)
        else:
            identity = [*roles[0].table.primary_key, "_batch_id"]
            added, removed = lake.read_spark_changes(spark, table, before, after, identity=identity)
        changed.extend(role_frames(added, table, roles))
        gone.extend(frame.select(*VERSION) for frame in role_frames(removed, table, roles))
    if not gone:
        return standardised(spark, []), spark.createDataFrame([], "record_id string, layer string, batch_id string")
    return standardised(spark, changed), reduce(lambda a, b: a.unionByName(b), gone).distinct()


def current_after(old_versions: DataFrame, changed: DataFrame, gone: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(every version of the records the changes touch, ``current`` recomputed; their
    ``record_id``): what replaces those records' rows of ``state.person_record``."""
    from citylake.jobs.source_records import current

    touched = changed.select("record_id").unionByName(gone.select("record_id")).distinct()
    kept = (old_versions.join(touched, "record_id").drop("current")
            .join(gone, VERSION, "left_anti"))
    return current(kept.unionByName(changed)), touched


def residue_to_relink(records: DataFrame, residue: DataFrame, touched_sources: DataFrame, changed_persons: DataFrame,
                      basis_before: DataFrame, people: DataFrame, settings: LinkageSettings) -> DataFrame:
    """The source records (``system``, ``source_table``, ``record_key``) whose residue records an
    incremental build relinks: every one whose link may differ from the last complete build's.

    A residue record's link is a function of its own keys, the golden addresses of the parties with
    a valid ID in the same source record (its context), and, for each candidate, the candidate's
    basis row and the weight of an equal name (citylake.jobs.person.linkage). So it can change only
    if the record's source record was touched, a party of it is a ``changed_persons`` (a person
    whose basis row was recomputed), one of those persons was or is its candidate, or the weight of
    its name changed. Those are relinked, with the whole source record (its context); every other
    residue record keeps its link.

    ``people``: the person features (citylake.jobs.person.linkage.person_features) of the basis
    after the changes, which differs from ``basis_before`` in the rows of ``changed_persons`` only:
    the name counts before are those after, less the changed persons' names now, plus theirs then.
    ``residue``: the record features (citylake.jobs.person.linkage.record_features) of ``records``
    against ``people``."""
    from pyspark.sql import functions as F

    from citylake.jobs.person.linkage import (
        candidate_pairs,
        name_counts,
        person_keys,
        weights_of_counts,
    )

    parties = (records.where(F.col("id_number").isNotNull())
               .join(changed_persons.select(F.col("person_id").alias("id_number")), "id_number")
               .select(*SOURCE_RECORD))
    then = person_keys(basis_before.join(changed_persons, "person_id")).localCheckpoint()
    now = people.join(changed_persons, "person_id").select(*then.columns).localCheckpoint()
    # Both rows of a changed person, so that a record it was a candidate of and one it is now a
    # candidate of are both found.
    candidates = candidate_pairs(residue, then.unionByName(now), settings).select("record_id")
    counts_after = name_counts(people)
    shift = (name_counts(then).unionByName(name_counts(now).withColumn("n", -F.col("n")))
             .groupBy("p_name").agg(F.sum("n").alias("shift")))
    counts_before = (counts_after.join(shift, "p_name", "full")
                     .select("p_name", (F.coalesce("n", F.lit(0)) + F.coalesce("shift", F.lit(0))).alias("n"))
                     .where(F.col("n") > 0))
    before, after = (weights_of_counts(c, settings) for c in (counts_before, counts_after))
    reweighted = (before.withColumnRenamed("p_name_weight", "before").join(after, "p_name", "full")
                  .where(~F.col("before").eqNullSafe(F.col("p_name_weight"))).select(F.col("p_name").alias("r_name")))
    named = residue.join(reweighted, "r_name").select("record_id")
    affected = residue.join(candidates.unionByName(named).distinct(), "record_id").select(*SOURCE_RECORD)
    return touched_sources.unionByName(parties).unionByName(affected).distinct()


def increment(spark: SparkSession, lake, registry: Mapping[str, SourceSystem], state: BuildState,
              versions: Mapping[str, int], priority: Priority, as_of: date | None, steps: StepLog) -> Increment:
    """The touched records and persons and their recomputed frames (module doc)."""
    from pyspark.sql import functions as F

    from citylake.jobs.person.build import LINK, PERSON, as_of_date, linkage_basis, linked_records
    from citylake.jobs.person.life import ACTIVITY_DAYS
    from citylake.jobs.person.linkage import RESULT_COLUMNS, link_features, person_features, record_features
    from citylake.jobs.person.linkage_settings import load_settings

    settings = load_settings()
    base = state.table_versions
    old_versions = lake.read_spark(spark, RECORDS, base[RECORDS])
    old_records = old_versions.where("current").drop("current")
    old_links = lake.read_spark(spark, LINK, base[LINK])
    added, gone = changed_records(spark, lake, registry, state.source_versions, versions)
    touched_versions, touched = current_after(old_versions, added.localCheckpoint(), gone.localCheckpoint())
    touched_versions, touched = touched_versions.localCheckpoint(), touched.localCheckpoint()
    changed = touched_versions.where("current").drop("current")
    records = old_records.join(touched, "record_id", "left_anti").unionByName(changed).localCheckpoint()
    steps.done("changed records read")
    as_of = as_of or as_of_date(records)

    keyed = F.col("id_number").isNotNull()
    touched_before = old_records.join(touched, "record_id")
    basis_keys = (touched_before.where(keyed).select(F.col("id_number").alias("person_id"))
                  .unionByName(changed.where(keyed).select(F.col("id_number").alias("person_id")))
                  .distinct().localCheckpoint())
    basis_rows = linkage_basis(records.join(basis_keys.withColumnRenamed("person_id", "id_number"), "id_number"),
                               priority).localCheckpoint()
    basis_before = lake.read_spark(spark, BASIS, base[BASIS])
    basis = basis_before.join(basis_keys, "person_id", "left_anti").unionByName(basis_rows).localCheckpoint()
    steps.done(f"linkage basis of {basis_keys.count()} persons recomputed")

    # The features of the basis and of the residue serve both to find the records to relink and to
    # relink them (a source record is relinked whole, so its records' contexts are the same).
    people = person_features(basis, settings).localCheckpoint()
    residue = record_features(records, people, settings).localCheckpoint()
    touched_sources = touched_before.select(*SOURCE_RECORD).unionByName(changed.select(*SOURCE_RECORD))
    relink = residue_to_relink(records, residue, touched_sources, basis_keys, basis_before, people,
                               settings).localCheckpoint()
    steps.done(f"{relink.count()} source records to relink found")
    relinked = link_features(residue.join(relink, SOURCE_RECORD, "left_semi"), people, settings).localCheckpoint()
    steps.done(f"residue relinked ({relinked.count()} records)")
    link_keys = touched.unionByName(relinked.select("record_id")).distinct().localCheckpoint()
    residue_before = old_links.where(~F.col("link_method").eqNullSafe("id_number")).select(*RESULT_COLUMNS)
    residue_links = (residue_before.join(link_keys, "record_id", "left_anti").unionByName(relinked)
                     .localCheckpoint())

    moved = (residue_before.join(link_keys, "record_id").select("record_id", "person_id")
             .join(relinked.select("record_id", F.col("person_id").alias("new_person_id")), "record_id", "full")
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
    steps.done("touched persons found")
    return Increment(
        records=records, touched_versions=touched_versions, touched_records=touched, link_keys=link_keys, basis=basis_rows,
        basis_keys=basis_keys, touched_persons=persons,
        linked=linked_records(records, residue_links).join(persons, "person_id"),
        link_source=records.join(link_keys, "record_id"), residue_links=residue_links, as_of=as_of)
