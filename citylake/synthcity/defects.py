"""Defects injected into department tables, each one recorded in the ground truth.

A defect is a named function that spoils some values of a column of certain kinds, with an
eligibility test (a lowercase ``x`` needs an ID number that ends in ``X``). Rates come from the
configuration (``synthcity.yaml``) per table and column; a rate is the share of *eligible* rows
that get the defect, drawn exactly (``round(rate * eligible)`` rows), and each value gets at most
one defect, so the truth is unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from citylake.schemas.identifiers import ID_CHECK_CHARS, USCC_ALPHABET
from citylake.synthcity.departments.base import SEX_CODINGS, Column


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    kinds: frozenset[str]
    apply: Callable[[pd.Series, Column, np.random.Generator], pd.Series]
    eligible: Callable[[pd.Series, Column, pd.DataFrame], np.ndarray] | None = None
    # Whether a data standard can see the defect in the value itself (the quality gate's target),
    # as opposed to a value that is well-formed but wrong (only other sources reveal it).
    visible_to_standards: bool = True


def _not_null(values: pd.Series) -> np.ndarray:
    return values.notna().to_numpy()


def _bad_check_digit(values, column, rng):
    alphabet = ID_CHECK_CHARS if column.kind in ("id_number", "holder_id") else USCC_ALPHABET
    out = []
    for v in values:
        wrong = [c for c in alphabet if c != v[-1]]
        out.append(v[:-1] + wrong[int(rng.integers(0, len(wrong)))])
    return pd.Series(out, index=values.index, dtype=object)


def _mistyped_digit(values, column, rng):
    """One character of the body replaced: GB 11643 and GB 32100 check characters catch it."""
    out = []
    for v in values:
        if len(v) == 18 and v[:17].isdigit():  # an ID number: a sequence or date digit
            pos = int(rng.integers(14, 17))
            alphabet = "0123456789"
        else:  # a USCC: a character of the organisation code
            pos = int(rng.integers(8, 16))
            alphabet = USCC_ALPHABET
        wrong = [c for c in alphabet if c != v[pos]]
        out.append(v[:pos] + wrong[int(rng.integers(0, len(wrong)))] + v[pos + 1:])
    return pd.Series(out, index=values.index, dtype=object)


def _is_id18(values: pd.Series) -> np.ndarray:
    return values.map(lambda v: isinstance(v, str) and len(v) == 18 and v[:17].isdigit()).to_numpy()


def _to_15_digits(values, column, rng):
    return values.map(lambda v: v[:6] + v[8:17])


def _born_1900s(values, column, frame):
    return _is_id18(values) & values.map(lambda v: isinstance(v, str) and v[6:8] == "19").to_numpy()


def _lowercase_x(values, column, rng):
    return values.str.replace("X", "x")


def _ends_with_x(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and v.endswith("X")).to_numpy()


def _lowercase_letters(values, column, rng):
    return values.str.lower()


def _has_letters(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and any(c.isalpha() for c in v)).to_numpy()


_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz()-#"}


def _fullwidth(values, column, rng):
    return values.map(lambda v: "".join(_FULLWIDTH.get(c, c) for c in v))


def _has_halfwidth(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and any(c in _FULLWIDTH for c in v)).to_numpy()


def _stray_space(values, column, rng):
    where = rng.integers(0, 3, len(values))
    out = []
    for v, w in zip(values, where, strict=True):
        if w == 0:
            out.append(" " + v)
        elif w == 1:
            out.append(v + " ")
        else:
            mid = max(1, len(v) // 2)
            out.append(v[:mid] + " " + v[mid:])
    return pd.Series(out, index=values.index, dtype=object)


@cache
def _s2t():
    import opencc

    return opencc.OpenCC("s2t")


@cache
def _traditional_char(c: str) -> str:
    return _s2t().convert(c)


def _traditional(values, column, rng):
    # Character by character, as real records show: a name typed partly in traditional characters
    # (鄭晓珍, 劉峰: a surname from an old register, the rest from a simplified input method). Each
    # character that has a traditional form is written so with probability 1/2, at least one per
    # value (so a text changes exactly when one of its characters has a traditional form).
    out = []
    for v in values:
        forms = [_traditional_char(c) for c in v]
        changeable = [i for i, (c, t) in enumerate(zip(v, forms, strict=True)) if c != t]
        convert = rng.random(len(changeable)) < 0.5
        if len(changeable) and not convert.any():
            convert[rng.integers(0, len(changeable))] = True
        chosen = {i for i, yes in zip(changeable, convert, strict=True) if yes}
        out.append("".join(forms[i] if i in chosen else c for i, c in enumerate(v)))
    return pd.Series(out, index=values.index, dtype=object)


def _changes_in_traditional(values, column, frame):
    chars = set().union(*(set(v) for v in values.dropna().unique()))
    changing = {c for c in chars if _traditional_char(c) != c}
    return values.map(lambda v: isinstance(v, str) and not changing.isdisjoint(v)).to_numpy()


def _impossible_date(values, column, rng):
    """A date that cannot exist (30 February, 31 April, month 13), in the column's own format."""
    out = []
    for v in values:
        text = str(v)
        digits = "".join(c for c in text if c.isdigit())
        year = digits[:4]
        month, day = [("02", "30"), ("02", "31"), ("04", "31"), ("06", "31"), ("09", "31"), ("13", "01")][
            int(rng.integers(0, 6))]
        if column.kind == "date_int":
            out.append(int(year + month + day))
        elif "-" in text:
            out.append(f"{year}-{month}-{day}")
        else:
            out.append(year + month + day)
    return pd.Series(out, index=values.index, dtype=object)


def _shift_date(values, column, rng):
    """A real date, but not the subject's: 1 to 400 days off."""
    shift = rng.integers(1, 400, len(values)) * rng.choice([-1, 1], len(values))
    out = []
    for v, s in zip(values, shift, strict=True):
        if column.kind == "date":
            out.append(v + pd.Timedelta(days=int(s)).to_pytimedelta())
        elif column.kind == "datetime":
            out.append(v + pd.Timedelta(days=int(s)).to_pytimedelta())
        else:
            fmt = "%Y%m%d" if column.kind == "date_int" else (column.fmt or "%Y-%m-%d")
            shifted = (pd.Timestamp(pd.to_datetime(str(v), format=fmt)) + pd.Timedelta(days=int(s))).strftime(fmt)
            out.append(int(shifted) if column.kind == "date_int" else shifted)
    return pd.Series(out, index=values.index, dtype=object)


def _flip_sex(values, column, rng):
    coding = SEX_CODINGS[column.fmt or "gb"]
    flip = {coding[True]: coding[False], coding[False]: coding[True]}
    return values.map(lambda v: flip.get(v, v))


# Characters that sound alike and are commonly typed for one another in given names.
_HOMOPHONES = {
    "伟": "玮", "丽": "莉", "静": "婧", "明": "铭", "华": "桦", "军": "君", "芳": "方", "杰": "洁", "磊": "蕾",
    "涛": "滔", "强": "蔷", "红": "虹", "霞": "夏", "燕": "艳", "平": "萍", "刚": "钢", "辉": "晖", "鹏": "朋",
    "波": "博", "斌": "彬", "宇": "雨", "玲": "琳", "娟": "鹃", "敏": "珉", "英": "瑛", "梅": "玫", "超": "朝",
    "勇": "永", "俊": "骏", "婷": "亭", "欣": "馨", "浩": "昊", "文": "雯", "建": "健", "国": "帼", "海": "涵",
}


def _homophone_name(values, column, rng):
    def swap(v):
        for i in range(len(v) - 1, 0, -1):
            if v[i] in _HOMOPHONES:
                return v[:i] + _HOMOPHONES[v[i]] + v[i + 1:]
        return v

    return values.map(swap)


def _has_homophone(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and any(c in _HOMOPHONES for c in v[1:])).to_numpy()


# A brand character of an enterprise name written with one that sounds alike (an old or misheard
# name): not a brand character itself, so the spoiled name is no other enterprise's.
_BRAND_HOMOPHONES = {
    "泉": "全", "鲁": "录", "华": "桦", "信": "芯", "达": "答", "恒": "横", "润": "闰", "丰": "峰", "源": "元",
    "通": "同", "瑞": "锐", "德": "得", "泰": "太", "嘉": "佳", "宏": "洪", "盛": "胜", "安": "岸", "博": "搏",
    "凯": "铠", "诚": "承", "宇": "禹", "舜": "顺", "齐": "奇", "明": "鸣", "远": "园", "鑫": "欣", "隆": "龙",
    "兴": "星", "汇": "惠", "和": "禾", "天": "添", "祥": "翔", "正": "政", "科": "珂", "创": "闯",
}


def _org_name_conflict(values, column, rng):
    def swap(v):
        for i, c in enumerate(v[2:], start=2):  # after the region (济南/山东)
            if c in _BRAND_HOMOPHONES:
                return v[:i] + _BRAND_HOMOPHONES[c] + v[i + 1:]
        return v

    return values.map(swap)


def _has_brand_homophone(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and any(c in _BRAND_HOMOPHONES for c in v[2:])).to_numpy()


_FORM_VARIANTS = (("有限责任公司", "有限公司"), ("有限公司", "有限责任公司"))


def _org_name_variant(values, column, rng):
    """The organisational form written the other way (有限公司 / 有限责任公司), as departments do."""
    def vary(v):
        for written, other in _FORM_VARIANTS:
            if v.endswith(written) and not v.endswith("股份" + written):
                return v[: -len(written)] + other
        return v

    return values.map(vary)


def _has_form(values, column, frame):
    return values.map(lambda v: isinstance(v, str) and v.endswith("有限公司") and "股份" not in v).to_numpy()


def _other_ethnicity(values, column, rng):
    if column.fmt == "name":
        choices = ["汉族", "回族", "满族", "蒙古族"]
    else:
        choices = ["01", "03", "11", "02"]
    out = []
    for v in values:
        others = [c for c in choices if c != v]
        out.append(others[int(rng.integers(0, len(others)))])
    return pd.Series(out, index=values.index, dtype=object)


def _missing(values, column, rng):
    return pd.Series([None] * len(values), index=values.index, dtype=object)


_CN_DIGITS = dict(zip("0123456789", "〇一二三四五六七八九", strict=True))
_BUILDING_UNIT = re.compile(r"(\d+)号楼(\d+)单元")


def _address_variant(values, column, rng):
    """The ways departments write one address: no province/city, 栋, dashes, full-width, 一号楼."""
    first_style = rng.integers(0, len(_ADDRESS_STYLES), len(values))
    out = []
    for v, s in zip(values, first_style, strict=True):
        # Try the drawn style first, then the others, until the text differs from the standard form.
        for k in range(len(_ADDRESS_STYLES)):
            w = _ADDRESS_STYLES[(s + k) % len(_ADDRESS_STYLES)](v)
            if w != v:
                break
        out.append(w)
    return pd.Series(out, index=values.index, dtype=object)


_ADDRESS_STYLES = (
    lambda v: v.replace("山东省", "").replace("济南市", ""),
    lambda v: v.replace("山东省", "").replace("号楼", "栋"),
    lambda v: v.replace("号楼", "-").replace("单元", "-").replace("室", ""),
    lambda v: "".join(_FULLWIDTH.get(c, c) for c in v),
    lambda v: v.replace("山东省", "").replace("号楼", "#楼").replace("济南市", "济南"),
    lambda v: _BUILDING_UNIT.sub(lambda m: _cn_number(m.group(1)) + "号楼" + _cn_number(m.group(2)) + "单元", v),
)


def _cn_number(digits: str) -> str:
    return "".join(_CN_DIGITS[c] for c in digits)


def _still_active(values, column, rng):
    return pd.Series([column.fmt] * len(values), index=values.index, dtype=object)


def _terminated_by_death(values, column, frame):
    return frame["_eligible_deceased"].to_numpy(dtype=bool)


ID_KINDS = frozenset({"id_number", "holder_id"})
USCC_KINDS = frozenset({"uscc", "holder_id"})
TEXT_KINDS = frozenset({"id_number", "uscc", "holder_id", "person_name", "org_name", "holder_name", "address", "phone",
                        "text"})
DATE_KINDS = frozenset({"date", "datetime", "date_str", "date_int"})

DEFECTS: dict[str, Defect] = {d.name: d for d in [
    Defect("bad_check_digit", "校验码错误: the check character does not match", ID_KINDS | USCC_KINDS,
           _bad_check_digit, lambda v, c, f: _not_null(v) & v.map(lambda x: isinstance(x, str) and len(x) == 18).to_numpy()),
    Defect("mistyped_digit", "录入错误: one character of the number mistyped", ID_KINDS | USCC_KINDS, _mistyped_digit,
           lambda v, c, f: _not_null(v) & v.map(lambda x: isinstance(x, str) and len(x) == 18).to_numpy()),
    Defect("id_15_digit", "15位旧身份证号: the old 15-digit form of the number", ID_KINDS, _to_15_digits, _born_1900s),
    Defect("lowercase_x", "校验码小写x: lowercase x as the check character", ID_KINDS, _lowercase_x, _ends_with_x),
    Defect("lowercase_letters", "小写字母: letters of the code in lowercase", USCC_KINDS, _lowercase_letters,
           _has_letters),
    Defect("fullwidth", "全角字符: full-width digits or letters", TEXT_KINDS, _fullwidth, _has_halfwidth),
    Defect("stray_space", "多余空格: leading, trailing or inner spaces", TEXT_KINDS, _stray_space,
           lambda v, c, f: _not_null(v)),
    Defect("traditional_chars", "繁体字: traditional instead of simplified characters",
           frozenset({"person_name", "org_name", "holder_name", "address"}), _traditional, _changes_in_traditional),
    Defect("impossible_date", "日期不存在: a date that cannot exist", frozenset({"date_str", "date_int"}),
           _impossible_date, lambda v, c, f: _not_null(v)),
    Defect("birth_date_disagrees_with_id", "出生日期与身份证号不符: a real date, not the one in the ID number",
           DATE_KINDS, _shift_date, lambda v, c, f: _not_null(v)),
    Defect("sex_disagrees_with_id", "性别与身份证号不符: sex opposite to the ID number's", frozenset({"sex"}), _flip_sex,
           lambda v, c, f: _not_null(v)),
    Defect("name_conflict", "姓名与权威来源不一致: a homophone character in the name", frozenset({"person_name"}),
           _homophone_name, _has_homophone, visible_to_standards=False),
    Defect("org_name_conflict", "企业名称与权威来源不一致: a brand character written with a homophone",
           frozenset({"org_name"}), _org_name_conflict, _has_brand_homophone, visible_to_standards=False),
    Defect("org_name_variant", "企业名称写法不一致: 有限公司 and 有限责任公司 written for one another",
           frozenset({"org_name"}), _org_name_variant, _has_form, visible_to_standards=False),
    Defect("ethnicity_conflict", "民族与权威来源不一致: a different ethnicity than the authoritative source",
           frozenset({"ethnicity"}), _other_ethnicity, lambda v, c, f: _not_null(v), visible_to_standards=False),
    Defect("missing", "必填项缺失: the value is missing", TEXT_KINDS | DATE_KINDS | {"sex", "ethnicity"}, _missing,
           lambda v, c, f: _not_null(v)),
    Defect("address_variant", "地址写法不规范: the address written another way", frozenset({"address"}),
           _address_variant, lambda v, c, f: _not_null(v), visible_to_standards=False),
    Defect("still_insured_after_death", "死亡人员仍在参保: insurance still active after death",
           frozenset({"insurance_status"}), _still_active, _terminated_by_death, visible_to_standards=False),
]}

# Record-level defects, configured under the pseudo-column ``_record``.
RECORD_DEFECTS = {"duplicate": "重复记录: the same subject registered twice under another key"}
