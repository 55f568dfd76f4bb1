"""Render a department table from the world, spoil it with defects, and derive its ground truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from citylake.synthcity.defects import DEFECTS
from citylake.synthcity.departments.base import KeyCounter, RenderContext, Scope, TableSpec

TRUTH_COLUMNS = ["source_table", "record_key", "role", "entity_type", "entity_id", "defects"]
DEFECT_COLUMNS = ["source_table", "record_key", "column", "role", "defect", "visible_to_standards", "clean_value",
                  "injected_day", "corrected_day", "corrected_by"]


@dataclass
class RenderedTable:
    """A department table's rows as the department holds them, and what is true about each row."""

    spec: TableSpec
    rows: pd.DataFrame
    truth: pd.DataFrame
    defects: pd.DataFrame


def render_table(spec: TableSpec, world, defect_rates: dict[str, dict[str, float]], rng: np.random.Generator,
                 keys: KeyCounter, day: int = 0, scope: Scope | None = None) -> RenderedTable:
    ctx = RenderContext(world=world, rng=rng, as_of=world.as_of, keys=keys, day=day, scope=scope or Scope())
    frame = spec.render(ctx).reset_index(drop=True)
    frame, defects = inject_defects(spec, frame, defect_rates, rng, keys, day)
    truth = _truth(spec, frame, defects)
    columns = [c.name for c in spec.columns]
    return RenderedTable(spec, frame[columns], truth, defects)


def inject_defects(spec: TableSpec, frame: pd.DataFrame, rates: dict[str, dict[str, float]],
                   rng: np.random.Generator, keys: KeyCounter, day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spoil exactly ``round(rate * eligible)`` values per (column, defect); one defect per value."""
    records = []
    for column, by_defect in rates.items():
        if column == "_record":
            continue
        col = spec.column(column)
        touched = np.zeros(len(frame), dtype=bool)
        for name, rate in by_defect.items():
            defect = DEFECTS[name]
            values = frame[column]
            eligible = defect.eligible(values, col, frame) if defect.eligible else values.notna().to_numpy()
            k = int(round(rate * int(eligible.sum())))
            candidates = np.flatnonzero(eligible & ~touched)
            if k == 0 or len(candidates) == 0:
                continue
            chosen = np.sort(rng.choice(candidates, size=min(k, len(candidates)), replace=False))
            clean = frame.loc[chosen, column]
            frame.loc[chosen, column] = defect.apply(clean, col, rng).to_numpy()
            touched[chosen] = True
            records.append(pd.DataFrame({
                "record_key": frame.loc[chosen, spec.key].to_numpy(), "column": column, "role": col.role,
                "defect": name, "visible_to_standards": defect.visible_to_standards,
                "clean_value": [_as_text(v) for v in clean],
            }))
    duplicate_rate = rates.get("_record", {}).get("duplicate", 0.0)
    k = int(round(duplicate_rate * len(frame)))
    if k:
        chosen = np.sort(rng.choice(len(frame), size=min(k, len(frame)), replace=False))
        copies = frame.iloc[chosen].copy()
        originals = copies[spec.key].to_numpy()
        copies[spec.key] = keys.take(spec, len(copies))
        frame = pd.concat([frame, copies], ignore_index=True)
        # A copy carries its original's spoiled values, so it carries their defects too.
        copied_keys = dict(zip(originals, copies[spec.key], strict=True))
        inherited = [r[r["record_key"].isin(copied_keys)].assign(record_key=lambda d: d["record_key"].map(copied_keys))
                     for r in records]
        records.extend(inherited)
        records.append(pd.DataFrame({
            "record_key": copies[spec.key].to_numpy(), "column": "_record", "role": "subject",
            "defect": "duplicate", "visible_to_standards": False, "clean_value": originals,
        }))
    defects = pd.concat(records, ignore_index=True) if records else pd.DataFrame(
        columns=["record_key", "column", "role", "defect", "visible_to_standards", "clean_value"])
    defects.insert(0, "source_table", spec.qualified_name)
    defects["injected_day"] = day
    defects["corrected_day"] = pd.Series([None] * len(defects), dtype="Int64")
    defects["corrected_by"] = pd.Series([None] * len(defects), dtype=object)
    defects["visible_to_standards"] = defects["visible_to_standards"].astype(bool)
    return frame, defects[DEFECT_COLUMNS]


def _as_text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _truth(spec: TableSpec, frame: pd.DataFrame, defects: pd.DataFrame) -> pd.DataFrame:
    """One row per (record, role): the true entity behind the role and the defects in its columns."""
    by_role = (defects.assign(label=defects["column"] + ":" + defects["defect"])
               .groupby(["record_key", "role"])["label"].agg(list))
    parts = []
    for role, entity_type in spec.roles.items():
        ids = frame[f"_truth_{role}"]
        present = ids.notna().to_numpy()
        if "|" in entity_type:
            types = frame.loc[present, f"_truth_{role}_type"].to_numpy() if f"_truth_{role}_type" in frame else \
                frame.loc[present, "_truth_holder_type"].to_numpy()
        else:
            types = entity_type
        part = pd.DataFrame({"record_key": frame.loc[present, spec.key].to_numpy(), "role": role,
                             "entity_type": types, "entity_id": ids[present].astype(str).to_numpy()})
        parts.append(part)
    truth = pd.concat(parts, ignore_index=True)
    idx = pd.MultiIndex.from_frame(truth[["record_key", "role"]])
    truth["defects"] = by_role.reindex(idx).to_numpy() if len(by_role) else None
    truth["defects"] = truth["defects"].map(lambda v: v if isinstance(v, list) else [])
    truth.insert(0, "source_table", spec.qualified_name)
    return truth[TRUTH_COLUMNS]
