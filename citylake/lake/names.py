"""Lake table names: ``<layer>.<name>``, e.g. ``bronze.gongan_czrk`` or ``governance.batch_audit``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from citylake.lake.errors import InvalidTableNameError

# Lowercase snake_case starting with a letter: safe as a folder name on every object store, as a
# SQL identifier without quoting, and never clashing with the lake's own ``_locks`` folder.
_PART = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


@dataclass(frozen=True, order=True)
class TableName:
    """A validated lake table name."""

    layer: str
    name: str

    def __post_init__(self) -> None:
        for label, part in (("layer", self.layer), ("name", self.name)):
            if not isinstance(part, str) or not _PART.fullmatch(part):
                raise InvalidTableNameError(
                    f"invalid table {label} {part!r}: lake tables are named <layer>.<name>, both in "
                    "lowercase snake_case starting with a letter (e.g. 'bronze.gongan_czrk')"
                )

    @classmethod
    def parse(cls, table: str | TableName) -> TableName:
        """Parse ``"layer.name"`` (or pass a :class:`TableName` through)."""
        if isinstance(table, TableName):
            return table
        if not isinstance(table, str) or table.count(".") != 1:
            raise InvalidTableNameError(
                f"invalid table name {table!r}: expected '<layer>.<name>', e.g. 'silver.person'"
            )
        layer, name = table.split(".")
        return cls(layer, name)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"
