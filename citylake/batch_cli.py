"""``citylake batch``: the batches the gate refused (已退回), and the bureau's decision on each.

    citylake batch list    [--status held|released|rejected|all] [--system S]
    citylake batch release BATCH --reason TEXT [--by NAME]   (已放行: promote it as it is)
    citylake batch reject  BATCH --reason TEXT [--by NAME]   (已驳回: discard it; the department's
                                                              rows are extracted again)

A held batch stops its table's later batches (citylake.quality.held_batches); the decision is
audited with who took it and why (the reason is kept with long numbers withheld). After a decision
the table's next promotion run (or ``citylake demo``'s) carries on with the batches that waited.
"""

from __future__ import annotations

import argparse

LIST_COLUMNS = ("batch_id", "system", "source_table", "status", "rows", "rows_with_errors", "error_rate",
                "held_at", "decided_by", "decided_at", "reason")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``batch`` and its subcommands on the ``citylake`` parser."""
    batch = sub.add_parser("batch", help="batches the quality gate refused (已退回): list, release, reject")
    commands = batch.add_subparsers(dest="batch_command", required=True)
    listing = commands.add_parser("list", help="held batches and the decisions taken")
    listing.add_argument("--status", choices=("held", "released", "rejected", "all"), default="held")
    listing.add_argument("--system", metavar="S", help="only this system's batches (e.g. gongan)")
    for name, help_text in (("release", "已放行: promote the batch as it is (rows with errors to quarantine)"),
                            ("reject", "已驳回: discard the batch and extract the department's rows again")):
        decision = commands.add_parser(name, help=help_text)
        decision.add_argument("batch_id", metavar="BATCH")
        decision.add_argument("--reason", required=True, help="why (kept with the decision)")
        decision.add_argument("--by", metavar="NAME", help="who decides (default $CITYLAKE_USER, else the OS user)")


def run(args: argparse.Namespace) -> int:
    """Run ``citylake batch <command>``; a batch that cannot be decided raises ValueError."""
    from citylake.lake import open_lake
    from citylake.quality import held_batches

    lake = open_lake()
    if args.batch_command == "list":
        status = None if args.status == "all" else args.status
        _print_rows(held_batches.list_held(lake, status, args.system))
        return 0
    decide = held_batches.release if args.batch_command == "release" else held_batches.reject
    row = decide(lake, args.batch_id, args.reason, args.by)
    label = held_batches.STATUS_LABELS[row["status"]]
    if row["status"] == held_batches.RELEASED:
        print(f"{row['batch_id']} {row['status']} ({label}): {row['rows_promoted']:,} rows to {row['silver_table']}, "
              f"{row['rows_quarantined']:,} to quarantine, {row['rows_deleted']:,} deleted")
    else:
        where = row["watermark_rewound_to"] or "the first row (a full read)"
        print(f"{row['batch_id']} {row['status']} ({label}): {row['rows_rejected']:,} rows discarded; "
              f"{row['source_table']} is read again from {where} on its next extraction")
    return 0


def _print_rows(rows: list[dict]) -> None:
    from citylake.feedback_cli import render_table

    if not rows:
        print("no batches")
        return
    print(render_table(LIST_COLUMNS, [[_text(c, r.get(c)) for c in LIST_COLUMNS] for r in rows]))
    print(f"{len(rows)} batch(es); times in Beijing time")


def _text(column: str, value) -> str:
    from citylake.feedback_cli import beijing_time
    from citylake.quality.held_batches import STATUS_LABELS

    if value is None:
        return ""
    if column == "error_rate":
        return f"{value:.1%}"
    if column.endswith("_at"):
        return beijing_time(value)
    if column == "status":
        return f"{value} {STATUS_LABELS[value]}"
    return str(value)
