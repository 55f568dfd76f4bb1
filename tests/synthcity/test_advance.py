"""--advance-days: the next days of changes, applied as inserts, updates and deletes, with the truth."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pandas as pd
import pytest

from citylake.synthcity.advance import advance
from citylake.synthcity.departments import TABLES
from citylake.synthcity.truth import TruthDir
from tests.synthcity.cities import City, make_city
from tests.synthcity.test_load_servers import _normal

BUSY_DAYS = """
events_per_1000_per_day: {births: 4, deaths: 4, moves: 4, marriages: 4, new_enterprises: 2, deregistrations: 2}
corrections_per_day: {gongan: 0.3, renshe: 0.2, yibao: 0.2, scjg: 0.3}
"""


@pytest.fixture(scope="module")
def busy_city(tmp_path_factory):
    root = tmp_path_factory.mktemp("busy")
    config = root / "busy.yaml"
    config.write_text(BUSY_DAYS, encoding="utf-8")
    city = make_city(root, persons=2500, seed=8, config=str(config))
    before = {q: city.table(q) for q in TABLES}
    shutil.copytree(root / "sources", root / "sources_day0")
    shutil.copytree(root / "truth", root / "truth_day0")
    report = advance(1, [city.target], city.truth.root)
    return city, before, report, root


def test_one_day_brings_every_kind_of_event(busy_city):
    _, _, report, _ = busy_city
    for event in ("births", "deaths", "moves", "marriages", "new_enterprises", "deregistrations"):
        assert report.events[event] > 0, event
    assert report.corrected > 0


def test_changed_rows_carry_the_day_in_their_update_column(busy_city):
    city, before, report, _ = busy_city
    day_start = datetime.combine(report.as_of_after, datetime.min.time())
    for qualified, counts in report.changes.items():
        spec = TABLES[qualified]
        after = city.table(qualified)
        old_keys = set(before[qualified][spec.key])
        new_rows = after[~after[spec.key].isin(old_keys)]
        assert len(new_rows) == counts["inserted"], qualified
        assert len(before[qualified]) + counts["inserted"] - counts["deleted"] == len(after), qualified
        if spec.update_column is None:
            continue
        stamps = pd.to_datetime(after[spec.update_column])
        touched = after[(stamps >= day_start) & (stamps < day_start + timedelta(days=1))]
        assert len(touched) == counts["inserted"] + counts["updated"], qualified
        untouched = after[~after[spec.key].isin(touched[spec.key])].set_index(spec.key).sort_index()
        assert untouched.equals(before[qualified].set_index(spec.key).loc[untouched.index].sort_index()), qualified


def test_corrected_defects_hold_the_clean_value(busy_city):
    city, _, _, _ = busy_city
    d = city.truth.read_record_defects()
    fixed = d[(d["corrected_day"] == 1) & (d["corrected_by"] == "department")]
    assert len(fixed) > 0
    assert set(d.loc[d["corrected_day"] == 1, "corrected_by"]) <= {"department", "superseded", "deleted"}
    for table, group in fixed.groupby("source_table"):
        spec = TABLES[table]
        rows = city.table(table).set_index(spec.key)
        for key, column, clean in zip(group["record_key"], group["column"], group["clean_value"], strict=True):
            if column == "_record":
                assert key not in rows.index  # the duplicate was deleted
            else:
                value = rows.at[key, column]
                if spec.column(column).kind == "date" and isinstance(value, pd.Timestamp):
                    value = value.date()  # pandas reads a SQLite DATE column as timestamps
                assert _normal(value) == _normal(clean), (table, key, column)


def test_births_and_deaths_reach_their_systems(busy_city):
    city, before, _, _ = busy_city
    persons = pd.read_parquet(city.truth.root / "person.parquet")
    born = persons[pd.to_datetime(persons["birth_date"]) == pd.Timestamp("2026-11-01")]
    died = persons[pd.to_datetime(persons["death_date"]) == pd.Timestamp("2026-11-01")]
    assert len(born) and len(died)
    truth = city.truth.read_record_truth(filters=[("role", "=", "subject")])
    for person in born["person_id"]:
        tables = set(truth.loc[truth["entity_id"] == person, "source_table"])
        assert {"gongan.CZRK", "weijian.CSYXZM"} <= tables
    swdj = city.table("minzheng.SWDJ")
    assert len(swdj) >= len(before["minzheng.SWDJ"]) + len(died)


def _copy_of_day0(root, name, report) -> City:
    shutil.copytree(root / "sources_day0", root / name / "sources")
    shutil.copytree(root / "truth_day0", root / name / "truth")
    return City(report, f"sqlite:///{root / name}/sources/{{department}}.db", TruthDir(root / name / "truth"))


def test_advancing_twice_by_one_day_equals_advancing_two_days(busy_city):
    city, _, _, root = busy_city
    config = str(root / "busy.yaml")
    stepwise, once = _copy_of_day0(root, "stepwise", city.report), _copy_of_day0(root, "once", city.report)
    advance(1, [stepwise.target], stepwise.truth.root, config_path=config)
    advance(1, [stepwise.target], stepwise.truth.root, config_path=config)
    advance(2, [once.target], once.truth.root, config_path=config)
    for qualified in TABLES:
        a = stepwise.table(qualified).astype(str).sort_values(TABLES[qualified].key).reset_index(drop=True)
        b = once.table(qualified).astype(str).sort_values(TABLES[qualified].key).reset_index(drop=True)
        assert a.equals(b), qualified
    assert stepwise.truth.read_record_defects().equals(once.truth.read_record_defects())


def test_deleted_records_take_their_defects_and_get_no_more_updates(busy_city):
    city, _, _, root = busy_city
    deleted = city.truth.deleted_records()
    assert deleted
    d = city.truth.read_record_defects()
    on_deleted = d[[(t, k) in deleted for t, k in zip(d["source_table"], d["record_key"], strict=True)]]
    assert on_deleted["corrected_day"].notna().all()
    for table, key in deleted:
        rows = city.table(table)
        assert key not in set(rows[TABLES[table].key])
