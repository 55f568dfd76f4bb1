"""A generated city and how tests read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from citylake.synthcity.departments import TABLES
from citylake.synthcity.generate import GenerationReport, generate
from citylake.synthcity.truth import TruthDir

SMALL_CITY_PERSONS = 3000
SMALL_CITY_SEED = 11


@dataclass
class City:
    report: GenerationReport
    target: str
    truth: TruthDir

    def engine(self, department: str) -> sa.Engine:
        return sa.create_engine(self.target.replace("{department}", department))

    def table(self, qualified: str) -> pd.DataFrame:
        spec = TABLES[qualified]
        engine = self.engine(spec.department)
        try:
            with engine.connect() as conn:
                return pd.read_sql_table(spec.name, conn, coerce_float=False)
        finally:
            engine.dispose()


def make_city(root: Path, persons: int = SMALL_CITY_PERSONS, seed: int = SMALL_CITY_SEED, config: str | None = None) -> City:
    target = f"sqlite:///{root}/sources/{{department}}.db"
    report = generate(persons, seed, [target], root / "truth", config_path=config)
    return City(report, target, TruthDir(root / "truth"))
