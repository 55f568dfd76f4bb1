"""Benchmark: the population library build (citylake.jobs.person.build) on a synthetic city.

Generates a city of N persons into SQLite, extracts and gates every department table, then builds
the gold tables on local Spark (driver memory ``--driver-memory``) and reports the build's time and
peak resident memory (this process and its children: the Spark JVM and Python workers), and the
linkage scored against the generator's truth: pairwise precision and recall over linked records,
golden persons against the true persons the sources mention, distinct true persons merged, proposed
ID corrections right. Then applies one more day (``advance``), gates it, builds incrementally
(citylake.jobs.person.incremental) and then fully on the same data, and reports the incremental
build as a fraction of that full build (both measured in this run: timings are noisy).

    .venv/bin/python benchmarks/person_build.py --persons 50000 [--home DIR] [--driver-memory 6g]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from measure import TreeRss
from scores import person as score


def ingest_and_gate(home, lake, tag: str) -> None:
    from citylake.ingest.extract import ingest_table
    from citylake.quality.gate import gate_batch
    from citylake.sources.connections import source_url
    from citylake.sources.registry import load_registry

    for code, system in load_registry().items():
        for table in system.tables:
            extracted = ingest_table(system, table, f"{tag}:{code}.{table.name}", lake, source_url(system, home))
            if extracted.rows_written:
                gate_batch(lake, system, table, extracted.batch_id)


def build(lake, memory: str, full: bool = False) -> tuple[dict, float, float]:
    from citylake.jobs.person.build import build_person
    from citylake.lake import get_spark

    rss = TreeRss()
    started = time.perf_counter()
    summary = build_person(get_spark("citylake-person-benchmark", conf={"spark.driver.memory": memory}), lake,
                           full=full)
    return summary, time.perf_counter() - started, rss.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", help="a folder for the city (default: a temporary one)")
    parser.add_argument("--driver-memory", default="6g")
    args = parser.parse_args()

    from citylake.lake import open_lake
    from citylake.settings import Home
    from citylake.synthcity.advance import advance
    from citylake.synthcity.generate import generate

    root = Path(args.home or tempfile.mkdtemp(prefix="person-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    home = Home(root / "home")
    config = root / "city.yaml"
    config.write_text("{}\n", encoding="utf-8")
    started = time.perf_counter()
    generate(args.persons, args.seed, [home.sqlite_source_url()], home.truth, config_path=str(config))
    lake = open_lake(home.lake)
    ingest_and_gate(home, lake, "d0")
    prepared = time.perf_counter() - started
    full, full_seconds, full_peak = build(lake, args.driver_memory)
    scores = score(home, lake)
    advance(1, [home.sqlite_source_url()], home.truth, config_path=str(config))
    ingest_and_gate(home, lake, "d1")
    second, second_seconds, second_peak = build(lake, args.driver_memory)
    rebuilt, rebuilt_seconds, rebuilt_peak = build(lake, args.driver_memory, full=True)
    print(json.dumps({
        "persons": args.persons, "driver_memory": args.driver_memory, "prepare_seconds": round(prepared, 1),
        "full_build_seconds": round(full_seconds, 1), "full_build_peak_mib": round(full_peak),
        "incremental_after_one_day_seconds": round(second_seconds, 1),
        "incremental_peak_mib": round(second_peak), "incremental_mode": second["mode"],
        "touched_persons": second["touched_persons"],
        "full_after_one_day_seconds": round(rebuilt_seconds, 1), "full_after_one_day_peak_mib": round(rebuilt_peak),
        "incremental_vs_full": round(second_seconds / rebuilt_seconds, 3),
        "summary": {k: v for k, v in full.items() if k != "versions"}, "scores": scores,
        "incremental_summary": {k: v for k, v in second.items() if k != "versions"},
    }, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
