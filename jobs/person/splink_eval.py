"""Splink 5 on the same residue as citylake.jobs.person.linkage, for the evaluation that chose the
linker (citylake.jobs.person.splink_eval; run by benchmarks/person_linkage.py).

Both see the same rows: the records without a valid ID and the golden persons, with the same keys
(:func:`citylake.jobs.person.linkage.record_features` / ``person_features``: simplified names
without separators, one written form of addresses, phone digits, the context address of the other
parties of the record). Splink gets the same blocking rules as the linker; for ID numbers, which
its blocking cannot repair, it blocks on the division code and birth date (the first 14
characters) and on everything after the division code, so one mistyped digit or one swapped pair
keeps at least one of them. Comparisons: Damerau-Levenshtein on the ID number (≤ 1), name exact
with term-frequency adjustment or one edit, birth date, sex, phone, address, context address.
Parameters are estimated as Splink recommends (u by random sampling, m by expectation
maximisation on three blocking rules). A record links to its best pair when the match probability
reaches ``threshold`` and no other pair of the record has the same weight.

The decision (see citylake.jobs.person.linkage's module docstring): the product uses its own
linker; Splink stays an evaluation extra (``pip install -e '.[eval]'``). This module needs it; the
product and the test suite do not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from citylake.jobs.person.linkage import person_features, record_features
from citylake.jobs.person.linkage_settings import LinkageSettings, load_settings

log = logging.getLogger(__name__)

_COLUMNS = ("unique_id", "name", "birth_date", "sex", "phone", "address", "ctx_address", "id", "id_head", "id_tail")


@dataclass(frozen=True)
class SplinkInputs:
    left: DataFrame  # the residue
    right: DataFrame  # the golden persons


def splink_inputs(records: DataFrame, persons: DataFrame, settings: LinkageSettings | None = None) -> SplinkInputs:
    """The residue and the persons in one schema for Splink, keyed like the linker keys them."""
    settings = settings or load_settings()
    people = person_features(persons, settings)
    residue = record_features(records, people, settings)
    left = residue.select(
        F.col("record_id").alias("unique_id"), F.col("r_name").alias("name"),
        F.col("r_birth").cast("string").alias("birth_date"), F.col("r_sex").alias("sex"),
        F.col("r_phone").alias("phone"), F.col("r_address").alias("address"),
        F.element_at(F.col("context.address"), 1).alias("ctx_address"), F.col("r_id").alias("id"))
    right = people.select(
        F.col("person_id").alias("unique_id"), F.col("p_name").alias("name"),
        F.col("p_birth").cast("string").alias("birth_date"), F.col("p_sex").alias("sex"),
        F.col("p_phone").alias("phone"), F.col("p_address").alias("address"),
        F.col("p_address").alias("ctx_address"), F.col("person_id").alias("id"))
    add = [F.substring("id", 1, 14).alias("id_head"), F.substring("id", 7, 12).alias("id_tail")]
    return SplinkInputs(left.select("*", *add).select(*_COLUMNS), right.select("*", *add).select(*_COLUMNS))


def splink_settings(settings: LinkageSettings | None = None):
    """A Splink ``SettingsCreator`` with the linker's blocking rules plus the two ID blocks."""
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    settings = settings or load_settings()
    rules = []
    for rule in settings.blocking:
        if "context_address" in rule:
            sql = " AND ".join("l.ctx_address = r.address" if k == "context_address" else f"l.{k} = r.{k}"
                               for k in rule)
            rules.append(sql)
        else:
            rules.append(block_on(*rule))
    rules += [block_on("id_head"), block_on("id_tail")]
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[
            cl.DamerauLevenshteinAtThresholds("id", [1]),
            cl.LevenshteinAtThresholds("name", [1]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("birth_date"),
            cl.ExactMatch("sex"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("address"),
            cl.ExactMatch("ctx_address"),
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
    )


def _train_and_predict(db_api, left, right, settings: LinkageSettings | None, seed: int):
    from splink import Linker, block_on

    linker = Linker([db_api.register(left, dataset_display_name="residue"),
                     db_api.register(right, dataset_display_name="persons")],
                    splink_settings(settings), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("name", "birth_date")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_head"))
    return linker.inference.predict(threshold_match_probability=0.01)


def link_with_splink_duckdb(spark: SparkSession, inputs: SplinkInputs, settings: LinkageSettings | None = None,
                            threshold: float = 0.99, seed: int = 7) -> DataFrame:
    """``record_id``, ``person_id`` (NULL if unlinked) by Splink's DuckDB backend. The two inputs
    move to the driver as Arrow (DuckDB runs there): an evaluation, not a product path."""
    from splink import DuckDBAPI

    left, right = inputs.left.toArrow(), inputs.right.toArrow()
    pairs = _train_and_predict(DuckDBAPI(), left, right, settings, seed).as_pandas_dataframe()
    return _decide(spark, spark.createDataFrame(pairs[["unique_id_l", "unique_id_r", "source_dataset_l",
                                                       "match_weight", "match_probability"]]),
                   inputs.left, threshold)


def link_with_splink_spark(spark: SparkSession, inputs: SplinkInputs, settings: LinkageSettings | None = None,
                           threshold: float = 0.99, seed: int = 7) -> DataFrame:
    """The same with Splink's Spark backend: ``spark`` must have been started with Splink's
    similarity jar (``spark.jars`` = :func:`splink.backends.spark.similarity_jar_location`)."""
    from splink import SparkAPI

    # persist, not Splink's default checkpoint: a local session has no checkpoint directory.
    db_api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    pairs = _train_and_predict(db_api, inputs.left, inputs.right, settings, seed).as_spark_dataframe()
    return _decide(spark, pairs.select("unique_id_l", "unique_id_r", "source_dataset_l", "match_weight",
                                       "match_probability"), inputs.left, threshold)


def _decide(spark: SparkSession, pairs: DataFrame, left: DataFrame, threshold: float) -> DataFrame:
    from pyspark.sql import Window

    # Pairs come either way round in link_only; orient them residue -> person.
    residue_first = F.col("source_dataset_l") == "residue"
    oriented = pairs.select(
        F.when(residue_first, F.col("unique_id_l")).otherwise(F.col("unique_id_r")).alias("record_id"),
        F.when(residue_first, F.col("unique_id_r")).otherwise(F.col("unique_id_l")).alias("person_id"),
        "match_weight", "match_probability")
    by_record = Window.partitionBy("record_id")
    best = (oriented.withColumn("top", F.max("match_weight").over(by_record))
            .withColumn("ties", F.sum((F.col("match_weight") == F.col("top")).cast("int")).over(by_record))
            .where((F.col("match_weight") == F.col("top")) & (F.col("ties") == 1)
                   & (F.col("match_probability") >= threshold)))
    return (left.select(F.col("unique_id").alias("record_id")).join(best, "record_id", "left")
            .select("record_id", "person_id", F.col("match_probability").alias("match_score")))
