"""Same seed, same city; the configuration is validated with errors that name the entry."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from citylake.synthcity.config import ConfigError, load_config
from citylake.synthcity.departments import TABLES
from tests.synthcity.cities import make_city


def _fingerprint(city) -> dict[str, str]:
    out = {}
    for qualified in TABLES:
        frame = city.table(qualified)
        out[qualified] = hashlib.sha256(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes()).hexdigest()
    truth = city.truth.read_record_truth().sort_values(["source_table", "record_key", "role"])
    out["record_truth"] = hashlib.sha256(pd.util.hash_pandas_object(truth.astype(str), index=False).to_numpy().tobytes()).hexdigest()
    return out


def test_same_seed_same_city_other_seed_other_city(tmp_path):
    a = _fingerprint(make_city(tmp_path / "a", persons=600, seed=5))
    b = _fingerprint(make_city(tmp_path / "b", persons=600, seed=5))
    c = _fingerprint(make_city(tmp_path / "c", persons=600, seed=6))
    assert a == b
    assert a["gongan.CZRK"] != c["gongan.CZRK"]


def _write(tmp_path, text):
    path = tmp_path / "override.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_defect_is_named(tmp_path):
    path = _write(tmp_path, "defects:\n  gongan.CZRK:\n    GMSFHM: {wrong_kind_of_thing: 0.1}\n")
    with pytest.raises(ConfigError, match=r"override.yaml: defects.gongan.CZRK.GMSFHM.wrong_kind_of_thing: unknown"):
        load_config(path)


def test_defect_on_a_column_of_the_wrong_kind_is_refused(tmp_path):
    path = _write(tmp_path, "defects:\n  gongan.CZRK:\n    XM: {lowercase_x: 0.1}\n")
    with pytest.raises(ConfigError, match=r"XM.lowercase_x: does not apply to a column of kind 'person_name'"):
        load_config(path)


def test_unknown_table_column_and_bad_rate_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no such department table"):
        load_config(_write(tmp_path, "defects:\n  gongan.NOPE: {}\n"))
    with pytest.raises(ConfigError, match="has no column NOPE"):
        load_config(_write(tmp_path, "defects:\n  gongan.CZRK:\n    NOPE: {missing: 0.1}\n"))
    with pytest.raises(ConfigError, match=r"employment_rate: Input should be less than or equal to 1, got 1.5"):
        load_config(_write(tmp_path, "employment_rate: 1.5\n"))
    with pytest.raises(ConfigError, match="unknown entries"):
        load_config(_write(tmp_path, "employmnet_rate: 0.5\n"))


def test_a_new_defect_rule_is_a_yaml_entry(tmp_path):
    path = _write(tmp_path, "defects:\n  gongan.CZRK:\n    XM: {fullwidth: 0.0, missing: 0.05}\n")
    config = load_config(path)
    assert config.defects["gongan.CZRK"]["XM"]["missing"] == 0.05
    city = make_city(tmp_path / "city", persons=400, seed=3, config=str(path))
    d = city.truth.read_record_defects()
    assert ((d["column"] == "XM") & (d["defect"] == "missing")).sum() > 0


@pytest.mark.parametrize(("text", "message"), [
    ("defects:\n  gongan.CZRK:\n    GMSFHM: {bad_check_digit: 0.1\n",
     r"override.yaml: not valid YAML at line 4, column 1: expected ',' or '}', but got '<stream end>'"),
    ("as_of: [2026-10-31\n", r"override.yaml: not valid YAML at line 2, column 1: "),
    ("defects:\n  gongan.CZRK:\n    GMSFHM: 0.5\n",
     r"override.yaml: defects.gongan.CZRK.GMSFHM: Input should be a valid dictionary, got 0.5"),
    ("defects:\n  gongan.CZRK: [GMSFHM]\n", r"override.yaml: defects.gongan.CZRK: Input should be a valid dictionary"),
    ("defects: 3\n", r"override.yaml: defects: Input should be a valid dictionary, got 3"),
    ("household_types: couple\n", r"override.yaml: household_types: Input should be a valid dictionary"),
    ("events_per_1000_per_day: {births: true}\n", r"events_per_1000_per_day.births: Input should be a valid number, got True"),
    ("as_of: 2026-13-45\n",
     r"override.yaml: as_of: expected a date like 2026-10-31, got '2026-13-45' \(month must be in 1..12\)"),
    ("as_of: next tuesday\n", r"override.yaml: as_of: expected a date like 2026-10-31, got 'next tuesday'"),
])
def test_malformed_configuration_is_one_line_naming_file_and_entry(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_config(_write(tmp_path, text))
    assert "\n" not in str(error.value)


def test_a_quoted_or_plain_date_is_the_same_as_of(tmp_path):
    assert load_config(_write(tmp_path, "as_of: 2026-12-01\n")).as_of == load_config(
        _write(tmp_path, "as_of: '2026-12-01'\n")).as_of
