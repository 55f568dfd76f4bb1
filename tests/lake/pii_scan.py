"""Finding personal numbers in text: valid ID numbers and mobile numbers, for the leak tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from citylake.schemas.validators import check_id_number

# 18 characters not inside a longer run of letters or digits (hashes, ids); X or x at the end.
_ID_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# A mainland mobile number not inside a longer run of digits, nor of letters and digits: file names
# and ids hold hexadecimal UUIDs ("…-b14213149237-…"); nor the fraction of a decimal number: an
# xlsx stores a time as a day serial, and 46360.15762318287 reads as a mobile number after its dot.
_MOBILE = re.compile(r"(?<![0-9A-Za-z])(?<!\d\.)1[3-9]\d{9}(?![0-9A-Za-z])")


@dataclass(frozen=True)
class Leak:
    where: str
    kind: str
    masked: str  # the finding, masked, so that a failing test does not print personal data

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.masked}"


def find_personal_numbers(text: str, where: str) -> list[Leak]:
    """Valid GB 11643 ID numbers (check character right) and mobile numbers in ``text``."""
    leaks = [Leak(where, "ID number", m.group()[:6] + "********" + m.group()[-4:])
             for m in _ID_CANDIDATE.finditer(text) if check_id_number(m.group()).ok]
    leaks += [Leak(where, "mobile", m.group()[:3] + "****" + m.group()[-4:]) for m in _MOBILE.finditer(text)]
    return leaks


def scan_file(path: Path, root: Path) -> list[Leak]:
    """:func:`find_personal_numbers` over a file read as UTF-8 (bytes that are not, replaced)."""
    return find_personal_numbers(path.read_bytes().decode("utf-8", errors="replace"), str(path.relative_to(root)))
