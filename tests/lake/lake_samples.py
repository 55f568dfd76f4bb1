"""Sample data for the lake I/O tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

UTC = dt.UTC

#: A small population table with every type the lake must round-trip.
PEOPLE_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("name", pa.string()),
        ("district", pa.string()),
        ("birth_date", pa.date32()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
        ("allowance", pa.decimal128(12, 2)),
    ]
)


def people(ids: range | list[int], district: str | None = None, suffix: str = "") -> pa.Table:
    """Rows for ``ids``; districts alternate 历下区/市中区 unless ``district`` is given."""
    ids = list(ids)
    return pa.table(
        {
            "person_id": ids,
            "name": [None if i % 7 == 3 else f"张{i}{suffix}" for i in ids],
            "district": [district or ("历下区" if i % 2 else "市中区") for i in ids],
            "birth_date": [None if i % 5 == 4 else dt.date(1950, 1, 1) + dt.timedelta(days=97 * i) for i in ids],
            "updated_at": [dt.datetime(2024, 5, 1, 8, 30, 15, 123456, tzinfo=UTC) + dt.timedelta(hours=i) for i in ids],
            "allowance": [None if i % 3 == 2 else Decimal(f"{i}.{i % 100:02d}") for i in ids],
        },
        schema=PEOPLE_SCHEMA,
    )


def sorted_rows(table: pa.Table | pa.RecordBatchReader, key: str = "person_id") -> list[dict]:
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return table.sort_by(key).to_pylist()
