"""``citylake sql``: DuckDB over the lake's Delta tables, as an analyst runs it."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date

import pyarrow as pa
import pytest

from citylake.catalog.access import Role
from citylake.catalog.sql import QueryError, query, referenced_tables
from citylake.cli import main
from citylake.lake import open_lake

PERSONS = pa.table({
    "person_id": ["110101199001011234", "110101198502024321", "110102197003030012"],
    "name": ["张三", "李四", "王五"],
    "birth_date": [date(1990, 1, 1), date(1985, 2, 2), date(1970, 3, 3)],
    "district_code": ["110101", "110101", "110102"],
})
MEMBERS = pa.table({
    "household_id": ["H1", "H1", "H2"],
    "person_id": ["110101199001011234", "110101198502024321", "110102197003030012"],
    "relation": ["户主", "配偶", "户主"],
})


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path))
    monkeypatch.setenv("CITYLAKE_ROLE", "engineer")
    lake = open_lake(tmp_path / "lake")
    lake.write_arrow("gold.person", PERSONS)
    lake.write_arrow("gold.household_member", MEMBERS)
    lake.write_arrow("gold.household_member", MEMBERS.slice(0, 1), mode="append")
    lake.write_arrow("governance.batch_audit", pa.table({"batch_id": ["b1"], "rows_read": [3]}))
    return tmp_path


def test_join_across_tables_filters_and_aggregates(home, capsys):
    sql = ("SELECT p.district_code, count(DISTINCT m.person_id) AS persons FROM gold.person p "
           "JOIN gold.household_member m USING (person_id) WHERE m.relation = '户主' "
           "GROUP BY ALL ORDER BY 1")
    assert main(["-q", "sql", sql, "--format", "csv", "--role", "engineer"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["district_code", "persons"], ["110101", "1"], ["110102", "1"]]


def test_json_streams_every_row_with_dates(home, capsys):
    assert main(["-q", "sql", "SELECT * FROM gold.person ORDER BY birth_date", "--format", "json", "--role", "engineer"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["王五", "李四", "张三"]
    assert rows[0]["birth_date"] == "1970-03-03"


def test_table_format_boxes_the_first_rows_and_says_when_cut(home, capsys):
    assert main(["-q", "sql", "SELECT person_id, relation FROM gold.household_member ORDER BY person_id",
                 "--max-rows", "2", "--role", "engineer"]) == 0
    out = capsys.readouterr().out
    assert "户主" in out and "relation" in out and "varchar" in out
    assert "first 2 rows shown" in out
    assert out.count("110101199001011234") == 1  # the fourth row (appended) is not shown


def test_show_tables_lists_every_table_with_version_and_rows(home, capsys):
    assert main(["-q", "sql", "show tables", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["table"] for r in rows] == ["gold.household_member", "gold.person", "governance.batch_audit"]
    member = rows[0]
    assert (member["layer"], member["name"], member["version"], member["rows"]) == ("gold", "household_member", "1", "4")
    assert main(["-q", "sql", "SHOW TABLES FROM governance;", "--format", "csv"]) == 0
    # The first read is in the access log by now.
    assert [r["table"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
        "governance.access_log", "governance.batch_audit"]


def test_describe_shows_a_tables_columns(home, capsys):
    assert main(["-q", "sql", "DESCRIBE gold.person", "--format", "csv", "--role", "engineer"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["column_name"], r["column_type"]) for r in rows] == [
        ("person_id", "VARCHAR"), ("name", "VARCHAR"), ("birth_date", "DATE"), ("district_code", "VARCHAR")]


def test_only_the_tables_a_query_names_are_opened():
    tables = ["gold.person", "gold.person_profile", "silver.gongan_czrk", "governance.batch_audit"]
    assert referenced_tables('select * from gold.person join "silver"."gongan_czrk" using (x)', tables) == [
        "gold.person", "silver.gongan_czrk"]
    assert referenced_tables("select * from GOLD . person_profile", tables) == ["gold.person_profile"]
    assert referenced_tables("select * from xgold.person, gold.persons", tables) == []


def test_unknown_table_or_layer_is_a_clear_error(home, caplog):
    assert main(["sql", "SELECT * FROM gold.nobody"]) == 2
    assert "no lake table gold.nobody" in caplog.text and "SHOW TABLES" in caplog.text
    assert main(["sql", "SELECT * FROM gold.persn"]) == 2
    assert "did you mean gold.person?" in caplog.text and "pg_catalog" not in caplog.text
    assert main(["sql", "SHOW TABLES FROM platinum"]) == 2
    assert "no layer 'platinum'" in caplog.text and "gold, governance" in caplog.text


def test_error_messages_do_not_quote_values(home, caplog):
    caplog.set_level(logging.ERROR)
    assert main(["sql", "SELECT CAST(name AS INTEGER) FROM gold.person", "--format", "csv"]) == 2
    assert "Conversion Error" in caplog.text
    assert all(name not in caplog.text for name in PERSONS.column("name").to_pylist())
    assert main(["sql", "SELECT CAST(person_id AS DATE) FROM gold.person", "--format", "json"]) == 2
    assert "110101199001011234" not in caplog.text and "1101011990" not in caplog.text


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "COPY (SELECT * FROM gold.person) TO 'person.csv'",
    "SET enable_external_access = true",
    "ATTACH 'other.db'",
])
def test_the_connection_reads_the_lake_only(home, sql):
    with pytest.raises(QueryError):
        result = query(open_lake(home / "lake"), sql, Role("engineer"))
        list(result.batches())
    assert not (home / "person.csv").exists() and not (home / "other.db").exists()
