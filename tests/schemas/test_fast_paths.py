"""The vectorised fast paths accept only what the validators accept unchanged, and accept the
clean values (else they would save nothing)."""

from __future__ import annotations

import random
from datetime import date, timedelta

from citylake.schemas.fast_paths import (
    accept_id_numbers,
    accept_mobiles,
    accept_names,
    accept_texts,
    standardise_dates,
)
from citylake.schemas.identifiers import id_check_char
from citylake.schemas.standards import VALIDATORS
from citylake.schemas.validators import (
    check_date,
    check_id_number,
    check_mobile,
    division_codes,
    mobile_prefixes,
)

TODAY = date(2026, 11, 23)


def _valid_ids(rng: random.Random, n: int) -> list[str]:
    divisions = sorted(division_codes())
    out = []
    for _ in range(n):
        born = date(1880, 1, 1) + timedelta(days=rng.randrange((TODAY - date(1880, 1, 1)).days + 1))
        body = f"{rng.choice(divisions)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        out.append(body + id_check_char(body))
    return out


def _mutations(rng: random.Random, value: str) -> list[object]:
    i = rng.randrange(len(value))
    digit = str((int(value[i]) + rng.randrange(1, 10)) % 10) if value[i].isdigit() else "0"
    return [
        value[:i] + digit + value[i + 1:],                      # one digit mistyped
        value[:17] + "x" if value.endswith("X") else value,     # lowercase x
        "".join(chr(ord(c) + 0xFEE0) for c in value),           # full-width
        f" {value}", value[:9] + " " + value[9:],               # stray spaces
        value[:6] + value[8:17],                                # 15-digit form
        value[:10] + "0230" + value[14:],                       # 30 February
        value[:10] + "1301" + value[14:],                       # month 13
        value[:6] + "2999" + value[10:],                        # born in the future
        "999999" + value[6:],                                   # unknown division
        value[:17], value + "1", int(value[:17]), None, "",      # wrong length, not text, missing
    ]


def _agrees(accepted, values, validate) -> None:
    for ok, raw in zip(accepted, values, strict=True):
        if ok:
            verdict = validate(raw)
            assert verdict.ok and not verdict.fixes and verdict.value == raw, raw


def test_id_numbers_accepted_only_as_the_validator_would():
    rng = random.Random(7)
    clean = _valid_ids(rng, 3000)
    values = clean + [m for v in clean[:1500] for m in _mutations(rng, v)]
    accepted = accept_id_numbers(values, today=TODAY)
    _agrees(accepted, values, lambda raw: check_id_number(raw, today=TODAY))
    assert accepted[: len(clean)].all()
    assert accepted[len(clean):].sum() < len(values) - len(clean)


def test_dates_standardised_only_as_the_validator_would():
    rng = random.Random(9)
    days = (TODAY - date(1880, 1, 1)).days
    born = [date(1880, 1, 1) + timedelta(days=rng.randrange(days + 1)) for _ in range(3000)]
    clean = [f"{d:%Y%m%d}" for d in born[:1500]] + [d.isoformat() for d in born[1500:]]
    clean += ["18800101", TODAY.isoformat(), "20240229", "2000-02-29"]
    mutated = [m for d in born[:500] for m in (
        f"{d:%Y%m}31" if d.month in (2, 4, 6, 9, 11) else f"{d:%Y}1301",  # no such day, month 13
        f"{d:%Y-%m%d}", f"{d:%Y%m-%d}", f"{d:%Y/%m/%d}", f"{d:%Y年%m月%d日}", f" {d:%Y%m%d}",  # other forms
        "".join(chr(ord(c) + 0xFEE0) for c in f"{d:%Y%m%d}"), f"{d:%Y%m%d}"[:7], int(f"{d:%Y%m%d}"))]
    mutated += ["18791231", "20261124", "29990101", "19000229", "2023-02-29", None, ""]
    values = clean + mutated
    accepted, iso = standardise_dates(values, today=TODAY)
    for ok, raw, value in zip(accepted, values, iso, strict=True):
        if ok:
            verdict = check_date(raw, today=TODAY)
            assert verdict.ok and not verdict.fixes and verdict.value == value, raw
        else:
            assert value is None
    assert accepted[: len(clean)].all() and not accepted[len(clean):].any()


def test_mobiles_accepted_only_as_the_validator_would():
    rng = random.Random(8)
    prefixes = sorted(mobile_prefixes())
    clean = [f"{p}{rng.randrange(10**8):08d}"[:11] for p in (rng.choice(prefixes) for _ in range(2000))]
    mutated = [m for v in clean[:500] for m in (f"+86{v}", f"{v[:3]}-{v[3:]}", v[:10], f"{v} ", "100" + v[3:],
                                                 "".join(chr(ord(c) + 0xFEE0) for c in v))]
    values = clean + mutated
    accepted = accept_mobiles(values)
    _agrees(accepted, values, check_mobile)
    assert accepted[: len(clean)].all() and not accepted[len(clean):].any()


def test_names_and_texts_accepted_only_as_the_validator_would():
    clean = ["张伟", "欧阳娜娜", "济南市历下区泉城路1号", "山东某某科技有限公司", "A座12层", "Zhang"]
    spaces = [" ", "  ", "\t", "\u3000", "\u00a0", "\u2002", "\u200b", "\x1c", "\x85", "\n"]
    mutated = [*(f"{c}{s}" for c in clean for s in spaces), *(f"{c[0]}{s}{c[1:]}" for c in clean for s in spaces),
               "张伟", "ＡＢＣ", "１号楼", "", *spaces, None, 42]
    values = clean + mutated
    for accept, validator in ((accept_names, VALIDATORS["name"]), (accept_texts, VALIDATORS["text"])):
        accepted = accept(values)
        _agrees(accepted, values, validator)
        assert accepted[: len(clean)].all()
    assert not accept_names(["ＡＢＣ", "１号楼"]).any()
