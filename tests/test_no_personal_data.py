"""No personal data where it must not be: a scan of a whole demo home (issue 13, must-show).

``citylake demo`` builds a home through the real path (generator, Airflow DAG runs, bronze, the
gate, GX, reports), then a department exports its feedback and disputes an issue with personal
numbers in the reason, and an analyst reads the lake as analysts do (issue 11): ``SELECT *`` of every
gold and silver table through ``citylake sql`` as CSV and JSON, a query that fails and quotes an ID
number and a mobile number, a district's 数据返还 export, and the usage report to the departments.
Every file the run wrote outside the Parquet data files (logs, Delta logs and their checkpoints,
reports, Data Docs, validations, exports, Airflow's database), everything printed on the console,
and every analyst output is scanned for valid ID numbers (GB 11643 check character right) and
mobile numbers. Left out: the department systems under ``sources/`` (the departments'
own databases) and the generator's hidden truth under ``truth/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.lake.pii_scan import Leak, find_personal_numbers

ID_OK = "11010519491231002X"  # GB 11643's own example
OUTSIDE_THE_SCAN = ("sources", "truth")


PHONE_OK = "13912345678"
PSEUDONYM_KEY = "scan-test-only-key"


def _citylake(home: Path, *args: str, timeout: int = 1500, returncode: int = 0) -> str:
    """Run ``citylake ARGS`` as a user does (``citylake.cli.main`` in its own interpreter); its console."""
    env = {**os.environ, "CITYLAKE_HOME": str(home), "CITYLAKE_PSEUDONYM_KEY": PSEUDONYM_KEY}
    result = subprocess.run([sys.executable, "-m", "citylake.cli", *args], env=env,
                            cwd=home.parent, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == returncode, result.stderr[-3000:]
    return result.stdout + result.stderr


def _analyst_outputs(home: Path, monkeypatch, capsys) -> dict[str, str]:
    """What an analyst reads (default role): ``SELECT *`` of every gold and silver table, as CSV and
    as JSON, through ``citylake sql`` in this interpreter (one import of everything for ~50 queries)."""
    from citylake.cli import main
    from citylake.lake import open_lake

    monkeypatch.setenv("CITYLAKE_HOME", str(home))
    monkeypatch.setenv("CITYLAKE_PSEUDONYM_KEY", PSEUDONYM_KEY)
    monkeypatch.setenv("CITYLAKE_USER", "analyst.scan")
    monkeypatch.delenv("CITYLAKE_ROLE", raising=False)
    tables = [t for t in open_lake(home / "lake").list_tables() if t.split(".")[0] in ("gold", "silver")]
    assert {"gold.person", "gold.person_profile", "gold.address_link", "silver.gongan_czrk"} <= set(tables), tables
    outputs = {}
    for table in tables:
        for fmt in ("csv", "json"):
            capsys.readouterr()
            assert main(["-q", "sql", f"SELECT * FROM {table}", "--format", fmt]) == 0, table
            captured = capsys.readouterr()
            outputs[f"citylake sql {table} --format {fmt}"] = captured.out + captured.err
    return outputs


def _is_data_file(path: Path, home: Path) -> bool:
    relative = path.relative_to(home)
    return relative.parts[0] == "lake" and path.suffix == ".parquet" and "_delta_log" not in relative.parts


def _scan(path: Path, home: Path) -> list[Leak]:
    where = str(path.relative_to(home))
    if path.suffix == ".parquet":  # a Delta checkpoint: the log's actions, compressed
        return find_personal_numbers(str(pq.read_table(path).to_pylist()), where)
    if zipfile.is_zipfile(path):  # an XLSX export
        with zipfile.ZipFile(path) as archive:
            return [leak for name in archive.namelist()
                    for leak in find_personal_numbers(archive.read(name).decode("utf-8", "replace"), f"{where}:{name}")]
    return find_personal_numbers(path.read_bytes().decode("utf-8", errors="replace"), where)


@pytest.mark.slow
def test_a_demo_home_holds_no_personal_numbers_outside_its_data_files(tmp_path, monkeypatch, capsys):
    from citylake.catalog.usage_report import USAGE_REPORT
    from citylake.lake import open_lake

    home = tmp_path / "home"
    console = [_citylake(home, "demo", "--persons", "1500")]

    issues = open_lake(home / "lake").read_arrow(
        "governance.quality_issue", filter=(pc.field("department") == "公安局") & (pc.field("status") == "待整改"),
        columns=["issue_id"]).read_all()
    assert issues.num_rows > 0
    issue = issues.column("issue_id")[0].as_py()
    reason = f"联系电话 +86 139-1234-5678，本人身份证 {ID_OK[:4]} {ID_OK[4:8]} {ID_OK[8:12]} {ID_OK[12:16]} {ID_OK[16:]}"
    console += [
        _citylake(home, "feedback", "dispute", issue, "--reason", reason),
        _citylake(home, "feedback", "accept", issue),
        _citylake(home, "feedback", "history", issue),
        _citylake(home, "feedback", "list", "--department", "公安局", "--limit", "50"),
        _citylake(home, "feedback", "export", "--department", "公安局", "--format", "csv", "--output",
                  f"{home}/exports/"),
        _citylake(home, "feedback", "export", "--department", "公安局", "--format", "xlsx", "--output",
                  f"{home}/exports/"),
    ]
    assert (home / "exports" / "feedback_公安局.csv").is_file() and (home / "exports" / "feedback_公安局.xlsx").is_file()

    # The analyst: every gold and silver table, a failing query quoting personal numbers, 数据返还, and
    # the usage report (which renders the department reports again, scanned with the files below).
    analyst = _analyst_outputs(home, monkeypatch, capsys)
    person = analyst["citylake sql gold.person --format csv"]
    assert person.count("\n") > 1000 and "person_id_masked" in person and "****" in person
    for i, failing in enumerate((  # a conversion error on execution, a binder error on planning
            f"SELECT CAST(name AS INTEGER) AS n FROM gold.person WHERE person_id_masked <> '{ID_OK}' "
            f"AND phone <> '{PHONE_OK}' AND {PHONE_OK} > 0",
            f"SELECT * FROM gold.person WHERE person_id_masked = '{ID_OK}' AND phone = {PHONE_OK} AND nope = '{ID_OK}'")):
        analyst[f"failing query {i}"] = _citylake(home, "sql", failing, "--format", "csv", returncode=2)
        assert "query failed" in analyst[f"failing query {i}"]
    # Parquet: the CSV export cannot write list columns yet (pyarrow: "Unsupported Type: list<…>").
    for table in ("gold.person", "gold.address_link"):
        analyst[f"export {table}"] = _citylake(home, "export", "--district", "370102", table, "--format", "parquet")
    analyst["usage report"] = _citylake(home, "usage", "report")
    usage = open_lake(home / "lake").read_arrow(USAGE_REPORT).read_all()
    assert usage.num_rows > 0 and "analyst.scan" in usage.column("user").to_pylist()
    analyst["governance.usage_report"] = str(usage.to_pylist())
    console += analyst.values()

    scanned = [p for p in sorted(home.rglob("*")) if p.is_file()
               and p.relative_to(home).parts[0] not in OUTSIDE_THE_SCAN and not _is_data_file(p, home)]
    kinds = {p.relative_to(home).parts[0] for p in scanned}
    assert {"lake", "airflow", "reports", "gx", "exports"} <= kinds, kinds
    assert any("_delta_log" in p.parts for p in scanned)
    leaks = [leak for path in scanned for leak in _scan(path, home)]
    leaks += find_personal_numbers("\n".join(console), "console")
    leaks += [leak for where, text in analyst.items() for leak in find_personal_numbers(text, where)]
    assert not leaks, f"{len(leaks)} personal numbers found:\n" + "\n".join(map(str, leaks[:40]))
