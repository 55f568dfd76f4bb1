"""The shipped reference data loads, and every code the generator writes is in its national table."""

from __future__ import annotations

import pytest

from citylake.schemas import reference
from citylake.schemas.reference import ReferenceDataError
from citylake.synthcity.world import MARITAL, RELATION


def test_gazetteer_has_the_twelve_districts_of_jinan():
    g = reference.gazetteer()
    assert g.city_code == "370100"
    codes = {d.code for d in g.districts}
    assert codes == {"370102", "370103", "370104", "370105", "370112", "370113", "370114", "370115", "370116",
                     "370117", "370124", "370126"}
    assert all(d.streets and d.roads and d.population_2020 > 0 for d in g.districts)


def test_old_division_codes_are_used_for_births_before_the_change():
    jiyang = reference.gazetteer().district("370115")
    assert jiyang.code_for_birth_year(1980) != "370115"
    assert jiyang.code_for_birth_year(2020) == "370115"


def test_generator_codes_exist_in_the_national_tables():
    assert set(RELATION.values()) <= set(reference.code_table("household_relation_gbt4761"))
    assert set(MARITAL.values()) <= set(reference.code_table("marital_status_gbt2261_2"))
    assert {"1", "2"} <= set(reference.code_table("sex_gbt2261_1"))
    shares = reference.ethnicity_shares()
    assert len(shares) >= 56 and abs(sum(shares.values()) - 1) < 1e-6
    assert len({r["code"] for r in reference.industry_divisions()}) == 97


def test_malformed_reference_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "mobile_prefixes.csv").write_text("prefix,carrier,weight\n138,,1\n", encoding="utf-8")
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path)
    reference.mobile_prefixes.cache_clear()
    try:
        with pytest.raises(ReferenceDataError, match=r"mobile_prefixes.csv: line 2 lacks carrier"):
            reference.mobile_prefixes()
    finally:
        reference.mobile_prefixes.cache_clear()


def test_mobile_segments_cover_the_numbering_plan():
    """Issue 14: virtual operators, 14x data cards and satellite segments are allocated numbers."""
    rows = reference.mobile_prefixes()
    prefixes = {r["prefix"] for r in rows}
    assert len(prefixes) == len(rows) == 64
    for segment in ("162", "165", "167", "171", "145", "147", "149", "192", "196", "197", "1349", "1740",
                    *(f"170{d}" for d in range(10))):
        assert segment in prefixes, segment
    by_prefix = {r["prefix"]: r for r in rows}
    assert by_prefix["1705"]["carrier"] == "中国移动" and by_prefix["1709"]["carrier"] == "中国联通"
    assert by_prefix["1740"]["service"] == "satellite" and by_prefix["162"]["service"] == "virtual"
    assert {"140", "141", "146", "148", "154", "160", "174", "194"}.isdisjoint(prefixes)
    # No 3-digit segment shadows a 4-digit one of another carrier (170 and 174 are only 4-digit).
    assert "170" not in prefixes and "174" not in prefixes


def test_mobile_segments_agree_with_libphonenumber():
    """Cross-check with Google's libphonenumber metadata (the phonenumbers package), where present."""
    import phonenumbers

    only_ours = {"149"}  # data-card segment libphonenumber does not know (SOURCES.md)
    for row in reference.mobile_prefixes():
        number = phonenumbers.parse("+86" + row["prefix"].ljust(7, "0") + "1234")
        assert phonenumbers.is_valid_number(number) != (row["prefix"] in only_ours), row["prefix"]


def test_a_malformed_mobile_segment_row_is_named(tmp_path, monkeypatch):
    (tmp_path / "mobile_prefixes.csv").write_text("prefix,carrier,weight,service\n13,中国移动,1,mobile\n",
                                                  encoding="utf-8")
    monkeypatch.setattr(reference, "REFERENCE_DIR", tmp_path)
    reference.mobile_prefixes.cache_clear()
    try:
        with pytest.raises(ReferenceDataError, match=r"mobile_prefixes.csv: line 2: prefix '13'"):
            reference.mobile_prefixes()
    finally:
        reference.mobile_prefixes.cache_clear()
