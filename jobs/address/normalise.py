"""Text clean-up of a free-text address before parsing, and Chinese numerals to digits.

:func:`clean` gives one written form: no white space, control or invisible format characters;
full-width forms as ASCII (１２号 → 12号, ＃ → #); traditional characters as simplified (號 → 号, OpenCC
t2s, the converter the quality gate uses); every dash as ``-`` (3—2—501 → 3-2-501); brackets, quotes
and sentence punctuation dropped (their content kept); Latin letters upper-case (a座 → A座).

:func:`to_number` reads the numbers of 门牌号/楼栋/单元/室, whether written as digits, Chinese numerals
(二十四, 一千八百零一), digit by digit (二四, 一八零一) or in financial numerals (贰拾肆), through cn2an.
Numerals are converted only where the grammar of :mod:`citylake.jobs.address.parse` expects a number:
names hold numerals too (经十路, 二七南路, 奥体一号).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

# Chinese numeral characters cn2an reads (incl. 两, 廿, 〇 and the financial forms).
CN_NUMERALS = "〇零一二三四五六七八九十百千两廿壹贰叁肆伍陆柒捌玖拾佰仟"

_DASHES = "-‐‑‒–—―−﹣－~～_"
_DROPPED = " ,.;:'\"!?()[]{}<>|`，。、；：“”‘’！？（）［］【】〔〕《》〈〉「」『』…·・"
_MULTI_DASH = re.compile(r"-{2,}")


@cache
def _table() -> dict[int, int | None]:
    """The one ``str.translate`` table of :func:`clean`, built once per process (the traditional to
    simplified part asks OpenCC for every CJK unified ideograph of the BMP, about 50 ms)."""
    import opencc

    table: dict[int, int | None] = {}
    han = [chr(c) for c in range(0x4E00, 0xA000)]
    simplified = opencc.OpenCC("t2s").convert("\n".join(han)).split("\n")
    for t, s in zip(han, simplified, strict=True):
        if t != s and len(s) == 1:
            table[ord(t)] = ord(s)
    for c in range(0xFF01, 0xFF5F):  # full-width ASCII forms
        table[c] = c - 0xFEE0
    for c in range(ord("a"), ord("z") + 1):
        table[c] = c - 32
    for c in range(ord("ａ"), ord("ｚ") + 1):
        table[c] = c - 0xFEE0 - 32
    for c in _DASHES:
        table[ord(c)] = ord("-")
    table[ord("/")] = table[ord("\\")] = ord("-")
    table[ord("○")] = ord("〇")  # WHITE CIRCLE, often typed for the numeral zero
    table[ord("＃")] = ord("#")
    for c in _DROPPED:
        table[ord(c)] = None
    # Control characters, white space of every kind, and invisible format characters (zero-width
    # spaces and joiners, bidirectional controls, the BOM).
    invisible = [*range(0x00, 0x21), *range(0x7F, 0xA1), 0xAD, 0x1680, 0x180E, *range(0x2000, 0x2010),
                 *range(0x2028, 0x2030), *range(0x205F, 0x2065), 0x3000, 0xFEFF, *range(0xFFF9, 0xFFFC)]
    for c in invisible:
        table[c] = None
    return table


def clean(text: str) -> str:
    """One written form of an address text (see the module docstring)."""
    out = text.translate(_table())
    if "--" in out:
        out = _MULTI_DASH.sub("-", out)
    return out.strip("-")


@lru_cache(maxsize=65536)
def to_number(token: str) -> str | None:
    """``"24"``, ``"二十四"``, ``"二四"``, ``"贰拾肆"`` → ``"24"``; ``None`` when ``token`` is not a number.

    Cached: the numbers of buildings, units and rooms are few, and cn2an takes about 80 µs a call."""
    if token.isascii():
        return str(int(token)) if token.isdigit() else None
    import cn2an

    try:
        # "smart" reads digit-by-digit forms (一八零一) besides the positional ones (一千八百零一).
        value = cn2an.cn2an(token, "smart")
    except Exception:  # cn2an raises ValueError, KeyError … on what is not a numeral: not a number
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return str(int(value)) if value >= 0 else None
