"""A gold build on a standalone Spark cluster (master + one worker started from the pyspark
install): the same code as on ``local[*]``, chosen by ``SPARK_MASTER`` alone, gives the same tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from citylake.jobs.person.build import LINK, PERSON
from tests.deploy.spark_cluster import standalone_cluster
from tests.quality.cities import city, ingest_and_gate

pytestmark = pytest.mark.slow

APP = "citylake-deploy-test"
# The driver of each build runs in its own process: one JVM per process, and the session's master
# comes from $SPARK_MASTER as in a deployment (citylake.lake.spark.get_spark).
BUILD = f"""
import json, sys
from citylake.jobs.person.build import build_person
from citylake.lake import get_spark, open_lake
spark = get_spark({APP!r})
summary = build_person(spark, open_lake(sys.argv[1]), feedback=False)
print(json.dumps({{"master": spark.sparkContext.master, "app_id": spark.sparkContext.applicationId,
                  "persons": summary["persons"]}}))
spark.stop()
"""
# What a deployment puts in $SPARK_CONF_DIR/spark-defaults.conf for this small worker.
SPARK_DEFAULTS = """\
spark.executor.memory        512m
spark.cores.max              1
spark.sql.shuffle.partitions 4
spark.default.parallelism    2
spark.ui.enabled             false
"""


def _build(home, lake_root, master: str, conf_dir) -> dict:
    env = {**os.environ, "CITYLAKE_HOME": str(home.root), "SPARK_MASTER": master,
           "PYSPARK_PYTHON": sys.executable, "SPARK_CONF_DIR": str(conf_dir)}
    # A guard against a hung application, not a performance bound: ~130 Spark stages take 35-60 s
    # on 2 idle cores and 4 minutes under a load of 16.
    done = subprocess.run([sys.executable, "-c", BUILD, str(lake_root)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rows(lake_root, table: str, key: str):
    from citylake.lake import open_lake

    frame = open_lake(lake_root).read_arrow(table).read_all().to_pandas()
    return frame.sort_values(key).reset_index(drop=True)


def test_a_gold_build_on_a_standalone_cluster_equals_the_local_build(tmp_path):
    home, lake, _ = city(tmp_path, 200, 3)
    ingest_and_gate(home, lake, "d0")
    local_lake = tmp_path / "local-lake"
    shutil.copytree(home.lake, local_lake)
    conf_dir = tmp_path / "spark-conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(SPARK_DEFAULTS, encoding="utf-8")

    started = time.perf_counter()
    local = _build(home, local_lake, "local[2]", conf_dir)
    local_seconds = time.perf_counter() - started
    with standalone_cluster(tmp_path / "spark", cores=1, memory="1g") as cluster:
        started = time.perf_counter()
        remote = _build(home, home.lake, cluster.master_url, conf_dir)
        cluster_seconds = time.perf_counter() - started
        status = cluster.status()
    print(f"build_person: local[2] {local_seconds:.1f} s, standalone cluster {cluster_seconds:.1f} s")
    assert cluster.left == [], "Spark processes left after stopping the cluster"

    assert local["master"] == "local[2]" and remote["master"] == cluster.master_url
    finished = {app["id"]: app for app in status["completedapps"]}
    assert remote["app_id"] in finished, status
    assert finished[remote["app_id"]]["name"] == APP and finished[remote["app_id"]]["state"] == "FINISHED"
    # The executors ran on the worker: it kept their logs in its work folder.
    assert (tmp_path / "spark" / "work" / remote["app_id"]).is_dir()

    assert remote["persons"] == local["persons"] > 150
    for table, key in ((PERSON, "person_id"), (LINK, "record_id")):
        cluster_rows, local_rows = _rows(home.lake, table, key), _rows(local_lake, table, key)
        assert len(cluster_rows) == len(local_rows) > 0
        assert cluster_rows.equals(local_rows), table
