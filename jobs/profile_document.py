"""Reading and rendering a profile document (一人一档 / 一企一档), shared by ``citylake person show``
(``citylake.jobs.person.show``) and ``citylake enterprise show`` (``citylake.jobs.enterprise.show``)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any


def read_profile(lake, table: str, key_column: str, key: str) -> dict[str, Any] | None:
    """The row of ``table`` whose ``key_column`` is ``key`` as plain Python values, or None."""
    import pyarrow.compute as pc

    rows = lake.read_arrow(table, filter=pc.field(key_column) == key).read_all().to_pylist()
    return plain(rows[0]) if rows else None


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: Arrow maps as dicts, dates as ISO text."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {k: plain(v) for k, v in value}  # an Arrow map
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def attribute_line(key: str, value: Any, source: dict[str, Any] | None, width: int) -> str:
    """One identity attribute with the record it came from."""
    where = f"  [{source['source_table']} {source['record_key']} {source['batch_id']}]" if source else ""
    return f"  {key:<{width}}{value!s:<40}{where}"


def part_lines(parts: dict[str, list[dict[str, Any]]] | None) -> list[str]:
    """Each part of the profile with its linked records and their provenance."""
    lines = []
    for part, records in sorted((parts or {}).items()):
        lines.append(f"{part}:")
        for r in records:
            attributes = ", ".join(f"{k}={v}" for k, v in sorted((r.get("attributes") or {}).items()))
            lines.append(f"  {r['source_table']}#{r['role']} {r['record_key']} ({r['layer']}, {r['link_method']}, "
                         f"batch {r['batch_id']}) {attributes}")
    return lines


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
