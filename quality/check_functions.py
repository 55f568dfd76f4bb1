"""Check functions (校验函数): the check kinds that are a function of a column's values.

A check kind of ``quality/indicators.yaml`` with a ``function`` entry (``module:name``) is one of
these: adding a kind is one function plus one YAML entry. The entry gives its indicator code,
default criticality and message; which columns it applies to is declared as rules next to the
columns, in the databrickslabs/dqx form ``{criticality, check: {function, arguments}, filter}``, on a
standard field (``schemas/standards/*.yaml``: every column mapped to the field) or on a table of the
source registry (``sources/systems/*.yaml``, with ``arguments.column``), where it also overrides the
field's rule of the same function.

A function takes the column's distinct present values as an Arrow array (standardised and valid by
the column's standard field where it maps one, as written otherwise) and its rule's arguments, and
returns a boolean Arrow array: true where the value passes. Each distinct value is judged once, so
the same function serves the gate (:mod:`citylake.quality.row_checks`) and the Great Expectations
metric (:mod:`citylake.quality.expectations.custom`) and both count the same failures.

Arrow and DuckDB are imported inside the functions: the registry validates its rules (argument
names) when a DAG file is parsed, and that must stay light.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from functools import cache
from typing import Any

# A rule's filter is a SQL boolean expression over the table's source columns (DuckDB's dialect,
# which Spark SQL shares for comparisons, IN, LIKE, IS NULL, AND/OR): the rows it is false or null
# for are not evaluated.
FILTER_DIALECT = "duckdb"


class CheckFunctionError(ValueError):
    """A check function cannot be imported, or a rule's arguments do not fit it."""


@cache
def load_function(target: str) -> Callable:
    """The function ``module:name`` names (an indicators.yaml ``function`` entry)."""
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise CheckFunctionError(f"function {target!r} is not 'module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CheckFunctionError(f"function {target!r}: cannot import {module_name} ({exc})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise CheckFunctionError(f"function {target!r}: {module_name} has no function {name}")
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters or parameters[0].kind not in (parameters[0].POSITIONAL_ONLY, parameters[0].POSITIONAL_OR_KEYWORD):
        raise CheckFunctionError(f"function {target!r} must take the column's values as its first argument")
    return function


def bind_arguments(target: str, arguments: dict[str, Any]) -> None:
    """``CheckFunctionError`` naming what is missing or unknown when ``arguments`` (a rule's, less its
    ``column``) do not fit the function."""
    function = load_function(target)
    try:
        inspect.signature(function).bind(None, **arguments)
    except TypeError as exc:
        expected = [p for p in list(inspect.signature(function).parameters)[1:]]
        raise CheckFunctionError(f"arguments {sorted(arguments)} do not fit {target} ({exc}; it takes "
                                 f"{expected})") from None


def with_defaults(target: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with the function's defaults for those left out (what a message names)."""
    parameters = list(inspect.signature(load_function(target)).parameters.values())[1:]
    return {**{p.name: p.default for p in parameters if p.default is not p.empty}, **arguments}


def distinct_array(values: list):
    """Distinct values (pandas' factorize uniques) as one Arrow array, as text when they mix types."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([str(v) for v in values], pa.string())


def judge(target: str, values, arguments: dict[str, Any]):
    """The function's verdict on ``values`` (distinct present values, an Arrow array): a numpy
    boolean array, true where the value passes. A verdict of the wrong length or type is a fault
    of the function, said so."""
    import numpy as np
    import pyarrow as pa

    verdict = load_function(target)(values, **arguments)
    if isinstance(verdict, pa.ChunkedArray):
        verdict = verdict.combine_chunks()
    if not isinstance(verdict, pa.Array) or not pa.types.is_boolean(verdict.type) or len(verdict) != len(values):
        raise CheckFunctionError(f"{target} must return a boolean Arrow array as long as its input "
                                 f"({len(values)} values)")
    return np.asarray(verdict.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def filter_columns(sql: str) -> list[str]:
    """The columns a filter names, in order of first mention (what a GX expectation of the rule
    needs to see); ``CheckFunctionError`` for a filter that is not a SQL expression."""
    import sqlglot
    from sqlglot import expressions

    try:
        tree = sqlglot.parse_one(sql, read=FILTER_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise CheckFunctionError(f"filter {sql!r} is not a SQL expression ({str(exc).splitlines()[0]})") from None
    return list(dict.fromkeys(column.name for column in tree.find_all(expressions.Column)))


def filter_mask(frame, sql: str):
    """Row by row, whether ``sql`` holds on ``frame`` (a pandas frame of source columns): a numpy
    boolean array, false where the expression is false or null. Only the columns it names are
    handed to DuckDB (a projection keeps the frame's row order)."""
    import duckdb
    import numpy as np
    import pandas as pd

    columns = [c for c in filter_columns(sql) if c in frame.columns]  # DuckDB names any other one
    rows = frame[columns] if columns else pd.DataFrame({"_row": np.zeros(len(frame))})
    with duckdb.connect() as connection:
        connection.register("batch", rows)
        try:
            result = connection.execute(f"SELECT coalesce(({sql}), false) AS passes FROM batch").fetchnumpy()
        except duckdb.Error as exc:
            raise CheckFunctionError(f"filter {sql!r} cannot be evaluated on the batch: {exc}") from None
    return np.asarray(result["passes"], dtype=bool)


# --- the shipped check functions (indicators.yaml names them) --------------------------------------

def is_in_list(values, allowed: list):
    """The value is one of ``allowed`` (compared as text: a code list written in YAML)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(pc.cast(values, pa.string()), value_set=pa.array([str(v) for v in allowed], pa.string()))


def regex_match(values, regex: str, negate: bool = False):
    """The value (as text) matches ``regex`` from its start (RE2 syntax); ``negate``: it must not."""
    import pyarrow as pa
    import pyarrow.compute as pc

    matched = pc.match_substring_regex(pc.cast(values, pa.string()), pattern=regex if regex.startswith("^")
                                       else f"^(?:{regex})")
    return pc.invert(matched) if negate else matched


def is_in_range(values, min_limit=None, max_limit=None):
    """``min_limit <= value <= max_limit`` (either may be left out). Limits are taken in the values'
    type: numbers for a numeric column, ISO text for a standardised date (ISO dates order as text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    passes = pa.array([True] * len(values), pa.bool_())
    for limit, compare in ((min_limit, pc.greater_equal), (max_limit, pc.less_equal)):
        if limit is not None:
            scalar = pa.scalar(str(limit) if pa.types.is_string(values.type) else limit).cast(values.type)
            passes = pc.and_(passes, compare(values, scalar))
    return passes
