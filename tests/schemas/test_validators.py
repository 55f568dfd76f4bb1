"""The standards' validators: published examples, standardisation, and python-stdnum compared on
random and mutated inputs with every disagreement explained."""

from __future__ import annotations

import random
from datetime import date

import pytest
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from citylake.schemas.identifiers import id_check_char, org_code_check_char, uscc_check_char
from citylake.schemas.validators import (
    check_date,
    check_division_code,
    check_ethnicity,
    check_id_number,
    check_mobile,
    check_sex,
    check_uscc,
    current_division_codes,
    division_codes,
)


def test_published_examples():
    assert check_id_number("11010519491231002X").ok
    assert check_uscc("91350100M000100Y43").ok


@pytest.mark.parametrize(("raw", "fixes"), [
    ("11010519491231002x", ("lowercase_x",)),
    (" 110105 19491231002X ", ("whitespace",)),
    ("１１０１０５１９４９１２３１００２Ｘ", ("fullwidth",)),
    ("110105491231002", ("upgraded_from_15_digits",)),
])
def test_ways_of_writing_are_standardised_not_rejected(raw, fixes):
    verdict = check_id_number(raw)
    assert verdict.ok and verdict.value == "11010519491231002X" and verdict.fixes == fixes


@pytest.mark.parametrize(("raw", "rule"), [
    ("110105194912310021", "id_number.check_digit"),
    ("11010519491331002X", "id_number.birth_date"),
    ("99010519491231002X", "id_number.division_code"),
    ("1101051949123100", "id_number.format"),
    (None, "id_number.missing"),
])
def test_wrong_values_break_a_named_rule_without_quoting_them(raw, rule):
    verdict = check_id_number(raw)
    assert verdict.rule == rule
    assert "1949" not in verdict.message and "110105" not in verdict.message


def test_old_division_codes_stay_valid_in_old_id_numbers():
    assert "370125" in division_codes() and "370125" not in current_division_codes()  # 济阳县 until 2018
    first17 = "370125198005120011"[:17]
    assert check_id_number(first17 + id_check_char(first17)).ok
    assert check_division_code("370115").ok and not check_division_code("370199").ok


def test_uscc_pilot_check_failures_go_to_review_other_failures_are_errors():
    good = "91350100M000100Y43"
    assert check_uscc(good.lower()).fixes == ("lowercase",)
    pilot = good[:-1] + "4"
    assert check_uscc(pilot).severity == "review" and check_uscc(pilot).rule == "uscc.check_digit"
    broken_org = good[:10] + ("1" if good[10] != "1" else "2") + good[11:]
    assert check_uscc(broken_org).rule == "uscc.org_code" and check_uscc(broken_org).severity == "error"
    assert check_uscc("91350100M000100I43").rule == "uscc.format"


def test_codes_dates_and_mobiles():
    assert check_sex("男").value == "1" and check_sex("2").ok and not check_sex("3").ok
    assert check_ethnicity("汉族").value == "01" and check_ethnicity("回").value == "03"
    assert check_ethnicity("1").value == "01" and not check_ethnicity("火星族").ok
    assert check_date("20230228").value == "2023-02-28" and check_date("2023年2月8日").value == "2023-02-08"
    assert check_date("20230230").rule == "date.invalid"
    assert check_date("2099-01-01", today=date(2026, 1, 1)).rule == "date.range"
    assert check_mobile("+86 138-1234-5678").value == "13812345678"
    assert check_mobile("12012345678").rule == "mobile.prefix"


def test_an_unknown_mobile_segment_goes_to_review_not_rejection():
    """Issue 14: the numbering plan grows faster than any list; a well-formed number may be real."""
    unknown = check_mobile("14012345678")
    assert (unknown.rule, unknown.severity, unknown.value) == ("mobile.prefix", "review", "14012345678")
    assert check_mobile("+86 140 1234 5678").severity == "review"
    for allocated in ("16212345678", "16512345678", "16712345678", "17001234567", "17091234567", "17112345678",
                      "14512345678", "14712345678", "14912345678", "17401234567", "13491234567", "19212345678"):
        assert check_mobile(allocated).ok, allocated
    for malformed in ("1381234567", "138123456789", "23812345678", "1381234567x"):
        verdict = check_mobile(malformed)
        assert (verdict.rule, verdict.severity) == ("mobile.format", "error"), malformed


def _random_id(rnd: random.Random, codes: list[str]) -> str:
    born = date(rnd.randint(1930, 2020), rnd.randint(1, 12), rnd.randint(1, 28))
    first17 = f"{rnd.choice(codes)}{born:%Y%m%d}{rnd.randint(0, 999):03d}"
    return first17 + id_check_char(first17)


def _mutations(number: str, rnd: random.Random) -> list[str]:
    i = rnd.randint(0, 16)
    digit = str((int(number[i]) + rnd.randint(1, 9)) % 10)
    j = rnd.randint(0, 15)
    return [number, number[:i] + digit + number[i + 1:], number[:j] + number[j + 1] + number[j] + number[j + 2:],
            number.replace("X", "x"), number[:6] + number[8:17] if number[6:8] == "19" else number]


def _stdnum_valid(module, value: str) -> bool | None:
    """stdnum's verdict, or None when it raises something else (cn.ric raises KeyError on division
    codes its table knows only above county level)."""
    try:
        module.validate(value)
        return True
    except ValidationError:
        return False
    except KeyError:
        return None


def test_id_numbers_agree_with_stdnum_except_where_explained():
    """Disagreements must be one of the known, explained gaps of stdnum's cn.ric:
    - its birthplace table lacks some GB/T 2260 codes (new ones after its data date, or historical
      ones): it rejects numbers we accept because the code is in the 1981-2024 table;
    - it refuses the old 15-digit form, which GB 11643 upgrades (we standardise it to 18 digits);
    - it raises KeyError (instead of a validation error) for codes its table has only above county
      level."""
    rnd = random.Random(20261123)
    codes = sorted(c for c in division_codes() if not c.endswith("00"))
    disagreements = {"stdnum_lacks_division_code": 0, "stdnum_refuses_15_digits": 0, "stdnum_raises": 0}
    checked = 0
    for _ in range(1500):
        for value in _mutations(_random_id(rnd, codes), rnd):
            ours = check_id_number(value).ok
            theirs = _stdnum_valid(ric, value)
            checked += 1
            if theirs is None:
                disagreements["stdnum_raises"] += 1
                continue
            if ours == theirs:
                continue
            assert ours and not theirs, value
            if len(value) == 15:
                disagreements["stdnum_refuses_15_digits"] += 1
                continue
            try:
                ric.get_birth_place(check_id_number(value).value)
            except (ValidationError, KeyError):
                disagreements["stdnum_lacks_division_code"] += 1
                continue
            pytest.fail(f"unexplained disagreement with stdnum on {value}")
    assert checked >= 7000
    assert disagreements["stdnum_lacks_division_code"] > 0  # the gap BRIEF describes is real
    assert disagreements["stdnum_refuses_15_digits"] > 0


def test_usccs_agree_with_stdnum_except_where_explained():
    """stdnum's cn.uscc requires the first 8 characters after the authority to be digits in some
    positions and does not check the embedded GB 11714 code; disagreements must be one of:
    - the embedded organisation code's check fails (we reject, stdnum accepts);
    - stdnum rejects a valid code whose organisation code has letters (2015+ 'MA…' codes);
    - the division code is not a GB/T 2260 code (we reject, stdnum does not look)."""
    rnd = random.Random(7)
    codes = sorted(c for c in current_division_codes() if not c.endswith("00"))
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    explained = compared = 0
    for _ in range(1500):
        body = ("MA" + "".join(rnd.choice(alphabet) for _ in range(6))) if rnd.random() < 0.5 else \
            f"{rnd.randint(10**7, 10**8 - 1)}"
        first17 = "91" + rnd.choice(codes) + body + org_code_check_char(body)
        code = first17 + uscc_check_char(first17)
        i = rnd.randint(2, 17)
        mutated = code[:i] + rnd.choice([c for c in alphabet if c != code[i]]) + code[i + 1:]
        for value in (code, mutated):
            ours = check_uscc(value)
            theirs = _stdnum_valid(uscc, value)
            compared += 1
            if ours.ok == theirs:
                continue
            if ours.rule in ("uscc.org_code", "uscc.division_code") and theirs:
                explained += 1
            elif ours.ok and not theirs and any(c.isalpha() for c in value[8:16]):
                explained += 1
            else:
                pytest.fail(f"unexplained disagreement on {value}: ours {ours.rule}, stdnum {theirs}")
    assert compared == 3000 and explained <= compared
