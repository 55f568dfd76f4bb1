"""The topic libraries scored against the synthetic city's truth (``--truth DIR`` of
``citylake generate``): each rule's rows compared with the same rule applied to the true world
(citylake.synthcity.world; the record truth for the 低保 list and the property records), precision
and recall per rule.

``python -m citylake.jobs.topics.evaluate LAKE TRUTH`` prints the table.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pandas as pd

from citylake.jobs.topics.build import ALONE, CHILDREN, DIBAO, ELDERLY, SHELL
from citylake.jobs.topics.rules import RULES_FILE, TopicRules, load_rules

STATUS_ZH = {"active": "存续", "revoked": "吊销", "deregistered": "注销"}


def _age(birth: pd.Series, as_of: date) -> pd.Series:
    b = pd.to_datetime(birth)
    before = (b.dt.month > as_of.month) | ((b.dt.month == as_of.month) & (b.dt.day > as_of.day))
    return as_of.year - b.dt.year - before.astype(int)


def truth_sets(truth_dir: str | Path, rules: TopicRules, as_of: date) -> dict[str, set]:
    """rule → the keys the rule should find in the true world (ID numbers, USCCs or 低保 record keys)."""
    from citylake.synthcity.truth import TruthDir

    truth = TruthDir(truth_dir)
    root = Path(truth_dir)
    p = pd.read_parquet(root / "person.parquet")
    h = pd.read_parquet(root / "household.parquet")
    e = pd.read_parquet(root / "enterprise.parquet")
    p["age"] = _age(p["birth_date"], as_of)
    alive = p.set_index("person_id")["alive"]
    p["address_id"] = p["household_id"].map(h.set_index("household_id")["address_id"])
    out: dict[str, set] = {}
    living = p[p["alive"]]
    out["elderly.age"] = set(living.loc[living["age"] >= rules.elderly.min_age, "id_number"])
    occupants = living.groupby("address_id")["person_id"].count()
    alone = living[(living["age"] >= rules.elderly_living_alone.min_age)
                   & living["address_id"].map(occupants).eq(1)]
    out["elderly_living_alone.alone"] = set(alone["id_number"])
    c = living[living["age"] < rules.children_in_difficulty.max_age].copy()
    father_dead = c["father_id"].map(alive).eq(False)
    mother_dead = c["mother_id"].map(alive).eq(False)
    parent_alive = c["father_id"].map(alive).eq(True) | c["mother_id"].map(alive).eq(True)
    low = c["household_id"].map(h.set_index("household_id")["low_income"]).fillna(False).astype(bool)
    out["children_in_difficulty.both_parents_deceased"] = set(c.loc[father_dead & mother_dead, "id_number"])
    out["children_in_difficulty.one_parent_deceased_dibao"] = set(
        c.loc[(father_dead ^ mother_dead) & parent_alive & low, "id_number"])
    out["children_in_difficulty.raised_by_grandparents"] = set(
        c.loc[c["role"].eq("grandchild") & ~parent_alive, "id_number"])
    statuses = set(rules.shell_company.statuses)
    out["shell_company.score"] = set(e.loc[e["is_shell"] & e["status"].map(STATUS_ZH).isin(statuses), "uscc"])
    # 低保: the list's current records and who they are; the property records' true holders.
    records = truth.read_record_truth()
    deleted = truth.deleted_records()
    records = records[[(t, k) not in deleted for t, k in zip(records["source_table"], records["record_key"],
                                                             strict=True)]]
    review = rules.dibao_review
    members = records[(records["source_table"] == review.source) & (records["role"] == "subject")]
    holders = records[(records["source_table"] == review.property_source) & (records["role"] == "holder")
                      & (records["entity_type"] == "person")]
    held = holders.groupby("entity_id")["record_key"].nunique()
    big = e[(e["registered_capital_10k"] >= review.min_capital_10k)
            & e["status"].map(STATUS_ZH).isin(set(review.enterprise_statuses))]
    out["dibao_review.deceased"] = set(members.loc[members["entity_id"].map(alive).eq(False), "record_key"])
    out["dibao_review.several_properties"] = set(
        members.loc[members["entity_id"].map(held).fillna(0) >= review.min_properties, "record_key"])
    out["dibao_review.large_capital_enterprise"] = set(
        members.loc[members["entity_id"].isin(set(big["legal_rep_person_id"])), "record_key"])
    # The feedback model: enterprises naming a deceased legal representative.
    out["feedback.legal_rep_deceased"] = set(e.loc[e["legal_rep_person_id"].map(alive).eq(False), "uscc"])
    return out


def found_sets(lake, rules: TopicRules) -> dict[str, set]:
    """rule → the keys the built topic tables hold for it."""
    def read(table: str) -> pd.DataFrame:
        return lake.read_arrow(table).read_all().to_pandas()

    out: dict[str, set] = {}
    out["elderly.age"] = set(read(ELDERLY)["person_id"])
    out["elderly_living_alone.alone"] = set(read(ALONE)["person_id"])
    children = read(CHILDREN)
    for rule in ("both_parents_deceased", "one_parent_deceased_dibao", "raised_by_grandparents"):
        name = f"children_in_difficulty.{rule}"
        out[name] = set(children.loc[children["rules"].map(lambda r, n=name: n in list(r)), "person_id"])
    shell = read(SHELL)
    out["shell_company.score"] = set(shell["uscc"])
    dibao = read(DIBAO)
    for rule in ("deceased", "several_properties", "large_capital_enterprise"):
        name = f"dibao_review.{rule}"
        out[name] = set(dibao.loc[dibao["rules"].map(lambda r, n=name: n in list(r)), "record_key"])
    enterprise = read("gold.enterprise")
    person = read("gold.person")[["person_id", "life_status"]]
    dead = set(person.loc[person["life_status"] == "deceased", "person_id"])
    out["feedback.legal_rep_deceased"] = set(enterprise.loc[enterprise["legal_rep_person_id"].isin(dead), "uscc"])
    return out


def evaluate(lake, truth_dir: str | Path, as_of: date, rules: TopicRules | None = None) -> pd.DataFrame:
    """One row per rule: found, true, true positives, precision and recall (NaN when undefined)."""
    rules = rules or load_rules(RULES_FILE)
    truth = truth_sets(truth_dir, rules, as_of)
    found = found_sets(lake, rules)
    rows = []
    for rule in truth:
        f, t = found.get(rule, set()), truth[rule]
        tp = len(f & t)
        rows.append({"rule": rule, "found": len(f), "true": len(t), "tp": tp,
                     "precision": tp / len(f) if f else float("nan"),
                     "recall": tp / len(t) if t else float("nan")})
    return pd.DataFrame(rows)


def main(argv: list[str]) -> int:
    from citylake.lake import open_lake

    lake_root, truth_dir = argv[1], argv[2]
    lake = open_lake(lake_root)
    as_of = built_as_of(lake)
    sys.stdout.write(evaluate(lake, truth_dir, as_of).to_string(index=False) + "\n")
    return 0


def built_as_of(lake) -> date:
    """The reference date the topic tables were built for (their newest commit's metadata)."""
    history = lake.history(ELDERLY, 1)
    return date.fromisoformat(history[0]["as_of"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
