"""Benchmark: extraction from PostgreSQL into bronze, against a baseline measured in the same run.

For a synthetic city of N persons (default 1 million) generated into PostgreSQL, extracts the
largest tables (公安 CZRK, 医保 psn_insu_d) two ways, each in a fresh process so its peak memory is
its own:
- baseline: ``pandas.read_sql(chunksize=50_000)`` + ``deltalake.write_deltalake`` per chunk;
- citylake: ``citylake.ingest.extract.ingest_table`` (streamed, one commit, metadata columns).
Then advances the city one day and times the incremental batch of every table.

Reports rows/s, the speed ratio citylake/baseline and peak RSS of each. Absolute timings on
these machines are noisy: read the ratios.

    .venv/bin/python benchmarks/ingest_postgres.py --persons 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from measure import PeakRss

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
TABLES = (("gongan", "CZRK"), ("yibao", "psn_insu_d"))


def _worker(mode: str, url: str, system: str, table: str, lake_dir: str) -> dict:
    rss = PeakRss()
    started = time.perf_counter()
    if mode == "baseline":
        import pandas as pd
        import sqlalchemy as sa
        from deltalake import write_deltalake

        engine = sa.create_engine(url)
        rows = 0
        with engine.connect().execution_options(stream_results=True) as conn:
            for chunk in pd.read_sql(sa.text(f'SELECT * FROM "{table}"'), conn, chunksize=50_000):
                write_deltalake(f"{lake_dir}/baseline_{table.lower()}", chunk, mode="append")
                rows += len(chunk)
    else:
        from citylake.ingest.extract import ingest_table
        from citylake.lake import open_lake
        from citylake.sources.registry import load_registry

        spec = load_registry()[system]
        result = ingest_table(spec, spec.table(table), f"bench:{uuid.uuid4().hex}", open_lake(lake_dir), url)
        rows = result.rows_written
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "peak_rss_mib": rss.stop()}


def _measure(mode: str, url: str, system: str, table: str, lake_dir: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", mode, url, system, table, lake_dir],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(*sys.argv[2:7])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    args = parser.parse_args()

    from citylake.lake import open_lake
    from citylake.sources.registry import load_registry
    from citylake.synthcity.advance import advance
    from citylake.synthcity.generate import generate

    token = uuid.uuid4().hex[:6]
    target = f"{PG}/bench_{token}_{{department}}"
    work = Path(tempfile.mkdtemp(prefix="citylake-ingest-bench-"))
    t0 = time.perf_counter()
    generate(args.persons, 1, [target], work / "truth")
    report: dict = {"persons": args.persons, "generate_seconds": round(time.perf_counter() - t0, 1), "tables": {}}
    for system, table in TABLES:
        url = target.replace("{department}", system)
        base = _measure("baseline", url, system, table, str(work / "lake_base"))
        ours = _measure("citylake", url, system, table, str(work / "lake_ours"))
        report["tables"][f"{system}.{table}"] = {
            "rows": ours["rows"],
            "baseline_rows_per_s": round(base["rows"] / base["seconds"]),
            "citylake_rows_per_s": round(ours["rows"] / ours["seconds"]),
            "speed_ratio": round(base["seconds"] / ours["seconds"], 2),
            "baseline_peak_rss_mib": round(base["peak_rss_mib"]),
            "citylake_peak_rss_mib": round(ours["peak_rss_mib"]),
        }

    # Incremental: every table through bronze once, one day of changes, then the day's batch.
    from citylake.ingest.extract import ingest_table

    lake = open_lake(work / "lake_incr")
    registry = load_registry()
    for code, system in registry.items():
        for table in system.tables:
            ingest_table(system, table, f"day0:{code}.{table.name}", lake, target.replace("{department}", code))
    changes = advance(1, [target], work / "truth")
    t1 = time.perf_counter()
    changed_rows = 0
    for code, system in registry.items():
        for table in system.tables:
            r = ingest_table(system, table, f"day1:{code}.{table.name}", lake, target.replace("{department}", code))
            changed_rows += r.rows_written
    report["incremental"] = {"rows_changed_at_source": sum(c["inserted"] + c["updated"] + c["deleted"]
                                                          for c in changes.changes.values()),
                             "rows_written": changed_rows, "seconds_all_tables": round(time.perf_counter() - t1, 1)}
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if not args.keep:
        import sqlalchemy as sa

        admin = sa.create_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for code in registry:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "bench_{token}_{code}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
