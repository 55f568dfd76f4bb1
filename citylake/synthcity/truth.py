"""The hidden truth, as Parquet under ``--truth DIR``, so anyone can score linkage and defect detection.

- ``person.parquet``, ``household.parquet``, ``address.parquet``, ``enterprise.parquet``,
  ``marriage.parquet``: the true entities (one file per entity);
- ``record_truth/``: one row per (source table, record key, role) -> true entity type and id, with
  the defects injected into that role's columns (a Parquet dataset: one file per table and day;
  ``record_defect.parquet`` says which of them are still open);
- ``record_defect.parquet``: every injected defect with the clean value, the day it was injected,
  and the day it was corrected (null while open) and how: ``department`` (the department fixed
  it), ``superseded`` (a later change, such as a move, overwrote the value) or ``deleted`` (the
  record itself was deleted);
- ``deleted_records.parquet``: records deleted by later days (duplicates removed, 低保 members who died);
- ``state.json``: seed, size, reference date, days advanced and key counters, for ``--advance-days``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from citylake.synthcity.departments.base import NO_DAY
from citylake.synthcity.render import DEFECT_COLUMNS, TRUTH_COLUMNS

ENTITY_FILES = {"addresses": "address", "households": "household", "persons": "person",
                "enterprises": "enterprise", "marriages": "marriage"}

TRUTH_SCHEMA = pa.schema([("source_table", pa.string()), ("record_key", pa.string()), ("role", pa.string()),
                          ("entity_type", pa.string()), ("entity_id", pa.string()),
                          ("defects", pa.list_(pa.string()))])
DEFECT_SCHEMA = pa.schema([("source_table", pa.string()), ("record_key", pa.string()), ("column", pa.string()),
                           ("role", pa.string()), ("defect", pa.string()), ("visible_to_standards", pa.bool_()),
                           ("clean_value", pa.string()), ("injected_day", pa.int32()),
                           ("corrected_day", pa.int32()), ("corrected_by", pa.string())])


@dataclass
class State:
    seed: int
    persons: int
    as_of: date
    days_advanced: int
    next_keys: dict[str, int]
    config: str | None

    def to_json(self) -> str:
        return json.dumps({"seed": self.seed, "persons": self.persons, "as_of": self.as_of.isoformat(),
                           "days_advanced": self.days_advanced, "next_keys": self.next_keys,
                           "config": self.config}, ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> State:
        raw = json.loads(text)
        return cls(raw["seed"], raw["persons"], date.fromisoformat(raw["as_of"]), raw["days_advanced"],
                   raw["next_keys"], raw.get("config"))


class TruthDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def record_truth(self) -> Path:
        return self.root / "record_truth"

    @property
    def record_defect(self) -> Path:
        return self.root / "record_defect.parquet"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def deleted_file(self) -> Path:
        return self.root / "deleted_records.parquet"

    def deleted_records(self) -> set[tuple[str, str]]:
        """(source table, record key) of the records a department deleted on a later day."""
        if not self.deleted_file.exists():
            return set()
        frame = pd.read_parquet(self.deleted_file)
        return set(zip(frame["source_table"], frame["record_key"], strict=True))

    def add_deleted_records(self, day: int, records: list[tuple[str, str]]) -> None:
        if not records:
            return
        new = pd.DataFrame(records, columns=["source_table", "record_key"]).assign(deleted_day=day)
        if self.deleted_file.exists():
            new = pd.concat([pd.read_parquet(self.deleted_file), new], ignore_index=True)
        new.drop_duplicates(["source_table", "record_key"]).to_parquet(self.deleted_file, index=False)

    def reset(self) -> None:
        """Start a new truth: remove what an earlier generation left (only files this module writes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ENTITY_FILES.values():
            (self.root / f"{name}.parquet").unlink(missing_ok=True)
        if self.record_truth.exists():
            for part in self.record_truth.glob("*.parquet"):
                part.unlink()
        self.record_truth.mkdir(exist_ok=True)
        self.record_defect.unlink(missing_ok=True)
        self.state_file.unlink(missing_ok=True)
        self.deleted_file.unlink(missing_ok=True)

    def write_world(self, world) -> None:
        for attr, name in ENTITY_FILES.items():
            frame = _days_to_dates(getattr(world, attr))
            frame.to_parquet(self.root / f"{name}.parquet", index=False)

    def read_world_frames(self) -> dict[str, pd.DataFrame]:
        return {attr: _dates_to_days(pd.read_parquet(self.root / f"{name}.parquet"))
                for attr, name in ENTITY_FILES.items()}

    def write_record_truth(self, table: str, day: int, truth: pd.DataFrame) -> None:
        part = self.record_truth / f"day{day:04d}-{table}.parquet"
        pq.write_table(pa.Table.from_pandas(truth[TRUTH_COLUMNS], schema=TRUTH_SCHEMA, preserve_index=False), part)

    def read_record_truth(self, filters=None) -> pd.DataFrame:
        return pq.read_table(self.record_truth, filters=filters, schema=TRUTH_SCHEMA).to_pandas()

    def write_record_defects(self, defects: pd.DataFrame) -> None:
        frame = defects[DEFECT_COLUMNS].copy()
        for c in ("injected_day", "corrected_day"):
            frame[c] = frame[c].astype("Int32")
        pq.write_table(pa.Table.from_pandas(frame, schema=DEFECT_SCHEMA, preserve_index=False), self.record_defect)

    def read_record_defects(self) -> pd.DataFrame:
        return pq.read_table(self.record_defect).to_pandas()

    def write_state(self, state: State) -> None:
        self.state_file.write_text(state.to_json(), encoding="utf-8")

    def read_state(self) -> State:
        if not self.state_file.exists():
            raise FileNotFoundError(f"{self.state_file} not found: run `citylake generate` with this --truth first")
        return State.from_json(self.state_file.read_text(encoding="utf-8"))


def _days_to_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns ``*_days`` (days since 1970, NO_DAY for none) become ``*_date`` date columns."""
    out = frame.copy()
    for col in [c for c in frame.columns if c.endswith("_days")]:
        arr = frame[col].to_numpy(dtype=np.int64)
        dates = pd.Series(pd.to_datetime(np.where(arr == NO_DAY, 0, arr), unit="D").date, dtype=object)
        dates[arr == NO_DAY] = None
        out[col.removesuffix("_days") + "_date"] = dates.to_numpy()
        out = out.drop(columns=col)
    return out


def _dates_to_days(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in [c for c in frame.columns if c.endswith("_date")]:
        stamps = pd.to_datetime(frame[col])
        days = ((stamps - pd.Timestamp("1970-01-01")).dt.days).fillna(NO_DAY).astype(np.int64)
        out[col.removesuffix("_date") + "_days"] = days.to_numpy()
        out = out.drop(columns=col)
    return out
