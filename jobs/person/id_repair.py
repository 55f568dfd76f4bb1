"""GB 11643 ID numbers one edit away from a broken one (citylake.jobs.person.id_repair).

A department that mistypes one digit, or swaps two adjacent ones, writes a number whose check
character no longer matches: GB 11643's weights catch every single substitution and every adjacent
transposition. Going back, a broken number has only a few valid neighbours: changing the check
character gives one, changing one body digit gives at most one per position (the weight of the
position times the change must restore the sum modulo 11), swapping adjacent characters at most
17. Neighbours whose embedded birth date cannot exist are dropped; the caller joins the rest to the
golden persons, so only real persons remain.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citylake.schemas.identifiers import ID_CHECK_CHARS, ID_WEIGHTS

#: An 18-character ID number in its standard shape (17 digits and a digit or X), valid or not.
ID18_SHAPE = r"^\d{17}[\dX]$"

EDIT_CHECK = "check_character"
EDIT_SUBSTITUTION = "substitution"
EDIT_TRANSPOSITION = "transposition"


def _digit(text: Column, index: Column | int) -> Column:
    """The digit at 0-based ``index`` of ``text``, by code point (no cast that could fail)."""
    return F.ascii(F.substring(text, index + 1, 1)) - 48


def weighted_sum(body: Column) -> Column:
    """The GB 11643 weighted sum of a 17-digit string column, modulo 11."""
    return sum(_digit(body, i) * w for i, w in enumerate(ID_WEIGHTS)) % 11


def check_char(total: Column) -> Column:
    """The check character for a weighted sum (any integer; taken modulo 11)."""
    return F.element_at(F.array(*[F.lit(c) for c in ID_CHECK_CHARS]), ((total % 11 + 11) % 11 + 1).cast("int"))


def embedded_birth_date(id_number: Column) -> Column:
    """The birth date written in an 18-digit ID number (NULL when it cannot exist)."""
    return F.try_to_date(F.substring(id_number, 7, 8), "yyyyMMdd")


def embedded_sex(id_number: Column) -> Column:
    """GB/T 2261.1 sex code of an 18-digit ID number: the 17th digit odd for men ('1'), even ('2')."""
    return F.when((F.ascii(F.substring(id_number, 17, 1)) - 48) % 2 == 1, F.lit("1")).otherwise(F.lit("2"))


def near_ids(residue: DataFrame, raw_col: str = "raw_id") -> DataFrame:
    """``record_id``, ``candidate_id``, ``id_edit``, ``id_position`` (1-based; the first of a
    transposed pair) for every valid ID number one substitution or one adjacent transposition
    away from ``raw_col`` (an :func:`citylake.jobs.person.match_keys.id_key`), which must not be
    valid itself.

    The body's weighted sum is computed once per record; a neighbour's sum is that sum plus the
    change its edit makes (weight times digit difference), which keeps the expressions small."""
    raw = (residue.select("record_id", F.col(raw_col).alias("raw")).where(F.col("raw").rlike(ID18_SHAPE))
           .withColumn("total", weighted_sum(F.substring("raw", 1, 17))))
    check = F.substring("raw", 18, 1)
    weight = F.array(*[F.lit(w) for w in ID_WEIGHTS])
    pos, digit = F.col("pos"), F.col("digit")

    fixed_check = raw.where(check_char(F.col("total")) != check).select(
        "record_id", F.concat(F.substring("raw", 1, 17), check_char(F.col("total"))).alias("candidate_id"),
        F.lit(EDIT_CHECK).alias("id_edit"), F.lit(18).alias("id_position"))

    positions = raw.select("record_id", "raw", "total", F.explode(F.sequence(F.lit(0), F.lit(16))).alias("pos"))
    old = _digit(F.col("raw"), pos)
    substituted = (
        positions.select("*", F.explode(F.sequence(F.lit(0), F.lit(9))).alias("digit"))
        .where((digit != old)
               & (check_char(F.col("total") + F.element_at(weight, pos + 1) * (digit - old)) == check))
        .select("record_id",
                F.concat(F.substring("raw", 1, pos), digit.cast("string"), F.substring("raw", pos + 2, 17 - pos))
                .alias("candidate_id"),
                F.lit(EDIT_SUBSTITUTION).alias("id_edit"), (pos + 1).alias("id_position")))

    # Swapping body digits p and p+1 changes the sum by (w[p] - w[p+1]) * (d[p+1] - d[p]); swapping
    # the last body digit with the check character makes the old check the new last digit.
    nxt = _digit(F.col("raw"), pos + 1)
    swapped = F.concat(F.substring("raw", 1, pos), F.substring("raw", pos + 2, 1), F.substring("raw", pos + 1, 1),
                       F.substring("raw", pos + 3, 16 - pos))
    body_swap = (pos < 16) & (check_char(
        F.col("total") + (F.element_at(weight, pos + 1) - F.element_at(weight, pos + 2)) * (nxt - old)) == check)
    last_swap = (pos == 16) & check.rlike(r"\d") & (check_char(
        F.col("total") + F.element_at(weight, 17) * (nxt - old)) == F.substring("raw", 17, 1))
    transposed = (
        positions.where((F.substring("raw", pos + 1, 1) != F.substring("raw", pos + 2, 1)) & (body_swap | last_swap))
        .select("record_id", swapped.alias("candidate_id"), F.lit(EDIT_TRANSPOSITION).alias("id_edit"),
                (pos + 1).alias("id_position")))

    return (fixed_check.unionByName(substituted).unionByName(transposed)
            .where(embedded_birth_date(F.col("candidate_id")).isNotNull()))
