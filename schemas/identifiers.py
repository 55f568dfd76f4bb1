"""Check characters of the national identifiers.

- GB 11643-1999 公民身份号码 (citizen ID number): 6-digit division code, YYYYMMDD birth date,
  3-digit sequence (odd = male, even = female) and a check character over ISO 7064 MOD 11-2.
  Old 15-digit numbers have a 2-digit year and no check character.
- GB 32100-2015 统一社会信用代码 (unified social credit code, USCC): registration authority,
  organisation category, 6-digit division code, 9-character GB 11714 organisation code and a
  check character over the 31-character alphabet.
- GB 11714-1997 组织机构代码 (organisation code): 8 body characters and a check character.

Scalar functions serve validators; the ``*_array`` variants compute check characters for
millions of generated identifiers at once (numpy), for the synthetic city.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11714 body characters: digits and upper-case Latin letters, letters valued 10..35.
_ORG_CODE_VALUES = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def id_check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected the 17 leading digits of an 18-digit ID number")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def id_is_valid_check(id_number: str) -> bool:
    """Whether an 18-character ID number's check character matches (structure only, upper-case X)."""
    if len(id_number) != 18 or not id_number[:17].isascii() or not id_number[:17].isdigit():
        return False
    return id_check_char(id_number[:17]) == id_number[17]


def id_upgrade_15_to_18(id15: str) -> str:
    """Upgrade a 15-digit ID number (YYMMDD, 20th century) to 18 digits: insert '19', add the check."""
    if len(id15) != 15 or not id15.isascii() or not id15.isdigit():
        raise ValueError("expected a 15-digit ID number")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + id_check_char(first17)


def id_downgrade_18_to_15(id18: str) -> str:
    """The 15-digit form of an ID number of someone born in the 1900s (drops the century and check)."""
    if len(id18) != 18 or id18[6:8] != "19":
        raise ValueError("only ID numbers of persons born 1900-1999 have a 15-digit form")
    return id18[:6] + id18[8:17]


def id_check_chars_array(first17: np.ndarray) -> np.ndarray:
    """Check characters for an array of 17-digit strings (numpy ``<U17`` or object)."""
    import numpy as np  # here, not at import: the DAG files reach this module through the registry

    digits = np.frombuffer(np.asarray(first17, dtype="S17").tobytes(), dtype=np.uint8).reshape(-1, 17) - 48
    totals = digits.astype(np.int64) @ np.asarray(ID_WEIGHTS, dtype=np.int64)
    return np.asarray(list(ID_CHECK_CHARS))[totals % 11]


def org_code_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body ('X' stands for 10)."""
    if len(body8) != 8 or any(c not in _ORG_CODE_VALUES for c in body8):
        raise ValueError("expected 8 organisation-code body characters (0-9, A-Z)")
    total = sum(_ORG_CODE_VALUES[c] * w for c, w in zip(body8, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters of a USCC."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise ValueError("expected 17 USCC characters from 0-9 A-H J-N P Q R T U W X Y")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_is_valid_check(uscc: str) -> bool:
    """Whether an 18-character USCC's own check character matches (not the embedded org code)."""
    if len(uscc) != 18 or any(c not in USCC_ALPHABET for c in uscc):
        return False
    return uscc_check_char(uscc[:17]) == uscc[17]


def uscc_org_code_is_valid(uscc: str) -> bool:
    """Whether the GB 11714 organisation code embedded at positions 9-17 has a matching check."""
    body, check = uscc[8:16], uscc[16]
    try:
        return org_code_check_char(body) == check
    except ValueError:
        return False
