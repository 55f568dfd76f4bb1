"""Checking the configuration before a command does any work (配置校验).

citylake is configured by YAML files: the synthetic city (``citylake/synthcity/synthcity.yaml`` and
``--config``), the source registry (``sources/systems/*.yaml`` or ``$CITYLAKE_SOURCES``), the data
standards (``schemas/standards/*.yaml``), the quality indicators (``quality/indicators.yaml``), the
cross-source rules (``quality/cross_source.yaml``), the catalog's declarations
(``catalog/catalog.yaml``) and the lake upkeep (``citylake/lake/upkeep.yaml``), each overridable from
``$CITYLAKE_CONFIG`` (citylake.config_files). :func:`check_configuration` loads and validates all of them, so that a
typo stops ``citylake demo`` at once with one line naming the file and the entry, instead of failing
later inside an Airflow task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigurationError(ValueError):
    """A configuration file is unreadable, not YAML, or malformed: one line naming the file and the entry.
    Each loader's own error (citylake.sources.registry.RegistryError …) is one of these."""


class _Loader(yaml.SafeLoader):
    """Safe YAML whose timestamps stay text: the loaders parse dates themselves and name the entry,
    where PyYAML would raise a bare "month must be in 1..12"."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


def read_yaml(path: str | Path, error: type[ValueError] = ConfigurationError) -> Any:
    """The YAML document in ``path``; any failure is one ``error`` line naming the file (and the
    line and column of a syntax error)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the configuration ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise error(f"{path}: {yaml_error_line(exc)}") from None


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: "not valid YAML at line 3, column 7: <problem>"."""
    mark = getattr(exc, "problem_mark", None)
    place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
    return f"not valid YAML{place}: {problem}"


def configuration_files(registry: bool = True) -> list[Path]:
    """Every YAML file of the pipeline's configuration except the synthetic city's (and, with
    ``registry=False``, the source registry's): the files read now, overrides from
    ``$CITYLAKE_CONFIG`` in place of the shipped ones (citylake.config_files)."""
    from citylake.config_files import FAMILIES

    skip = {"synthcity"} | (set() if registry else {"registry"})
    return [path for name, family in FAMILIES.items() if name not in skip for path in family.files()]


def check_configuration(synthcity_config: str | Path | None = None, synthcity: bool = True,
                        registry: bool = True) -> None:
    """Load and validate every configuration file; raise one ``ValueError`` line naming file and entry.

    ``synthcity_config`` is the synthetic city's ``--config`` overlay (``synthcity=False``: the
    command generates nothing, skip it). ``registry=False`` leaves the source registry to the caller,
    which runs the systems that load (``citylake run``). Each file is validated by its family's model
    (citylake.config_model) and then against the others (a registry column names a standard field …).
    Loaders keep what they loaded (cached), so the check costs the later work nothing.
    """
    from citylake.catalog.classification import gold_classifications
    from citylake.catalog.declarations import declarations
    from citylake.lake.upkeep import load_upkeep_settings
    from citylake.quality.checks import indicators
    from citylake.quality.cross_source import load_rules
    from citylake.schemas.standards import standards
    from citylake.sources.registry import load_registry
    from citylake.synthcity.config import load_config

    for path in configuration_files(registry):
        read_yaml(path)
    steps = [("the data standards", standards), ("the quality indicators", indicators),
             ("the cross-source rules", load_rules), ("the gold specs (jobs/*/tables)", gold_classifications),
             ("the catalog's declarations", declarations), ("the lake upkeep", load_upkeep_settings)]
    if registry:
        steps.insert(1, ("the source registry", lambda: load_registry(strict=True)))
    if synthcity:
        steps.insert(0, (synthcity_config or "the synthetic city's configuration", lambda: load_config(synthcity_config)))
    for where, load in steps:
        try:
            load()
        except (AttributeError, TypeError, KeyError, IndexError) as exc:
            # A shape the loader did not expect (a list for a mapping …): still one line, naming the file.
            raise ConfigurationError(f"{where}: malformed entry ({type(exc).__name__}: {exc})") from None
