"""The DAG files parse cleanly and fast, and the ingestion DAGs match the source registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from citylake.sources.connections import SourceConnectionError
from citylake.sources.registry import load_registry
from tests.dags.conftest import DAGS, ROOT

# The dag processor parses every DAG file again and again: a file must stay well under Airflow's
# 30 s import timeout, and a registry-driven file has no reason to take more than a moment.
PARSE_SECONDS = 2.0
HEAVY_MODULES = ("pyarrow", "pandas", "numpy", "deltalake", "pyspark", "great_expectations", "duckdb",
                 "citylake.ingest", "citylake.lake", "citylake.synthcity")


@pytest.fixture(scope="module")
def dagbag(airflow_home: Path) -> Any:
    from airflow.dag_processing.dagbag import DagBag  # after airflow_home has configured Airflow

    # Airflow 3's DagBag has no include_examples: examples are a DAG bundle of their own, off here.
    return DagBag(dag_folder=str(DAGS))


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.captured_warnings == {}


def test_dag_files_parse_fast(dagbag):
    for stat in dagbag.dagbag_stats:
        assert stat.duration < timedelta(seconds=PARSE_SECONDS), stat


def test_one_ingestion_dag_per_registry_system(dagbag):
    registry = load_registry()
    ingest = {dag_id for dag_id in dagbag.dags if dag_id.startswith("ingest_")}
    assert ingest == {f"ingest_{code}" for code in registry}
    for dag_id in ingest:
        assert dagbag.dags[dag_id].fileloc.endswith("dags/ingest.py")


def test_tasks_outlets_and_settings_follow_the_registry(dagbag):
    from airflow.sdk import Asset

    for code, system in load_registry().items():
        dag = dagbag.dags[f"ingest_{code}"]
        assert dag.schedule == system.schedule
        assert dag.catchup is False
        assert dag.max_active_runs == 1
        assert dag.start_date.year < 2026 and dag.start_date.tzinfo is not None
        assert {"citylake", "ingest", code} <= set(dag.tags)
        assert system.name_zh in dag.doc_md and system.name_en in dag.doc_md and system.owner in dag.doc_md
        expected = {f"extract_{t.lake_name}": t.bronze_name(code) for t in system.tables}
        assert {t.task_id for t in dag.tasks} == set(expected)
        for task in dag.tasks:
            bronze = expected[task.task_id]
            assert task.outlets == [Asset(name=bronze, uri=f"x-citylake://bronze/{bronze.split('.', 1)[1]}",
                                          group="bronze")]
            assert task.retries == 3
            assert task.retry_exponential_backoff > 1
            assert task.max_retry_delay is not None and task.retry_delay < task.max_retry_delay
            assert task.upstream_task_ids == set()  # tables of a system are independent


def test_every_asset_is_produced_by_exactly_one_task(dagbag):
    producers: dict[str, list[str]] = {}
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            for asset in task.outlets:
                producers.setdefault(asset.name, []).append(f"{dag.dag_id}.{task.task_id}")
    assert all(len(p) == 1 for p in producers.values()), producers


def test_dags_serialize_as_the_dag_processor_stores_them(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dagbag.dags.values():
        round_trip = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        assert {t.task_id for t in round_trip.tasks} == {t.task_id for t in dag.tasks}


def test_registry_from_another_directory(tmp_path, airflow_home):
    from citylake.orchestration.ingest_dags import build_ingest_dags
    from citylake.sources.registry import load_registry as load

    (tmp_path / "toy.yaml").write_text(TOY_SYSTEM, encoding="utf-8")
    dags = build_ingest_dags(load(tmp_path))
    assert list(dags) == ["ingest_toy"]
    assert [t.task_id for t in dags["ingest_toy"].tasks] == ["extract_people"]


def test_bronze_asset_names_and_rejects_bad_tables(airflow_home):
    from citylake.orchestration.ingest_dags import batch_id_for, bronze_asset

    asset = bronze_asset("bronze.gongan_czrk")
    assert (asset.name, asset.uri, asset.group) == ("bronze.gongan_czrk", "x-citylake://bronze/gongan_czrk", "bronze")
    with pytest.raises(ValueError):
        bronze_asset("gongan_czrk")
    assert batch_id_for("ingest_gongan", "manual__2026-01-01T00:00:00+00:00", "CZRK") == \
        "ingest_gongan/manual__2026-01-01T00:00:00+00:00/CZRK"


def test_parsing_the_dag_file_imports_nothing_heavy(tmp_path):
    """Measured in a fresh interpreter: the cost the dag processor pays for the file, and what it loads."""
    probe = f"""
import json, runpy, sys, time
import airflow.sdk
started = time.perf_counter()
names = runpy.run_path({str(DAGS / 'ingest.py')!r})
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "dags": sorted(k for k in names if k.startswith("ingest_")),
                  "heavy": [m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]}}))
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120)
    total = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["dags"] == sorted(f"ingest_{code}" for code in load_registry())
    assert report["seconds"] < PARSE_SECONDS, report
    assert total < 30, f"a fresh interpreter took {total:.1f} s to import Airflow and parse the DAG file"


def test_dag_code_passes_airflow3_lint():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "AIR3", "dags", "citylake/orchestration"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_person_is_scheduled_on_the_person_bearing_silver_tables(dagbag):
    from citylake.orchestration.person_dags import GOLD_TABLES, person_silver_tables

    dag = dagbag.dags["build_person"]
    assert dag.fileloc.endswith("dags/person.py")
    silver = person_silver_tables(load_registry())
    # Every table that maps person or party fields, and no other (shuiwu's tax returns bear none).
    assert "silver.minzheng_hydj" in silver and "silver.zrzy_bdcdj" in silver
    assert "silver.shuiwu_sb_sbxx" not in silver
    assert {a.name for a in dag.timetable.asset_condition.objects} == set(silver)
    assert [t.task_id for t in dag.tasks] == ["build"]
    assert {o.name for o in dag.get_task("build").outlets} == set(GOLD_TABLES)


TOY_SYSTEM = """
system: toy
name_zh: 玩具系统
name_en: Toy system
owner: 测试局
connection: citylake_toy
schedule: '@daily'
tables:
- name: PEOPLE
  description: 人员
  primary_key: [ID]
  load: incremental
  update_column: GXSJ
"""


def test_connection_fields_become_the_source_url_and_a_missing_one_falls_back(airflow_home, monkeypatch, tmp_path):
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from citylake.orchestration import ingest_dags

    system = load_registry()["gongan"]
    defined = {"citylake_gongan": Connection.from_uri("postgres://etl:s%40cret@db.example:5433/gongan",
                                                      conn_id="citylake_gongan")}

    def get(conn_id: str) -> Connection:
        if conn_id not in defined:
            raise AirflowNotFoundException(conn_id)
        return defined[conn_id]

    monkeypatch.setattr(Connection, "get", staticmethod(get))
    url = ingest_dags.resolve_source_url(system)
    assert url.render_as_string(hide_password=False) == "postgresql+psycopg://etl:s%40cret@db.example:5433/gongan"
    defined.clear()
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path))
    # Neither a connection nor the embedded default's file: an error naming the connection.
    with pytest.raises(SourceConnectionError, match="no Airflow connection 'citylake_gongan'"):
        ingest_dags.resolve_source_url(system)
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "gongan.db").touch()
    assert ingest_dags.resolve_source_url(system).database == str(tmp_path / "sources" / "gongan.db")


def test_the_airflow_child_is_confined_to_the_home(tmp_path):
    from citylake.orchestration.run import airflow_environment, async_metadata_url
    from citylake.settings import Home

    home = Home(tmp_path / "home")
    env = airflow_environment(home)
    assert env["AIRFLOW_HOME"] == str(home.airflow) and env["CITYLAKE_HOME"] == str(home.root)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home.airflow / 'airflow.db'}"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(DAGS)
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC" not in env
    pg = airflow_environment(home, "postgresql+psycopg://postgres@127.0.0.1:5432/meta")
    assert pg["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == "postgresql+psycopg_async://postgres@127.0.0.1:5432/meta"
    assert async_metadata_url("mysql+pymysql://root@h/af") is None
    assert "citylake.orchestration.run" in sys.modules and "airflow" not in _imported_by(
        "import citylake.orchestration.run")


def _imported_by(statement: str) -> set[str]:
    """Top-level packages a fresh interpreter holds after ``statement``."""
    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(result.stdout.split())


def test_build_address_is_scheduled_on_the_address_tables_and_the_person_library(dagbag):
    from citylake.orchestration.address_dags import GOLD_TABLES, address_silver_tables

    dag = dagbag.dags["build_address"]
    assert dag.fileloc.endswith("dags/address.py")
    silver = address_silver_tables(load_registry())
    assert {"silver.gongan_bzdz", "silver.gongan_czrk", "silver.scjg_qydj", "silver.zrzy_bdcdj"} <= set(silver)
    assert "silver.renshe_ac02" not in silver
    assert {a.name for a in dag.timetable.asset_condition.objects} == {*silver, "gold.person"}
    assert {o.name for o in dag.get_task("build").outlets} == set(GOLD_TABLES)


def test_build_catalog_runs_after_every_silver_and_gold_table_and_parses_light(dagbag, tmp_path):
    from citylake.orchestration.catalog_dags import CATALOG_TABLE, trigger_tables

    dag = dagbag.dags["build_catalog"]
    assert dag.fileloc.endswith("dags/catalog.py")
    silver = {f"silver.{code}_{t.name.lower()}" for code, s in load_registry().items() for t in s.tables}
    triggers = {a.name for a in dag.timetable.asset_condition.objects}
    assert triggers == set(trigger_tables(load_registry()))
    assert silver <= triggers and {"gold.person", "gold.standard_address", "gold.person_address"} <= triggers
    assert [t.task_id for t in dag.tasks] == ["build"]
    assert [o.name for o in dag.get_task("build").outlets] == [CATALOG_TABLE]
    probe = f"""
import json, runpy, sys
import airflow.sdk
names = runpy.run_path({str(DAGS / 'catalog.py')!r})
print(json.dumps({{"dags": sorted(k for k in names if k.startswith("build_") and not k.endswith("_dags")),
                  "heavy": [m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]}}))
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"dags": ["build_catalog"], "heavy": []}


def test_build_enterprise_is_scheduled_on_the_enterprise_tables_and_the_person_library(dagbag):
    from citylake.orchestration.enterprise_dags import GOLD_TABLES, enterprise_silver_tables

    dag = dagbag.dags["build_enterprise"]
    assert dag.fileloc.endswith("dags/enterprise.py")
    silver = enterprise_silver_tables(load_registry())
    # Every table that maps enterprise or party fields (医保's employer name too), and no other.
    assert set(silver) == {"silver.scjg_qydj", "silver.shuiwu_sb_sbxx", "silver.renshe_ac02",
                           "silver.yibao_psn_insu_d", "silver.zrzy_bdcdj"}
    assert {a.name for a in dag.timetable.asset_condition.objects} == {*silver, "gold.person"}
    assert [t.task_id for t in dag.tasks] == ["build"]
    assert {o.name for o in dag.get_task("build").outlets} == set(GOLD_TABLES)


def test_maintain_lake_runs_nightly_one_table_at_a_time(dagbag):
    from citylake.orchestration.upkeep_dags import SCHEDULE

    dag = dagbag.dags["maintain_lake"]
    assert dag.fileloc.endswith("dags/upkeep.py")
    assert dag.schedule == SCHEDULE == "0 3 * * *"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.topological_sort()] == ["tables", "maintain", "summary"]
    assert dag.get_task("maintain").max_active_tis_per_dag == 1


def test_build_data_docs_runs_on_the_validations_gx_assets_and_parses_light(dagbag, tmp_path):
    from citylake.orchestration.docs_dags import gx_tables

    dag = dagbag.dags["build_data_docs"]
    assert dag.fileloc.endswith("dags/data_docs.py")
    registry = load_registry()
    assert {a.name for a in dag.timetable.asset_condition.objects} == set(gx_tables(registry)) == {
        f"gx.{code}_{t.lake_name}" for code, s in registry.items() for t in s.tables}
    assert [t.task_id for t in dag.tasks] == ["build"]
    emitted = {o.name for d in dagbag.dags.values() if d.dag_id.startswith("promote_") for t in d.tasks
               if t.task_id.startswith("validate_") for o in t.outlets}
    assert emitted == set(gx_tables(registry))
    # The Data Docs are no longer built inside the promotion DAGs.
    assert not [d.dag_id for d in dagbag.dags.values() if d.dag_id.startswith("promote_") and "data_docs" in d.task_ids]
    probe = f"""
import json, runpy, sys
import airflow.sdk
names = runpy.run_path({str(DAGS / 'data_docs.py')!r})
print(json.dumps({{"dags": sorted(k for k in names if k.startswith("build_") and not k.endswith("_dags")),
                  "heavy": [m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]}}))
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"dags": ["build_data_docs"], "heavy": []}


def test_build_topics_is_scheduled_on_the_gold_tables_it_reads(dagbag):
    from citylake.jobs.topics.build import INPUTS, TOPIC_TABLES
    from citylake.orchestration.topics_dags import GOLD_TABLES, INPUT_TABLES

    dag = dagbag.dags["build_topics"]
    assert dag.fileloc.endswith("dags/topics.py")
    assert set(INPUT_TABLES) == set(INPUTS) and set(GOLD_TABLES) == set(TOPIC_TABLES)
    assert {a.name for a in dag.timetable.asset_condition.objects} == set(INPUT_TABLES)
    assert [t.task_id for t in dag.tasks] == ["build"]
    assert {o.name for o in dag.get_task("build").outlets} == set(GOLD_TABLES)
    assert dag.catchup is False and dag.max_active_runs == 1
