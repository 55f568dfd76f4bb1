"""``governance.access_log``: every read of the lake through citylake (who, role, tables, rows, when).

The query itself is not kept — it may quote an ID number or a name — only its SHA-256, which tells
an auditor whether two reads ran the same query. Refused and failed queries are logged too: an
attempt to reach what a role may not see is exactly what an audit looks for.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from collections.abc import Sequence

import pyarrow as pa

from citylake.ingest.governance import now

ACCESS_LOG = "governance.access_log"
USER_ENV = "CITYLAKE_USER"
OUTCOMES = ("ok", "refused", "failed")
SCHEMA = pa.schema([
    ("accessed_at", pa.timestamp("us", tz="UTC")), ("user", pa.string()), ("role", pa.string()),
    ("interface", pa.string()), ("tables", pa.list_(pa.string())), ("rows", pa.int64()),
    ("query_sha256", pa.string()), ("outcome", pa.string()),
])


def current_user() -> str:
    """The reader: ``$CITYLAKE_USER`` (set by whatever authenticated them), else the OS account."""
    return os.environ.get(USER_ENV) or getpass.getuser()


def log_access(lake, *, role: str, interface: str, tables: Sequence[str], rows: int | None, query: str,
               outcome: str, user: str | None = None) -> None:
    """Append one read to ``governance.access_log`` (serialised with the table's writer lock)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {OUTCOMES}")
    row = {"accessed_at": now(), "user": user or current_user(), "role": role, "interface": interface,
           "tables": sorted(tables), "rows": rows, "query_sha256": hashlib.sha256(query.encode("utf-8")).hexdigest(),
           "outcome": outcome}
    with lake.lock(ACCESS_LOG):
        lake.write_arrow(ACCESS_LOG, pa.Table.from_pylist([row], schema=SCHEMA))
