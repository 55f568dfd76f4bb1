"""The per-character traditional check (citylake.schemas.simplified): mixed names are found, valid
simplified characters that OpenCC would rewrite are spared, and names simplify character by character."""

from __future__ import annotations

import pytest

from citylake.schemas.simplified import (
    has_traditional,
    has_traditional_many,
    to_simplified,
    traditional_table,
)


@pytest.mark.parametrize("text", ["鄭晓珍", "劉峰", "後", "劉強", "張偉", "歐陽娜娜", "濟南市歷下區", "阿卜杜拉·買買提"])
def test_any_traditional_character_is_found(text):
    assert has_traditional(text)


@pytest.mark.parametrize("text", ["乾", "著", "沈", "余", "于", "后", "乾坤", "沈著", "余后", "张伟", "王〇",
                                  "阿卜杜拉·买买提", "济南市历下区泉城路1号", "A座12层", ""])
def test_valid_simplified_characters_are_spared(text):
    assert not has_traditional(text)


def test_names_simplify_character_by_character():
    assert to_simplified("鄭晓珍") == "郑晓珍"
    assert to_simplified("劉峰") == "刘峰"
    assert to_simplified("後乾沈著") == "后乾沈著"  # 乾 and 著 are not rewritten (t2s would: 乾 -> 干)
    assert to_simplified("张伟") == "张伟"


def test_the_table_is_a_round_trip_of_single_characters():
    table = traditional_table()
    assert 3000 < len(table) < 5000
    assert table["鄭"] == "郑" and table["後"] == "后"
    assert not {"乾", "著", "沈", "余", "于", "后"} & table.keys()
    assert all(len(s) == 1 and s not in table for s in table.values())


def test_many_at_once_agrees_with_one_by_one():
    values = ["鄭晓珍", "张伟", None, 42, "劉峰", "乾坤", "", "後"]
    assert has_traditional_many(values).tolist() == [isinstance(v, str) and has_traditional(v) for v in values]
    assert has_traditional_many([]).tolist() == []
