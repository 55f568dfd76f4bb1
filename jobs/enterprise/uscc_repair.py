"""Valid USCCs one edit away from a broken one (citylake.jobs.enterprise.uscc_repair).

GB 32100's check character (weights 3^i mod 31 over a 31-character alphabet, 31 prime) catches every
single substitution and every adjacent transposition of the first 17 characters, so going back a
broken code has few valid neighbours: the check character recomputed (when only it was mistyped),
at most one character per position (the one that restores the sum modulo 31), and at most 17
swapped pairs. The GB 11714 organisation code embedded at positions 9-17 has its own check
character, which narrows the neighbours further. The caller joins them to the known codes, so only
registered enterprises remain.
"""

from __future__ import annotations

from citylake.schemas.identifiers import USCC_ALPHABET, USCC_WEIGHTS, org_code_check_char, uscc_check_char

EDIT_CHECK = "check_character"
EDIT_SUBSTITUTION = "substitution"
EDIT_TRANSPOSITION = "transposition"
_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}


def _org_ok(code: str) -> bool:
    body = code[8:16]
    return all(c.isalnum() for c in body) and org_code_check_char(body) == code[16]


def valid(code: str) -> bool:
    """Whether a normalised code passes both the GB 32100 and the embedded GB 11714 check."""
    return (len(code) == 18 and all(c in _VALUE for c in code) and _org_ok(code)
            and uscc_check_char(code[:17]) == code[17])


def neighbours(code: str | None) -> list[tuple[str, str]]:
    """(valid code, edit) for every valid code one substitution or adjacent transposition away."""
    if code is None or len(code) != 18 or any(c not in _VALUE for c in code):
        return []
    out: dict[str, str] = {}
    fixed = code[:17] + uscc_check_char(code[:17])
    if fixed != code and _org_ok(fixed):
        out[fixed] = EDIT_CHECK
    total = sum(_VALUE[c] * w for c, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    want = (31 - _VALUE[code[17]]) % 31  # the weighted sum's residue the written check char needs
    for i, w in enumerate(USCC_WEIGHTS):
        rest = total - _VALUE[code[i]] * w
        # The one value v with rest + v*w ≡ want (mod 31): w is invertible modulo the prime 31.
        v = ((want - rest) * pow(w, -1, 31)) % 31
        candidate = code[:i] + USCC_ALPHABET[v] + code[i + 1:]
        if candidate != code and _org_ok(candidate):
            out.setdefault(candidate, EDIT_SUBSTITUTION)
    for i in range(17):
        if code[i] != code[i + 1]:
            candidate = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            if valid(candidate):
                out.setdefault(candidate, EDIT_TRANSPOSITION)
    return sorted(out.items())
