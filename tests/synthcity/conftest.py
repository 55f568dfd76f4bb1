from __future__ import annotations

import pytest

from tests.synthcity.cities import City, make_city


@pytest.fixture(scope="session")
def small_city(tmp_path_factory) -> City:
    """One generated city shared by the read-only generator tests."""
    return make_city(tmp_path_factory.mktemp("small_city"))
