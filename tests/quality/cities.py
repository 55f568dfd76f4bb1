"""Small synthetic cities run through ingestion and the gate, for the quality tests."""

from __future__ import annotations

from pathlib import Path

from citylake.ingest.extract import BatchResult, ingest_table
from citylake.lake import open_lake
from citylake.quality.gate import GateResult, gate_batch
from citylake.settings import Home
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate


def city(root: Path, persons: int, seed: int, config: str = "") -> tuple[Home, object, Path]:
    """A generated city under ``root`` (``config``: YAML overriding the synthetic city's defaults),
    its lake, and the config file to pass on to ``advance``."""
    home = Home(root / "home")
    config_path = root / "city.yaml"
    config_path.write_text(config or "{}\n", encoding="utf-8")
    generate(persons, seed, [home.sqlite_source_url()], home.truth, config_path=str(config_path))
    return home, open_lake(home.lake), config_path


def ingest_and_gate(home: Home, lake, tag: str, gate_empty: bool = True
                    ) -> dict[str, tuple[BatchResult, GateResult | None]]:
    """Extract every table as batch ``<tag>:<system>.<table>`` and gate it (with ``gate_empty``
    false, a batch without rows is not gated)."""
    out = {}
    for code, system in load_registry().items():
        for table in system.tables:
            extracted = ingest_table(system, table, f"{tag}:{code}.{table.name}", lake, source_url(system, home))
            gated = (gate_batch(lake, system, table, extracted.batch_id) if extracted.rows_written or gate_empty
                     else None)
            out[f"{code}.{table.name}"] = (extracted, gated)
    return out
