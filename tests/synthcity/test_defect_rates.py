"""Injected defects hit their configured rates, and each is what its name says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from citylake.schemas.simplified import has_traditional, to_simplified
from citylake.synthcity.config import load_config
from citylake.synthcity.defects import DEFECTS
from citylake.synthcity.departments import TABLES

# Defects that every non-null value is eligible for: their count is round(rate * non-null rows).
UNIVERSAL = {"bad_check_digit", "mistyped_digit", "stray_space", "missing", "address_variant",
             "birth_date_disagrees_with_id", "sex_disagrees_with_id", "impossible_date"}


def test_universal_defects_hit_their_rate(small_city):
    config = load_config()
    defects = small_city.truth.read_record_defects()
    day0 = defects[defects["injected_day"] == 0]
    checked = 0
    for table, columns in config.defects.items():
        rows = small_city.table(table)
        originals = len(rows) - int(((day0["source_table"] == table) & (day0["defect"] == "duplicate")).sum())
        for column, rates in columns.items():
            if column == "_record":
                expected = round(rates["duplicate"] * originals)
                got = int(((day0["source_table"] == table) & (day0["defect"] == "duplicate")).sum())
                assert got == expected, (table, "duplicate")
                continue
            # Rows whose value is null before spoiling are not eligible; earlier defects take theirs.
            for name, rate in rates.items():
                if name not in UNIVERSAL:
                    continue
                got = int(((day0["source_table"] == table) & (day0["column"] == column)
                           & (day0["defect"] == name)).sum())
                expected = rate * originals
                assert abs(got - expected) <= max(2, 0.1 * expected), (table, column, name, got, expected)
                checked += 1
    assert checked > 20


def test_defects_only_on_columns_of_their_kind(small_city):
    defects = small_city.truth.read_record_defects()
    for row in defects[defects["column"] != "_record"].drop_duplicates(["source_table", "column", "defect"]).itertuples():
        kind = TABLES[row.source_table].column(row.column).kind
        assert kind in DEFECTS[row.defect].kinds


@pytest.mark.parametrize("defect", ["fullwidth", "stray_space", "lowercase_x", "traditional_chars", "id_15_digit",
                                    "impossible_date", "address_variant"])
def test_each_defect_changes_the_value_as_named(small_city, defect):
    defects = small_city.truth.read_record_defects()
    d = defects[(defects["defect"] == defect) & (defects["injected_day"] == 0)]
    assert len(d) > 0, defect
    for table, group in d.groupby("source_table"):
        spec = TABLES[table]
        rows = small_city.table(table).set_index(spec.key)
        for key, column, clean in zip(group["record_key"], group["column"], group["clean_value"], strict=True):
            value = str(rows.at[key, column])
            assert value != clean
            if defect == "fullwidth":
                assert any(0xFF01 <= ord(c) <= 0xFF5E for c in value)
            elif defect == "stray_space":
                assert value.replace(" ", "") == clean
            elif defect == "lowercase_x":
                assert value == clean.replace("X", "x")
            elif defect == "id_15_digit":
                assert len(value) == 15 and value == clean[:6] + clean[8:17]
            elif defect == "impossible_date":
                digits = "".join(c for c in value if c.isdigit())
                assert digits[4:8] in {"0230", "0231", "0431", "0631", "0931", "1301"}
            elif defect == "traditional_chars":
                # Found by the gate's per-character check, and simplified back to the clean value.
                assert has_traditional(value) and to_simplified(value) == clean, (value, clean)


def test_traditional_names_mix_traditional_and_simplified(small_city):
    """As real records do (鄭晓珍, 劉峰): some defective names keep a character simplified although
    it has a traditional form."""
    defects = small_city.truth.read_record_defects()
    d = defects[(defects["defect"] == "traditional_chars") & (defects["injected_day"] == 0)]
    mixed = 0
    for table, group in d.groupby("source_table"):
        rows = small_city.table(table).set_index(TABLES[table].key)
        for key, column, clean in zip(group["record_key"], group["column"], group["clean_value"], strict=True):
            value = str(rows.at[key, column])
            kept = [c for c, w in zip(clean, value, strict=True) if c == w and to_simplified(c) == c
                    and DEFECTS["traditional_chars"].apply(pd.Series([c]), None, np.random.default_rng(0))[0] != c]
            mixed += bool(kept)
    assert mixed > 0
