"""``gold.person_profile`` (一人一档) and ``gold.household_member`` (the 户 view).

A profile is one nested document per person: its identity (the golden attributes with their
provenance, life status, 实有人口) and one part per kind of record (``jobs/person/profile.yaml``:
household, marriages, birth, death, employment and insurance, schooling, property, enterprises
represented …), each record with its provenance and attributes. The household view lists the
members of each 户号 with their relation to the head (GB/T 4761).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PROFILE_FILE = Path(__file__).with_name("profile.yaml")
IDENTITY = ("id_number", "name", "sex", "birth_date", "ethnicity", "address", "phone", "district_code",
            "household_number", "relation_to_head", "marital_status", "life_status", "death_date",
            "life_status_evidence", "resident", "provenance")
HEAD = "02"  # GB/T 4761 户主


class ProfileError(ValueError):
    """jobs/person/profile.yaml has a missing, unknown or malformed entry."""


def load_parts(registry: Mapping[str, SourceSystem], path: Path = PROFILE_FILE) -> dict[str, tuple[str, ...]]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"parts"} or not isinstance(doc["parts"], dict):
        raise ProfileError(f"{path}: expected one entry 'parts' mapping part names to sources")
    tables = {f"{code}.{t.name}": t for code, s in registry.items() for t in s.tables}
    parts = {}
    for part, sources in doc["parts"].items():
        if not isinstance(sources, list) or not sources:
            raise ProfileError(f"{path}: parts.{part}: expected a list of <system>.<TABLE>[@<role>]")
        for source in sources:
            table, _, role = str(source).partition("@")
            if table not in tables:
                raise ProfileError(f"{path}: parts.{part}: {source}: no such table in the source registry")
            roles = {r for _, _, r in tables[table].mapped_columns()}
            if role and role not in roles:
                raise ProfileError(f"{path}: parts.{part}: {source}: the table has no role '{role}'")
        parts[str(part)] = tuple(str(s) for s in sources)
    return parts


def profiles(linked: DataFrame, person: DataFrame, parts: Mapping[str, tuple[str, ...]]) -> DataFrame:
    """``person_id``, ``identity`` (struct) and ``parts`` (part -> its records, each with provenance)."""
    from pyspark.sql import functions as F

    part = F.lit(None).cast("string")
    for name, sources in reversed(list(parts.items())):
        match = F.lit(False)
        for source in sources:
            table, _, role = source.partition("@")
            term = F.col("source_table") == table
            match = match | ((term & (F.col("role") == role)) if role else term)
        part = F.when(match, F.lit(name)).otherwise(part)
    fields = ("source_table", "role", "record_key", "batch_id", "layer", "updated_at", "link_method")
    # Maps are not ordered: sort the records with their attributes as entries, then make them maps again.
    entry = F.struct(*fields, F.array_sort(F.map_entries("attributes")).alias("attributes"))
    records = F.transform(F.array_sort(F.collect_list(entry)), lambda e: F.struct(
        *[e[f].alias(f) for f in fields], F.map_from_entries(e["attributes"]).alias("attributes")))
    documents = (linked.withColumn("part", part).where(F.col("part").isNotNull())
                 .groupBy("person_id", "part").agg(records.alias("records"))
                 .groupBy("person_id").agg(F.map_from_entries(F.collect_list(F.struct("part", "records")))
                                           .alias("parts")))
    empty = F.create_map().cast(documents.schema["parts"].dataType)
    return (person.select("person_id", F.struct(*IDENTITY).alias("identity"))
            .join(documents, "person_id", "left")
            .select("person_id", "identity", F.coalesce("parts", empty).alias("parts")))


def household_members(person: DataFrame) -> DataFrame:
    """One row per person with a 户号: the household, the member and the relation to the head."""
    from pyspark.sql import functions as F

    from citylake.schemas.reference import code_table

    names = code_table("household_relation_gbt4761")
    relation_name = F.try_element_at(F.create_map(*[F.lit(x) for kv in sorted(names.items()) for x in kv]),
                                 F.col("relation_to_head"))
    return person.where(F.col("household_number").isNotNull()).select(
        "household_number", "person_id", "name", "relation_to_head", relation_name.alias("relation_name"),
        (F.col("relation_to_head") == HEAD).alias("is_head"), "life_status",
        F.col("provenance").getItem("household_number").alias("source"))
