"""Choosing the lake backend by configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from citylake.lake.delta_rs import DeltaRsLake
from citylake.lake.delta_spark import DeltaSparkLake
from citylake.lake.stats import StatsPolicy

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BACKEND_ENV = "CITYLAKE_LAKE_BACKEND"
BACKENDS: dict[str, type[DeltaRsLake]] = {"delta-rs": DeltaRsLake, "delta-spark": DeltaSparkLake}


def open_lake(
    root: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    storage_options: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
    stats_policy: StatsPolicy | None = None,
) -> DeltaRsLake:
    """The lake at ``root`` (default ``$CITYLAKE_LAKE_ROOT`` or ``$CITYLAKE_HOME/lake``).

    ``backend`` is ``"delta-rs"`` (default) or ``"delta-spark"``, else ``$CITYLAKE_LAKE_BACKEND``.
    ``spark`` lets the delta-spark backend check at once that its jars are loaded.
    ``stats_policy`` chooses the columns with statistics in the Delta log; by default the
    project's (:class:`citylake.privacy.LakeStatsPolicy`): none for personal data.
    """
    backend = backend or os.environ.get(BACKEND_ENV) or "delta-rs"
    if backend not in BACKENDS:
        raise ValueError(f"unknown lake backend {backend!r}: choose one of {sorted(BACKENDS)}")
    if stats_policy is None:
        # Imported here: the policy reads the source registry and the standards, which import the lake's names.
        from citylake.privacy import LakeStatsPolicy

        stats_policy = LakeStatsPolicy()
    if backend == "delta-spark":
        return DeltaSparkLake(root, storage_options, spark=spark, stats_policy=stats_policy)
    return DeltaRsLake(root, storage_options, stats_policy=stats_policy)
