"""What a complete population-library build recorded (citylake.jobs.person.build_state): the
versions of the silver and quarantine tables it read, the versions of the gold and state tables it
left, its reference date and a digest of the configuration it ran with, one row per build in
``governance.person_build``. The row is appended after the build's last table commit, so the newest
row is always a *complete* build: an incremental build recomputes from its versions, and a build
that died between its commits leaves nothing the next one trusts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

BUILD_TABLE = "governance.person_build"
# The build's own tables beside gold: the standardised records (every version, ``current`` marking
# the one used), the linkage basis (the persons the records with a valid ID make) and the 一致性
# counts per person.
RECORDS, BASIS, EVALUATED = "state.person_record", "state.person_basis", "state.person_evaluated"
# What decides the gold tables besides the data: a change here needs a full build.
CONFIG_FILES = ("attributes.yaml", "source_priority.yaml", "profile.yaml", "linkage.yaml")
# Raised when the build computes differently from the same configuration (2: name weights rounded
# to a tenth of a bit, and one current version per record), so that the first build after an
# upgrade is a full one.
LOGIC_VERSION = 2
_SCHEMA = pa.schema([
    ("build_id", pa.string()), ("mode", pa.string()), ("as_of", pa.date32()), ("config_digest", pa.string()),
    ("source_versions", pa.string()), ("table_versions", pa.string()), ("touched_persons", pa.int64()),
    ("completed_at", pa.timestamp("us", tz="UTC")),
])


@dataclass(frozen=True)
class BuildState:
    build_id: str
    as_of: date
    config_digest: str
    source_versions: dict[str, int]  # silver/quarantine table -> the version read
    table_versions: dict[str, int]  # gold/state table -> the version written


def config_digest(folder: Path = Path(__file__).parent) -> str:
    digest = hashlib.sha256(f"logic {LOGIC_VERSION}".encode())
    for name in CONFIG_FILES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def last_complete_build(lake) -> BuildState | None:
    """The newest complete build whose tables all still exist, else None."""
    if not lake.exists(BUILD_TABLE):
        return None
    rows = lake.read_arrow(BUILD_TABLE).read_all().to_pylist()
    if not rows:
        return None
    row = max(rows, key=lambda r: r["completed_at"])
    state = BuildState(row["build_id"], row["as_of"], row["config_digest"], json.loads(row["source_versions"]),
                       json.loads(row["table_versions"]))
    return state if all(lake.exists(t) for t in state.table_versions) else None


def record_build(lake, build_id: str, mode: str, as_of: date, source_versions: dict[str, int],
                 table_versions: dict[str, int], touched_persons: int | None) -> None:
    lake.write_arrow(BUILD_TABLE, pa.Table.from_pylist([{
        "build_id": build_id, "mode": mode, "as_of": as_of, "config_digest": config_digest(),
        "source_versions": json.dumps(source_versions, sort_keys=True),
        "table_versions": json.dumps(table_versions, sort_keys=True), "touched_persons": touched_persons,
        "completed_at": datetime.now(UTC)}], schema=_SCHEMA), metadata={"batch_id": build_id})
