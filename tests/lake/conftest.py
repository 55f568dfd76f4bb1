"""Fixtures for the lake I/O tests."""

from __future__ import annotations

import pytest

from citylake.lake import DeltaRsLake


@pytest.fixture
def lake(tmp_path) -> DeltaRsLake:
    return DeltaRsLake(tmp_path / "lake")
