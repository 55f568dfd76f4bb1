"""``citylake config show|check|schema``: the configuration files in use, their validation, and
their JSON Schemas (citylake.config_files). Loaders are imported when a command runs."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from citylake.config_files import CONFIG_ENV, FAMILIES, schema_path, schema_text, write_schemas


def add_parser(sub: argparse._SubParsersAction) -> None:
    config = sub.add_parser("config", help="the configuration files (配置): which are used, are they valid, "
                                           "their JSON Schemas")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    for name, text in (("show", "list the file each configuration family is read from (shipped or override)"),
                       ("check", "validate every configuration file; one line per error, exit 1 on any")):
        command = config_sub.add_parser(name, help=text)
        command.add_argument("--config-dir", metavar="DIR",
                             help=f"a configuration folder to use instead of ${CONFIG_ENV}")
    schema = config_sub.add_parser("schema", help="regenerate the JSON Schemas (schemas/json/*.schema.json) "
                                                  "from the models")
    schema.add_argument("--check", action="store_true",
                        help="write nothing: exit 1 if a checked-in schema differs from its model's")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "config_dir", None):
        folder = Path(args.config_dir)
        if not folder.is_dir():
            print(f"{folder}: not a directory")
            return 2
        os.environ[CONFIG_ENV] = str(folder.resolve())
    return {"show": _show, "check": _check, "schema": _schema}[args.config_command](args)


def _show(args: argparse.Namespace) -> int:
    folder = os.environ.get(CONFIG_ENV)
    print(f"configuration folder (${CONFIG_ENV}): {folder or 'not set'}")
    for name, family in FAMILIES.items():
        for path in family.files():
            print(f"{name:<14}{'override' if family.is_override(path) else 'shipped':<10}{path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    errors = 0
    for name, check in _checks().items():
        family = FAMILIES[name]
        problems = check(family.files())
        for line in problems:
            print(f"error  {name:<14}{line}")
        if not problems:
            print(f"ok     {name:<14}{len(family.files())} file(s)")
        errors += len(problems)
    print(f"{errors} error(s)" if errors else "every configuration file is valid")
    return 1 if errors else 0


def _each(load: Callable[[Path], object]) -> Callable[[list[Path]], list[str]]:
    """A check loading each file on its own (uncached), one line per file that does not load."""
    def check(paths: list[Path]) -> list[str]:
        problems = []
        for path in paths:
            try:
                load(path)
            except ValueError as exc:  # every loader's error is a ConfigurationError (a ValueError)
                problems.append(str(exc))
        return problems
    return check


def _checks() -> dict[str, Callable[[list[Path]], list[str]]]:
    from citylake.catalog.declarations import load_declarations
    from citylake.lake.upkeep import load_upkeep_settings
    from citylake.quality.checks import load_indicators
    from citylake.quality.cross_source import read_rules
    from citylake.schemas.standards import _load as load_standard
    from citylake.sources.registry import load_registry_report
    from citylake.synthcity.config import load_config

    def registry(paths: list[Path]) -> list[str]:
        return list(load_registry_report().broken.values())

    return {"standards": _each(load_standard), "registry": registry,
            "indicators": _each(load_indicators.__wrapped__), "cross_source": _each(read_rules),
            "catalog": _each(load_declarations), "synthcity": _each(lambda path: load_config()),
            "upkeep": _each(load_upkeep_settings)}


def _schema(args: argparse.Namespace) -> int:
    if args.check:
        stale = [name for name in FAMILIES
                 if not schema_path(name).is_file() or schema_path(name).read_text(encoding="utf-8") != schema_text(name)]
        for name in stale:
            print(f"{schema_path(name)}: differs from the model of {name} (run citylake config schema)")
        return 1 if stale else 0
    for path in write_schemas():
        print(path)
    return 0
