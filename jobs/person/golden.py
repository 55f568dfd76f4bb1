"""``gold.person``: one golden record per person (一人一档), keyed by the normalised 18-digit ID.

Each attribute comes from its authoritative source by the priority of
``jobs/person/source_priority.yaml`` (一数一源), falling back down the list, then to any other source
(most recently updated first); every value keeps its provenance (system, table, record key, role,
batch). Life status (居民生存状态) and 实有人口 are judged here too (:mod:`citylake.jobs.person.life`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from citylake.jobs import source_refs
from citylake.jobs.person.records import FIELDS, load_attributes
from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

PRIORITY_FILE = Path(__file__).with_name("source_priority.yaml")
RECORD_ATTRIBUTES = (*FIELDS.values(), "address")
# The provenance of one value.
PROVENANCE = ("system", "source_table", "record_key", "role", "batch_id")


class PriorityError(ValueError):
    """jobs/person/source_priority.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class Priority:
    attributes: Mapping[str, tuple[str, ...]]  # attribute -> sources, most authoritative first
    conflicts: tuple[str, ...]

    def rank(self, attribute: str) -> Column:
        """The rank of a record's source for ``attribute`` (0 = the authority; unlisted sources last)."""
        return source_refs.rank(self.attributes[attribute])


def load_priority(registry: Mapping[str, SourceSystem], path: Path = PRIORITY_FILE) -> Priority:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PriorityError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"attributes", "conflicts"}:
        raise PriorityError(f"{path}: expected the entries 'attributes' and 'conflicts'")
    extra = {a for columns in load_attributes(registry).values() for a in columns}
    tables = source_refs.registry_tables(registry)
    attributes = {}
    if not isinstance(doc["attributes"], dict) or not doc["attributes"]:
        raise PriorityError(f"{path}: attributes must map attribute names to lists of sources")
    for attribute, sources in doc["attributes"].items():
        where = f"{path}: attributes.{attribute}"
        if attribute not in RECORD_ATTRIBUTES and attribute not in extra:
            raise PriorityError(f"{where}: unknown attribute (a records column {list(RECORD_ATTRIBUTES)} "
                                "or one of jobs/person/attributes.yaml)")
        attributes[str(attribute)] = source_refs.checked_sources(where, sources, tables, PriorityError)
    conflicts = doc["conflicts"]
    if not isinstance(conflicts, list) or any(c not in attributes for c in conflicts):
        raise PriorityError(f"{path}: conflicts must list attributes of 'attributes'")
    return Priority(attributes, tuple(conflicts))


def attribute_values(linked: DataFrame, priority: Priority) -> DataFrame:
    """One row per (linked record, attribute with a value): ``person_id``, ``attribute``, ``value``
    (text), ``rank`` and the record's provenance, ordered for choosing by ``order`` (a struct)."""
    from pyspark.sql import functions as F

    entries = []
    for attribute in priority.attributes:
        value = (F.col(attribute).cast("string") if attribute in RECORD_ATTRIBUTES
                 else F.col("attributes").getItem(attribute))
        entries.append(F.struct(F.lit(attribute).alias("attribute"), value.alias("value"),
                                priority.rank(attribute).alias("rank")))
    long = linked.select("person_id", "record_id", "layer", "updated_at", *PROVENANCE,
                         F.explode(F.array(*entries)).alias("e")).select("*", "e.*").drop("e")
    long = long.where(F.col("value").isNotNull())
    # Ties within a rank: silver before quarantine, the most recent update, then the record id.
    return long.withColumn("order", F.struct(
        "rank", (F.col("layer") != "silver").alias("quarantined"),
        (-F.coalesce(F.unix_micros("updated_at"), F.lit(0))).alias("age"), "record_id"))


def chosen_values(values: DataFrame) -> DataFrame:
    """The chosen value of every (person, attribute): the least ``order`` (no window sort)."""
    from pyspark.sql import functions as F

    best = F.min(F.struct("order", "value", *PROVENANCE))
    return (values.groupBy("person_id", "attribute").agg(best.alias("b"))
            .select("person_id", "attribute", F.col("b.order.rank").alias("rank"), F.col("b.value").alias("value"),
                    F.struct(*[F.col(f"b.{p}").alias(p) for p in PROVENANCE]).alias("provenance")))


def golden(linked: DataFrame, priority: Priority) -> tuple[DataFrame, DataFrame]:
    """(golden attributes per person, the per-attribute values they were chosen from).

    The first frame has ``person_id``, one column per attribute of the priority (typed like the
    records: ``birth_date`` a date), ``provenance`` (attribute -> its source), ``record_count`` and
    ``sources`` (the source tables that mention the person).
    """
    from pyspark.sql import functions as F

    values = attribute_values(linked, priority)
    chosen = chosen_values(values)
    pivoted = chosen.groupBy("person_id").agg(
        *[F.max(F.when(F.col("attribute") == a, F.col("value"))).alias(a) for a in priority.attributes],
        F.map_from_entries(F.collect_list(F.struct("attribute", "provenance"))).alias("provenance"))
    if "birth_date" in priority.attributes:
        pivoted = pivoted.withColumn("birth_date", F.col("birth_date").try_cast("date"))
    counts = linked.groupBy("person_id").agg(F.count("*").alias("record_count"),
                                             F.array_sort(F.collect_set("source_table")).alias("sources"))
    persons = linked.select("person_id").distinct().join(pivoted, "person_id", "left").join(counts, "person_id")
    return persons, values.join(chosen.select("person_id", "attribute", F.col("value").alias("chosen_value"),
                                              F.col("rank").alias("chosen_rank"),
                                              F.col("provenance").alias("chosen_provenance")),
                                ["person_id", "attribute"])
