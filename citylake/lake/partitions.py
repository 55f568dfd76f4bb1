"""Partition filters and predicates, in the three dialects lake I/O speaks.

* delta-rs partition filters: a conjunction of ``(column, "=" | "in", serialised values)``,
  used to pick files (``file_uris``) and to choose the files a commit replaces; ``""`` stands
  for null with ``"="``, and ``"in"`` never matches null (delta-rs 1.5.0 behaviour).
* delta-rs SQL predicates (DataFusion SQL) for ``write_deltalake(predicate=…)`` and merges.
* pyarrow expressions for dataset scans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import pyarrow.compute as pc
from deltalake.transaction import AddAction

from citylake.lake.errors import PartitionMismatchError

#: delta-rs partition filters: a conjunction of (column, "=" | "in", value or values).
PartitionFilters = list[tuple[str, str, Any]]
#: Partitions as a caller names them: column → one value, or several values for ``IN``.
PartitionSpec = Mapping[str, Any]


def partition_value_string(value: Any) -> str:
    """A partition value as Delta serialises it in the log (``""`` stands for null in filters)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, int | str | Decimal):
        return str(value)
    raise PartitionMismatchError(f"unsupported partition value {value!r} ({type(value).__name__})")


def matches_filters(values: dict[str, Any], partition_filters: PartitionFilters) -> bool:
    """Whether partition ``values`` pass the filters, with delta-rs' semantics ("" = null for "=")."""
    for column, op, wanted in partition_filters:
        value = values[column]
        text = "" if value is None else partition_value_string(value)
        if op == "=" and text != wanted:
            return False
        if op == "in" and (value is None or text not in wanted):
            return False
        if op not in ("=", "in"):
            raise ValueError(f"unsupported partition filter operator {op!r}")
    return True


def sql_literal(value: Any) -> str:
    """A Python value as a literal in a delta-rs (DataFusion) SQL predicate."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        return f"CAST('{value.isoformat()}' AS TIMESTAMP)"
    if isinstance(value, dt.date):
        return f"CAST('{value.isoformat()}' AS DATE)"
    raise PartitionMismatchError(f"cannot use {value!r} ({type(value).__name__}) in a delta-rs predicate")


def quoted_identifier(column: str) -> str:
    """A column name quoted for delta-rs SQL."""
    return "`" + column.replace("`", "``") + "`"


def partitions_predicate(partitions: list[dict[str, Any]]) -> str:
    """delta-rs SQL matching exactly the given partitions (each a column → value dict)."""
    clauses = []
    for values in partitions:
        terms = [
            f"{quoted_identifier(column)} IS NULL" if value is None
            else f"{quoted_identifier(column)} = {sql_literal(value)}"
            for column, value in values.items()
        ]
        clauses.append("(" + " AND ".join(terms) + ")")
    return " OR ".join(clauses) if clauses else "FALSE"


def partitions_expression(partitions: list[dict[str, Any]]) -> pc.Expression:
    """The pyarrow filter matching exactly the given partitions."""
    expression = pc.scalar(False)
    for values in partitions:
        clause = pc.scalar(True)
        for column, value in values.items():
            term = pc.field(column).is_null() if value is None else pc.field(column) == value
            clause = clause & term
        expression = expression | clause
    return expression


def overwrite_filters(
    table: object, partition_by: Sequence[str], partitions: PartitionSpec
) -> PartitionFilters:
    """delta-rs partition filters (a conjunction) selecting the partitions to overwrite."""
    if not partition_by:
        raise PartitionMismatchError(f"{table} is not partitioned: overwrite it whole instead")
    unknown = sorted(set(partitions) - set(partition_by))
    if unknown:
        raise PartitionMismatchError(f"{unknown} are not partition columns of {table} ({list(partition_by)})")
    filters: PartitionFilters = []
    for column, wanted in partitions.items():
        values = list(wanted) if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
        if len(values) == 1:
            filters.append((column, "=", partition_value_string(values[0])))
        elif None in values:
            # delta-rs' "in" filter never matches null partitions.
            raise PartitionMismatchError(f"cannot overwrite null and non-null {column!r} partitions at once")
        else:
            filters.append((column, "in", [partition_value_string(v) for v in values]))
    return filters


def check_actions_inside(table: object, actions: list[AddAction], filters: PartitionFilters) -> None:
    """The files of a partition overwrite must lie inside the partitions they replace."""
    for action in actions:
        for column, op, wanted in filters:
            value = action.partition_values.get(column) or ""
            allowed = [wanted] if op == "=" else wanted
            if value not in allowed:
                raise PartitionMismatchError(
                    f"rows for {column}={value!r} fall outside the partitions being overwritten in {table}"
                )


def covering_filters(partition_by: Sequence[str], touched: Sequence[Any]) -> PartitionFilters | None:
    """delta-rs partition filters covering every partition in ``touched`` (rows of partition values).

    delta-rs filters are a conjunction, so several partition columns give a cross product of
    their values: possibly more partitions than touched, never fewer, and the same filters
    choose both the files read and the files replaced. A column with a null value is left
    unconstrained (delta-rs cannot match null together with other values). ``None`` means the
    whole table.
    """
    filters = []
    for column in partition_by:
        values = {row[column] for row in touched}
        if None in values:
            if len(values) == 1:
                filters.append((column, "=", ""))
        elif len(values) == 1:
            filters.append((column, "=", partition_value_string(values.pop())))
        else:
            filters.append((column, "in", sorted(partition_value_string(v) for v in values)))
    return filters or None
