"""``gold.enterprise_profile`` (一企一档): one nested document per enterprise — its identity (the
golden attributes with their provenance, employees, tax, property) and one part per kind of record
(``jobs/enterprise/profile.yaml``: registration, tax returns, insured employees …), each record with
its provenance, link and attributes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PROFILE_FILE = Path(__file__).with_name("profile.yaml")
IDENTITY = ("uscc", "pilot_code", "name", "enterprise_type", "status", "industry_section", "industry_code",
            "registered_capital", "established_date", "registration_authority", "registered_address", "address_id",
            "address_level", "legal_rep_person_id", "legal_rep_name", "employer_codes", "insured_employees",
            "tax_declared", "properties", "provenance")


class ProfileError(ValueError):
    """jobs/enterprise/profile.yaml has a missing, unknown or malformed entry."""


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
            if role and role not in {r for _, _, r in tables[table].mapped_columns()}:
                raise ProfileError(f"{path}: parts.{part}: {source}: the table has no role '{role}'")
        parts[str(part)] = tuple(str(s) for s in sources)
    return parts


def profiles(linked: DataFrame, enterprise: DataFrame, parts: Mapping[str, tuple[str, ...]]) -> DataFrame:
    """``uscc``, ``identity`` (struct) and ``parts`` (part -> its records, each with provenance)."""
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
    documents = (linked.where(F.col("enterprise_id").isNotNull()).withColumn("part", part)
                 .where(F.col("part").isNotNull())
                 .groupBy("enterprise_id", "part").agg(records.alias("records"))
                 .groupBy(F.col("enterprise_id").alias("uscc"))
                 .agg(F.map_from_entries(F.collect_list(F.struct("part", "records"))).alias("parts")))
    empty = F.create_map().cast(documents.schema["parts"].dataType)
    return (enterprise.select("uscc", F.struct(*IDENTITY).alias("identity"))
            .join(documents, "uscc", "left")
            .select("uscc", "identity", F.coalesce("parts", empty).alias("parts")))
