"""The true world hangs together, and every department record is explained by the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from citylake.synthcity.config import load_config
from citylake.synthcity.departments import TABLES
from citylake.synthcity.world import _registrable_names, build_world


def _entities(city, name):
    return pd.read_parquet(city.truth.root / f"{name}.parquet")


def test_households_have_one_head_and_existing_members(small_city):
    persons = _entities(small_city, "person")
    households = _entities(small_city, "household")
    assert len(persons) == small_city.report.persons
    assert persons["person_id"].is_unique and persons["id_number"].is_unique
    assert set(persons["household_id"]) <= set(households["household_id"])
    heads = persons[persons["relation"] == "02"].groupby("household_id").size()
    assert (heads == 1).all() and len(heads) == len(households)
    addresses = _entities(small_city, "address")
    assert set(households["address_id"]) <= set(addresses["address_id"])


def test_family_links_point_at_persons_of_the_right_sex(small_city):
    p = _entities(small_city, "person").set_index("person_id")
    for column, male in (("father_id", True), ("mother_id", False)):
        linked = p[column].dropna()
        assert linked.isin(p.index).all()
        assert (p.loc[linked.to_numpy(), "male"] == male).all()
        # parents are older than their children
        assert (p.loc[linked.to_numpy(), "birth_date"].to_numpy() < p.loc[linked.index, "birth_date"].to_numpy()).all()
    spouses = p["spouse_id"].dropna()
    assert (p.loc[spouses.to_numpy(), "spouse_id"].to_numpy() == spouses.index.to_numpy()).all()
    assert (p.loc[spouses.to_numpy(), "male"].to_numpy() != p.loc[spouses.index, "male"].to_numpy()).all()


def test_enterprises_have_living_adult_legal_representatives(small_city):
    p = _entities(small_city, "person").set_index("person_id")
    e = _entities(small_city, "enterprise")
    reps = p.loc[e["legal_rep_person_id"]]
    assert reps.index.isin(p.index).all()
    age_at_founding = (pd.to_datetime(e["established_date"]).to_numpy() - pd.to_datetime(reps["birth_date"]).to_numpy())
    assert (age_at_founding > pd.Timedelta(days=18 * 365)).mean() > 0.9
    employed = p["employer_id"].dropna()
    assert employed.isin(e["enterprise_id"]).all()
    shells = e[e["is_shell"]]
    assert not employed.isin(shells["enterprise_id"]).any()
    assert all(len(r) > 0 for r in shells["shell_reasons"])


def test_every_record_has_a_true_subject_and_existing_entities(small_city):
    truth = small_city.truth.read_record_truth()
    entities = {name: set(_entities(small_city, name)[f"{name}_id"]) for name in
                ("person", "household", "address", "enterprise", "marriage")}
    for qualified, spec in TABLES.items():
        rows = small_city.table(qualified)
        subjects = truth[(truth["source_table"] == qualified) & (truth["role"] == "subject")]
        assert sorted(subjects["record_key"]) == sorted(rows[spec.key]), qualified
    known = truth[truth["entity_type"].isin(entities)]
    for entity_type, group in known.groupby("entity_type"):
        assert set(group["entity_id"]) <= entities[entity_type], entity_type


def test_duplicates_point_at_the_same_entity_as_their_original(small_city):
    d = small_city.truth.read_record_defects()
    dups = d[d["defect"] == "duplicate"]
    assert len(dups) > 0
    truth = small_city.truth.read_record_truth(filters=[("role", "=", "subject")])
    entity = dict(zip(zip(truth["source_table"], truth["record_key"], strict=True), truth["entity_id"], strict=True))
    for table, key, original in zip(dups["source_table"], dups["record_key"], dups["clean_value"], strict=True):
        assert entity[(table, key)] == entity[(table, original)]


def test_defects_in_record_truth_match_record_defect(small_city):
    truth = small_city.truth.read_record_truth()
    listed = sum(len(v) for v in truth["defects"])
    assert listed == len(small_city.truth.read_record_defects())


def test_deceased_persons_are_cancelled_in_the_registry(small_city):
    rows = small_city.table("gongan.CZRK")
    truth = small_city.truth.read_record_truth(filters=[("source_table", "=", "gongan.CZRK"), ("role", "=", "subject")])
    alive = _entities(small_city, "person").set_index("person_id")["alive"]
    person_alive = rows["RYID"].map(dict(zip(truth["record_key"], truth["entity_id"], strict=True))).map(alive)
    assert (~person_alive).sum() > 0
    assert ((rows["ZXBS"] == "1") == ~person_alive.astype(bool)).all()


def test_enterprise_names_are_registrable_once_in_the_city():
    """No two enterprises share a name, 有限公司 and 有限责任公司 read as one, as 市场监管 registers them.
    At 100,000 persons the 1,600 two-character trade names are drawn for 5,000 enterprises, so
    collisions are certain; a name held already (a day's new enterprise) is extended too."""
    enterprises = build_world(100_000, 11, load_config()).enterprises
    keys = enterprises["name"].str.replace("有限责任公司", "有限公司")
    assert keys.is_unique
    longer = enterprises["name"].str.len() > enterprises["name"].str.len().mode()[0]
    assert longer.sum() > 50  # the trade names that were extended
    held = {"济南泉鲁商贸有限责任公司"}
    kinds = np.array(["enterprise", "enterprise", "individual", "individual"], dtype=object)
    names = _registrable_names(kinds, np.array(["济南"] * 4, dtype=object), np.array(["历下"] * 4, dtype=object),
                               np.array(["泉鲁"] * 4, dtype=object), np.array(["商贸"] * 4, dtype=object),
                               np.array(["有限公司"] * 4, dtype=object), held)
    assert list(names) == ["济南泉鲁泉商贸有限公司", "济南泉鲁鲁商贸有限公司", "济南市历下区泉鲁便利店",
                           "济南市历下区泉鲁泉便利店"]
