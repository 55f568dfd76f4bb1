"""Benchmark: the population library build (citylake.jobs.person.build) on a synthetic city.

Generates a city of N persons into SQLite, extracts and gates every department table, then builds
the gold tables on local Spark (driver memory ``--driver-memory``) and reports the build's time and
peak resident memory (this process and its children: the Spark JVM and Python workers), and the
linkage scored against the generator's truth: pairwise precision and recall over linked records,
golden persons against the true persons the sources mention, distinct true persons merged, proposed
ID corrections right. Then applies one more day (``advance``), gates it, builds incrementally
(citylake.jobs.person.incremental) and then fully on the same data, and reports the incremental
build as a fraction of that full build (both measured in this run: timings are noisy) and, per
gold table, the rows in which the two differ (``incremental_differs_from_full``: all 0, or the
incremental build is wrong).

    .venv/bin/python benchmarks/person_build.py --persons 50000 [--home DIR] [--driver-memory 6g]
    .venv/bin/python benchmarks/person_build.py --city /work/bench/1m/city-1000000 [--no-rebuild]

``--city`` takes a city built and gated earlier (a CITYLAKE_HOME, such as one of
benchmarks/pipeline.py's): its population library is built (and timed) only if it is not there yet,
then the day is applied to that city — which changes it. ``--no-rebuild`` leaves out the full build
after the day (half an hour at 1 million persons); the incremental build is then compared with the
first full build, if this run measured one.
"""

from __future__ import annotations

import argparse
import json
import logging
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


def comparable(col, dtype):
    """``col`` with every map in it, at any depth, as its entries sorted by key: maps cannot be
    compared in set operations, their sorted entries can."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(dtype, MapType):
        value = dtype.valueType
        out = F.array_sort(F.transform(F.map_entries(col), lambda e: F.struct(
            e["key"].alias("key"), comparable(e["value"], value).alias("value"))))
    elif isinstance(dtype, ArrayType):
        element = dtype.elementType
        out = F.transform(col, lambda x: comparable(x, element))
    elif isinstance(dtype, StructType):
        out = F.struct(*[comparable(col[f.name], f.dataType).alias(f.name) for f in dtype.fields])
    else:
        return col
    return F.when(col.isNotNull(), out)


def differences(lake, incremental: dict[str, int], full: dict[str, int]) -> dict[str, int]:
    """Per gold table, the rows in one build's version and not in the other's (0: the same table)."""
    from pyspark.sql import functions as F

    from citylake.jobs.person.build import CONFLICT, HOUSEHOLD, LINK, PERSON, PROFILE
    from citylake.lake import get_spark

    spark = get_spark("citylake-person-benchmark")
    out = {}
    for table in (PERSON, LINK, CONFLICT, PROFILE, HOUSEHOLD):
        left, right = (lake.read_spark(spark, table, versions[table]) for versions in (incremental, full))
        left, right = (f.select(*[comparable(F.col(c.name), c.dataType).alias(c.name) for c in f.schema])
                       for f in (left, right))
        out[table] = left.exceptAll(right).count() + right.exceptAll(left).count()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", help="a folder for the city (default: a temporary one)")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--city", help="a city built and gated earlier (its CITYLAKE_HOME) instead of a new one")
    parser.add_argument("--no-rebuild", action="store_true", help="no full build after the day")
    args = parser.parse_args()
    # The build's steps with their times (citylake.jobs.person.build.StepLog), on stderr.
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("citylake.jobs.person").setLevel(logging.INFO)
    if args.city and args.home:
        parser.error("--city and --home are two ways of saying where the city is: give one")

    from citylake.jobs.person.build import PERSON
    from citylake.lake import get_spark, open_lake
    from citylake.settings import Home
    from citylake.synthcity.advance import advance
    from citylake.synthcity.generate import generate
    from citylake.synthcity.truth import TruthDir

    started = time.perf_counter()
    if args.city:
        home = Home(Path(args.city))
        if not home.sources.is_dir() or not home.lake.is_dir():
            parser.error(f"--city {args.city}: no generated and gated city there")
        lake = open_lake(home.lake)
    else:
        root = Path(args.home or tempfile.mkdtemp(prefix="person-bench-"))
        root.mkdir(parents=True, exist_ok=True)
        home = Home(root / "home")
        config = root / "city.yaml"
        config.write_text("{}\n", encoding="utf-8")
        generate(args.persons, args.seed, [home.sqlite_source_url()], home.truth, config_path=str(config))
        lake = open_lake(home.lake)
        ingest_and_gate(home, lake, "d0")
    prepared = time.perf_counter() - started
    result: dict = {"persons": TruthDir(home.truth).read_state().persons, "driver_memory": args.driver_memory,
                    "prepare_seconds": round(prepared, 1)}
    # The Spark session is started before any timed build: its start (about 10 s here) would fall
    # on whichever build runs first, the incremental one when --city has a built library.
    started = time.perf_counter()
    get_spark("citylake-person-benchmark", conf={"spark.driver.memory": args.driver_memory}).range(1).count()
    result["spark_start_seconds"] = round(time.perf_counter() - started, 1)
    full = None
    if not lake.exists(PERSON):
        full, full_seconds, full_peak = build(lake, args.driver_memory)
        result.update(full_build_seconds=round(full_seconds, 1), full_build_peak_mib=round(full_peak))
    result["scores"] = score(home, lake)
    started = time.perf_counter()
    advance(1, [home.sqlite_source_url()], home.truth)
    result["advance_seconds"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    # The batch ids name the day, so a city advanced twice gets new batches.
    ingest_and_gate(home, lake, f"d{TruthDir(home.truth).read_state().days_advanced}")
    result["day_ingest_and_gate_seconds"] = round(time.perf_counter() - started, 1)
    second, second_seconds, second_peak = build(lake, args.driver_memory)
    result.update(incremental_after_one_day_seconds=round(second_seconds, 1), incremental_peak_mib=round(second_peak),
                  incremental_mode=second["mode"], touched_persons=second["touched_persons"])
    baseline = result.get("full_build_seconds")
    if not args.no_rebuild:
        rebuilt, rebuilt_seconds, rebuilt_peak = build(lake, args.driver_memory, full=True)
        result.update(full_after_one_day_seconds=round(rebuilt_seconds, 1),
                      full_after_one_day_peak_mib=round(rebuilt_peak),
                      incremental_differs_from_full=differences(lake, second["versions"], rebuilt["versions"]))
        baseline = rebuilt_seconds
    result["incremental_vs_full"] = round(second_seconds / baseline, 3) if baseline else None
    if full:
        result["summary"] = {k: v for k, v in full.items() if k != "versions"}
    result["incremental_summary"] = {k: v for k, v in second.items() if k != "versions"}
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
