"""One catalog entry (数据资源目录条目) per registry table and per lake table, as plain JSON-ready dicts.

Every table comes from where it is defined, never from a list kept here: registry tables from
:func:`citylake.sources.registry.load_registry`, lake tables from the lake itself
(``list_tables``). What an entry says comes from where it is already known:

* names and descriptions — the registry (a source table and its bronze/silver/quarantine tables),
  the gold specs (``jobs/<library>/tables/``), ``catalog/catalog.yaml`` (governance and state tables);
* each field's classification, sensitivity and what an analyst sees of it —
  :mod:`citylake.catalog.access` (the registry's mapping to ``schemas/standards/``, the gold specs'
  ``classification``, the governance columns of :mod:`citylake.privacy`);
* grade — GB/T 43697: 一般数据 at the sub-level of the most sensitive field, unless
  ``catalog/catalog.yaml`` declares 重要数据 or 核心数据 (never below what the fields make it);
* share type, open type, update cycle, category — :mod:`citylake.catalog.declarations`;
* row count, Delta version, last commit — the Delta log; a source table's from its latest
  extraction (``governance.batch_audit``: rows in the source, commit time);
* quality — :mod:`citylake.quality.assessment` (the table's GB/T 36344 indicator scores);
* upstream and downstream — the lineage edges given by the caller
  (:func:`citylake.catalog.lineage.table_edges`).

The field names of an entry are mapped onto OpenLineage, DataHub and Unity Catalog in
``docs/catalog_mapping.md``. No entry holds a value of a table: metadata only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from citylake.catalog.access import MASKED, PSEUDONYMISED, PUBLIC, SHOWN, classification, treatment
from citylake.catalog.declarations import (
    GENERAL,
    GRADES,
    OPEN_TYPES,
    SHARE_TYPES,
    UPDATE_CYCLES,
    CatalogConfigError,
    Declarations,
    check_sources,
    schedule_cycle,
)
from citylake.lake.names import TableName
from citylake.lineage.naming import job_namespace
from citylake.privacy import METADATA_COLUMNS, SOURCE_LAYERS
from citylake.schemas.standards import NON_PERSONAL as NON_PERSONAL_CATEGORY

SOURCE_KIND, LAKE_KIND = "source_table", "lake_table"
NOT_EVALUATED = "未评价"
FRESH, STALE, NO_DATA, NO_CYCLE = "及时", "超期", "无数据", "不定期"
UNCLASSIFIED = "未分类"
# Chinese names of the lake's own columns (ingestion and the gate).
METADATA_NAMES = {"_batch_id": "抽取批次", "_source": "来源", "_extracted_at": "抽取时间", "_op": "变更类型",
                  "_row_hash": "行哈希", "_unconverted": "未转换原值", "_errors": "错误", "_warnings": "警告"}
ANALYST_VIEWS = {SHOWN: "明文", PSEUDONYMISED: "假名化", MASKED: "脱敏", "hidden": "不可见"}


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else None


def _field(table: TableName, field: pa.Field, name_zh: str | None, description: str | None,
           sources: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    from citylake.schemas.standards import standard_field

    label = classification(table, field)
    sensitivity = {"category": NON_PERSONAL_CATEGORY if label == PUBLIC else UNCLASSIFIED, "grade": None}
    standard = None
    if label not in (None, PUBLIC):
        standard = standard_field(label.partition("@")[0])
        sensitivity = {"category": standard.sensitivity.category, "grade": standard.sensitivity.grade}
        name_zh = name_zh or standard.name_zh
    return {"name": field.name, "type": str(field.type), "name_zh": name_zh or METADATA_NAMES.get(field.name),
            "description": description or (standard.description if standard else None),
            "classification": label, "standard": standard.standard if standard else None,
            "sensitivity": sensitivity,
            "analyst_view": ANALYST_VIEWS[treatment(label, field.type, key_available=True)],
            "upstream": sorted(f"{dataset}.{column}" for dataset, column in sources)}


def _grade(fields: Sequence[dict[str, Any]], declared: str | None, basis: str | None) -> dict[str, Any]:
    """一般数据 N级 from the fields (N = the highest field grade, 1 when none is personal), or the declared grade."""
    graded = [(f["sensitivity"]["grade"], f["name"]) for f in fields if f["sensitivity"]["grade"]]
    level, field = max(graded) if graded else (1, None)
    derived = f"最高敏感字段 {field} (敏感级别 {level})" if field else "无个人信息字段"
    if declared and GRADES.index(declared) > 0:
        return {"level": declared, "sub_level": None, "label": declared, "basis": basis}
    return {"level": GENERAL, "sub_level": level, "label": f"{GENERAL}{level}级", "basis": derived}


def _check_sharing(where: str, fields: Sequence[dict[str, Any]], share_type: str, open_type: str) -> None:
    """A table holding personal (or unclassified) fields is neither shared nor opened unconditionally."""
    personal = [f["name"] for f in fields if f["sensitivity"]["category"] != NON_PERSONAL_CATEGORY]
    if personal and (share_type == SHARE_TYPES[0] or open_type != OPEN_TYPES[-1]):
        raise CatalogConfigError(f"catalog/catalog.yaml: {where} holds personal or unclassified fields "
                                 f"({', '.join(personal[:5])}) and cannot be {share_type}/{open_type}: "
                                 f"declare {SHARE_TYPES[1]} or {SHARE_TYPES[2]} and {OPEN_TYPES[-1]}")


def _freshness(last: datetime | None, cycle: str, now: datetime) -> dict[str, Any]:
    limit = UPDATE_CYCLES[cycle]
    age = (now - last).total_seconds() / 86400 if last else None
    status = NO_DATA if last is None else NO_CYCLE if limit is None else FRESH if age <= limit else STALE
    return {"status": status, "last_modified": _iso(last), "age_days": round(age, 3) if age is not None else None,
            "max_age_days": limit, "update_cycle": cycle}


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)


def quality_scores(lake) -> dict[str, dict[str, Any]]:
    """The GB/T 36344 scores of each registry table's state (``gongan.CZRK`` -> score, indicators, batch)."""
    from citylake.quality import assessment

    wide = assessment.wide(assessment.table_scores(lake))
    names = assessment.indicator_names()
    out = {}
    for row in wide.to_dict("records"):
        score = _number(row[assessment.OVERALL])
        out[row["source_table"]] = {
            "score": score, "status": NOT_EVALUATED if score is None else assessment.EVALUATED,
            "indicators": {n: _number(row[n]) for n in names}, "batch_id": row["batch_id"],
            "evaluated_at": _iso(row["evaluated_at"].to_pydatetime()) if row.get("evaluated_at") is not None else None}
    return out


def _no_quality() -> dict[str, Any]:
    return {"score": None, "status": NOT_EVALUATED, "indicators": {}, "batch_id": None, "evaluated_at": None}


def _extractions(lake) -> dict[str, dict[str, Any]]:
    """The latest extraction audit of each bronze table (rows in the source, commit time)."""
    from citylake.ingest.governance import BATCH_AUDIT

    if not lake.exists(BATCH_AUDIT):
        return {}
    rows = lake.read_arrow(BATCH_AUDIT, columns=["stage", "target_table", "live_rows", "committed_at"]).read_all()
    latest: dict[str, dict[str, Any]] = {}
    for row in rows.to_pylist():
        if row["stage"] == "extract" and (row["target_table"] not in latest
                                          or row["committed_at"] > latest[row["target_table"]]["committed_at"]):
            latest[row["target_table"]] = row
    return latest


def lineage_maps(edges: Iterable[Any]) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """upstream, downstream (dataset id -> dataset ids) and producers (dataset id -> jobs) of ``edges``."""
    upstream: dict[str, set[str]] = {}
    downstream: dict[str, set[str]] = {}
    producers: dict[str, set[str]] = {}
    for edge in edges:
        for output in edge.outputs:
            producers.setdefault(output, set()).add(edge.job)
            for source in edge.inputs:
                if source != output:
                    upstream.setdefault(output, set()).add(source)
                    downstream.setdefault(source, set()).add(output)
    return upstream, downstream, producers


def build_entries(lake, decl: Declarations, edges: Iterable[Any] = (), *, registry: Mapping | None = None,
                  now: datetime | None = None, tables: Sequence[str] | None = None, sources: bool = True,
                  column_lineage: Callable[[str], Mapping[str, Sequence[tuple[str, str]]]] | None = None,
                  ) -> list[dict[str, Any]]:
    """Entries of every registry table (unless ``sources`` is false) and every lake table (``tables``:
    the lake's, by default), sorted by id within each kind. ``column_lineage(table)`` gives a lake
    table's columns -> their input (table, column) pairs (:func:`citylake.catalog.lineage.column_lineage`)."""
    from citylake.jobs.spec import all_gold_specs
    from citylake.sources.registry import load_registry

    registry = load_registry() if registry is None else registry
    now = now or datetime.now(UTC)
    by_lake_name = {t.lake_id(code): (system, t) for code, system in registry.items() for t in system.tables}
    check_sources(decl, {f"{code}.{t.name}" for code, system in registry.items() for t in system.tables})
    specs = all_gold_specs()
    extractions = _extractions(lake)
    quality = quality_scores(lake)
    upstream, downstream, producers = lineage_maps(edges)
    built = _iso(now)
    # A catalog id is the symlink every citylake OpenLineage dataset carries, in the job namespace.
    namespace = job_namespace()

    def lineage(dataset: str) -> dict[str, Any]:
        return {"upstream": sorted(upstream.get(dataset, ())), "downstream": sorted(downstream.get(dataset, ())),
                "producers": sorted(producers.get(dataset, ()))}

    entries = []
    for code, system in sorted(registry.items()) if sources else ():
        for source in system.tables:
            dataset = f"{code}.{source.name}"
            bronze = TableName.parse(source.bronze_name(code))
            where = f"sources.tables.{dataset}"
            resolved = decl.resolve(where, decl.sources.get(dataset, {}), decl.source_defaults,
                                    default_cycle=schedule_cycle(system.schedule))
            schema = lake.schema(bronze) if lake.exists(bronze) else pa.schema(
                [pa.field(c, pa.string()) for c in [*source.primary_key, *source.columns]])
            fields = [_field(bronze, f, None, None) for f in schema if f.name not in METADATA_COLUMNS
                      and not f.name.startswith("_")]
            _check_sharing(where, fields, resolved.share_type, resolved.open_type)
            extraction = extractions.get(str(bronze))
            last = extraction["committed_at"] if extraction else None
            entries.append({
                "id": dataset, "kind": SOURCE_KIND, "namespace": namespace,
                "layer": None, "name": source.name, "name_zh": source.description,
                "description": f"{system.name_zh} {source.name}: {source.description}",
                "owner": system.owner, "system": {"code": code, "name_zh": system.name_zh,
                                                  "connection": system.connection, "schedule": system.schedule},
                "category": resolved.category, "grade": _grade(fields, resolved.grade, resolved.grade_basis),
                "share_type": resolved.share_type, "share_condition": resolved.share_condition,
                "open_type": resolved.open_type, "update_cycle": resolved.update_cycle,
                "primary_key": list(source.primary_key), "fields": fields,
                "row_count": extraction["live_rows"] if extraction else None, "version": None,
                "location": system.connection, "format": "sql", "freshness": _freshness(last, resolved.update_cycle, now),
                "quality": quality.get(dataset, _no_quality()), **lineage(dataset), "catalog_built_at": built})
    for table in sorted(lake.list_tables() if tables is None else tables):
        name = TableName.parse(table)
        layer = decl.layer(name.layer)
        own = decl.tables.get(table, {})
        spec = specs.get(table)
        source = by_lake_name.get(name.name) if name.layer in SOURCE_LAYERS else None
        where = f"tables.{table}"
        if source:
            system, source_table = source
            dataset = f"{system.code}.{source_table.name}"
            resolved = decl.resolve(where, own, layer, decl.sources.get(dataset, {}), decl.source_defaults,
                                    default_cycle=schedule_cycle(system.schedule))
            name_zh = f"{source_table.description}（{layer['name_zh']}）"
            description = f"{layer['description']}: {system.name_zh} {source_table.name} {source_table.description}"
            owner, key = system.owner, list(source_table.primary_key)
            quality_of = quality.get(dataset, _no_quality())
        else:
            resolved = decl.resolve(where, own, layer)
            name_zh = spec.name_zh if spec else resolved.name_zh
            description = spec.description if spec else resolved.description
            owner, key = decl.bureau, list(spec.key) if spec else []
            quality_of = _no_quality()
        columns = {c.name: c for c in spec.columns} if spec else {}
        schema = lake.schema(name)
        inputs = column_lineage(table) if column_lineage else {}
        fields = [_field(name, f, getattr(columns.get(f.name), "name_zh", None),
                         getattr(columns.get(f.name), "description", None), inputs.get(f.name, ())) for f in schema]
        _check_sharing(where, fields, resolved.share_type, resolved.open_type)
        delta = lake.delta_table(name)
        history = delta.history(1)
        last = datetime.fromtimestamp(history[0]["timestamp"] / 1000, UTC) if history else None
        entries.append({
            "id": table, "kind": LAKE_KIND, "namespace": namespace,
            "layer": name.layer, "name": name.name, "name_zh": name_zh or table,
            "description": description or "", "declared": bool(name_zh and description),
            "owner": owner, "system": ({"code": source[0].code, "name_zh": source[0].name_zh,
                                        "connection": source[0].connection, "schedule": source[0].schedule}
                                       if source else None),
            "category": resolved.category, "grade": _grade(fields, resolved.grade, resolved.grade_basis),
            "share_type": resolved.share_type, "share_condition": resolved.share_condition,
            "open_type": resolved.open_type, "update_cycle": resolved.update_cycle,
            "primary_key": key, "fields": fields, "row_count": lake.row_count(name), "version": delta.version(),
            "location": lake.table_uri(name), "format": "delta",
            "freshness": _freshness(last, resolved.update_cycle, now), "quality": quality_of, **lineage(table),
            "catalog_built_at": built})
    for entry in entries:
        entry.setdefault("declared", True)
    return entries
