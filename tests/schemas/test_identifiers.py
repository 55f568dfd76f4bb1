"""The identifier checks against the standards' published examples and python-stdnum."""

from __future__ import annotations

import random

import numpy as np
import pytest
from stdnum.cn import ric, uscc

from citylake.schemas.identifiers import (
    id_check_char,
    id_check_chars_array,
    id_downgrade_18_to_15,
    id_is_valid_check,
    id_upgrade_15_to_18,
    org_code_check_char,
    uscc_check_char,
    uscc_is_valid_check,
    uscc_org_code_is_valid,
)


def test_gb11643_published_example():
    assert id_is_valid_check("11010519491231002X")
    assert id_check_char("11010519491231002") == "X"
    assert not id_is_valid_check("110105194912310021")
    assert not id_is_valid_check("11010519491231002x")  # the standard's check character is upper-case


def test_15_digit_upgrade_round_trip():
    assert id_upgrade_15_to_18("110105491231002") == "11010519491231002X"
    assert id_downgrade_18_to_15("11010519491231002X") == "110105491231002"
    with pytest.raises(ValueError):
        id_downgrade_18_to_15("370102200101010018")
    with pytest.raises(ValueError):
        id_upgrade_15_to_18("11010549123100")


def test_vectorised_check_agrees_with_scalar_and_stdnum():
    rnd = random.Random(3)
    first17 = [f"3701{rnd.randint(0, 99):02d}{rnd.randint(1950, 2020)}{rnd.randint(1, 12):02d}"
               f"{rnd.randint(1, 28):02d}{rnd.randint(0, 999):03d}" for _ in range(2000)]
    vector = id_check_chars_array(np.array(first17))
    for f, c in zip(first17, vector, strict=True):
        assert id_check_char(f) == c
        # An independent implementation of the same weights.
        assert ric.calc_check_digit(f + "?") == c  # stdnum expects the 18-character number


def test_gb32100_published_example_and_embedded_org_code():
    assert uscc_is_valid_check("91350100M000100Y43")
    assert uscc_org_code_is_valid("91350100M000100Y43")
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert not uscc_is_valid_check("91350100M000100Y44")
    assert not uscc_is_valid_check("91350100M000100I43")  # I is not in the GB 32100 alphabet


def test_org_code_check_values():
    assert org_code_check_char("D2143569") == "X"  # GB 11714's own example D2143569-X
    with pytest.raises(ValueError):
        org_code_check_char("D214356")


def test_uscc_check_agrees_with_stdnum_on_numeric_registrations():
    rnd = random.Random(5)
    for _ in range(2000):
        body = f"{rnd.randint(10**7, 10**8 - 1)}"
        first17 = "91" + "370102" + body + org_code_check_char(body)
        code = first17 + uscc_check_char(first17)
        assert uscc.is_valid(code), code

