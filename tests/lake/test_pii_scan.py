"""The leak scanner of the personal-data tests (tests.lake.pii_scan) finds what it should and only that."""

from __future__ import annotations

from tests.lake.pii_scan import find_personal_numbers


def test_the_scanner_finds_mobile_numbers_but_not_uuids_or_decimal_fractions():
    found = find_personal_numbers("联系电话 15762318287。备用:13912345678", "text")
    assert [leak.masked for leak in found] == ["157****8287", "139****5678"]
    # An xlsx time is a day serial (46360.15762318287); an id holds hexadecimal runs.
    assert not find_personal_numbers('<c s="2" t="n"><v>46360.15762318287</v></c> run-b14213149237-x', "xlsx")
