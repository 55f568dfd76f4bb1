"""The incremental population-library build (citylake.jobs.person.incremental) for real: a small
generated city built on day 0, one more day of department changes gated, an incremental build, and
every gold table equal to a full rebuild's."""

from __future__ import annotations

import pytest
from pyspark.testing import assertDataFrameEqual

from citylake.jobs.person.build import CONFLICT, HOUSEHOLD, LINK, PERSON, PROFILE, build_person
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from tests.quality.cities import city, ingest_and_gate

GOLD = (PERSON, LINK, CONFLICT, PROFILE, HOUSEHOLD)


def _same_tables(spark, lake, left: dict[str, int], right: dict[str, int]) -> None:
    for table in GOLD:
        assertDataFrameEqual(lake.read_spark(spark, table, left[table]), lake.read_spark(spark, table, right[table]))


@pytest.mark.slow
def test_an_incremental_build_after_one_day_gives_the_full_rebuilds_tables(tmp_path, spark):
    home, lake, config = city(tmp_path, 250, 5)
    registry = load_registry()
    ingest_and_gate(home, lake, "d0")
    first = build_person(spark, lake, registry, feedback=False)
    assert first["mode"] == "full"
    advance(1, [home.sqlite_source_url()], home.truth, config_path=str(config))
    ingest_and_gate(home, lake, "d1")

    # A build that dies after its first two table commits (the process killed, say) leaves them
    # written; the next build must recompute from the last complete build's versions.
    real_replace = lake.replace_spark
    commits = []

    def dying_replace(*args, **kwargs):
        if len(commits) == 2:
            raise KeyboardInterrupt("the build process dies")
        commits.append(real_replace(*args, **kwargs))
        return commits[-1]

    lake.replace_spark = dying_replace
    with pytest.raises(KeyboardInterrupt):
        build_person(spark, lake, registry, feedback=False)
    del lake.replace_spark
    assert len(commits) == 2

    incremental = build_person(spark, lake, registry, feedback=False)
    assert incremental["mode"] == "incremental"
    assert 0 < incremental["touched_persons"] < first["persons"]
    full = build_person(spark, lake, registry, feedback=False, full=True)
    assert full["mode"] == "full"
    _same_tables(spark, lake, incremental["versions"], full["versions"])
