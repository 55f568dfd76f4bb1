"""Benchmark: the cost of OpenLineage events (citylake.lineage) on the same real DAG runs.

Generates one synthetic city of N persons (default 1,000), copies its department systems into two
homes, and runs ingest_* → promote_* → build_person (dag.test(), citylake.orchestration.run) in
each: once with ``CITYLAKE_LINEAGE=off``, once with the events on. Reports seconds per stage, the
ratio on/off, the number of events and the size of the event file. The runs go one after the
other on a shared machine: read the ratios, and repeat when they matter.

    .venv/bin/python benchmarks/lineage_overhead.py --persons 1000 [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from citylake.orchestration.run import run_build, run_ingest, run_promote
from citylake.settings import Home
from citylake.synthcity.generate import generate

STAGES = (("ingest", run_ingest), ("promote", run_promote), ("build_person", lambda h: run_build(h, ["person"])))


def _run(home: Home, lineage: bool) -> dict[str, float]:
    os.environ["CITYLAKE_LINEAGE"] = "on" if lineage else "off"
    seconds = {}
    for name, stage in STAGES:
        started = time.perf_counter()
        stage(home)
        seconds[name] = round(time.perf_counter() - started, 2)
    seconds["total"] = round(sum(seconds.values()), 2)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000)
    parser.add_argument("--home", type=Path, help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()
    root = args.home or Path(tempfile.mkdtemp(prefix="lineage-bench-"))
    try:
        city = Home(root / "city")
        generate(args.persons, 3, [city.sqlite_source_url()], city.truth)
        results = {}
        for label, lineage in (("off", False), ("on", True)):
            home = Home(root / label)
            shutil.copytree(city.sources, home.sources)
            results[label] = _run(home, lineage)
        events = Home(root / "on").lineage / "events.jsonl"
        lines = events.read_text(encoding="utf-8").splitlines()
        report = {"persons": args.persons, "seconds": results,
                  "ratio_on_off": {k: round(results["on"][k] / results["off"][k], 3) for k in results["off"]},
                  "events": len(lines), "event_file_bytes": events.stat().st_size}
        print(json.dumps(report, indent=2))
    finally:
        if args.home is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
