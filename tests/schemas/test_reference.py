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
