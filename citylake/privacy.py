"""Which lake columns may show their values outside the data files (个人信息保护).

A Delta log (``_delta_log/*.json``) is plain JSON that catalogs, query engines and anyone who can
list a table read; its per-file min/max statistics would show ID numbers, names and mobiles. The
lake (:mod:`citylake.lake.stats`) asks :class:`LakeStatsPolicy` which columns of a table may have
statistics, and the answer denies by default:

* ``bronze.*``, ``silver.*``, ``quarantine.*`` tables of a registered source table: the lake's
  metadata columns (``_batch_id``, ``_extracted_at`` …); columns mapped to a standard field whose
  sensitivity is not personal (``sensitivity.category`` 非个人信息, e.g. a USCC); and, unmapped, the
  primary key, the update column and columns that are not text (dates, amounts, counts). A text
  column that no standard declares non-personal gets none: department tables hold names and
  addresses in columns nobody mapped. A mapped personal field gets none whatever its type
  (a birth date stored as an integer).
* ``governance.*`` tables: the columns declared below; record keys (which can be ID numbers),
  masked values and free text (dispute reasons, actors) get none.
* any other table: the metadata columns only.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from citylake.lake.names import TableName

# The lake's own columns (ingestion and the gate): batch ids, sources, times, operations, hashes.
METADATA_COLUMNS = frozenset({"_batch_id", "_source", "_extracted_at", "_op", "_row_hash"})
SOURCE_LAYERS = ("bronze", "silver", "quarantine")

GOVERNANCE_STATS_COLUMNS: Mapping[str, frozenset[str]] = {
    "batch_audit": frozenset({
        "batch_id", "stage", "system", "source_table", "target_table", "load_mode", "rows_read", "rows_unchanged",
        "rows_written", "inserted", "updated", "deleted", "live_rows", "watermark_before", "watermark_after",
        "target_version", "started_at", "committed_at"}),
    "watermark": frozenset({"system", "source_table", "update_column", "value", "batch_id", "committed_at"}),
    "source_schema": frozenset({"system", "source_table", "batch_id", "recorded_at"}),
    "schema_drift": frozenset({"system", "source_table", "column", "change", "old_type", "new_type", "batch_id",
                               "detected_at"}),
    "quality_issue": frozenset({
        "issue_id", "department", "system", "source_table", "field", "standard_field", "rule", "severity",
        "batch_id", "detected_at", "status", "resolved_batch_id", "resolved_at", "dispute_stage",
        "dispute_raised_at", "dispute_decided_at"}),
    "rule_result": frozenset({
        "batch_id", "department", "system", "source_table", "check_id", "kind", "indicator_code", "indicator",
        "check_name", "criticality", "standard_field", "evaluated", "failed", "evaluated_at"}),
    "dispute_log": frozenset({"issue_id", "step", "step_no", "at", "status", "department", "system",
                              "source_table"}),
    # The catalog (citylake.catalog.build) holds metadata only.
    "catalog": frozenset({
        "id", "kind", "layer", "name_zh", "description", "owner", "category", "grade", "share_type",
        "share_condition", "open_type", "update_cycle", "row_count", "version", "last_modified", "freshness",
        "quality_score", "fields", "sensitive_fields", "upstream", "downstream", "catalog_built_at"}),
    # The reader's account name is personal; the query is kept only as its hash.
    "access_log": frozenset({"accessed_at", "role", "interface", "rows", "query_sha256", "outcome"}),
    "usage_report": frozenset({
        "period", "period_start", "period_end", "department", "system", "source_table", "read_table", "via", "role",
        "interface", "reads", "rows", "refused", "failed", "distinct_queries", "first_read_at", "last_read_at",
        "generated_at"}),
}


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(
        data_type) or pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type)


def _has_bounds(data_type: pa.DataType) -> bool:
    """Types whose statistics are a min and a max (not lists, maps or structs)."""
    return not pa.types.is_nested(data_type)


class LakeStatsPolicy:
    """The project's stats policy (see the module docstring); a ``citylake.lake.stats.StatsPolicy``.

    The source registry (``$CITYLAKE_SOURCES``) is read on the first source-layer table asked
    about, then kept.
    """

    def __init__(self, registry_dir: str | None = None) -> None:
        self._registry_dir = registry_dir
        self._source_columns: dict[str, tuple[frozenset[str], frozenset[str]]] | None = None

    def __call__(self, table: TableName, schema: pa.Schema) -> list[str]:
        return [field.name for field in schema if self.allows(table, field)]

    def allows(self, table: TableName, field: pa.Field) -> bool:
        """Whether ``field`` of ``table`` may have statistics in the Delta log."""
        if not _has_bounds(field.type):
            return False
        if field.name in METADATA_COLUMNS:
            return True
        if table.layer == "governance":
            return field.name in GOVERNANCE_STATS_COLUMNS.get(table.name, frozenset())
        if table.layer not in SOURCE_LAYERS:
            return False
        declared = self._declared(table.name)
        if declared is None:  # not a registered source table
            return False
        mapped, allowed = declared
        if field.name in mapped:
            return field.name in allowed
        return field.name in allowed or not _is_text(field.type)

    def _declared(self, lake_name: str) -> tuple[frozenset[str], frozenset[str]] | None:
        """(mapped columns, columns declared non-personal) of the source table behind ``lake_name``."""
        if self._source_columns is None:
            self._source_columns = self._load()
        return self._source_columns.get(lake_name)

    def _load(self) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        from citylake.schemas.standards import standard_field
        from citylake.sources.registry import load_registry

        out = {}
        for system in load_registry(self._registry_dir).values():
            for source in system.tables:
                mapped, allowed = set(), set()
                for column, field_name, _role in source.mapped_columns():
                    mapped.add(column)
                    if not standard_field(field_name).sensitivity.personal:
                        allowed.add(column)
                # The key and the update column are the table's own identifiers and times, unless a
                # standard says they are personal (a table keyed by ID number).
                for column in (*source.primary_key, source.update_column):
                    if column and column not in mapped:
                        allowed.add(column)
                out[source.lake_id(system.code)] = (frozenset(mapped), frozenset(allowed))
        return out
