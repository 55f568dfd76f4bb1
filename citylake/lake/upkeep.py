"""Lake upkeep (湖表维护): compaction, vacuum and log cleanup of every Delta table.

Every batch appends a few small files to its bronze, silver and governance tables and one commit
to their logs; without upkeep a table read by every round (``governance.batch_audit``) gets slower
with each day of history. :func:`maintain_table` does, under the table's writer lock:

1. **compact** (delta-rs ``optimize.compact``) when at least ``min_small_files`` files are smaller
   than half of ``target_file_mb``: rows unchanged, fewer and larger files;
2. **vacuum** the files that no version younger than ``retention_hours`` references (and orphans
   of failed writes older than it), so time travel within the retention keeps working;
3. **checkpoint** the log and drop log entries older than ``log_retention_hours``.

The policy is configuration (``citylake/lake/upkeep.yaml``: defaults, per layer, per table),
validated on load. Run by the ``maintain_lake`` DAG (citylake.orchestration.upkeep_dags) and by
``citylake lake maintain``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from citylake.config_files import resolve
from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import read_yaml
from citylake.lake.delta_rs import DeltaRsLake
from citylake.lake.names import TableName

log = logging.getLogger(__name__)

UPKEEP_FILE = Path(__file__).with_name("upkeep.yaml")
MEGABYTE = 1024 * 1024


class UpkeepOverride(ConfigModel):
    """Settings of a layer or a table that differ from the defaults (any subset)."""

    target_file_mb: int | None = Field(None, gt=0, description="size of the files compaction writes, in MiB")
    min_small_files: int | None = Field(None, ge=2, description="compact once this many files are under half "
                                                                "the target size")
    retention_hours: int | None = Field(None, ge=0, description="time travel to versions younger than this "
                                                                "keeps working after a vacuum")
    log_retention_hours: int | None = Field(None, ge=0, description="commits kept in the Delta log")


class UpkeepPolicy(ConfigModel):
    """The upkeep of one table: every setting present."""

    target_file_mb: int = Field(gt=0)
    min_small_files: int = Field(ge=2)
    retention_hours: int = Field(ge=0)
    log_retention_hours: int = Field(ge=0)

    @model_validator(mode="after")
    def _log_covers_retention(self) -> UpkeepPolicy:
        if self.log_retention_hours < self.retention_hours:
            raise ValueError(f"log_retention_hours ({self.log_retention_hours}) is shorter than retention_hours "
                             f"({self.retention_hours}): versions whose files are kept could no longer be named")
        return self

    def with_override(self, override: UpkeepOverride) -> UpkeepPolicy:
        return UpkeepPolicy.model_validate({**self.model_dump(), **override.model_dump(exclude_none=True)})


class UpkeepSettings(ConfigModel):
    """``citylake/lake/upkeep.yaml``: the defaults, then overrides per layer and per table."""

    defaults: UpkeepPolicy
    layers: dict[str, UpkeepOverride] = Field(default_factory=dict)
    tables: dict[str, UpkeepOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid_names(self) -> UpkeepSettings:
        for name in self.tables:
            TableName.parse(name)  # a ValueError naming the malformed table name
        for layer in self.layers:
            self.policy_for(f"{layer}.any")  # each layer's policy must itself be valid
        return self

    def policy_for(self, table: str) -> UpkeepPolicy:
        """The policy of ``table`` (``<layer>.<name>``): defaults, then its layer's, then its own."""
        name = TableName.parse(table)
        policy = self.defaults
        for override in (self.layers.get(name.layer), self.tables.get(str(name))):
            if override is not None:
                policy = policy.with_override(override)
        return policy


def load_upkeep_settings(path: str | Path | None = None) -> UpkeepSettings:
    """The upkeep settings in ``path`` (default ``citylake/lake/upkeep.yaml``, or its override in
    ``$CITYLAKE_CONFIG/lake/upkeep.yaml``, citylake.config_files); an invalid entry is one
    :class:`~citylake.configuration.ConfigurationError` line naming the file and the entry."""
    path = path or resolve("lake/upkeep.yaml", UPKEEP_FILE)
    return validate_document(UpkeepSettings, read_yaml(path), path)


def maintain_table(lake: DeltaRsLake, table: str, policy: UpkeepPolicy, *, dry_run: bool = False) -> dict[str, Any]:
    """Compact (if enough small files), vacuum and clean the log of ``table`` by ``policy``.

    Returns what was done: files before and after, files compacted, files vacuumed, the version
    before and after. With ``dry_run`` nothing is written: the files a vacuum would remove are
    counted and ``compaction`` says "due" instead of "done".
    """
    started = time.perf_counter()
    target = policy.target_file_mb * MEGABYTE
    sizes = lake.file_sizes(table)
    small = sum(1 for size in sizes if size < target // 2)
    due = small >= policy.min_small_files
    result: dict[str, Any] = {"table": table, "version_before": lake.version(table), "files_before": len(sizes),
                              "small_files": small,
                              "compaction": ("due" if dry_run else "done") if due else "not needed"}
    if due and not dry_run:
        metrics = lake.compact(table, target_size=target, metadata={"job": "lake upkeep"})
        result["files_removed"] = int(metrics.get("numFilesRemoved", 0))
        result["files_added"] = int(metrics.get("numFilesAdded", 0))
    vacuumed = lake.vacuum(table, retention_hours=policy.retention_hours, dry_run=dry_run, full=True)
    result["vacuumed_files"] = len(vacuumed)
    if not dry_run:
        lake.cleanup_log(table, policy.log_retention_hours)
    result["version_after"] = lake.version(table)
    result["files_after"] = len(lake.file_sizes(table))
    result["seconds"] = round(time.perf_counter() - started, 3)
    log.info("lake upkeep of %s: %d → %d files, %d vacuumed%s", table, result["files_before"], result["files_after"],
             result["vacuumed_files"], " (dry run)" if dry_run else "")
    return result


def maintain_lake(lake: DeltaRsLake, settings: UpkeepSettings | None = None, *, tables: Iterable[str] | None = None,
                  dry_run: bool = False) -> list[dict[str, Any]]:
    """:func:`maintain_table` for every table of the lake (or those named in ``tables``), in name order."""
    settings = settings or load_upkeep_settings()
    names = sorted(tables) if tables is not None else lake.list_tables()
    return [maintain_table(lake, name, settings.policy_for(name), dry_run=dry_run) for name in names]
