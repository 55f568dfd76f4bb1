"""Linking the residue (records without a valid ID number) to golden persons:
citylake.jobs.person.linkage on crafted cases, and scored against a small synthetic city's truth."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pytest
from pyspark.testing import assertDataFrameEqual

from citylake.jobs.person.id_repair import near_ids
from citylake.jobs.person.linkage import link_residue
from citylake.jobs.person.linkage_settings import LinkageSettingsError, load_settings
from citylake.jobs.person.records import RECORD_COLUMNS, records_schema
from citylake.schemas.identifiers import id_check_char, id_is_valid_check


def valid(first17: str) -> str:
    return first17 + id_check_char(first17)


def substituted(id_number: str, position: int) -> str:
    """``id_number`` with the digit at 1-based ``position`` changed (the check left alone)."""
    i = position - 1
    return id_number[:i] + str((int(id_number[i]) + 3) % 10) + id_number[i + 1:]


def transposed(id_number: str, position: int) -> str:
    i = position - 1
    return id_number[:i] + id_number[i + 1] + id_number[i] + id_number[i + 2:]


A = valid("37010219900101123")
B = valid("37010319850612456")
C = valid("37010519700303781")
WANG_1, WANG_2 = valid("37010219900505001"), valid("37010219900505003")  # 王伟 twice, same day, same district


def _real_date(text: str) -> bool:
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


def neighbours(raw: str) -> set[str]:
    """Every valid ID one substitution or one adjacent transposition from ``raw`` (brute force)."""
    out = {raw[:i] + d + raw[i + 1:] for i in range(18) for d in "0123456789X" if d != raw[i]}
    out |= {transposed(raw, i) for i in range(1, 18) if raw[i - 1] != raw[i]}
    return {n for n in out if id_is_valid_check(n) and _real_date(n[6:14])}


# A broken number one edit from two persons born the same day: its check character fixed, and one
# sequence digit changed instead.
TWIN_1 = valid("37011220000808111")
TWIN_RAW = TWIN_1[:17] + ("1" if TWIN_1[17] != "1" else "2")
TWIN_2 = min(n for n in neighbours(TWIN_RAW) if n != TWIN_1 and n[:14] == TWIN_1[:14])
ZHANG = valid("37011219920202222")
AYI = valid("65010219880707333")

ADDRESS = "山东省济南市历下区文化东路街道山大路社区山大路1号花园小区{}号楼1单元101室"
PERSONS = [
    (A, "李明", "1", date(1990, 1, 1), ADDRESS.format(1), "13800000001"),
    (B, "赵丽", "2", date(1985, 6, 12), ADDRESS.format(2), "13800000002"),
    (C, "孙强", "1", date(1970, 3, 3), ADDRESS.format(3), "13800000003"),
    (WANG_1, "王伟", "1", date(1990, 5, 5), ADDRESS.format(4), "13800000004"),
    (WANG_2, "王伟", "1", date(1990, 5, 5), ADDRESS.format(5), "13800000005"),
    (TWIN_1, "周杰", "1", date(2000, 8, 8), ADDRESS.format(6), None),
    (TWIN_2, "周杰", "1", date(2000, 8, 8), ADDRESS.format(7), None),
    (ZHANG, "张伟", "1", date(1992, 2, 2), ADDRESS.format(8), "13800000008"),
    (AYI, "阿卜杜拉买买提", "1", date(1988, 7, 7), ADDRESS.format(9), "13800000009"),
]


def record(key: str, *, raw: str | None = None, valid_id: str | None = None, name: str | None = None,
           sex: str | None = None, birth: date | None = None, address: str | None = None, phone: str | None = None,
           role: str = "subject", table: str = "renshe.AC02") -> dict:
    system = table.split(".")[0]
    return {"record_id": f"{table}:{key}#{role}", "system": system, "source_table": table, "record_key": key,
            "role": role, "layer": "quarantine" if valid_id is None else "silver", "batch_id": "b1",
            "id_number_raw": raw if raw is not None else valid_id, "id_number": valid_id, "name": name, "sex": sex,
            "birth_date": birth, "ethnicity": None, "address": address, "phone": phone, "updated_at": None,
            "attributes": {}}


@pytest.fixture(scope="module")
def persons(spark):
    return spark.createDataFrame(PERSONS, "person_id string, name string, sex string, birth_date date, "
                                          "address string, phone string")


def link(spark, persons, rows):
    records = spark.createDataFrame([tuple(r[c] for c in RECORD_COLUMNS) for r in rows], records_schema())
    return link_residue(records, persons)


def test_mistyped_digit_and_transposition_are_linked_and_corrected(spark, persons):
    rows = [record("1", raw=substituted(A, 16), name="李明", sex="1", birth=date(1990, 1, 1)),
            record("2", raw=transposed(B, 15), name="赵丽", birth=date(1985, 6, 12)),
            record("3", raw=C[:17] + ("0" if C[17] != "0" else "1"), name="孙强", birth=date(1970, 3, 3))]
    assert not any(id_is_valid_check(r["id_number_raw"]) for r in rows)
    out = link(spark, persons, rows)
    assertDataFrameEqual(out.select("record_id", "person_id", "proposed_id_number", "unlinked_reason"), [
        ("renshe.AC02:1#subject", A, A, None), ("renshe.AC02:2#subject", B, B, None),
        ("renshe.AC02:3#subject", C, C, None)])
    reasons = {r.record_id: r.match_reasons for r in out.collect()}
    assert f"id one digit from {A} (position 16) (+10.0)" in reasons["renshe.AC02:1#subject"]
    assert f"id adjacent digits transposed from {B} (positions 15-16) (+10.0)" in reasons["renshe.AC02:2#subject"]
    assert any(r.startswith("id check character differs") for r in reasons["renshe.AC02:3#subject"])
    assert any(r.startswith("birth date equal") for r in reasons["renshe.AC02:1#subject"])


def test_a_valid_id_is_never_residue(spark, persons):
    """A 15-digit number upgraded by the records (H4) carries its 18-digit id_number: not residue."""
    fifteen = A[:6] + A[8:17]
    out = link(spark, persons, [record("1", raw=fifteen, valid_id=A, name="李明"),
                                record("2", valid_id=WANG_1, name="王伟", birth=date(1990, 5, 5))])
    assert out.count() == 0


def test_missing_id_links_on_name_birth_address_phone(spark, persons):
    out = link(spark, persons, [record("1", name="赵丽", sex="2", birth=date(1985, 6, 12),
                                       address="历下区文化东路街道山大路社区山大路1号花园小区2栋1单元101室",
                                       phone="138 0000 0002")])
    row = out.first()
    assert (row.person_id, row.proposed_id_number, row.unlinked_reason) == (B, None, None)
    assert {r.split(" (")[0] for r in row.match_reasons} == {"name equal", "birth date equal", "sex equal",
                                                               "phone equal", "address equal"}


def test_same_name_same_birth_persons_are_not_merged(spark, persons):
    """王伟 born the same day in the same district twice: without more evidence the record is
    ambiguous and stays unlinked; a phone number decides."""
    out = link(spark, persons, [
        record("1", name="王伟", sex="1", birth=date(1990, 5, 5), address="历下区某路9号"),
        record("2", name="王伟", sex="1", birth=date(1990, 5, 5), phone="13800000005")])
    rows = {r.record_id: r for r in out.collect()}
    ambiguous = rows["renshe.AC02:1#subject"]
    assert ambiguous.person_id is None and ambiguous.unlinked_reason.startswith("ambiguous: 2 candidates")
    assert rows["renshe.AC02:2#subject"].person_id == WANG_2


def test_broken_id_equally_near_two_persons_stays_unlinked(spark, persons):
    raw = TWIN_RAW
    near = {r.candidate_id for r in near_ids(
        spark.createDataFrame([("r", raw)], "record_id string, raw_id string")).collect()}
    assert {TWIN_1, TWIN_2} <= near
    out = link(spark, persons, [record("1", raw=raw, name="周杰", birth=date(2000, 8, 8))]).first()
    assert out.person_id is None and out.proposed_id_number is None
    assert out.unlinked_reason.startswith("ambiguous")


def test_traditional_characters_and_minority_separators(spark, persons):
    out = link(spark, persons, [
        record("1", name="張 偉", sex="1", birth=date(1992, 2, 2)),
        record("2", name="阿卜杜拉·买买提", birth=date(1988, 7, 7)),
        record("3", name="阿卜杜拉.买买提", phone="13800000009")])
    rows = {r.record_id: r for r in out.collect()}
    assert rows["renshe.AC02:1#subject"].person_id == ZHANG
    assert any(r.startswith("name equal after simplification") for r in rows["renshe.AC02:1#subject"].match_reasons)
    assert rows["renshe.AC02:2#subject"].person_id == AYI
    assert rows["renshe.AC02:3#subject"].person_id == AYI


def test_context_address_links_a_parent_without_id(spark, persons):
    """A birth certificate's mother without an ID: her name, and the address of the father (valid ID)."""
    from pyspark.sql import functions as F

    table = "weijian.CSYXZM"
    rows = [record("Q1", name="赵丽", role="mother", table=table),
            record("Q1", valid_id=C, name="孙强", role="father", table=table)]
    alone = link(spark, persons, rows).first()
    assert alone.person_id is None and alone.unlinked_reason.startswith("no candidate")  # a name alone links nothing
    together = persons.withColumn("address", F.when(F.col("person_id") == B, F.lit(ADDRESS.format(3)))
                                  .otherwise(F.col("address")))
    row = link(spark, together, rows).first()
    assert (row.record_id, row.person_id) == (f"{table}:Q1#mother", B)
    assert any(r.startswith("address equal to the father's in this record") for r in row.match_reasons)
    assert "sex equal (+1.0)" in row.match_reasons  # a mother is a woman (role_sex)


def test_near_ids_are_exactly_the_valid_neighbours(spark):
    rng = random.Random(5)
    raws = []
    for _ in range(6):
        good = valid("3701" + "".join(rng.choice("0123456789") for _ in range(2)) + "19900101"
                     + "".join(rng.choice("0123456789") for _ in range(3)))
        raws.append(substituted(good, rng.randint(15, 17)))
    frame = spark.createDataFrame([(str(i), r) for i, r in enumerate(raws)], "record_id string, raw_id string")
    got = {(r.record_id, r.candidate_id) for r in near_ids(frame).collect()}

    expected = {(str(i), n) for i, r in enumerate(raws) for n in neighbours(r)}
    assert got == expected


def test_settings_errors_name_the_file_and_entry(tmp_path):
    path = tmp_path / "linkage.yaml"
    text = load_settings().source
    base = open(text, encoding="utf-8").read()
    path.write_text(base.replace("  - [name, birth_date]", "  - [name, shoe_size]"), encoding="utf-8")
    with pytest.raises(LinkageSettingsError, match=r"linkage.yaml: blocking\[0\]: unknown keys \['shoe_size'\]"):
        load_settings(path)
    path.write_text(base.replace("    equal: 12.0", "    equal: twelve"), encoding="utf-8")
    with pytest.raises(LinkageSettingsError, match=r"weights.birth_date.equal: expected a number"):
        load_settings(path)


# ------------------------------------------------------------------------------ a scored city

@pytest.mark.slow
def test_linkage_scored_against_the_truth(spark, tmp_path_factory):
    from citylake.jobs.person.build import link_records, linkage_basis
    from citylake.jobs.person.golden import load_priority
    from citylake.jobs.person.linkage_eval import score_links, truth_ids
    from citylake.jobs.person.records import person_records
    from citylake.sources.registry import load_registry
    from tests.quality.cities import city, ingest_and_gate

    home, lake, _ = city(tmp_path_factory.mktemp("linkage"), 2000, 11)
    ingest_and_gate(home, lake, "b1")
    registry = load_registry()
    records = person_records(spark, lake, registry).localCheckpoint()
    linked, links = link_records(records, linkage_basis(records, load_priority(registry)))
    persons = linked.where("link_method = 'id_number'").select("person_id").distinct()
    score = score_links(links, records, persons, truth_ids(spark, home.truth))
    assert score.residue > 300 and score.proposed > 10, score
    assert score.precision >= 0.999, score
    assert score.recall >= 0.995, score
    assert score.corrections_right >= 0.99, score
    # Every residue record accounted for, once.
    assert links.count() == records.where("id_number is null").count() == score.residue
    assert links.groupBy("record_id").count().where("count > 1").count() == 0
    assert list(itertools.islice(links.columns, 6)) == ["record_id", "person_id", "match_score", "match_reasons",
                                                       "proposed_id_number", "unlinked_reason"]
