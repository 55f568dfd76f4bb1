"""Which columns of a table may carry statistics in its Delta log (列统计信息策略).

Delta ``add`` actions record each file's min/max values per column, in plain JSON under
``_delta_log/``: anyone who can list the table sees them, and catalogs copy them. For a column of
ID numbers or names they are a sample of personal data. A *stats policy* decides, per table, which
columns may have statistics; the lake stores the answer as the table property
``delta.dataSkippingStatsColumns``, which delta-rs 1.5.0 honours on ``write_deltalake``, ``merge``
and ``delete`` (tested in ``tests/lake/test_stats_policy.py``), delta-spark on its own writes, and
:mod:`citylake.lake.spark_files` applies to the footers of Spark-written files. Columns left out
lose data skipping, nothing else: row counts (``numRecords``) stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pyarrow as pa

from citylake.lake.names import TableName

STATS_COLUMNS = "delta.dataSkippingStatsColumns"
NUM_INDEXED_COLUMNS = "delta.dataSkippingNumIndexedCols"

# (table, schema to be written) -> the columns that may have statistics, or None for Delta's default
# (the first 32 columns).
StatsPolicy = Callable[[TableName, pa.Schema], Sequence[str] | None]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _quoted(column: str) -> str:
    return column if _PLAIN.fullmatch(column) else "`" + column.replace("`", "``") + "`"


def stats_properties(columns: Sequence[str]) -> dict[str, str]:
    """Table properties that keep statistics to ``columns`` (none at all when it is empty), sorted
    so that a change of column order is no change of policy.

    An empty ``delta.dataSkippingStatsColumns`` is rejected by delta-rs, so "no column" is said
    with ``delta.dataSkippingNumIndexedCols = 0``; the column list takes precedence when both are set.
    """
    properties = {NUM_INDEXED_COLUMNS: "0"}
    if columns:
        properties[STATS_COLUMNS] = ",".join(_quoted(c) for c in sorted(columns))
    return properties


def properties_differ(current: dict[str, str], wanted: dict[str, str]) -> bool:
    """Whether a table's configuration lacks any of the ``wanted`` properties."""
    return any(current.get(key) != value for key, value in wanted.items())
