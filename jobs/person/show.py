"""``citylake person show ID_NUMBER``: one person's 一人一档 (gold.person_profile) as text or JSON."""

from __future__ import annotations

from typing import Any

from citylake.jobs.profile_document import as_json, attribute_line, part_lines, read_profile

__all__ = ["as_json", "profile", "render"]

PROFILE = "gold.person_profile"


class PersonNotFound(LookupError):
    """No golden person has this ID number (the message never repeats the number unmasked)."""


def profile(lake, id_number: str) -> dict[str, Any]:
    """The profile document of the person with this (normalised) ID number."""
    from citylake.catalog.masking import mask_id_number
    from citylake.schemas.validators import check_id_number

    verdict = check_id_number(id_number)
    number = verdict.value if verdict.ok else id_number
    document = read_profile(lake, PROFILE, "person_id", number)
    if document is None:
        raise PersonNotFound(f"no person {mask_id_number(str(number))} in {PROFILE}")
    return document


def render(document: dict[str, Any]) -> str:
    """The profile as readable text: identity, then each part with its records and provenance."""
    identity = document["identity"]
    lines = [f"一人一档 {document['person_id']}"]
    for key in ("name", "sex", "birth_date", "ethnicity", "address", "phone", "district_code", "household_number",
                "relation_to_head", "marital_status", "life_status", "death_date", "resident"):
        lines.append(attribute_line(key, identity.get(key), (identity.get("provenance") or {}).get(key), 18))
    for evidence in identity.get("life_status_evidence") or []:
        lines.append(f"  {'evidence':<18}{evidence}")
    lines += part_lines(document.get("parts"))
    return "\n".join(lines)

