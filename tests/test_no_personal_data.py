"""No personal data where it must not be: a scan of a whole demo home (issue 13, must-show).

``citylake demo`` builds a home through the real path (generator, Airflow DAG runs, bronze, the
gate, GX, reports), then a department exports its feedback and disputes an issue with personal
numbers in the reason. Every file the run wrote outside the Parquet data files (logs, Delta logs
and their checkpoints, reports, Data Docs, validations, exports, Airflow's database), and
everything printed on the console, is scanned for valid ID numbers (GB 11643 check character
right) and mobile numbers. Left out: the department systems under ``sources/`` (the departments'
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


def _citylake(home: Path, *args: str, timeout: int = 1500) -> str:
    """Run ``citylake ARGS`` as a user does (``citylake.cli.main`` in its own interpreter); its console."""
    result = subprocess.run([sys.executable, "-m", "citylake.cli", *args], env={**os.environ, "CITYLAKE_HOME": str(home)},
                            cwd=home.parent, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


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
def test_a_demo_home_holds_no_personal_numbers_outside_its_data_files(tmp_path):
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

    scanned = [p for p in sorted(home.rglob("*")) if p.is_file()
               and p.relative_to(home).parts[0] not in OUTSIDE_THE_SCAN and not _is_data_file(p, home)]
    kinds = {p.relative_to(home).parts[0] for p in scanned}
    assert {"lake", "airflow", "reports", "gx", "exports"} <= kinds, kinds
    assert any("_delta_log" in p.parts for p in scanned)
    leaks = [leak for path in scanned for leak in _scan(path, home)]
    leaks += find_personal_numbers("\n".join(console), "console")
    assert not leaks, f"{len(leaks)} personal numbers found:\n" + "\n".join(map(str, leaks[:40]))
