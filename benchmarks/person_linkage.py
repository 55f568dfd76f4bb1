"""Benchmark: the residue linker (citylake.jobs.person.linkage) against Splink 5 on the same rows.

Generates a synthetic city of N persons into SQLite, ingests and gates every table, builds the
person-bearing records (citylake.jobs.person.records) and the golden persons of the records with a
valid ID (citylake.jobs.person.golden), and saves both as Parquet. Then, each in a fresh process (its
own Spark driver and peak memory), links the records without a valid ID to those persons:

- ``linker``: :func:`citylake.jobs.person.linkage.link_residue`;
- ``splink_duckdb``: Splink's DuckDB backend (citylake.jobs.person.splink_eval);
- ``splink_spark``: Splink's Spark backend, its similarity jar from the wheel (no Maven).

Reports seconds (linking only: reading the two Parquet inputs is outside the clock for all three),
peak RSS, and precision / recall / wrong merges / corrections against the truth
(citylake.jobs.person.linkage_eval). Needs Splink: ``pip install -e '.[eval]'``.

    .venv/bin/python benchmarks/person_linkage.py --persons 20000 [--home DIR] [--modes linker,splink_duckdb]
    .venv/bin/python benchmarks/person_linkage.py --home /work/bench/1m/city-1000000   # a gated city, reused
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import PeakRss

MODES = ("linker", "splink_duckdb", "splink_spark")


def _spark(mode: str, driver_memory: str):
    from citylake.lake import get_spark

    conf = {"spark.driver.memory": driver_memory, "spark.sql.shuffle.partitions": "4"}
    if mode == "splink_spark":
        from splink.backends.spark import similarity_jar_location

        conf["spark.jars"] = similarity_jar_location()
    spark = get_spark(f"bench-linkage-{mode}", conf=conf)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _prepare(home_dir: Path, persons: int, seed: int, driver_memory: str) -> None:
    from citylake.ingest.extract import ingest_table
    from citylake.jobs.person.build import LINKAGE_PERSON_COLUMNS
    from citylake.jobs.person.golden import Priority, golden, load_priority
    from citylake.jobs.person.records import person_records
    from citylake.lake import open_lake
    from citylake.quality.gate import gate_batch
    from citylake.settings import Home
    from citylake.sources.connections import source_url
    from citylake.sources.registry import load_registry
    from citylake.synthcity.generate import generate

    if (home_dir / "persons.parquet").exists():
        return
    home = Home(home_dir)
    lake = open_lake(home.lake)
    registry = load_registry()
    started = time.perf_counter()
    if lake.list_tables("silver"):
        print(f"city: reusing the gated city in {home_dir} (--persons and --seed do not apply)", flush=True)
    else:
        generate(persons, seed, [home.sqlite_source_url()], home.truth)
        for code, system in registry.items():
            for table in system.tables:
                batch = ingest_table(system, table, f"bench:{code}.{table.name}", lake, source_url(system, home))
                gate_batch(lake, system, table, batch.batch_id)
        print(f"city: {persons:,} persons generated, ingested and gated in {time.perf_counter() - started:.0f} s",
              flush=True)
    started = time.perf_counter()
    spark = _spark("prepare", driver_memory)
    from pyspark.sql import functions as F

    records = person_records(spark, lake, registry)
    records.write.mode("overwrite").parquet(str(home_dir / "records.parquet"))
    records = spark.read.parquet(str(home_dir / "records.parquet"))
    priority = load_priority(registry)
    first = Priority({a: priority.attributes[a] for a in LINKAGE_PERSON_COLUMNS if a in priority.attributes}, ())
    keyed = records.where(F.col("id_number").isNotNull()).withColumn("person_id", F.col("id_number"))
    golden(keyed, first)[0].select("person_id", *first.attributes).write.mode("overwrite").parquet(
        str(home_dir / "persons.parquet"))
    print(f"records and golden persons in {time.perf_counter() - started:.0f} s", flush=True)
    spark.stop()


def _worker(mode: str, home_dir: str, driver_memory: str) -> dict:
    from citylake.jobs.person.linkage_eval import score_links, truth_ids

    home = Path(home_dir)
    spark = _spark(mode, driver_memory)
    records = spark.read.parquet(str(home / "records.parquet")).cache()
    persons = spark.read.parquet(str(home / "persons.parquet")).cache()
    residue = records.where("id_number is null").count()
    golden = persons.count()
    rss = PeakRss()
    started = time.perf_counter()
    if mode == "linker":
        from citylake.jobs.person.linkage import link_residue

        links = link_residue(records, persons)
    else:
        from citylake.jobs.person import splink_eval

        inputs = splink_eval.splink_inputs(records, persons)
        run = splink_eval.link_with_splink_duckdb if mode == "splink_duckdb" else splink_eval.link_with_splink_spark
        links = run(spark, inputs)
    links = links.localCheckpoint()  # the clock stops once every link is computed
    seconds = time.perf_counter() - started
    peak = rss.stop()
    score = score_links(links, records, persons, truth_ids(spark, home / "truth"))
    return {"mode": mode, "residue": residue, "persons": golden, "seconds": seconds, "peak_rss_mib": peak,
            **score.as_dict()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--home", help="folder to build or reuse (default: a temporary folder); a city generated "
                                       "and gated earlier there, e.g. benchmarks/pipeline.py's, is used as it is")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker, args.driver_memory)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-linkage-") as tmp:
        home_dir = Path(args.home or tmp).resolve()
        _prepare(home_dir, args.persons, args.seed, args.driver_memory)
        results = {}
        for mode in [m for m in MODES if m in args.modes.split(",")]:
            out = subprocess.run([sys.executable, __file__, "--worker", mode, str(home_dir),
                                  "--driver-memory", args.driver_memory], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{mode}: failed\n{out.stderr[-3000:]}", flush=True)
                continue
            r = results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{mode:<14}{r['residue']:>9,} residue {r['persons']:>10,} persons {r['seconds']:>8.1f} s "
                  f"peak {r['peak_rss_mib']:>6,.0f} MiB  precision {r['precision']:.4%} recall {r['recall']:.4%} "
                  f"wrong {r['wrong']:,}  corrections {r['proposed_right']:,}/{r['proposed']:,}", flush=True)
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
