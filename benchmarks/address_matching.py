"""Benchmark: the standard-address library (citylake.jobs.address.build) on a synthetic city:
distinct source addresses parsed and matched per second on local Spark, beside cpca-new alone
(division levels only) on the same distinct texts, and the matching scored against the truth.

Generates a city of N persons into SQLite, extracts and gates every department table (公安's
standard-address list gongan.BZDZ included), builds gold.standard_address, then times the parse and
match of every distinct address text of the sources (citylake.jobs.address.match: parse_texts →
match_texts, materialised), then the whole build_address (links written, feedback filed). Scored:
each link beside the true address of its record (record_truth) and the true address its standard
address stands for; per level, the links and how many are right or wrong (room level only has ids).

Measured on this machine (2 cores shared with three other engineers; compare within a run), city of
20,000 persons, seed 7: 7,857 standard addresses, 32,016 source addresses, 17,706 distinct texts.
Parse + match on local Spark: 17.5 s, 1,014 distinct addresses/s; cpca-new alone on the same texts
(districts only, no matching): 37,978/s — ratio 0.027. The Spark job's fixed costs (a mapInArrow
stage, the key explosion and three shuffles) dominate at this size; the parser alone does 17,091/s
(benchmarks/address_parsers.py), so the goal of 10,000/s needs a larger city or a leaner plan. The
whole build_address (standard list, links written, feedback) took 20.0 s warm (54.2 s cold).
Scored: 99.82% of the links right, 0 wrong (variants: 99.74% right, 0 wrong); by level: room 31,957
(all right), building 57, compound 2 — no id, fed back with candidates (59 issues): the addresses
whose standard row the gate quarantined (the list's missing 街路巷) and its other holes.

At 1,000,000 persons (2026-12-03, idle machine, ``--home`` on benchmarks/pipeline.py's city, 6 GB
driver): 395,744 standard addresses, 1,596,184 source addresses, 885,146 distinct texts. Parse +
match 113.9 s, 7,771 distinct/s with each text's finest key tried first against the unique room keys
(129.4 s and 6,839/s before; 7,193/s with 8 shuffle partitions); cpca-new alone 37,014/s, ratio
0.21; the whole build_address 177.5 s before. Scored: 99.80% of the links right, 0.0036% wrong (58).

cpca-new is no dependency; to compare, install it into the venv first:

    .venv/bin/pip install cpca-new==0.1.2 pyahocorasick==2.3.1
    .venv/bin/python benchmarks/address_matching.py --persons 20000 [--seed 7]
    .venv/bin/python benchmarks/address_matching.py --home DIR   # a city built earlier, e.g. at 1M persons
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from scores import address as score


def ingest_and_gate(home, lake) -> None:
    from citylake.ingest.extract import ingest_table
    from citylake.quality.gate import gate_batch
    from citylake.sources.connections import source_url
    from citylake.sources.registry import load_registry

    for code, system in load_registry().items():
        for table in system.tables:
            extracted = ingest_table(system, table, f"d0:{code}.{table.name}", lake, source_url(system, home))
            if extracted.rows_written:
                gate_batch(lake, system, table, extracted.batch_id)


def cpca_rate(texts: list[str]) -> float | None:
    try:
        import cpca_new
    except ImportError:
        return None
    cpca_new.transform(["山东省济南市历下区"])
    started = time.perf_counter()
    cpca_new.transform(texts)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", help="a city built earlier (its CITYLAKE_HOME, e.g. one of benchmarks/pipeline.py "
                                       "--root): its lake is used as it is, nothing is generated")
    parser.add_argument("--driver-memory", default="2g")
    args = parser.parse_args()

    from citylake.jobs.address.build import STANDARD, build_address
    from citylake.jobs.address.match import address_records, match_texts, parse_texts
    from citylake.jobs.address.settings import load_settings
    from citylake.lake import get_spark, open_lake
    from citylake.settings import Home
    from citylake.sources.registry import load_registry
    from citylake.synthcity.generate import generate

    with tempfile.TemporaryDirectory(prefix="address-matching-") as tmp:
        home = Home(Path(args.home).resolve() if args.home else Path(tmp) / "home")
        started = time.perf_counter()
        if not args.home:
            generate(args.persons, args.seed, [home.sqlite_source_url()], home.truth)
        lake = open_lake(home.lake)
        if not args.home:
            ingest_and_gate(home, lake)
        prepared = time.perf_counter() - started
        spark = get_spark("citylake-address-benchmark", conf={"spark.driver.memory": args.driver_memory})
        registry = load_registry()
        settings = load_settings(registry)
        records = address_records(spark, lake, settings).localCheckpoint()
        first = None
        if args.home:  # warm (JVM, Python workers, lexicon) on a sample: the city's library is built already
            standard = lake.read_spark(spark, STANDARD)
            match_texts(parse_texts(records.sample(0.01, seed=1)), standard, settings).count()
        else:
            first = build_address(spark, lake, registry, feedback=False)["seconds"]
        standard = lake.read_spark(spark, STANDARD).localCheckpoint()
        # To the driver for cpca-new, which takes a list: the distinct texts only, a benchmark's price.
        texts = [r["text"] for r in records.select("text").distinct().collect()]
        started = time.perf_counter()
        matched = match_texts(parse_texts(records), standard, settings).localCheckpoint().count()
        match_seconds = time.perf_counter() - started
        started = time.perf_counter()
        summary = build_address(spark, lake, registry)
        build_seconds = time.perf_counter() - started
        cpca = cpca_rate(texts)
        ours = matched / match_seconds
        report = {
            "persons": args.persons if not args.home else None, "home": args.home, "seed": args.seed,
            "prepare_seconds": round(prepared, 1),
            "standard_addresses": summary["standard_addresses"], "records": summary["records"],
            "distinct_addresses": matched, "parse_and_match_seconds": round(match_seconds, 1),
            "parsed_and_matched_per_second": round(ours), "cpca_new_per_second": round(cpca) if cpca else None,
            "ratio_to_cpca_new": round(ours / cpca, 3) if cpca else None,
            "first_build_seconds": first, "build_seconds": round(build_seconds, 1),
            "address_issues": summary.get("address_issues"), "score": score(home, lake)}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
