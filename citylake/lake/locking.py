"""Per-table writer locks for lakes on a local file system.

delta-rs commits to a local folder by renaming a temporary file into ``_delta_log``; two writers
racing for the same version can fail (or retry) mid-commit. Every commit through this module holds
an exclusive ``flock`` on ``<lake_root>/_locks/<layer>.<name>.lock``. ``flock`` locks belong to an
open file description, so they exclude each other across threads of one process as well as
across processes on the same machine (not across machines: use object storage there, where
delta-rs commits with conditional writes). A thread that holds a table's lock may take it again
(a read-check-write around a commit through the lake API).
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citylake.lake.errors import LockTimeoutError
from citylake.lake.names import TableName

log = logging.getLogger(__name__)

LOCKS_FOLDER = "_locks"
_POLL_SECONDS = 0.05


_local = threading.local()


def _held_by_this_thread() -> set[Path]:
    if not hasattr(_local, "held"):
        _local.held = set()
    return _local.held


def lock_path(lake_root: Path, table: TableName) -> Path:
    """The lock file of ``table`` in a local lake."""
    return lake_root / LOCKS_FOLDER / f"{table}.lock"


@contextmanager
def table_lock(lake_root: Path, table: TableName, timeout: float | None = None) -> Iterator[None]:
    """Hold the exclusive writer lock of ``table`` for the duration of the ``with`` block.

    Waits at most ``timeout`` seconds (forever when ``None``), then raises
    :class:`LockTimeoutError`.
    """
    path = lock_path(lake_root, table)
    held = _held_by_this_thread()
    if path in held:
        # Reentrant within a thread: a read-check-write that holds the lock may commit through the
        # lake API, which takes the same lock (a second flock on a new descriptor would deadlock).
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    with open(path, "a+") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"could not lock table {table} within {timeout} s ({path}): another writer "
                        "holds it"
                    ) from None
                if not waited:
                    log.debug("waiting for the writer lock of %s", table)
                    waited = True
                time.sleep(_POLL_SECONDS)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
