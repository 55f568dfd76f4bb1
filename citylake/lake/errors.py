"""Errors raised by lake I/O. All derive from :class:`LakeError` so a job can catch them as one."""

from __future__ import annotations


class LakeError(Exception):
    """Base class of every error raised by ``citylake.lake``."""


class InvalidTableNameError(LakeError, ValueError):
    """A table name is not ``<layer>.<name>`` in lowercase snake_case."""


class TableNotFoundError(LakeError, LookupError):
    """The table has no Delta log at its location."""


class SchemaMismatchError(LakeError, ValueError):
    """Data to write does not have the table's columns and types."""


class DuplicateKeyError(LakeError, ValueError):
    """The source of a merge has more than one row for the same key."""


class NullKeyError(LakeError, ValueError):
    """The source of a merge has a null in a key column (a null key never matches a row)."""


class PartitionMismatchError(LakeError, ValueError):
    """Partition columns or partition values do not fit the table or the requested overwrite."""


class ConcurrentChangeError(LakeError):
    """The table changed between the read and the commit of a read-modify-write operation."""


class LockTimeoutError(LakeError, TimeoutError):
    """The per-table writer lock could not be taken in time."""


class BackendUnavailableError(LakeError, RuntimeError):
    """The configured lake backend cannot run in this environment (e.g. no delta-spark jars)."""
