"""The ``citylake`` console script."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from datetime import datetime

from citylake import airflow_cli, batch_cli, config_cli, feedback_cli, lake_cli, usage_cli
from citylake.settings import Home

log = logging.getLogger("citylake")

DEMO_PERSONS = 20_000
# citylake.catalog.sql's default, repeated so that --help needs no import of DuckDB.
DEFAULT_MAX_ROWS = 100
DEMO_SEED = 20261031


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citylake", description="citylake: the data base layer of a city brain.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate the synthetic city's department systems and its hidden truth")
    gen.add_argument("--persons", type=_positive, help="number of persons (required unless --advance-days)")
    gen.add_argument("--seed", type=int, default=1, help="random seed; the output is deterministic for a seed")
    gen.add_argument("--target", action="append", required=True, metavar="URL",
                     help="SQLAlchemy URL to write the department systems to (repeatable); "
                          "'{department}' in the URL gives each department its own database")
    gen.add_argument("--truth", required=True, metavar="DIR", help="directory for the ground truth (Parquet)")
    gen.add_argument("--advance-days", type=_positive, metavar="D",
                     help="apply D more days of changes to systems generated earlier with this --truth")
    gen.add_argument("--config", metavar="FILE", help="YAML overriding the synthetic city's defaults")

    demo = sub.add_parser("demo", help="run the main job end to end on the embedded default")
    demo.add_argument("--persons", type=_positive, default=DEMO_PERSONS)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)

    run = sub.add_parser("run", help="run the pipeline's DAGs on the existing home (the next round)",
                         description="Run the stages' Airflow DAGs (dag.test()) on CITYLAKE_HOME as it is, e.g. "
                                     "after `citylake generate --advance-days 1`: ingest (department systems → "
                                     "bronze), gate (bronze → silver, quarantine, feedback), gold (theme libraries).")
    run.add_argument("--stage", choices=("ingest", "gate", "gold", "catalog", "all"), action="append",
                     help="a stage to run (repeatable; default all, in flow order)")
    run.add_argument("--system", action="append", metavar="S",
                     help="only this department system (repeatable; ingest and gate stages)")
    status = sub.add_parser("status", help="where every registry table stands: last batch, watermark, pending, "
                                           "held batches, open issues")
    status.add_argument("--system", action="append", metavar="S", help="only this system (repeatable)")

    feedback_cli.add_parser(sub)
    batch_cli.add_parser(sub)
    usage_cli.add_parser(sub)
    lake_cli.add_parser(sub)
    config_cli.add_parser(sub)
    airflow_cli.add_parser(sub)

    person = sub.add_parser("person", help="the population library (人口库)")
    person_sub = person.add_subparsers(dest="person_command", required=True)
    show = person_sub.add_parser("show", help="print one person's 一人一档 (gold.person_profile)")
    show.add_argument("id_number", metavar="ID_NUMBER")
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.add_argument("--role", metavar="ROLE", help="the profile is unmasked: role engineer only "
                                                     "(default $CITYLAKE_ROLE, else analyst)")

    sql = sub.add_parser("sql", help="query the lake's tables (<layer>.<name>) with SQL (DuckDB)",
                         description="Run one query over the lake's tables, named <layer>.<name> "
                                     "(gold.person, silver.gongan_czrk, governance.quality_issue); "
                                     "SHOW TABLES [FROM layer] lists them.")
    sql.add_argument("query", metavar="QUERY")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table",
                     help="table: the first --max-rows rows, boxed; csv (with a header) and json "
                          "(one array of objects) stream every row")
    sql.add_argument("--max-rows", type=_positive, default=DEFAULT_MAX_ROWS, metavar="N",
                     help=f"rows the table format shows (default {DEFAULT_MAX_ROWS})")
    export = sub.add_parser("export", help="数据返还: a lake table's rows of one district, masked, with a manifest")
    export.add_argument("table", metavar="TABLE", help="<layer>.<name> with a district_code column, e.g. gold.person")
    export.add_argument("--district", required=True, metavar="CODE", help="six-digit GB/T 2260 district code")
    export.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    export.add_argument("--output", metavar="DIR", help="folder to write to (default $CITYLAKE_HOME/exports/CODE/)")

    catalog = sub.add_parser("catalog", help="the data resource catalog (数据资源目录)")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    catalog_sub.add_parser("build", help="describe every registry and lake table: JSON and the site under "
                                         "$CITYLAKE_HOME/catalog/, and governance.catalog")
    sql.add_argument("--role", metavar="ROLE",
                     help="engineer, analyst (masked, pseudonymised), district:<code> or department:<system> "
                          "(default $CITYLAKE_ROLE, else analyst)")
    trace = sub.add_parser("trace", help="每一条数据来龙去脉: a row's values back to the department record and batch",
                           description="Trace one row of a gold table (gold.person by its person_id, "
                                       "gold.standard_address …) or a source-layer table (silver.gongan_czrk by "
                                       "its key) to the silver/quarantine row, the bronze batch and Delta version, "
                                       "the department record and the runs that moved it.")
    trace.add_argument("table", metavar="TABLE", help="<layer>.<name>, e.g. gold.person or silver.gongan_czrk")
    trace.add_argument("key", metavar="KEY", help="the row's key as the role sees it (an analyst gives the "
                                                  "pseudonym of an ID number)")
    trace.add_argument("--column", metavar="COL", help="one attribute (default: every attribute with a source)")
    trace.add_argument("--format", choices=("text", "json"), default="text")
    trace.add_argument("--role", metavar="ROLE", help="as in citylake sql (default $CITYLAKE_ROLE, else analyst)")
    enterprise = sub.add_parser("enterprise", help="the legal-entity library (法人库)")
    enterprise_sub = enterprise.add_subparsers(dest="enterprise_command", required=True)
    eshow = enterprise_sub.add_parser("show", help="print one enterprise's 一企一档 (gold.enterprise_profile)")
    eshow.add_argument("uscc", metavar="USCC")
    eshow.add_argument("--format", choices=("text", "json"), default="text")
    eshow.add_argument("--role", metavar="ROLE", help="the profile is unmasked (legal representatives, employees): "
                                                      "role engineer only (default $CITYLAKE_ROLE, else analyst)")
    rebuild = person_sub.add_parser("build", help="build the gold tables through the build_person DAG "
                                                 "(incremental after a complete build)")
    rebuild.add_argument("--full", action="store_true", help="rebuild every person from the whole silver tables")
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def cmd_generate(args: argparse.Namespace) -> int:
    from citylake.synthcity.config import load_config

    if args.config:
        load_config(args.config)  # before anything is read or written
    if args.advance_days:
        from citylake.synthcity.advance import advance

        report = advance(args.advance_days, args.target, args.truth, config_path=args.config)
        _print_advance(report)
        return 0
    if not args.persons:
        log.error("--persons is required to generate a new city")
        return 2
    from citylake.synthcity.generate import generate

    report = generate(args.persons, args.seed, args.target, args.truth, config_path=args.config)
    _print_generation(report)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from citylake.configuration import check_configuration
    from citylake.quality.expectations.docs import site_index as data_docs_index
    from citylake.quality.rule_results import SOURCE_TIME_ZONE
    from citylake.synthcity.generate import generate

    home = Home.from_env()
    # Every configuration file is checked before the city is generated: a registry typo found by
    # the first Airflow task would come after minutes of work, wrapped in its tracebacks.
    check_configuration(synthcity=True)
    home.root.mkdir(parents=True, exist_ok=True)
    # The demo city is as of today, so the freshness checks judge it against the real clock.
    overlay = home.root / "demo-city.yaml"
    overlay.write_text(f"as_of: {datetime.now(SOURCE_TIME_ZONE).date().isoformat()}\n", encoding="utf-8")
    report = generate(args.persons, args.seed, [home.sqlite_source_url()], home.truth, config_path=str(overlay))
    _print_generation(report)
    run_stages(home, STAGES)
    print(f"\ncitylake home: {home.root}")
    print(f"department systems: {home.sources}/<department>.db (SQLite)")
    print(f"ground truth:       {home.truth}")
    print(f"lake:               {home.lake}/{{bronze,silver,quarantine,governance,gold}}")
    print(f"quality reports:    {home.reports}/index.html (one per department)")
    print(f"GX Data Docs:       {data_docs_index(home)}")
    print(f"catalog:            {home.catalog}/site/index.html (数据资源目录; JSON: {home.catalog}/index.json)")
    print(f"airflow:            {home.airflow}")
    return 0


STAGES = ("ingest", "gate", "gold", "catalog")


def run_stages(home: Home, stages: Sequence[str], systems: Sequence[str] | None = None) -> None:
    """Run the stages' DAGs in flow order with live progress, printing each stage's summary."""
    from citylake.orchestration.progress import RunProgress
    from citylake.orchestration.run import run_build, run_catalog, run_ingest, run_promote

    titles = {"ingest": "ingestion: department systems → bronze (ingest_<system>)",
              "gate": "quality gate: bronze → silver, quarantine, feedback (promote_<system>)",
              "gold": "theme libraries on Spark: silver → gold (build_<library>)",
              "catalog": "data resource catalog (数据资源目录): every table, its lineage and quality (build_catalog)"}
    for stage in (s for s in STAGES if s in stages):
        log.info("%s", titles[stage])
        with RunProgress(titles[stage]) as progress:
            if stage == "ingest":
                summaries = run_ingest(home, systems, on_progress=progress)
            elif stage == "gate":
                summaries = run_promote(home, systems, on_progress=progress)
            elif stage == "gold":
                summaries = run_build(home, on_progress=progress)
            else:
                summaries = run_catalog(home, on_progress=progress)
        {"ingest": _print_ingestion, "gate": _print_gate, "gold": _print_build, "catalog": _print_catalog}[stage](
            summaries)


def cmd_run(args: argparse.Namespace) -> int:
    from citylake.configuration import check_configuration
    from citylake.sources.registry import load_registry_report

    check_configuration(synthcity=False, registry=False)
    home = Home.from_env()
    report = load_registry_report()
    for code, message in report.broken.items():
        log.error("%s: not run, its registry file does not load: %s", code, _one_line(ValueError(message)))
    known = report.systems
    unknown = [s for s in args.system or () if s not in known]
    if unknown:
        raise ValueError(f"unknown system(s) {', '.join(unknown)}; systems: {', '.join(known)}")
    chosen = set(args.stage or ["all"])
    stages = STAGES if "all" in chosen else tuple(s for s in STAGES if s in chosen)
    if args.system and not {"ingest", "gate"} & set(stages):
        raise ValueError("--system selects department systems: it applies to the ingest and gate stages")
    started = time.perf_counter()
    # Without --system, the systems that load: a broken file's own DAG would fail the stage for all.
    run_stages(home, stages, args.system or (list(known) if report.broken else None))
    print(f"\n{' + '.join(stages)} on {home.root} done in {time.perf_counter() - started:.0f} s; "
          "where every table stands: citylake status")
    if report.broken:
        print(f"not run: {', '.join(report.broken)} (registry errors above)")
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from citylake.feedback_cli import beijing_time, render_table
    from citylake.lake import open_lake
    from citylake.orchestration.status import table_status

    rows = table_status(open_lake())
    if args.system:
        rows = [r for r in rows if r["system"] in args.system]
    headers = ["table", "last batch", "extracted (Beijing)", "rows", "watermark", "last gated", "pending", "held",
               "silver rows", "open issues"]
    print(render_table(headers, [[
        f"{r['system']}.{r['table']}", r["last_batch"] or "-",
        beijing_time(r["extracted_at"]) if r["extracted_at"] else "-",
        "-" if r["rows"] is None else f"{r['rows']:,}", r["watermark"] or "-", r["last_gated"] or "-",
        str(len(r["pending"])), r["held"] or "-", "-" if r["silver_rows"] is None else f"{r['silver_rows']:,}",
        f"{r['open_issues']:,}"] for r in rows]))
    held = [r for r in rows if r["held"]]
    if held:
        print(f"{len(held)} table(s) wait on a held batch (已退回): citylake batch list")
    return 0


def _print_ingestion(batches: list[dict]) -> None:
    print(f"\n{'bronze table':<28}{'dag run':<44}{'read':>9}{'written':>9}{'version':>8}")
    for b in sorted(batches, key=lambda b: b["bronze_table"]):
        print(f"{b['bronze_table']:<28}{b['dag_id'] + '/' + b['run_id']:<44.44}{b['rows_read']:>9,}"
              f"{b['rows_written']:>9,}{b['bronze_version']:>8}")
    print(f"{'total':<72}{sum(b['rows_written'] for b in batches):>9,}")


def _print_gate(tasks: list[dict]) -> None:
    print(f"\n{'silver table':<28}{'read':>9}{'promoted':>10}{'deleted':>9}{'quarantined':>12}{'issues':>8}")
    for t in sorted(tasks, key=lambda t: t["silver_table"]):
        g = t["gated"]
        print(f"{t['silver_table']:<28}{sum(b['rows_read'] for b in g):>9,}{sum(b['promoted'] for b in g):>10,}"
              f"{sum(b['deleted'] for b in g):>9,}{sum(b['quarantined'] for b in g):>12,}"
              f"{sum(b['issues_opened'] for b in g):>8,}")
    print("problem records for the departments: governance.quality_issue (问题数据反馈表); "
          "per-check results: governance.rule_result")
    print("list or export them: citylake feedback list --department 公安局")


def _print_build(tasks: list[dict]) -> None:
    for b in tasks:
        if b["dag_id"] == "build_address":
            _print_address_build(b)
            continue
        if b["dag_id"] == "build_enterprise":
            _print_enterprise_build(b)
            continue
        if b["dag_id"] == "build_topics":
            _print_topics_build(b)
            continue
        total = max(b["records"], 1)
        touched = f", {b['touched_persons']:,} persons recomputed" if b.get("touched_persons") is not None else ""
        print(f"\npopulation library (人口库), as of {b['as_of']}, {b.get('mode', 'full')} build in "
              f"{b['seconds']:.0f} s{touched}:")
        print(f"  person-bearing records {b['records']:,}: by valid ID number {b['linked_by_id']:,} "
              f"({b['linked_by_id'] / total:.1%}), linked by similarity {b['linked_by_linkage']:,}, "
              f"unlinked {b['unlinked']:,}; ID corrections proposed (建议更正) {b['proposed_corrections']:,}")
        print(f"  golden persons (gold.person) {b['persons']:,}: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(b["life_status"].items())) + f"; 实有人口 {b['residents']:,}; "
            f"households {b['households']:,}")
        issues = b.get("conflict_issues") or {}
        print(f"  conflicts (gold.person_conflict, 多源校核) {b['conflicts']:,}: warnings opened "
              f"{issues.get('opened', 0):,}, closed {issues.get('fixed', 0):,} in governance.quality_issue")
        print("  tables: gold.person, gold.person_source_link, gold.person_conflict, gold.person_profile, "
              "gold.household_member; one person: citylake person show ID_NUMBER --role engineer; "
              "any query: citylake sql \"SHOW TABLES\"")


def _print_address_build(b: dict) -> None:
    total = max(b["records"], 1)
    levels = b["levels"]
    print(f"\nstandard-address library (地址库), built in {b['seconds']:.0f} s:")
    print(f"  standard addresses (gold.standard_address) {b['standard_addresses']:,}; source addresses "
          f"{b['records']:,} ({b['distinct_addresses']:,} distinct, each parsed once)")
    coarse = ", ".join(f"{k} {v:,}" for k, v in sorted(levels.items()) if k != "room") or "none"
    print(f"  matched to a standard address (room level) {levels.get('room', 0):,} "
          f"({levels.get('room', 0) / total:.1%}); coarser or unmatched: {coarse}")
    issues = b.get("address_issues") or {}
    print(f"  fed back (governance.quality_issue): opened {issues.get('opened', 0):,}, "
          f"closed {issues.get('fixed', 0):,}")
    print("  tables: gold.standard_address, gold.address_link, gold.person_address")


def _print_topics_build(b: dict) -> None:
    print(f"\ntopic libraries (专题库), as of {b['as_of']}, built in {b['seconds']:.0f} s "
          "(rules: jobs/topics/rules.yaml):")
    for table, count in b["counts"].items():
        print(f"  {table:<36} {count:>9,} rows")
    issues = b.get("feedback") or {}
    print(f"  findings on departments' data (deceased 低保 members → 民政, deceased legal representatives → "
          f"市场监管) {issues.get('findings', 0):,}: warnings opened {issues.get('opened', 0):,}, "
          f"closed {issues.get('fixed', 0):,} in governance.quality_issue")


def _print_enterprise_build(b: dict) -> None:
    total = max(b["records"], 1)
    print(f"\nlegal-entity library (法人库), as of {b['as_of']}, built in {b['seconds']:.0f} s:")
    print(f"  enterprise-bearing records {b['records']:,}: by USCC {b['linked_by_uscc']:,} "
          f"({b['linked_by_uscc'] / total:.1%}), by a repaired USCC (GB 32100/GB 11714) {b['linked_by_repair']:,}, "
          f"by name {b['linked_by_name']:,}, unlinked {b['unlinked']:,}; USCC corrections proposed (建议更正) "
          f"{b['proposed_corrections']:,}")
    print(f"  golden enterprises (gold.enterprise) {b['enterprises']:,}: " + ", ".join(
        f"{k} {v:,}" for k, v in sorted(b["status"].items())) + f"; with a standard address "
        f"{b['with_standard_address']:,}, legal representative linked to gold.person {b['with_legal_rep_person']:,}")
    issues = b.get("feedback") or {}
    print(f"  conflicts (gold.enterprise_conflict, 多源校核) {b['conflicts']:,}; warnings opened "
          f"{issues.get('opened', 0):,}, closed {issues.get('fixed', 0):,} in governance.quality_issue")
    print("  tables: gold.enterprise, gold.enterprise_source_link, gold.enterprise_conflict, "
          "gold.enterprise_profile; one enterprise: citylake enterprise show USCC --role engineer")


def cmd_person(args: argparse.Namespace) -> int:
    if args.person_command == "build":
        from citylake.orchestration.run import run_build

        _print_build(run_build(Home.from_env(), full=args.full))
        return 0
    from citylake.jobs.person import show
    from citylake.jobs.person.build import PROFILE

    return _show_profile(args, "person", PROFILE, show.PersonNotFound, show, args.id_number)


def _show_profile(args: argparse.Namespace, library: str, table: str, not_found: type[Exception], show,
                  key: str) -> int:
    """``citylake person|enterprise show``: a profile printed unmasked, so for engineers only (analysts
    query the masked profile tables with citylake sql); every read or refusal in the access log."""
    from citylake.catalog.access import Role
    from citylake.catalog.access_log import log_access
    from citylake.lake import open_lake

    role = Role.from_env(args.role)
    lake = open_lake()
    outcome, rows = "refused", None
    try:
        if role.kind != "engineer":
            log.error("citylake %s show prints unmasked personal data: role engineer only (--role engineer); "
                      "as %s, query the masked tables with citylake sql", library, role)
            return 2
        outcome = "failed"
        try:
            document = show.profile(lake, key)
        except not_found as exc:
            log.error("%s", exc)
            return 1
        print(show.as_json(document) if args.format == "json" else show.render(document))
        outcome, rows = "ok", 1
        return 0
    finally:
        log_access(lake, role=str(role), interface=f"citylake {library} show", tables=[table], rows=rows,
                   query=key, outcome=outcome)


def cmd_catalog(args: argparse.Namespace) -> int:
    from citylake.catalog.build import build_catalog

    _print_catalog(build_catalog(Home.from_env()))
    return 0


def _print_catalog(summary: dict) -> None:
    print(f"\ndata resource catalog (数据资源目录): {summary['entries']} datasets ({summary['source_tables']} source "
          f"tables, {summary['lake_tables']} lake tables), {summary['lineage_edges']} lineage edges")
    print(f"  JSON:  {summary['index']} (one file per dataset beside it); table governance.catalog "
          f"(version {summary['table_version']})")
    print(f"  site:  {summary['site']}")
    if summary.get("undeclared"):
        print(f"  no name or description in catalog/catalog.yaml: {', '.join(summary['undeclared'])}")


def cmd_enterprise(args: argparse.Namespace) -> int:
    from citylake.jobs.enterprise import show

    return _show_profile(args, "enterprise", show.PROFILE, show.EnterpriseNotFound, show, args.uscc)


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from citylake.catalog.export import export_district
    from citylake.lake import open_lake

    home = Home.from_env()
    output = Path(args.output) if args.output else home.root / "exports" / args.district
    manifest = export_district(open_lake(), args.table, args.district, output, args.format)
    shown = [c for c in manifest.columns if c.treatment != "hidden"]
    print(f"{manifest.rows:,} rows of {manifest.table} (version {manifest.table_version}) for district "
          f"{manifest.district} written to {output / manifest.file}; sha256 {manifest.sha256}")
    print(f"columns: {len(shown)} of {len(manifest.columns)} returned ("
          + ", ".join(f"{c.name} {c.treatment}" for c in shown if c.treatment != "shown") + "); highest grade "
          f"{manifest.highest_grade}; manifest {output / (manifest.file + '.manifest.json')}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import shutil

    from citylake.catalog.access import Role
    from citylake.catalog.access_log import log_access
    from citylake.catalog.sql import QueryError, QueryRefused, query, referenced_tables
    from citylake.lake import open_lake

    role = Role.from_env(args.role)
    lake = open_lake()
    # Until the query runs, the tables it names: a refused or failed read is logged against them too
    # (the usage report counts it for their departments).
    tables: tuple[str, ...] | list[str] = referenced_tables(args.query, lake.list_tables())
    rows, outcome = None, "failed"
    try:
        result = query(lake, args.query, role)
        tables = result.tables
        if args.format == "table":
            text, rows = result.render(args.max_rows, max_width=shutil.get_terminal_size().columns)
            sys.stdout.write(text)
        else:
            rows = _stream(result, args.format, sys.stdout)
        outcome = "ok"
    except QueryRefused as exc:
        outcome = "refused"
        log.error("%s", exc)
        return 2
    except QueryError as exc:
        log.error("%s", exc)
        return 2
    finally:
        log_access(lake, role=str(role), interface="citylake sql", tables=tables, rows=rows, query=args.query,
                   outcome=outcome)
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    import json

    from citylake.catalog.access import AccessError, Role
    from citylake.catalog.access_log import log_access
    from citylake.catalog.trace import TraceError, render, tables_of, trace
    from citylake.ingest.redact import scrub
    from citylake.lake import open_lake

    role = Role.from_env(args.role)
    home = Home.from_env()
    lake = open_lake()
    result, outcome = None, "failed"
    try:
        result = trace(lake, home, args.table, args.key, args.column, role)
        outcome = "ok"
    except AccessError as exc:
        outcome = "refused"
        log.error("%s", scrub(str(exc), quotes="'"))
        return 2
    except TraceError as exc:
        log.error("%s", scrub(str(exc), quotes="'"))
        return 2
    finally:
        log_access(lake, role=str(role), interface="citylake trace", tables=tables_of(result, args.table),
                   rows=1 + len(result.origins) if result else 0,
                   query=f"trace {args.table} {args.key} {args.column or ''}", outcome=outcome)
    if args.format == "json":
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        sys.stdout.write(render(result))
    return 0


def _stream(result, fmt: str, out) -> int:
    """Every row of ``result`` as CSV (header first) or as one JSON array, batch by batch; the row count."""
    import csv
    import json

    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        rows = 0
        for batch in result.batches():
            writer.writerows(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            rows += batch.num_rows
        return rows
    out.write("[")
    rows = 0
    for batch in result.batches():
        for row in batch.to_pylist():
            out.write(("\n" if rows == 0 else ",\n") + json.dumps(row, ensure_ascii=False, default=str))
            rows += 1
    out.write("\n]\n")
    return rows


def _print_generation(report) -> None:
    w = report.world
    print(f"synthetic city: {w['persons']:,} persons ({w['persons_alive']:,} alive), {w['households']:,} households, "
          f"{w['addresses']:,} addresses, {w['enterprises']:,} enterprises, {w['marriages']:,} marriages "
          f"(seed {report.seed})")
    print(f"{'department table':<24}{'title':<28}{'rows':>10}{'defects':>10}")
    for t in report.tables:
        print(f"{t.table:<24}{t.title:<28}{t.rows:>10,}{t.defects:>10,}")
    print(f"{'total':<52}{report.rows:>10,}{sum(t.defects for t in report.tables):>10,}")
    print(f"written to {', '.join(report.targets)} in {report.seconds:.1f} s "
          f"({report.rows / max(report.seconds, 1e-9):,.0f} rows/s); truth in {report.truth_dir}")


def _print_advance(report) -> None:
    print(f"advanced {report.days} day(s) to {report.as_of_after}: "
          + ", ".join(f"{k} {v:,}" for k, v in report.events.items()))
    print(f"{'department table':<24}{'inserted':>10}{'updated':>10}{'deleted':>10}")
    for table, counts in report.changes.items():
        print(f"{table:<24}{counts['inserted']:>10,}{counts['updated']:>10,}{counts['deleted']:>10,}")
    print(f"defects corrected: {report.corrected:,}; new defects: {report.new_defects:,}; {report.seconds:.1f} s")


def _one_line(exc: BaseException) -> str:
    """An input error as one line: what a person fixes is named there, a traceback adds nothing."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    commands = {"generate": cmd_generate, "demo": cmd_demo, "feedback": feedback_cli.run, "person": cmd_person,
                "sql": cmd_sql, "export": cmd_export, "batch": batch_cli.run, "run": cmd_run,
                "status": cmd_status, "usage": usage_cli.run, "lake": lake_cli.run, "catalog": cmd_catalog, "trace": cmd_trace,
                "enterprise": cmd_enterprise, "airflow": airflow_cli.run,
                "config": config_cli.run}
    try:
        return commands[args.command](args)
    except (ValueError, OSError) as exc:  # bad input or configuration, a file that cannot be written
        log.error("%s", _one_line(exc))
        return 2
    except RuntimeError as exc:  # a failed DAG run or extraction: the message names what failed
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
