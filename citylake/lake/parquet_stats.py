"""Delta ``add`` action statistics read from a Parquet footer (no data pages are read).

delta-rs uses ``numRecords`` for row counts and ``minValues``/``maxValues``/``nullCount`` to skip
files in reads, deletes and merges. A wrong min/max would make it skip a file it needs, so bounds
are only given for types whose Parquet statistics compare the way Delta compares (integers,
dates, UTF-8 strings); other columns get no bounds, which only costs pruning. String bounds rely
on the writer not truncating footer statistics: parquet-java (Spark) and Arrow C++ drop the
statistics of long values instead (``parquet.statistics.truncate.length`` is unlimited by
default), and a chunk without bounds makes the file get none.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _has_exact_bounds(arrow_type: pa.DataType) -> bool:
    return pa.types.is_integer(arrow_type) or pa.types.is_date32(arrow_type) or pa.types.is_string(
        arrow_type
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def stats_from_footer(metadata: pq.FileMetaData, columns: Collection[str] | None = None) -> dict[str, Any]:
    """Delta statistics (``numRecords``, ``nullCount``, ``minValues``, ``maxValues``) of one file,
    for every top-level column or only ``columns``."""
    stats: dict[str, Any] = {"numRecords": metadata.num_rows}
    arrow_schema = metadata.schema.to_arrow_schema()
    null_count: dict[str, int] = {}
    min_values: dict[str, Any] = {}
    max_values: dict[str, Any] = {}
    # Top-level primitive columns only: their Parquet column index equals their path.
    leaf_index = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    for field in arrow_schema:
        index = leaf_index.get(field.name)
        if index is None or (columns is not None and field.name not in columns):  # nested, or not allowed
            continue
        chunks = [metadata.row_group(rg).column(index).statistics for rg in range(metadata.num_row_groups)]
        if metadata.num_row_groups == 0 or any(s is None for s in chunks):
            continue
        if all(s.has_null_count for s in chunks):
            null_count[field.name] = sum(s.null_count for s in chunks)
        bounded = [s for s in chunks if s.has_min_max]
        # A row group may lack bounds only when it holds no values (``num_values`` counts non-nulls).
        all_nulls_or_bounded = all(s.has_min_max or s.num_values == 0 for s in chunks)
        if bounded and all_nulls_or_bounded and _has_exact_bounds(field.type):
            min_values[field.name] = _json_value(min(s.min for s in bounded))
            max_values[field.name] = _json_value(max(s.max for s in bounded))
    if min_values:
        stats["minValues"] = min_values
        stats["maxValues"] = max_values
    if null_count:
        stats["nullCount"] = null_count
    return stats


def stats_json(metadata: pq.FileMetaData, columns: Collection[str] | None = None) -> str:
    """:func:`stats_from_footer` as the JSON string an ``AddAction`` carries."""
    return json.dumps(stats_from_footer(metadata, columns), ensure_ascii=False)
