"""数据分类分级 inherited downstream: what a gold column derives from decides how sensitive it is.

GB/T 43697-2024 grades derived data by the data it comes from (Annex I) and, where a column could be
graded two ways, takes the stricter (就高从严). A gold spec column (``jobs/<library>/tables/*.yaml``,
:mod:`citylake.jobs.spec`) declares its ``classification`` (``public`` or a standard field) and may
list what its values are ``derived_from``:

* a standard field, ``person.id_number``;
* a source column, ``<system>.<TABLE>.<COLUMN>``: the standard field the source registry maps it to
  (an unmapped column is unclassified);
* another gold column, ``gold.<table>.<column>``: its own classification, resolved the same way.

The column's classification is the strictest of the declared one and everything it derives from:
unclassified (None, hidden from analysts) above any standard field, a personal field above a
non-personal one, then the higher grade, sensitive personal information above general, and a field
without a mask above one with a mask (what cannot be masked is hidden). So a nested document holding
an ID number is graded as the ID number, and a column declared ``public`` that carries a raw
address is masked as one. A column that declares neither is unclassified.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

PUBLIC = "public"


class ClassificationError(ValueError):
    """A ``derived_from`` entry names no source column or gold column, or gold columns derive in a cycle."""


def strictness(label: str | None) -> tuple:
    """Sort key of a classification: the larger, the stricter (see the module docstring)."""
    if label is None:
        return (2,)
    if label == PUBLIC:
        return (0,)
    from citylake.schemas.standards import CATEGORIES, standard_field

    sensitivity = standard_field(label.partition("@")[0]).sensitivity
    if not sensitivity.personal:
        return (0,)
    return (1, sensitivity.grade, -CATEGORIES.index(sensitivity.category), sensitivity.mask is None)


def strictest(labels: Iterable[str | None]) -> str | None:
    """The strictest of ``labels`` (the first of equals)."""
    labels = list(labels)
    return max(labels, key=strictness)


@cache
def gold_classifications(jobs_dir: Path | None = None, registry_dir: Path | None = None
                         ) -> dict[str, dict[str, str | None]]:
    """Gold table -> column -> its classification, inherited (:class:`ClassificationError` for a
    ``derived_from`` entry that names nothing, with the spec file and column)."""
    from citylake.jobs import spec as specs_module
    from citylake.sources.registry import load_registry

    specs = specs_module.all_gold_specs(jobs_dir or specs_module.JOBS_DIR)
    mapped = {f"{system.code}.{table.name}": {column: field for column, field, _ in table.mapped_columns()}
              for system in load_registry(registry_dir).values() for table in system.tables}
    columns = {(table, c.name): (spec, c) for table, spec in specs.items() for c in spec.columns}
    resolved: dict[tuple[str, str], str | None] = {}

    def resolve(key: tuple[str, str], seen: tuple[tuple[str, str], ...]) -> str | None:
        if key in resolved:
            return resolved[key]
        spec, column = columns[key]
        where = f"{spec.path}: columns.{column.name}"
        if key in seen:
            raise ClassificationError(f"{where}: derived_from runs in a cycle: "
                                      + " -> ".join(".".join(k) for k in (*seen, key)))
        labels = [column.classification] if column.classification or not column.derived_from else []
        for entry in column.derived_from:
            parts = entry.split(".")
            if len(parts) == 2:  # a standard field (checked when the spec was loaded)
                labels.append(entry)
            elif parts[0] == "gold":
                target = (f"gold.{parts[1]}", parts[2])
                if target not in columns:
                    raise ClassificationError(f"{where}: derived_from {entry!r}: no such gold column in the specs")
                labels.append(resolve(target, (*seen, key)))
            else:
                table = f"{parts[0]}.{parts[1]}"
                if table not in mapped:
                    raise ClassificationError(f"{where}: derived_from {entry!r}: no table {table} in the source "
                                              "registry")
                labels.append(mapped[table].get(parts[2]))
        resolved[key] = strictest(labels)
        return resolved[key]

    out: dict[str, dict[str, str | None]] = {}
    for key in columns:
        out.setdefault(key[0], {})[key[1]] = resolve(key, ())
    return out
