"""数据调用情况反馈 (usage report to the providing departments): who read each department's tables,
directly or through the gold tables derived from them, how often and how many rows, over a period.

``governance.usage_report`` is built from ``governance.access_log`` (:mod:`citylake.catalog.access_log`)
for a period [start, end), one row per provider table, table read and consumer:

* **provider**: the department (the registry's ``owner``), its ``system`` and ``source_table``
  (``gongan.CZRK``);
* **table read**: the lake table a read named, ``via`` ``direct`` for the provider's own layer tables
  (``silver.gongan_czrk`` …) or ``derived`` for a gold table built from them — what a gold table is
  built from comes from its spec's ``sources`` (:func:`gold_upstream`);
* **consumer**: ``user`` (the bureau staff account that read), ``role`` and ``interface``;
* ``reads`` served (outcome ok), the ``rows`` they returned, ``refused`` (the role may not read) and
  ``failed`` reads counted apart, ``distinct_queries`` (distinct query hashes), first and last read.

No query text is in the access log (only its SHA-256) and none is in the report; the rows a read
returned are counted for every table it named. The period's rows replace any earlier report of the
same period, so a rerun is idempotent.

可访问性 (GB/T 36344 accessibility, indicator 06) is then scored per provider table
(:func:`accessibility_results`, check ``accessible`` of quality/indicators.yaml): X = reads served /
(reads served + reads failed) of the table and of the gold tables derived from it. A refusal is the
access policy working (a role asked for what it may not see), not the data being unavailable: it is
reported, not scored. The scores are rule results (``governance.rule_result``, batch
``usage:<period>``) and so reach the department's scores and quality report like any check.
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from citylake.catalog.access_log import ACCESS_LOG
from citylake.ingest.governance import now
from citylake.privacy import SOURCE_LAYERS

USAGE_REPORT = "governance.usage_report"
DIRECT, DERIVED = "direct", "derived"
ACCESSIBLE = "accessible"
BATCH_PREFIX = "usage:"
SCHEMA = pa.schema([
    ("period", pa.string()), ("period_start", pa.timestamp("us", tz="UTC")),
    ("period_end", pa.timestamp("us", tz="UTC")), ("department", pa.string()), ("system", pa.string()),
    ("source_table", pa.string()), ("read_table", pa.string()), ("via", pa.string()), ("user", pa.string()),
    ("role", pa.string()), ("interface", pa.string()), ("reads", pa.int64()), ("rows", pa.int64()),
    ("refused", pa.int64()), ("failed", pa.int64()), ("distinct_queries", pa.int64()),
    ("first_read_at", pa.timestamp("us", tz="UTC")), ("last_read_at", pa.timestamp("us", tz="UTC")),
    ("generated_at", pa.timestamp("us", tz="UTC")),
])
_LOG_COLUMNS = ["accessed_at", "user", "role", "interface", "tables", "rows", "query_sha256", "outcome"]
# A concrete lake table named in a spec's sources, and the module a templated entry
# ("silver.<system>_<table> … (citylake.jobs.person.records)") refers to for its tables.
_NAMED = re.compile(r"(?<![\w.<])((?:bronze|silver|quarantine|gold)\.[a-z][a-z0-9_]*)\b")
_MODULE = re.compile(r"\((citylake\.jobs\.[a-z_.]*[a-z_])")


class UsageReportError(ValueError):
    """A gold spec's sources name a module that does not list its source tables, or a bad period."""


@dataclass(frozen=True)
class Provider:
    department: str
    system: str
    source_table: str  # gongan.CZRK
    via: str


def gold_upstream(registry: Mapping | None = None) -> dict[str, frozenset[str]]:
    """Gold table -> the source-layer tables (``silver.gongan_czrk`` …) it is built from, through the
    gold tables it is built from too. A spec's ``sources`` entry names lake tables, or is a template
    (``<system>_<table>``) naming in parentheses the module whose ``source_tables(registry)`` lists them."""
    from citylake.jobs.spec import all_gold_specs
    from citylake.sources.registry import load_registry

    registry = load_registry() if registry is None else registry
    specs = all_gold_specs()
    direct: dict[str, set[str]] = {}
    for table, spec in specs.items():
        named: set[str] = set()
        for entry in spec.sources:
            if "<" in entry:
                match = _MODULE.search(entry)
                lister = getattr(importlib.import_module(match.group(1)), "source_tables", None) if match else None
                if lister is None:
                    raise UsageReportError(f"{spec.path}: sources entry {entry!r} is a template but names no module "
                                           "with a source_tables(registry) function in parentheses")
                named.update(lister(registry))
            else:
                named.update(_NAMED.findall(entry))
        direct[table] = named

    def expand(table: str, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for source in direct.get(table, ()):
            if source.startswith("gold."):
                if source not in seen:
                    out |= expand(source, seen | {source})
            else:
                out.add(source)
        return out

    return {table: frozenset(expand(table, frozenset({table}))) for table in specs}


@cache
def providers() -> dict[str, tuple[Provider, ...]]:
    """Lake table -> the provider tables its rows come from: a source-layer table its own, a gold
    table those of :func:`gold_upstream`."""
    from citylake.sources.registry import load_registry

    registry = load_registry()
    own: dict[str, Provider] = {}
    for system in registry.values():
        for table in system.tables:
            for layer in SOURCE_LAYERS:
                own[f"{layer}.{table.lake_id(system.code)}"] = Provider(
                    system.owner, system.code, f"{system.code}.{table.name}", DIRECT)
    out: dict[str, tuple[Provider, ...]] = {t: (p,) for t, p in own.items()}
    for gold, sources in gold_upstream(registry).items():
        found = {own[s].source_table: own[s] for s in sources if s in own}
        out[gold] = tuple(Provider(p.department, p.system, p.source_table, DERIVED)
                          for _, p in sorted(found.items()))
    return out


def period_label(start: datetime, end: datetime) -> str:
    return f"{start.isoformat()}/{end.isoformat()}"


def usage_rows(lake, start: datetime, end: datetime) -> list[dict]:
    """The usage report's rows for [start, end) (see the module docstring)."""
    if end <= start:
        raise UsageReportError(f"the period must end after it starts: {start.isoformat()} .. {end.isoformat()}")
    if not lake.exists(ACCESS_LOG):
        return []
    condition = (pc.field("accessed_at") >= pa.scalar(start, pa.timestamp("us", tz="UTC"))) & (
        pc.field("accessed_at") < pa.scalar(end, pa.timestamp("us", tz="UTC")))
    groups: dict[tuple, dict] = {}
    hashes: dict[tuple, set[str]] = defaultdict(set)
    by_table = providers()
    for batch in lake.read_arrow(ACCESS_LOG, columns=_LOG_COLUMNS, filter=condition):
        for read in batch.to_pylist():
            for table in sorted(set(read["tables"] or ())):
                for provider in by_table.get(table, ()):
                    key = (provider.department, provider.system, provider.source_table, table, provider.via,
                           read["user"], read["role"], read["interface"])
                    row = groups.setdefault(key, {"reads": 0, "rows": 0, "refused": 0, "failed": 0,
                                                  "first_read_at": read["accessed_at"],
                                                  "last_read_at": read["accessed_at"]})
                    if read["outcome"] == "ok":
                        row["reads"] += 1
                        row["rows"] += read["rows"] or 0
                    else:
                        row[read["outcome"]] += 1
                    row["first_read_at"] = min(row["first_read_at"], read["accessed_at"])
                    row["last_read_at"] = max(row["last_read_at"], read["accessed_at"])
                    hashes[key].add(read["query_sha256"])
    generated, label = now(), period_label(start, end)
    names = ("department", "system", "source_table", "read_table", "via", "user", "role", "interface")
    return [{"period": label, "period_start": start, "period_end": end, **dict(zip(names, key, strict=True)),
             **counts, "distinct_queries": len(hashes[key]), "generated_at": generated}
            for key, counts in sorted(groups.items())]


def accessibility_results(rows: list[dict]) -> list[dict]:
    """可访问性 per provider table, as ``governance.rule_result`` rows (check ``accessible``)."""
    from citylake.quality.checks import check_kind

    spec = check_kind(ACCESSIBLE)
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        counts = totals[(row["department"], row["system"], row["source_table"])]
        counts[0] += row["reads"]
        counts[1] += row["failed"]
        counts[2] += row["refused"]
    if not rows:
        return []
    batch, at = BATCH_PREFIX + rows[0]["period"], rows[0]["generated_at"]
    out = []
    for (department, system, source_table), (served, failed, refused) in sorted(totals.items()):
        out.append({
            "batch_id": batch, "department": department, "system": system, "source_table": source_table,
            "check_id": f"{source_table.partition('.')[2]}.*.{ACCESSIBLE}", "kind": ACCESSIBLE,
            "indicator_code": spec.code, "indicator": spec.indicator, "check_name": spec.name_zh,
            "criticality": spec.criticality, "columns": [], "standard_field": None,
            "evaluated": served + failed, "failed": failed,
            "observed": f"{served} reads served, {failed} failed, {refused} refused (not scored)",
            "evaluated_at": at})
    return out


def build_usage_report(lake, start: datetime, end: datetime) -> list[dict]:
    """Write the period's ``governance.usage_report`` rows and its 可访问性 rule results; return the rows."""
    from citylake.quality.rule_results import record_results

    rows = usage_rows(lake, start, end)
    label = period_label(start, end)
    predicate = "period = '" + label.replace("'", "''") + "'"
    metadata = {"job": "usage_report", "period": label}
    if rows:
        lake.write_arrow(USAGE_REPORT, pa.Table.from_pylist(rows, schema=SCHEMA), mode="overwrite"
                         if lake.exists(USAGE_REPORT) else "append",
                         predicate=predicate if lake.exists(USAGE_REPORT) else None, metadata=metadata)
    elif lake.exists(USAGE_REPORT):
        lake.delete(USAGE_REPORT, predicate, metadata=metadata)
    results = accessibility_results(rows)
    record_results(lake, results, BATCH_PREFIX + label)
    return rows


def latest_report(lake, department: str) -> list[dict]:
    """The department's rows of the newest period in ``governance.usage_report`` (by generation time)."""
    if not lake.exists(USAGE_REPORT):
        return []
    rows = lake.read_arrow(USAGE_REPORT, filter=pc.field("department") == department).read_all().to_pylist()
    if not rows:
        return []
    newest = max(rows, key=lambda r: r["generated_at"])["period"]
    return [r for r in rows if r["period"] == newest]

