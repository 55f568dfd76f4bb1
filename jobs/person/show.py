"""``citylake person show ID_NUMBER``: one person's 一人一档 (gold.person_profile) as text or JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

PROFILE = "gold.person_profile"


class PersonNotFound(LookupError):
    """No golden person has this ID number (the message never repeats the number unmasked)."""


def _plain(value: Any) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: _plain(v) for k, v in value}  # an Arrow map
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def profile(lake, id_number: str) -> dict[str, Any]:
    """The profile document of the person with this (normalised) ID number."""
    import pyarrow.compute as pc

    from citylake.catalog.masking import mask_id_number
    from citylake.schemas.validators import check_id_number

    verdict = check_id_number(id_number)
    number = verdict.value if verdict.ok else id_number
    rows = lake.read_arrow(PROFILE, filter=pc.field("person_id") == number).read_all().to_pylist()
    if not rows:
        raise PersonNotFound(f"no person {mask_id_number(str(number))} in {PROFILE}")
    return _plain(rows[0])


def render(document: dict[str, Any]) -> str:
    """The profile as readable text: identity, then each part with its records and provenance."""
    identity = document["identity"]
    lines = [f"一人一档 {document['person_id']}"]
    for key in ("name", "sex", "birth_date", "ethnicity", "address", "phone", "district_code", "household_number",
                "relation_to_head", "marital_status", "life_status", "death_date", "resident"):
        source = (identity.get("provenance") or {}).get(key)
        where = f"  [{source['source_table']} {source['record_key']} {source['batch_id']}]" if source else ""
        lines.append(f"  {key:<18}{identity.get(key)!s:<40}{where}")
    for evidence in identity.get("life_status_evidence") or []:
        lines.append(f"  {'evidence':<18}{evidence}")
    for part, records in sorted((document.get("parts") or {}).items()):
        lines.append(f"{part}:")
        for r in records:
            attributes = ", ".join(f"{k}={v}" for k, v in sorted((r.get("attributes") or {}).items()))
            lines.append(f"  {r['source_table']}#{r['role']} {r['record_key']} ({r['layer']}, {r['link_method']}, "
                         f"batch {r['batch_id']}) {attributes}")
    return "\n".join(lines)


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
