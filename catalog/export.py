"""数据返还: a theme table returned to a district, masked, with a manifest — ``citylake export``.

``citylake export --district 370102 gold.person`` reads the table as the role ``district:370102``
(:mod:`citylake.catalog.access`): only that district's rows, each column shown, pseudonymised,
masked or left out by its classification. The rows stream from the lake into one Parquet or CSV
file (never a whole table in memory), and ``<file>.manifest.json`` beside it records what was
returned: table and Delta version, district, rows, the file's SHA-256, every source column with its
classification, grade and treatment, the highest grade exported, and when. The export is a read
like any other in ``governance.access_log``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from citylake.catalog.access import HIDDEN, Role, classification, grade, pseudonym_key, treatment
from citylake.catalog.access_log import log_access
from citylake.catalog.sql import QueryRefused, query
from citylake.ingest.governance import now
from citylake.lake.names import TableName

if TYPE_CHECKING:
    from citylake.lake import DeltaRsLake

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class ExportedColumn:
    name: str
    classification: str | None
    grade: int | None
    treatment: str


@dataclass(frozen=True)
class Manifest:
    table: str
    table_version: int
    district: str
    role: str
    format: str
    file: str
    rows: int
    sha256: str
    columns: list[ExportedColumn]
    highest_grade: int | None
    exported_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n"


def export_district(lake: DeltaRsLake, table: str, district: str, output_dir: Path,
                    fmt: str = "parquet") -> Manifest:
    """Write ``table``'s rows of ``district`` (masked) and its manifest under ``output_dir``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: {' or '.join(FORMATS)}")
    name = TableName.parse(table)
    role = Role.parse(f"district:{district}")
    version = lake.version(name)
    outcome, rows = "failed", None
    try:
        try:
            result = query(lake, f"SELECT * FROM {name}", role)
        except QueryRefused:
            outcome = "refused"
            raise
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / f"{name.layer}_{name.name}_{district}.{fmt}"
        partial = path.with_name(path.name + ".partial")
        rows, writer = 0, None
        try:
            for batch in result.batches():
                if fmt == "csv":
                    batch = _csv_ready(batch)
                if writer is None:
                    writer = (pq.ParquetWriter(partial, batch.schema) if fmt == "parquet"
                              else pacsv.CSVWriter(partial, batch.schema))
                writer.write_batch(batch)
                rows += batch.num_rows
            if writer is None:  # no rows: the file still says which columns a return of this table has
                empty = result.relation.limit(0).to_arrow_table()
                if fmt == "csv":
                    empty = pa.Table.from_batches([_csv_ready(b) for b in empty.to_batches()] or [],
                                                  schema=_csv_schema(empty.schema))
                (pq.write_table if fmt == "parquet" else pacsv.write_csv)(empty, partial)
        finally:
            if writer is not None:
                writer.close()
        partial.replace(path)  # a reader never sees half a file under the final name
        key = pseudonym_key() is not None
        columns = []
        for field in lake.schema(name):
            label = classification(name, field)
            columns.append(ExportedColumn(field.name, label, grade(label), treatment(label, field.type, key)))
        grades = [c.grade for c in columns if c.treatment != HIDDEN and c.grade is not None]
        manifest = Manifest(str(name), version, district, str(role), fmt, path.name, rows, _sha256(path), columns,
                            max(grades) if grades else None, now().isoformat())
        path.with_name(path.name + ".manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        outcome = "ok"
        return manifest
    finally:
        log_access(lake, role=str(role), interface="citylake export", tables=[str(name)], rows=rows,
                   query=f"export {name} --district {district} --format {fmt}", outcome=outcome)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_nested(f.type) else f for f in schema])


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV has no lists or structs: a nested value (a findings list, provenance) becomes its JSON text."""
    columns = [pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                         for v in column.to_pylist()], pa.string()) if pa.types.is_nested(column.type) else column
               for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, schema=_csv_schema(batch.schema))
