"""The console script, run as a user runs it."""

from __future__ import annotations

import logging
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
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "department systems" in result.stdout
    assert list(work.iterdir()) == []
    assert "bronze.gongan_czrk" in result.stdout
    # The demo ends with the theme libraries, the legal-entity library last.
    assert result.stdout.index("legal-entity library (法人库)") > result.stdout.index("population library (人口库)")
    assert Path(home, "truth", "person.parquet").exists()
    lake = open_lake(home / "lake")
    for code, system in load_registry().items():
        engine = sa.create_engine(f"sqlite:///{home}/sources/{code}.db")
        with engine.connect() as conn:
            for table in system.tables:
                count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table.name))).scalar_one()
                assert lake.row_count(table.bronze_name(code)) == count, table.name
        engine.dispose()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_a_config_with_a_yaml_syntax_error_is_one_line_through_the_console_script(tmp_path):
    config = tmp_path / "city.yaml"
    config.write_text("defects:\n  gongan.CZRK:\n    GMSFHM: {bad_check_digit: 0.1\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "citylake.cli", "generate", "--persons", "100", "--target",
                             f"sqlite:///{tmp_path}/x.db", "--truth", str(tmp_path / "t"), "--config", str(config)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "CITYLAKE_HOME": str(tmp_path)})
    assert result.returncode == 2
    lines = _error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert f"{config}: not valid YAML at line 4, column 1" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "t").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("defects:\n  gongan.CZRK:\n    GMSFHM: 0.5\n", "defects.gongan.CZRK.GMSFHM: Input should be a valid dictionary"),
    ("as_of: 2026-13-45\n", "as_of: expected a date like 2026-10-31, got '2026-13-45' (month must be in 1..12)"),
])
def test_malformed_config_entries_exit_2_naming_file_and_entry(tmp_path, caplog, text, message):
    config = tmp_path / "city.yaml"
    config.write_text(text, encoding="utf-8")
    for advance in ([], ["--advance-days", "1"]):
        caplog.clear()
        assert main(["generate", "--persons", "100", *advance, "--target", f"sqlite:///{tmp_path}/x.db", "--truth",
                     str(tmp_path / "t"), "--config", str(config)]) == 2
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [f"{config}: {message}, got 0.5" if "0.5" in text
                                                             else f"{config}: {message}"]
    assert not (tmp_path / "t").exists()


def test_demo_checks_every_configuration_before_generating(tmp_path, monkeypatch, caplog):
    registry = tmp_path / "systems"
    registry.mkdir()
    for path in Path(load_registry.__globals__["DEFAULT_REGISTRY"]).glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "gongan.yaml":
            text = text.replace("primary_key:", "primary_ky:", 1)
        (registry / path.name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("CITYLAKE_SOURCES", str(registry))
    monkeypatch.setenv("CITYLAKE_HOME", str(tmp_path / "home"))
    assert main(["demo", "--persons", "100"]) == 2
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert f"{registry / 'gongan.yaml'}: tables[0]" in lines[0] and "unknown entries ['primary_ky']" in lines[0]
    assert not (tmp_path / "home").exists()  # nothing generated, nothing written

    (registry / "gongan.yaml").write_text("system: gongan\ntables: [\n", encoding="utf-8")
    caplog.clear()
    assert main(["demo", "--persons", "100"]) == 2
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and f"{registry / 'gongan.yaml'}: not valid YAML at line 3" in lines[0]
