"""The data standards load, every field has a working validator, and bad entries are named."""

from __future__ import annotations

import pytest

from citylake.schemas.standards import StandardsError, standard_field, standards


def test_standard_entities_and_fields():
    known = standards()
    assert {"person", "enterprise", "address", "party"} <= set(known)
    person = known["person"].fields
    assert person["id_number"].standard == "GB 11643-1999" and person["id_number"].required
    assert person["id_number"].sensitivity.category == "敏感个人信息"
    assert (person["id_number"].sensitivity.label, person["id_number"].sensitivity.mask) == ("一般数据4级", "pseudonym")
    assert person["ethnicity"].sensitivity.mask is None  # declared sensitive, no mask: hidden
    assert all(f.description and f.name_zh for e in known.values() for f in e.fields.values())


@pytest.mark.parametrize(("field", "raw", "value"), [
    ("person.id_number", "11010519491231002x", "11010519491231002X"),
    ("person.sex", "女", "2"),
    ("person.birth_date", "19491231", "1949-12-31"),
    ("enterprise.uscc", " 91350100M000100Y43", "91350100M000100Y43"),
    ("party.id_number", "91350100M000100Y43", "91350100M000100Y43"),
    ("party.id_number", "11010519491231002X", "11010519491231002X"),
    ("address.text", "济南市 历下区  泉城路1号", "济南市 历下区 泉城路1号"),
])
def test_each_field_standardises_through_its_validator(field, raw, value):
    verdict = standard_field(field).validate(raw)
    assert verdict.ok and verdict.value == value


def test_unknown_field_lists_what_exists():
    with pytest.raises(KeyError, match="person.id_number"):
        standard_field("person.passport")


def test_a_field_without_description_is_refused(tmp_path):
    (tmp_path / "x.yaml").write_text("entity: x\nname_zh: 甲\ndescription: d\nfields:\n  a:\n    name_zh: 甲\n"
                                     "    type: string\n    required: true\n    standard: s\n    validator: text\n"
                                     "    sensitivity: {category: 非个人信息, level: 一般数据, grade: 1}\n", encoding="utf-8")
    with pytest.raises(StandardsError, match=r"x.yaml: fields.a: missing \['description'\]"):
        standards(str(tmp_path))


_FIELD = ("entity: x\nname_zh: 甲\ndescription: d\nfields:\n  religion:\n    name_zh: 宗教信仰\n    type: string\n"
          "    required: false\n    standard: s\n    validator: text\n    sensitivity: {sensitivity}\n"
          "    description: d\n")


@pytest.mark.parametrize(("sensitivity", "message"), [
    ("{category: 敏感个人信息, level: 一般数据, grade: 4, mask: blur}",
     r"sensitivity: mask 'blur' is not one of \['address'"),
    ("{category: 个人敏感信息, level: 一般数据, grade: 4}",
     r"sensitivity.category: Input should be '敏感个人信息', '一般个人信息' or '非个人信息', got '个人敏感信息'"),
    ("{category: 敏感个人信息, level: 秘密, grade: 4}", r"sensitivity.level: Input should be .*, got '秘密'"),
    ("{category: 敏感个人信息, level: 一般数据, grade: 5}", r"sensitivity.grade: Input should be 1, 2, 3 or 4, got 5"),
    ("{category: 敏感个人信息, grade: 4}", r"sensitivity: missing \['level'\]"),
])
def test_a_bad_sensitivity_names_the_file_and_field(tmp_path, sensitivity, message):
    (tmp_path / "x.yaml").write_text(_FIELD.format(sensitivity=sensitivity), encoding="utf-8")
    with pytest.raises(StandardsError, match=r"x.yaml: fields.religion." + message):
        standards(str(tmp_path))
