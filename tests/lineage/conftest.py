"""A tiny city run through the real DAGs (ingest_*, promote_*, build_person) with lineage on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from citylake.lake import open_lake
from citylake.orchestration.run import run_build, run_ingest, run_promote
from citylake.settings import Home
from citylake.synthcity.generate import generate

PERSONS = 150
# Three systems keep the runs short; 公安 is the authority of most attributes, 卫健 of the birth.
SYSTEMS = ("gongan", "weijian", "minzheng")
PSEUDONYM_KEY = "lineage-test-key"


@pytest.fixture(scope="module")
def built_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Home, object]]:
    """A home after one ingestion, promotion and person build, each a real dag.test() run."""
    home = Home(tmp_path_factory.mktemp("lineage-city") / "home")
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AIRFLOW_CONN_CITYLAKE_", "CITYLAKE_")):
                patch.delenv(name)
        patch.setenv("CITYLAKE_HOME", str(home.root))
        patch.setenv("CITYLAKE_PSEUDONYM_KEY", PSEUDONYM_KEY)
        patch.setenv("CITYLAKE_USER", "lineage-test")
        generate(PERSONS, 5, [home.sqlite_source_url()], home.truth)
        run_ingest(home, SYSTEMS)
        run_promote(home, SYSTEMS)
        run_build(home, ["person"])
        yield home, open_lake(Path(home.lake))
