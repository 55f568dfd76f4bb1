"""Masking of personal data for people who need to recognise a record, not read it
(departments' feedback lists, analysts' queries). Each standard field names its rule in
``schemas/standards/*.yaml`` (``sensitivity.mask``); no national rule fixes them, these follow common
practice: ID 370102********1234, name 张*, phone 138****5678. A personal field that names no rule
is hidden: whatever prints it prints only asterisks (deny by default)."""

from __future__ import annotations

import unicodedata
from functools import cache

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


def mask_year(value: str) -> str:
    return value[:4] + "-**-**" if len(value) >= 4 else "*" * len(value)


def hide(value: str) -> str:
    return "*" * len(value)


# The rules a standard field's ``sensitivity.mask`` names. ``pseudonym``: analysts read a keyed
# pseudonym they can join on (citylake.catalog.access); printed, the value is masked as an ID number.
# ``shown``: the value identifies no one alone and is shown as it is.
RULES = {
    "pseudonym": mask_id_number,
    "id_number": mask_id_number,
    "name": mask_name,
    "phone": mask_phone,
    "address": mask_text,
    "year": mask_year,
    "shown": lambda v: v,
}


@cache
def rule_of(field: str):
    """The masking rule of standard field ``field`` (``person.name@husband`` too): its declared rule;
    shown as it is for a non-personal field (codes, organisation names, USCCs) or no standard field;
    :func:`hide` for a personal field that declares none."""
    if not field:
        return RULES["shown"]
    from citylake.schemas.standards import standard_field

    sensitivity = standard_field(field.partition("@")[0]).sensitivity
    if sensitivity.mask:
        return RULES[sensitivity.mask]
    return hide if sensitivity.personal else RULES["shown"]


def mask(field: str, value: object) -> str | None:
    """``value`` of standard field ``field``, masked for display."""
    if value is None:
        return None
    return printable(rule_of(field)(str(value)))


def printable(text: str) -> str:
    """``text`` safe to show in a list or a report: control, format and unassigned characters (NUL,
    ESC, zero-width, lone surrogates) as U+FFFD, cut after :data:`MAX_SHOWN` characters."""
    shown = "".join("\ufffd" if unicodedata.category(c)[0] == "C" else c for c in text[:MAX_SHOWN])
    return shown if len(text) <= MAX_SHOWN else f"{shown}…(共{len(text)}字)"
