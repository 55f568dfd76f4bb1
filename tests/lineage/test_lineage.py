"""OpenLineage events of real DAG runs (dag.test()) on a tiny city, checked against what the lake
itself recorded (Delta history, governance.batch_audit), and citylake trace on a built person."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

import pyarrow.compute as pc
import pytest

from citylake.catalog.access import pseudonym
from citylake.catalog.lineage import column_lineage, column_origins, read_events, table_edges
from citylake.catalog.masking import mask
from citylake.cli import main
from citylake.ingest import governance as gov
from citylake.orchestration.person_dags import person_silver_tables
from citylake.sources.registry import load_registry
from tests.lineage.conftest import PSEUDONYM_KEY, SYSTEMS

pytestmark = pytest.mark.slow


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _runs(home) -> dict[str, dict[str, dict]]:
    """runId -> eventType -> event."""
    runs: dict[str, dict[str, dict]] = defaultdict(dict)
    for event in read_events(home):
        runs[event["run"]["runId"]][event["eventType"]] = event
    return runs


def _commits(lake) -> list[tuple[str, int, datetime]]:
    """(table, version, commit time) of every commit of every lake table."""
    out = []
    for table in lake.list_tables():
        for commit in lake.history(table):
            out.append((table, commit["version"], datetime.fromtimestamp(commit["timestamp"] / 1000, UTC)))
    return out


def test_every_dag_and_task_run_has_start_and_complete(built_city):
    home, _ = built_city
    runs = _runs(home)
    dag_runs = {run_id: e for run_id, e in runs.items() if "." not in next(iter(e.values()))["job"]["name"]}
    dag_jobs = {next(iter(e.values()))["job"]["name"] for e in dag_runs.values()}
    assert dag_jobs == {*(f"ingest_{c}" for c in SYSTEMS), *(f"promote_{c}" for c in SYSTEMS), "build_data_docs",
                        "build_person"}
    for events in runs.values():
        assert set(events) == {"START", "COMPLETE"}, events.keys()
        start, complete = events["START"], events["COMPLETE"]
        assert start["job"] == {**complete["job"]} and start["job"]["namespace"] == "citylake"
        assert start["eventTime"] <= complete["eventTime"]
        if "." in start["job"]["name"]:  # a task run: {dag_id}.{task_id}, its DAG run as parent
            parent = complete["run"]["facets"]["parent"]
            assert parent["run"]["runId"] in dag_runs
            assert start["job"]["name"].startswith(parent["job"]["name"] + ".")


def test_outputs_are_the_commits_of_the_run_and_inputs_what_it_read(built_city):
    home, lake = built_city
    commits = _commits(lake)
    audits = gov.read(lake, gov.BATCH_AUDIT)
    registry = load_registry()
    checked = 0
    for events in _runs(home).values():
        start, complete = events["START"], events["COMPLETE"]
        if "." not in start["job"]["name"]:
            assert complete["inputs"] == complete["outputs"] == []
            continue
        begin, end = _time(start["eventTime"]), _time(complete["eventTime"])
        window = {(t, v) for t, v, at in commits if begin <= at <= end}
        outputs = {(d["facets"]["symlinks"]["identifiers"][0]["name"], int(d["facets"]["version"]["datasetVersion"]))
                   for d in complete["outputs"]}
        # dag.test() runs one task at a time: the commits inside a task's window are its own.
        assert {t for t, _ in outputs} == {t for t, _ in window}, start["job"]["name"]
        assert outputs <= window
        inputs = {d["facets"]["symlinks"]["identifiers"][0]["name"] for d in complete["inputs"]}
        for audit in audits:
            if not begin <= audit["committed_at"] <= end:
                continue
            checked += 1
            assert audit["target_table"] in {t for t, _ in outputs}
            if audit["stage"] == "extract" and audit["rows_written"]:
                assert f"{audit['system']}.{audit['source_table']}" in inputs
            if audit["stage"] == "gate":
                assert f"bronze.{audit['system']}_{audit['source_table'].lower()}" in inputs
        if start["job"]["name"] == "build_person.build":
            present = set(lake.list_tables())
            layers = {t.replace("silver.", "quarantine.") for t in person_silver_tables(registry)}
            expected = (set(person_silver_tables(registry)) | layers) & present
            assert expected <= inputs
            assert {t for t, _ in outputs} >= {"gold.person", "gold.person_source_link"}
    extracted = [a for a in audits if a["stage"] == "extract"]
    assert checked == len(audits) and len(extracted) == sum(len(registry[c].tables) for c in SYSTEMS)


def test_department_tables_are_named_by_their_database(built_city):
    home, _ = built_city
    registry = load_registry()
    sources = {}
    for event in read_events(home):
        for d in event.get("inputs") or []:
            if d["namespace"].startswith("sqlite://"):
                sources[d["facets"]["symlinks"]["identifiers"][0]["name"]] = (d["namespace"], d["name"])
    assert set(sources) == {f"{c}.{t.name}" for c in SYSTEMS for t in registry[c].tables}
    for catalog_id, (namespace, name) in sources.items():
        code, _, table = catalog_id.partition(".")
        assert namespace == f"sqlite://{home.sources.resolve() / code}.db" and name == table


def test_table_edges_follow_the_flow(built_city):
    home, _ = built_city
    edges = table_edges(home)
    assert all(e.run_id and e.event_time and (e.inputs or e.outputs) for e in edges)
    extract = next(e for e in edges if e.job == "ingest_gongan.extract_czrk")
    assert "gongan.CZRK" in extract.inputs and "bronze.gongan_czrk" in extract.outputs
    gate = next(e for e in edges if e.job == "promote_gongan.gate_czrk")
    assert "bronze.gongan_czrk" in gate.inputs and "silver.gongan_czrk" in gate.outputs
    build = next(e for e in edges if e.job == "build_person.build")
    assert "silver.gongan_czrk" in build.inputs and "gold.person" in build.outputs
    assert "gold.person" not in build.inputs  # read back after its own commit: not its own upstream


def test_column_lineage_of_a_gold_attribute_reaches_the_registry_source_column(built_city):
    home, _ = built_city
    czrk = load_registry()["gongan"].table("CZRK")
    name_column = next(c for c, standard, _ in czrk.mapped_columns() if standard == "person.name")
    assert ("silver.gongan_czrk", name_column) in column_lineage(home, "gold.person")["name"]
    assert ("gongan.CZRK", name_column) in column_origins(home, "gold.person", "name")
    assert column_lineage(home, "bronze.gongan_czrk")[name_column] == [("gongan.CZRK", name_column)]


def _authority_person(lake) -> dict:
    """A gold.person whose name came from 公安 CZRK."""
    rows = lake.read_arrow("gold.person", columns=["person_id", "name", "provenance"]).read_all().to_pylist()
    return next(r for r in rows if dict(r["provenance"]).get("name", {}).get("source_table") == "gongan.CZRK")


def _access_log(lake) -> list[dict]:
    """The trace reads in the access log, oldest first."""
    rows = lake.read_arrow("governance.access_log", filter=pc.field("interface") == "citylake trace").read_all()
    return sorted(rows.to_pylist(), key=lambda r: r["accessed_at"])


def test_trace_a_person_attribute_to_the_department_record_and_batch(built_city, capsys):
    home, lake = built_city
    person = _authority_person(lake)
    origin = dict(person["provenance"])["name"]
    assert main(["trace", "gold.person", person["person_id"], "--column", "name", "--format", "json",
                 "--role", "engineer"]) == 0
    result = json.loads(capsys.readouterr().out)
    (traced,) = result["origins"]
    czrk = load_registry()["gongan"].table("CZRK")
    key = czrk.primary_key[0]
    assert traced["department"]["system"] == "gongan" and traced["department"]["table"] == "CZRK"
    assert traced["department"]["record_key"] == {key: origin["record_key"]}
    assert traced["department"]["column"] == next(c for c, s, _ in czrk.mapped_columns() if s == "person.name")
    assert traced["batch_id"] == origin["batch_id"]
    audit = next(a for a in gov.read(lake, gov.BATCH_AUDIT, batch_id=origin["batch_id"]) if a["stage"] == "extract")
    bronze = next(s for s in traced["steps"] if s["layer"] == "bronze")
    assert bronze["delta_version"] == audit["target_version"] == traced["audit"]["extract"]["delta_version"]
    assert bronze["written_by"]["job"] == "ingest_gongan.extract_czrk"
    silver = next(s for s in traced["steps"] if s["layer"] in ("silver", "quarantine"))
    assert silver["value"] == person["name"] == result["row"]["name"]
    log = _access_log(lake)[-1]
    assert log["role"] == "engineer" and log["outcome"] == "ok" and "gold.person" in log["tables"]
    # The text form names the same record.
    assert main(["trace", "gold.person", person["person_id"], "--role", "engineer"]) == 0
    text = capsys.readouterr().out
    assert f"record {key}={origin['record_key']}" in text and origin["batch_id"] in text


def test_trace_as_analyst_is_masked_and_logged(built_city, capsys, caplog):
    home, lake = built_city
    person = _authority_person(lake)
    assert main(["trace", "gold.person", pseudonym(PSEUDONYM_KEY.encode(), person["person_id"]), "--format", "json",
                 "--role", "analyst"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert person["person_id"] not in out and person["name"] not in out
    assert result["row"]["name"] == mask("person.name", person["name"])
    assert result["row"]["person_id"] == pseudonym(PSEUDONYM_KEY.encode(), person["person_id"])
    name_origin = next(o for o in result["origins"] if o["attribute"] == "name")
    assert next(s for s in name_origin["steps"] if s["layer"] == "silver")["value"] == mask("person.name",
                                                                                            person["name"])
    log = _access_log(lake)[-1]
    assert log["role"] == "analyst" and log["outcome"] == "ok" and log["rows"] == 1 + len(result["origins"])
    # A raw ID number is no key for an analyst (the view shows pseudonyms), and the error quotes nothing.
    assert main(["trace", "gold.person", person["person_id"], "--role", "analyst"]) == 2
    assert "no row of gold.person" in caplog.text and person["person_id"] not in caplog.text


def test_a_department_may_not_trace_gold_and_the_refusal_is_logged(built_city, caplog):
    home, lake = built_city
    person = _authority_person(lake)
    assert main(["trace", "gold.person", person["person_id"], "--role", "department:gongan"]) == 2
    assert "may not read gold.person" in caplog.text and person["person_id"] not in caplog.text
    assert _access_log(lake)[-1]["outcome"] == "refused"


def test_trace_a_silver_row_to_its_bronze_batch_and_source(built_city, capsys):
    home, lake = built_city
    czrk = load_registry()["gongan"].table("CZRK")
    key = czrk.primary_key[0]
    row = lake.read_arrow("silver.gongan_czrk", columns=[key, "_batch_id"]).read_all().slice(0, 1).to_pylist()[0]
    assert main(["trace", "silver.gongan_czrk", str(row[key]), "--format", "json", "--role", "department:gongan"]) == 0
    (origin,) = json.loads(capsys.readouterr().out)["origins"]
    assert origin["batch_id"] == row["_batch_id"]
    assert origin["department"]["record_key"] == {key: str(row[key])}
    assert origin["audit"]["gate"]["written_by"]["job"] == "promote_gongan.gate_czrk"
    assert [s["layer"] for s in origin["steps"]] == ["silver", "bronze"]
