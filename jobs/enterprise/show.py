"""``citylake enterprise show USCC``: one enterprise's 一企一档 (gold.enterprise_profile) as text or JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

PROFILE = "gold.enterprise_profile"


class EnterpriseNotFound(LookupError):
    """No golden enterprise has this USCC."""


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


def profile(lake, uscc: str) -> dict[str, Any]:
    """The profile document of the enterprise with this USCC (written in any width or case)."""
    import pyarrow.compute as pc

    from citylake.schemas.validators import normalise_text

    code = (normalise_text(uscc) or "").upper()
    rows = lake.read_arrow(PROFILE, filter=pc.field("uscc") == code).read_all().to_pylist()
    if not rows:
        raise EnterpriseNotFound(f"no enterprise {code!r} in {PROFILE}")
    return _plain(rows[0])


def render(document: dict[str, Any]) -> str:
    """The profile as readable text: identity with provenance, monthly series, then each part."""
    identity = document["identity"]
    provenance = identity.get("provenance") or {}
    lines = [f"一企一档 {document['uscc']}"]
    for key, attribute in (("name", "name"), ("enterprise_type", "enterprise_type"), ("status", "status"),
                           ("industry_section", "industry_section"), ("industry_code", "industry_code"),
                           ("registered_capital", "registered_capital"), ("established_date", "established_date"),
                           ("registration_authority", "registration_authority"),
                           ("registered_address", "address"), ("address_id", "address"),
                           ("legal_rep_name", "legal_rep_name"), ("legal_rep_person_id", "legal_rep_name")):
        source = provenance.get(attribute)
        where = f"  [{source['source_table']} {source['record_key']} {source['batch_id']}]" if source else ""
        lines.append(f"  {key:<24}{identity.get(key)!s:<40}{where}")
    if identity.get("pilot_code"):
        lines.append("  (early pilot code: the GB 32100 check character fails, registered by the authority)")
    lines.append(f"  {'employer_codes':<24}{', '.join(identity.get('employer_codes') or []) or '-'}")
    employees = identity.get("insured_employees") or []
    lines.append("insured employees (人社, by month): "
                 + (", ".join(f"{m['month']} {m['employees']}" for m in employees) or "none"))
    taxes = identity.get("tax_declared") or []
    lines.append("tax declared (税务, by month): "
                 + (", ".join(f"{t['month']} {t['tax_item']} {t['amount']:,.2f}" for t in taxes) or "none"))
    for p in identity.get("properties") or []:
        lines.append(f"property (不动产): {p['property_unit']} {p['certificate']} {p['location']} {p['area']} m² "
                     f"{p['use']}")
    for part, records in sorted((document.get("parts") or {}).items()):
        lines.append(f"{part}:")
        for r in records:
            attributes = ", ".join(f"{k}={v}" for k, v in sorted((r.get("attributes") or {}).items()))
            lines.append(f"  {r['source_table']}#{r['role']} {r['record_key']} ({r['layer']}, {r['link_method']}, "
                         f"batch {r['batch_id']}) {attributes}")
    return "\n".join(lines)


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
