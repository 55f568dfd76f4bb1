"""Person-bearing records (item 2 of the population library): every silver and quarantined record
of every registry table that maps ``person.*`` (or ``party.*``) fields, one row per (record, role).

The tables and roles come from the source registry (``sources/systems/*.yaml``), not from a list:
a marriage record gives a husband and a wife, a birth certificate a subject (the child), a mother
and a father, a pupil a guardian, an enterprise a legal representative. ``party.*`` tables (不动产
权利人) hold persons and organisations; a party is a person when its ID number is a valid GB 11643
number, so an organisation (USCC) never becomes a person and a party with a broken ID is left out.
Quarantined rows take part with their raw values standardised here: a broken ID number is what
linkage is for, and a bad phone number must not drop a person.

The contract with :mod:`citylake.jobs.person.linkage` — the frame :func:`person_records` returns:

``record_id``      ``<system>.<TABLE>:<record key>#<role>``; a record's silver row and its
                   quarantined versions share it, and the builds keep one, the current
                   (citylake.jobs.source_records.current)
``system``, ``source_table`` (``<system>.<TABLE>``), ``record_key``, ``role``
``layer``          ``silver`` or ``quarantine``
``batch_id``       the gate batch that put the row in its layer (``_batch_id``)
``id_number_raw``  the ID number as the layer holds it (silver: standardised; quarantine: as written)
``id_number``      normalised 18-digit ID (15-digit upgraded, full-width, lowercase x and spaces
                   fixed) when valid by GB 11643, else NULL
``name``           trimmed, simplified characters; ``sex`` GB/T 2261.1 code; ``birth_date`` date;
``ethnicity``      GB/T 3304 code; ``address`` text; ``phone`` 11-digit mobile — NULL when missing
                   or invalid
``updated_at``     the source's update time of the record (NULL for snapshot tables)
``attributes``     map<string, string>: the department columns of ``jobs/person/attributes.yaml``
                   (household number, death date, employer …) for this table and role
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from citylake.jobs import source_records
from citylake.sources.registry import SourceSystem, SourceTable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

ATTRIBUTES_FILE = Path(__file__).with_name("attributes.yaml")
PERSON_ENTITIES = ("person", "party")
# Standard field (without entity) -> column of the records frame.
FIELDS = {"id_number": "id_number", "name": "name", "sex": "sex", "birth_date": "birth_date",
          "ethnicity": "ethnicity", "mobile": "phone"}
RECORD_COLUMNS = ("record_id", "system", "source_table", "record_key", "role", "layer", "batch_id",
                  "id_number_raw", "id_number", "name", "sex", "birth_date", "ethnicity", "address", "phone",
                  "updated_at", "attributes")


class AttributesError(ValueError):
    """jobs/person/attributes.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class PersonRole:
    """One role of a person-bearing table: which department column holds which standard field."""

    system: SourceSystem
    table: SourceTable
    role: str
    columns: Mapping[str, str]  # records column (id_number, name …, address) -> department column
    party: bool  # the role holds persons and organisations (party.*)
    attributes: Mapping[str, str]  # extra attribute -> department column

    @property
    def source_table(self) -> str:
        return f"{self.system.code}.{self.table.name}"


def table_roles(system: SourceSystem, table: SourceTable) -> dict[str, dict[str, str]]:
    """role -> {records column: department column} for the person (or party) fields of a table."""
    roles: dict[str, dict[str, str]] = {}
    for column, standard, role in table.mapped_columns():
        entity, _, name = standard.partition(".")
        if entity in PERSON_ENTITIES and name in FIELDS:
            roles.setdefault(role, {})[FIELDS[name]] = column
    # An address.text of the table belongs to its subject (the registry maps it without a role).
    for column, standard, role in table.mapped_columns():
        if standard == "address.text" and role in roles:
            roles[role]["address"] = column
    return {role: cols for role, cols in roles.items() if "id_number" in cols or "name" in cols}


def load_attributes(registry: Mapping[str, SourceSystem], path: Path = ATTRIBUTES_FILE
                    ) -> dict[tuple[str, str], dict[str, str]]:
    """(source table, role) -> {attribute: department column}, validated against the registry."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AttributesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"tables"} or not isinstance(doc["tables"], dict):
        raise AttributesError(f"{path}: expected a mapping with one entry 'tables'")
    out: dict[tuple[str, str], dict[str, str]] = {}
    for source_table, roles in doc["tables"].items():
        where = f"{path}: tables.{source_table}"
        code, _, name = str(source_table).partition(".")
        if code not in registry or name not in {t.name for t in registry[code].tables}:
            raise AttributesError(f"{where}: no such table in the source registry")
        known = table_roles(registry[code], registry[code].table(name))
        if not known:
            raise AttributesError(f"{where}: the table maps no person field")
        if not isinstance(roles, dict):
            raise AttributesError(f"{where}: expected role -> {{attribute: column}}")
        for role, columns in roles.items():
            if role not in known:
                raise AttributesError(f"{where}.{role}: the table has no role '{role}' (it has {sorted(known)})")
            if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                        for k, v in columns.items()):
                raise AttributesError(f"{where}.{role}: expected attribute: column pairs")
            out[(source_table, role)] = dict(columns)
    return out


def person_roles(registry: Mapping[str, SourceSystem], path: Path = ATTRIBUTES_FILE) -> list[PersonRole]:
    """Every person-bearing (table, role) of the registry, in registry order."""
    attributes = load_attributes(registry, path)
    out = []
    for system in registry.values():
        for table in system.tables:
            party = any(s.startswith("party.") for _, s, _ in table.mapped_columns())
            for role, columns in table_roles(system, table).items():
                out.append(PersonRole(system, table, role, columns, party,
                                      attributes.get((f"{system.code}.{table.name}", role), {})))
    return out


# ------------------------------------------------------------------------------ standardisation
# Values of the silver layer are standardised by the gate already (names may still hold traditional
# characters, which the gate only reports); quarantined values and parties are as the department
# wrote them. One pandas UDF standardises every column of the union at once, each distinct value once.

_RAW = ("id_number", "name", "sex", "birth_date", "ethnicity", "phone", "address")
_KIND = {"id_number": "id_number", "sex": "sex", "birth_date": "date", "ethnicity": "ethnicity",
         "phone": "mobile", "address": "text"}


def _valid_or_null(kind: str, uniques: list) -> dict:
    """Distinct raw value -> its standardised value, None where invalid."""
    from citylake.schemas.standards import VALIDATORS

    validate = VALIDATORS[kind]
    out = {}
    for raw in uniques:
        verdict = validate(raw)
        out[raw] = verdict.value if verdict.ok else None
    return out


def standardise_batch(frame: pd.DataFrame) -> pd.DataFrame:
    """The standardised values of one batch of raw rows (``raw_<field>`` columns, ``trusted``: the
    row's values came through the gate and only its name needs simplifying)."""
    from citylake.schemas.simplified import to_simplified
    from citylake.schemas.validators import normalise_text

    trusted = frame["trusted"].to_numpy(dtype=bool)
    out = {}
    for name in _RAW:
        values = frame[f"raw_{name}"]
        if name == "name":
            uniques = values.dropna().unique().tolist()
            compact = {u: normalise_text(u) for u in uniques}
            present = sorted({c for c in compact.values() if c})
            # As silver does (citylake.schemas.simplified): only characters judged traditional.
            simple = {c: to_simplified(c) for c in present}
            mapping = {u: simple.get(c) if c else None for u, c in compact.items()}
            out[name] = values.map(mapping)
            continue
        untrusted = values[~trusted]
        mapping = _valid_or_null(_KIND[name], untrusted.dropna().unique().tolist())
        standardised = values.copy()
        standardised[~trusted] = untrusted.map(mapping)
        if name == "id_number":
            # A trusted ID (silver) is standardised and valid, or absent.
            standardised[trusted] = values[trusted].where(values[trusted].str.fullmatch(r"\d{17}[\dX]") == True)  # noqa: E712
        out[name] = standardised
    return pd.DataFrame({k: v.astype(object).where(v.notna(), None) for k, v in out.items()})


def _standardise(frame: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(", ".join(f"{n} string" for n in _RAW))
    def standardise(raw: pd.DataFrame) -> pd.DataFrame:
        return standardise_batch(raw)

    args = F.struct(*[F.col(f"raw_{n}") for n in _RAW], F.col("trusted"))
    std = frame.withColumn("_std", standardise(args))
    return std.select(
        "record_id", "system", "source_table", "record_key", "role", "layer", "batch_id",
        F.col("raw_id_number").alias("id_number_raw"), F.col("_std.id_number").alias("id_number"),
        F.col("_std.name").alias("name"), F.col("_std.sex").alias("sex"),
        F.col("_std.birth_date").try_cast("date").alias("birth_date"), F.col("_std.ethnicity").alias("ethnicity"),
        F.col("_std.address").alias("address"), F.col("_std.phone").alias("phone"), "updated_at", "attributes",
        "party")


# ------------------------------------------------------------------------------ the frame

def _role_frame(frame: DataFrame, role: PersonRole, layer: str) -> DataFrame:
    """The role's raw values (strings) from one layer of its table, ready for :func:`_standardise`."""
    from pyspark.sql import functions as F

    available = set(frame.columns)
    missing = sorted((set(role.columns.values()) | set(role.attributes.values())) - available)
    if missing:
        raise KeyError(f"{layer}.{role.table.lake_id(role.system.code)} lacks the columns {missing} "
                       f"(registry {role.system.path} or jobs/person/attributes.yaml)")

    types = dict(frame.dtypes)

    def text(name: str) -> Column:
        column = role.columns.get(name)
        if not column:
            return F.lit(None).cast("string")
        if _KIND.get(name) == "date" and types[column] in ("timestamp", "timestamp_ntz"):
            # A birth time (卫健 CSSJ) is a birth date: its text with the time would not parse as one.
            return F.to_date(F.col(column)).cast("string")
        return F.col(column).cast("string")

    out = frame.select(
        *source_records.provenance(role, layer), *[text(n).alias(f"raw_{n}") for n in _RAW],
        F.lit(layer == "silver" and not role.party).alias("trusted"), F.lit(role.party).alias("party"),
        source_records.updated_at(role.table), source_records.attributes(role))
    # A role left empty on the record (a birth certificate without a father) is no person.
    return out.where(F.col("raw_id_number").isNotNull() | F.col("raw_name").isNotNull())


def layer_tables(roles: list[PersonRole]) -> dict[str, list[PersonRole]]:
    """``<layer>.<system>_<table>`` -> its roles, for every layer table the records come from."""
    out: dict[str, list[PersonRole]] = {}
    for role in roles:
        for layer in ("silver", "quarantine"):
            out.setdefault(f"{layer}.{role.table.lake_id(role.system.code)}", []).append(role)
    return out


def source_tables(registry: Mapping[str, SourceSystem], attributes: Path = ATTRIBUTES_FILE) -> list[str]:
    """The layer tables the person build reads (what the gold specs' ``sources`` refer to by this module)."""
    return sorted(layer_tables(person_roles(registry, attributes)))


def table_versions(lake, registry: Mapping[str, SourceSystem], attributes: Path = ATTRIBUTES_FILE
                   ) -> dict[str, int]:
    """The current version of every existing layer table the records come from: read them at these
    versions, and a later build knows what changed since."""
    return {t: lake.version(t) for t in layer_tables(person_roles(registry, attributes)) if lake.exists(t)}


def role_frames(frame: DataFrame, table: str, roles: list[PersonRole]) -> list[DataFrame]:
    """The raw role rows (see :func:`_role_frame`) of one layer table's rows."""
    layer = table.partition(".")[0]
    return [_role_frame(frame, role, layer) for role in roles]


def standardised(spark: SparkSession, raw: list[DataFrame]) -> DataFrame:
    """The person-bearing records (see the module doc) of raw role frames."""
    from pyspark.sql import functions as F

    if not raw:
        return spark.createDataFrame([], records_schema())
    union = reduce(lambda a, b: a.unionByName(b), raw)
    # One scan per table file: gather them into a few partitions before the Python step, whose
    # workers each load the validators' reference data once.
    records = _standardise(union.coalesce(max(1, spark.sparkContext.defaultParallelism)))
    # A party (person or organisation) is a person only with a valid person ID.
    return records.where(~F.col("party") | F.col("id_number").isNotNull()).drop("party")


def person_records(spark: SparkSession, lake, registry: Mapping[str, SourceSystem],
                   attributes: Path = ATTRIBUTES_FILE, versions: Mapping[str, int] | None = None) -> DataFrame:
    """The person-bearing records of the lake's silver and quarantine tables (see the module doc),
    at ``versions`` (table -> version, as :func:`table_versions` gives them; default: the latest)."""
    tables = layer_tables(person_roles(registry, attributes))
    versions = table_versions(lake, registry, attributes) if versions is None else versions
    raw = [frame for table, roles in tables.items() if table in versions
           for frame in role_frames(lake.read_spark(spark, table, versions[table]), table, roles)]
    return standardised(spark, raw)


def records_schema():
    """The Spark schema of :func:`person_records`."""
    from pyspark.sql.types import DateType, MapType, StringType, StructField, StructType, TimestampType

    types = {"birth_date": DateType(), "updated_at": TimestampType(), "attributes": MapType(StringType(), StringType())}
    return StructType([StructField(c, types.get(c, StringType())) for c in RECORD_COLUMNS])
