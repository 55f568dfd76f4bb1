"""Table names, lake locations and backend selection."""

from __future__ import annotations

import pytest

from citylake.lake import (
    BackendUnavailableError,
    DeltaRsLake,
    DeltaSparkLake,
    InvalidTableNameError,
    TableName,
    open_lake,
)


@pytest.mark.parametrize("text", ["bronze.gongan_czrk", "silver.person", "governance.batch_audit", "gold.t2"])
def test_valid_names_parse(text):
    assert str(TableName.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    ["person", "bronze.", ".person", "a.b.c", "Bronze.person", "silver.Person", "silver.person-2",
     "_locks.x", "silver._tmp", "silver.2person", "silver.per__son", "silver.person_", "silver.人口", ""],
)
def test_invalid_names_are_refused_clearly(text):
    with pytest.raises(InvalidTableNameError, match="<layer>.<name>|snake_case"):
        TableName.parse(text)


def test_tables_live_at_root_layer_name(tmp_path):
    lake = DeltaRsLake(tmp_path)
    assert lake.table_uri("silver.person") == f"{tmp_path}/silver/person"
    assert lake.is_local


def test_root_defaults_to_citylake_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYLAKE_LAKE_ROOT", raising=False)
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path / "home"))
    assert open_lake().root == str(tmp_path / "home" / "lake")
    monkeypatch.setenv("CITYLAKE_LAKE_ROOT", "s3://bureau-lake/citylake/")
    lake = open_lake(storage_options={"AWS_REGION": "cn-north-1"})
    assert lake.table_uri("gold.person") == "s3://bureau-lake/citylake/gold/person"
    assert not lake.is_local


def test_backend_is_chosen_by_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYLAKE_LAKE_BACKEND", raising=False)
    assert type(open_lake(tmp_path)) is DeltaRsLake
    monkeypatch.setenv("CITYLAKE_LAKE_BACKEND", "delta-rs")
    assert open_lake(tmp_path).backend == "delta-rs"
    with pytest.raises(ValueError, match="unknown lake backend"):
        open_lake(tmp_path, backend="hudi")


def test_delta_spark_backend_refuses_to_start_without_delta_spark(tmp_path, monkeypatch):
    # The delta-spark package and jars are not installed here (no Maven access).
    monkeypatch.setenv("CITYLAKE_LAKE_BACKEND", "delta-spark")
    with pytest.raises(BackendUnavailableError, match="delta-spark"):
        open_lake(tmp_path)
    with pytest.raises(BackendUnavailableError, match="CITYLAKE_LAKE_BACKEND=delta-rs"):
        DeltaSparkLake(tmp_path)
