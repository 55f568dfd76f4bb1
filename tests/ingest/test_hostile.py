"""Issue 13, ingestion side: rows the watermark skipped (finding 2), one bad value failing the table
(3), crash windows that duplicate (4) and concurrent extractions (5), on a small hostile source.

Each source is a real database: SQLite always, PostgreSQL and MariaDB where the behaviour depends
on the dialect (how update times compare, which bad values a column can hold).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from citylake.ingest import extract as extract_module
from citylake.ingest import governance as gov
from citylake.ingest.convert import convert_array, convert_values
from citylake.ingest.extract import ingest_table
from citylake.sources.registry import load_system

BRONZE = "bronze.toy_people"

TOY = """
system: toy
name_zh: 测试系统
name_en: Toy
owner: 测试局
connection: citylake_toy
schedule: "@daily"
tables:
  - name: people
    description: 人员
    primary_key: [id]
    load: incremental
    update_column: updated
    detect_deletes: true
{extra}"""

CREATE = {
    "sqlite": "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(40), score INTEGER, born DATE, "
              "amount NUMERIC(10, 2), updated DATETIME)",
    "postgresql": "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(40), score INTEGER, born DATE, "
                  "amount NUMERIC(10, 2), updated TIMESTAMP)",
    "mysql": "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(40), score INTEGER, born DATE, "
             "amount NUMERIC(10, 2), updated DATETIME NULL, INDEX (updated)) CHARACTER SET utf8mb4",
}


class Toy:
    """A source table ``people`` of 30 clean rows, one per second of 2026-01-01 00:00:01 … 00:00:30."""

    def __init__(self, url: str, tmp_path, extra: str = ""):
        path = tmp_path / f"toy_{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(TOY.format(extra=extra), encoding="utf-8")
        self.system = load_system(path)
        self.table = self.system.table("people")
        self.url = url
        self.engine = sa.create_engine(url)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(CREATE[self.engine.dialect.name])
            conn.exec_driver_sql("INSERT INTO people VALUES " + ", ".join(
                f"({i}, 'p{i}', {i}, '1990-01-{i:02d}', {i}.50, '2026-01-01 00:00:{i:02d}')" for i in range(1, 31)))

    def execute(self, *statements: str) -> None:
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "mysql":
                # MariaDB keeps zero and impossible dates only outside its strict modes.
                conn.exec_driver_sql("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
            for statement in statements:
                conn.exec_driver_sql(statement)

    def ingest(self, lake, batch_id: str):
        return ingest_table(self.system, self.table, batch_id, lake, self.url)

    def source_rows(self) -> int:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql("SELECT count(*) FROM people").scalar_one()


DIALECTS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres),
            pytest.param("mysql", marks=pytest.mark.mariadb)]


@pytest.fixture
def toy(databases, tmp_path) -> Iterator[Callable[..., Toy]]:
    made: list[Toy] = []

    def make(dialect: str = "sqlite", extra: str = "") -> Toy:
        made.append(Toy(databases.url(dialect, "hostile"), tmp_path, extra))
        return made[-1]

    yield make
    for t in made:
        t.engine.dispose()


def _bronze(lake, batch_id: str | None = None) -> list[dict]:
    rows = lake.read_arrow(BRONZE, filter=None if batch_id is None else pc.field("_batch_id") == batch_id)
    return sorted(rows.read_all().to_pylist(), key=lambda r: r["id"])


def _live_keys(lake) -> list[int]:
    """Keys whose latest bronze row is not a delete: one per source row when nothing is duplicated."""
    latest: dict[int, dict] = {}
    for row in lake.read_arrow(BRONZE, columns=["id", "_op", "_extracted_at"]).read_all().to_pylist():
        if row["id"] not in latest or latest[row["id"]]["_extracted_at"] <= row["_extracted_at"]:
            latest[row["id"]] = row
    return sorted(k for k, r in latest.items() if r["_op"] != "delete")


# -- finding 2: the watermark ------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_row_in_the_watermarks_own_second_is_extracted(toy, lake, dialect):
    """Second-resolution update times: a row committed after the batch with the update time of its
    newest row (the watermark) is extracted by the next batch, and nothing else is re-added."""
    t = toy(dialect, extra="    lookback_minutes: 0\n")
    first = t.ingest(lake, "b1")
    assert first.rows_written == 30 and first.watermark_after.startswith("2026-01-01T00:00:30")
    t.execute("INSERT INTO people VALUES (31, 'same second', 31, '1990-02-01', 1.00, '2026-01-01 00:00:30')")
    second = t.ingest(lake, "b2")
    assert (second.rows_written, second.inserted) == (1, 1)
    assert second.rows_unchanged == 1  # row 30, re-read at the watermark, is dropped by its hash
    assert [r["id"] for r in _bronze(lake, "b2")] == [31]
    assert t.ingest(lake, "b3").rows_written == 0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rows_without_an_update_time_reach_bronze_and_their_changes_too(toy, lake, dialect):
    t = toy(dialect)
    t.execute("UPDATE people SET updated = NULL WHERE id = 3")
    assert t.ingest(lake, "b1").rows_written == 30
    t.execute("INSERT INTO people VALUES (40, 'no time', 40, '1990-02-01', 1.00, NULL)")
    second = t.ingest(lake, "b2")
    assert (second.inserted, second.updated) == (1, 0)
    assert second.watermark_after == second.watermark_before  # a NULL never moves the watermark
    assert t.ingest(lake, "b3").rows_written == 0  # unchanged NULL-time rows are not added again
    t.execute("UPDATE people SET name = 'renamed' WHERE id = 3")
    fourth = t.ingest(lake, "b4")
    assert (fourth.inserted, fourth.updated) == (0, 1)
    assert [r["name"] for r in _bronze(lake, "b4")] == ["renamed"]
    assert _live_keys(lake) == sorted([*range(1, 31), 40])


def test_every_incremental_table_has_a_default_lookback_that_catches_late_commits(toy, lake):
    t = toy()
    assert t.table.lookback_minutes == extract_module.DEFAULT_LOOKBACK_MINUTES > 0
    t.ingest(lake, "b1")
    # A long transaction commits after the batch a change stamped before the newest row.
    t.execute("UPDATE people SET name = 'late', updated = '2025-12-31 23:40:00' WHERE id = 5")
    second = t.ingest(lake, "b2")
    assert (second.rows_written, second.updated) == (1, 1)
    assert second.watermark_after == second.watermark_before


# -- finding 3: one bad value ------------------------------------------------------------------------

def _unconverted(row: dict) -> dict | None:
    return None if row["_unconverted"] is None else json.loads(row["_unconverted"])


def test_values_that_do_not_fit_their_column_land_as_raw_text_and_the_batch_goes_through(toy, lake):
    t = toy()
    t.execute(  # SQLite keeps whatever it is given
        "UPDATE people SET name = CAST(X'E5BCA0EDA080' AS TEXT) WHERE id = 2",  # 张 + a lone surrogate
        "UPDATE people SET name = CAST(X'FF41' AS TEXT) WHERE id = 3",  # not UTF-8 at all
        "UPDATE people SET updated = 'not a date' WHERE id = 4",
        "UPDATE people SET updated = '0000-00-00 00:00:00' WHERE id = 5",
        "UPDATE people SET score = 'abc' WHERE id = 6",
        "UPDATE people SET born = '1990-02-30', amount = 'lots' WHERE id = 7",
        "UPDATE people SET score = 2.5 WHERE id = 8",  # a REAL in an INTEGER column: not truncated
    )
    first = t.ingest(lake, "b1")
    assert first.rows_written == 30
    rows = {r["id"]: r for r in _bronze(lake)}
    assert len(rows) == 30
    assert _unconverted(rows[2]) == {"name": "张\\xed\\xa0\\x80"} and rows[2]["name"] is None
    assert _unconverted(rows[3]) == {"name": "\\xffA"}
    assert _unconverted(rows[4]) == {"updated": "not a date"} and rows[4]["updated"] is None
    assert _unconverted(rows[5]) == {"updated": "0000-00-00 00:00:00"}
    assert _unconverted(rows[6]) == {"score": "abc"} and rows[6]["score"] is None
    assert _unconverted(rows[7]) == {"born": "1990-02-30", "amount": "lots"}
    assert _unconverted(rows[8]) == {"score": "2.5"} and rows[8]["score"] is None
    assert all(_unconverted(rows[i]) is None for i in (1, *range(9, 31)))
    assert rows[9]["name"] == "p9" and str(rows[9]["amount"]) == "9.50" and rows[9]["score"] == 9
    # Unconvertible update times count as NULL: they never move the watermark.
    assert first.watermark_after.startswith("2026-01-01T00:00:30")
    assert t.ingest(lake, "b2").rows_written == 0  # unchanged, though re-read
    t.execute("UPDATE people SET updated = 'still not a date' WHERE id = 4",
              "UPDATE people SET score = 'abd' WHERE id = 6")
    third = t.ingest(lake, "b3")
    assert (third.updated, third.inserted) == (2, 0)
    assert {r["id"]: _unconverted(r) for r in _bronze(lake, "b3")} == {
        4: {"updated": "still not a date"}, 6: {"score": "abd"}}
    assert "_unconverted" in extract_module.META_COLUMNS


@pytest.mark.mariadb
def test_mariadb_zero_and_impossible_dates_land_as_raw_text(toy, lake):
    t = toy("mysql")
    t.execute("UPDATE people SET updated = '0000-00-00 00:00:00' WHERE id = 4",
              "UPDATE people SET born = '1990-02-30' WHERE id = 5")
    first = t.ingest(lake, "b1")
    rows = {r["id"]: r for r in _bronze(lake)}
    assert first.rows_written == 30
    assert _unconverted(rows[4]) == {"updated": "0000-00-00 00:00:00"} and rows[4]["updated"] is None
    assert _unconverted(rows[5]) == {"born": "1990-02-30"}
    assert first.watermark_after.startswith("2026-01-01T00:00:30")
    # A row that arrives later with a zero date is read too (it counts as a NULL update time).
    t.execute("INSERT INTO people VALUES (50, 'zero', 50, '1990-01-01', 1.00, '0000-00-00 00:00:00')")
    second = t.ingest(lake, "b2")
    assert (second.inserted, second.rows_written) == (1, 1)


@pytest.mark.postgres
def test_postgres_numeric_nan_lands_as_raw_text(toy, lake):
    t = toy("postgresql")
    t.execute("UPDATE people SET amount = 'NaN' WHERE id = 4")
    assert t.ingest(lake, "b1").rows_written == 30
    rows = {r["id"]: r for r in _bronze(lake)}
    assert _unconverted(rows[4])["amount"].lower() == "nan" and rows[4]["amount"] is None
    assert _unconverted(rows[5]) is None


# -- finding 4: crash windows ------------------------------------------------------------------------

def test_a_crash_right_after_the_audit_duplicates_nothing(toy, lake, monkeypatch):
    """The old watermark write came after the audit: a crash there made the next batch re-read every
    row as an insert. The watermark is now the audit's own."""
    t = toy()
    real = gov.append

    def crash_after_audit(lake_, table, rows):
        real(lake_, table, rows)
        if table == gov.BATCH_AUDIT:
            raise RuntimeError("killed after the audit")

    monkeypatch.setattr(gov, "append", crash_after_audit)
    with pytest.raises(RuntimeError, match="killed after the audit"):
        t.ingest(lake, "b1")
    monkeypatch.undo()
    second = t.ingest(lake, "b2")  # a new run, so a new batch id
    assert second.rows_written == 0
    assert lake.row_count(BRONZE) == t.source_rows() == 30
    assert gov.last_watermark(lake, "toy", "people").startswith("2026-01-01T00:00:30")


# -- finding 5: concurrent extractions ---------------------------------------------------------------

@pytest.mark.parametrize("same_batch", [True, False], ids=["same-batch", "two-batches"])
def test_two_concurrent_extractions_of_a_table_append_once(toy, lake, same_batch):
    t = toy()
    start = threading.Barrier(2)
    results, errors = {}, []

    def run(batch_id: str) -> None:
        start.wait()
        try:
            results[batch_id + str(len(results))] = t.ingest(lake, batch_id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("b1" if same_batch else f"b{i}",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert lake.row_count(BRONZE) == 30
    audits = gov.read(lake, gov.BATCH_AUDIT, target_table=BRONZE)
    if same_batch:  # the second waited, then found the batch audited
        assert sorted(r.skipped for r in results.values()) == [False, True]
        assert len(audits) == 1 and audits[0]["rows_written"] == 30
    else:  # the second waited, then planned from what the first wrote
        assert sorted(r.rows_written for r in results.values()) == [0, 30]
        assert len(audits) == 2


def test_a_chunk_with_scattered_bad_cells_keeps_every_good_one_in_place():
    rng = random.Random(13)
    good = [f"2026-01-{1 + i % 28:02d} 00:00:{i % 60:02d}".encode() for i in range(5000)]
    values = list(good)
    bad = sorted(rng.sample(range(5000), 40))
    for i in bad:
        values[i] = rng.choice([b"not a date", b"\xff", b"0000-00-00 00:00:00", b"?"])
    array, failures = convert_values(values, pa.timestamp("us"))
    assert sorted(failures) == bad and len(array) == 5000
    expected = pa.array(good, pa.binary()).cast(pa.string()).cast(pa.timestamp("us")).to_pylist()
    assert [None if i in failures else v for i, v in enumerate(expected)] == array.to_pylist()
    assert failures[bad[0]] in ("not a date", "\\xff", "0000-00-00 00:00:00", "?")
    numbers = pa.array(["1.50" if i not in bad else "NaN" for i in range(5000)])
    array, failures = convert_array(numbers, pa.decimal128(10, 2))
    assert sorted(failures) == bad and array.null_count == 40
