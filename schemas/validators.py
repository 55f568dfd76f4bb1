"""Field validators of the data standards: each takes a raw value as a department wrote it and
returns a :class:`Verdict` — the standardised value, what standardisation fixed on the way, and the
rule it breaks, if any.

Standardisation fixes what is only a way of writing (full-width characters, stray spaces, a
lowercase ``x``, the 15-digit form of an ID number); a rule is broken when the value itself is
wrong (a check character that does not match, a date that cannot exist). Messages never quote the
value: it may be personal data.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from citylake.schemas import characters, reference
from citylake.schemas.identifiers import (
    USCC_ALPHABET,
    id_check_char,
    id_upgrade_15_to_18,
    org_code_check_char,
    uscc_check_char,
)

SEVERITY_ERROR = "error"
SEVERITY_REVIEW = "review"
# The rules whose verdicts have SEVERITY_REVIEW (a finding's check kind is told by its rule:
# citylake.quality.checks.finding_kind).
REVIEW_RULES = frozenset({"uscc.check_digit", "mobile.prefix"})


@dataclass(frozen=True)
class Verdict:
    """The outcome of validating one value."""

    value: str | None
    rule: str | None = None
    message: str | None = None
    severity: str | None = None
    fixes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.rule is None


def _fail(rule: str, message: str, fixes: list[str], value: str | None = None, severity: str = SEVERITY_ERROR):
    return Verdict(value, rule, message, severity, tuple(fixes))


def normalise_text(raw: object, fixes: list[str] | None = None) -> str | None:
    """Half-width (NFKC), no whitespace anywhere: the written forms an identifier may arrive in."""
    if raw is None:
        return None
    text = str(raw)
    half = unicodedata.normalize("NFKC", text)
    if half != text and fixes is not None:
        fixes.append("fullwidth")
    compact = re.sub(r"\s+", "", half)
    if compact != half and fixes is not None:
        fixes.append("whitespace")
    return compact or None


@cache
def division_codes() -> frozenset[str]:
    """Every county-level-or-higher code GB/T 2260 has held since 1981 (current and historical)."""
    return frozenset(r["code"] for r in reference.divisions())


@cache
def current_division_codes() -> frozenset[str]:
    return frozenset(r["code"] for r in reference.divisions() if r["status"] == "in_use")


def check_division_code(raw: object) -> Verdict:
    fixes: list[str] = []
    code = normalise_text(raw, fixes)
    if code is None:
        return _fail("division_code.missing", "行政区划代码缺失 (division code missing)", fixes)
    if not re.fullmatch(r"\d{6}", code):
        return _fail("division_code.format", "行政区划代码应为6位数字 (a division code is 6 digits)", fixes)
    if code not in division_codes():
        return _fail("division_code.unknown", "行政区划代码不存在 (no such GB/T 2260 code, 1981 to date)", fixes, code)
    return Verdict(code, fixes=tuple(fixes))


def check_id_number(raw: object, today: date | None = None) -> Verdict:
    """GB 11643-1999 公民身份号码: upgraded from 15 digits, division code known (old codes included),
    birth date real and not in the future, check character right."""
    fixes: list[str] = []
    number = normalise_text(raw, fixes)
    if number is None:
        return _fail("id_number.missing", "身份证号缺失 (ID number missing)", fixes)
    if number.endswith("x"):
        number = number[:-1] + "X"
        fixes.append("lowercase_x")
    if len(number) == 15 and number.isdigit():
        number = id_upgrade_15_to_18(number)
        fixes.append("upgraded_from_15_digits")
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return _fail("id_number.format", "身份证号应为18位(末位可为X) (18 characters, digits and a final X)", fixes)
    if number[:6] not in division_codes():
        return _fail("id_number.division_code", "身份证号的行政区划代码不存在 (unknown division code)", fixes, number)
    try:
        born = id_birth_date(number)
    except ValueError:
        return _fail("id_number.birth_date", "身份证号中的出生日期不存在 (impossible birth date)", fixes, number)
    if born.year < 1880 or born > (today or date.today()):
        return _fail("id_number.birth_date", "身份证号中的出生日期不合理 (birth date out of range)", fixes, number)
    if id_check_char(number[:17]) != number[17]:
        return _fail("id_number.check_digit", "身份证号校验码错误 (GB 11643 check character wrong)", fixes, number)
    return Verdict(number, fixes=tuple(fixes))


def id_birth_date(number: str) -> date:
    """The birth date in an 18-digit ID number (``ValueError`` if it names no real day)."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def id_is_male(number: str) -> bool:
    """GB 11643: an odd sequence number is a man."""
    return int(number[16]) % 2 == 1


def check_uscc(raw: object) -> Verdict:
    """GB 32100-2015 统一社会信用代码 with the embedded GB 11714 organisation code.

    A code whose own check character alone fails is routed to review, not rejected: some early
    pilot codes were issued that way and are real registrations.
    """
    fixes: list[str] = []
    code = normalise_text(raw, fixes)
    if code is None:
        return _fail("uscc.missing", "统一社会信用代码缺失 (USCC missing)", fixes)
    if code != code.upper():
        code = code.upper()
        fixes.append("lowercase")
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return _fail("uscc.format", "统一社会信用代码应为18位, 不含I、O、Z、S、V (18 characters of GB 32100's alphabet)",
                     fixes)
    if code[2:8] not in division_codes():
        return _fail("uscc.division_code", "统一社会信用代码中的行政区划代码不存在 (unknown division code)", fixes, code)
    org_ok = org_code_check_char(code[8:16]) == code[16] if all(c.isalnum() for c in code[8:16]) else False
    if not org_ok:
        return _fail("uscc.org_code", "组织机构代码校验码错误 (GB 11714 check character wrong)", fixes, code)
    if uscc_check_char(code[:17]) != code[17]:
        return _fail("uscc.check_digit", "统一社会信用代码校验码错误, 请核实是否为早期试点代码 "
                     "(GB 32100 check character wrong; early pilot codes are real: review)", fixes, code,
                     severity=SEVERITY_REVIEW)
    return Verdict(code, fixes=tuple(fixes))


SEX_WORDS = {"男": "1", "男性": "1", "女": "2", "女性": "2", "未知": "0", "未说明": "9"}


def check_sex(raw: object) -> Verdict:
    """GB/T 2261.1 sex code; the Chinese words departments write are mapped to the code."""
    fixes: list[str] = []
    text = normalise_text(raw, fixes)
    if text is None:
        return _fail("sex.missing", "性别缺失 (sex missing)", fixes)
    if text in SEX_WORDS:
        fixes.append("sex_word_to_code")
        text = SEX_WORDS[text]
    if text not in reference.code_table("sex_gbt2261_1"):
        return _fail("sex.code", "性别代码不符合GB/T 2261.1 (not a GB/T 2261.1 code)", fixes)
    return Verdict(text, fixes=tuple(fixes))


def check_ethnicity(raw: object) -> Verdict:
    """GB/T 3304 ethnicity code; names (汉族, 汉) are mapped to the code."""
    fixes: list[str] = []
    text = normalise_text(raw, fixes)
    if text is None:
        return _fail("ethnicity.missing", "民族缺失 (ethnicity missing)", fixes)
    codes = reference.code_table("ethnicity_gbt3304")
    if text.isdigit() and len(text) == 1:
        text = "0" + text
        fixes.append("zero_padded")
    if text not in codes:
        by_name = {name: code for code, name in codes.items()} | {name.removesuffix("族"): code
                                                                  for code, name in codes.items()}
        if text not in by_name:
            return _fail("ethnicity.code", "民族代码不符合GB/T 3304 (not a GB/T 3304 code or name)", fixes)
        text = by_name[text]
        fixes.append("ethnicity_name_to_code")
    return Verdict(text, fixes=tuple(fixes))


_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def check_date(raw: object, earliest: date = date(1880, 1, 1), today: date | None = None) -> Verdict:
    """A date in any of the formats departments use (yyyymmdd, yyyy-mm-dd, …), as ISO text."""
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        value = raw
        fixes: list[str] = []
    else:
        fixes = []
        text = normalise_text(raw, fixes)
        if text is None:
            return _fail("date.missing", "日期缺失 (date missing)", fixes)
        value = None
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if value is None:
            return _fail("date.invalid", "日期不存在或格式无法识别 (impossible date or unknown format)", fixes)
    if value < earliest or value > (today or date.today()):
        return _fail("date.range", "日期超出合理范围 (date out of range)", fixes, value.isoformat())
    return Verdict(value.isoformat(), fixes=tuple(fixes))


@cache
def mobile_prefixes() -> frozenset[str]:
    """The allocated segments, 3 or 4 digits (``schemas/reference/mobile_prefixes.csv``)."""
    return frozenset(r["prefix"] for r in reference.mobile_prefixes())


def known_mobile_prefix(number: str) -> bool:
    """Whether an 11-digit number starts with an allocated segment (its first 3 or 4 digits)."""
    prefixes = mobile_prefixes()
    return number[:3] in prefixes or number[:4] in prefixes


def check_mobile(raw: object) -> Verdict:
    """An 11-digit mainland mobile number (+86 / 0086 removed). A well-formed number whose segment is
    not in the reference list goes to review, not rejection: the numbering plan grows (new segments,
    virtual operators) faster than any list, and the number may be real."""
    fixes: list[str] = []
    text = normalise_text(raw, fixes)
    if text is None:
        return _fail("mobile.missing", "手机号缺失 (mobile number missing)", fixes)
    stripped = re.sub(r"^(\+?86|0086)(?=1\d{10}$)", "", text.replace("-", ""))
    if stripped != text:
        fixes.append("country_code_or_separators")
    if not re.fullmatch(r"1\d{10}", stripped):
        return _fail("mobile.format", "手机号应为11位数字 (11 digits starting with 1)", fixes)
    if not known_mobile_prefix(stripped):
        return _fail("mobile.prefix", "手机号号段不在已分配号段表中, 请核实 (segment not in the numbering plan list: review)",
                     fixes, stripped, severity=SEVERITY_REVIEW)
    return Verdict(stripped, fixes=tuple(fixes))


def _characters(prefix: str, label: str, raw: str, standardised: str, repertoire: str,
                fixes: list[str]) -> Verdict | None:
    """The ``invalid_chars`` verdict of a value holding a character its field cannot: anything in
    :data:`characters.FORBIDDEN` as written, anything outside the field's repertoire once standardised."""
    if not characters.has_forbidden(raw) and not characters.outside(standardised, repertoire):
        return None
    zh, en = characters.describe(raw, standardised, repertoire)
    return _fail(f"{prefix}.invalid_chars", f"{label}含不能包含的字符: {zh} ({en} not allowed)", fixes)


def _standard_dots(text: str, variants: str, fixes: list[str]) -> str:
    dotted = text.translate({ord(c): characters.MIDDLE_DOT for c in variants})
    if dotted != text:
        fixes.append("middle_dot")
    return dotted


def check_person_name(raw: object) -> Verdict:
    """A person's name as the household registry holds it: Chinese characters and the middle dot
    (``·``, to which its other written forms are standardised), half-width, no whitespace."""
    fixes: list[str] = []
    text = normalise_text(raw, fixes)
    if not text:
        return _fail("person_name.missing", "姓名缺失 (name missing)", fixes)
    text = _standard_dots(text, characters.NAME_DOT_VARIANTS, fixes)
    bad = _characters("person_name", "姓名", str(raw), text, "person_name", fixes)
    return bad or Verdict(text, fixes=tuple(fixes))


def check_name(raw: object) -> Verdict:
    """A person's or an organisation's name: half-width, no whitespace anywhere (Chinese names have
    none), the characters of :data:`characters.ORGANISATION_NAME`."""
    fixes: list[str] = []
    text = normalise_text(raw, fixes)
    if not text:
        return _fail("name.missing", "名称缺失 (name missing)", fixes)
    text = _standard_dots(text, characters.ORGANISATION_DOT_VARIANTS, fixes)
    bad = _characters("name", "名称", str(raw), text, "organisation_name", fixes)
    return bad or Verdict(text, fixes=tuple(fixes))


def check_text(raw: object) -> Verdict:
    """Free text (an address): runs of whitespace become one space, the characters of
    :data:`characters.TEXT`."""
    fixes: list[str] = []
    written = None if raw is None else str(raw)
    text = None if written is None else " ".join(written.split())
    if text is not None and text != written:
        fixes.append("whitespace")
    if not text:
        return _fail("text.missing", "值缺失 (value missing)", fixes)
    bad = _characters("text", "文本", written, text, "text", fixes)
    return bad or Verdict(text, fixes=tuple(fixes))
