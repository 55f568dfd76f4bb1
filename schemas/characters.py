"""The characters a name or a text field can hold (字符集), as explicit code-point ranges.

A repertoire is a list of ranges rather than Unicode categories so that the validators (Python's
``re``) and the vectorised fast paths (:mod:`citylake.schemas.fast_paths`, RE2 in Arrow) judge a
character the same way whatever Unicode version each library was built with.

- :data:`PERSON_NAME`: Chinese characters (规范汉字, the CJK ideograph blocks and 〇) and the middle
  dot 间隔号 ``·`` (U+00B7) of minority and transliterated names (阿卜杜拉·买买提). The person
  standard is the household registry's name, so Latin letters, digits and symbols are not in it.
- :data:`ORGANISATION_NAME`: a person's name plus Latin letters, digits, the punctuation registered
  names use (``( ) - & . , ' / 、``) and the scripts of the autonomous regions (Tibetan, Mongolian,
  Uyghur, Yi, Korean), which names there may carry besides the Chinese.
- :data:`TEXT`: free text such as an address: the above plus printable ASCII, full-width forms,
  Chinese punctuation, Roman numerals (Ⅱ期), circled numbers (①) and ○ (often typed for 〇).

:data:`FORBIDDEN` is never allowed in any field, judged on the value as written (standardisation
would otherwise turn a file separator or NEL into a space): control characters other than the
ordinary whitespace ``\\t \\n \\v \\f \\r``, invisible format characters (zero-width spaces and
joiners, bidirectional controls, the BOM), surrogates, private-use and non-characters.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

Ranges = tuple[tuple[int, int], ...]

MIDDLE_DOT = "\u00b7"

HAN: Ranges = (
    (0x3007, 0x3007),    # 〇
    (0x3400, 0x4DBF),    # Extension A
    (0x4E00, 0x9FFF),    # URO
    (0xF900, 0xFAFF),    # compatibility ideographs (NFKC maps most to the URO; twelve are unified)
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2EBEF),  # Extensions C to F
    (0x2EBF0, 0x2EE5F),  # Extension I
    (0x2F800, 0x2FA1F),  # compatibility supplement
    (0x30000, 0x323AF),  # Extensions G and H
)
MINORITY_SCRIPTS: Ranges = (
    (0x0620, 0x065F), (0x066E, 0x06D3), (0x06D5, 0x06D5), (0x06E5, 0x06E6), (0x06EE, 0x06FF),  # Uyghur
    (0x0F00, 0x0FFF),                                                                          # Tibetan
    (0x1800, 0x180D), (0x180F, 0x18AF),                                                        # Mongolian
    (0xA000, 0xA4CF),                                                                          # Yi
    (0xAC00, 0xD7A3),                                                                          # Korean
)


def _chars(text: str) -> Ranges:
    return tuple((ord(c), ord(c)) for c in text)


PERSON_NAME: Ranges = (*HAN, (0xB7, 0xB7))
ORGANISATION_NAME: Ranges = (*PERSON_NAME, (0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), *_chars("()-&.,'/、"),
                             *MINORITY_SCRIPTS)
TEXT: Ranges = (
    *HAN, *MINORITY_SCRIPTS,
    (0x20, 0x7E),        # printable ASCII
    (0xB7, 0xB7), (0xD7, 0xD7),
    (0x2010, 0x2027),    # dashes, quotation marks, ellipsis, ‧
    (0x2030, 0x205E),    # ‰ ′ ″ ※ …
    (0x2100, 0x218B),    # letterlike (℃ №) and number forms (Ⅱ)
    (0x2460, 0x24FF),    # circled numbers
    (0x25CB, 0x25CB),    # ○
    (0x3000, 0x303F),    # CJK punctuation: 、。《》「」【】〔〕
    (0x30FB, 0x30FB),    # ・
    (0xFE30, 0xFE4F), (0xFE50, 0xFE6B),  # CJK compatibility and small forms
    (0xFF01, 0xFF65),    # full-width forms
)
FORBIDDEN: Ranges = (
    (0x00, 0x08), (0x0E, 0x1F), (0x7F, 0x9F),                       # controls (C0 but whitespace, DEL, C1)
    (0xAD, 0xAD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),     # format characters
    (0xD800, 0xDFFF),                                               # surrogates
    (0xE000, 0xF8FF), (0xF0000, 0x10FFFF),                          # private use
    (0xFDD0, 0xFDEF), (0xFFFE, 0xFFFF),                             # non-characters
)

REPERTOIRES: dict[str, Ranges] = {"person_name": PERSON_NAME, "organisation_name": ORGANISATION_NAME, "text": TEXT}
# Written forms of the middle dot (bullet, hyphenation point, katakana and operator dots, and the
# full stop some systems type): a standard-form matter, each becomes U+00B7.
NAME_DOT_VARIANTS = "\u2022\u2027\u30fb\u2219\u22c5\u2e31\u0387."
ORGANISATION_DOT_VARIANTS = NAME_DOT_VARIANTS.replace(".", "")  # "Co., Ltd." keeps its full stops


def python_class(ranges: Ranges) -> str:
    """A Python ``re`` character class body for ``ranges``."""
    def esc(cp: int) -> str:
        return f"\\U{cp:08x}"
    return "".join(esc(lo) if lo == hi else f"{esc(lo)}-{esc(hi)}" for lo, hi in ranges)


def re2_class(ranges: Ranges) -> str:
    """The same character class for RE2 (Arrow's ``match_substring_regex``)."""
    return "".join(f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in ranges)


@cache
def _outside(repertoire: str) -> re.Pattern:
    return re.compile(f"[^{python_class(REPERTOIRES[repertoire])}]")


_FORBIDDEN = re.compile(f"[{python_class(FORBIDDEN)}]")


def has_forbidden(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def outside(text: str, repertoire: str) -> bool:
    """Whether ``text`` holds a character outside ``repertoire``."""
    return _outside(repertoire).search(text) is not None


# Kinds of character named in messages (the value itself never is), by Unicode category.
_KINDS = (("Cc", "控制字符", "control characters"), ("Cf", "不可见格式字符", "invisible format characters"),
          ("Cs", "无效编码", "invalid code units"), ("Co", "私用区字符", "private-use characters"),
          ("S", "符号或表情", "symbols or emoji"), ("N", "数字", "digits"), ("L", "字母或其他文字", "letters of other scripts"),
          ("P", "标点", "punctuation"), ("", "其他字符", "other characters"))


def describe(raw: str, standardised: str, repertoire: str) -> tuple[str, str]:
    """Chinese and English names of the kinds of character ``raw`` (as written) or ``standardised``
    hold that the field cannot, e.g. ``("控制字符、符号或表情", "control characters, symbols or emoji")``.
    Only called for a value already found wanting (it looks at every character)."""
    bad = {c for c in raw if _FORBIDDEN.match(c)} | {c for c in standardised if _outside(repertoire).match(c)}
    kinds = sorted({_kind(c) for c in bad}, key=_KINDS.index) or [_KINDS[-1]]
    return "、".join(zh for _, zh, _ in kinds), ", ".join(en for _, _, en in kinds)


def _kind(c: str) -> tuple[str, str, str]:
    category = unicodedata.category(c)
    return next(k for k in _KINDS if category.startswith(k[0]))
