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

from citylake.jobs import profile_parts
from citylake.jobs.profile_parts import ProfileError
from citylake.sources.registry import SourceSystem

__all__ = ["ProfileError", "load_parts", "profiles"]

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PROFILE_FILE = Path(__file__).with_name("profile.yaml")
IDENTITY = ("id_number", "name", "sex", "birth_date", "ethnicity", "address", "phone", "district_code",
            "household_number", "relation_to_head", "marital_status", "life_status", "death_date",
            "life_status_evidence", "resident", "provenance")
HEAD = "02"  # GB/T 4761 户主


def load_parts(registry: Mapping[str, SourceSystem], path: Path = PROFILE_FILE) -> dict[str, tuple[str, ...]]:
    """The parts of the profile (``jobs/person/profile.yaml``), checked against the registry."""
    return profile_parts.load_parts(registry, path)


def profiles(linked: DataFrame, person: DataFrame, parts: Mapping[str, tuple[str, ...]]) -> DataFrame:
    """``person_id``, ``identity`` (struct) and ``parts`` (part -> its records, each with provenance)."""
    return profile_parts.documents(person, linked, parts, "person_id", IDENTITY)


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
