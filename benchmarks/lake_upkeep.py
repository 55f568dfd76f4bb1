"""Benchmark: a governance table's read time as its history grows, before and after lake upkeep.

Appends BATCHES one-batch commits to a table shaped like ``governance.batch_audit`` (as the gate does,
one per gated batch), and at each checkpoint of the history times a fresh open plus a full read
(what every round does to find the pending batches), then runs :func:`citylake.lake.upkeep.maintain_table`
on a copy and times the same read again. Reports seconds and files per size and the ratio
before/after upkeep: ratios, not absolute times, are what this shared machine can compare.

    .venv/bin/python benchmarks/lake_upkeep.py --batches 2000 [--rows 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from citylake.lake import DeltaRsLake
from citylake.lake.upkeep import load_upkeep_settings, maintain_table

TABLE = "governance.batch_audit"


def _batch(i: int, rows: int) -> pa.Table:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return pa.table({"batch_id": [f"b{i:06d}"] * rows, "source_table": [f"t{j % 11}" for j in range(rows)],
                     "stage": ["promoted"] * rows, "rows": list(range(rows)), "at": [at] * rows})


def _read_seconds(root: Path, repeat: int) -> float:
    """The best of ``repeat`` fresh opens and full reads (a new process would pay the open too)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        DeltaRsLake(root, stats_policy=None).read_arrow(TABLE).read_all()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=50, help="rows per batch")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="upkeep-bench-"))
    policy = load_upkeep_settings().policy_for(TABLE)
    lake = DeltaRsLake(work / "lake", stats_policy=None)
    marks = sorted({m for m in (args.batches // 20, args.batches // 4, args.batches) if m > 0})
    results = []
    try:
        for i in range(args.batches):
            lake.write_arrow(TABLE, _batch(i, args.rows), mode="append")
            if i + 1 not in marks:
                continue
            before = _read_seconds(lake.root, args.repeat)
            copy = work / f"copy-{i + 1}"
            shutil.copytree(lake.root, copy)
            upkeep = maintain_table(DeltaRsLake(copy, stats_policy=None), TABLE, policy)
            after = _read_seconds(copy, args.repeat)
            results.append({"batches": i + 1, "files_before": upkeep["files_before"],
                            "files_after": upkeep["files_after"], "read_s_before": round(before, 4),
                            "read_s_after": round(after, 4), "upkeep_s": upkeep["seconds"],
                            "ratio_before_after": round(before / after, 2)})
            shutil.rmtree(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'batches':>8}{'files':>8}{'after':>7}{'read s':>10}{'after s':>10}{'ratio':>8}{'upkeep s':>10}")
    for r in results:
        print(f"{r['batches']:>8,}{r['files_before']:>8,}{r['files_after']:>7,}{r['read_s_before']:>10.4f}"
              f"{r['read_s_after']:>10.4f}{r['ratio_before_after']:>8.2f}{r['upkeep_s']:>10.2f}")
    print(json.dumps({"benchmark": "lake_upkeep", "table": TABLE, "rows_per_batch": args.rows, "results": results}))


if __name__ == "__main__":
    main()
