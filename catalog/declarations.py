"""The catalog's declarations (``catalog/catalog.yaml``): 资源分类, 共享属性, 开放属性, 更新周期 and
GB/T 43697 grades that the registry, the gold specs and the lake do not hold.

Vocabularies (the customer's terms):

* category — 政务信息资源目录 classes: 基础信息资源 (人口, 法人, 地址 …), 主题信息资源, 部门信息资源;
* share type — 无条件共享 / 有条件共享 / 不予共享 (政务信息资源共享), with ``share_condition`` (the
  condition, or the basis for not sharing) required unless 无条件共享;
* open type — 无条件开放 / 有条件开放 / 不予开放 (公共数据开放);
* update cycle — 实时, 每日, 每周, 每月, 每季度, 每半年, 每年, 不定期;
* grade — GB/T 43697-2024: 一般数据, 重要数据, 核心数据. An undeclared table is 一般数据 at the
  sub-level (1–4级) of its most sensitive field (the standards' sensitivity grades); 重要数据 and
  核心数据 need a ``grade_basis``.

A table's values resolve, most specific first: its own entry (``tables:`` for lake tables,
``sources.tables:`` for a registry table and so its bronze, silver and quarantine tables), its
layer (``layers:``), ``sources.defaults``. Errors name the file and the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from citylake.config_files import resolve
from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import ConfigurationError, read_yaml

CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
CATEGORIES = ("基础信息资源", "主题信息资源", "部门信息资源")
SHARE_TYPES = ("无条件共享", "有条件共享", "不予共享")
OPEN_TYPES = ("无条件开放", "有条件开放", "不予开放")
# Update cycle -> the age (days) after which a table is overdue (超期); None: no fixed cycle.
UPDATE_CYCLES: dict[str, float | None] = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季度": 92, "每半年": 183,
                                          "每年": 366, "不定期": None}
GRADES = ("一般数据", "重要数据", "核心数据")
GENERAL = GRADES[0]
# Airflow schedule presets -> update cycle, for registry tables that declare none (cron expressions
# are judged by their longest gap between runs, schedule_cycle).
SCHEDULE_CYCLES = {"@continuous": "实时", "@hourly": "实时", "@daily": "每日", "@weekly": "每周",
                   "@monthly": "每月", "@quarterly": "每季度", "@yearly": "每年", "@annually": "每年"}
class CatalogConfigError(ConfigurationError):
    """``catalog/catalog.yaml`` has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class Resolved:
    """What the declarations say of one table (None where nothing is declared)."""

    category: str
    share_type: str
    share_condition: str | None
    open_type: str
    update_cycle: str
    grade: str | None
    grade_basis: str | None
    name_zh: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Declarations:
    bureau: str
    source_defaults: dict[str, str]
    sources: dict[str, dict[str, str]]
    layers: dict[str, dict[str, str]]
    tables: dict[str, dict[str, str]]
    path: Path

    def layer(self, layer: str) -> dict[str, str]:
        if layer not in self.layers:
            raise CatalogConfigError(f"{self.path}: the lake has a layer '{layer}' that layers: does not declare; "
                                     f"add layers.{layer} with name_zh and description")
        return self.layers[layer]

    def resolve(self, where: str, *entries: dict[str, str], default_cycle: str | None = None) -> Resolved:
        """Merge ``entries`` (most specific first) into one :class:`Resolved`; ``where`` names the table."""
        merged: dict[str, str] = {}
        for entry in reversed(entries):
            merged.update(entry)
        if default_cycle and "update_cycle" not in merged:
            merged["update_cycle"] = default_cycle
        missing = [k for k in ("category", "share_type", "open_type", "update_cycle") if k not in merged]
        if missing:
            raise CatalogConfigError(f"{self.path}: {where}: no {', '.join(missing)} declared (neither for the "
                                     "table nor its layer or defaults)")
        shared = merged["share_type"]
        condition = None if shared == SHARE_TYPES[0] else merged.get("share_condition")
        if shared != SHARE_TYPES[0] and not condition:
            raise CatalogConfigError(f"{self.path}: {where}: share_type {shared} needs a share_condition")
        return Resolved(merged["category"], shared, condition, merged["open_type"], merged["update_cycle"],
                        merged.get("grade"), merged.get("grade_basis"), merged.get("name_zh"),
                        merged.get("description"))


def schedule_cycle(schedule: str) -> str | None:
    """The update cycle a registry system's schedule gives its tables: a preset's, or the shortest cycle
    covering the longest gap between a cron expression's runs over a year (None: not a schedule)."""
    if schedule in SCHEDULE_CYCLES:
        return SCHEDULE_CYCLES[schedule]
    from croniter import croniter

    if not croniter.is_valid(schedule):
        return None
    runs = croniter(schedule, datetime(2026, 1, 1, tzinfo=UTC))
    times = [runs.get_next(datetime) for _ in range(400)]
    gap = max((b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)) / 86400
    if gap <= 1 / 24:
        return "实时"
    return next((cycle for cycle, days in UPDATE_CYCLES.items() if days is not None and days >= gap and
                 cycle != "实时"), "不定期")


Text = Annotated[str, Field(min_length=1, pattern=r"\S")]


class ValueEntry(ConfigModel):
    """What may be declared of a registry table (or as the defaults of all of them)."""

    category: Literal[CATEGORIES] | None = Field(None, description="资源分类")
    share_type: Literal[SHARE_TYPES] | None = Field(None, description="共享属性")
    share_condition: Text | None = Field(None, description="the condition, or the basis for not sharing "
                                                           "(required unless 无条件共享)")
    open_type: Literal[OPEN_TYPES] | None = Field(None, description="开放属性")
    update_cycle: Literal[tuple(UPDATE_CYCLES)] | None = Field(None, description="更新周期")
    grade: Literal[GRADES] | None = Field(None, description="GB/T 43697 grade (default 一般数据 at the "
                                                             "sub-level of the most sensitive field)")
    grade_basis: Text | None = Field(None, description="why the table is 重要数据 or 核心数据")

    @model_validator(mode="after")
    def _grade_basis(self) -> ValueEntry:
        if self.grade and self.grade != GENERAL and not self.grade_basis:
            raise ValueError(f"grade {self.grade} needs a grade_basis (why the table is {self.grade})")
        if self.grade_basis and not self.grade:
            raise ValueError("grade_basis without a grade")
        return self


class TableEntry(ValueEntry):
    """A lake table's declarations; name_zh and description for a table without a spec or registry entry."""

    name_zh: Text | None = None
    description: Text | None = None


class LayerEntry(ValueEntry):
    """A lake layer: what it is, and the defaults of its tables."""

    name_zh: Text
    description: Text


class SourcesEntry(ConfigModel):
    defaults: ValueEntry = Field(default_factory=ValueEntry)
    tables: dict[Annotated[str, Field(pattern=r"^[^.]+\.[^.]+$")], ValueEntry] = Field(
        default_factory=dict, description="per registry table <system>.<TABLE>")


class CatalogFile(ConfigModel):
    """``catalog/catalog.yaml``."""

    bureau: Text = Field(description="the bureau that keeps the lake: owner of every table not a department's")
    sources: SourcesEntry = Field(default_factory=SourcesEntry)
    layers: dict[str, LayerEntry] = Field(default_factory=dict)
    tables: dict[Annotated[str, Field(pattern=r"^[^.]+\.[^.]+$")], TableEntry] = Field(
        default_factory=dict, description="per lake table <layer>.<name>")

    @model_validator(mode="after")
    def _tables_of_declared_layers(self) -> CatalogFile:
        for key in self.tables:
            if key.partition(".")[0] not in self.layers:
                raise ValueError(f"tables.{key}: name a lake table <layer>.<name> of a declared layer "
                                 f"({', '.join(self.layers)})")
        return self


def _values(entry: ConfigModel) -> dict[str, str]:
    return entry.model_dump(exclude_none=True)


def load_declarations(path: str | Path | None = None) -> Declarations:
    """The declarations in ``path`` (default ``catalog/catalog.yaml`` or its override in
    ``$CITYLAKE_CONFIG``, citylake.config_files), validated (:class:`CatalogFile`)."""
    path = Path(path or resolve("catalog/catalog.yaml", CATALOG_FILE))
    doc = validate_document(CatalogFile, read_yaml(path, CatalogConfigError), path, CatalogConfigError)
    return Declarations(doc.bureau, _values(doc.sources.defaults),
                        {key: _values(value) for key, value in doc.sources.tables.items()},
                        {key: _values(value) for key, value in doc.layers.items()},
                        {key: _values(value) for key, value in doc.tables.items()}, path)


def declarations() -> Declarations:
    """The project's declarations (``catalog/catalog.yaml``, or its override), loaded and validated once."""
    return _declarations(resolve("catalog/catalog.yaml", CATALOG_FILE))


@cache
def _declarations(path: Path) -> Declarations:
    return load_declarations(path)


def check_sources(decl: Declarations, registry_tables: set[str]) -> None:
    """Every ``sources.tables`` entry names a registry table (a typo would silently declare nothing)."""
    unknown = sorted(set(decl.sources) - registry_tables)
    if unknown:
        raise CatalogConfigError(f"{decl.path}: sources.tables {unknown} are not registry tables "
                                 f"(citylake.sources.registry); known: {', '.join(sorted(registry_tables))}")
