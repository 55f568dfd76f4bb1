"""Scoring residue links against the synthetic city's truth (``record_truth``), for the linkage
tests and benchmarks/person_linkage.py (citylake.jobs.person.linkage_eval).

Definitions (over the records without a valid ID, the residue):

- *linkable*: the record's true person is a golden person (its true ID number is a ``person_id``);
- *precision*: links to the true person / links made (each link is one record-person pair);
- *recall*: links to the true person / linkable records;
- *wrong merges*: links to a golden person other than the true one (a true person merged into
  another: with valid IDs on both sides, two distinct true persons);
- *corrections right*: proposed ID numbers equal to the true one / proposed ID numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


@dataclass(frozen=True)
class LinkScore:
    residue: int
    linkable: int
    links: int
    correct: int
    wrong: int
    proposed: int
    proposed_right: int

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.linkable if self.linkable else 1.0

    @property
    def corrections_right(self) -> float:
        return self.proposed_right / self.proposed if self.proposed else 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "corrections_right": self.corrections_right}


def truth_ids(spark: SparkSession, truth_root: str | Path) -> DataFrame:
    """``source_table``, ``record_key``, ``role``, ``true_id``: the true ID number behind every
    person role of every source record."""
    root = Path(truth_root)
    roles = spark.read.parquet(str(root / "record_truth")).where(F.col("entity_type") == "person")
    people = spark.read.parquet(str(root / "person.parquet")).select(
        F.col("person_id").alias("entity_id"), F.col("id_number").alias("true_id"))
    return roles.join(people, "entity_id").select("source_table", "record_key", "role", "true_id")


def score_links(links: DataFrame, records: DataFrame, persons: DataFrame, truth: DataFrame) -> LinkScore:
    """Score ``links`` (the result of citylake.jobs.person.linkage.link_residue, or any frame with
    ``record_id``, ``person_id`` and ``proposed_id_number``) against ``truth`` (:func:`truth_ids`)."""
    keyed = (records.select("record_id", "source_table", "record_key", "role")
             .join(truth, ["source_table", "record_key", "role"], "left")
             .join(persons.select(F.col("person_id").alias("true_id"), F.lit(True).alias("golden")), "true_id", "left"))
    proposed = links.columns.count("proposed_id_number") > 0
    joined = links.join(keyed, "record_id", "left")
    linked = F.col("person_id").isNotNull()
    row = joined.agg(
        F.count(F.lit(1)).alias("residue"),
        F.sum(F.coalesce(F.col("golden"), F.lit(False)).cast("int")).alias("linkable"),
        F.sum(linked.cast("int")).alias("links"),
        F.sum((linked & (F.col("person_id") == F.col("true_id"))).cast("int")).alias("correct"),
        F.sum((linked & ~F.coalesce(F.col("person_id") == F.col("true_id"), F.lit(False))).cast("int")).alias("wrong"),
        F.sum((F.col("proposed_id_number").isNotNull() if proposed else F.lit(False)).cast("int")).alias("proposed"),
        F.sum(((F.col("proposed_id_number") == F.col("true_id")) if proposed else F.lit(False)).cast("int"))
        .alias("proposed_right"),
    ).first()
    return LinkScore(**{k: int(row[k] or 0) for k in LinkScore.__dataclass_fields__})
