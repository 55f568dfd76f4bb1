"""Score the row-level checks against the synthetic city's truth: which injected defects the
standards can see, and how many of them (and nothing else) the checks flag."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from citylake.sources.registry import SourceTable

# Defects a data standard sees in the value itself (or in the columns of the same party).
VISIBLE_IN_VALUE = {"bad_check_digit", "mistyped_digit", "id_15_digit", "lowercase_x", "lowercase_letters",
                    "fullwidth", "stray_space", "traditional_chars", "impossible_date"}
CROSS_FIELD = {"birth_date_disagrees_with_id": "person.birth_date", "sex_disagrees_with_id": "person.sex"}


@dataclass
class Score:
    expected: int = 0
    caught: int = 0
    checked_values: int = 0
    false_flags: int = 0
    missed: list[tuple[str, str, str]] = field(default_factory=list)
    false: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.caught / self.expected if self.expected else 1.0

    @property
    def false_flag_rate(self) -> float:
        return self.false_flags / self.checked_values if self.checked_values else 0.0


def expected_flags(table: SourceTable, key: str, defects: pd.DataFrame) -> set[tuple[str, str]]:
    """(record key, column) pairs the standards should flag, given the injected defects."""
    mapped = {c: (f, r) for c, f, r in table.mapped_columns()}
    by_role_field = {(r, f): c for c, (f, r) in mapped.items()}
    spoiled = set(zip(defects["record_key"], defects["column"], strict=True))
    out = set()
    for rec, column, defect in zip(defects["record_key"], defects["column"], defects["defect"], strict=True):
        if column not in mapped:
            continue
        field_name, role = mapped[column]
        if defect in VISIBLE_IN_VALUE:
            out.add((rec, column))
        elif defect == "missing":
            out.add((rec, column))
        elif defect in CROSS_FIELD:
            id_column = by_role_field.get((role, "person.id_number"))
            if id_column is not None and (rec, id_column) not in spoiled:
                out.add((rec, column))
    return out


def score_table(checked: pd.DataFrame, table: SourceTable, key: str, defects: pd.DataFrame,
                review_keys: set[str] = frozenset()) -> Score:
    """Compare the flagged (record, column) pairs with the expected ones."""
    flagged = set()
    for rec, errors, warnings in zip(checked[key], checked["_errors"], checked["_warnings"], strict=True):
        for finding in [*errors, *warnings]:
            flagged.add((rec, finding["columns"][-1]))
    expected = expected_flags(table, key, defects)
    spoiled = set(zip(defects["record_key"], defects["column"], strict=True))
    mapped = [c for c, _, _ in table.mapped_columns() if c in checked.columns]
    score = Score(expected=len(expected), caught=len(expected & flagged), checked_values=len(checked) * len(mapped))
    score.missed = sorted((table.name, r, c) for r, c in expected - flagged)
    false = {(r, c) for r, c in flagged - expected if (r, c) not in spoiled and r not in review_keys}
    score.false_flags = len(false)
    score.false = sorted((table.name, r, c) for r, c in false)
    return score
