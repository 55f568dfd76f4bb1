"""Benchmark: generate a synthetic city (default 1 million persons) into SQLite department systems.

Reports the time of each phase, rows per second and the peak resident memory of the process.
Goal (issue 2): a 1-million-person city in under 10 minutes and under 4 GiB on a 2-core machine.

    .venv/bin/python benchmarks/generate_city.py --persons 1000000 [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import tempfile
import time
from pathlib import Path

from citylake.synthcity.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", help="directory for the SQLite files and truth (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="citylake-bench-"))
    started = time.perf_counter()
    report = generate(args.persons, args.seed, [f"sqlite:///{root}/sources/{{department}}.db"], root / "truth")
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sqlite_mib = sum(f.stat().st_size for f in (root / "sources").glob("*.db")) / 2**20
    result = {
        "persons": args.persons,
        "rows": report.rows,
        "seconds": round(seconds, 1),
        "world_seconds": round(report.world_seconds, 1),
        "tables_seconds": round(sum(t.seconds for t in report.tables), 1),
        "rows_per_second": round(report.rows / seconds),
        "peak_rss_mib": round(peak_mib),
        "sqlite_mib": round(sqlite_mib),
        "goal_met": seconds < 600 and peak_mib < 4096,
        "tables": {t.table: t.rows for t in report.tables},
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if not args.keep and not args.out:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
