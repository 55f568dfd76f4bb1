"""The true world of the synthetic city: addresses, households, persons, enterprises, employment.

Everything is built column-wise with numpy and pandas so a city of a million persons takes
seconds, not minutes. Each part draws from its own random stream (``streams.for_part``), so the
output is deterministic for a seed and changing one part does not reshuffle the others.

The world is what the department systems *should* say; :mod:`citylake.synthcity.departments`
renders it into their tables and :mod:`citylake.synthcity.defects` spoils some of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from faker.providers.person.zh_CN import Provider as ZhNames

from citylake.schemas import reference
from citylake.schemas.identifiers import id_check_chars_array, org_code_check_char, uscc_check_char
from citylake.synthcity.config import SynthConfig
from citylake.synthcity.departments.base import NO_DAY
from citylake.synthcity.streams import Streams

log = logging.getLogger(__name__)

# GB/T 4761 family-relation codes used by the household registry (checked against the shipped table).
RELATION = {"head": "02", "spouse": "10", "son": "20", "daughter": "30", "grandson": "41",
            "granddaughter": "42", "father": "51", "mother": "52"}
# GB/T 2261.2 marital status codes.
MARITAL = {"single": "10", "married": "20", "widowed": "30", "divorced": "40"}

HOUSEHOLD_TYPES = ("single_young", "single_elderly", "couple", "elderly_couple", "couple_kids",
                   "three_generation", "single_parent", "grandparent_grandchild")


@dataclass
class World:
    """The true state of the city on ``as_of``. Frames are keyed by ``*_id`` columns."""

    as_of: date
    addresses: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame
    enterprises: pd.DataFrame
    marriages: pd.DataFrame
    config: SynthConfig

    def summary(self) -> dict[str, int]:
        alive = self.persons["alive"]
        return {
            "persons": len(self.persons),
            "persons_alive": int(alive.sum()),
            "households": len(self.households),
            "addresses": len(self.addresses),
            "enterprises": len(self.enterprises),
            "marriages": len(self.marriages),
        }


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def build_world(persons: int, seed: int, config: SynthConfig) -> World:
    """Build a city of exactly ``persons`` persons (living and recently deceased)."""
    streams = Streams(seed)
    gaz = reference.gazetteer()
    log.info("building the true world: %d persons, seed %d", persons, seed)
    households = _household_skeleton(persons, streams.for_part("households"), config)
    people = _members(households, streams.for_part("members"), config)
    people = _identity(people, households, streams.for_part("identity"), gaz, config)
    addresses, households = _addresses(households, streams.for_part("addresses"), gaz)
    people = _contact(people, streams.for_part("contact"))
    marriages = _marriages(people, streams.for_part("marriages"), config)
    enterprises, addresses = _enterprises(people, addresses, streams.for_part("enterprises"), gaz, config)
    people = _employment(people, enterprises, streams.for_part("employment"), config)
    households = _welfare(households, people, streams.for_part("welfare"), config)
    people = _dibao_deaths_unreported(people, households, config)
    people, marriages = _widowed_dibao_parents(people, households, marriages, config)
    enterprises = _late_representatives(enterprises, people)
    enterprises = _dibao_representatives(enterprises, people, households, config)
    enterprises = _shell_indicators(enterprises, people, households)
    households["hukou_number"] = _hukou_numbers(households)
    world = World(config.as_of, addresses, households, people, enterprises, marriages, config)
    log.info("true world built: %s", world.summary())
    return world


def _hukou_numbers(h: pd.DataFrame) -> np.ndarray:
    """户号: the district code and a number within the district."""
    within = h.groupby("district_code", sort=False).cumcount().to_numpy() + 1
    return h["district_code"].to_numpy().astype(object) + np.char.zfill(within.astype(str), 7).astype(object)


# --- households and their members -------------------------------------------------------------

def _household_skeleton(target_persons: int, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """Household types and sizes, trimmed so the members add up to exactly ``target_persons``."""
    shares = config.household_types
    types = np.array(list(shares))
    probs = np.array([shares[t] for t in types], dtype=float)
    probs /= probs.sum()
    n = int(target_persons / 2.6) + 16
    kind = rng.choice(types, size=n, p=probs)
    kids = np.zeros(n, dtype=np.int64)
    elders = np.zeros(n, dtype=np.int64)
    dead_parents = np.zeros(n, dtype=np.int64)
    m = kind == "couple_kids"
    kids[m] = rng.choice([1, 2, 3], size=m.sum(), p=[0.55, 0.38, 0.07])
    m = kind == "three_generation"
    kids[m] = rng.choice([0, 1, 2], size=m.sum(), p=[0.15, 0.6, 0.25])
    elders[m] = rng.choice([1, 2], size=m.sum(), p=[0.45, 0.55])
    m = kind == "single_parent"
    kids[m] = rng.choice([1, 2], size=m.sum(), p=[0.8, 0.2])
    m = kind == "grandparent_grandchild"
    kids[m] = rng.choice([1, 2], size=m.sum(), p=[0.8, 0.2])
    dead_parents[m] = 2
    adults = np.select([np.isin(kind, ["couple", "elderly_couple", "couple_kids", "three_generation"])], [2], 1)
    size = adults + kids + elders + dead_parents
    cum = np.cumsum(size)
    keep = int(np.searchsorted(cum, target_persons, side="right"))
    frame = pd.DataFrame({"household_type": kind[:keep], "n_adults": adults[:keep], "n_kids": kids[:keep],
                          "n_elders": elders[:keep], "n_dead_parents": dead_parents[:keep]})
    short = target_persons - int(cum[keep - 1] if keep else 0)
    if short > 0:  # fill the remainder with one-person households
        frame = pd.concat([frame, pd.DataFrame({"household_type": ["single_young"] * short, "n_adults": 1,
                                                "n_kids": 0, "n_elders": 0, "n_dead_parents": 0})],
                          ignore_index=True)
    frame.insert(0, "household_id", [f"H{i:08d}" for i in range(1, len(frame) + 1)])
    return frame


def _members(h: pd.DataFrame, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """One row per person with role, sex, age and parent/spouse links inside the household."""
    as_of = _days(config.as_of)
    n_h = len(h)
    kind = h["household_type"].to_numpy()
    head_age_ranges = {
        "single_young": (20, 46), "single_elderly": (65, 96), "couple": (22, 41), "elderly_couple": (60, 91),
        "couple_kids": (25, 56), "three_generation": (30, 56), "single_parent": (28, 51),
        "grandparent_grandchild": (55, 81),
    }
    lo = np.array([head_age_ranges[k][0] for k in kind])
    hi = np.array([head_age_ranges[k][1] for k in kind])
    head_age = rng.uniform(lo, hi)
    couple = h["n_adults"].to_numpy() == 2
    head_male = np.where(couple, rng.random(n_h) < 0.85, rng.random(n_h) < 0.5)
    head_male[kind == "single_elderly"] = rng.random((kind == "single_elderly").sum()) < 0.35

    frames = []
    hid = h["household_id"].to_numpy()
    frames.append(pd.DataFrame({"household_id": hid, "role": "head", "male": head_male, "age": head_age,
                                "alive": True, "slot": 0}))
    spouse_age = head_age + np.where(head_male, -2.0, 2.0) + rng.normal(0, 3, n_h)
    spouse_age = np.where(spouse_age < 20.5, 20.5 + rng.uniform(0, 3, n_h), spouse_age)
    frames.append(pd.DataFrame({"household_id": hid[couple], "role": "spouse", "male": ~head_male[couple],
                                "age": spouse_age[couple], "alive": True, "slot": 1}))
    # The mother's age bounds the children's ages.
    mother_age = np.where(couple, np.where(head_male, spouse_age, head_age), head_age)
    n_kids = h["n_kids"].to_numpy()
    idx = np.repeat(np.arange(n_h), n_kids)
    if len(idx):
        base_age = mother_age[idx]
        gp = kind[idx] == "grandparent_grandchild"
        # A grandchild's late parent was 24-32 years younger than the grandparent.
        base_age = np.where(gp, head_age[idx] - rng.uniform(24, 32, len(idx)), base_age)
        oldest = np.clip(base_age - 22, 0.3, 32)
        kid_age = rng.uniform(0.02, 1.0, len(idx)) * oldest
        kid_age = np.where(gp, np.minimum(kid_age, rng.uniform(1, 17, len(idx))), kid_age)
        frames.append(pd.DataFrame({"household_id": hid[idx], "role": np.where(gp, "grandchild", "child"),
                                    "male": rng.random(len(idx)) < 0.52, "age": kid_age, "alive": True,
                                    "slot": 2}))
    n_elders = h["n_elders"].to_numpy()
    idx = np.repeat(np.arange(n_h), n_elders)
    if len(idx):
        first = np.r_[True, idx[1:] != idx[:-1]]
        elder_male = np.where(first, rng.random(len(idx)) < 0.4, True)
        # A pair of elders is a couple: the second is the first one's spouse.
        elder_male[~first] = ~elder_male[np.flatnonzero(~first) - 1]
        frames.append(pd.DataFrame({"household_id": hid[idx], "role": "elder", "male": elder_male,
                                    "age": np.minimum(head_age[idx] + rng.uniform(24, 34, len(idx)), rng.uniform(88, 100, len(idx))),
                                    "alive": True, "slot": 3}))
    n_dead = h["n_dead_parents"].to_numpy()
    idx = np.repeat(np.arange(n_h), n_dead)
    if len(idx):
        first = np.r_[True, idx[1:] != idx[:-1]]
        frames.append(pd.DataFrame({"household_id": hid[idx], "role": "deceased_parent", "male": first,
                                    "age": head_age[idx] - rng.uniform(24, 30, len(idx)), "alive": False,
                                    "slot": 4}))
    p = pd.concat(frames, ignore_index=True).sort_values(["household_id", "slot"], kind="stable")
    p = p.reset_index(drop=True)
    p.insert(0, "person_id", [f"P{i:08d}" for i in range(1, len(p) + 1)])
    p["birth_days"] = (as_of - p["age"].to_numpy() * 365.25).astype(np.int64)
    p["birth_days"] -= rng.integers(0, 3, len(p))  # nobody is born on the reference day
    p = p.drop(columns="age")
    p = _link_family(p, h, rng, config)
    return p


def _link_family(p: pd.DataFrame, h: pd.DataFrame, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """Relations to the head, spouses, parents, deaths and marital status."""
    as_of = _days(config.as_of)
    first_of = p.groupby("household_id", sort=False)["person_id"].transform("first")
    head_id = first_of.to_numpy()
    role = p["role"].to_numpy()
    male = p["male"].to_numpy()
    htype = p["household_id"].map(h.set_index("household_id")["household_type"]).to_numpy()

    spouse_of = p.loc[role == "spouse", ["household_id", "person_id"]].set_index("household_id")["person_id"]
    head_of = p.loc[role == "head", ["household_id", "person_id"]].set_index("household_id")["person_id"]
    hh = p["household_id"]
    p["spouse_id"] = None
    p.loc[role == "head", "spouse_id"] = hh[role == "head"].map(spouse_of).to_numpy()
    p.loc[role == "spouse", "spouse_id"] = hh[role == "spouse"].map(head_of).to_numpy()

    # Children: parents are head and spouse (or the deceased parents of a grandchild).
    head_male = hh.map(p.loc[role == "head"].set_index("household_id")["male"]).to_numpy()
    p["father_id"] = None
    p["mother_id"] = None
    kid = role == "child"
    pair_father = np.where(head_male, head_id, hh.map(spouse_of).to_numpy())
    pair_mother = np.where(head_male, hh.map(spouse_of).to_numpy(), head_id)
    p.loc[kid, "father_id"] = pair_father[kid]
    p.loc[kid, "mother_id"] = pair_mother[kid]
    dead = p[role == "deceased_parent"]
    dead_father = dead[dead["male"]].set_index("household_id")["person_id"]
    dead_mother = dead[~dead["male"]].set_index("household_id")["person_id"]
    gk = role == "grandchild"
    p.loc[gk, "father_id"] = hh[gk].map(dead_father).to_numpy()
    p.loc[gk, "mother_id"] = hh[gk].map(dead_mother).to_numpy()
    # The deceased parents were a couple; one of them was the grandparent's child.
    dp = role == "deceased_parent"
    p.loc[dp & male, "spouse_id"] = hh[dp & male].map(dead_mother).to_numpy()
    p.loc[dp & ~male, "spouse_id"] = hh[dp & ~male].map(dead_father).to_numpy()
    p.loc[dp & male, "father_id"] = np.where(head_male[dp & male], head_id[dp & male], None)
    p.loc[dp & male, "mother_id"] = np.where(head_male[dp & male], None, head_id[dp & male])
    # Elders are the head's parents, and each other's spouses when there are two.
    el = role == "elder"
    elders = p[el]
    e_father = elders[elders["male"]].groupby("household_id")["person_id"].first()
    e_mother = elders[~elders["male"]].groupby("household_id")["person_id"].first()
    head_rows = role == "head"
    p.loc[head_rows & (htype == "three_generation"), "father_id"] = hh[head_rows & (htype == "three_generation")].map(e_father).to_numpy()
    p.loc[head_rows & (htype == "three_generation"), "mother_id"] = hh[head_rows & (htype == "three_generation")].map(e_mother).to_numpy()
    p.loc[el & male, "spouse_id"] = hh[el & male].map(e_mother).to_numpy()
    p.loc[el & ~male, "spouse_id"] = hh[el & ~male].map(e_father).to_numpy()

    # Relation to the head of household (GB/T 4761).
    rel = np.full(len(p), RELATION["head"], dtype=object)
    rel[role == "spouse"] = RELATION["spouse"]
    rel[kid] = np.where(male[kid], RELATION["son"], RELATION["daughter"])
    rel[gk] = np.where(male[gk], RELATION["grandson"], RELATION["granddaughter"])
    rel[el] = np.where(male[el], RELATION["father"], RELATION["mother"])
    rel[dp] = np.where(male[dp], RELATION["son"], RELATION["daughter"])
    p["relation"] = rel

    # Deaths: the deceased parents of grandchildren, the late spouses of widowed elders, and the
    # year's ordinary mortality among the old.
    death = np.full(len(p), NO_DAY, dtype=np.int64)
    death[dp] = as_of - rng.integers(30, 365 * 8, dp.sum())
    old = (as_of - p["birth_days"].to_numpy()) > 70 * 365.25
    dies = old & (rng.random(len(p)) < config.annual_mortality_over_70) & ~dp
    death[dies] = as_of - rng.integers(1, 365, dies.sum())
    p["death_days"] = death
    p["alive"] = death == NO_DAY

    status = np.full(len(p), MARITAL["single"], dtype=object)
    has_spouse = p["spouse_id"].notna().to_numpy()
    status[has_spouse] = MARITAL["married"]
    status[(htype == "single_elderly") & (role == "head")] = np.where(
        rng.random(((htype == "single_elderly") & (role == "head")).sum()) < 0.8, MARITAL["widowed"], MARITAL["divorced"])
    status[(htype == "single_parent") & (role == "head")] = MARITAL["divorced"]
    gp_head = (htype == "grandparent_grandchild") & (role == "head")
    status[gp_head] = MARITAL["widowed"]
    # A surviving spouse is widowed.
    spouse_dead = p["spouse_id"].map(p.set_index("person_id")["alive"]).eq(False).to_numpy()
    status[spouse_dead & p["alive"].to_numpy()] = MARITAL["widowed"]
    young_single = (htype == "single_young") & (role == "head")
    status[young_single] = np.where(rng.random(young_single.sum()) < 0.12, MARITAL["divorced"], MARITAL["single"])
    p["marital_status"] = status
    _pair_divorced(p, rng)
    return p


def _pair_divorced(p: pd.DataFrame, rng: np.random.Generator) -> None:
    """Give each single parent's children the divorced single adult they had them with (ex_spouse_id)."""
    p["ex_spouse_id"] = None
    divorced = p[(p["marital_status"] == MARITAL["divorced"]) & (p["role"] == "head")]
    parents = divorced[divorced["household_id"].isin(p.loc[p["role"] == "child", "household_id"])]
    pool = divorced[~divorced.index.isin(parents.index)]
    for sex in (True, False):
        a = parents[parents["male"] == sex]
        b = pool[pool["male"] != sex]
        b = b.iloc[rng.permutation(len(b))]
        k = min(len(a), len(b))
        p.loc[a.index[:k], "ex_spouse_id"] = b["person_id"].to_numpy()[:k]
        p.loc[b.index[:k], "ex_spouse_id"] = a["person_id"].to_numpy()[:k]
        kids = p["role"].eq("child") & p["household_id"].isin(a["household_id"].iloc[:k])
        other = p.loc[kids, "household_id"].map(a.iloc[:k].set_index("household_id")["person_id"]).map(
            p.set_index("person_id")["ex_spouse_id"])
        col = "mother_id" if sex else "father_id"
        p.loc[kids, col] = other.to_numpy()


# --- identity: names, ID numbers, ethnicity ---------------------------------------------------

def _weighted(rng: np.random.Generator, values: list, weights: list[float], size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=size, p=w / w.sum())]


def _identity(p: pd.DataFrame, h: pd.DataFrame, rng: np.random.Generator, gaz, config: SynthConfig) -> pd.DataFrame:
    n = len(p)
    # Households live in districts in proportion to the 2020 census populations.
    codes = [d.code for d in gaz.districts]
    weights = [d.population_2020 for d in gaz.districts]
    h["district_code"] = _weighted(rng, codes, weights, len(h))
    p["district_code"] = p["household_id"].map(h.set_index("household_id")["district_code"]).to_numpy()

    # Surnames follow the national frequencies; children take the father's, sometimes the mother's.
    surnames = list(ZhNames.last_names)
    surname = _weighted(rng, surnames, list(ZhNames.last_names.values()), n)
    p["surname"] = surname
    sur = p.set_index("person_id")["surname"]
    kid = p["father_id"].notna() & p["role"].isin(["child", "grandchild", "deceased_parent"])
    from_mother = rng.random(n) < 0.08
    father_sur = p["father_id"].map(sur)
    mother_sur = p["mother_id"].map(sur)
    inherit = np.where(from_mother & mother_sur.notna(), mother_sur, father_sur)
    p.loc[kid & pd.notna(inherit), "surname"] = inherit[kid & pd.notna(inherit)]
    p["name"] = p["surname"] + _given_names(rng, p["male"].to_numpy())

    # Ethnicity: children follow their father (else mother).
    eth = reference.ethnicity_shares()
    p["ethnicity"] = _weighted(rng, list(eth), list(eth.values()), n)
    eth_by_id = p.set_index("person_id")["ethnicity"]
    parent_eth = p["father_id"].map(eth_by_id).fillna(p["mother_id"].map(eth_by_id))
    p.loc[parent_eth.notna(), "ethnicity"] = parent_eth[parent_eth.notna()]

    # Birthplace division code of the ID number: a Jinan district (often not today's one), in the
    # code that district had in the birth year, or a county elsewhere for people who moved in.
    birth_year = pd.to_datetime(p["birth_days"], unit="D").dt.year.to_numpy()
    same_district = rng.random(n) < 0.6
    other = _weighted(rng, codes, weights, n)
    birth_district = np.where(same_district, p["district_code"].to_numpy(), other)
    by_code = {d.code: d for d in gaz.districts}
    division = np.array([by_code[c].code_for_birth_year(int(y)) for c, y in zip(birth_district, birth_year, strict=True)],
                        dtype=object)
    elsewhere = reference.other_birthplaces()
    migrant = (rng.random(n) < config.migrant_share) & (birth_year < 2008) & p["role"].isin(["head", "spouse", "elder"]).to_numpy()
    division[migrant] = _weighted(rng, [r["code"] for r in elsewhere], [float(r["weight"]) for r in elsewhere],
                                  int(migrant.sum()))
    p["birth_division_code"] = division
    p["id_number"] = _id_numbers(p, rng)
    return p


# Given names: the commonest single-character names from Faker's zh_CN tables, or two characters.
_GENERIC_FIRST_CHARS = list("文子志建国晓海春金玉秀立振德嘉佳思宏永世雨欣梓浩俊明丽")


def _given_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    male_names = np.asarray(ZhNames.first_names_male, dtype=object)
    female_names = np.asarray(ZhNames.first_names_female, dtype=object)
    n = len(male)
    single = np.where(male, male_names[rng.integers(0, len(male_names), n)],
                      female_names[rng.integers(0, len(female_names), n)])
    first = np.asarray(_GENERIC_FIRST_CHARS, dtype=object)[rng.integers(0, len(_GENERIC_FIRST_CHARS), n)]
    last_char = np.array([s[-1] for s in single], dtype=object)
    double = first + last_char
    return np.where(rng.random(n) < 0.55, double, single)


def _id_numbers(p: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """GB 11643 numbers, unique: the sequence is numbered within (division, birth date, sex)."""
    birth = pd.to_datetime(p["birth_days"], unit="D").dt.strftime("%Y%m%d").to_numpy()
    key = pd.DataFrame({"div": p["birth_division_code"].to_numpy(), "birth": birth, "male": p["male"].to_numpy()})
    groups = key.groupby(["div", "birth", "male"], sort=False)
    rank = groups.cumcount().to_numpy()
    size = groups["div"].transform("size").to_numpy()
    if size.max() > 499:
        raise ValueError("more than 499 persons of one sex share a division code and birth date: "
                         "GB 11643 has no sequence numbers left")
    # A per-group offset so sequences do not all start at 001 (numbers are issued by many stations).
    hashed = pd.util.hash_pandas_object(key[["div", "birth"]], index=False).to_numpy()
    offset = (hashed % np.minimum(120, 500 - size).astype(np.uint64)).astype(np.int64)
    seq = 2 * (rank + offset) + np.where(key["male"].to_numpy(), 1, 2)
    first17 = key["div"].astype(str).to_numpy() + birth + np.char.zfill(seq.astype(str), 3).astype(object)
    return first17 + id_check_chars_array(first17.astype("U17")).astype(object)


def _contact(p: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    prefixes = reference.mobile_prefixes()
    n = len(p)
    prefix = _weighted(rng, [r["prefix"] for r in prefixes], [float(r["weight"]) for r in prefixes], n)
    # A 4-digit segment (1700-1709, 1740 …) leaves 7 of the 11 digits to draw.
    body = np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8).astype(object)
    body = np.asarray([b[len(x) - 3:] for b, x in zip(body, prefix, strict=True)], dtype=object)
    adult = (p["birth_days"].to_numpy() < _days(date(2010, 1, 1)))
    p["mobile"] = np.where(adult, prefix + body, None)
    return p


# --- addresses ----------------------------------------------------------------------------------

def _addresses(h: pd.DataFrame, rng: np.random.Generator, gaz) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Residential addresses (区县/街道/社区/道路/门牌号/小区/楼栋/单元/室) for every household."""
    by_code = {d.code: d for d in gaz.districts}
    frames = []
    for code, group in h.groupby("district_code", sort=True):
        d = by_code[code]
        k = len(group)
        n_compounds = max(1, k // 250)
        street = np.asarray(d.streets, dtype=object)[rng.integers(0, len(d.streets), n_compounds)]
        road = np.asarray(d.roads, dtype=object)[rng.integers(0, len(d.roads), n_compounds)]
        number = rng.integers(1, 400, n_compounds)
        pre = np.asarray(gaz.compound_prefixes, dtype=object)[rng.integers(0, len(gaz.compound_prefixes), n_compounds)]
        suf = np.asarray(gaz.compound_suffixes, dtype=object)[rng.integers(0, len(gaz.compound_suffixes), n_compounds)]
        compound = pre + suf
        community = np.array([r[:2] for r in road], dtype=object) + np.asarray(["社区"] * n_compounds, dtype=object)
        which = rng.integers(0, n_compounds, k)
        frames.append(pd.DataFrame({
            "household_id": group["household_id"].to_numpy(),
            "district_code": code, "district": d.name, "street": street[which], "community": community[which],
            "road": road[which], "house_number": number[which], "compound": compound[which],
            "building": rng.integers(1, 25, k), "unit": rng.integers(1, 5, k),
            "room": rng.integers(1, 27, k) * 100 + rng.integers(1, 3, k),
        }))
    a = pd.concat(frames, ignore_index=True)
    parts = ["district_code", "street", "community", "road", "house_number", "compound", "building", "unit", "room"]
    codes, _ = pd.factorize(pd.MultiIndex.from_frame(a[parts]))
    a["address_id"] = pd.Series(codes + 1).map(lambda i: f"A{i:08d}")
    h = h.merge(a[["household_id", "address_id"]], on="household_id", how="left")
    a = a.drop(columns="household_id").drop_duplicates("address_id")
    a["kind"] = "residential"
    a["text"] = standard_address_text(a, gaz)
    return a.reset_index(drop=True), h


def standard_address_text(a: pd.DataFrame, gaz) -> pd.Series:
    """The standard full form: 山东省济南市 + 区县 + 街道 + 社区 + 道路 + 门牌号 + 小区 + 楼栋 + 单元 + 室."""
    head = gaz.province + gaz.city_name
    res = a["kind"].eq("residential")
    text = (head + a["district"] + a["street"] + a["community"] + a["road"] + a["house_number"].astype(str) + "号"
            + a["compound"])
    unit = np.where(res, a["building"].astype(str) + "号楼" + a["unit"].astype(str) + "单元"
                    + a["room"].astype(str) + "室", a["room"].astype(str) + "室")
    return text + unit


# --- enterprises ----------------------------------------------------------------------------------

_BRAND_CHARS = list("泉鲁华信达恒润丰源通瑞德泰嘉宏盛安博凯诚宇舜齐明远鑫隆兴汇和天祥正科创")
_ENTERPRISE_WORDS = {
    "A": "农业科技", "B": "矿业", "C": "机械制造", "D": "能源", "E": "建筑工程", "F": "商贸", "G": "物流",
    "H": "餐饮管理", "I": "信息科技", "J": "投资管理", "K": "房地产开发", "L": "企业管理咨询", "M": "技术服务",
    "N": "环境工程", "O": "家政服务", "P": "教育咨询", "Q": "医疗管理", "R": "文化传媒", "S": "社会服务", "T": "咨询",
}
_USCC_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _enterprises(p: pd.DataFrame, a: pd.DataFrame, rng: np.random.Generator, gaz, config: SynthConfig,
                 count: int | None = None, established_on: int | None = None,
                 taken_usccs: set[str] | None = None, taken_names: set[str] | None = None, first_number: int = 1):
    """Enterprises with USCCs, names, registered addresses and legal representatives.

    The initial city gets ``enterprises_per_person`` of them; a day of changes asks for ``count``
    new ones established on ``established_on``, numbered from ``first_number``.
    """
    n = count if count is not None else max(3, int(round(len(p) * config.enterprises_per_person)))
    as_of = _days(config.as_of)
    codes = [d.code for d in gaz.districts]
    weights = [d.population_2020 for d in gaz.districts]
    district = _weighted(rng, codes, weights, n)
    kind = _weighted(rng, ["enterprise", "individual", "cooperative"], [0.83, 0.15, 0.02], n)
    industries = reference.industry_divisions()
    ind = rng.choice(len(industries), size=n, p=_norm([float(r["jinan_weight"]) for r in industries]))
    industry_code = np.array([industries[i]["code"] for i in ind], dtype=object)
    section = np.array([industries[i]["section"] for i in ind], dtype=object)
    established = as_of - (rng.gamma(1.6, 5.0, n) * 365.25).astype(np.int64) - 1
    established = np.maximum(established, _days(date(1985, 1, 1)))
    if established_on is not None:
        established[:] = established_on
    new_style = established >= _days(date(2015, 10, 1))
    body = np.empty(n, dtype=object)
    chars = np.asarray(list(_USCC_BODY))
    rnd = rng.integers(0, len(chars), (n, 6))
    old_body = rng.integers(10**7, 10**8 - 1, n)
    for i in range(n):
        body[i] = ("MA" + "".join(chars[rnd[i]])) if new_style[i] else str(old_body[i])
    authority = np.select([kind == "enterprise", kind == "individual"], ["91", "92"], "93")
    usccs = []
    seen = taken_usccs if taken_usccs is not None else set()
    for i in range(n):
        b = body[i]
        while True:
            org = b + org_code_check_char(b)
            first17 = authority[i] + district[i] + org
            code = first17 + uscc_check_char(first17)
            if code not in seen:
                break
            b = str(int(rng.integers(10**7, 10**8 - 1)))
        seen.add(code)
        usccs.append(code)
    uscc = np.asarray(usccs, dtype=object)
    # Early pilot codes that fail the checksum yet are real registrations (route to review, not reject).
    pilot = (rng.random(n) < config.pilot_code_share) & (established < _days(date(2016, 1, 1)))
    for i in np.flatnonzero(pilot):
        wrong = [c for c in _USCC_BODY if c != uscc[i][-1]]
        uscc[i] = uscc[i][:-1] + wrong[int(rng.integers(0, len(wrong)))]

    by_code = {d.code: d for d in gaz.districts}
    short = np.array([by_code[c].short_name for c in district], dtype=object)
    brand = (np.asarray(_BRAND_CHARS, dtype=object)[rng.integers(0, len(_BRAND_CHARS), n)]
             + np.asarray(_BRAND_CHARS, dtype=object)[rng.integers(0, len(_BRAND_CHARS), n)])
    words = np.array([_ENTERPRISE_WORDS.get(s, "商贸") for s in section], dtype=object)
    form = _weighted(rng, ["有限公司", "有限责任公司", "股份有限公司"], [0.8, 0.17, 0.03], n)
    region = np.where(rng.random(n) < 0.7, "济南", "山东")
    name = _registrable_names(kind, region, short, brand, words, form, taken_names or set())

    # Registered addresses: office buildings on the district's roads; shell companies cluster at
    # a few registration-agent addresses (集中注册地).
    road = np.array([by_code[c].roads[int(rng.integers(0, len(by_code[c].roads)))] for c in district], dtype=object)
    shell = rng.random(n) < (config.shell_company_share if established_on is None else 0.0)
    shell &= kind == "enterprise"
    office = pd.DataFrame({
        "district_code": district, "district": [by_code[c].name for c in district],
        "street": [by_code[c].streets[int(rng.integers(0, len(by_code[c].streets)))] for c in district],
        "community": None, "road": road, "house_number": rng.integers(1, 800, n),
        "compound": np.array([r[:2] for r in road], dtype=object) + "大厦", "building": 1, "unit": 1,
        "room": rng.integers(1, 30, n) * 100 + rng.integers(1, 20, n),
    })
    office["community"] = office["road"].str[:2] + "社区"
    n_hubs = max(1, int(shell.sum()) // 12)
    hub_rows = np.flatnonzero(shell)
    hub_of = rng.integers(0, n_hubs, len(hub_rows))
    if len(hub_rows):
        office.iloc[hub_rows, :] = office.iloc[hub_rows[np.minimum(hub_of, len(hub_rows) - 1)], :].to_numpy()
    parts = ["district_code", "street", "community", "road", "house_number", "compound", "building", "unit", "room"]
    codes_, uniques = pd.factorize(pd.MultiIndex.from_frame(office[parts]))
    start = int(a["address_id"].str[1:].astype(int).max()) if len(a) else 0
    office_addr = pd.DataFrame(list(uniques), columns=parts)
    office_addr["address_id"] = [f"A{start + i + 1:08d}" for i in range(len(office_addr))]
    office_addr["district"] = office_addr["district_code"].map({d.code: d.name for d in gaz.districts})
    office_addr["kind"] = "commercial"
    office_addr["text"] = standard_address_text(office_addr, gaz)
    a = pd.concat([a, office_addr[a.columns]], ignore_index=True)

    # Legal representatives: living adults; shell companies share a few "professional" nominees.
    # Legal representatives: living persons who were at least 20 when the enterprise was founded
    # and are under 75 now (the oldest eligible are drawn less often than chance would, by design
    # of the draw: uniformly among those old enough).
    adults = p[(p["alive"]) & (p["birth_days"] < as_of - 20 * 365) & (p["birth_days"] > as_of - 75 * 365)]
    adults = adults.sort_values("birth_days", kind="stable")
    old_enough = np.searchsorted(adults["birth_days"].to_numpy(), established - 20 * 365, side="right")
    pick = (rng.random(n) * np.maximum(old_enough, 1)).astype(np.int64)
    rep = adults["person_id"].to_numpy()[pick]
    if shell.any():
        nominees = rep[np.flatnonzero(shell)[: max(1, int(shell.sum()) // 6)]]
        rep[shell] = nominees[rng.integers(0, len(nominees), int(shell.sum()))]
    status = _weighted(rng, ["active", "revoked", "deregistered"], [0.86, 0.05, 0.09], n)
    if established_on is not None:
        status[:] = "active"
    e = pd.DataFrame({
        "enterprise_id": [f"E{i:07d}" for i in range(first_number, first_number + n)],
        "uscc": uscc, "pilot_code": pilot, "name": name, "kind": kind,
        "district_code": district, "industry_section": section, "industry_code": industry_code,
        "established_days": established, "status": status,
        "registered_capital_10k": np.round(np.exp(rng.normal(4.0, 1.5, n)), 2),
        "legal_rep_person_id": rep, "address_id": office_addr["address_id"].to_numpy()[codes_],
        "is_shell": shell,
    })
    e.loc[e["kind"] == "individual", "registered_capital_10k"] = np.round(rng.uniform(1, 50, int((kind == "individual").sum())), 2)
    return e, a


def _name_key(name: str) -> str:
    """What two names must differ in: 有限公司 and 有限责任公司 are one organisational form."""
    return name.replace("有限责任公司", "有限公司")


def _registrable_names(kind: np.ndarray, region: np.ndarray, short: np.ndarray, brand: np.ndarray,
                       words: np.ndarray, form: np.ndarray, taken: set[str]) -> np.ndarray:
    """Names as 市场监管 registers them: no two alike in the city, 有限公司 and 有限责任公司 read as one
    (企业名称登记管理规定: a name may not repeat one the same registration authority holds), and none
    of ``taken``. A name already held gets a longer 字号 (trade name), one more character at a time in
    a fixed order: no random draw, so the rest of the city stays as the seed made it."""
    extensions = ("", *_BRAND_CHARS, *(a + b for a in _BRAND_CHARS for b in _BRAND_CHARS))
    held = {_name_key(n) for n in taken}
    names = np.empty(len(kind), dtype=object)
    for i in range(len(kind)):
        for extension in extensions:
            trade_name = brand[i] + extension
            if kind[i] == "enterprise":
                name = region[i] + trade_name + words[i] + form[i]
            elif kind[i] == "individual":
                name = ("济南市" + short[i] + "区").replace("区区", "区") + trade_name + "便利店"
            else:
                name = "济南市" + short[i] + trade_name + "农民专业合作社"
            if _name_key(name) not in held:
                break
        else:
            raise ValueError(f"no registrable name is left for trade name {brand[i]}")
        held.add(_name_key(name))
        names[i] = name
    return names


def _norm(w: list[float]) -> np.ndarray:
    arr = np.asarray(w, dtype=float)
    return arr / arr.sum()


def _employment(p: pd.DataFrame, e: pd.DataFrame, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """Who works where: working-age living persons at active, non-shell enterprises of skewed sizes."""
    as_of = _days(config.as_of)
    age = (as_of - p["birth_days"].to_numpy()) / 365.25
    retire = np.where(p["male"].to_numpy(), 60, 55)
    working_age = (age >= 18) & (age < retire) & p["alive"].to_numpy()
    employed = working_age & (rng.random(len(p)) < config.employment_rate)
    employers = e[(e["status"] == "active") & ~e["is_shell"]]
    size = rng.pareto(1.2, len(employers)) + 0.2
    size[employers["kind"].to_numpy() != "enterprise"] = 0.05
    pick = rng.choice(len(employers), size=int(employed.sum()), p=size / size.sum())
    p["employer_id"] = None
    p.loc[employed, "employer_id"] = employers["enterprise_id"].to_numpy()[pick]
    est = p["employer_id"].map(e.set_index("enterprise_id")["established_days"])
    start = np.maximum(p["birth_days"].to_numpy() + int(18 * 365.25), est.fillna(0).to_numpy().astype(np.int64))
    span = np.maximum(as_of - start, 1)
    p["employment_start_days"] = np.where(employed, start + (rng.random(len(p)) * span * 0.9).astype(np.int64), NO_DAY)
    return p


def _marriages(p: pd.DataFrame, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """Marriage (and divorce) events between the spouses and ex-spouses of the world."""
    as_of = _days(config.as_of)
    husbands = p[p["male"] & p["spouse_id"].notna()]
    wives_birth = husbands["spouse_id"].map(p.set_index("person_id")["birth_days"]).to_numpy()
    younger = np.maximum(husbands["birth_days"].to_numpy(), wives_birth)
    married = younger + ((22 + rng.gamma(2.0, 2.0, len(husbands))) * 365.25).astype(np.int64)
    deaths = np.stack([husbands["death_days"].to_numpy(),
                       husbands["spouse_id"].map(p.set_index("person_id")["death_days"]).to_numpy()])
    first_death = np.where(deaths == NO_DAY, as_of, deaths).min(axis=0)
    limit = first_death - 30
    married = np.minimum(married, limit)
    m = pd.DataFrame({"husband_id": husbands["person_id"].to_numpy(), "wife_id": husbands["spouse_id"].to_numpy(),
                      "married_days": married, "divorced_days": NO_DAY})
    ex = p[p["male"] & p["ex_spouse_id"].notna()]
    if len(ex):
        ex_wife_birth = ex["ex_spouse_id"].map(p.set_index("person_id")["birth_days"]).to_numpy()
        yb = np.maximum(ex["birth_days"].to_numpy(), ex_wife_birth)
        start = yb + ((22 + rng.gamma(2.0, 1.5, len(ex))) * 365.25).astype(np.int64)
        start = np.minimum(start, as_of - 800)
        end = np.minimum(start + rng.integers(365, 365 * 12, len(ex)), as_of - 10)
        m = pd.concat([m, pd.DataFrame({"husband_id": ex["person_id"].to_numpy(),
                                        "wife_id": ex["ex_spouse_id"].to_numpy(),
                                        "married_days": start, "divorced_days": end})], ignore_index=True)
    m.insert(0, "marriage_id", [f"M{i:08d}" for i in range(1, len(m) + 1)])
    return m


def _welfare(h: pd.DataFrame, p: pd.DataFrame, rng: np.random.Generator, config: SynthConfig) -> pd.DataFrame:
    """Minimum-living-allowance (低保) households: more likely for lone elders and single parents."""
    base = {"single_elderly": 4.0, "single_parent": 4.0, "grandparent_grandchild": 8.0}
    w = h["household_type"].map(base).fillna(0.4).to_numpy()
    employed = p.groupby("household_id")["employer_id"].count().reindex(h["household_id"]).fillna(0).to_numpy()
    w = np.where(employed > 0, w * 0.1, w)
    prob = np.minimum(w * config.low_income_household_share, 0.9)
    h["low_income"] = rng.random(len(h)) < prob
    h["low_income_since_days"] = np.where(h["low_income"], _days(config.as_of) - rng.integers(30, 365 * 6, len(h)), NO_DAY)
    return h


def _dibao_deaths_unreported(p: pd.DataFrame, h: pd.DataFrame, config: SynthConfig) -> pd.DataFrame:
    """A few lone elders of 低保 households died lately and 民政 has not yet struck them off the
    list (``dibao_after_death``): what 低保核查 finds. Deterministic and drawing no random numbers,
    so nothing else in the world moves: every 8th living lone 低保 head of 70 or more (the first included)
    died 20 days or more before the reference day."""
    as_of = _days(config.as_of)
    low = p["household_id"].map(h.set_index("household_id")["low_income"]).fillna(False).to_numpy(dtype=bool)
    lone = p["household_id"].map(p.groupby("household_id")["person_id"].count()).to_numpy() == 1
    old = (as_of - p["birth_days"].to_numpy()) > 70 * 365.25
    candidates = np.flatnonzero(low & lone & old & p["alive"].to_numpy() & (p["role"].to_numpy() == "head"))
    chosen = candidates[::8]
    p["dibao_after_death"] = False
    p.loc[p.index[chosen], "death_days"] = as_of - 20 - np.arange(len(chosen))
    p.loc[p.index[chosen], "alive"] = False
    p.loc[p.index[chosen], "dibao_after_death"] = True
    return p


def _widowed_dibao_parents(p: pd.DataFrame, h: pd.DataFrame, m: pd.DataFrame, config: SynthConfig
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """In a few 低保 households with children one parent has died (困境儿童: one parent deceased and
    the household on 低保): every 3rd such couple_kids household (the first included), the father,
    200 days before the reference day; the mother is widowed. Deterministic, drawing no random numbers."""
    as_of = _days(config.as_of)
    low = h.loc[h["low_income"] & (h["household_type"] == "couple_kids"), "household_id"].iloc[::3]
    fathers = p[p["household_id"].isin(low) & p["role"].isin(["head", "spouse"]) & p["male"] & p["alive"]]
    death = as_of - 200
    rows = fathers.index
    p.loc[rows, "death_days"] = death
    p.loc[rows, "alive"] = False
    p.loc[rows, "employer_id"] = None
    p.loc[rows, "employment_start_days"] = NO_DAY
    widows = p["person_id"].isin(fathers["spouse_id"].dropna())
    p.loc[widows, "marital_status"] = MARITAL["widowed"]
    married = m["husband_id"].isin(fathers["person_id"]) & (m["divorced_days"] == NO_DAY)
    m.loc[married, "married_days"] = np.minimum(m.loc[married, "married_days"], death - 30)
    return p, m


def _late_representatives(e: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Some registrations still name a legal representative who has died (法定代表人已死亡, which
    市场监管 should act on): every 40th enterprise (at least one) names one of the year's deceased,
    in order. Deterministic, drawing no random numbers."""
    died = p[~p["alive"] & (p["role"] != "deceased_parent")].sort_values("person_id")["person_id"].to_numpy()
    rows = np.arange(3, len(e), 40) if len(e) > 3 else np.arange(min(1, len(e)))
    if len(died) and len(rows):
        e.loc[e.index[rows], "legal_rep_person_id"] = died[np.arange(len(rows)) % len(died)]
    return e


def _dibao_representatives(e: pd.DataFrame, p: pd.DataFrame, h: pd.DataFrame, config: SynthConfig) -> pd.DataFrame:
    """A few large active enterprises (registered capital of 500万元 or more) name a living adult of
    a 低保 household as legal representative (what 低保核查 looks for): every 4th such enterprise,
    the 低保 adults in order. Deterministic, drawing no random numbers."""
    as_of = _days(config.as_of)
    low = p["household_id"].map(h.set_index("household_id")["low_income"]).fillna(False).to_numpy(dtype=bool)
    age_days = as_of - p["birth_days"].to_numpy()
    adults = p.loc[low & p["alive"].to_numpy() & (age_days > 25 * 365.25) & (age_days < 70 * 365.25), "person_id"]
    rows = np.flatnonzero((e["status"].to_numpy() == "active") & (e["registered_capital_10k"].to_numpy() >= 500)
                          & ~e["is_shell"].to_numpy())[::4]
    if len(adults) and len(rows):
        e.loc[e.index[rows], "legal_rep_person_id"] = adults.to_numpy()[np.arange(len(rows)) % len(adults)]
    return e


def _shell_indicators(e: pd.DataFrame, p: pd.DataFrame, h: pd.DataFrame) -> pd.DataFrame:
    """The reasons a shell company shows in the data (空壳公司 indicators), as ground truth."""
    employees = p.groupby("employer_id")["person_id"].count()
    e["employees"] = e["enterprise_id"].map(employees).fillna(0).astype(np.int64)
    reps = e.groupby("legal_rep_person_id")["enterprise_id"].transform("count")
    per_address = e.groupby("address_id")["enterprise_id"].transform("count")
    low_income = p.set_index("person_id")["household_id"].map(h.set_index("household_id")["low_income"])
    rep_low = e["legal_rep_person_id"].map(low_income).fillna(False).astype(bool)
    alive = p.set_index("person_id")["alive"].to_dict()
    reasons = []
    for shell, emp, r, a, low, rep in zip(e["is_shell"], e["employees"], reps, per_address, rep_low,
                                          e["legal_rep_person_id"], strict=True):
        if not shell:
            reasons.append([])
            continue
        why = []
        if emp == 0:
            why.append("no_insured_employees")
        why.append("no_tax_paid")
        if a >= 5:
            why.append("shared_registered_address")
        if r >= 3:
            why.append("legal_rep_of_many_companies")
        if low:
            why.append("legal_rep_receives_minimum_living_allowance")
        if not alive.get(rep, True):
            why.append("legal_rep_deceased")
        reasons.append(why)
    e["shell_reasons"] = reasons
    return e
