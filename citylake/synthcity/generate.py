"""``citylake generate``: build the synthetic city and write its department systems and truth."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from citylake.synthcity.config import load_config
from citylake.synthcity.departments import DEPARTMENTS, TABLES
from citylake.synthcity.departments.base import KeyCounter
from citylake.synthcity.load import create_tables, engine_for, insert_rows, mask_url
from citylake.synthcity.render import render_table
from citylake.synthcity.streams import Streams
from citylake.synthcity.truth import State, TruthDir
from citylake.synthcity.world import build_world

log = logging.getLogger(__name__)


@dataclass
class TableReport:
    table: str
    title: str
    rows: int
    defects: int
    seconds: float


@dataclass
class GenerationReport:
    persons: int
    seed: int
    targets: list[str]
    truth_dir: str
    world: dict[str, int]
    tables: list[TableReport] = field(default_factory=list)
    world_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


def generate(persons: int, seed: int, targets: list[str], truth_dir: str | Path, config_path: str | None = None) -> GenerationReport:
    """Generate a city of ``persons`` persons into every target; the truth goes to ``truth_dir``."""
    if persons < 50:
        raise ValueError("a city needs at least 50 persons (households, enterprises and schools need people)")
    started = time.perf_counter()
    config = load_config(config_path)
    truth = TruthDir(truth_dir)
    truth.reset()
    world = build_world(persons, seed, config)
    truth.write_world(world)
    report = GenerationReport(persons, seed, [mask_url(t) for t in targets], str(truth.root), world.summary(),
                              world_seconds=time.perf_counter() - started)

    engines = {}
    for target in targets:
        for department in DEPARTMENTS:
            engine = engine_for(target, department)
            specs = [s for s in TABLES.values() if s.department == department]
            engines[(target, department)] = (engine, create_tables(engine, specs))

    keys = KeyCounter()
    streams = Streams(seed)
    all_defects = []
    for qualified, spec in TABLES.items():
        t0 = time.perf_counter()
        rendered = render_table(spec, world, config.defects.get(qualified, {}), streams.for_part("render", _index(qualified)),
                                keys)
        for target in targets:
            engine, tables = engines[(target, spec.department)]
            insert_rows(engine, tables[spec.name], rendered.rows)
        truth.write_record_truth(qualified, 0, rendered.truth)
        all_defects.append(rendered.defects)
        seconds = time.perf_counter() - t0
        report.tables.append(TableReport(qualified, spec.title, len(rendered.rows), len(rendered.defects), seconds))
        log.info("%-22s %9d rows  %6d defects  %6.1f s  (%d targets)", qualified, len(rendered.rows),
                 len(rendered.defects), seconds, len(targets))
    for engine, _ in engines.values():
        engine.dispose()

    truth.write_record_defects(pd.concat(all_defects, ignore_index=True))
    truth.write_state(State(seed=seed, persons=persons, as_of=config.as_of, days_advanced=0,
                            next_keys=dict(keys.next_number), config=config_path))
    report.seconds = time.perf_counter() - started
    return report


def _index(qualified: str) -> int:
    return list(TABLES).index(qualified)
