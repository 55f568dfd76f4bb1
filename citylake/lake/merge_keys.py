"""Checks on the keys of a merge source: present, non-null, unique."""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from citylake.lake.errors import DuplicateKeyError, NullKeyError, SchemaMismatchError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def check_keys_present(table: object, columns: Sequence[str], keys: Sequence[str]) -> None:
    """Merge keys must be given and be columns of the source."""
    if not keys:
        raise ValueError(f"merge into {table} needs at least one key column")
    missing = [k for k in keys if k not in columns]
    if missing:
        raise SchemaMismatchError(f"merge keys {missing} are not columns of the source for {table}")


def check_arrow_merge_keys(table: object, source: pa.Table, keys: Sequence[str]) -> None:
    """Merge keys must be present, non-null and unique in the source."""
    check_keys_present(table, source.schema.names, keys)
    null_keys = [k for k in keys if source.column(k).null_count]
    if null_keys:
        raise NullKeyError(f"the source of the merge into {table} has nulls in key columns {null_keys}")
    counts = source.group_by(list(keys)).aggregate([([], "count_all")])
    if pc.any(pc.greater(counts.column("count_all"), 1)).as_py():
        raise DuplicateKeyError(f"the source of the merge into {table} has duplicate keys {list(keys)}")


def check_spark_merge_keys(table: object, df: DataFrame, keys: Sequence[str]) -> None:
    """Merge keys must be present, non-null and unique in the source (one small Spark job)."""
    from pyspark.sql import functions as F

    check_keys_present(table, df.columns, keys)
    any_null = functools.reduce(operator.or_, [F.col(k).isNull() for k in keys])
    offending = df.groupBy(*keys).count().where((F.col("count") > 1) | any_null).limit(1).collect()
    if not offending:
        return
    null_keys = [k for k in keys if offending[0][k] is None]
    if null_keys:
        raise NullKeyError(f"the source of the merge into {table} has nulls in key columns {null_keys}")
    raise DuplicateKeyError(f"the source of the merge into {table} has duplicate keys {list(keys)}")
