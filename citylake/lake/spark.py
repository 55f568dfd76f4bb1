"""The one place where citylake builds a SparkSession, so jobs and tests share its settings."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Settings every citylake session needs, whatever the master.
#: Parquet files written by Spark are committed to Delta tables by delta-rs, and Delta stores
#: timestamps as INT64 microseconds: Spark's default INT96 would not round-trip. Dates and
#: timestamps are written in the proleptic Gregorian calendar that Delta, Arrow and DuckDB use.
#: Sessions run in UTC so a timestamp means the same instant in Spark, Arrow and the Delta log.
LAKE_SPARK_CONF: Mapping[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.session.timeZone": "UTC",
}

#: Extra settings for a local session on a small machine (the embedded default and the tests). A key
#: set in ``$SPARK_CONF_DIR/spark-defaults.conf`` wins over these: a one-machine deployment with more
#: memory sets ``spark.driver.memory`` there (:func:`spark_defaults`).
LOCAL_SPARK_CONF: Mapping[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "true",
}


def spark_defaults() -> dict[str, str]:
    """The settings of ``spark-defaults.conf`` in ``$SPARK_CONF_DIR`` (else ``$SPARK_HOME/conf``), as
    Spark reads the file: a Java properties file (``java.util.Properties.load`` semantics, through
    javaproperties: separators, comments, line continuations, escapes) whose values are trimmed;
    {} when there is no such file."""
    import javaproperties

    folder = os.environ.get("SPARK_CONF_DIR") or (
        str(Path(os.environ["SPARK_HOME"]) / "conf") if os.environ.get("SPARK_HOME") else None)
    path = Path(folder) / "spark-defaults.conf" if folder else None
    if path is None or not path.is_file():
        return {}
    with path.open(encoding="utf-8") as properties:
        return {key: value.strip() for key, value in javaproperties.load(properties).items()}


def session_settings(master: str, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings :func:`get_spark` gives a session on ``master`` (see there)."""
    settings: dict[str, str] = dict(LAKE_SPARK_CONF)
    if master.startswith("local"):
        configured = spark_defaults()
        settings.update({k: v for k, v in LOCAL_SPARK_CONF.items() if k not in configured})
    settings.update(conf or {})
    return settings


def get_spark(
    app_name: str = "citylake",
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return the SparkSession for ``app_name``, creating it if needed.

    ``master`` defaults to the ``SPARK_MASTER`` environment variable, then ``local[*]``. Local
    masters get :data:`LOCAL_SPARK_CONF`, except the keys ``spark-defaults.conf`` sets
    (:func:`spark_defaults`); every session gets :data:`LAKE_SPARK_CONF`; ``conf`` overrides all.
    Settings that only apply at JVM start (driver memory) are ignored by Spark when a session
    already runs in this process.
    """
    from pyspark.sql import SparkSession

    master = master or os.environ.get("SPARK_MASTER") or "local[*]"
    settings = session_settings(master, conf)
    # Python UDFs run in workers that PySpark starts with $PYSPARK_PYTHON, else whatever
    # ``python3`` is first on the PATH: default to this interpreter (the environment citylake is in).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name).master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    log.info("starting Spark session %s on %s", app_name, master)
    return builder.getOrCreate()
