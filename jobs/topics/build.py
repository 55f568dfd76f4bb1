"""The topic libraries (专题库) from the gold libraries: 老年人库, 独居老人, 困境儿童, 空壳公司, 低保核查.

Each topic is a function from gold DataFrames to a DataFrame (no I/O; :func:`build_topics` reads
and writes the lake at the edges); every row names the rule (``rule`` / ``rules``, e.g.
``dibao_review.deceased``) and the evidence that put it there. The thresholds, windows and sources
are in ``jobs/topics/rules.yaml`` (:mod:`citylake.jobs.topics.rules`). A model that finds a
department's data wrong files it back (:mod:`citylake.jobs.topics.feedback`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from citylake.jobs.topics.rules import (
        ChildrenInDifficulty,
        DibaoReview,
        Elderly,
        ElderlyLivingAlone,
        ShellCompany,
    )

log = logging.getLogger(__name__)

TABLES_DIR = Path(__file__).with_name("tables")
ELDERLY, ALONE = "gold.topic_elderly", "gold.topic_elderly_living_alone"
CHILDREN, SHELL, DIBAO = "gold.topic_children_in_difficulty", "gold.topic_shell_company", "gold.topic_dibao_review"
TOPIC_TABLES = (ELDERLY, ALONE, CHILDREN, SHELL, DIBAO)
PERSON, HOUSEHOLD, PERSON_ADDRESS = "gold.person", "gold.household_member", "gold.person_address"
PERSON_LINK, ADDRESS_LINK = "gold.person_source_link", "gold.address_link"
ENTERPRISE, ENTERPRISE_LINK = "gold.enterprise", "gold.enterprise_source_link"
INPUTS = (PERSON, HOUSEHOLD, PERSON_LINK, PERSON_ADDRESS, ADDRESS_LINK, ENTERPRISE, ENTERPRISE_LINK)
# GB/T 4761: the head and spouse; the head's sons and daughters; the head's grandchildren.
HEAD_COUPLE, SON_DAUGHTER, GRANDCHILD = ("02", "10"), ("20", "30"), ("41", "42")


@dataclass(frozen=True)
class TopicTables:
    elderly: DataFrame
    living_alone: DataFrame
    children: DataFrame
    shell: DataFrame
    dibao: DataFrame

    def by_table(self) -> dict[str, DataFrame]:
        return {ELDERLY: self.elderly, ALONE: self.living_alone, CHILDREN: self.children, SHELL: self.shell,
                DIBAO: self.dibao}


def _age(as_of: date) -> Column:
    from pyspark.sql import functions as F

    return F.floor(F.months_between(F.lit(as_of), F.col("birth_date")) / 12).cast("int")


def elderly(person: DataFrame, rules: Elderly, as_of: date) -> DataFrame:
    """老年人库: living persons aged ``min_age`` or more, with district and age band."""
    from pyspark.sql import functions as F

    bands = list(rules.age_bands)
    band = F.lit(f"{bands[-1]}+")
    for lo, hi in reversed(list(zip(bands, bands[1:], strict=False))):
        band = F.when(F.col("age") < hi, F.lit(f"{lo}-{hi - 1}")).otherwise(band)
    old = person.where((F.col("life_status") == "alive") & F.col("birth_date").isNotNull()).withColumn(
        "age", _age(as_of)).where(F.col("age") >= rules.min_age)
    return old.select(
        "person_id", "district_code", "age", band.alias("age_band"), "birth_date",
        F.lit("elderly.age").alias("rule"),
        F.array(F.format_string("出生日期 %s (%s)", F.col("birth_date").cast("string"),
                                F.coalesce(F.col("provenance")["birth_date"]["source_table"], F.lit("?"))),
                F.format_string("年龄 %d ≥ %d", "age", F.lit(rules.min_age))).alias("evidence"))


def elderly_living_alone(person: DataFrame, person_address: DataFrame, address_link: DataFrame,
                         person_link: DataFrame, rules: ElderlyLivingAlone, as_of: date) -> DataFrame:
    """独居老人: living persons of ``min_age`` or more whose standard address has nobody else
    registered, nor any other living person active there lately through ``address_sources``."""
    from pyspark.sql import functions as F

    living = person.where(F.col("life_status") == "alive").select("person_id", "last_active", "birth_date",
                                                                  "district_code")
    registered = person_address.where(F.col("address_id").isNotNull()).select("person_id", "address_id")
    # Records of the listed sources placed at a standard address, and the person each one names.
    placed = address_link.where(F.col("address_id").isNotNull() & F.col("source_table").isin(
        list(rules.address_sources))).select("source_table", "record_key", "address_id")
    named = person_link.where(F.col("person_id").isNotNull()).select("source_table", "record_key", "person_id")
    recent = F.date_sub(F.lit(as_of), rules.active_within_days)
    active = (placed.join(named, ["source_table", "record_key"]).join(living, "person_id")
              .where(F.col("last_active") >= recent).select("person_id", "address_id"))
    present = registered.join(living.select("person_id"), "person_id").unionByName(active).distinct()
    occupants = present.groupBy("address_id").agg(F.countDistinct("person_id").alias("occupants"))
    old = living.withColumn("age", _age(as_of)).where(F.col("age") >= rules.min_age)
    alone = (old.join(registered, "person_id").join(occupants, "address_id")
             .where(F.col("occupants") == 1))
    return alone.select(
        "person_id", "district_code", "age", "address_id", F.lit("elderly_living_alone.alone").alias("rule"),
        F.array(F.format_string("年龄 %d ≥ %d", "age", F.lit(rules.min_age)),
                F.format_string("标准地址 %s 无其他登记或近 %d 天活动人员", "address_id",
                                F.lit(rules.active_within_days))).alias("evidence"))


def dibao_members(person_link: DataFrame, source: str) -> DataFrame:
    """(record_key, person_id): the 低保 list's records and the persons they name."""
    from pyspark.sql import functions as F

    return person_link.where((F.col("source_table") == source) & F.col("person_id").isNotNull()
                             & (F.col("role") == "subject")).select("record_key", "person_id")


def children_in_difficulty(person: DataFrame, household: DataFrame, person_link: DataFrame,
                           rules: ChildrenInDifficulty, as_of: date) -> DataFrame:
    """困境儿童: children whose parents' generation in the 公安 household is deceased or absent."""
    from pyspark.sql import functions as F

    members = household.select("household_number", "person_id", "relation_to_head", "life_status")
    children = (person.where((F.col("life_status") == "alive") & F.col("birth_date").isNotNull())
                .withColumn("age", _age(as_of)).where(F.col("age") < rules.max_age)
                .select("person_id", "age").join(members, "person_id")
                .where(F.col("relation_to_head").isin([*SON_DAUGHTER, *GRANDCHILD])))
    parents = members.select("household_number", F.col("relation_to_head").alias("parent_relation"),
                             F.col("life_status").alias("parent_status"))
    generation = (F.when(F.col("relation_to_head").isin(list(GRANDCHILD)),
                         F.col("parent_relation").isin(list(SON_DAUGHTER)))
                  .otherwise(F.col("parent_relation").isin(list(HEAD_COUPLE))))
    counted = (children.join(parents, "household_number", "left").where(generation | F.col("parent_relation").isNull())
               .groupBy("person_id", "household_number", "relation_to_head", "age")
               .agg(F.count("parent_relation").alias("parents"),
                    F.sum(F.when(F.col("parent_status") == "deceased", 1).otherwise(0)).alias("deceased"),
                    F.sum(F.when(F.col("parent_status") == "alive", 1).otherwise(0)).alias("alive")))
    on_dibao = (dibao_members(person_link, rules.dibao_source).join(members, "person_id")
                .select("household_number").distinct().withColumn("dibao", F.lit(True)))
    counted = counted.join(on_dibao, "household_number", "left").fillna(False, ["dibao"])
    found = {
        "both_parents_deceased": (F.col("parents") >= 2) & (F.col("deceased") == F.col("parents")),
        "one_parent_deceased_dibao": (F.col("deceased") == 1) & (F.col("alive") >= 1) & F.col("dibao"),
        "raised_by_grandparents": F.col("relation_to_head").isin(list(GRANDCHILD)) & (F.col("alive") == 0),
    }
    evidence = {
        "both_parents_deceased": F.format_string("户内父母 %d 人均已死亡", "parents"),
        "one_parent_deceased_dibao": F.lit("父母一方死亡, 家庭享受低保"),
        "raised_by_grandparents": F.lit("与祖父母共同生活(户主之孙子女), 户内无在世父母"),
    }
    chosen = list(rules.rules)
    rule_list = F.filter(F.array(*[F.when(found[r], F.lit(f"children_in_difficulty.{r}")) for r in chosen]),
                         lambda x: x.isNotNull())
    evidence_list = F.filter(F.array(*[F.when(found[r], evidence[r]) for r in chosen]), lambda x: x.isNotNull())
    out = counted.select("person_id", "household_number", "age", rule_list.alias("rules"),
                         evidence_list.alias("evidence"))
    return out.where(F.size("rules") > 0)


def shell_companies(enterprise: DataFrame, person: DataFrame, rules: ShellCompany) -> DataFrame:
    """空壳公司 candidates: enterprises whose reasons' weights add up to ``min_score`` or more."""
    from pyspark.sql import functions as F

    months = F.slice(F.array_sort(F.coalesce("insured_employees", F.array())), -rules.months, rules.months)
    recent_month = F.date_format(F.add_months(F.col("as_of_month"), -rules.months), "yyyy-MM")
    deceased = person.where(F.col("life_status") == "deceased").select(
        F.col("person_id").alias("legal_rep_person_id"), F.lit(True).alias("rep_deceased"))
    per_address = enterprise.where(F.col("address_id").isNotNull()).groupBy("address_id").agg(
        F.count("*").alias("at_address"))
    per_rep = enterprise.where(F.col("legal_rep_person_id").isNotNull()).groupBy("legal_rep_person_id").agg(
        F.count("*").alias("represented"))
    newest = enterprise.select(F.explode("insured_employees.month").alias("m")).agg(F.max("m").alias("newest"))
    e = (enterprise.where(F.col("status").isin(list(rules.statuses)))
         .crossJoin(newest.select(F.to_date(F.concat(F.coalesce("newest", F.date_format(F.current_date(), "yyyy-MM")),
                                                      F.lit("-01"))).alias("as_of_month")))
         .join(per_address, "address_id", "left").join(per_rep, "legal_rep_person_id", "left")
         .join(deceased, "legal_rep_person_id", "left"))
    employees = F.aggregate(months, F.lit(0).cast("bigint"), lambda acc, m: acc + F.coalesce(m["employees"], F.lit(0)))
    tax = F.aggregate(F.filter(F.coalesce("tax_declared", F.array()), lambda t: t["month"] >= recent_month),
                      F.lit(0.0), lambda acc, t: acc + F.coalesce(t["amount"], F.lit(0.0)))
    found = {
        "no_insured_employees": employees == 0,
        "no_tax_declared": tax <= 0,
        "shared_registered_address": F.coalesce(F.col("at_address") >= rules.min_shared_address, F.lit(False)),
        "legal_rep_deceased": F.coalesce("rep_deceased", F.lit(False)),
        "legal_rep_of_many": F.coalesce(F.col("represented") >= rules.min_represented, F.lit(False)),
    }
    evidence = {
        "no_insured_employees": F.format_string("近 %d 个月参保职工 0 人(人社)", F.lit(rules.months)),
        "no_tax_declared": F.format_string("近 %d 个月无纳税申报税额(税务)", F.lit(rules.months)),
        "shared_registered_address": F.format_string("住所标准地址 %s 登记企业 %d 家", "address_id", "at_address"),
        "legal_rep_deceased": F.lit("法定代表人已死亡(人口库)"),
        "legal_rep_of_many": F.format_string("法定代表人担任 %d 家企业法定代表人", "represented"),
    }
    weights = rules.weights
    names = [r for r in weights]
    score = sum((F.when(found[r], F.lit(weights[r])).otherwise(F.lit(0)) for r in names), F.lit(0))
    reasons = F.filter(F.array(*[F.when(found[r], F.lit(r)) for r in names]), lambda x: x.isNotNull())
    evidence_list = F.filter(F.array(*[F.when(found[r], evidence[r]) for r in names]), lambda x: x.isNotNull())
    scored = e.select("uscc", "name", "status", "address_id", "legal_rep_person_id", score.alias("score"),
                      reasons.alias("reasons"), evidence_list.alias("evidence"))
    return scored.where(F.col("score") >= rules.min_score).withColumn("rule", F.lit("shell_company.score"))


def dibao_review(person: DataFrame, person_link: DataFrame, enterprise: DataFrame, rules: DibaoReview) -> DataFrame:
    """低保核查: members of the 低保 list who are deceased, hold several properties or represent an
    enterprise with a large registered capital; one row per list record."""
    from pyspark.sql import functions as F

    members = dibao_members(person_link, rules.source)
    status = person.select("person_id", "life_status", "death_date")
    properties = (person_link.where((F.col("source_table") == rules.property_source) & F.col("person_id").isNotNull())
                  .groupBy("person_id").agg(F.countDistinct("record_key").alias("properties")))
    capital = (enterprise.where(F.col("status").isin(list(rules.enterprise_statuses))
                                & (F.col("registered_capital") >= rules.min_capital_10k)
                                & F.col("legal_rep_person_id").isNotNull())
               .groupBy(F.col("legal_rep_person_id").alias("person_id"))
               .agg(F.max("registered_capital").alias("max_capital"), F.count("*").alias("large_enterprises")))
    m = (members.join(status, "person_id", "left").join(properties, "person_id", "left")
         .join(capital, "person_id", "left"))
    found = {
        "deceased": F.col("life_status") == "deceased",
        "several_properties": F.coalesce(F.col("properties") >= rules.min_properties, F.lit(False)),
        "large_capital_enterprise": F.col("max_capital").isNotNull(),
    }
    evidence = {
        "deceased": F.format_string("已死亡(死亡日期 %s, 人口库)", F.coalesce(F.col("death_date").cast("string"),
                                                                              F.lit("未知"))),
        "several_properties": F.format_string("持有不动产 %d 处(%s)", "properties", F.lit(rules.property_source)),
        "large_capital_enterprise": F.format_string("担任注册资本 %.0f 万元企业的法定代表人", "max_capital"),
    }
    rule_list = F.filter(F.array(*[F.when(c, F.lit(f"dibao_review.{r}")) for r, c in found.items()]),
                         lambda x: x.isNotNull())
    evidence_list = F.filter(F.array(*[F.when(found[r], evidence[r]) for r in found]), lambda x: x.isNotNull())
    out = m.select(F.lit(rules.source).alias("source_table"), "record_key", "person_id",
                   rule_list.alias("rules"), evidence_list.alias("evidence"))
    return out.where(F.size("rules") > 0)


def topic_tables(frames: dict[str, DataFrame], rules, as_of: date) -> TopicTables:
    """Every topic frame from the gold frames (``frames`` keyed by table name; no I/O)."""
    person, link = frames[PERSON], frames[PERSON_LINK]
    return TopicTables(
        elderly=elderly(person, rules.elderly, as_of),
        living_alone=elderly_living_alone(person, frames[PERSON_ADDRESS], frames[ADDRESS_LINK], link,
                                          rules.elderly_living_alone, as_of),
        children=children_in_difficulty(person, frames[HOUSEHOLD], link, rules.children_in_difficulty, as_of),
        shell=shell_companies(frames[ENTERPRISE], person, rules.shell_company),
        dibao=dibao_review(person, link, frames[ENTERPRISE], rules.dibao_review))


def as_of_date(person: DataFrame) -> date:
    """The reference date: the newest activity of any person (today if none)."""
    from pyspark.sql import functions as F

    newest = person.agg(F.max("last_active")).first()[0]
    return newest or datetime.now(UTC).date()


def build_topics(spark: SparkSession, lake, rules_path: str | Path | None = None, as_of: date | None = None,
                 build_id: str | None = None, feedback: bool = True) -> dict[str, Any]:
    """Build every topic table from the lake's gold libraries; a summary with the row counts.

    ``feedback``: file what the models find wrong in a department's data (a deceased 低保 member
    to 民政, a deceased legal representative to 市场监管) in ``governance.quality_issue``.
    """
    from citylake.jobs.spec import conform, load_specs
    from citylake.jobs.topics.feedback import file_feedback
    from citylake.jobs.topics.rules import RULES_FILE, load_rules
    from citylake.sources.registry import load_registry

    started = time.perf_counter()
    rules = load_rules(rules_path or RULES_FILE)
    missing = [t for t in INPUTS if not lake.exists(t)]
    if missing:
        raise RuntimeError(f"build the gold libraries first: {', '.join(missing)} not in the lake")
    build_id = build_id or f"build_topics:{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    specs = load_specs(TABLES_DIR)
    frames = {t: lake.read_spark(spark, t) for t in INPUTS}
    as_of = as_of or as_of_date(frames[PERSON])
    tables = topic_tables(frames, rules, as_of)
    metadata = {"batch_id": build_id, "job": "build_topics", "as_of": as_of.isoformat()}
    versions, counts = {}, {}
    for name, frame in tables.by_table().items():
        versions[name] = lake.write_spark(conform(frame, specs[name]), name, mode="overwrite", metadata=metadata)
        counts[name] = lake.row_count(name)
    summary: dict[str, Any] = {"build_id": build_id, "as_of": as_of.isoformat(), "counts": counts,
                               "versions": versions}
    if feedback:
        summary["feedback"] = file_feedback(lake, load_registry(), lake.read_spark(spark, DIBAO),
                                            frames[ENTERPRISE],
                                            frames[ENTERPRISE_LINK], frames[PERSON], build_id)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    log.info("built the topic libraries in %.1f s: %s", summary["seconds"], counts)
    return summary
