"""``gold.enterprise``: one golden record per USCC (一企一档), each attribute with its provenance.

Identity attributes come from their authoritative source by ``jobs/enterprise/source_priority.yaml``
(市场监管 first), falling back down the list, then to any other source (most recently updated
first). The registered address gets its standard address from the address library
(``gold.address_link``), the legal representative its person from the population library
(``gold.person_source_link``); insured employees by month come from 人社 (with its own employer
codes), tax declared by month from 税务, properties held from 不动产登记.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from citylake.jobs import source_refs
from citylake.sources.registry import SourceSystem

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

PRIORITY_FILE = Path(__file__).with_name("source_priority.yaml")
RECORD_ATTRIBUTES = ("name", "address", "legal_rep_id", "legal_rep_name")
PROVENANCE = ("system", "source_table", "record_key", "role", "batch_id")
INSURED = "1"  # 人社 aac008: 参保缴费


class PriorityError(ValueError):
    """jobs/enterprise/source_priority.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class Priority:
    authority: str
    attributes: Mapping[str, tuple[str, ...]]
    conflicts: tuple[str, ...]
    months: int

    def rank(self, attribute: str) -> Column:
        """The rank of a record's source for ``attribute`` (0 = the authority; unlisted sources last)."""
        return source_refs.rank(self.attributes[attribute])


def load_priority(registry: Mapping[str, SourceSystem], path: Path = PRIORITY_FILE) -> Priority:
    from citylake.jobs.enterprise.records import load_attributes

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PriorityError(f"{path}: not valid YAML: {exc}") from None
    keys = {"authority", "attributes", "conflicts", "months"}
    if not isinstance(doc, dict) or set(doc) != keys:
        raise PriorityError(f"{path}: expected the entries {sorted(keys)}")
    tables = source_refs.registry_tables(registry)
    if doc["authority"] not in tables:
        raise PriorityError(f"{path}: authority {doc['authority']}: no such table in the source registry")
    extra = {a for columns in load_attributes(registry).tables.values() for a in columns}
    if not isinstance(doc["attributes"], dict) or not doc["attributes"]:
        raise PriorityError(f"{path}: attributes must map attribute names to lists of sources")
    attributes = {}
    for attribute, sources in doc["attributes"].items():
        where = f"{path}: attributes.{attribute}"
        if attribute not in RECORD_ATTRIBUTES and attribute not in extra:
            raise PriorityError(f"{where}: unknown attribute (a records column {list(RECORD_ATTRIBUTES)} or one "
                                "of jobs/enterprise/attributes.yaml)")
        attributes[str(attribute)] = source_refs.checked_sources(where, sources, tables, PriorityError)
    conflicts = doc["conflicts"]
    if not isinstance(conflicts, list) or any(c not in attributes for c in conflicts):
        raise PriorityError(f"{path}: conflicts must list attributes of 'attributes'")
    months = doc["months"]
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise PriorityError(f"{path}: months must be a whole number of months from 1 to 120")
    return Priority(str(doc["authority"]), attributes, tuple(conflicts), months)


def attribute_values(linked: DataFrame, priority: Priority) -> DataFrame:
    """One row per (linked record, attribute with a value): ``enterprise_id``, ``attribute``,
    ``value``, ``compare`` (what a conflict compares: the loose key for a name), ``rank``, the
    provenance and ``order`` (a struct, least first)."""
    from pyspark.sql import functions as F

    entries = []
    for attribute in priority.attributes:
        value = F.col(attribute) if attribute in RECORD_ATTRIBUTES else F.col("attributes").getItem(attribute)
        compare = F.col("name_loose") if attribute == "name" else value
        entries.append(F.struct(F.lit(attribute).alias("attribute"), value.alias("value"),
                                compare.alias("compare"), priority.rank(attribute).alias("rank")))
    long = (linked.where(F.col("enterprise_id").isNotNull())
            .select("enterprise_id", "record_id", "layer", "updated_at", *PROVENANCE,
                    F.explode(F.array(*entries)).alias("e")).select("*", "e.*").drop("e")
            .where(F.col("value").isNotNull()))
    return long.withColumn("order", F.struct(
        "rank", (F.col("layer") != "silver").alias("quarantined"),
        (-F.coalesce(F.unix_micros("updated_at"), F.lit(0))).alias("age"), "record_id"))


def chosen_values(values: DataFrame) -> DataFrame:
    """The chosen value of every (enterprise, attribute): the least ``order``."""
    from pyspark.sql import functions as F

    best = F.min(F.struct("order", "value", "compare", *PROVENANCE))
    return (values.groupBy("enterprise_id", "attribute").agg(best.alias("b"))
            .select("enterprise_id", "attribute", F.col("b.order.rank").alias("chosen_rank"),
                    F.col("b.value").alias("chosen_value"), F.col("b.compare").alias("chosen_compare"),
                    F.struct(*[F.col(f"b.{p}").alias(p) for p in PROVENANCE]).alias("chosen_provenance")))


def _months(as_of: date, count: int) -> Column:
    """The last ``count`` calendar months up to ``as_of``'s, as an array of first days."""
    from pyspark.sql import functions as F

    first = F.trunc(F.lit(as_of), "month")
    return F.array(*[F.add_months(first, -i) for i in range(count)])


def employees_by_month(linked: DataFrame, as_of: date, months: int) -> DataFrame:
    """``enterprise_id``, ``employer_codes`` (人社 单位编号) and ``insured_employees`` (month, employees):
    the distinct insured persons (参保缴费 now, insured from before the month's end) per month."""
    from pyspark.sql import functions as F

    insured = linked.where((F.col("source_table") == "renshe.AC02") & F.col("enterprise_id").isNotNull())
    start = F.try_to_date(F.col("attributes")["insured_from"], "yyyyMMdd")
    per_month = (insured.select("enterprise_id", F.col("attributes")["insured_id_number"].alias("person"),
                                start.alias("start"), F.col("attributes")["insurance_status"].alias("status"),
                                F.explode(_months(as_of, months)).alias("month"))
                 .where((F.col("status") == INSURED) & (F.col("start") <= F.last_day("month")))
                 .groupBy("enterprise_id", "month").agg(F.countDistinct("person").alias("employees")))
    series = per_month.groupBy("enterprise_id").agg(F.array_sort(F.collect_list(F.struct(
        F.date_format("month", "yyyy-MM").alias("month"), F.col("employees")))).alias("insured_employees"))
    codes = (insured.where(F.col("attributes")["employer_code"].isNotNull())
             .groupBy("enterprise_id").agg(F.array_sort(F.collect_set(F.col("attributes")["employer_code"]))
                                           .alias("employer_codes")))
    return codes.join(series, "enterprise_id", "full")


def tax_by_month(linked: DataFrame, as_of: date, months: int) -> DataFrame:
    """``enterprise_id`` and ``tax_declared`` (month, tax item, amount, returns): 税务's returns by the
    month their period starts, within the last ``months``; a return filed twice counts once."""
    from pyspark.sql import functions as F

    returns = linked.where((F.col("source_table") == "shuiwu.sb_sbxx") & F.col("enterprise_id").isNotNull())
    a = F.col("attributes")
    first = F.add_months(F.trunc(F.lit(as_of), "month"), -(months - 1))
    distinct = (returns.select("enterprise_id", a["tax_item"].alias("tax_item"),
                               F.try_to_date(a["period_start"]).alias("start"), a["period_end"].alias("end"),
                               a["tax_amount"].try_cast("double").alias("amount"))
                .where(F.col("start") >= first).dropDuplicates())
    per_month = (distinct.groupBy("enterprise_id", F.date_format("start", "yyyy-MM").alias("month"), "tax_item")
                 .agg(F.round(F.sum("amount"), 2).alias("amount"), F.count("*").alias("returns")))
    return per_month.groupBy("enterprise_id").agg(F.array_sort(F.collect_list(F.struct(
        "month", "tax_item", "amount", "returns"))).alias("tax_declared"))


def properties_held(linked: DataFrame) -> DataFrame:
    """``enterprise_id`` and ``properties`` (不动产单元号, 权证号, 坐落, 面积, 用途, record key)."""
    from pyspark.sql import functions as F

    held = linked.where((F.col("source_table") == "zrzy.BDCDJ") & F.col("enterprise_id").isNotNull())
    a = F.col("attributes")
    return held.groupBy("enterprise_id").agg(F.array_sort(F.collect_list(F.struct(
        a["property_unit"].alias("property_unit"), a["property_certificate"].alias("certificate"),
        a["property_location"].alias("location"), a["property_area"].try_cast("double").alias("area"),
        a["property_use"].alias("use"), F.col("record_key")))).alias("properties"))


def golden(linked: DataFrame, enterprises: DataFrame, priority: Priority, as_of: date,
           address_links: DataFrame | None, person_links: DataFrame | None) -> tuple[DataFrame, DataFrame]:
    """(gold.enterprise's rows, the per-attribute values they were chosen from, with the choice)."""
    from pyspark.sql import functions as F

    values = attribute_values(linked, priority)
    chosen = chosen_values(values)
    pivoted = chosen.groupBy("enterprise_id").agg(
        *[F.max(F.when(F.col("attribute") == a, F.col("chosen_value"))).alias(a) for a in priority.attributes],
        F.map_from_entries(F.collect_list(F.struct("attribute", "chosen_provenance"))).alias("provenance"))
    counts = (linked.where(F.col("enterprise_id").isNotNull()).groupBy("enterprise_id")
              .agg(F.count("*").alias("record_count"), F.array_sort(F.collect_set("source_table")).alias("sources")))
    out = (enterprises.join(pivoted, "enterprise_id", "left").join(counts, "enterprise_id", "left")
           .join(employees_by_month(linked, as_of, priority.months), "enterprise_id", "left")
           .join(tax_by_month(linked, as_of, priority.months), "enterprise_id", "left")
           .join(properties_held(linked), "enterprise_id", "left"))
    address_of = F.col("provenance")["address"]
    if address_links is not None:
        standard = address_links.select(F.col("source_table").alias("a_table"), F.col("record_key").alias("a_key"),
                                        "address_id", F.col("level").alias("address_level"))
        out = out.join(standard, (address_of["source_table"] == F.col("a_table"))
                       & (address_of["record_key"] == F.col("a_key")), "left").drop("a_table", "a_key")
    else:
        out = out.withColumn("address_id", F.lit(None).cast("string")).withColumn(
            "address_level", F.lit(None).cast("string"))
    rep_of = F.coalesce(F.col("provenance")["legal_rep_name"], F.col("provenance")["legal_rep_id"])
    if person_links is not None:
        reps = person_links.where(F.col("role") == "legal_rep").select(
            F.col("source_table").alias("p_table"), F.col("record_key").alias("p_key"),
            F.col("person_id").alias("legal_rep_person_id"))
        out = out.join(reps, (rep_of["source_table"] == F.col("p_table")) & (rep_of["record_key"] == F.col("p_key")),
                       "left").drop("p_table", "p_key")
    else:
        out = out.withColumn("legal_rep_person_id", F.col("legal_rep_id"))
    empty = F.array().cast
    out = out.select(
        F.col("enterprise_id").alias("uscc"), "pilot_code", "name", "enterprise_type", "status",
        "industry_section", "industry_code", F.col("registered_capital").try_cast("double").alias("registered_capital"),
        F.try_to_date("established_date").alias("established_date"), "registration_authority",
        F.col("address").alias("registered_address"), "address_id", "address_level", "legal_rep_person_id",
        "legal_rep_name",
        F.coalesce("employer_codes", empty("array<string>")).alias("employer_codes"),
        F.coalesce("insured_employees", empty("array<struct<month:string,employees:bigint>>")).alias("insured_employees"),
        F.coalesce("tax_declared", empty("array<struct<month:string,tax_item:string,amount:double,returns:bigint>>"))
        .alias("tax_declared"),
        F.coalesce("properties", empty("array<struct<property_unit:string,certificate:string,location:string,"
                                       "area:double,use:string,record_key:string>>")).alias("properties"),
        "provenance", F.coalesce("record_count", F.lit(0).cast("bigint")).alias("record_count"),
        F.coalesce("sources", empty("array<string>")).alias("sources"))
    return out, values.join(chosen, ["enterprise_id", "attribute"])
