"""Fixtures of the DAG tests: an Airflow confined to temporary folders, a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from citylake.settings import Home

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry, lake root or connection from the caller's shell leaks into a test (or its Airflow child)."""
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_CITYLAKE_") or name in (
                "CITYLAKE_SOURCES", "CITYLAKE_CONFIG", "CITYLAKE_LAKE_ROOT", "CITYLAKE_LAKE_BACKEND"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Configure Airflow for this test process before it is first imported.

    Airflow reads its configuration once, at import, and creates ``$AIRFLOW_HOME/logs`` then: without
    this, parsing a DAG file in a test would write to ``~/airflow``.
    """
    folder = tmp_path_factory.mktemp("airflow")
    settings = {
        "AIRFLOW_HOME": str(folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{folder / 'airflow.db'}",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in settings.items():
            patch.setenv(name, value)
        yield folder
