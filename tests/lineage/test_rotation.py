"""The lineage event file rotates at its size limit and readers still see every event in order
(citylake.lineage.events, citylake.catalog.lineage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from citylake.catalog.lineage import read_events
from citylake.lineage.events import PRODUCER, ROTATE_ENV, emit, events_path, run_uuid
from citylake.settings import Home


def test_events_rotate_and_read_back_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv(ROTATE_ENV, "0.001")  # about 1 kB: a few events a file
    home = Home(tmp_path)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    written = []
    for i in range(12):
        moment = start + timedelta(minutes=i)
        event = RunEvent(eventType=RunState.COMPLETE, eventTime=moment.isoformat(),
                         run=Run(runId=run_uuid(moment, "ingest_gongan", i)),
                         job=Job(namespace="citylake", name=f"ingest_gongan.extract_{i}"), producer=PRODUCER)
        emit([event], home)
        written.append(event.job.name)
    files = sorted(p.name for p in events_path(home).parent.glob("*.jsonl"))
    assert len(files) > 2 and files[-1] == "events.jsonl"
    assert all(p.stat().st_size < 2048 for p in events_path(home).parent.glob("events-*.jsonl"))
    assert [e["job"]["name"] for e in read_events(home)] == written


def test_no_rotation_below_the_limit(tmp_path):
    home = Home(tmp_path)
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(3):
        emit([RunEvent(eventType=RunState.START, eventTime=moment.isoformat(), run=Run(runId=run_uuid(moment, i)),
                       job=Job(namespace="citylake", name="build_person"), producer=PRODUCER)], home)
    assert [p.name for p in events_path(home).parent.glob("*.jsonl")] == ["events.jsonl"]
    assert len(list(read_events(home))) == 3
