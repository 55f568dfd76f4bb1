"""Which configuration file each part of citylake reads (配置文件), and the JSON Schemas of them.

citylake ships its configuration beside the code. A bureau changes it without a rebuild through a
configuration folder, ``$CITYLAKE_CONFIG``: a file there at the shipped file's relative path
(``quality/indicators.yaml``, ``schemas/standards/person.yaml``, ``synthcity/synthcity.yaml`` …, see
:data:`FAMILIES`) is read instead of the shipped one; files the folder does not hold stay shipped.
In the folders of one file per entry (the standards, the source registry) a file of a new name is
added. ``$CITYLAKE_SOURCES`` still names a whole registry directory and wins over the folder.

Every family of files has a pydantic model beside its loader; :func:`json_schema` generates the JSON
Schema an editor checks the files with (``schemas/json/<family>.schema.json``, named on each shipped
file's first line for the YAML language server). Loaders are imported only when a schema is made.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONFIG_ENV = "CITYLAKE_CONFIG"
PACKAGE = Path(__file__).parent
# The package's stage folders (citylake.schemas is schemas/ in the repository, and so on).
_STAGES = {"schemas": "citylake.schemas", "quality": "citylake.quality", "catalog": "citylake.catalog",
           "sources": "citylake.sources"}
SCHEMA_DIR_NAME = "json"


@dataclass(frozen=True)
class Family:
    """One kind of configuration file: its relative path (a folder of ``*.yaml`` when ``folder``),
    the pydantic model of one file (``module:Class``) and what it configures."""

    name: str
    relative: str
    model: str
    description: str
    folder: bool = False

    @property
    def shipped(self) -> Path:
        stage, _, rest = self.relative.partition("/")
        if stage in _STAGES:
            return Path(importlib.import_module(_STAGES[stage]).__file__).parent / rest
        return PACKAGE / self.relative

    def model_class(self) -> type:
        module, _, attr = self.model.partition(":")
        return getattr(importlib.import_module(module), attr)

    def is_override(self, path: Path) -> bool:
        """Whether ``path``, one of :meth:`files`, comes from the configuration folder (or
        ``$CITYLAKE_SOURCES``) rather than the package."""
        shipped = self.shipped.resolve()
        return (Path(path).resolve().parent if self.folder else Path(path).resolve()) != shipped

    def files(self) -> list[Path]:
        """The files this family is read from now (overrides in place of the shipped ones)."""
        if self.name == "registry":
            return registry_files()
        if self.folder:
            return folder_files(self.relative, self.shipped)
        return [resolve(self.relative, self.shipped)]


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("registry", "sources/systems", "citylake.sources.registry:SystemFile",
           "one department system of the source registry (数据源登记)", folder=True),
    Family("standards", "schemas/standards", "citylake.schemas.standards:StandardFile",
           "one entity of the data standards (数据标准)", folder=True),
    Family("indicators", "quality/indicators.yaml", "citylake.quality.checks:IndicatorsFile",
           "the quality indicators and check kinds (数据质量评价指标)"),
    Family("cross_source", "quality/cross_source.yaml", "citylake.quality.cross_source:RulesFile",
           "the cross-source consistency rules (跨源一致性规则)"),
    Family("catalog", "catalog/catalog.yaml", "citylake.catalog.declarations:CatalogFile",
           "the data resource catalog's declarations (数据资源目录)"),
    Family("synthcity", "synthcity/synthcity.yaml", "citylake.synthcity.config:SynthCityFile",
           "the synthetic city's parameters (合成城市)"),
    Family("upkeep", "lake/upkeep.yaml", "citylake.lake.upkeep:UpkeepSettings",
           "the lake upkeep policy (湖表维护)"),
)}


def config_dir() -> Path | None:
    """The configuration folder ``$CITYLAKE_CONFIG``, if set."""
    value = os.environ.get(CONFIG_ENV)
    return Path(value) if value else None


def resolve(relative: str, shipped: Path) -> Path:
    """The file read for ``relative``: ``$CITYLAKE_CONFIG/<relative>`` when that file exists, else
    ``shipped``. Cheap to call often (check kinds look their indicator up per check): one look per
    folder and file."""
    return _resolve(relative, shipped, os.environ.get(CONFIG_ENV) or "")


@cache
def _resolve(relative: str, shipped: Path, folder: str) -> Path:
    candidate = Path(folder) / relative if folder else None
    return candidate if candidate is not None and candidate.is_file() else shipped


def folder_files(relative: str, shipped: Path) -> list[Path]:
    """The ``*.yaml`` of a folder family, by file name: the shipped ones, each replaced by the
    configuration folder's file of the same name, and that folder's new names added. Listed once
    per folder (standard fields are looked up per check)."""
    return list(_folder_files(relative, shipped, os.environ.get(CONFIG_ENV) or ""))


@cache
def _folder_files(relative: str, shipped: Path, folder: str) -> tuple[Path, ...]:
    files = {p.name: p for p in shipped.glob("*.yaml")}
    if folder and (Path(folder) / relative).is_dir():
        files.update({p.name: p for p in (Path(folder) / relative).glob("*.yaml")})
    return tuple(files[name] for name in sorted(files))


def registry_files(directory: str | Path | None = None) -> list[Path]:
    """The source registry's files: ``directory``, else ``$CITYLAKE_SOURCES`` (a whole registry), else
    the shipped ``sources/systems/`` overlaid by ``$CITYLAKE_CONFIG/sources/systems/``."""
    from citylake.sources.registry import DEFAULT_REGISTRY, REGISTRY_ENV, RegistryError

    root = directory or os.environ.get(REGISTRY_ENV)
    if root:
        if not Path(root).is_dir():
            raise RegistryError(f"source registry {root} is not a directory")
        return sorted(Path(root).glob("*.yaml"))
    return folder_files(FAMILIES["registry"].relative, DEFAULT_REGISTRY)


def schema_dir() -> Path:
    """``schemas/json``: where the generated JSON Schemas are kept."""
    return FAMILIES["standards"].shipped.parent / SCHEMA_DIR_NAME


def schema_path(family: str) -> Path:
    return schema_dir() / f"{family}.schema.json"


def json_schema(family: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file of ``family``, generated from its model."""
    spec = FAMILIES[family]
    schema = spec.model_class().model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{family}.schema.json",
            "title": schema.pop("title", family), "description": spec.description, **schema}


def schema_text(family: str) -> str:
    return json.dumps(json_schema(family), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_schemas() -> list[Path]:
    """Regenerate every family's JSON Schema into :func:`schema_dir`; the paths written."""
    schema_dir().mkdir(parents=True, exist_ok=True)
    written = []
    for family in FAMILIES:
        path = schema_path(family)
        path.write_text(schema_text(family), encoding="utf-8")
        written.append(path)
    return written


def schema_header(path: Path, family: str) -> str:
    """The first line of a shipped file of ``family``: its schema for the YAML language server."""
    return f"# yaml-language-server: $schema={os.path.relpath(schema_path(family), Path(path).parent)}"
