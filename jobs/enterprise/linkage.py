"""Linking enterprise records to a USCC (citylake.jobs.enterprise.linkage).

Every golden enterprise is keyed by a USCC, so two different valid codes are never merged. Steps:

1. *Known codes*: every valid code written in any record (GB 32100 and GB 11714 check characters
   match; one mistyped character or one swapped pair never gives another valid code).
2. A broken code is repaired: its valid neighbours (citylake.jobs.enterprise.uscc_repair) among the
   known codes, narrowed to those whose names agree with the record's (equal loose keys, or one
   character apart: a homophone does not hide a typo); exactly one left is the link
   (``uscc_repair``), proposed back to the department (建议更正为 …).
3. A broken code of the authority (市场监管) with no such neighbour: an early pilot code — only the
   GB 32100 check character fails — is a real registration and its own enterprise
   (``pilot_code``); any other broken code whose only valid neighbour is no known code is taken
   as that code (``uscc_repair``, proposed back for the department to confirm). Records whose code
   is a known or pilot code are linked by it (``uscc``).
4. A record still without a link (no code, or one that cannot be repaired) is linked by name:
   the strict name key, else the loose one (有限公司/有限责任公司), naming exactly one enterprise;
   several are narrowed by the registered address, the legal representative and, for an
   employee's record that names its employer (医保), the enterprise another source shows employing
   the same person (人社's records linked by code) (``name``).
   A written code that differs from the one linked by name is proposed back too.

Anything else is unlinked with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

METHOD_USCC, METHOD_PILOT, METHOD_REPAIR, METHOD_NAME = "uscc", "pilot_code", "uscc_repair", "name"
NO_CODE_NO_NAME = "USCC缺失且名称无匹配 (no USCC and no enterprise of that name)"
BROKEN_NO_MATCH = "USCC无效且无法更正, 名称无匹配 (broken USCC, no valid neighbour or name match)"
UNKNOWN_CODE = "USCC有效但未在任何来源登记, 名称无匹配 (valid USCC of no known enterprise)"
AMBIGUOUS_NAME = "名称对应多个企业 (the name is shared by several enterprises)"
# The records columns the linkage decisions read, and the columns they add.
DECISION_INPUTS = ("record_id", "source_table", "uscc", "uscc_check", "name_key", "name_loose", "address",
                   "legal_rep_id")
LINK_COLUMNS = ("link_method", "link_score", "link_reasons", "unlinked_reason")
# The attribute (jobs/enterprise/attributes.yaml) of an employee's record naming the insured person.
EMPLOYEE = "insured_id_number"


@dataclass(frozen=True)
class Linked:
    records: DataFrame  # the records with enterprise_id, link_method, link_score, link_reasons, proposed_uscc
    #                    and unlinked_reason (one row per record)
    enterprises: DataFrame  # enterprise_id, pilot_code (bool): every golden enterprise


def _neighbour_frame(codes: DataFrame) -> DataFrame:
    """(uscc, candidate, edit) for the distinct broken codes of ``codes``."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    from citylake.jobs.enterprise.uscc_repair import neighbours

    @pandas_udf("array<struct<candidate:string, edit:string>>")
    def near(values: pd.Series) -> pd.Series:
        return values.map(lambda v: [{"candidate": c, "edit": e} for c, e in neighbours(v)])

    return (codes.select("uscc").distinct().withColumn("n", F.explode(near("uscc")))
            .select("uscc", F.col("n.candidate").alias("candidate"), F.col("n.edit").alias("edit")))


def _agrees(name: Column, known: Column) -> Column:
    """Whether a record's loose name key agrees with one of an enterprise's: equal, or one character
    off (a homophone, a dropped character) in a name of at least six characters."""
    from pyspark.sql import functions as F

    near = F.exists(known, lambda k: (k == name) | ((F.length(k) >= 6) & (F.levenshtein(k, name) <= 1)))
    return name.isNull() | F.coalesce(near, F.lit(False))


def link_records(records: DataFrame, authority: str) -> Linked:
    """Link every record of ``records`` (citylake.jobs.enterprise.records) to a USCC; ``authority``:
    the registration table (``scjg.QYDJ``) whose pilot codes are real."""
    from pyspark.sql import functions as F

    from citylake.jobs.enterprise.records import CHECK_CHARACTER, VALID

    # The decisions are taken on the few columns they read, and joined back to the whole records
    # once at the end: the steps chain many joins and aggregations over the same records, and
    # sorting their attribute maps at every join ran a 1-million-person city out of memory.
    whole = records
    records = records.select(*DECISION_INPUTS, F.col("attributes")[EMPLOYEE].alias("employee"))
    valid = records.where(F.col("uscc_check") == VALID)
    valid_codes = valid.select(F.col("uscc").alias("enterprise_id")).distinct().localCheckpoint()
    known_names = (valid.where(F.col("name_loose").isNotNull()).groupBy(F.col("uscc").alias("enterprise_id"))
                   .agg(F.collect_set("name_loose").alias("known_names")))
    # Broken codes: their valid neighbours among the known codes whose names agree with the record's.
    broken = records.where(F.col("uscc").isNotNull() & (F.col("uscc_check") != VALID))
    neighbours = _neighbour_frame(broken).localCheckpoint()
    known = (broken.select("record_id", "uscc", "name_loose", "source_table", "uscc_check")
             .join(neighbours, "uscc")
             .join(valid_codes, F.col("candidate") == F.col("enterprise_id"))
             .join(known_names, "enterprise_id", "left")
             .where(_agrees(F.col("name_loose"), F.col("known_names")))
             .select("record_id", "enterprise_id", "edit", F.col("name_loose").isNotNull().alias("named"))
             ).localCheckpoint()
    # The authority's broken codes with no known neighbour: an early pilot code (only the GB 32100
    # check character fails) is a real registration; any other broken code whose only valid
    # neighbour is unambiguous is taken as that code (proposed back for the department to confirm).
    alone = (records.where(F.col("uscc").isNotNull() & (F.col("uscc_check") != VALID)
                           & (F.col("source_table") == authority))
             .join(known.select("record_id"), "record_id", "left_anti"))
    pilots = (alone.where(F.col("uscc_check") == CHECK_CHARACTER)
              .select(F.col("uscc").alias("enterprise_id")).distinct())
    sole = (alone.where(F.col("uscc_check") != CHECK_CHARACTER).join(neighbours, "uscc")
            .groupBy("record_id").agg(F.count("*").alias("n"), F.first("candidate").alias("enterprise_id"),
                                      F.first("edit").alias("edit"))
            .where(F.col("n") == 1).join(valid_codes, "enterprise_id", "left_anti")  # a known code's name disagreed
            .select("record_id", "enterprise_id", "edit"))
    enterprises = (valid_codes.withColumn("pilot_code", F.lit(False))
                   .unionByName(pilots.withColumn("pilot_code", F.lit(True)))
                   .unionByName(sole.select("enterprise_id").withColumn("pilot_code", F.lit(False)))
                   .groupBy("enterprise_id").agg(F.max("pilot_code").alias("pilot_code"))).localCheckpoint()

    by_code = (records.join(enterprises, F.col("uscc") == F.col("enterprise_id"), "inner")
               .withColumn("link_method", F.when(F.col("pilot_code"), F.lit(METHOD_PILOT)).otherwise(F.lit(METHOD_USCC)))
               .withColumn("link_score", F.lit(1.0))
               .withColumn("link_reasons", F.array(F.lit("统一社会信用代码一致 (same USCC)")))
               .drop("pilot_code"))
    rest = records.join(by_code.select("record_id"), "record_id", "left_anti")
    unique = (known.groupBy("record_id").agg(F.count("*").alias("n"), F.first("enterprise_id").alias("eid"),
                                             F.first("edit").alias("edit"), F.first("named").alias("named"))
              .where(F.col("n") == 1).drop("n")
              .unionByName(sole.select("record_id", F.col("enterprise_id").alias("eid"), "edit",
                                       F.lit(None).cast("boolean").alias("named"))))
    repaired = (rest.join(unique, "record_id")
                .withColumn("enterprise_id", F.col("eid")).withColumn("link_method", F.lit(METHOD_REPAIR))
                .withColumn("link_score", F.when(F.col("named"), F.lit(0.99)).when(F.col("named").isNull(), F.lit(0.8))
                            .otherwise(F.lit(0.9)))
                .withColumn("link_reasons", F.array_compact(F.array(
                    F.concat(F.lit("统一社会信用代码一处错误 (one "), F.col("edit"), F.lit(" away, GB 32100/GB 11714)")),
                    F.when(F.col("named"), F.lit("名称一致 (same name)")),
                    F.when(F.col("named").isNull(), F.lit("唯一有效近邻 (the only valid code one edit away)")))))
                .drop("eid", "edit", "named"))
    linked_so_far = by_code.unionByName(repaired)
    names = (linked_so_far.where(F.col("name_key").isNotNull())
             .select("enterprise_id", "name_key", "name_loose").distinct()).localCheckpoint()
    # Materialised: the name step reads it five times, and it ends the code steps' chain of joins.
    rest = rest.join(repaired.select("record_id"), "record_id", "left_anti").localCheckpoint()

    # 4. By name: strict key, else loose key; several enterprises narrowed by address, legal rep
    # and a person the enterprise is known (by code) to employ.
    registered = (linked_so_far.where(F.col("source_table") == authority)
                  .select("enterprise_id", F.col("address").alias("known_address"),
                          F.col("legal_rep_id").alias("known_rep")).distinct())
    employs = (linked_so_far.where(F.col("employee").isNotNull())
               .select("enterprise_id", "employee", F.lit(1).alias("same_employee")).distinct())
    strict = rest.join(names.select("enterprise_id", "name_key").distinct(), "name_key")
    loose = (rest.join(strict.select("record_id"), "record_id", "left_anti")
             .join(names.select("enterprise_id", "name_loose").distinct(), "name_loose"))
    candidates = (strict.select("record_id", "enterprise_id", F.lit("名称一致 (same name)").alias("why"))
                  .unionByName(loose.select("record_id", "enterprise_id",
                                            F.lit("名称一致 (same name, 有限公司/有限责任公司)").alias("why")))
                  .distinct())
    detail = (candidates.join(rest.select("record_id", "address", "legal_rep_id", "employee"), "record_id")
              .join(registered, "enterprise_id", "left")
              .join(employs, ["enterprise_id", "employee"], "left")
              .groupBy("record_id", "enterprise_id", "why")
              .agg(F.max((F.col("address") == F.col("known_address")).cast("int")).alias("same_address"),
                   F.max((F.col("legal_rep_id") == F.col("known_rep")).cast("int")).alias("same_rep"),
                   F.max("same_employee").alias("same_employee")))
    # An employee's record has no address or legal representative of its own: the known employee is
    # its one signal. Two signals or more are as strong as both of the registration's.
    detail = detail.withColumn("support", F.least(F.lit(2), F.coalesce("same_address", F.lit(0))
                                                  + F.coalesce("same_rep", F.lit(0))
                                                  + F.coalesce("same_employee", F.lit(0))))
    per_record = detail.groupBy("record_id").agg(
        F.count("*").alias("n"), F.max("support").alias("best"),
        F.sum((F.col("support") == F.lit(2)).cast("int")).alias("n2"),
        F.sum((F.col("support") >= F.lit(1)).cast("int")).alias("n1"))
    chosen = (detail.join(per_record, "record_id")
              .where((F.col("n") == 1) | ((F.col("support") == 2) & (F.col("n2") == 1))
                     | ((F.col("support") == 1) & (F.col("best") == 1) & (F.col("n1") == 1)))
              .select("record_id", F.col("enterprise_id").alias("eid"), "why", "same_address", "same_rep",
                      "same_employee", "n"))
    by_name = (rest.join(chosen, "record_id")
               .withColumn("enterprise_id", F.col("eid")).withColumn("link_method", F.lit(METHOD_NAME))
               .withColumn("link_score", F.when(F.col("n") == 1, F.lit(0.9)).otherwise(F.lit(0.8)))
               .withColumn("link_reasons", F.array_compact(F.array(
                   F.col("why"), F.when(F.col("same_address") == 1, F.lit("住所一致 (same registered address)")),
                   F.when(F.col("same_rep") == 1, F.lit("法定代表人一致 (same legal representative)")),
                   F.when(F.col("same_employee") == 1,
                          F.lit("人社登记该人员受雇于此企业 (人社 shows this enterprise employing the person)")))))
               .drop("eid", "why", "same_address", "same_rep", "same_employee", "n"))
    ambiguous = per_record.where(F.col("n") > 1).select("record_id", F.lit(True).alias("ambiguous"))
    unlinked = (rest.join(by_name.select("record_id"), "record_id", "left_anti")
                .join(ambiguous, "record_id", "left")
                .withColumn("enterprise_id", F.lit(None).cast("string"))
                .withColumn("link_method", F.lit(None).cast("string"))
                .withColumn("link_score", F.lit(None).cast("double"))
                .withColumn("link_reasons", F.array().cast("array<string>"))
                .withColumn("unlinked_reason", F.when(F.col("ambiguous"), F.lit(AMBIGUOUS_NAME))
                            .when(F.col("uscc").isNull(), F.lit(NO_CODE_NO_NAME))
                            .when(F.col("uscc_check") == VALID, F.lit(UNKNOWN_CODE))
                            .otherwise(F.lit(BROKEN_NO_MATCH)))
                .drop("ambiguous"))
    linked = (linked_so_far.unionByName(by_name)
              .withColumn("unlinked_reason", F.lit(None).cast("string"))
              .unionByName(unlinked))
    # A written code other than the one linked (mistyped, or a pilot-looking typo) goes back as a proposal.
    proposal = F.when(F.col("link_method").isin(METHOD_REPAIR, METHOD_NAME) & F.col("uscc").isNotNull()
                      & (F.col("uscc") != F.col("enterprise_id")), F.col("enterprise_id"))
    decisions = linked.select("record_id", "enterprise_id", *LINK_COLUMNS, proposal.alias("proposed_uscc"))
    return Linked(whole.join(decisions, "record_id"), enterprises)
