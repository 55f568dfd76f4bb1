"""Fixtures of the fault suite: a clean environment, and ``citylake`` runs as killable processes."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry, lake root or connection from the caller's shell leaks into a run."""
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_CITYLAKE_") or name in (
                "CITYLAKE_SOURCES", "CITYLAKE_CONFIG", "CITYLAKE_LAKE_ROOT", "CITYLAKE_LAKE_BACKEND", "CITYLAKE_HOME"):
            monkeypatch.delenv(name)
