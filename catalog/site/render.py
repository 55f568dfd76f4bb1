"""Render the catalog site from the catalog's entries (:mod:`citylake.catalog.entries`).

``index.html`` lists every dataset by layer and carries the search index (id, names, owner, grade
and field names of each dataset, as JSON in a ``<script type="application/json">``) with a few
lines of script that filter it as one types; ``?q=`` searches on opening. ``datasets/<id>.html``
shows one dataset and its lineage graph: upstream nodes on the left, the dataset in the middle,
downstream on the right, drawn as inline SVG here (no script, no library). Jinja2 autoescapes every
value; only the SVG made from the escaped ``lineage.html`` template and the JSON (with ``<`` escaped,
so no text can close the script element) go in as markup.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from citylake.quality.report.render import local_time

TEMPLATES = Path(__file__).parent
LAYER_TITLES = {"source_table": "部门源表", "bronze": "贴源层 bronze", "silver": "标准层 silver",
                "quarantine": "隔离区 quarantine", "gold": "基础库与专题库 gold", "governance": "治理层 governance",
                "state": "作业状态 state"}
KIND_NAMES = {"source_table": "部门源表", "lake_table": "湖表"}
NODE_WIDTH, NODE_HEIGHT, ROW, COLUMN_GAP = 250, 42, 54, 90


def _percent(value: float | None) -> str:
    return "未评价" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["percent"] = _percent
    env.filters["thousands"] = lambda n: "—" if n is None else f"{int(n):,}"
    env.filters["freshness_class"] = lambda s: {"及时": "fresh", "超期": "stale"}.get(s, "")
    return env


def page_name(dataset_id: str) -> str:
    return f"{dataset_id}.html"


def _node(dataset_id: str, names: dict[str, str], role: str, x: int, y: int) -> dict[str, Any]:
    known = dataset_id in names
    return {"id": dataset_id, "label": names.get(dataset_id, dataset_id), "role": role, "x": x, "y": y,
            "href": page_name(dataset_id) if known else None,
            "fill": "#dbe7f3" if role == "self" else "#ffffff"}


def lineage_svg(entry: dict[str, Any], names: dict[str, str]) -> Markup:
    """The dataset between its upstream (left) and downstream (right) datasets, as inline SVG."""
    up, down = entry["upstream"], entry["downstream"]
    rows = max(len(up), len(down), 1)
    height = rows * ROW + 10
    columns = [10, 10 + NODE_WIDTH + COLUMN_GAP, 10 + 2 * (NODE_WIDTH + COLUMN_GAP)]
    width = columns[2] + NODE_WIDTH + 10

    def top(i: int, count: int) -> int:
        return int(5 + (height - 10 - count * ROW) / 2 + i * ROW + (ROW - NODE_HEIGHT) / 2)

    me = _node(entry["id"], names, "self", columns[1], top(0, 1))
    nodes = [me, *[_node(d, names, "upstream", columns[0], top(i, len(up))) for i, d in enumerate(up)],
             *[_node(d, names, "downstream", columns[2], top(i, len(down))) for i, d in enumerate(down)]]
    middle = NODE_HEIGHT // 2
    edges = [{"x1": n["x"] + NODE_WIDTH, "y1": n["y"] + middle, "x2": me["x"] - 2, "y2": me["y"] + middle}
             for n in nodes if n["role"] == "upstream"]
    edges += [{"x1": me["x"] + NODE_WIDTH, "y1": me["y"] + middle, "x2": n["x"] - 2, "y2": n["y"] + middle}
              for n in nodes if n["role"] == "downstream"]
    html = environment().get_template("lineage.html").render(
        width=width, height=height, nodes=nodes, edges=edges, node_width=NODE_WIDTH, node_height=NODE_HEIGHT)
    return Markup(html)


def _search_text(entry: dict[str, Any]) -> str:
    parts = [entry["id"], entry["name"], entry["name_zh"], entry["description"], entry["owner"], entry["category"],
             entry["grade"]["label"], *(f["name"] for f in entry["fields"]),
             *(f["name_zh"] or "" for f in entry["fields"])]
    return " ".join(p for p in parts if p).lower()


def _json_markup(document: Any) -> Markup:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render_site(entries: list[dict[str, Any]], out_dir: Path, *, now: datetime | None = None) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/datasets/<id>.html``; the index's path."""
    env = environment()
    when = now or datetime.now(UTC)
    common = {"built_iso": when.isoformat(timespec="seconds"), "built_text": local_time(when)}
    names = {e["id"]: e["name_zh"] for e in entries}
    pages = out_dir / "datasets"
    if pages.exists():
        shutil.rmtree(pages)
    pages.mkdir(parents=True)
    for entry in entries:
        last = entry["freshness"]["last_modified"]
        view = {**entry, "kind_zh": KIND_NAMES[entry["kind"]],
                "freshness": {**entry["freshness"], "last_modified_text": local_time(last) if last else ""},
                "upstream_nodes": [_node(d, names, "upstream", 0, 0) for d in entry["upstream"]],
                "downstream_nodes": [_node(d, names, "downstream", 0, 0) for d in entry["downstream"]]}
        html = env.get_template("dataset.html").render(e=view, graph=lineage_svg(entry, names), **common)
        (pages / page_name(entry["id"])).write_text(html, encoding="utf-8")
    groups = []
    for key, title in LAYER_TITLES.items():
        members = [e for e in entries if (e["layer"] or e["kind"]) == key]
        if members:
            groups.append({"key": key, "title": title,
                           "entries": [{**e, "href": f"datasets/{page_name(e['id'])}"} for e in members]})
    index = [{"id": e["id"], "name_zh": e["name_zh"], "owner": e["owner"], "grade": e["grade"]["label"],
              "href": f"datasets/{page_name(e['id'])}", "text": _search_text(e)} for e in entries]
    counts = {"source_table": sum(e["kind"] == "source_table" for e in entries),
              "lake_table": sum(e["kind"] == "lake_table" for e in entries)}
    html = env.get_template("index.html").render(groups=groups, search_index=_json_markup(index), counts=counts,
                                                  owners=sorted({e["owner"] for e in entries}), **common)
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
