from __future__ import annotations

import pytest

from citylake.lake import open_lake
from citylake.settings import Home


@pytest.fixture
def home(tmp_path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def lake(home):
    return open_lake(home.lake)
