"""``citylake lake maintain``: the lake upkeep (湖表维护, :mod:`citylake.lake.upkeep`) run now, in this
process, on every table or on those named; the nightly ``maintain_lake`` DAG does the same.
Heavy imports happen when the command runs."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    lake = sub.add_parser("lake", help="the Delta lake's upkeep (湖表维护)")
    lake_sub = lake.add_subparsers(dest="lake_command", required=True)
    maintain = lake_sub.add_parser("maintain", help="compact small files, vacuum old versions and trim the log "
                                                    "of every lake table, by citylake/lake/upkeep.yaml")
    maintain.add_argument("--table", action="append", metavar="LAYER.NAME",
                          help="maintain only this table (repeatable; default: every table)")
    maintain.add_argument("--dry-run", action="store_true",
                          help="write nothing: say which tables are due for compaction and how many files a "
                               "vacuum would remove")


def run(args: argparse.Namespace) -> int:
    from citylake.lake import open_lake
    from citylake.lake.upkeep import load_upkeep_settings, maintain_table

    lake = open_lake()
    settings = load_upkeep_settings()
    names = args.table or lake.list_tables()
    unknown = [name for name in names if not lake.exists(name)]
    if unknown:
        print(f"no such lake table: {', '.join(unknown)} (see citylake sql \"SHOW TABLES\")")
        return 2
    print(f"{'table':<40}{'files':>8}{'after':>8}{'compaction':>12}{'vacuumed':>10}{'seconds':>9}")
    for name in names:
        r = maintain_table(lake, name, settings.policy_for(name), dry_run=args.dry_run)
        print(f"{name:<40}{r['files_before']:>8,}{r['files_after']:>8,}{r['compaction']:>12}"
              f"{r['vacuumed_files']:>10,}{r['seconds']:>9.1f}", flush=True)
    if args.dry_run:
        print("dry run: nothing was written")
    return 0
