"""The provenance columns every library's source records carry (``citylake.jobs.person.records``,
``citylake.jobs.enterprise.records``): which record of which table, in which layer and batch, of
which role, updated when, and the attributes the library keeps from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from citylake.sources.registry import SourceSystem, SourceTable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame


class Role(Protocol):
    """What a library's role (a person role, an enterprise role) tells about its records."""

    system: SourceSystem
    table: SourceTable
    role: str
    attributes: dict[str, str]

    @property
    def source_table(self) -> str: ...


def record_key(role: Role) -> Column:
    """The record's primary key as text."""
    from pyspark.sql import functions as F

    return F.col(role.table.primary_key[0]).cast("string")


def provenance(role: Role, layer: str) -> list[Column]:
    """``record_id`` (``<system>.<TABLE>:<key>#<role>``), ``system``, ``source_table``, ``record_key``,
    ``role``, ``layer`` and ``batch_id``."""
    from pyspark.sql import functions as F

    key = record_key(role)
    return [F.concat(F.lit(f"{role.source_table}:"), key, F.lit(f"#{role.role}")).alias("record_id"),
            F.lit(role.system.code).alias("system"), F.lit(role.source_table).alias("source_table"),
            key.alias("record_key"), F.lit(role.role).alias("role"), F.lit(layer).alias("layer"),
            F.col("_batch_id").alias("batch_id")]


def updated_at(table: SourceTable) -> Column:
    """The record's update time (its table's update column), null for a table without one."""
    from pyspark.sql import functions as F

    column = table.update_column
    return (F.col(column) if column else F.lit(None)).try_cast("timestamp").alias("updated_at")


def attributes(role: Role) -> Column:
    """The role's attributes (name → text), those the record leaves empty left out."""
    from pyspark.sql import functions as F

    entries = [F.struct(F.lit(a).alias("key"), F.col(c).cast("string").alias("value"))
               for a, c in sorted(role.attributes.items())]
    if not entries:
        return F.create_map().cast("map<string,string>").alias("attributes")
    return F.map_from_entries(F.filter(F.array(*entries), lambda e: e["value"].isNotNull())).alias("attributes")


def current(versions: DataFrame) -> DataFrame:
    """``versions`` (a library's source records, possibly several rows per ``record_id``) with
    ``current``: true on the one version of each record the library uses.

    The gate merges a key's newest passing version into silver and appends every rejected version
    to quarantine, where it stays when a later batch corrects it. So a record's silver row, when
    there is one, is its current version — the latest that passed the gate; a quarantined version
    is current only for a record silver has no row of, the newest by the source's update time (then
    by batch). Without this a corrected record would count twice, and its old broken ID would be
    proposed for correction once more."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    newest = Window.partitionBy("record_id").orderBy(
        (F.col("layer") == "silver").desc(), F.col("updated_at").desc_nulls_last(), F.col("batch_id").desc())
    return versions.withColumn("current", F.row_number().over(newest) == 1)
