"""Where a run keeps its files. Everything a run writes lives under ``CITYLAKE_HOME``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    """The folders under ``CITYLAKE_HOME`` (default ``./.citylake``)."""

    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get("CITYLAKE_HOME", ".citylake")).resolve())

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def sources(self) -> Path:
        """SQLite department systems of the embedded default."""
        return self.root / "sources"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def airflow(self) -> Path:
        return self.root / "airflow"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def gx(self) -> Path:
        """Great Expectations: kept validation results and the Data Docs site."""
        return self.root / "gx"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    @property
    def lineage(self) -> Path:
        """OpenLineage run events, one JSON line each (citylake.lineage.events)."""
        return self.root / "lineage"

    def sqlite_source_url(self) -> str:
        """URL template of the embedded department systems: one SQLite file per department."""
        return f"sqlite:///{self.sources}/{{department}}.db"
