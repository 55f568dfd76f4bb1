"""A gate killed between any two of its commits, then rerun, leaves the tables of an undisturbed run
(issue 12, item 4).

The gate of one batch commits governance.rule_result, governance.quality_issue, silver (merge, then
the tombstones' delete), quarantine and last governance.batch_audit. The crash is injected after the
k-th commit for every k, on copies of the same lake; each crashed lake is gated again and compared
row for row (a multiset: a row written twice counts) with the lake gated once without a crash.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from citylake.ingest.extract import ingest_table
from citylake.lake import open_lake
from citylake.quality.gate import gate_batch
from citylake.sources.connections import source_url
from citylake.sources.registry import load_registry
from citylake.synthcity.advance import advance
from tests.quality.cities import city
from tests.quality.test_gate import BUSY

COMMITS = ("merge_arrow", "write_arrow", "delete")


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@pytest.fixture(scope="module")
def pending(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Copies of a lake each holding one ungated batch of 公安 CZRK: day 0's first load (rows with
    errors, to quarantine) and day 1's increment (updates and a deleted record)."""
    root = tmp_path_factory.mktemp("gate_crash")
    home, lake, _ = city(root, 800, 5, BUSY)
    system = load_registry()["gongan"]
    table = system.table("CZRK")
    out = {}
    for day in ("day0", "day1"):
        if day == "day1":
            advance(1, [home.sqlite_source_url()], home.truth)
        batch = ingest_table(system, table, f"{day}:gongan.CZRK", lake, source_url(system, home)).batch_id
        shutil.copytree(lake.root, root / day)
        gate_batch(lake, system, table, batch)
        out[day] = (root / day, batch)
    return out


def _gate(lake_root: Path, batch: str, crash_after: int | None = None) -> tuple[object, list[str]]:
    """Gate ``batch`` on ``lake_root``; with ``crash_after``, die right after that many commits."""
    lake = open_lake(lake_root)
    commits: list[str] = []
    for name in COMMITS:
        write = getattr(lake, name)

        def committing(table, *args, _write=write, _name=name, **kwargs):
            version = _write(table, *args, **kwargs)
            commits.append(f"{_name} {table}")
            if crash_after is not None and len(commits) == crash_after:
                raise Crash(commits[-1])
            return version

        setattr(lake, name, committing)
    system = load_registry()["gongan"]
    return gate_batch(lake, system, system.table("CZRK"), batch), commits


def _rows(lake_root: Path) -> dict[str, Counter]:
    """Every table's rows as a multiset, leaving out the wall-clock columns (when, not what) and the
    audit's silver version: a rerun's merge is a commit of its own, with the same rows."""
    lake = open_lake(lake_root)
    out = {}
    for name in lake.list_tables():
        data = lake.read_arrow(name).read_all()
        kept = [f.name for f in data.schema
                if not pa.types.is_timestamp(f.type) and f.name != "target_version"]
        out[name] = Counter(json.dumps(r, sort_keys=True, default=str) for r in data.select(kept).to_pylist())
    return out


@pytest.mark.parametrize("day", ["day0", "day1"])
def test_a_rerun_after_a_crash_between_any_two_commits_equals_an_undisturbed_gate(pending, tmp_path, day):
    source, batch = pending[day]
    shutil.copytree(source, tmp_path / "undisturbed")
    result, commits = _gate(tmp_path / "undisturbed", batch)
    expected = _rows(tmp_path / "undisturbed")
    # The batch exercises every kind of commit the gate makes.
    assert (result.quarantined > 0) if day == "day0" else (result.deleted > 0 and result.promoted > 0)
    assert commits[-1] == "write_arrow governance.batch_audit", commits
    for crash_after in range(1, len(commits)):
        crashed = tmp_path / f"crash_{crash_after}"
        shutil.copytree(source, crashed)
        with pytest.raises(Crash):
            _gate(crashed, batch, crash_after)
        rerun, _ = _gate(crashed, batch)
        assert not rerun.skipped, commits[crash_after - 1]
        assert (rerun.promoted, rerun.deleted, rerun.quarantined) == (
            result.promoted, result.deleted, result.quarantined), commits[crash_after - 1]
        actual = _rows(crashed)
        assert actual.keys() == expected.keys(), commits[crash_after - 1]
        for name in expected:
            assert actual[name] == expected[name], f"{name} differs after a crash after {commits[crash_after - 1]}"
