"""Benchmark: the whole pipeline, stage by stage, at several city sizes, against an I/O floor.

For each size (persons) it generates a synthetic city into the embedded SQLite department systems,
then runs the stages as production runs them — the Airflow DAGs through ``dag.test()``
(citylake.orchestration.run): ingestion (``ingest_<system>``), the quality gate with the round's Data
Docs (``promote_<system>``, ``build_data_docs``), each theme library on local Spark (``build_person``,
``build_address``, ``build_enterprise``, ``build_topics``) and the catalog (``build_catalog``). Each
stage reports its time, its source rows per second and the peak resident memory of this process and
all its children (Airflow, the Spark JVM, Python workers).

The I/O floor, measured in the same run on the same city, reads every source table once and writes
it once as Parquet: what no pipeline that lands the data can beat. The pipeline's ratio to it is
reported per size, and across sizes the scaling exponent of each stage's time against the city's
size (least squares slope of log time on log persons; 1.0 is linear). Goals (issue 15): pipeline ≤ 4×
the floor at 1 million persons, exponent ≤ 1.1.

    .venv/bin/python benchmarks/pipeline.py --persons 10000 100000 [--root DIR] [--json OUT]
        [--markdown TABLE.md] [--add-to EARLIER.json] [--score] [--spark-conf spark.driver.memory=6g]
        [--from-stage gold.enterprise --add-to EARLIER.json] [--to-stage gate]

``--to-stage`` stops after a stage; ``--from-stage`` resumes the city left under ``--root`` (the 1M
city takes half an hour to generate, ingest and gate), keeping the earlier stages' measurements from
the ``--add-to`` JSON of the run that built it.

``--score`` adds each library's score against the truth (benchmarks/scores.py) to the results.

Timings on a shared 2-core machine are noisy: compare ratios measured in one run, not seconds
across runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from measure import TreeRss
from scores import score_city

log = logging.getLogger("benchmarks.pipeline")

LIBRARIES = ("person", "address", "enterprise", "topics")
PIPELINE = ("ingest", "gate", *(f"gold.{lib}" for lib in LIBRARIES), "catalog")
STAGES = ("generate", "io_floor", *PIPELINE)
CHUNK_ROWS = 100_000


def io_floor(sources: Path, out: Path) -> tuple[int, int]:
    """Read every table of every SQLite department system once and write it once as Parquet, in
    chunks; (rows, bytes written)."""
    rows = written = 0
    for db in sorted(sources.glob("*.db")):
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                target = out / f"{db.stem}.{table}.parquet"
                writer = None
                for chunk in pd.read_sql_query(f'SELECT * FROM "{table}"', conn, chunksize=CHUNK_ROWS):
                    batch = pa.Table.from_pandas(chunk, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(target, batch.schema)
                    # A column all NULL in the first chunk is typed null there; later chunks follow it.
                    writer.write_table(batch.cast(writer.schema, safe=False) if batch.schema != writer.schema
                                       else batch)
                    rows += len(chunk)
                if writer is not None:
                    writer.close()
                    written += target.stat().st_size
    return rows, written


def timed(name: str, work: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    log.info("%s …", name)
    rss = TreeRss()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    peak = rss.stop()
    log.info("%s: %.1f s, peak %.0f MiB", name, seconds, peak)
    return {"seconds": round(seconds, 2), "peak_mib": round(peak)}, result


def source_rows(sources: Path) -> int:
    """The rows of every table of every SQLite department system (a city generated earlier)."""
    rows = 0
    for db in sorted(sources.glob("*.db")):
        with sqlite3.connect(db) as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                rows += conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
    return rows


def run_size(persons: int, seed: int, root: Path, score: bool = False, first: str = STAGES[0],
             last: str = STAGES[-1], earlier: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the stages ``first`` to ``last`` on the city of ``persons`` under ``root`` (generated anew
    when ``first`` is ``generate``, else the one an earlier run left there); the stages not run keep
    their measurements from ``earlier`` (that size's run in an earlier JSON), if any."""
    from citylake.lake import open_lake
    from citylake.orchestration.run import run_build, run_catalog, run_ingest, run_promote
    from citylake.settings import Home
    from citylake.synthcity.generate import generate

    home = Home(root / f"city-{persons}")
    wanted = STAGES[STAGES.index(first):STAGES.index(last) + 1]
    if first == "generate":
        if home.root.exists():
            shutil.rmtree(home.root)
        home.root.mkdir(parents=True)
    elif not home.sources.is_dir():
        raise SystemExit(f"--from-stage {first}: no city of {persons:,} persons under {root} to resume")
    floor: dict[str, int] = {}

    def floor_run() -> None:
        floor_dir = home.root / "io-floor"
        shutil.rmtree(floor_dir, ignore_errors=True)
        floor_dir.mkdir()
        floor["rows"], floor["bytes"] = io_floor(home.sources, floor_dir)
        shutil.rmtree(floor_dir)

    work: dict[str, Callable[[], Any]] = {
        "generate": lambda: generate(persons, seed, [home.sqlite_source_url()], home.truth),
        "io_floor": floor_run, "ingest": lambda: run_ingest(home), "gate": lambda: run_promote(home),
        **{f"gold.{lib}": (lambda lib=lib: run_build(home, [lib])) for lib in LIBRARIES},
        "catalog": lambda: run_catalog(home)}
    earlier = earlier or {}
    stages: dict[str, dict[str, Any]] = {k: v for k, v in earlier.get("stages", {}).items() if k not in wanted}
    generated = None
    for name in wanted:
        stages[name], result = timed(name, work[name])
        if name == "generate":
            generated = result
    # A resumed city's rows were counted by the run that generated it.
    rows = generated.rows if generated else earlier.get("source_rows") or source_rows(home.sources)
    for name in wanted:
        stages[name]["source_rows_per_second"] = round(rows / stages[name]["seconds"]) if stages[name]["seconds"] \
            else None
    stages = {name: stages[name] for name in STAGES if name in stages}
    lake_bytes = sum(f.stat().st_size for f in home.lake.rglob("*") if f.is_file())
    run: dict[str, Any] = {
        "persons": persons, "source_rows": rows,
        "floor_rows": floor.get("rows", earlier.get("floor_rows")),
        "floor_parquet_mib": round(floor["bytes"] / 2**20, 1) if floor else earlier.get("floor_parquet_mib"),
        "lake_mib": round(lake_bytes / 2**20, 1), "stages": stages}
    if all(s in stages for s in ("io_floor", *PIPELINE)):
        pipeline = sum(stages[s]["seconds"] for s in PIPELINE)
        run.update({"pipeline_seconds": round(pipeline, 1),
                    "pipeline_peak_mib": max(stages[s]["peak_mib"] for s in PIPELINE),
                    "pipeline_vs_io_floor": round(pipeline / stages["io_floor"]["seconds"], 1)})
    if score:
        run["scores"] = score_city(home, open_lake(home.lake))
    return run


def exponent(sizes: list[int], seconds: list[float]) -> float | None:
    """Least squares slope of log(seconds) on log(size)."""
    if len(sizes) < 2:
        return None
    xs, ys = [math.log(s) for s in sizes], [math.log(max(t, 1e-3)) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs), 2)


def scaling(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per stage: the exponent between each pair of consecutive sizes, and the fit over all of them.

    Every stage has a fixed cost (an Airflow child, a Spark session, GX suites) that a small city
    does not amortise, so the exponent between the two largest sizes is the one that says how the
    stage grows; the fit over all sizes understates it."""
    def of(measured: list[tuple[int, float]]) -> dict[str, float | None]:
        sizes, seconds = [m[0] for m in measured], [m[1] for m in measured]
        out: dict[str, float | None] = {f"{a}-{b}": exponent([a, b], [ta, tb])
                                        for a, b, ta, tb in zip(sizes, sizes[1:], seconds, seconds[1:], strict=False)}
        out["fit"] = exponent(sizes, seconds)
        return out

    # A size whose run stopped early (--to-stage) or failed a stage has no time for the later ones.
    result = {name: of([(r["persons"], r["stages"][name]["seconds"]) for r in runs if name in r["stages"]])
              for name in STAGES}
    result["pipeline"] = of([(r["persons"], r["pipeline_seconds"]) for r in runs if "pipeline_seconds" in r])
    return result


def markdown(result: dict[str, Any]) -> str:
    runs = result["runs"]
    pairs = [f"{a['persons']}-{b['persons']}" for a, b in zip(runs, runs[1:], strict=False)]

    def row(*cells: object) -> str:
        return "| " + " | ".join(str(c) for c in cells) + " |"

    def exponents(name: str) -> list[object]:
        measured = result["scaling_exponent"].get(name, {})
        return [measured.get(p, "") for p in pairs]

    def cell(run: dict[str, Any], name: str) -> str:
        stage = run["stages"].get(name)
        return f"{stage['seconds']:.1f} ({stage['peak_mib']:,})" if stage else "not run"

    blank = [""] * len(pairs)
    lines = [row("stage", *(f"{r['persons']:,} persons: s (peak MiB)" for r in runs),
                 *(f"exponent {p.replace('-', '→')}" for p in pairs)),
             "|---|" + "---:|" * (len(runs) + len(pairs))]
    lines += [row(name, *(cell(r, name) for r in runs), *exponents(name)) for name in STAGES]
    lines.append(row("**pipeline** (ingest → catalog)", *(
        f"**{r['pipeline_seconds']:.1f}** ({r['pipeline_peak_mib']:,})" if "pipeline_seconds" in r else "incomplete"
        for r in runs), *exponents("pipeline")))
    lines.append(row("pipeline ÷ I/O floor", *(f"{r['pipeline_vs_io_floor']}×" if "pipeline_vs_io_floor" in r
                                               else "" for r in runs), *blank))
    lines.append(row("source rows", *(f"{r['source_rows']:,}" for r in runs), *blank))
    lines.append(row("lake size, MiB", *(f"{r['lake_mib']:,}" for r in runs), *blank))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--root", help="a folder for the cities (default: a temporary one, removed after)")
    parser.add_argument("--json", help="write the results here as JSON (they are printed either way)")
    parser.add_argument("--markdown", help="write the results table to this Markdown file")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for the gold builds (e.g. spark.driver.memory=6g), written to a "
                             "spark-defaults.conf the DAG children read through SPARK_CONF_DIR; repeatable")
    parser.add_argument("--score", action="store_true", help="score each library against the city's truth "
                                                                  "(benchmarks/scores.py) after the stages")
    parser.add_argument("--add-to", help="a JSON file of an earlier run: its other sizes join this run's "
                                         "(e.g. a small size rerun on a quiet machine), and with --from-stage "
                                         "the stages before it keep their measurements from there")
    parser.add_argument("--from-stage", choices=STAGES, default=STAGES[0],
                        help="resume the city an earlier run left under --root from this stage")
    parser.add_argument("--to-stage", choices=STAGES, default=STAGES[-1], help="stop after this stage")
    args = parser.parse_args()
    if STAGES.index(args.from_stage) > STAGES.index(args.to_stage):
        parser.error("--from-stage comes after --to-stage")
    if args.from_stage != STAGES[0] and not args.root:
        parser.error("--from-stage needs the --root of the run to resume")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    # The DAG children read these: a developer's own override folders must not change what is measured.
    for name in ("CITYLAKE_SOURCES", "CITYLAKE_CONFIG"):
        os.environ.pop(name, None)

    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="citylake-pipeline-"))
    if args.spark_conf:
        conf_dir = root / "spark-conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        lines = [item.partition("=") for item in args.spark_conf]
        if any(not key or not value for key, _, value in lines):
            parser.error("--spark-conf takes KEY=VALUE")
        (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, _, v in lines), encoding="utf-8")
        os.environ["SPARK_CONF_DIR"] = str(conf_dir)  # citylake.lake.spark.spark_defaults
    earlier = json.loads(Path(args.add_to).read_text(encoding="utf-8"))["runs"] if args.add_to else []
    runs = [r for r in earlier if r["persons"] not in args.persons]
    try:
        for persons in sorted(args.persons):
            before = next((r for r in earlier if r["persons"] == persons), None)
            runs.append(run_size(persons, args.seed, root, args.score, args.from_stage, args.to_stage, before))
            runs.sort(key=lambda r: r["persons"])
            if not args.root:
                shutil.rmtree(root / f"city-{persons}")
            # Written after every size: the largest city takes hours, and the smaller ones stand alone.
            report(runs, args)
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(summary(runs, args.spark_conf), ensure_ascii=False, indent=2))


def summary(runs: list[dict[str, Any]], spark_conf: list[str]) -> dict[str, Any]:
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_after": [round(x, 1) for x in os.getloadavg()]},
            "spark_conf": spark_conf,
            "runs": runs, "scaling_exponent": scaling(runs)}


def report(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    result = summary(runs, args.spark_conf)
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(markdown(result), encoding="utf-8")

if __name__ == "__main__":
    main()
