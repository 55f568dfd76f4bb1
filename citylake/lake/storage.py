"""Where lake files live: local folders or object stores, seen through pyarrow file systems."""

from __future__ import annotations

import pyarrow.fs as pafs
from deltalake.fs import DeltaStorageHandler


def is_local_uri(uri: str) -> bool:
    """Whether ``uri`` is a folder on this machine (a plain path or ``file://``)."""
    return "://" not in uri or uri.startswith("file://")


def filesystem_at(uri: str, storage_options: dict[str, str] | None = None) -> pafs.FileSystem:
    """A pyarrow file system rooted at ``uri`` (a table folder or the lake root).

    Local folders get pyarrow's native file system. Object stores go through delta-rs' storage
    handler (same URIs and storage options as the Delta log), a file system implemented in
    Python: pyarrow dataset scans of partitioned tables over it were seen to abort the
    interpreter at exit ("terminate called without an active exception", like
    pola-rs/polars#24169), which the native one avoids.
    """
    if is_local_uri(uri):
        return pafs.SubTreeFileSystem(uri.removeprefix("file://"), pafs.LocalFileSystem())
    return pafs.PyFileSystem(DeltaStorageHandler(uri, storage_options))
