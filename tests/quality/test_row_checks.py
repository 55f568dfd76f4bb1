"""The standards' row checks flag exactly the injected defects the standards can see
(recall 100%, no false flags), scored against the synthetic city's truth."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from citylake.quality.row_checks import check_frame
from citylake.quality.scoring import score_table
from citylake.sources.registry import load_registry
from citylake.synthcity.generate import generate
from citylake.synthcity.truth import TruthDir


@pytest.fixture(scope="module")
def checked_city(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality_city")
    generate(4000, 17, [f"sqlite:///{root}/src/{{department}}.db"], root / "truth")
    truth = TruthDir(root / "truth")
    defects = truth.read_record_defects()
    enterprises = pd.read_parquet(root / "truth" / "enterprise.parquet")
    pilots = set(enterprises.loc[enterprises["pilot_code"], "uscc"])
    out = {}
    for code, system in load_registry().items():
        engine = sa.create_engine(f"sqlite:///{root}/src/{code}.db")
        for table in system.tables:
            with engine.connect() as conn:
                frame = pd.read_sql_table(table.name, conn, coerce_float=False)
            key = table.primary_key[0]
            uscc_columns = [c for c, f, _ in table.mapped_columns() if f in ("enterprise.uscc", "party.id_number")]
            review = set(frame.loc[frame[uscc_columns[0]].isin(pilots), key]) if uscc_columns else set()
            checked = check_frame(frame, table)
            out[f"{code}.{table.name}"] = (checked, table, key,
                                           defects[defects["source_table"] == f"{code}.{table.name}"], review)
        engine.dispose()
    return out


def test_recall_and_false_flags_against_the_truth(checked_city):
    expected = caught = values = false = 0
    for checked, table, key, defects, review in checked_city.values():
        score = score_table(checked, table, key, defects, review)
        expected, caught = expected + score.expected, caught + score.caught
        values, false = values + score.checked_values, false + score.false_flags
    assert expected > 300
    assert caught == expected
    assert false == 0 and values > 50_000


def test_no_generated_name_or_address_breaks_the_character_or_length_rules(checked_city):
    # The synthetic city's names (surnames, minority names) and addresses, every variant included,
    # are what such fields hold: none is flagged for its characters or its length.
    for checked, *_ in checked_city.values():
        rules = {f["rule"] for row in checked["_errors"] for f in row}
        assert not {r for r in rules if r.endswith((".invalid_chars", ".too_long"))}


def test_findings_are_dqx_shaped_and_never_quote_values(checked_city):
    checked, *_ = checked_city["gongan.CZRK"]
    findings = [f for row in checked["_errors"] for f in row] + [f for row in checked["_warnings"] for f in row]
    assert findings and all(set(f) == {"rule", "message", "columns"} for f in findings)
    ids = set(checked["GMSFHM"].dropna())
    assert not any(any(i in f["message"] for i in ids) for f in findings)


def test_pilot_uscc_codes_are_routed_to_review_not_rejected(checked_city):
    checked, table, key, _, review = checked_city["scjg.QYDJ"]
    rows = checked[checked[key].isin(review)]
    for errors, warnings in zip(rows["_errors"], rows["_warnings"], strict=True):
        assert not any(f["rule"] == "enterprise.uscc.check_digit" for f in errors)
        assert any(f["rule"] == "enterprise.uscc.check_digit" for f in warnings)


def test_standardised_values_replace_the_written_forms(checked_city):
    checked, table, key, defects, _ = checked_city["gongan.CZRK"]
    lower = defects[(defects["column"] == "GMSFHM") & (defects["defect"].isin(["lowercase_x", "id_15_digit"]))]
    assert len(lower) > 0
    fixed = checked.set_index(key).loc[lower["record_key"], "GMSFHM"]
    assert list(fixed) == list(lower["clean_value"])
