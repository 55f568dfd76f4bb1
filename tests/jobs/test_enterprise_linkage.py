"""Linking enterprise records by name (citylake.jobs.enterprise.linkage) on crafted cases: a name
two enterprises share is narrowed by a person the enterprise is known to employ, never guessed."""

from __future__ import annotations

from datetime import datetime

from pyspark.testing import assertDataFrameEqual

from citylake.jobs.enterprise.linkage import AMBIGUOUS_NAME, link_records
from citylake.jobs.enterprise.records import name_keys, records_schema, uscc_check
from citylake.schemas.identifiers import org_code_check_char, uscc_check_char

AUTHORITY = "scjg.QYDJ"
NAME = "济南华信科技有限公司"  # two enterprises of one name, in two districts


def uscc(body8: str, region: str = "370102") -> str:
    first17 = f"91{region}{body8}{org_code_check_char(body8)}"
    return first17 + uscc_check_char(first17)


A, B = uscc("MA3C4D5E"), uscc("MA3F6G7H", "370105")


def record(record_id: str, table: str, role: str, code: str | None, name: str, **attributes: str) -> dict:
    system, _, key = record_id.partition(":")
    strict, loose = name_keys(name)
    return {"record_id": f"{record_id}#{role}", "system": system.split(".")[0], "source_table": table,
            "record_key": key, "role": role, "layer": "silver", "batch_id": "b1", "uscc_raw": code, "uscc": code,
            "uscc_check": uscc_check(code), "name": name, "name_key": strict, "name_loose": loose, "address": None,
            "legal_rep_id": None, "legal_rep_name": None, "updated_at": datetime(2026, 10, 1),
            "attributes": attributes}


def test_a_shared_name_is_narrowed_by_a_known_employee_and_otherwise_left_ambiguous(spark):
    assert uscc_check(A) == uscc_check(B) == "valid"
    rows = [
        record("scjg.QYDJ:1", AUTHORITY, "subject", A, NAME),
        record("scjg.QYDJ:2", AUTHORITY, "subject", B, NAME),
        # 人社 codes the employer: person P works at A, person Q at B.
        record("renshe.AC02:1", "renshe.AC02", "employer", A, NAME, insured_id_number="P"),
        record("renshe.AC02:2", "renshe.AC02", "employer", B, NAME, insured_id_number="Q"),
        # 医保 names the employer only.
        record("yibao.psn_insu_d:1", "yibao.psn_insu_d", "employer", None, NAME, insured_id_number="P"),
        record("yibao.psn_insu_d:2", "yibao.psn_insu_d", "employer", None, NAME, insured_id_number="Q"),
        # Nobody 人社 knows: either enterprise could employ R.
        record("yibao.psn_insu_d:3", "yibao.psn_insu_d", "employer", None, NAME, insured_id_number="R"),
    ]
    linked = link_records(spark.createDataFrame(rows, records_schema()), AUTHORITY).records
    expected = spark.createDataFrame(
        [("yibao.psn_insu_d:1#employer", A, "name", None), ("yibao.psn_insu_d:2#employer", B, "name", None),
         ("yibao.psn_insu_d:3#employer", None, None, AMBIGUOUS_NAME)],
        "record_id string, enterprise_id string, link_method string, unlinked_reason string")
    assertDataFrameEqual(linked.where("source_table = 'yibao.psn_insu_d'")
                         .select("record_id", "enterprise_id", "link_method", "unlinked_reason"), expected)
    reasons = {r["record_id"]: r["link_reasons"] for r in linked.where("link_method = 'name'").collect()}
    assert all(any("人社" in reason for reason in r) for r in reasons.values())
    # The whole records come back, attributes and all, once each.
    assert linked.count() == len(rows) and linked.select("record_id").distinct().count() == len(rows)
    first = linked.where("record_id = 'yibao.psn_insu_d:1#employer'").select("attributes", "name").first()
    assert first["attributes"] == {"insured_id_number": "P"} and first["name"] == NAME
