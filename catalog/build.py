"""``citylake catalog build``: the data resource catalog (数据资源目录) of a home, written three ways.

* JSON under ``$CITYLAKE_HOME/catalog/``: ``datasets/<id>.json`` (one per registry and lake table,
  the fields of :mod:`citylake.catalog.entries`, mapped onto OpenLineage, DataHub and Unity Catalog
  in ``docs/catalog_mapping.md``) and ``index.json`` (every entry's summary);
* the lake table ``governance.catalog``: one row per entry, replaced by each build, so the catalog
  can be queried (``citylake sql "SELECT * FROM governance.catalog"``) like any table;
* the static site ``$CITYLAKE_HOME/catalog/site/`` (:mod:`citylake.catalog.site`).

Upstream and downstream come from the lineage the runs recorded
(:func:`citylake.catalog.lineage.table_edges`). The build reads metadata only (Delta logs, schemas,
the governance tables' counts): its cost grows with the number of tables, not their rows.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from citylake.catalog.declarations import declarations
from citylake.catalog.entries import build_entries
from citylake.catalog.lineage import column_lineage, table_edges
from citylake.settings import Home

log = logging.getLogger(__name__)

CATALOG_TABLE = "governance.catalog"
INDEX_FILE = "index.json"
DATASETS_DIR = "datasets"
SUMMARY_KEYS = ("id", "kind", "layer", "name", "name_zh", "description", "owner", "category", "share_type",
                "open_type", "update_cycle", "row_count", "version", "declared")
SCHEMA = pa.schema([
    ("id", pa.string()), ("kind", pa.string()), ("layer", pa.string()), ("name_zh", pa.string()),
    ("description", pa.string()), ("owner", pa.string()), ("category", pa.string()), ("grade", pa.string()),
    ("share_type", pa.string()), ("share_condition", pa.string()), ("open_type", pa.string()),
    ("update_cycle", pa.string()), ("row_count", pa.int64()), ("version", pa.int64()),
    ("last_modified", pa.string()), ("freshness", pa.string()), ("quality_score", pa.float64()),
    ("fields", pa.int32()), ("sensitive_fields", pa.int32()), ("upstream", pa.list_(pa.string())),
    ("downstream", pa.list_(pa.string())), ("catalog_built_at", pa.string()),
])


def dataset_file(dataset_id: str) -> str:
    """``silver.gongan_czrk.json``: ids are ASCII names with dots, safe as file names."""
    return f"{dataset_id}.json"


def lineage_edges(home: Home) -> list[Any]:
    """The lineage edges recorded under ``home`` (:func:`citylake.catalog.lineage.table_edges`)."""
    return table_edges(home)


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    return {"id": entry["id"], "kind": entry["kind"], "layer": entry["layer"], "name_zh": entry["name_zh"],
            "description": entry["description"], "owner": entry["owner"], "category": entry["category"],
            "grade": entry["grade"]["label"], "share_type": entry["share_type"],
            "share_condition": entry["share_condition"], "open_type": entry["open_type"],
            "update_cycle": entry["update_cycle"], "row_count": entry["row_count"], "version": entry["version"],
            "last_modified": entry["freshness"]["last_modified"], "freshness": entry["freshness"]["status"],
            "quality_score": entry["quality"]["score"], "fields": len(entry["fields"]),
            "sensitive_fields": sum(1 for f in entry["fields"] if f["sensitivity"]["grade"]),
            "upstream": entry["upstream"], "downstream": entry["downstream"],
            "catalog_built_at": entry["catalog_built_at"]}


def build_catalog(home: Home | None = None, lake=None, *, now: datetime | None = None,
                  site: bool = True) -> dict[str, Any]:
    """Build the catalog of ``home``: JSON, ``governance.catalog`` and the site; a small summary."""
    from citylake.lake import open_lake

    started = time.perf_counter()
    home = home or Home.from_env()
    lake = lake or open_lake(home.lake)
    now = now or datetime.now(UTC)
    decl = declarations()
    edges = lineage_edges(home)
    def columns(table: str) -> dict:
        return column_lineage(home, table)

    entries = build_entries(lake, decl, edges, now=now, column_lineage=columns)
    version = lake.write_arrow(CATALOG_TABLE, pa.Table.from_pylist([_row(e) for e in entries], schema=SCHEMA),
                               mode="overwrite", schema_mode="overwrite",
                               metadata={"catalog_job": "citylake catalog build", "entries": len(entries)})
    if not any(e["id"] == CATALOG_TABLE for e in entries):
        # The first build creates the table it describes: its entry joins the JSON now, the table next build.
        entries += build_entries(lake, decl, edges, now=now, tables=[CATALOG_TABLE], sources=False,
                                 column_lineage=columns)
    out = home.catalog
    datasets = out / DATASETS_DIR
    datasets.mkdir(parents=True, exist_ok=True)
    wanted = {dataset_file(e["id"]) for e in entries}
    for stale in datasets.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for entry in entries:
        _write_json(datasets / dataset_file(entry["id"]), entry)
    undeclared = [e["id"] for e in entries if not e["declared"]]
    index = {"catalog_built_at": entries[0]["catalog_built_at"] if entries else None,
             "datasets": [{**{k: e[k] for k in SUMMARY_KEYS}, "grade": e["grade"]["label"],
                           "freshness": e["freshness"]["status"], "quality_score": e["quality"]["score"],
                           "file": f"{DATASETS_DIR}/{dataset_file(e['id'])}"} for e in entries],
             "lineage_edges": len(edges), "undeclared": undeclared, "table": CATALOG_TABLE, "table_version": version}
    _write_json(out / INDEX_FILE, index)
    site_index = None
    if site:
        from citylake.catalog.site import render_site

        site_index = render_site(entries, out / "site", now=now)
    if undeclared:
        log.warning("catalog: %d lake table(s) have no name or description in catalog/catalog.yaml: %s",
                    len(undeclared), ", ".join(undeclared))
    seconds = time.perf_counter() - started
    log.info("catalog: %d entries, %d lineage edges in %.1f s -> %s", len(entries), len(edges), seconds, out)
    return {"entries": len(entries), "source_tables": sum(e["kind"] == "source_table" for e in entries),
            "lake_tables": sum(e["kind"] == "lake_table" for e in entries), "lineage_edges": len(edges),
            "undeclared": undeclared, "index": str(out / INDEX_FILE), "site": str(site_index) if site_index else None,
            "table_version": version, "seconds": round(seconds, 2)}


def _write_json(path: Path, document: Any) -> None:
    # Written beside and renamed: a reader (the site, a catalog's loader) never sees half a file.
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    partial.replace(path)
