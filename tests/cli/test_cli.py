"""The console script, run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from citylake.cli import main
from citylake.lake import open_lake
from citylake.sources.registry import load_registry


def test_generate_then_advance(tmp_path, capsys):
    target = f"sqlite:///{tmp_path}/db/{{department}}.db"
    assert main(["-q", "generate", "--persons", "300", "--seed", "2", "--target", target, "--truth",
                 str(tmp_path / "truth")]) == 0
    out = capsys.readouterr().out
    assert "gongan.CZRK" in out and "synthetic city: 300 persons" in out
    assert (tmp_path / "truth" / "record_truth").is_dir()
    assert main(["-q", "generate", "--advance-days", "1", "--target", target, "--truth", str(tmp_path / "truth")]) == 0
    assert "advanced 1 day(s) to 2026-11-01" in capsys.readouterr().out


def test_generate_without_persons_or_state_fails_clearly(tmp_path, caplog):
    target = f"sqlite:///{tmp_path}/x.db"
    assert main(["generate", "--target", target, "--truth", str(tmp_path / "t")]) == 2
    assert main(["generate", "--advance-days", "1", "--target", target, "--truth", str(tmp_path / "t")]) == 2
    assert "run `citylake generate` with this --truth first" in caplog.text


@pytest.mark.slow
def test_demo_generates_and_ingests_only_under_citylake_home(tmp_path):
    home = tmp_path / "home"
    work = tmp_path / "cwd"
    work.mkdir()
    env = {**os.environ, "CITYLAKE_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "citylake.cli", "demo", "--persons", "500"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "department systems" in result.stdout
    assert list(work.iterdir()) == []
    assert "bronze.gongan_czrk" in result.stdout
    assert Path(home, "truth", "person.parquet").exists()
    lake = open_lake(home / "lake")
    for code, system in load_registry().items():
        engine = sa.create_engine(f"sqlite:///{home}/sources/{code}.db")
        with engine.connect() as conn:
            for table in system.tables:
                count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table.name))).scalar_one()
                assert lake.row_count(table.bronze_name(code)) == count, table.name
        engine.dispose()
