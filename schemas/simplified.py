"""Traditional characters (繁体字) in Chinese text, judged character by character, and the
simplified form of a text (规范简化字), both from OpenCC's character tables.

A character is traditional when OpenCC's traditional-to-simplified conversion (``t2s``) changes it
and the simplified-to-traditional conversion (``s2t``) maps the result back to it: 鄭 → 郑 → 鄭,
劉 → 刘 → 劉, 後 → 后 → 後. The round trip spares characters that are valid simplified characters
in their own right although ``t2s`` may rewrite them (乾 → 干 → 幹, so 乾 stays) or that are their
own simplified form (著, 沈, 余, 于, 后). Judging each character, not the text as a whole, finds the
names departments really write, which mix the two (鄭晓珍, 劉峰). Not found: a traditional
character whose simplified form maps back to another one (瀋 → 沈 → 沈, 裡 → 里 → 裏, 髮 → 发 → 發);
flagging those would flag the simplified 沈, 里 and 发 too.

The table covers every CJK ideograph block of :data:`citylake.schemas.characters.HAN` and is built
once per process from one conversion of all of them (about 0.1 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from citylake.schemas import characters


@cache
def traditional_table() -> dict[str, str]:
    """Every traditional character (see the module doc) -> its simplified form."""
    import opencc

    han = [chr(c) for lo, hi in characters.HAN for c in range(lo, hi + 1) if c != 0x3007]
    # One character a line: OpenCC converts each line alone, so no phrase spans two characters.
    simplified = opencc.OpenCC("t2s").convert("\n".join(han)).split("\n")
    changed = [(c, s) for c, s in zip(han, simplified, strict=True) if s != c and len(s) == 1]
    back = opencc.OpenCC("s2t").convert("\n".join(s for _, s in changed)).split("\n")
    table = {c: s for (c, s), b in zip(changed, back, strict=True) if b == c}
    # A simplified form that is traditional itself (薴 -> 苧 -> 苎) is followed to its end.
    return {c: table.get(s, s) for c, s in table.items()}


@cache
def _traditional() -> frozenset[str]:
    return frozenset(traditional_table())


@cache
def _translation() -> dict[int, str]:
    return str.maketrans(traditional_table())


def has_traditional(text: str) -> bool:
    """Whether ``text`` holds any traditional character."""
    # A set lookup per character: a regular expression of a 3,800-character class is twenty times
    # slower in Python's re, and RE2 (Arrow) no faster on a batch once compiled.
    return not _traditional().isdisjoint(text)


def has_traditional_many(texts: Sequence) -> np.ndarray:
    """:func:`has_traditional` of many values; False for a value that is not text."""
    traditional = _traditional()
    return np.fromiter((isinstance(t, str) and not traditional.isdisjoint(t) for t in texts), dtype=bool,
                       count=len(texts))


def to_simplified(text: str) -> str:
    """``text`` with each traditional character replaced by its simplified form (鄭晓珍 → 郑晓珍);
    every other character, 乾 and 沈 included, as written."""
    return text.translate(_translation())
