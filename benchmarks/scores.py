"""Scores of the theme libraries against the synthetic city's truth, for the benchmarks.

Each function reads a built city (its lake and the generator's truth, ``Home.truth``) and compares
the gold tables with what the generator knows: the population library's linkage
(``gold.person_source_link``: pairwise precision and recall over linked records), the standard-address
library's links (``gold.address_link``: right, wrong, per level), the legal-entity library's links
(``gold.enterprise_source_link``: records linked to the right USCC) and each topic rule's precision and
recall (citylake.jobs.topics.evaluate). The record truth (``record_truth``: source table, record key,
role → the true entity) is read once and shared.

    .venv/bin/python benchmarks/scores.py --home CITY_HOME [--json OUT]

scores a city built earlier (e.g. by ``benchmarks/pipeline.py --root``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

# The address role of each source table in the truth (record_truth.role).
ADDRESS_ROLES = {"gongan.CZRK": "address", "minzheng.dbjz_cy": "address", "jiaoyu.xj_xsjbxx": "address",
                 "scjg.QYDJ": "address", "zrzy.BDCDJ": "property"}
TRUTH_COLUMNS = ["source_table", "record_key", "role", "entity_type", "entity_id", "defects"]


def record_truth(home) -> pd.DataFrame:
    """The generator's record truth: which true entity each source record (and role) stands for."""
    return ds.dataset(str(Path(home.truth) / "record_truth")).to_table(columns=TRUTH_COLUMNS).to_pandas()


def person(home, lake, truth: pd.DataFrame | None = None) -> dict[str, Any]:
    """The population library's linkage against the true persons."""
    truth = record_truth(home) if truth is None else truth
    links = lake.read_arrow("gold.person_source_link").read_all().to_pandas()
    truth = truth[truth["entity_type"] == "person"].drop_duplicates(["source_table", "record_key", "role"],
                                                                    keep="last")
    scored = links.merge(truth, on=["source_table", "record_key", "role"], how="inner")
    linked = scored[scored["person_id"].notna()]
    same = linked.groupby(["person_id", "entity_id"]).size()
    by_person, by_true = linked.groupby("person_id").size(), linked.groupby("entity_id").size()
    tp = int((same * (same - 1) // 2).sum())
    predicted, actual = int((by_person * (by_person - 1) // 2).sum()), int((by_true * (by_true - 1) // 2).sum())
    world = pd.read_parquet(Path(home.truth) / "person.parquet", columns=["person_id", "id_number"])
    proposals = scored[scored["proposed_id_number"].notna()].merge(
        world.rename(columns={"person_id": "entity_id"}), on="entity_id")
    persons = lake.row_count("gold.person")
    return {"records": len(links), "matched_to_truth": len(scored),
            "linked_by_linkage": int((links["link_method"] == "linkage").sum()),
            "unlinked": int(links["person_id"].isna().sum()),
            "pairwise_precision": tp / predicted if predicted else 1.0,
            "pairwise_recall": tp / actual if actual else 1.0,
            "golden_persons": persons, "true_persons_mentioned": int(truth["entity_id"].nunique()),
            "golden_vs_true": persons / max(1, truth["entity_id"].nunique()) - 1,
            "golden_persons_merging_true_persons": int((linked.groupby("person_id")["entity_id"].nunique() > 1).sum()),
            "proposals": len(proposals),
            "proposals_right": float((proposals["proposed_id_number"] == proposals["id_number"]).mean())
            if len(proposals) else None}


def address(home, lake, truth: pd.DataFrame | None = None) -> dict[str, Any]:
    """Each address link beside the true address of its record and the true address its standard
    address stands for; per level, the links and how many are right or wrong (only the room level
    has ids)."""
    truth = record_truth(home) if truth is None else truth
    standard = (truth[truth["source_table"] == "gongan.BZDZ"][["record_key", "entity_id"]]
                .rename(columns={"record_key": "address_id", "entity_id": "standard_truth"}))
    sources = truth[truth["source_table"].isin(ADDRESS_ROLES)
                    & (truth["role"] == truth["source_table"].map(ADDRESS_ROLES))]
    links = lake.read_arrow("gold.address_link").read_all().to_pandas()
    scored = (links.merge(sources[["source_table", "record_key", "entity_id", "defects"]],
                          on=["source_table", "record_key"], how="left").merge(standard, on="address_id", how="left"))
    scored["right"] = scored["address_id"].notna() & (scored["standard_truth"] == scored["entity_id"])
    scored["wrong"] = scored["address_id"].notna() & (scored["standard_truth"] != scored["entity_id"])
    scored["variant"] = scored["defects"].map(lambda d: any(str(x).endswith(":address_variant") for x in d))
    per_level = scored.groupby("level").agg(links=("record_id", "size"), right=("right", "sum"), wrong=("wrong", "sum"))
    per_table = scored.groupby("source_table").agg(links=("record_id", "size"), right=("right", "mean"))
    variants = scored[scored["variant"]]
    return {"links": len(scored), "right": float(scored["right"].mean()), "wrong": float(scored["wrong"].mean()),
            "variants": len(variants), "variants_right": float(variants["right"].mean()),
            "variants_wrong": float(variants["wrong"].mean()),
            "per_level": {k: {c: int(v) for c, v in row.items()} for k, row in per_level.iterrows()},
            "per_table_right": {k: round(float(v), 5) for k, v in per_table["right"].items()}}


def enterprise(home, lake, truth: pd.DataFrame | None = None) -> dict[str, Any]:
    """The legal-entity library's links against the true enterprises' USCCs."""
    truth = record_truth(home) if truth is None else truth
    truth = truth[truth["entity_type"] == "enterprise"]
    world = pd.read_parquet(Path(home.truth) / "enterprise.parquet", columns=["enterprise_id", "uscc"])
    truth = truth.merge(world.rename(columns={"enterprise_id": "entity_id", "uscc": "true_uscc"}), on="entity_id")
    links = lake.read_arrow("gold.enterprise_source_link").read_all().to_pandas()
    scored = links.merge(truth, on=["source_table", "record_key", "role"], how="left")
    right = scored["uscc"] == scored["true_uscc"]
    linked = scored[scored["uscc"].notna()]
    proposals = scored[scored["proposed_uscc"].notna()]
    return {"records": len(scored), "without_truth": int(scored["true_uscc"].isna().sum()),
            "right": float(right.mean()), "unlinked": int(scored["uscc"].isna().sum()),
            "wrong": int((scored["uscc"].notna() & ~right).sum()),
            "golden_enterprises": lake.row_count("gold.enterprise"),
            "true_enterprises_mentioned": int(scored["true_uscc"].nunique()),
            "golden_merging_true": int((linked.groupby("uscc")["true_uscc"].nunique() > 1).sum()),
            "proposals": len(proposals),
            "proposals_right": float((proposals["proposed_uscc"] == proposals["true_uscc"]).mean())
            if len(proposals) else None}


def topics(home, lake) -> list[dict[str, Any]]:
    """Per topic rule: found, true, true positives, precision and recall."""
    from citylake.jobs.topics.evaluate import built_as_of, evaluate

    table = evaluate(lake, home.truth, built_as_of(lake))
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in table.to_dict("records")]


def score_city(home, lake) -> dict[str, Any]:
    """Every library's score, for the libraries the lake holds."""
    truth = record_truth(home)
    out: dict[str, Any] = {}
    if lake.exists("gold.person_source_link"):
        out["person"] = person(home, lake, truth)
    if lake.exists("gold.address_link"):
        out["address"] = address(home, lake, truth)
    if lake.exists("gold.enterprise_source_link"):
        out["enterprise"] = enterprise(home, lake, truth)
    del truth
    if lake.exists("gold.topic_elderly"):
        out["topics"] = topics(home, lake)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="the city's CITYLAKE_HOME (its lake/ and truth/)")
    parser.add_argument("--json", help="also write the scores here")
    args = parser.parse_args()

    from citylake.lake import open_lake
    from citylake.settings import Home

    home = Home(Path(args.home).resolve())
    scores = score_city(home, open_lake(home.lake))
    text = json.dumps(scores, ensure_ascii=False, indent=2, default=str)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
