"""What a name or a text field can hold (issue 13, finding 6): characters and lengths judged by the
fields' validators, the fast paths accepting nothing the validators would reject, real names valid."""

from __future__ import annotations

import time

import numpy as np
import pytest

from citylake.schemas import characters
from citylake.schemas.fast_paths import accept
from citylake.schemas.standards import StandardsError, standard_field, standards

CONTROL = ["\x00", "\x07", "\x1b", "\x1c", "\x1f", "\x7f", "\x85", "\x9b"]
INVISIBLE = ["\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad", "\U000e0041"]
EMOJI_AND_SYMBOLS = ["😀", "👨\u200d👩", "🏠", "★", "☎", "♀", "\u2603\ufe0f", "→", "∑", "■", "\ue000"]


def _hostile(base: str) -> list[str]:
    mid = len(base) // 2
    return [f"{base[:mid]}{c}{base[mid:]}" for c in [*CONTROL, *INVISIBLE, *EMOJI_AND_SYMBOLS]] + \
        [f"{base}{c}" for c in [*CONTROL, *INVISIBLE, *EMOJI_AND_SYMBOLS]]


@pytest.mark.parametrize(("field", "base"), [("person.name", "张伟"), ("party.name", "山东某某科技有限公司"),
                                             ("enterprise.name", "济南某某商贸有限公司"),
                                             ("address.text", "济南市历下区泉城路1号")])
def test_control_characters_emoji_and_symbols_are_errors_without_quoting_the_value(field, base):
    spec = standard_field(field)
    for value in _hostile(base):
        verdict = spec.validate(value)
        assert not verdict.ok and verdict.rule.endswith(".invalid_chars"), (field, ascii(value), verdict)
        assert verdict.severity == "error" and base not in verdict.message and base[:2] not in verdict.message


def test_a_person_name_holds_chinese_characters_and_the_middle_dot_only():
    name = standard_field("person.name")
    for value in ["张伟3", "Zhang", "张伟(曾用名)", "张-伟", "张_伟", "ｚｈａｎｇ"]:
        verdict = name.validate(value)
        assert verdict.rule == "person_name.invalid_chars", value
    assert "数字" in name.validate("张伟3").message and "字母" in name.validate("Zhang").message


@pytest.mark.parametrize("value", ["张伟", "欧阳娜娜", "司马相如", "王〇", "阿卜杜热合曼·买买提", "爱新觉罗·启功",
                                   "𠮷野", "䶮", "迪丽热巴·迪力木拉提"])
def test_real_names_are_valid_as_written(value):
    verdict = standard_field("person.name").validate(value)
    assert verdict.ok and verdict.value == value and not verdict.fixes


@pytest.mark.parametrize("dot", ["•", "‧", "・", "･", "∙", "⋅", ".", "．"])
def test_other_forms_of_the_middle_dot_are_a_standard_form_matter(dot):
    verdict = standard_field("person.name").validate(f"阿卜杜拉{dot}买买提")
    assert verdict.ok and verdict.value == "阿卜杜拉·买买提" and "middle_dot" in verdict.fixes


def test_organisation_names_and_addresses_keep_their_letters_digits_and_punctuation():
    for field, value in [("enterprise.name", "济南TCL电器有限公司"), ("enterprise.name", "山东(济南)某某有限公司"),
                         ("party.name", "阿卜杜拉·买买提"), ("party.name", "济南某某有限公司"),
                         ("address.text", "济南市历下区泉城路1号3#楼2-501室"), ("address.text", "Ⅱ期①单元"),
                         ("address.text", "山东省济南市历下区（泉城广场）１号楼"), ("address.text", "二○一号")]:
        verdict = standard_field(field).validate(value)
        assert verdict.ok, (field, value, verdict)


@pytest.mark.parametrize(("field", "limit"), [("person.name", 50), ("enterprise.name", 100), ("party.name", 100),
                                              ("address.text", 200)])
def test_values_longer_than_the_field_allows_are_errors(field, limit):
    spec = standard_field(field)
    char = "张" if field != "address.text" else "路"
    assert spec.max_length == limit
    assert spec.validate(char * limit).ok
    assert spec.validate(f"  {char * limit}  ").ok  # a padded CHAR column is not too long
    verdict = spec.validate(char * (limit + 1))
    assert verdict.rule.endswith(".too_long") and verdict.severity == "error" and char not in verdict.message


def test_a_huge_value_is_judged_by_its_length_first():
    spec = standard_field("address.text")
    value = "济南市历下区泉城路1号" * 154_546
    started = time.perf_counter()
    verdict = spec.validate(value)
    assert verdict.rule == "text.too_long" and time.perf_counter() - started < 0.5


def test_fast_paths_accept_none_of_the_hostile_values_and_the_clean_ones():
    for field, base in [("person.name", "张伟"), ("party.name", "济南某某有限公司"), ("enterprise.name", "济南某某有限公司"),
                        ("address.text", "济南市历下区泉城路1号")]:
        spec = standard_field(field)
        dots = [f"{base}{d}{base}" for d in characters.NAME_DOT_VARIANTS]
        values = [base, f"{base}·{base}", *_hostile(base), *dots, base * 60, "Zhang", "张伟3"]
        accepted = accept(spec.validator, values, spec.max_length)
        for ok, value in zip(accepted, values, strict=True):
            if ok:
                verdict = spec.validate(value)
                assert verdict.ok and not verdict.fixes and verdict.value == value, (field, ascii(value))
        assert accepted[0] and accepted[1]
        assert not accepted[2:2 + len(_hostile(base))].any()


def test_repertoires_hold_nothing_forbidden_and_no_other_form_of_the_middle_dot():
    forbidden = characters.FORBIDDEN
    for name, ranges in characters.REPERTOIRES.items():
        for lo, hi in ranges:
            assert lo <= hi
            assert not any(lo <= f_hi and f_lo <= hi for f_lo, f_hi in forbidden), (name, hex(lo))
    for repertoire in ("person_name", "organisation_name"):
        assert all(characters.outside(d, repertoire) for d in characters.ORGANISATION_DOT_VARIANTS)
    assert characters.outside(".", "person_name")
    assert np.all([not characters.outside(c, "text") for c in "、。《》（）·"])


def test_max_length_is_checked_on_load(tmp_path):
    field = ("entity: x\nname_zh: 甲\ndescription: d\nfields:\n  a:\n    name_zh: 甲\n    type: {type}\n"
             "    required: true\n    standard: s\n    validator: text\n    max_length: {length}\n"
             "    sensitivity: {{category: 非个人信息, level: 一般数据, grade: 1}}\n    description: d\n")
    for kind, length in (("string", 0), ("string", "'50'"), ("date", 10)):
        (tmp_path / "x.yaml").write_text(field.format(type=kind, length=length), encoding="utf-8")
        with pytest.raises(StandardsError, match=r"x.yaml: fields.a(.max_length: Input should be (greater than or "
                                                 r"equal to 1|a valid integer)|: max_length must be a positive whole "
                                                 r"number, on a string field)"):
            standards(str(tmp_path))
