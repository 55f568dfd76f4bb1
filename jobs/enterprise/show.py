"""``citylake enterprise show USCC``: one enterprise's 一企一档 (gold.enterprise_profile) as text or JSON."""

from __future__ import annotations

from typing import Any

from citylake.jobs.profile_document import as_json, attribute_line, part_lines, read_profile

__all__ = ["as_json", "profile", "render"]

PROFILE = "gold.enterprise_profile"


class EnterpriseNotFound(LookupError):
    """No golden enterprise has this USCC."""


def profile(lake, uscc: str) -> dict[str, Any]:
    """The profile document of the enterprise with this USCC (written in any width or case)."""
    from citylake.schemas.validators import normalise_text

    code = (normalise_text(uscc) or "").upper()
    document = read_profile(lake, PROFILE, "uscc", code)
    if document is None:
        raise EnterpriseNotFound(f"no enterprise {code!r} in {PROFILE}")
    return document


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
        lines.append(attribute_line(key, identity.get(key), provenance.get(attribute), 24))
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
    lines += part_lines(document.get("parts"))
    return "\n".join(lines)

