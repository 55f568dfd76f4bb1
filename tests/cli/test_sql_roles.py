"""Roles in ``citylake sql`` (citylake.catalog.access, citylake.catalog.sql_guard): analysts read masked
values and keyed pseudonyms, districts and departments only their own rows and tables, nothing
escapes through SELECT *, joins, sub-queries, CTEs, table or file functions, and every read is in
governance.access_log."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pyarrow as pa
import pytest

from citylake.catalog.access import AccessError, Role, pseudonym
from citylake.catalog.access_log import ACCESS_LOG
from citylake.catalog.sql import QueryRefused, query
from citylake.cli import main
from citylake.lake import open_lake

IDS = ["110101199001011234", "110101198502024321", "110102197003030012"]
NAMES = ["张三丰", "李四", "王五"]
PHONES = ["13812345678", "13900001111", "13700002222"]
KEY = "test-only-pseudonym-key"
PERSON = pa.table({
    "person_id": IDS, "id_number": IDS, "name": NAMES, "sex": ["1", "2", "1"],
    "birth_date": [date(1990, 1, 1), date(1985, 2, 2), date(1970, 3, 3)], "phone": PHONES,
    "district_code": ["110101", "110101", "110102"], "resident": [True, True, False],
    "life_status_evidence": [["民政 SWDJ 110101199001011234"], [], []],
})
MEMBERS = pa.table({"household_number": ["H1", "H1", "H2"], "person_id": IDS, "relation_to_head": ["02", "10", "02"]})
ISSUES = pa.table({"issue_id": ["i1", "i2", "i3"], "system": ["gongan", "minzheng", "gongan"],
                   "record_key": IDS, "rule": ["a", "b", "c"], "masked_value": ["1101**", "张*", "王*"]})
CZRK = pa.table({"GMSFHM": IDS, "XM": NAMES, "HH": ["H1", "H1", "H2"], "_batch_id": ["b1"] * 3})


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("CITYLAKE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    lake = open_lake(tmp_path / "lake")
    lake.write_arrow("gold.person", PERSON)
    lake.write_arrow("gold.household_member", MEMBERS)
    lake.write_arrow("governance.quality_issue", ISSUES)
    lake.write_arrow("silver.gongan_czrk", CZRK)
    lake.write_arrow("silver.minzheng_hydj", pa.table({"NAN_XM": NAMES, "_batch_id": ["b1"] * 3}))
    return tmp_path


def _csv(capsys) -> list[dict]:
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


def _leaks(text: str) -> list[str]:
    return [v for v in (*IDS, *NAMES[:1], *PHONES) if v in text]


def test_analyst_reads_masked_values_and_pseudonyms_by_default(home, capsys):
    assert main(["-q", "sql", "SELECT * FROM gold.person ORDER BY birth_date", "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert _leaks(out) == []
    first = json.loads(out)[0]
    assert first["person_id"] == pseudonym(KEY.encode(), IDS[2]) and first["person_id"].startswith("P")
    assert first["person_id_masked"] == "110102********0012"
    assert (first["name"], first["phone"], first["birth_date"]) == ("王*", "137****2222", "1970-**-**")
    assert (first["sex"], first["district_code"], first["resident"]) == ("1", "110102", False)
    assert "life_status_evidence" not in first  # unclassified in the spec: hidden


def test_pseudonyms_join_across_tables_as_the_ids_do(home, capsys):
    sql = ("SELECT m.household_number, count(*) AS n FROM gold.household_member m JOIN gold.person p "
           "USING (person_id) GROUP BY ALL ORDER BY 1")
    assert main(["-q", "sql", sql, "--format", "csv"]) == 0
    analyst = _csv(capsys)
    assert main(["-q", "sql", sql, "--format", "csv", "--role", "engineer"]) == 0
    assert analyst == _csv(capsys) == [{"household_number": "H1", "n": "2"}, {"household_number": "H2", "n": "1"}]


def test_filters_see_the_masked_value_not_the_stored_one(home, capsys):
    assert main(["-q", "sql", f"SELECT count(*) AS n FROM gold.person WHERE name = '{NAMES[0]}' "
                 f"OR id_number = '{IDS[0]}' OR phone LIKE '1381234%'", "--format", "csv"]) == 0
    assert _csv(capsys) == [{"n": "0"}]


def test_source_tables_hide_unmapped_text_and_mask_mapped_fields(home, capsys):
    assert main(["-q", "sql", "SELECT * FROM silver.gongan_czrk", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows[0]) == {"GMSFHM", "GMSFHM_masked", "XM", "_batch_id"}  # HH: unmapped text
    assert _leaks(json.dumps(rows, ensure_ascii=False)) == []


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_parquet('{lake}/gold/person/*.parquet')",
    "SELECT * FROM '{lake}/gold/person/*.parquet'",
    "SELECT * FROM query_table('gold.person')",
    "SELECT * FROM duckdb_views()",
    "SELECT current_setting('memory_limit')",
    "SELECT citylake_pseudonym('110101199001011234')",
    "WITH p AS (SELECT * FROM gold.person) SELECT * FROM p, main.p",
    "SELECT * FROM (WITH scan AS (SELECT 1) SELECT * FROM scan) a, scan b",
    "ATTACH '{lake}/x.db' AS x",
    "COPY (SELECT * FROM gold.person) TO '{lake}/out.csv'",
    "CREATE TABLE t AS SELECT * FROM gold.person",
    "SET enable_external_access = true",
    "SELECT 1; SELECT * FROM gold.person",
    "PRAGMA show_tables",
    "SELECT * FROM temp.main.gold",
])
def test_escape_attempts_are_refused(home, sql):
    lake = open_lake(home / "lake")
    with pytest.raises(QueryRefused):
        query(lake, sql.format(lake=home / "lake"), Role("analyst"))
    assert not (home / "lake" / "out.csv").exists() and not (home / "lake" / "x.db").exists()


def test_sub_queries_and_ctes_read_the_masked_views(home, capsys):
    sql = ("WITH names AS (SELECT name, person_id FROM gold.person) SELECT (SELECT max(name) FROM gold.person) AS top, "
           "n.name, n.person_id FROM names n WHERE n.person_id IN (SELECT person_id FROM gold.household_member) "
           "UNION ALL SELECT 'x', name, person_id_masked FROM (SELECT * FROM gold.person) ORDER BY 2, 3")
    assert main(["-q", "sql", sql, "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert _leaks(out) == [] and "张*" in out and "王*" in out


def test_district_role_reads_its_districts_rows_only(home, capsys):
    assert main(["-q", "sql", "SELECT district_code, name FROM gold.person", "--format", "csv",
                 "--role", "district:110101"]) == 0
    assert {r["district_code"] for r in _csv(capsys)} == {"110101"}
    assert main(["-q", "sql", "SELECT * FROM gold.household_member", "--role", "district:110101"]) == 2
    assert main(["-q", "sql", "SHOW TABLES", "--format", "csv", "--role", "district:110101"]) == 0
    assert [r["table"] for r in _csv(capsys)] == ["gold.person"]


def test_department_role_reads_its_own_tables_and_feedback(home, capsys):
    role = ["--role", "department:gongan"]
    assert main(["-q", "sql", "SELECT * FROM silver.gongan_czrk ORDER BY GMSFHM", "--format", "csv", *role]) == 0
    assert [r["GMSFHM"] for r in _csv(capsys)] == sorted(IDS)  # its own data, as it sent it
    assert main(["-q", "sql", "SELECT issue_id FROM governance.quality_issue ORDER BY 1", "--format", "csv", *role]) == 0
    assert [r["issue_id"] for r in _csv(capsys)] == ["i1", "i3"]
    for other in ("SELECT * FROM silver.minzheng_hydj", "SELECT * FROM gold.person"):
        assert main(["-q", "sql", other, *role]) == 2
    with pytest.raises(AccessError, match="no system 'nosuch'"):
        Role.parse("department:nosuch")


def test_without_a_pseudonym_key_ids_are_hidden(home, monkeypatch, capsys, caplog):
    monkeypatch.delenv("CITYLAKE_PSEUDONYM_KEY")
    assert main(["-q", "sql", "SELECT person_id_masked FROM gold.person LIMIT 1", "--format", "csv"]) == 0
    assert _csv(capsys)[0]["person_id_masked"].startswith("1101")
    assert main(["sql", "SELECT person_id FROM gold.person"]) == 2
    assert "hidden from this role" in caplog.text and "person_id" in caplog.text


def test_every_read_and_refusal_is_in_the_access_log(home, capsys, monkeypatch):
    monkeypatch.setenv("CITYLAKE_USER", "analyst.wang")
    assert main(["-q", "sql", "SELECT name FROM gold.person", "--format", "csv"]) == 0
    secret = f"SELECT * FROM read_parquet('{home}/lake/gold/person/x.parquet') WHERE id = '{IDS[0]}'"
    assert main(["-q", "sql", secret]) == 2
    log = sorted(open_lake(home / "lake").read_arrow(ACCESS_LOG).read_all().to_pylist(), key=lambda r: r["accessed_at"])
    assert [(r["user"], r["role"], r["tables"], r["rows"], r["outcome"]) for r in log] == [
        ("analyst.wang", "analyst", ["gold.person"], 3, "ok"), ("analyst.wang", "analyst", [], None, "refused")]
    assert all(len(r["query_sha256"]) == 64 for r in log)
    assert _leaks(json.dumps(log, ensure_ascii=False, default=str)) == []


def test_export_returns_a_districts_rows_masked_with_a_manifest(home, capsys):
    import hashlib

    import pyarrow.parquet as pq

    out = home / "returned"
    assert main(["-q", "export", "gold.person", "--district", "110101", "--output", str(out)]) == 0
    assert "2 rows of gold.person" in capsys.readouterr().out
    data = out / "gold_person_110101.parquet"
    table = pq.read_table(data)
    assert table.num_rows == 2 and set(table.column("district_code").to_pylist()) == {"110101"}
    assert _leaks(json.dumps(table.to_pylist(), ensure_ascii=False, default=str)) == []
    manifest = json.loads((out / "gold_person_110101.parquet.manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == 2 and manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    how = {c["name"]: (c["treatment"], c["grade"]) for c in manifest["columns"]}
    assert how["person_id"] == ("pseudonymised", 4) and how["name"] == ("masked", 3)
    assert how["district_code"] == ("shown", None) and how["life_status_evidence"] == ("hidden", 4)
    assert manifest["highest_grade"] == 4 and manifest["table_version"] == 0
    assert "life_status_evidence" not in table.column_names and not list(out.glob("*.partial"))

    assert main(["-q", "export", "gold.person", "--district", "110102", "--format", "csv", "--output", str(out)]) == 0
    assert (out / "gold_person_110102.csv").read_text(encoding="utf-8").count("\n") == 2  # header and one row
    assert main(["-q", "export", "gold.household_member", "--district", "110101", "--output", str(out)]) == 2
    log = open_lake(home / "lake").read_arrow(ACCESS_LOG).read_all().to_pylist()
    assert sorted(r["outcome"] for r in log if r["interface"] == "citylake export") == ["ok", "ok", "refused"]


def test_csv_export_writes_nested_values_as_json_text():
    from citylake.catalog.export import _csv_ready

    batch = pa.record_batch({"district_code": ["110101", "110102"],
                             "sources": [[{"system": "gongan", "table": "CZRK"}], None]})
    ready = _csv_ready(batch)
    assert ready.schema.field("sources").type == pa.string()
    assert ready.column("sources").to_pylist() == ['[{"system": "gongan", "table": "CZRK"}]', None]
    assert ready.column("district_code").to_pylist() == ["110101", "110102"]
