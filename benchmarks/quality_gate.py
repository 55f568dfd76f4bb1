"""Benchmark: the quality gate on one large bronze batch, against baselines measured in the same run.

Generates a synthetic city of N persons (default 1 million) into SQLite, extracts 公安 CZRK (one row
per person) into bronze as one batch, then runs on that same batch, each in a fresh process so its
peak memory is its own:
- ``copy``: the plain copy bronze -> silver (read the batch, drop the metadata columns, write it);
- ``gate``: :func:`citylake.quality.gate.gate_batch` (row checks, silver and quarantine, issues,
  rule results, audit);
- ``gx_summary``: the table's GX suite alone, SUMMARY results (counts);
- ``gx_complete``: the same suite alone with COMPLETE results, every failing row's key.

Reports seconds, rows/s, peak RSS and each time as a ratio to the plain copy (goal for the gate:
<= 2x) and the gate's time against GX COMPLETE. Absolute timings on these machines are noisy: read
the ratios.

    .venv/bin/python benchmarks/quality_gate.py --persons 1000000 [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import PeakRss

SYSTEM, TABLE = "gongan", "CZRK"
BATCH = "bench:gongan.CZRK"


def _worker(mode: str, home_dir: str) -> dict:
    from citylake.lake import open_lake
    from citylake.quality.expectations.validate import complete_format, validate_batch
    from citylake.quality.gate import BRONZE_META, gate_batch, read_batch
    from citylake.sources.registry import load_registry

    system = load_registry()[SYSTEM]
    table = system.table(TABLE)
    lake = open_lake(Path(home_dir) / "lake")
    rss = PeakRss()
    started = time.perf_counter()
    if mode == "copy":
        import pyarrow.compute as pc

        batch = lake.read_arrow(f"bronze.{SYSTEM}_{TABLE.lower()}", filter=pc.field("_batch_id") == BATCH).read_all()
        live = batch.filter(pc.field("_op") != "delete")
        copy = live.drop_columns([c for c in BRONZE_META if c in live.column_names])
        lake.write_arrow(f"silver.bench_copy_{TABLE.lower()}", copy, mode="overwrite")
        rows, detail = copy.num_rows, {}
    elif mode == "gate":
        result = gate_batch(lake, system, table, BATCH)
        rows, detail = result.rows_read, {"promoted": result.promoted, "quarantined": result.quarantined,
                                          "issues_opened": result.issues_opened}
    else:
        fmt = complete_format(table) if mode == "gx_complete" else None
        result = validate_batch(lake, system, table, BATCH, result_format=fmt)
        rows = len(read_batch(lake, system, table, BATCH).rows)
        unexpected = sum(r.result.get("unexpected_count") or 0 for r in result.results)
        keys = sum(len(r.result.get("unexpected_index_list") or []) for r in result.results)
        detail = {"unexpected": unexpected, "unexpected_keys": keys}
    seconds = time.perf_counter() - started
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mib": rss.stop(), **detail}


def _prepare(home_dir: Path, persons: int, seed: int) -> None:
    from citylake.ingest.extract import ingest_table
    from citylake.lake import open_lake
    from citylake.settings import Home
    from citylake.sources.connections import source_url
    from citylake.sources.registry import load_registry
    from citylake.synthcity.generate import generate

    home = Home(home_dir)
    lake = open_lake(home.lake)
    if lake.exists(f"bronze.{SYSTEM}_{TABLE.lower()}"):
        return
    started = time.perf_counter()
    generate(persons, seed, [home.sqlite_source_url()], home.truth)
    system = load_registry()[SYSTEM]
    result = ingest_table(system, system.table(TABLE), BATCH, lake, source_url(system, home))
    print(f"prepared: {persons:,} persons, {result.rows_written:,} rows in bronze in "
          f"{time.perf_counter() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--home", help="CITYLAKE_HOME to build or reuse (default: a temporary folder)")
    parser.add_argument("--modes", default="copy,gx_summary,gx_complete,gate",
                        help="comma-separated subset of copy, gx_summary, gx_complete, gate (copy always runs)")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        home_dir = Path(args.home or tmp).resolve()
        _prepare(home_dir, args.persons, args.seed)
        # Every run starts from the freshly extracted lake (the gate of a gated batch does nothing).
        run_home = Path(tmp) / "run"
        shutil.rmtree(run_home, ignore_errors=True)
        shutil.copytree(home_dir / "lake", run_home / "lake")
        home_dir = run_home
        results = {}
        # The gate writes silver, quarantine and governance; it runs last so the others see a clean lake.
        wanted = set(args.modes.split(",")) | {"copy"}
        for mode in [m for m in ("copy", "gx_summary", "gx_complete", "gate") if m in wanted]:
            out = subprocess.run([sys.executable, __file__, "--worker", mode, str(home_dir)], check=True,
                                 capture_output=True, text=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[mode]
            print(f"{mode:<12}{r['rows']:>12,} rows {r['seconds']:>8.1f} s {r['rows'] / r['seconds']:>12,.0f} rows/s "
                  f"peak {r['peak_rss_mib']:>7,.0f} MiB", flush=True)
        base = results["copy"]["seconds"]
        print("\nratio to the plain copy bronze -> silver (gate goal <= 2x):")
        for mode, r in results.items():
            print(f"  {mode:<12}{r['seconds'] / base:>6.1f}x")
        if {"gate", "gx_complete"} <= results.keys():
            print(f"gate / GX COMPLETE alone: {results['gate']['seconds'] / results['gx_complete']['seconds']:.2f}x")
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
