"""``citylake generate --advance-days D``: the next days of the city's life, applied to its systems.

Each day draws its events from its own random stream (``Streams(seed).for_part("day", n)``), so
advancing 1 day twice equals advancing 2 days once. A day brings births, deaths, moves,
marriages, new and deregistered enterprises, and departments correcting some of their open
defects. Every change is an INSERT, UPDATE (with the table's update-time column set to that day)
or DELETE in the department systems, and the truth follows: new records, corrected defects (a
defect is corrected when its value is overwritten by the clean one), the new state of the world.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from citylake.schemas import reference
from citylake.synthcity.config import SynthConfig, load_config
from citylake.synthcity.departments import TABLES
from citylake.synthcity.departments.base import NO_DAY, Column, KeyCounter, Scope, TableSpec, days_of
from citylake.synthcity.load import engine_for, insert_rows
from citylake.synthcity.render import RenderedTable, render_table
from citylake.synthcity.streams import Streams
from citylake.synthcity.truth import State, TruthDir
from citylake.synthcity.world import MARITAL, RELATION, World, _enterprises, _given_names

log = logging.getLogger(__name__)


@dataclass
class AdvanceReport:
    days: int
    as_of_after: date
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    corrected: int = 0
    new_defects: int = 0
    seconds: float = 0.0


@dataclass
class DayChanges:
    """What one day does to the department tables."""

    day: int
    inserts: list[RenderedTable] = field(default_factory=list)
    # table -> record key -> column -> new value (the update column is added when applied)
    updates: dict[str, dict[str, dict[str, object]]] = field(default_factory=lambda: defaultdict(dict))
    deletes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    kept_defects: list[pd.DataFrame] = field(default_factory=list)
    # (table, key, column) the departments fixed on purpose, as opposed to values overwritten by events
    fixes: set[tuple[str, str, str]] = field(default_factory=set)

    def update(self, table: str, keys, values: dict[str, object]) -> None:
        for key in keys:
            self.updates[table].setdefault(key, {}).update(values)


def advance(days: int, targets: list[str], truth_dir: str | Path, config_path: str | None = None) -> AdvanceReport:
    started = time.perf_counter()
    truth = TruthDir(truth_dir)
    state = truth.read_state()
    config = load_config(config_path or state.config)
    world = World(as_of=state.as_of, config=config, **truth.read_world_frames())
    keys = KeyCounter(dict(state.next_keys))
    defects = truth.read_record_defects()
    report = AdvanceReport(days=days, as_of_after=state.as_of + timedelta(days=state.days_advanced + days))
    engines = {}
    try:
        for offset in range(1, days + 1):
            day = state.days_advanced + offset
            rng = Streams(state.seed).for_part("day", day)
            changes = DayChanges(day)
            _day_of_life(world, changes, rng, config, truth, keys, report)
            defects = _corrections(changes, defects, rng, config, day, report)
            stamps = Streams(state.seed).for_part("update_time", day)
            defects = _apply(changes, defects, targets, engines, truth, report, state.as_of, stamps)
            # Each applied day is saved, so a failure on a later day restarts from this one; a day
            # that failed half-way replays identically (its inserts replace what it had written).
            truth.write_world(world)
            truth.write_record_defects(defects)
            truth.write_state(State(state.seed, state.persons, state.as_of, day, dict(keys.next_number),
                                    config_path or state.config))
            log.info("day %d applied: %s", day, dict(report.events))
    finally:
        for engine in engines.values():
            engine.dispose()
    report.seconds = time.perf_counter() - started
    return report


# --- the day's events in the world --------------------------------------------------------------

def _day_of_life(world: World, changes: DayChanges, rng: np.random.Generator, config: SynthConfig, truth: TruthDir,
                 keys: KeyCounter, report: AdvanceReport) -> None:
    rates = config.events_per_1000_per_day
    alive = int(world.persons["alive"].sum())
    count = {k: int(rng.poisson(v * alive / 1000)) for k, v in rates.items()}
    today = days_of(world.as_of) + changes.day
    render = _Renderer(world, config, rng, keys, changes)
    known_addresses = set(world.addresses["address_id"])

    born = _births(world, count["births"], today, rng)
    if born:
        render.insert(["gongan.CZRK", "weijian.CSYXZM", "yibao.psn_insu_d"], Scope(person_ids=frozenset(born)))
    report.events["births"] += len(born)

    dead = _deaths(world, count["deaths"], today, rng)
    if dead:
        subject = _records(truth, dead)
        changes.update("gongan.CZRK", subject.get("gongan.CZRK", []),
                       {"ZXBS": "1", "ZXRQ": _fmt(today, "%Y%m%d"), "ZXYY": "死亡"})
        changes.update("renshe.AC02", subject.get("renshe.AC02", []), {"aac008": "3"})
        insured = list(subject.get("yibao.psn_insu_d", []))
        still = config.defects.get("yibao.psn_insu_d", {}).get("psn_insu_stas", {}).get("still_insured_after_death", 0)
        lagging = set(np.asarray(insured, dtype=object)[rng.random(len(insured)) < still]) if insured else set()
        changes.update("yibao.psn_insu_d", [k for k in insured if k not in lagging],
                       {"psn_insu_stas": "4", "enddate": _date(today)})
        if lagging:
            changes.kept_defects.append(pd.DataFrame({
                "source_table": "yibao.psn_insu_d", "record_key": sorted(lagging), "column": "psn_insu_stas",
                "role": "subject", "defect": "still_insured_after_death", "visible_to_standards": False,
                "clean_value": "4", "injected_day": changes.day, "corrected_day": pd.NA, "corrected_by": None}))
        changes.deletes["minzheng.dbjz_cy"].update(subject.get("minzheng.dbjz_cy", []))
        widowed = world.persons.loc[world.persons["person_id"].isin(dead), "spouse_id"].dropna()
        widowed = widowed[widowed.map(world.persons.set_index("person_id")["alive"]).eq(True)]
        world.persons.loc[world.persons["person_id"].isin(widowed), "marital_status"] = MARITAL["widowed"]
        changes.update("gongan.CZRK", _records(truth, list(widowed)).get("gongan.CZRK", []),
                       {"HYZK": MARITAL["widowed"]})
        render.insert(["minzheng.SWDJ"], Scope(person_ids=frozenset(dead)))
    report.events["deaths"] += len(dead)

    moved = _moves(world, count["moves"], rng)
    if moved:
        members = world.persons[world.persons["household_id"].isin(moved) & world.persons["alive"]]
        addr = world.addresses.set_index("address_id")["text"]
        new_text = members["household_id"].map(world.households.set_index("household_id")["address_id"]).map(addr)
        by_person = dict(zip(members["person_id"], new_text, strict=True))
        for table, column, strip in (("gongan.CZRK", "HJDZ", False), ("minzheng.dbjz_cy", "jtzz", False),
                                     ("jiaoyu.xj_xsjbxx", "jtzz", True)):
            records = _records(truth, list(by_person), with_entity=True).get(table, [])
            for key, person in records:
                text = by_person[person]
                changes.update(table, [key], {column: text.replace("山东省", "", 1) if strip else text})
    report.events["moves"] += len(moved)

    married = _marriages(world, count["marriages"], today, rng)
    if married:
        m = world.marriages[world.marriages["marriage_id"].isin(married)]
        people = list(m["husband_id"]) + list(m["wife_id"])
        changes.update("gongan.CZRK", _records(truth, people).get("gongan.CZRK", []), {"HYZK": MARITAL["married"]})
        render.insert(["minzheng.HYDJ"], Scope(marriage_ids=frozenset(married)))
    report.events["marriages"] += len(married)

    founded = _new_enterprises(world, count["new_enterprises"], today, rng)
    if founded:
        render.insert(["scjg.QYDJ"], Scope(enterprise_ids=frozenset(founded)))
    report.events["new_enterprises"] += len(founded)

    closed = _deregistrations(world, count["deregistrations"], rng)
    if closed:
        changes.update("scjg.QYDJ", _records(truth, closed).get("scjg.QYDJ", []), {"DJZT": "注销"})
    report.events["deregistrations"] += len(closed)

    # 公安 registers the day's new flats and offices (moves, new enterprises) as standard addresses.
    new_addresses = frozenset(world.addresses["address_id"]) - known_addresses
    if new_addresses:
        render.insert(["gongan.BZDZ"], Scope(address_ids=new_addresses))


class _Renderer:
    def __init__(self, world, config, rng, keys, changes):
        self.world, self.config, self.rng, self.keys, self.changes = world, config, rng, keys, changes

    def insert(self, tables: list[str], scope: Scope) -> None:
        for table in tables:
            spec = TABLES[table]
            rendered = render_table(spec, self.world, self.config.defects.get(table, {}), self.rng, self.keys,
                                    day=self.changes.day, scope=scope)
            if len(rendered.rows):
                self.changes.inserts.append(rendered)


def _births(world: World, n: int, today: int, rng: np.random.Generator) -> list[str]:
    p = world.persons
    age = (today - p["birth_days"]) / 365.25
    mothers = p[p["alive"] & ~p["male"] & age.between(22, 42) & p["spouse_id"].notna() & p["role"].isin(["head", "spouse"])]
    if n == 0 or mothers.empty:
        return []
    mothers = mothers.iloc[rng.choice(len(mothers), size=min(n, len(mothers)), replace=False)]
    people = p.set_index("person_id")
    fathers = people.reindex(mothers["spouse_id"])
    male = rng.random(len(mothers)) < 0.52
    households = world.households.set_index("household_id")
    division = mothers["household_id"].map(households["district_code"]).to_numpy()
    ids = _new_id_numbers(p["id_number"], division, today, male, rng)
    first = _next_number(p["person_id"], "P")
    new = pd.DataFrame({
        "person_id": [f"P{i:08d}" for i in range(first, first + len(mothers))],
        "household_id": mothers["household_id"].to_numpy(), "role": "child", "male": male, "alive": True, "slot": 2,
        "birth_days": today, "spouse_id": None, "father_id": fathers.index.to_numpy(),
        "mother_id": mothers["person_id"].to_numpy(),
        "relation": np.where(male, RELATION["son"], RELATION["daughter"]), "death_days": NO_DAY,
        "marital_status": MARITAL["single"], "ex_spouse_id": None, "district_code": division,
        "surname": fathers["surname"].to_numpy(),
        "ethnicity": fathers["ethnicity"].fillna("01").to_numpy(), "birth_division_code": division,
        "id_number": ids, "mobile": None, "employer_id": None, "employment_start_days": NO_DAY,
        "dibao_after_death": False,
    })
    new["name"] = new["surname"] + _given_names(rng, male)
    world.persons = pd.concat([p, new[p.columns]], ignore_index=True)
    return list(new["person_id"])


def _new_id_numbers(existing: pd.Series, division: np.ndarray, today: int, male: np.ndarray,
                    rng: np.random.Generator) -> list[str]:
    from citylake.schemas.identifiers import id_check_char

    taken = set(existing)
    birth = _fmt(today, "%Y%m%d")
    out = []
    for div, is_male in zip(division, male, strict=True):
        start = int(rng.integers(0, 200))
        for k in range(start, start + 499):
            seq = 2 * (k % 499) + (1 if is_male else 2)
            first17 = f"{div}{birth}{seq:03d}"
            number = first17 + id_check_char(first17)
            if number not in taken:
                taken.add(number)
                out.append(number)
                break
        else:
            raise ValueError("no free GB 11643 sequence number left for a birth")
    return out


def _deaths(world: World, n: int, today: int, rng: np.random.Generator) -> list[str]:
    p = world.persons
    living = p[p["alive"]]
    if n == 0 or living.empty:
        return []
    age = (today - living["birth_days"].to_numpy()) / 365.25
    hazard = np.exp((age - 80) / 8)  # Gompertz-like: mortality doubles about every 5.5 years
    chosen = rng.choice(len(living), size=min(n, len(living)), replace=False, p=hazard / hazard.sum())
    ids = list(living["person_id"].iloc[chosen])
    rows = p["person_id"].isin(ids)
    p.loc[rows, "death_days"] = today
    p.loc[rows, "alive"] = False
    p.loc[rows, "employer_id"] = None
    return ids


def _moves(world: World, n: int, rng: np.random.Generator) -> list[str]:
    """Households move to another flat: same compounds of the city, another building/unit/room."""
    h = world.households
    if n == 0:
        return []
    movers = h.iloc[rng.choice(len(h), size=min(n, len(h)), replace=False)]
    a = world.addresses
    residential = a[a["kind"] == "residential"]
    targets = residential.iloc[rng.integers(0, len(residential), len(movers))].copy()
    targets["building"] = rng.integers(1, 25, len(targets))
    targets["unit"] = rng.integers(1, 5, len(targets))
    targets["room"] = rng.integers(1, 27, len(targets)) * 100 + rng.integers(1, 3, len(targets))
    from citylake.synthcity.world import standard_address_text

    first = _next_number(a["address_id"], "A")
    targets["address_id"] = [f"A{i:08d}" for i in range(first, first + len(targets))]
    targets["text"] = standard_address_text(targets, reference.gazetteer()).to_numpy()
    world.addresses = pd.concat([a, targets[a.columns]], ignore_index=True)
    new_address = dict(zip(movers["household_id"], targets["address_id"], strict=True))
    new_district = dict(zip(movers["household_id"], targets["district_code"], strict=True))
    rows = h["household_id"].isin(new_address)
    h.loc[rows, "address_id"] = h.loc[rows, "household_id"].map(new_address)
    h.loc[rows, "district_code"] = h.loc[rows, "household_id"].map(new_district)
    members = world.persons["household_id"].isin(new_address)
    world.persons.loc[members, "district_code"] = world.persons.loc[members, "household_id"].map(new_district)
    return list(movers["household_id"])


def _marriages(world: World, n: int, today: int, rng: np.random.Generator) -> list[str]:
    p = world.persons
    age = (today - p["birth_days"]) / 365.25
    single = p[p["alive"] & (p["marital_status"] == MARITAL["single"]) & age.between(22, 40)]
    men, women = single[single["male"]], single[~single["male"]]
    k = min(n, len(men), len(women))
    if k == 0:
        return []
    men = men.iloc[rng.choice(len(men), size=k, replace=False)]
    women = women.iloc[rng.choice(len(women), size=k, replace=False)]
    first = _next_number(world.marriages["marriage_id"], "M")
    m = pd.DataFrame({"marriage_id": [f"M{i:08d}" for i in range(first, first + k)],
                      "husband_id": men["person_id"].to_numpy(), "wife_id": women["person_id"].to_numpy(),
                      "married_days": today, "divorced_days": NO_DAY})
    world.marriages = pd.concat([world.marriages, m], ignore_index=True)
    spouse = dict(zip(m["husband_id"], m["wife_id"], strict=True)) | dict(zip(m["wife_id"], m["husband_id"], strict=True))
    rows = p["person_id"].isin(spouse)
    p.loc[rows, "spouse_id"] = p.loc[rows, "person_id"].map(spouse)
    p.loc[rows, "marital_status"] = MARITAL["married"]
    return list(m["marriage_id"])


def _new_enterprises(world: World, n: int, today: int, rng: np.random.Generator) -> list[str]:
    if n == 0:
        return []
    first = _next_number(world.enterprises["enterprise_id"], "E")
    e, addresses = _enterprises(world.persons, world.addresses, rng, reference.gazetteer(), world.config, count=n,
                                established_on=today, taken_usccs=set(world.enterprises["uscc"]),
                                taken_names=set(world.enterprises["name"]), first_number=first)
    e["employees"] = 0
    e["shell_reasons"] = [[] for _ in range(len(e))]
    world.addresses = addresses
    world.enterprises = pd.concat([world.enterprises, e[world.enterprises.columns]], ignore_index=True)
    return list(e["enterprise_id"])


def _deregistrations(world: World, n: int, rng: np.random.Generator) -> list[str]:
    e = world.enterprises
    candidates = e[(e["status"] == "active") & (e["employees"] == 0)]
    if n == 0 or candidates.empty:
        return []
    chosen = list(candidates["enterprise_id"].iloc[rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)])
    e.loc[e["enterprise_id"].isin(chosen), "status"] = "deregistered"
    return chosen


def _corrections(changes: DayChanges, defects: pd.DataFrame, rng: np.random.Generator, config: SynthConfig,
                 day: int, report: AdvanceReport) -> pd.DataFrame:
    """Departments fix a share of their open defects: the clean value goes back, duplicates are deleted."""
    for department, rate in config.corrections_per_day.items():
        tables = [t for t, s in TABLES.items() if s.department == department]
        open_ = defects[defects["source_table"].isin(tables) & defects["corrected_day"].isna()
                        & (defects["defect"] != "still_insured_after_death")]
        fixed = open_[rng.random(len(open_)) < rate]
        for row in fixed.itertuples(index=False):
            changes.fixes.add((row.source_table, row.record_key, row.column))
            if row.column == "_record":
                changes.deletes[row.source_table].add(row.record_key)
            else:
                column = TABLES[row.source_table].column(row.column)
                changes.update(row.source_table, [row.record_key], {row.column: typed(row.clean_value, column)})
    return defects


def typed(text: str | None, column: Column):
    """A clean value kept as text in the truth, back in the column's type."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    if column.kind == "date":
        return date.fromisoformat(text)
    if column.kind in ("datetime", "timestamp"):
        return datetime.fromisoformat(text)
    if column.kind == "date_int":
        return int(text)
    if column.kind == "number":
        return Decimal(text)
    return text


# --- applying a day to the systems and the truth ----------------------------------------------------

def _apply(changes: DayChanges, defects: pd.DataFrame, targets: list[str], engines: dict, truth: TruthDir,
           report: AdvanceReport, as_of: date, rng: np.random.Generator) -> pd.DataFrame:
    inserted: dict[str, list[RenderedTable]] = defaultdict(list)
    for rendered in changes.inserts:
        inserted[rendered.spec.qualified_name].append(rendered)
    tables = set(inserted) | set(changes.updates) | set(changes.deletes)
    for table in sorted(tables):
        spec = TABLES[table]
        counts = report.changes.setdefault(table, {"inserted": 0, "updated": 0, "deleted": 0})
        rows = [r.rows for r in inserted.get(table, [])]
        updates = changes.updates.get(table, {})
        deletes = changes.deletes.get(table, set())
        stamp = datetime.combine(as_of + timedelta(days=changes.day), datetime.min.time()) + timedelta(
            seconds=int(rng.integers(8 * 3600, 18 * 3600)))
        for target in targets:
            key = (target, spec.department)
            if key not in engines:
                engines[key] = engine_for(target, spec.department)
            _write(engines[key], spec, rows, updates, deletes, stamp)
        counts["inserted"] += sum(len(r) for r in rows)
        counts["updated"] += len(set(updates) - deletes)
        counts["deleted"] += len(deletes)
        for r in inserted.get(table, []):
            truth.write_record_truth(table, changes.day, r.truth)
    new = [r.defects for r in changes.inserts if len(r.defects)] + changes.kept_defects
    report.new_defects += sum(len(d) for d in new)
    # A defect is corrected when its value is overwritten, or its duplicate row deleted.
    overwritten = {(t, k, c) for t, by_key in changes.updates.items() for k, cols in by_key.items() for c in cols}
    deleted = {(t, k) for t, keys in changes.deletes.items() for k in keys}
    truth.add_deleted_records(changes.day, sorted(deleted))
    # A deleted record takes all its defects with it.
    closing = defects["corrected_day"].isna().to_numpy() & np.array([
        (t, k, c) in overwritten or (t, k) in deleted
        for t, k, c in zip(defects["source_table"], defects["record_key"], defects["column"], strict=True)], dtype=bool)
    defects.loc[closing, "corrected_day"] = changes.day
    fixed = np.array([(t, k, c) in changes.fixes for t, k, c in
                      zip(defects["source_table"], defects["record_key"], defects["column"], strict=True)], dtype=bool)
    gone = np.array([(t, k) in deleted and c != "_record" for t, k, c in
                     zip(defects["source_table"], defects["record_key"], defects["column"], strict=True)], dtype=bool)
    defects.loc[closing, "corrected_by"] = np.where(fixed[closing], "department",
                                                    np.where(gone[closing], "deleted", "superseded"))
    report.corrected += int(np.sum(closing))
    if new:
        defects = pd.concat([defects, *[d.astype({"corrected_day": "Int32"}) for d in new]], ignore_index=True)
    defects["corrected_day"] = defects["corrected_day"].astype("Int32")
    return defects


def _write(engine: sa.Engine, spec: TableSpec, rows: list[pd.DataFrame], updates: dict[str, dict[str, object]],
           deletes: set[str], stamp: datetime) -> None:
    metadata = sa.MetaData()
    table = spec.sqlalchemy_table(metadata)
    for frame in rows:
        # A replayed day inserts the same keys again: replace them rather than fail.
        with engine.begin() as conn:
            keys_ = frame[spec.key].tolist()
            for start in range(0, len(keys_), 500):
                conn.execute(table.delete().where(table.c[spec.key].in_(keys_[start:start + 500])))
        insert_rows(engine, table, frame)
    with engine.begin() as conn:
        by_columns: dict[tuple[str, ...], list[dict]] = defaultdict(list)
        for key, values in updates.items():
            if key in deletes:
                continue
            values = dict(values)
            if spec.update_column:
                values[spec.update_column] = stamp
            by_columns[tuple(sorted(values))].append({"_key": key, **{f"v_{c}": v for c, v in values.items()}})
        for columns, params in by_columns.items():
            stmt = (table.update().where(table.c[spec.key] == sa.bindparam("_key"))
                    .values({c: sa.bindparam(f"v_{c}") for c in columns}))
            conn.execute(stmt, params)
        if deletes:
            conn.execute(table.delete().where(table.c[spec.key].in_(sorted(deletes))))


def _records(truth: TruthDir, entity_ids: list[str], with_entity: bool = False) -> dict[str, list]:
    """The record keys per table whose subject is one of ``entity_ids``."""
    if not entity_ids:
        return {}
    rt = truth.read_record_truth(filters=[("role", "=", "subject"), ("entity_id", "in", list(entity_ids))])
    deleted = truth.deleted_records()
    out: dict[str, list] = defaultdict(list)
    for table, key, entity in zip(rt["source_table"], rt["record_key"], rt["entity_id"], strict=True):
        if (table, key) in deleted:
            continue
        out[table].append((key, entity) if with_entity else key)
    return out


def _fmt(day_number: int, fmt: str) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(day_number))).strftime(fmt)


def _date(day_number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(day_number))


def _next_number(ids: pd.Series, prefix: str) -> int:
    return int(ids.str.removeprefix(prefix).astype(np.int64).max()) + 1 if len(ids) else 1
