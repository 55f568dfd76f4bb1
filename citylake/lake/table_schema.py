"""Schema conversions between Delta, Arrow and Spark, and the schema checks done before a commit.

Delta's type system is the reference: an Arrow or Spark schema is compared with a table by
converting it to a Delta schema first, so that e.g. Arrow ``large_string`` and ``string`` or list
field names ("item" vs "element") do not count as differences. Nullability is not compared:
lake tables written by Spark are created with nullable columns and the quality gate, not the
storage layer, decides which nulls are acceptable.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import DeltaTable
from deltalake import Schema as DeltaSchema

from citylake.lake.errors import SchemaMismatchError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

# Keys of Delta's schema JSON that describe nullability or comments, not the type.
_NOT_TYPE_KEYS = {"nullable", "containsNull", "valueContainsNull", "metadata"}


def arrow_schema_of(table: DeltaTable) -> pa.Schema:
    """The table's schema as a pyarrow schema (delta-rs returns an arro3 schema)."""
    return pa.schema(table.schema().to_arrow())


def _type_only(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _type_only(value) for key, value in node.items() if key not in _NOT_TYPE_KEYS}
    if isinstance(node, list):
        return [_type_only(item) for item in node]
    return node


def column_types(schema: DeltaSchema) -> dict[str, Any]:
    """Column name → Delta type (JSON form, without nullability) of a Delta schema."""
    fields = json.loads(schema.to_json())["fields"]
    return {field["name"]: _type_only(field["type"]) for field in fields}


def check_same_columns(table: str, expected: DeltaSchema, actual: DeltaSchema) -> None:
    """Raise :class:`SchemaMismatchError` unless both schemas have the same columns and types.

    Column order may differ: Delta readers resolve Parquet columns by name.
    """
    want, got = column_types(expected), column_types(actual)
    if want == got:
        return
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(name for name in set(want) & set(got) if want[name] != got[name])
    details = []
    if missing:
        details.append(f"missing columns {missing}")
    if extra:
        details.append(f"extra columns {extra}")
    for name in changed:
        details.append(f"column {name!r} is {got[name]}, table has {want[name]}")
    raise SchemaMismatchError(
        f"data does not match the schema of {table}: " + "; ".join(details)
        + ". Cast or select columns to the table's schema first."
    )


def spark_to_arrow_schema(schema: StructType) -> pa.Schema:
    """Arrow schema of a Spark schema, as Delta will store it; every column nullable.

    Spark ``TimestampType`` (an instant) becomes ``timestamp[us, tz=UTC]`` = Delta ``timestamp``;
    ``TimestampNTZType`` becomes ``timestamp[us]`` = Delta ``timestamp_ntz``.
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow = to_arrow_schema(
        schema, error_on_duplicated_field_names_in_struct=True, timestamp_utc=True
    )
    return pa.schema([field.with_nullable(True) for field in arrow])


def arrow_to_spark_schema(schema: pa.Schema) -> StructType:
    """Spark schema of an Arrow schema read from a Delta table (``timestamp_ntz`` stays NTZ)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema, prefer_timestamp_ntz=True)
