"""Source references in the libraries' YAML (``<system>.<TABLE>[@<role>]``: a registry table, or one
role of it), checked against the source registry, and the rank of a record's source in a priority
list. Used by the source priorities (``citylake.jobs.person.golden``, ``citylake.jobs.enterprise.golden``)
and the profile parts (``citylake.jobs.profile_parts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from citylake.sources.registry import SourceSystem, SourceTable

if TYPE_CHECKING:
    from pyspark.sql import Column


def registry_tables(registry: Mapping[str, SourceSystem]) -> dict[str, SourceTable]:
    """Every registry table by its ``<system>.<TABLE>`` name."""
    return {f"{code}.{t.name}": t for code, s in registry.items() for t in s.tables}


def checked_sources(where: str, sources: object, tables: Mapping[str, SourceTable],
                    error: type[ValueError]) -> tuple[str, ...]:
    """``sources`` (a non-empty YAML list of references) as a tuple, or ``error`` naming ``where``."""
    if not isinstance(sources, list) or not sources:
        raise error(f"{where}: expected a list of <system>.<TABLE>[@<role>]")
    for source in sources:
        table, _, role = str(source).partition("@")
        if table not in tables:
            raise error(f"{where}: {source}: no such table in the source registry")
        roles = {r for _, _, r in tables[table].mapped_columns()}
        if role and role not in roles:
            raise error(f"{where}: {source}: the table has no role '{role}' (it has {sorted(roles)})")
    return tuple(str(s) for s in sources)


def matches(source: str) -> Column:
    """Whether a record (``source_table``, ``role`` columns) comes from the referenced source."""
    from pyspark.sql import functions as F

    table, _, role = source.partition("@")
    match = F.col("source_table") == table
    return match & (F.col("role") == role) if role else match


def rank(sources: tuple[str, ...]) -> Column:
    """The rank of a record's source in ``sources`` (0 = the first, the authority; unlisted last)."""
    from pyspark.sql import functions as F

    expression = F.lit(len(sources))
    for i, source in reversed(list(enumerate(sources))):
        expression = F.when(matches(source), F.lit(i)).otherwise(expression)
    return expression
