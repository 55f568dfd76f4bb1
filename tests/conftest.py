"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.servers import ScratchDatabases


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local SparkSession for the whole test run, started only if a test asks for it.

    Starting Spark takes several seconds, so sessions are shared; settings come from
    ``citylake.lake.spark.get_spark`` (UTC, TIMESTAMP_MICROS Parquet) tuned for 2 small cores.
    """
    from citylake.lake.spark import get_spark

    session = get_spark(
        "citylake-tests",
        master="local[2]",
        conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "2",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.driver.memory": "1g",
        },
    )
    yield session
    session.stop()


@pytest.fixture
def databases(tmp_path) -> Iterator[ScratchDatabases]:
    """``databases.url(dialect)``: a fresh database on the real PostgreSQL or MariaDB server (or a
    SQLite file), dropped after the test (``tests.servers``)."""
    from tests.servers import ScratchDatabases

    scratch = ScratchDatabases(tmp_path)
    yield scratch
    scratch.drop_all()
