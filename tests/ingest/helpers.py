"""Running ingestion over a generated city in tests."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from citylake.ingest.extract import BatchResult, ingest_table
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry


def ingest_all(home, lake, tag: str, urls: dict[str, str] | None = None) -> dict[str, BatchResult]:
    """Ingest every registry table as batch ``<tag>:<system>.<table>``; returns results by bronze table."""
    out = {}
    for code, system in load_registry().items():
        url = (urls or {}).get(code) or source_url(system, home)
        for table in system.tables:
            result = ingest_table(system, table, f"{tag}:{code}.{table.name}", lake, url)
            out[result.bronze_table] = result
    return out


def source_count(url, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    finally:
        engine.dispose()


def edited_registry(tmp_path: Path, code: str, old: str, new: str) -> Path:
    """A registry folder holding system ``code``'s YAML with ``old`` replaced by ``new`` (pass it to
    ``load_registry`` or as ``CITYLAKE_SOURCES``)."""
    text = load_registry()[code].path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {code}.yaml"
    folder = tmp_path / "registry"
    folder.mkdir(exist_ok=True)
    (folder / f"{code}.yaml").write_text(text.replace(old, new), encoding="utf-8")
    return folder
