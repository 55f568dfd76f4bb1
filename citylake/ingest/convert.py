"""Source values to typed Arrow columns, keeping the cells that do not convert (未转换值).

A department system can hold values its declared types do not: SQLite keeps text in an INTEGER or
DATETIME column and bytes that are not UTF-8 in a TEXT column, MariaDB keeps zero and impossible
dates (``'0000-00-00 00:00:00'``), PostgreSQL's NUMERIC holds ``'NaN'``. One such cell must not fail
the table's batch: it becomes NULL in its typed bronze column and its raw text goes to the row's
``_unconverted`` metadata column, a JSON object ``{"<column>": "<raw text>"}`` (NULL when every cell
of the row converted), which the quality gate (``citylake.quality.gate``) quarantines with a finding
naming the column. Raw bytes that are not UTF-8 are kept with backslash escapes (``\\xff``), so the
JSON is valid UTF-8.

Whole columns convert with Arrow first, so clean data pays nothing for this. A column of a chunk
whose conversion fails is split in halves until the parts convert or are single cells, which convert
by themselves or not at all: a few bad cells in a chunk of 50,000 cost a few dozen conversions of
shrinking parts, not one per cell (a single-cell Arrow cast costs about as much as a 10,000-cell one).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import pyarrow as pa

UNCONVERTED = "_unconverted"
# Raw text per failed cell: {row position: text}.
Failures = dict[int, str]
_NONE = type(None)
_ERRORS = (pa.ArrowException, ValueError, TypeError, ArithmeticError, OverflowError, UnicodeError)


def raw_text(value) -> str:
    """A source value as text that is valid UTF-8 (undecodable bytes and lone surrogates escaped)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def convert_values(values: list, type_: pa.DataType) -> tuple[pa.Array, Failures]:
    """Python values from a DB-API driver (SQLite text as ``bytes``) to an Arrow array of ``type_``."""
    def whole(part: list) -> pa.Array:
        array = _fast(part, type_)
        if array is None:
            raise TypeError("mixed value types")
        return array

    return _halving(values, type_, whole, lambda part: _cell(part[0], type_), lambda part: raw_text(part[0]))


def convert_array(array: pa.Array, type_: pa.DataType) -> tuple[pa.Array, Failures]:
    """An Arrow array from a driver (ADBC) to ``type_``."""
    if array.type == type_:
        return array, {}
    def cast(part: pa.Array) -> pa.Array:  # the same conversion whole and per cell
        return part.cast(type_)

    return _halving(array, type_, cast, cast, lambda part: raw_text(part[0].as_py()))


def _halving(values, type_: pa.DataType, whole, single, raw) -> tuple[pa.Array, Failures]:
    """``whole(values)``; where it fails, the two halves the same way, down to single cells, which
    ``single`` converts or which become NULL with their ``raw`` text."""
    parts: list[pa.Array] = []
    failures: Failures = {}

    def convert(start: int, stop: int) -> None:
        part = values[start:stop]
        try:
            parts.append(whole(part) if stop - start > 1 else single(part))
            return
        except _ERRORS:
            if stop - start > 1:
                middle = (start + stop) // 2
                convert(start, middle)
                convert(middle, stop)
                return
        parts.append(pa.nulls(1, type_))
        failures[start] = raw(part)

    if len(values):
        convert(0, len(values))
    return (pa.concat_arrays(parts) if len(parts) > 1 else parts[0] if parts else pa.array([], type_)), failures


def unconverted_column(failures: dict[str, Failures], rows: int) -> pa.Array:
    """The ``_unconverted`` column of a chunk from its columns' failures (NULL for clean rows)."""
    if not any(failures.values()):
        return pa.nulls(rows, pa.string())
    per_row: dict[int, dict[str, str]] = {}
    for column, cells in failures.items():
        for i, text in cells.items():
            per_row.setdefault(i, {})[column] = text
    return pa.array([json.dumps(per_row[i], ensure_ascii=False) if i in per_row else None for i in range(rows)],
                    pa.string())


def _fast(values: list, type_: pa.DataType) -> pa.Array | None:
    """The whole column in one conversion, when its Python types allow it; ``None`` when they don't."""
    kinds = set(map(type, values)) - {_NONE}
    if not kinds:
        return pa.nulls(len(values), type_)
    if kinds == {bytes} and not pa.types.is_binary(type_):
        # SQLite text, read undecoded: Arrow validates the UTF-8 and parses dates and numbers in C.
        text = pa.array(values, pa.binary()).cast(pa.string())
        return text if pa.types.is_string(type_) else text.cast(type_)
    if pa.types.is_string(type_):
        return pa.array(values, type_) if kinds == {str} else None
    if pa.types.is_boolean(type_):
        if kinds == {bool}:
            return pa.array(values, type_)
        return pa.array(values, pa.int64()).cast(type_) if kinds == {int} else None  # 0/1 of SQLite, MySQL
    if pa.types.is_integer(type_):
        # A float (or bool) goes cell by cell: Arrow would truncate 2.5 to 2 without a word.
        return pa.array(values, type_) if kinds == {int} else None
    if pa.types.is_floating(type_):
        return pa.array(values, type_) if kinds <= {float, int} else None
    if pa.types.is_decimal(type_):
        if not kinds <= {Decimal, int, float}:
            return None
        quantum = Decimal(1).scaleb(-type_.scale)
        return pa.array([None if v is None else (v if isinstance(v, Decimal) else Decimal(str(v))).quantize(quantum)
                         for v in values], type_)
    if pa.types.is_timestamp(type_):
        return pa.array(values, type_) if kinds == {datetime} else \
            pa.array(values, pa.string()).cast(type_) if kinds == {str} else None
    if pa.types.is_date32(type_):
        if kinds == {date}:
            return pa.array(values, type_)
        if kinds == {datetime}:
            return pa.array([None if v is None else v.date() for v in values], type_)
        return pa.array(values, pa.string()).cast(type_) if kinds == {str} else None
    if pa.types.is_binary(type_):
        return pa.array(values, type_) if kinds == {bytes} else None
    return None


def _cell(value, type_: pa.DataType) -> pa.Array:
    """One value as a one-element array of ``type_``; raises when it does not convert without loss."""
    if value is None:
        return pa.nulls(1, type_)
    if isinstance(value, bytes) and not pa.types.is_binary(type_):
        value = value.decode("utf-8")
    if pa.types.is_string(type_):
        return pa.array([value if isinstance(value, str) else str(value)], type_)
    if isinstance(value, str):
        # Text in a typed column converts as Arrow parses text (ISO dates, plain numbers), or not at all.
        return pa.array([value], pa.string()).cast(type_)
    if pa.types.is_integer(type_):
        if isinstance(value, float | Decimal) and value != int(value):
            raise ValueError("not a whole number")
        return pa.array([int(value)], type_)
    if pa.types.is_boolean(type_):
        return pa.array([bool(value)], type_)
    if pa.types.is_floating(type_):
        return pa.array([float(value)], type_)
    if pa.types.is_decimal(type_):
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            raise InvalidOperation("not a finite number")
        return pa.array([number.quantize(Decimal(1).scaleb(-type_.scale))], type_)
    if pa.types.is_date32(type_) and isinstance(value, datetime):
        return pa.array([value.date()], type_)
    if (pa.types.is_date32(type_) or pa.types.is_timestamp(type_)) and not isinstance(value, date):
        # Arrow would take a number for days (or microseconds) since 1970: SQLite's DATE affinity
        # stores the text '19900230' as the integer 19900230, which must stay the text it was.
        raise ValueError("a number is not a date")
    return pa.array([value], type_)
