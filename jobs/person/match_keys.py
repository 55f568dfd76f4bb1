"""Comparison keys of person attributes as Spark column expressions (pure JVM, no Python workers):
names without spacing or minority-name separators and in simplified characters, addresses in one
written form, their district, phone numbers and raw ID numbers as digits. Used by
citylake.jobs.person.linkage on both sides of a comparison, so a key only has to be consistent."""

from __future__ import annotations

from functools import cache

from pyspark.sql import Column
from pyspark.sql import functions as F

# Separators written between the parts of a minority name (阿卜杜拉·买买提): middle dots of several
# code points, full stops and hyphens; and every kind of white space.
_NAME_NOISE = r"[\s\u00b7\u2022\u2027\u30fb\uff65\u0387\u22c5\.\uff0e\-\u2010\u2014]"
_FULLWIDTH_FROM = "".join(chr(c + 0xFEE0) for c in range(0x21, 0x7F)) + "\u3000"
_FULLWIDTH_TO = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
# The city's own province and city prefix: departments write it or leave it out.
_ADDRESS_PREFIX = r"^(山东省)?(济南市|济南)?"
_CN_DIGITS = ("〇一二三四五六七八九", "0123456789")


@cache
def traditional_to_simplified() -> tuple[str, str]:
    """Every CJK unified ideograph (BMP) whose simplified form (OpenCC t2s) is one other BMP
    character, as the two strings of a ``translate`` map. Built once per process, from the same
    converter the quality gate uses to recognise traditional characters."""
    import opencc

    chars = [chr(c) for c in range(0x4E00, 0xA000)]
    simplified = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    pairs = [(t, s) for t, s in zip(chars, simplified, strict=True)
             if t != s and len(s) == 1 and ord(s) < 0x10000]
    return "".join(t for t, _ in pairs), "".join(s for _, s in pairs)


def halfwidth(col: Column) -> Column:
    return F.translate(col, _FULLWIDTH_FROM, _FULLWIDTH_TO)


def name_key(col: Column) -> Column:
    """王 伟 / 王偉 / 王伟 → 王伟; 阿卜杜拉·买买提 / 阿卜杜拉.买买提 / 阿卜杜拉买买提 → 阿卜杜拉买买提."""
    source, target = traditional_to_simplified()
    key = F.regexp_replace(halfwidth(col), _NAME_NOISE, "")
    key = F.translate(key, source, target)
    return F.when(F.length(key) > 0, key)


def address_key(col: Column) -> Column:
    """One written form of an address: half-width, no spaces, no province/city prefix, digits for
    Chinese numerals, and 21号楼4单元401室 / 21栋4单元401室 / 21#楼4单元401室 / 21-4-401 alike."""
    key = F.regexp_replace(halfwidth(col), r"\s+", "")
    key = F.regexp_replace(key, _ADDRESS_PREFIX, "")
    key = F.translate(key, *_CN_DIGITS)
    key = F.regexp_replace(key, r"(号楼|#楼|栋|幢|单元)", "-")
    key = F.regexp_replace(key, r"室$", "")
    return F.when(F.length(key) > 0, key)


def district_of(address: Column) -> Column:
    """The county-level division an address key starts with (历下区, 市中区, 平阴县 …)."""
    district = F.regexp_extract(address, r"^(.{1,5}?[区县])", 1)
    return F.when(F.length(district) > 0, district)


def phone_key(col: Column) -> Column:
    """Digits only, without the +86 country code."""
    digits = F.regexp_replace(halfwidth(col), r"\D", "")
    digits = F.regexp_replace(digits, r"^(0086|86)(?=1\d{10}$)", "")
    return F.when(F.length(digits) >= 7, digits)


def id_key(col: Column) -> Column:
    """A raw ID number as written, half-width, without spaces, with an upper-case X."""
    key = F.upper(F.regexp_replace(halfwidth(col), r"\s+", ""))
    return F.when(F.length(key) > 0, key)
