"""居民生存状态 (life status) and 实有人口 (the real resident population) of the golden persons.

Life status, with its evidence (each an explained text naming the source record's table):

- ``deceased``: a 民政 death registration (minzheng.SWDJ) linked to the person, or the 公安 户籍
  registration cancelled (注销) because of death; the death date from the former, else the latter.
- ``alive``: no evidence of death, and a live 户籍 registration or an active insurance (医保 正常参保,
  养老 参保缴费) or any record updated within the activity window.
- ``unknown``: neither.

Stopped insurance (终止参保) is recorded as evidence but decides nothing alone: insurance stops for
many reasons besides death.

实有人口 (``resident``): alive, and active in the city in the last ``ACTIVITY_DAYS`` days before the
reference date in at least one source — a record updated in that window, or a live 户籍 registration
of 公安 (a registration is itself a statement of presence that the department keeps current) —
and counted per district of the golden address (``district_code``, GB/T 2260, from the district
name in the address).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

ACTIVITY_DAYS = 365
DEATH_REGISTRY = "minzheng.SWDJ"
HOUSEHOLD_REGISTRY = "gongan.CZRK"
# (source table, attribute, value) -> evidence of an active insurance; of a stopped one.
ACTIVE_INSURANCE = (("yibao.psn_insu_d", "insurance_status", "1"), ("renshe.AC02", "pension_status", "1"))
STOPPED_INSURANCE = (("yibao.psn_insu_d", "insurance_status", "4"), ("renshe.AC02", "pension_status", "3"))


def district_code(address: Column) -> Column:
    """The GB/T 2260 code of the city's district named in an address (full or short name), else NULL."""
    from pyspark.sql import functions as F

    from citylake.schemas.reference import gazetteer

    expression = F.lit(None).cast("string")
    # Longer names first: 历城区 must not be taken for a shorter name it contains.
    names = sorted(((n, d.code) for d in gazetteer().districts for n in {d.name, d.short_name} if n),
                   key=lambda nc: -len(nc[0]))
    for name, code in reversed(names):
        expression = F.when(address.contains(name), F.lit(code)).otherwise(expression)
    return expression


def life_status(linked: DataFrame, as_of: date) -> DataFrame:
    """Per person: ``life_status``, ``death_date``, ``life_status_evidence``, ``last_active`` and
    ``active_recently`` (activity in the window before ``as_of``)."""
    from pyspark.sql import functions as F

    attr = F.col("attributes")
    table = F.col("source_table")
    died = table == DEATH_REGISTRY
    cancelled = (table == HOUSEHOLD_REGISTRY) & (attr.getItem("registration_cancelled") == "1")
    cancelled_death = cancelled & F.coalesce(attr.getItem("cancel_reason").contains("死亡"), F.lit(False))
    live_registration = (table == HOUSEHOLD_REGISTRY) & (attr.getItem("registration_cancelled") == "0")

    def any_of(rules) -> Column:
        out = F.lit(False)
        for source, key, value in rules:
            out = out | ((table == source) & (attr.getItem(key) == value))
        return out

    active = any_of(ACTIVE_INSURANCE)
    stopped = any_of(STOPPED_INSURANCE)
    evidence = (
        F.when(died, F.concat(F.lit("死亡登记 minzheng.SWDJ "), F.col("record_key"),
                              F.lit(" 死亡日期 "), F.coalesce(attr.getItem("death_date"), F.lit("?"))))
        .when(cancelled_death, F.concat(F.lit("户籍注销(死亡) gongan.CZRK "), F.col("record_key"),
                                        F.lit(" 注销日期 "), F.coalesce(attr.getItem("cancel_date"), F.lit("?"))))
        .when(cancelled, F.concat(F.lit("户籍注销 gongan.CZRK "), F.col("record_key")))
        .when(live_registration, F.concat(F.lit("户籍正常 gongan.CZRK "), F.col("record_key")))
        .when(active, F.concat(F.lit("正常参保 "), table, F.lit(" "), F.col("record_key")))
        .when(stopped, F.concat(F.lit("终止参保 "), table, F.lit(" "), F.col("record_key"))))
    window_start = F.date_sub(F.lit(as_of), ACTIVITY_DAYS)
    # A source's impossible date (20260231, kept in quarantine and read from there) is no date here,
    # not a failed build: under Spark's ANSI mode to_date raises on it.
    death_date = F.try_to_date(F.regexp_replace(F.when(died, attr.getItem("death_date")), "-", ""), "yyyyMMdd")
    cancel_date = F.try_to_date(F.when(cancelled_death, attr.getItem("cancel_date")), "yyyyMMdd")
    per_person = linked.groupBy("person_id").agg(
        F.max(died | cancelled_death).alias("dead"),
        F.max(live_registration | active).alias("alive_evidence"),
        F.max(live_registration).alias("registered"),
        F.min(death_date).alias("registered_death"), F.min(cancel_date).alias("cancel_death"),
        F.array_sort(F.collect_set(evidence)).alias("life_status_evidence"),
        F.max(F.to_date("updated_at")).alias("last_active"))
    recent = F.coalesce(F.col("last_active") >= window_start, F.lit(False))
    status = (F.when(F.col("dead"), "deceased")
              .when(F.col("alive_evidence") | recent, "alive").otherwise("unknown"))
    return per_person.select(
        "person_id", status.alias("life_status"),
        F.when(F.col("dead"), F.coalesce("registered_death", "cancel_death")).alias("death_date"),
        "life_status_evidence", "last_active",
        (~F.col("dead") & (recent | F.col("registered"))).alias("active_recently"))
