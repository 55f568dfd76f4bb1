"""Vectorised acceptance of values that are already standard and valid, the common case.

The validators (:mod:`citylake.schemas.validators`) judge one value at a time in Python, which on a
million-row batch of mostly unique ID and mobile numbers is most of the gate's time. These
functions take many values at once and return which of them the validator would accept exactly
as written — ``ok``, nothing fixed, the value unchanged — so only the rest need the validator.
They may decline a valid value (the validator then decides); they must never accept one the
validator would reject or change (tested on random and mutated values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from citylake.schemas import characters
from citylake.schemas.identifiers import ID_CHECK_CHARS, ID_WEIGHTS
from citylake.schemas.validators import division_codes, mobile_prefixes

_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _strings(values: Sequence) -> pa.StringArray:
    return pa.array([v if isinstance(v, str) else None for v in values], pa.string())


def _matching(values: Sequence, pattern: str) -> tuple[pa.StringArray, np.ndarray]:
    strings = _strings(values)
    return strings, np.asarray(pc.match_substring_regex(strings, pattern).fill_null(False), dtype=bool)


def _ascii_matrix(strings: pa.StringArray, width: int) -> np.ndarray:
    """Fixed-width ASCII strings as a (n, width) array of byte values."""
    return np.frombuffer("".join(strings.to_pylist()).encode("ascii"), dtype=np.uint8).reshape(-1, width)


def _number(digits: np.ndarray) -> np.ndarray:
    return (digits - 48).astype(np.int64) @ (10 ** np.arange(digits.shape[1] - 1, -1, -1))


def accept_id_numbers(values: Sequence, today: date | None = None) -> np.ndarray:
    """GB 11643 ID numbers written as the standard says and valid: 18 characters, known division
    code, a real birth date from 1880 to today, the right check character."""
    strings, accepted = _matching(values, r"^[0-9]{17}[0-9X]$")
    rows = np.flatnonzero(accepted)
    if not len(rows):
        return accepted
    candidates = strings.take(pa.array(rows))
    digits = _ascii_matrix(candidates, 18)
    check = (digits[:, :17] - 48).astype(np.int64) @ np.array(ID_WEIGHTS) % 11
    right_check = np.frombuffer(ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)[check] == digits[:, 17]
    known_division = np.asarray(pc.is_in(pc.utf8_slice_codeunits(candidates, 0, 6),
                                         value_set=pa.array(sorted(division_codes()))), dtype=bool)
    year, month, day = _number(digits[:, 6:10]), _number(digits[:, 10:12]), _number(digits[:, 12:14])
    accepted[rows] = right_check & known_division & _real_past_date(year, month, day, today)
    return accepted


def _real_past_date(year: np.ndarray, month: np.ndarray, day: np.ndarray, today: date | None) -> np.ndarray:
    """A real calendar date from 1880-01-01 (the validators' earliest) to ``today``."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    today = today or date.today()
    real_day = month_ok & (day >= 1) & (day <= days) & (year >= 1880)
    return real_day & (year * 10000 + month * 100 + day <= today.year * 10000 + today.month * 100 + today.day)


def standardise_dates(values: Sequence, today: date | None = None) -> tuple[np.ndarray, list]:
    """Dates written ``yyyymmdd`` or ``yyyy-mm-dd``, real and from 1880 to ``today``: which of
    ``values`` they are, and each one's ISO text (what :func:`citylake.schemas.validators.check_date`
    returns for it, with nothing to fix); ``None`` for the others, which the validator judges."""
    iso: list = [None] * len(values)
    strings, accepted = _matching(values, r"^[0-9]{4}-?[0-9]{2}-?[0-9]{2}$")
    rows = np.flatnonzero(accepted)
    if not len(rows):
        return accepted, iso
    compact = pc.replace_substring(strings.take(pa.array(rows)), "-", "")
    # yyyy-mmdd and yyyymm-dd match the pattern; check_date knows neither form.
    eight = np.asarray(pc.equal(pc.utf8_length(compact), 8), dtype=bool)
    hyphens = np.asarray(pc.utf8_length(strings.take(pa.array(rows))), dtype=np.int64) - 8
    well_formed = eight & ((hyphens == 0) | (hyphens == 2))
    digits = _ascii_matrix(compact.filter(pa.array(well_formed)), 8)
    ok = np.zeros(len(rows), dtype=bool)
    ok[well_formed] = _real_past_date(_number(digits[:, :4]), _number(digits[:, 4:6]), _number(digits[:, 6:8]), today)
    accepted[rows] = ok
    texts = compact.to_pylist()
    for i, text in zip(rows[ok], np.asarray(texts, dtype=object)[ok], strict=True):
        iso[i] = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return accepted, iso


def accept_mobiles(values: Sequence) -> np.ndarray:
    """Mainland mobile numbers written as 11 digits with an allocated prefix (3 or 4 digits)."""
    strings, accepted = _matching(values, r"^1[0-9]{10}$")
    rows = np.flatnonzero(accepted)
    if len(rows):
        candidates = strings.take(pa.array(rows))
        known = np.zeros(len(rows), dtype=bool)
        for width in (3, 4):
            segments = pa.array(sorted(p for p in mobile_prefixes() if len(p) == width), pa.string())
            known |= np.asarray(pc.is_in(pc.utf8_slice_codeunits(candidates, 0, width), value_set=segments), dtype=bool)
        accepted[rows] = known
    return accepted


# No character Python's str.split() or str.strip() treats as whitespace (and a few more: declining
# a value only sends it to the validator).
_NO_SPACE = (r"^[^\s\x{0}-\x{20}\x{7f}-\x{a0}\x{1680}\x{2000}-\x{200b}\x{2028}\x{2029}\x{202f}\x{205f}"
             r"\x{3000}\x{feff}]+$")


def _in_repertoire(strings: pa.StringArray, repertoire: str) -> np.ndarray:
    pattern = f"^[{characters.re2_class(characters.REPERTOIRES[repertoire])}]+$"
    return np.asarray(pc.match_substring_regex(strings, pattern).fill_null(False), dtype=bool)


def accept_texts(values: Sequence) -> np.ndarray:
    """Text without any whitespace (nothing to trim or collapse), of the text repertoire
    (:data:`citylake.schemas.characters.TEXT`)."""
    strings, accepted = _matching(values, _NO_SPACE)
    return accepted & _in_repertoire(strings, "text")


def _accept_name(values: Sequence, repertoire: str) -> np.ndarray:
    """Names without whitespace whose NFKC form is themselves (no full-width characters), of the
    repertoire (which holds no written form of the middle dot but U+00B7)."""
    strings, accepted = _matching(values, _NO_SPACE)
    accepted &= _in_repertoire(strings, repertoire)
    rows = np.flatnonzero(accepted)
    if len(rows):
        candidates = strings.take(pa.array(rows))
        accepted[rows] = np.asarray(pc.equal(pc.utf8_normalize(candidates, "NFKC"), candidates), dtype=bool)
    return accepted


def accept_person_names(values: Sequence) -> np.ndarray:
    return _accept_name(values, "person_name")


def accept_names(values: Sequence) -> np.ndarray:
    return _accept_name(values, "organisation_name")


# By validator name (schemas/standards): the fields whose values can skip the validator.
FAST_PATHS: dict[str, Callable[[Sequence], np.ndarray]] = {
    "id_number": accept_id_numbers,
    "mobile": accept_mobiles,
    "person_name": accept_person_names,
    "name": accept_names,
    "text": accept_texts,
}


def accept(validator: str, values: Sequence, max_length: int | None = None) -> np.ndarray:
    """Which of ``values`` a field with ``validator`` and ``max_length`` accepts exactly as written
    (all False for a validator without a fast path)."""
    fast = FAST_PATHS.get(validator)
    if fast is None:
        return np.zeros(len(values), dtype=bool)
    accepted = fast(values)
    rows = np.flatnonzero(accepted) if max_length is not None else ()
    if len(rows):  # accepted values are text: their length is a lookup
        accepted[rows] = np.fromiter((len(values[i]) <= max_length for i in rows), dtype=bool, count=len(rows))
    return accepted
