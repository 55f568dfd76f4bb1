"""数据质量评价: scores on the GB/T 36344-2018 indicators per gate batch, source table and department,
and their trend over batches, computed from ``governance.rule_result`` (the gate's counts per check).

Definitions (what a score means, so a department can check it by hand):

- **Indicator score** X = A / B over the checks of one first-level indicator (规范性 01, 完整性 02,
  准确性 03 — which holds 唯一性 —, 一致性 04, 时效性 05, 可访问性 06; the indicator is the first two
  digits of the check's DB31/T 1523 code): A = Σ (evaluated − failed), B = Σ evaluated. When B = 0
  the indicator is 未评价 (not evaluated): its score is NaN, never 100%. 可访问性 is measured from
  the reads of the access log (:mod:`citylake.catalog.usage_report`): 未评价 until a table is read.
- **Overall score** (综合得分) = Σ wᵢ·Xᵢ / Σ wᵢ over the indicators that were evaluated, with the
  weights of ``quality/indicators.yaml`` (``weights:``, equal by default); NaN if none was.
- **Batch score**: the counts of one gate batch. An incremental batch holds only the rows that
  changed, so a batch score describes that delivery, and an empty batch evaluates little or nothing.
- **Table score** (the table's state after a batch b): for every check the table has now (the
  checks of its latest batch up to b), the counts of the latest batch up to b that evaluated it
  (B > 0). Why: a day with no changes gives an empty batch; scoring only the latest batch would make
  such a table 未评价 (or 100% on its row-count check alone). Keeping each check's latest
  measurement shows the department's most recent deliveries and forgets nothing that did not change;
  a check the registry dropped drops out with it.
- **Department score**: A and B summed over its tables' states, indicator by indicator (a table
  weighs in proportion to the elements it had evaluated), then X and the overall score as above.
- **Trend**: a table's trend has one point per gate batch (its state after that batch). A
  department's trend has one point per 批次轮次 (batch round): its gate batches in time order, a new
  round starting when a table that already has a batch in the current round comes round again. With
  the daily DAGs one round is one batch day; catching up two pending batches of a table in one day
  gives two rounds, so a point never hides a batch. The point is the department's state after the
  round's last batch.

Batches are ordered by the time the gate evaluated them (``evaluated_at``; a gate rerun after a
crash replaces its rows). Reads are bounded: only the columns needed, filtered by department or
source table in the scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from citylake.quality.checks import indicators
from citylake.quality.rule_results import RULE_RESULT

NOT_EVALUATED = "未评价"
EVALUATED = "已评价"
OVERALL = "综合"
# The gate's batches (``gate:<bronze batch>``); cross-source checks write batches of their own.
GATE_PREFIX = "gate:"
READ_COLUMNS = ["batch_id", "department", "system", "source_table", "check_id", "indicator_code", "evaluated",
                "failed", "evaluated_at"]
BATCH_KEYS = ["department", "system", "source_table", "batch_id", "evaluated_at"]
TABLE_KEYS = ["department", "system", "source_table", "batch_id", "evaluated_at"]
DEPARTMENT_KEYS = ["department"]
# Columns of a long score frame besides its keys.
SCORE_COLUMNS = ["indicator_code", "indicator", "weight", "passed", "evaluated", "score", "status"]


# ------------------------------------------------------------------------------------ indicators

def _indicator_rows() -> tuple[tuple[str, str, float], ...]:
    doc = indicators()  # validated, weights included (citylake.quality.checks.IndicatorsFile)
    return tuple((str(code), entry["name_zh"], float(doc["weights"].get(code, 1)))
                 for code, entry in sorted(doc["indicators"].items()))


def indicator_frame() -> pd.DataFrame:
    """The first-level indicators in code order: ``indicator_code``, ``indicator`` (Chinese name),
    ``weight`` (from ``weights:`` in indicators.yaml, 1 where not given)."""
    return pd.DataFrame(list(_indicator_rows()), columns=["indicator_code", "indicator", "weight"])


def indicator_names() -> list[str]:
    """Chinese names of the indicators in code order (规范性 … 可访问性)."""
    return indicator_frame()["indicator"].tolist()


# ----------------------------------------------------------------------------------------- reads

def read_results(lake, department: str | None = None, source_table: str | None = None) -> pd.DataFrame:
    """Rule results of a department and/or source table (``gongan.CZRK``): one row per (batch, check)
    with ``check_code`` (six digits) and ``indicator_code`` (its first level), ``evaluated``,
    ``failed`` and the batch's ``evaluated_at``."""
    columns = [c for c in READ_COLUMNS if c != "indicator_code"] + ["check_code", "indicator_code"]
    if not lake.exists(RULE_RESULT):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    condition = None
    for column, value in (("department", department), ("source_table", source_table)):
        if value is not None:
            term = pc.field(column) == value
            condition = term if condition is None else condition & term
    table = lake.read_arrow(RULE_RESULT, columns=READ_COLUMNS, filter=condition).read_all()
    frame = table.rename_columns([c if c != "indicator_code" else "check_code" for c in table.column_names])
    frame = frame.to_pandas()
    frame["indicator_code"] = frame["check_code"].str[:2]
    frame[["evaluated", "failed"]] = frame[["evaluated", "failed"]].fillna(0).astype("int64")
    # One time per batch (every row of a batch carries it; take the latest should a rerun mix them).
    frame["evaluated_at"] = frame.groupby("batch_id")["evaluated_at"].transform("max")
    return frame[columns]


def departments(lake) -> list[str]:
    """Departments with rule results, sorted."""
    if not lake.exists(RULE_RESULT):
        return []
    column = lake.read_arrow(RULE_RESULT, columns=["department"]).read_all().column("department")
    return sorted(v for v in pc.unique(column).to_pylist() if v)


# --------------------------------------------------------------------------------------- scoring

def score_counts(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Long score frame: one row per (keys, indicator) for every indicator, A (``passed``), B
    (``evaluated``), X (``score``, NaN when B = 0) and ``status`` 已评价/未评价.

    ``counts`` has ``keys``, ``indicator_code``, ``evaluated`` and ``failed`` per check.
    """
    meta = indicator_frame()
    if counts.empty:
        return pd.DataFrame(columns=[*keys, *SCORE_COLUMNS])
    counts = counts.assign(passed=counts["evaluated"] - counts["failed"])
    sums = counts.groupby([*keys, "indicator_code"], as_index=False, dropna=False)[["passed", "evaluated"]].sum()
    grid = counts[keys].drop_duplicates().merge(meta, how="cross")
    out = grid.merge(sums, on=[*keys, "indicator_code"], how="left")
    out[["passed", "evaluated"]] = out[["passed", "evaluated"]].fillna(0).astype("int64")
    measured = out["evaluated"] > 0
    out["score"] = np.where(measured, out["passed"] / out["evaluated"].where(measured, 1), np.nan)
    out["status"] = np.where(measured, EVALUATED, NOT_EVALUATED)
    return out[[*keys, *SCORE_COLUMNS]].sort_values([*keys, "indicator_code"], ignore_index=True)


def weighted_overall(scores: pd.Series, weights: pd.Series) -> float:
    """Σ w·X / Σ w over the evaluated indicators (X not NaN, w > 0); NaN when there are none."""
    usable = scores.notna() & (weights > 0)
    if not usable.any():
        return float("nan")
    return float((scores[usable] * weights[usable]).sum() / weights[usable].sum())


def overall_scores(scores: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """One row per entity of a long score frame: its keys, ``score`` (the overall score, NaN if no
    indicator was evaluated) and ``indicators_evaluated``. ``weights`` (indicator code → weight)
    replaces the weights of indicators.yaml."""
    keys = [c for c in scores.columns if c not in SCORE_COLUMNS]
    rows = []
    for key, group in scores.groupby(keys, sort=False, dropna=False) if keys else [((), scores)]:
        w = group["indicator_code"].map(weights).fillna(0) if weights is not None else group["weight"]
        values = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        rows.append({**values, "score": weighted_overall(group["score"].astype(float), w.astype(float)),
                     "indicators_evaluated": int(group["score"].notna().sum())})
    return pd.DataFrame(rows, columns=[*keys, "score", "indicators_evaluated"])


def wide(scores: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """A long score frame as one row per entity: its keys, one column per indicator (Chinese name,
    the score or NaN for 未评价) and 综合 (the overall score)."""
    keys = [c for c in scores.columns if c not in SCORE_COLUMNS]
    names = indicator_names()
    if scores.empty:
        return pd.DataFrame(columns=[*keys, *names, OVERALL])
    by_indicator = scores.set_index([*keys, "indicator"])["score"].astype(float).unstack("indicator")
    by_indicator = by_indicator.reindex(columns=names).reset_index()
    by_indicator.columns.name = None
    overall = overall_scores(scores, weights).rename(columns={"score": OVERALL})
    return overall[[*keys, OVERALL]].merge(by_indicator, on=keys, how="left")[[*keys, *names, OVERALL]]


# ------------------------------------------------------------------------------ batches and states

def batch_order(results: pd.DataFrame) -> pd.DataFrame:
    """The gate batches of ``results`` in order: ``department``, ``system``, ``source_table``,
    ``batch_id``, ``evaluated_at``, sorted by time (then batch id)."""
    gates = results[results["batch_id"].str.startswith(GATE_PREFIX)]
    return (gates[BATCH_KEYS].drop_duplicates()
            .sort_values(["evaluated_at", "batch_id"], ignore_index=True))


def table_state(results: pd.DataFrame, as_of: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """Each table's check counts after its latest batch up to ``as_of`` (all batches if None): the
    checks of that latest batch, each with the counts of the latest batch that evaluated it (B > 0),
    else zero (``measured_batch_id`` says which). ``batch_id``/``evaluated_at`` name the table's latest
    batch."""
    rows = results if as_of is None else results[results["evaluated_at"] <= as_of]
    if rows.empty:
        return rows.copy()
    gates = rows[rows["batch_id"].str.startswith(GATE_PREFIX)]
    latest_at = rows["source_table"].map(gates.groupby("source_table")["evaluated_at"].max())
    latest = rows[rows["evaluated_at"] == latest_at]
    latest = latest.sort_values(["evaluated_at", "batch_id"]).drop_duplicates(["source_table", "check_id"], keep="last")
    # Checks measured outside the gate (cross-source rules, each run a batch of its own) join the
    # table's current checks instead of replacing them.
    measured_elsewhere = rows.loc[~rows["batch_id"].str.startswith(GATE_PREFIX), ["source_table", "check_id"]]
    current = pd.concat([latest[["source_table", "check_id"]], measured_elsewhere]).drop_duplicates()
    candidates = rows.assign(_measured=rows["evaluated"] > 0)
    candidates = candidates[candidates["_measured"] | (candidates["evaluated_at"] == latest_at)]
    chosen = (candidates.sort_values(["_measured", "evaluated_at", "batch_id"])
              .drop_duplicates(["source_table", "check_id"], keep="last")
              .drop(columns=["_measured", "evaluated_at"]).rename(columns={"batch_id": "measured_batch_id"}))
    state = current.merge(chosen, on=["source_table", "check_id"], how="left")
    heads = latest[["source_table", "batch_id", "evaluated_at"]].drop_duplicates("source_table", keep="last")
    # A table measured only outside the gate (read before its first batch was gated) is headed by
    # its latest batch of any kind.
    headless = rows[~rows["source_table"].isin(heads["source_table"])].sort_values(["evaluated_at", "batch_id"])
    heads = pd.concat([heads, headless[["source_table", "batch_id", "evaluated_at"]].drop_duplicates(
        "source_table", keep="last")])
    return state.merge(heads, on="source_table", how="left")


# ----------------------------------------------------------------------------------- public API

def batch_scores(lake, department: str | None = None, source_table: str | None = None) -> pd.DataFrame:
    """Indicator scores of every gate batch (long frame keyed by department, system, source_table,
    batch_id, evaluated_at), in batch order."""
    results = read_results(lake, department, source_table)
    scores = score_counts(results, BATCH_KEYS)
    return scores.sort_values(["evaluated_at", "batch_id", "indicator_code"], ignore_index=True)


def table_scores(lake, department: str | None = None, source_table: str | None = None,
                 as_of: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """Indicator scores of each source table's state (long frame keyed by department, system,
    source_table and the table's latest batch_id/evaluated_at)."""
    state = table_state(read_results(lake, department, source_table), as_of)
    return score_counts(state, TABLE_KEYS)


def department_scores(lake, department: str | None = None,
                      as_of: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """Indicator scores of each department: A and B summed over its tables' states."""
    state = table_state(read_results(lake, department), as_of)
    return score_counts(state, DEPARTMENT_KEYS)


def table_trend(lake, source_table: str) -> pd.DataFrame:
    """One row per gate batch of the table in order: ``point`` (1, 2 …), ``batch_id``,
    ``evaluated_at``, the table's state after the batch per indicator and 综合; ``batch_overall`` is
    the batch's own overall score (its delivery alone)."""
    results = read_results(lake, source_table=source_table)
    own = wide(score_counts(results, ["batch_id"]))[["batch_id", OVERALL]].rename(columns={OVERALL: "batch_overall"})
    rows = []
    for point, batch in enumerate(batch_order(results).itertuples(index=False), start=1):
        state = wide(score_counts(table_state(results, batch.evaluated_at), ["source_table"]))
        rows.append({"point": point, "batch_id": batch.batch_id, "evaluated_at": batch.evaluated_at,
                     **state.drop(columns=["source_table"]).iloc[0].to_dict()})
    frame = pd.DataFrame(rows, columns=["point", "batch_id", "evaluated_at", *indicator_names(), OVERALL])
    return frame.merge(own, on="batch_id", how="left")


def batch_rounds(batches: pd.DataFrame) -> list[pd.DataFrame]:
    """Split a department's ordered batches (:func:`batch_order`) into 批次轮次: a round ends just
    before a table that already has a batch in it comes round again."""
    rounds: list[list[int]] = []
    seen: set[str] = set()
    for i, table in enumerate(batches["source_table"]):
        if not rounds or table in seen:
            rounds.append([])
            seen = set()
        rounds[-1].append(i)
        seen.add(table)
    return [batches.iloc[r] for r in rounds]


def department_trend(lake, department: str) -> pd.DataFrame:
    """One row per batch round of the department: ``point`` (1, 2 …), ``ended_at`` (its last batch),
    ``batches`` (how many gate batches), ``batch_ids``, the department's state after the round per
    indicator and 综合."""
    results = read_results(lake, department)
    rows = []
    for point, members in enumerate(batch_rounds(batch_order(results)), start=1):
        ended = members["evaluated_at"].max()
        state = wide(score_counts(table_state(results, ended), DEPARTMENT_KEYS))
        rows.append({"point": point, "ended_at": ended, "batches": len(members),
                     "batch_ids": members["batch_id"].tolist(),
                     **state.drop(columns=DEPARTMENT_KEYS).iloc[0].to_dict()})
    return pd.DataFrame(rows, columns=["point", "ended_at", "batches", "batch_ids", *indicator_names(), OVERALL])

