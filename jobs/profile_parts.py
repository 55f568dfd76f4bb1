"""The parts of a profile document (一人一档 ``gold.person_profile``, 一企一档 ``gold.enterprise_profile``):
which linked records make up each part (``jobs/<library>/profile.yaml``), and the Spark step that
groups a library's linked records into one map of parts per golden key. Shared by
``citylake.jobs.person.profile`` and ``citylake.jobs.enterprise.profile``."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from citylake.jobs import source_refs
from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# The provenance of each record in a part, in this order.
RECORD_FIELDS = ("source_table", "role", "record_key", "batch_id", "layer", "updated_at", "link_method")


class ProfileError(ValueError):
    """A profile.yaml has a missing, unknown or malformed entry."""


def load_parts(registry: Mapping[str, SourceSystem], path: Path) -> dict[str, tuple[str, ...]]:
    """Part name → its sources (``<system>.<TABLE>[@<role>]``), each checked against the registry."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"parts"} or not isinstance(doc["parts"], dict):
        raise ProfileError(f"{path}: expected one entry 'parts' mapping part names to sources")
    tables = source_refs.registry_tables(registry)
    parts = {}
    for part, sources in doc["parts"].items():
        parts[str(part)] = source_refs.checked_sources(f"{path}: parts.{part}", sources, tables, ProfileError)
    return parts


def documents(golden: DataFrame, linked: DataFrame, parts: Mapping[str, tuple[str, ...]], key: str,
              identity: tuple[str, ...], linked_key: str | None = None) -> DataFrame:
    """``key``, ``identity`` (struct of the golden ``identity`` columns) and ``parts`` (part → its
    records, each with provenance and attributes; empty for a golden record nothing else links to).

    ``linked`` carries the golden key as ``linked_key`` (default ``key``); unlinked records (null
    key) and records of no part are left out.
    """
    from pyspark.sql import functions as F

    linked_key = linked_key or key
    part = F.lit(None).cast("string")
    for name, sources in reversed(list(parts.items())):
        match = reduce(operator.or_, [source_refs.matches(s) for s in sources])
        part = F.when(match, F.lit(name)).otherwise(part)
    # Maps are not ordered: sort the records with their attributes as entries, then make them maps again.
    entry = F.struct(*RECORD_FIELDS, F.array_sort(F.map_entries("attributes")).alias("attributes"))
    records = F.transform(F.array_sort(F.collect_list(entry)), lambda e: F.struct(
        *[e[f].alias(f) for f in RECORD_FIELDS], F.map_from_entries(e["attributes"]).alias("attributes")))
    grouped = (linked.where(F.col(linked_key).isNotNull()).withColumn("part", part)
               .where(F.col("part").isNotNull())
               .groupBy(F.col(linked_key).alias(key), "part").agg(records.alias("records"))
               .groupBy(key).agg(F.map_from_entries(F.collect_list(F.struct("part", "records"))).alias("parts")))
    empty = F.create_map().cast(grouped.schema["parts"].dataType)
    return (golden.select(key, F.struct(*identity).alias("identity"))
            .join(grouped, key, "left")
            .select(key, "identity", F.coalesce("parts", empty).alias("parts")))
