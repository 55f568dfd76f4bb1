"""Masked values are safe to show: no control characters, no huge values copied into feedback."""

from __future__ import annotations

from citylake.catalog.masking import MAX_SHOWN, mask


def test_common_masks():
    assert mask("person.id_number", "11010519491231002X") == "110105********002X"
    assert mask("person.name@husband", "张三丰") == "张**"
    assert mask("person.mobile", "13812345678") == "138****5678"
    assert mask("enterprise.uscc", "91370102MA3C12345X") == "91370102MA3C12345X"
    assert mask("person.name", None) is None


def test_control_characters_are_replaced_and_huge_values_cut():
    assert mask("person.name", "张\x00\x1b") == "张**"
    assert mask("enterprise.name", "济南\x00泉城\u200b公司\x07") == "济南\ufffd泉城\ufffd公司\ufffd"
    address = "山东省济南市历下区" + "甲" * 1_700_000
    shown = mask("address.text", address)
    assert len(shown) < MAX_SHOWN + 20 and shown.startswith("山东省济南市") and shown.endswith(f"(共{len(address)}字)")
    assert mask("enterprise.name", "\ud800abc") == "\ufffdabc"
