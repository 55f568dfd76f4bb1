"""Masking of personal data for people who need to recognise a record, not read it
(departments' feedback lists, analysts' queries). Rules per standard field; no national rule fixes
them, these follow common practice: ID 370102********1234, name 张*, phone 138****5678."""

from __future__ import annotations

import unicodedata

# A masked value shows where a problem is, it is no copy of the value: long ones are cut.
MAX_SHOWN = 64


def mask_id_number(value: str) -> str:
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(1, len(value) - 1) if value else value


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[7:] if len(value) == 11 else "*" * len(value)


def mask_text(value: str) -> str:
    """Free text such as an address: the first quarter kept (district level), the rest hidden."""
    keep = max(1, len(value) // 4)
    return value[:keep] + "*" * (len(value) - keep)


# Standard field -> masking rule; fields not listed (codes, dates, organisation names, USCCs) are
# not personal on their own and are shown as they are.
MASKS = {
    "person.id_number": mask_id_number,
    "party.id_number": mask_id_number,
    "person.name": mask_name,
    "party.name": mask_name,
    "person.mobile": mask_phone,
    "address.text": mask_text,
    "person.birth_date": lambda v: v[:4] + "-**-**" if len(v) >= 4 else "*" * len(v),
    # A sex code identifies no one alone and is what population statistics group by: shown.
    "person.sex": lambda v: v,
}


def mask(field: str, value: object) -> str | None:
    """``value`` of standard field ``field``, masked for display."""
    if value is None:
        return None
    text = str(value)
    rule = MASKS.get(field.partition("@")[0])
    return printable(rule(text) if rule else text)


def printable(text: str) -> str:
    """``text`` safe to show in a list or a report: control, format and unassigned characters (NUL,
    ESC, zero-width, lone surrogates) as U+FFFD, cut after :data:`MAX_SHOWN` characters."""
    shown = "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in text[:MAX_SHOWN])
    return shown if len(text) <= MAX_SHOWN else f"{shown}…(共{len(text)}字)"
