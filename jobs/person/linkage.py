"""Linking person records whose ID number is missing or broken to golden persons
(citylake.jobs.person.linkage): the residue of 一人一档 after the records with a valid ID have been
keyed by it.

:func:`link_residue` takes the person-bearing records (citylake.jobs.person.records) and the golden
persons and returns one row per record without a valid ID: the person it links to (or NULL and
why not), the score, the reasons, and the corrected ID number to propose back to the department
(建议更正为) when the written number is one mistyped digit or one swapped pair of digits away from
exactly one golden person's.

How (settings in ``linkage.yaml``, :mod:`citylake.jobs.person.linkage_settings`):

1. Keys (:mod:`citylake.jobs.person.match_keys`): names without spacing and minority-name
   separators, in simplified characters; addresses in one written form and their district; phone
   digits. A record's *context address* is the golden address of a person with a valid ID in
   another role of the same source record (a birth certificate's father, a pupil).
2. Candidates: golden persons sharing every key of a blocking rule, plus the valid ID numbers one
   edit away from the written one (:mod:`citylake.jobs.person.id_repair`).
3. Score: the sum of the log2 Bayes factors of each comparison's level (Fellegi-Sunter), names
   weighted by how rare they are among golden persons (王伟 and 张敏 weigh little); each level that
   applies becomes a reason with its weight.
4. Decision: the best candidate links when it reaches the threshold and no other candidate comes
   within the margin; else the record stays unlinked with the reason (no candidate, too weak,
   ambiguous). Two golden persons are never merged: a record links to at most one of them, and
   records with a valid ID are not handled here at all.

Why not Splink: citylake.jobs.person.splink_eval runs Splink 5 (DuckDB and Spark backends) on the
same residue with the same blocking, and benchmarks/person_linkage.py puts both side by side.
Splink's EM-trained model needs a second engine (DuckDB) or its Scala UDF jar on the cluster, gives
one probability per pair without the ID-repair candidates (its blocking cannot generate the valid
neighbours of a broken ID number), and was not more accurate on the synthetic city; the linker here
is plain Spark SQL with weights one can read and change in YAML, and it explains each match.
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from citylake.jobs.person.id_repair import (
    EDIT_CHECK,
    EDIT_SUBSTITUTION,
    EDIT_TRANSPOSITION,
    ID18_SHAPE,
    embedded_birth_date,
    embedded_sex,
    near_ids,
)
from citylake.jobs.person.linkage_settings import LinkageSettings, load_settings
from citylake.jobs.person.match_keys import address_key, district_of, id_key, name_key, phone_key

#: The columns of :func:`link_residue`'s result.
RESULT_COLUMNS = ("record_id", "person_id", "match_score", "match_reasons", "proposed_id_number", "unlinked_reason")

# Blocking key -> (record feature, person feature).
_KEY_COLUMNS = {"name": ("r_name", "p_name"), "birth_date": ("r_birth", "p_birth"), "sex": ("r_sex", "p_sex"),
                "phone": ("r_phone", "p_phone"), "address": ("r_address", "p_address"),
                "context_address": ("ctx_address", "p_address")}
_NEAR_EDITS = (EDIT_CHECK, EDIT_SUBSTITUTION, EDIT_TRANSPOSITION)


def link_residue(records: DataFrame, persons: DataFrame, settings: LinkageSettings | str | Path | None = None
                 ) -> DataFrame:
    """One row per record of ``records`` whose ``id_number`` is NULL: ``record_id``, ``person_id``
    (NULL if unlinked), ``match_score``, ``match_reasons``, ``proposed_id_number``,
    ``unlinked_reason`` (NULL when linked). See the module docstring."""
    if not isinstance(settings, LinkageSettings):
        settings = load_settings(settings)
    # Each step's result is materialised before the next: fused into one plan, the key expressions
    # (the traditional -> simplified map above all) and the scoring outgrow the JVM's 64 KB method
    # limit, and Spark falls back to interpreting them (100k persons: 57 s fused, 14 s so).
    people = person_features(persons, settings).localCheckpoint()
    return link_features(record_features(records, people, settings).localCheckpoint(), people, settings)


def link_features(residue: DataFrame, people: DataFrame, settings: LinkageSettings) -> DataFrame:
    """:func:`link_residue` of residue records and golden persons whose features
    (:func:`record_features`, :func:`person_features`) are computed already: an incremental build
    computes them once, to find the records to relink and to relink them."""
    candidates = candidate_pairs(residue, people, settings).localCheckpoint()
    scored = score_pairs(candidates, residue, people, settings)
    return decide(residue, scored, settings)


def person_features(persons: DataFrame, settings: LinkageSettings) -> DataFrame:
    """Golden persons with their comparison keys and the weight of an equal name (rarer, heavier)."""
    keyed = person_keys(persons)
    return (keyed.join(name_weights(keyed, settings), "p_name", "left")
            .withColumn("p_district", district_of(F.col("p_address"))))


def person_keys(persons: DataFrame) -> DataFrame:
    """``person_id`` and the comparison keys of golden persons (``p_name``, ``p_birth`` …)."""
    return persons.select(
        "person_id", F.col("name").alias("p_name_raw"), name_key(F.col("name")).alias("p_name"),
        F.col("birth_date").alias("p_birth"), F.col("sex").alias("p_sex"), phone_key(F.col("phone")).alias("p_phone"),
        address_key(F.col("address")).alias("p_address"))


def name_weights(keyed: DataFrame, settings: LinkageSettings) -> DataFrame:
    """``p_name``, ``p_name_weight``: the weight of an equal name, from its share of the golden
    persons (:func:`person_keys`)."""
    return weights_of_counts(name_counts(keyed), settings)


def name_counts(keyed: DataFrame) -> DataFrame:
    """``p_name``, ``n``: how many golden persons (:func:`person_keys`) bear each name."""
    return keyed.where(F.col("p_name").isNotNull()).groupBy("p_name").agg(F.count(F.lit(1)).alias("n"))


def weights_of_counts(counts: DataFrame, settings: LinkageSettings) -> DataFrame:
    """``p_name``, ``p_name_weight`` of :func:`name_counts` (the weight of an equal name).

    Rounded to the tenth of a bit the reasons show: a day's new persons shift every share a little,
    and unrounded every weight — so every residue record's score — would move with them; rounded,
    only the names whose weight really changed do, and an incremental build relinks only the
    records that bear them (citylake.jobs.person.incremental)."""
    w = settings.weights["name"]
    total = F.broadcast(counts.agg(F.sum("n").alias("total")))
    frequency = F.col("n") / F.col("total")
    weight = F.log2(F.lit(w["m"]) / F.greatest(frequency, F.lit(w["frequency_floor"])))
    clipped = F.least(F.greatest(F.round(weight, 1), F.lit(w["equal_min"])), F.lit(w["equal_max"]))
    return counts.crossJoin(total).select("p_name", clipped.alias("p_name_weight"))


def record_features(records: DataFrame, people: DataFrame, settings: LinkageSettings) -> DataFrame:
    """The residue (records without a valid ID) with comparison keys and context addresses."""
    role_sex = F.create_map(*[F.lit(x) for pair in sorted(settings.role_sex.items()) for x in pair]) \
        if settings.role_sex else None
    sex = F.col("sex") if role_sex is None else F.coalesce(F.col("sex"), role_sex[F.col("role")])
    residue = records.where(F.col("id_number").isNull()).select(
        "record_id", "system", "source_table", "record_key", "role",
        F.col("name").alias("r_name_raw"), name_key(F.col("name")).alias("r_name"),
        F.col("birth_date").alias("r_birth"), sex.alias("r_sex"), phone_key(F.col("phone")).alias("r_phone"),
        address_key(F.col("address")).alias("r_address"), id_key(F.col("id_number_raw")).alias("r_id"))
    residue = residue.withColumn("r_district", district_of(F.col("r_address")))

    # Where the other parties of the same source record live: persons keyed by a valid ID. Only the
    # source records with a residue record are looked at (a few percent of them).
    record = ["system", "source_table", "record_key"]
    context = (records.where(F.col("id_number").isNotNull())
               .join(F.broadcast(residue.select(*record).distinct()), record, "left_semi")
               .select(*record, "role", F.col("id_number").alias("person_id"))
               .join(people.select("person_id", "p_address").where(F.col("p_address").isNotNull()), "person_id")
               .groupBy(*record)
               .agg(F.array_sort(F.collect_set(F.struct(F.col("p_address").alias("address"), "role")))
                    .alias("context")))
    return residue.join(context, record, "left")


def candidate_pairs(residue: DataFrame, people: DataFrame, settings: LinkageSettings) -> DataFrame:
    """``record_id``, ``person_id``, ``id_edit``, ``id_position`` for every candidate pair: the
    union of the blocking rules and the golden persons whose ID is one edit from the written one."""
    pairs = []
    with_context = residue.select("*", F.explode("context.address").alias("ctx_address"))
    for rule in settings.blocking:
        left = with_context if "context_address" in rule else residue
        condition = [left[_KEY_COLUMNS[k][0]] == people[_KEY_COLUMNS[k][1]] for k in rule]
        pairs.append(left.join(people, condition).select("record_id", "person_id"))
    blocked = reduce(DataFrame.unionByName, pairs).distinct()

    near = (near_ids(residue.where(F.col("r_id").isNotNull()), "r_id")
            .join(people.select(F.col("person_id").alias("candidate_id")), "candidate_id")
            .groupBy("record_id", F.col("candidate_id").alias("person_id"))
            .agg(F.min_by(F.struct("id_edit", "id_position"), F.col("id_position")).alias("edit"))
            .select("record_id", "person_id", "edit.id_edit", "edit.id_position"))
    return (blocked.join(near, ["record_id", "person_id"], "full")
            .select("record_id", "person_id", "id_edit", "id_position"))


def _level(weight: Column, reason: Column) -> Column:
    return F.struct(weight.cast("double").alias("weight"), reason.alias("reason"))


def _signed(weight: Column) -> Column:
    return F.format_string("%+.1f", weight)


def score_pairs(candidates: DataFrame, residue: DataFrame, people: DataFrame, settings: LinkageSettings
                ) -> DataFrame:
    """Every candidate pair with its ``score`` and ``reasons`` (each comparison's level and weight)."""
    wt = settings.weights
    pairs = candidates.join(residue, "record_id").join(people, "person_id")
    c = F.col

    def lit(comparison: str, level: str) -> Column:
        return F.lit(wt[comparison][level])

    def leveled(cases: list[tuple[Column, Column, str]]) -> Column:
        """The first case that applies: (condition, weight, reason text without the weight)."""
        out = None
        for condition, weight, reason in cases:
            item = _level(weight, F.format_string(f"{reason} (%s)", _signed(weight)))
            out = F.when(condition, item) if out is None else out.when(condition, item)
        return out

    id_shaped = c("r_id").rlike(ID18_SHAPE) | c("r_id").rlike(r"^\d{15}$")
    id_level = F.when(c("id_edit") == EDIT_CHECK, _level(
        lit("id_number", "check_character"),
        F.format_string("id check character differs from %s (%s)", c("person_id"),
                        _signed(lit("id_number", "check_character"))))
    ).when(c("id_edit") == EDIT_SUBSTITUTION, _level(
        lit("id_number", "substitution"),
        F.format_string("id one digit from %s (position %d) (%s)", c("person_id"), c("id_position"),
                        _signed(lit("id_number", "substitution"))))
    ).when(c("id_edit") == EDIT_TRANSPOSITION, _level(
        lit("id_number", "transposition"),
        F.format_string("id adjacent digits transposed from %s (positions %d-%d) (%s)", c("person_id"),
                        c("id_position"), c("id_position") + 1, _signed(lit("id_number", "transposition"))))
    ).when(id_shaped, _level(
        lit("id_number", "different"),
        F.format_string("id number two or more edits from the person's (%s)", _signed(lit("id_number", "different")))))

    same_length = F.length("r_name") == F.length("p_name")
    name_level = leveled([
        ((c("r_name") == c("p_name")) & (F.trim(c("r_name_raw")) == F.trim(c("p_name_raw"))), c("p_name_weight"),
         "name equal"),
        (c("r_name") == c("p_name"), c("p_name_weight"), "name equal after simplification"),
        (same_length & (F.length("r_name") >= 2) & (F.levenshtein("r_name", "p_name") == 1),
         lit("name", "one_character"), "name one character different"),
        (F.lit(True), lit("name", "different"), "name differs"),
    ])
    name_level = F.when(c("r_name").isNotNull() & c("p_name").isNotNull(), name_level)

    def equal_or_not(r: str, p: str, comparison: str, label: str) -> Column:
        return F.when(c(r).isNotNull() & c(p).isNotNull(), leveled([
            (c(r) == c(p), lit(comparison, "equal"), f"{label} equal"),
            (F.lit(True), lit(comparison, "different"), f"{label} differs"),
        ]))

    address_level = F.when(c("r_address").isNotNull() & c("p_address").isNotNull(), leveled([
        (c("r_address") == c("p_address"), lit("address", "equal"), "address equal"),
        (c("r_district") == c("p_district"), lit("address", "same_district"), "address same district"),
        (F.lit(True), lit("address", "different"), "address differs"),
    ]))
    matched_roles = F.filter("context", lambda x: x["address"] == c("p_address"))
    context_level = F.when(
        (F.size("context") > 0) & c("p_address").isNotNull(),
        F.when(F.size(matched_roles) > 0, _level(
            lit("context_address", "equal"),
            F.format_string("address equal to the %s's in this record (%s)", matched_roles[0]["role"],
                            _signed(lit("context_address", "equal"))))
        ).otherwise(_level(
            lit("context_address", "different"),
            F.format_string("address differs from the other parties' in this record (%s)",
                            _signed(lit("context_address", "different"))))))

    levels = F.filter(F.array(
        id_level, name_level,
        equal_or_not("r_birth", "p_birth", "birth_date", "birth date"),
        equal_or_not("r_sex", "p_sex", "sex", "sex"),
        equal_or_not("r_phone", "p_phone", "phone", "phone"),
        address_level, context_level,
    ), lambda x: x.isNotNull() & x["weight"].isNotNull())
    consistent = ((c("r_birth").isNull() | (c("r_birth") == embedded_birth_date(c("person_id"))))
                  & (c("r_sex").isNull() | (c("r_sex") == embedded_sex(c("person_id")))))
    return pairs.select(
        "record_id", "person_id", "id_edit",
        F.aggregate(levels, F.lit(0.0), lambda acc, x: acc + x["weight"]).alias("score"),
        F.transform(levels, lambda x: x["reason"]).alias("reasons"),
        (c("id_edit").isin(*_NEAR_EDITS) & consistent).alias("near_consistent"),
    )


def decide(residue: DataFrame, scored: DataFrame, settings: LinkageSettings) -> DataFrame:
    """The best candidate of each record, linked or not (with the reason), and the proposed ID."""
    threshold, margin = settings.threshold, settings.margin
    by_record = Window.partitionBy("record_id")
    ranked = (scored
              .withColumn("rank", F.row_number().over(by_record.orderBy(F.desc("score"), F.asc("person_id"))))
              .withColumn("best_score", F.max("score").over(by_record))
              .withColumn("rivals", F.sum((F.col("score") > F.col("best_score") - margin).cast("int")).over(by_record))
              .withColumn("near_count", F.sum(F.col("near_consistent").cast("int")).over(by_record))
              .where(F.col("rank") == 1))
    linked = (F.col("score") >= threshold) & (F.col("rivals") == 1)
    reason = (F.when(F.col("score").isNull(), F.lit("no candidate: no golden person shares a blocking key or a near ID"))
              .when(F.col("score") < threshold,
                    F.format_string("best candidate scores %.1f, below the threshold %.1f", F.col("score"),
                                    F.lit(threshold)))
              .when(F.col("rivals") > 1,
                    F.format_string("ambiguous: %d candidates within %.1f of the best score %.1f", F.col("rivals"),
                                    F.lit(margin), F.col("score"))))
    proposed = F.when(linked & F.col("near_consistent") & (F.col("near_count") == 1), F.col("person_id"))
    return (residue.select("record_id").join(ranked, "record_id", "left")
            .select("record_id",
                    F.when(linked, F.col("person_id")).alias("person_id"),
                    F.col("score").alias("match_score"),
                    F.coalesce(F.col("reasons"), F.array().cast("array<string>")).alias("match_reasons"),
                    proposed.alias("proposed_id_number"),
                    F.when(~linked | F.col("score").isNull(), reason).alias("unlinked_reason")))
