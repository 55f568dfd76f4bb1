"""Lake tables, whether committed from Arrow or from Spark, are readable by every engine analysts use."""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable, QueryBuilder
from lake_samples import PEOPLE_SCHEMA, people, sorted_rows

from citylake.lake import DeltaRsLake
from citylake.lake.table_schema import arrow_to_spark_schema

EXPECTED = sorted_rows(people(range(12)))


@pytest.fixture(scope="module", params=["arrow", "spark"])
def written(request, tmp_path_factory) -> tuple[DeltaRsLake, str]:
    """A partitioned table (Chinese partition values) written through Arrow or through Spark."""
    lake = DeltaRsLake(tmp_path_factory.mktemp("readers") / "lake")
    if request.param == "arrow":
        lake.write_arrow("silver.person", people(range(8)), partition_by=["district"])
        lake.write_arrow("silver.person", people(range(8, 12)))
    else:
        spark = request.getfixturevalue("spark")
        schema = arrow_to_spark_schema(PEOPLE_SCHEMA)
        lake.write_spark(spark.createDataFrame(people(range(8)).to_pylist(), schema), "silver.person",
                         partition_by=["district"])
        lake.write_spark(spark.createDataFrame(people(range(8, 12)).to_pylist(), schema), "silver.person")
    return lake, lake.table_uri("silver.person")


def test_readable_by_deltalake(written):
    _, uri = written
    table = DeltaTable(uri)
    assert table.version() == 1
    result = QueryBuilder().register("person", table).execute("SELECT * FROM person").read_all()
    assert sorted_rows(pa.table(result).cast(PEOPLE_SCHEMA)) == EXPECTED


def test_readable_by_duckdb(written):
    lake, _ = written
    con = duckdb.connect()
    con.register("person", lake.dataset("silver.person"))
    assert sorted_rows(con.sql("SELECT * FROM person").to_arrow_table()) == EXPECTED
    counts = dict(con.sql("SELECT district, count(*) FROM person GROUP BY district").fetchall())
    assert counts == {"历下区": 6, "市中区": 6}


def test_readable_by_polars(written):
    _, uri = written
    assert sorted_rows(pl.read_delta(uri).to_arrow().cast(PEOPLE_SCHEMA)) == EXPECTED
    scanned = pl.scan_delta(uri).filter(pl.col("district") == "历下区").select("person_id").collect()
    assert sorted(scanned["person_id"].to_list()) == [1, 3, 5, 7, 9, 11]
