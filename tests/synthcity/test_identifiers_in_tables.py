"""Every ID number and USCC in the department systems is valid by its standard, except exactly the
values the generator spoiled (and the real pilot USCCs that fail their checksum)."""

from __future__ import annotations

import pandas as pd
import pytest

from citylake.schemas.identifiers import id_is_valid_check, uscc_is_valid_check, uscc_org_code_is_valid
from citylake.synthcity.departments import TABLES

ID_DEFECTS = {"bad_check_digit", "mistyped_digit", "id_15_digit", "lowercase_x", "fullwidth", "stray_space", "missing"}
USCC_DEFECTS = {"bad_check_digit", "mistyped_digit", "lowercase_letters", "fullwidth", "stray_space", "missing"}


def _columns(kinds):
    return [(t, c.name, c.kind) for t, spec in TABLES.items() for c in spec.columns if c.kind in kinds]


def _defects(city, table, column):
    d = city.truth.read_record_defects()
    d = d[(d["source_table"] == table) & (d["column"] == column)]
    return dict(zip(d["record_key"], d["defect"], strict=True))


@pytest.mark.parametrize(("table", "column", "kind"), _columns({"id_number", "holder_id"}))
def test_id_numbers_valid_except_injected(small_city, table, column, kind):
    spec = TABLES[table]
    rows = small_city.table(table)
    if kind == "holder_id":
        rows = rows[rows["QLRZJZL"] == "1"]
    spoiled = _defects(small_city, table, column)
    assert rows[spec.key].is_unique
    for key, value in zip(rows[spec.key], rows[column], strict=True):
        defect = spoiled.get(key)
        valid = isinstance(value, str) and id_is_valid_check(value)
        if defect is None:
            assert valid or pd.isna(value) and column in ("FQSFZH",), (table, column, key)
        else:
            assert defect in ID_DEFECTS
            assert not valid, (table, column, key, defect)


@pytest.mark.parametrize(("table", "column", "kind"), _columns({"uscc", "holder_id"}))
def test_usccs_valid_except_injected_and_pilot_codes(small_city, table, column, kind):
    spec = TABLES[table]
    rows = small_city.table(table)
    if kind == "holder_id":
        rows = rows[rows["QLRZJZL"] == "7"]
    spoiled = _defects(small_city, table, column)
    enterprises = pd.read_parquet(small_city.truth.root / "enterprise.parquet")
    pilot = set(enterprises.loc[enterprises["pilot_code"], "uscc"])
    assert len(rows) > 0
    for key, value in zip(rows[spec.key], rows[column], strict=True):
        defect = spoiled.get(key)
        if defect is None:
            assert value in pilot or uscc_is_valid_check(value), (table, key)
            assert uscc_org_code_is_valid(value) or value in pilot, (table, key)
        else:
            assert defect in USCC_DEFECTS
            assert not uscc_is_valid_check(value), (table, key, defect)


def test_pilot_codes_are_real_registrations_that_fail_the_checksum(small_city):
    enterprises = pd.read_parquet(small_city.truth.root / "enterprise.parquet")
    pilots = enterprises[enterprises["pilot_code"]]
    assert all(not uscc_is_valid_check(u) for u in pilots["uscc"])
    assert all(uscc_is_valid_check(u) for u in enterprises.loc[~enterprises["pilot_code"], "uscc"])
    assert enterprises["uscc"].is_unique


def test_birth_date_and_sex_agree_with_id_unless_injected(small_city):
    rows = small_city.table("gongan.CZRK")
    d = small_city.truth.read_record_defects()
    d = d[d["source_table"] == "gongan.CZRK"]
    spoiled_id = set(d.loc[d["column"] == "GMSFHM", "record_key"])
    bad_birth = set(d.loc[d["column"] == "CSRQ", "record_key"])
    bad_sex = set(d.loc[d["column"] == "XB", "record_key"])
    for key, number, birth, sex in zip(rows["RYID"], rows["GMSFHM"], rows["CSRQ"], rows["XB"], strict=True):
        if key in spoiled_id:
            continue
        assert (number[6:14] == birth) != (key in bad_birth), key
        assert ((int(number[16]) % 2 == 1) == (sex == "1")) != (key in bad_sex), key
