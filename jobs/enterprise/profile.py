"""``gold.enterprise_profile`` (一企一档): one nested document per enterprise — its identity (the
golden attributes with their provenance, employees, tax, property) and one part per kind of record
(``jobs/enterprise/profile.yaml``: registration, tax returns, insured employees …), each record with
its provenance, link and attributes."""

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
IDENTITY = ("uscc", "pilot_code", "name", "enterprise_type", "status", "industry_section", "industry_code",
            "registered_capital", "established_date", "registration_authority", "registered_address", "address_id",
            "address_level", "legal_rep_person_id", "legal_rep_name", "employer_codes", "insured_employees",
            "tax_declared", "properties", "provenance")


def load_parts(registry: Mapping[str, SourceSystem], path: Path = PROFILE_FILE) -> dict[str, tuple[str, ...]]:
    """The parts of the profile (``jobs/enterprise/profile.yaml``), checked against the registry."""
    return profile_parts.load_parts(registry, path)


def profiles(linked: DataFrame, enterprise: DataFrame, parts: Mapping[str, tuple[str, ...]]) -> DataFrame:
    """``uscc``, ``identity`` (struct) and ``parts`` (part -> its records, each with provenance)."""
    return profile_parts.documents(enterprise, linked, parts, "uscc", IDENTITY, linked_key="enterprise_id")
