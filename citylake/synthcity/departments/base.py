"""How a department table is described and rendered from the true world.

A :class:`TableSpec` is the department system's own schema: its table and column names (often
pinyin initials), SQL types, Chinese comments, primary key and update-time column. Each column
also says what *kind* of value it holds (ID number, person name, date in some format …) so the
defect injectors know which defects apply, and which *role* it describes (the record's subject, a
mother, a legal representative …) so the ground truth can say which entity each value belongs to.

A department module renders a table into a pandas frame holding the table's columns plus hidden
columns: ``_truth_<role>`` (the true entity id behind each role) and ``_eligible_<name>`` flags
that some defects need (e.g. which insurance rows belong to deceased persons).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

# Column kinds and what they hold; defects declare the kinds they apply to.
KINDS = {
    "key": "the table's own primary key",
    "id_number": "GB 11643 citizen ID number",
    "uscc": "GB 32100 unified social credit code",
    "holder_id": "an ID number or a USCC, depending on the holder",
    "person_name": "a person's name",
    "org_name": "an organisation's name",
    "holder_name": "a person's or an organisation's name",
    "address": "free-text address",
    "date": "a DATE column",
    "datetime": "a TIMESTAMP column that carries a date of the subject (birth time)",
    "date_str": "a date stored as text in the column's format",
    "date_int": "a date stored as an integer yyyymmdd",
    "timestamp": "a technical timestamp (update time)",
    "sex": "sex in the column's coding",
    "ethnicity": "ethnicity in the column's coding",
    "phone": "mobile number",
    "insurance_status": "insurance status code",
    "code": "another code",
    "text": "other text",
    "number": "a number",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: sa.types.TypeEngine
    kind: str
    comment: str
    role: str = "subject"
    fmt: str | None = None
    nullable: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class TableSpec:
    """One table of a department system."""

    department: str
    name: str
    title: str
    key: str
    key_prefix: str
    key_width: int
    columns: tuple[Column, ...]
    roles: dict[str, str]
    render: Callable[[RenderContext], pd.DataFrame]
    update_column: str | None = None
    description: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.department}.{self.name}"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.qualified_name} has no column {name}")

    def sqlalchemy_table(self, metadata: sa.MetaData) -> sa.Table:
        cols = [sa.Column(c.name, c.type, primary_key=c.name == self.key, nullable=c.nullable or c.name == self.key,
                          comment=c.comment) for c in self.columns]
        # utf8mb4: MariaDB's default character set cannot hold every Chinese character.
        return sa.Table(self.name, metadata, *cols, comment=self.title, mysql_charset="utf8mb4",
                        mysql_collate="utf8mb4_unicode_ci")


@dataclass
class KeyCounter:
    """Next key number per table, so duplicates and later days continue the sequence."""

    next_number: dict[str, int] = field(default_factory=dict)

    def take(self, spec: TableSpec, n: int) -> np.ndarray:
        start = self.next_number.get(spec.qualified_name, 1)
        self.next_number[spec.qualified_name] = start + n
        return np.array([f"{spec.key_prefix}{i:0{spec.key_width}d}" for i in range(start, start + n)], dtype=object)


@dataclass(frozen=True)
class Scope:
    """Which entities to render; ``None`` means all of them (the initial load)."""

    person_ids: frozenset[str] | None = None
    enterprise_ids: frozenset[str] | None = None
    marriage_ids: frozenset[str] | None = None
    address_ids: frozenset[str] | None = None

    def persons(self, frame: pd.DataFrame, column: str = "person_id") -> pd.DataFrame:
        return frame if self.person_ids is None else frame[frame[column].isin(self.person_ids)]

    def enterprises(self, frame: pd.DataFrame, column: str = "enterprise_id") -> pd.DataFrame:
        return frame if self.enterprise_ids is None else frame[frame[column].isin(self.enterprise_ids)]

    def addresses(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame if self.address_ids is None else frame[frame["address_id"].isin(self.address_ids)]

    def marriages(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame if self.marriage_ids is None else frame[frame["marriage_id"].isin(self.marriage_ids)]


@dataclass
class RenderContext:
    """What a table renderer gets: the world, a random stream, the clock, keys and the scope."""

    world: object
    rng: np.random.Generator
    as_of: date
    keys: KeyCounter
    day: int = 0
    scope: Scope = field(default_factory=Scope)

    def update_times(self, n: int, since_days: np.ndarray | None = None) -> pd.Series:
        """Update timestamps: on day ``day`` after ``as_of`` for changes, else some time before as_of."""
        seconds = self.rng.integers(8 * 3600, 18 * 3600, n)
        if self.day > 0 or since_days is None:
            base = np.full(n, days_of(self.as_of) + self.day - (1 if self.day == 0 else 0))
        else:
            lo = np.clip(np.asarray(since_days, dtype=np.int64), days_of(date(2000, 1, 1)), days_of(self.as_of) - 1)
            base = lo + (self.rng.random(n) * (days_of(self.as_of) - lo)).astype(np.int64)
        return pd.Series(pd.to_datetime(base, unit="D") + pd.to_timedelta(seconds, unit="s"))


# "No such day" in day-number columns (death_days of the living …). Day numbers count from 1970 and
# are negative for earlier births, so the sentinel sits far below any real date.
NO_DAY = -1_000_000


def days_of(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def as_dates(days) -> pd.Series:
    """Day numbers (since 1970) to ``datetime.date`` objects; NO_DAY becomes None."""
    arr = np.asarray(days, dtype=np.int64)
    out = pd.Series(pd.to_datetime(np.where(arr == NO_DAY, 0, arr), unit="D").date, dtype=object)
    out[arr == NO_DAY] = None
    return out


def fmt_dates(days, fmt: str) -> pd.Series:
    arr = np.asarray(days, dtype=np.int64)
    out = pd.Series(pd.to_datetime(np.where(arr == NO_DAY, 0, arr), unit="D").strftime(fmt), dtype=object)
    out[arr == NO_DAY] = None
    return out


def render_date(days, column: Column) -> pd.Series:
    """Render day numbers the way ``column`` stores dates."""
    if column.kind == "date":
        return as_dates(days)
    if column.kind == "date_str":
        return fmt_dates(days, column.fmt or "%Y-%m-%d")
    if column.kind == "date_int":
        arr = np.asarray(days, dtype=np.int64)
        numbers = pd.to_datetime(np.where(arr == NO_DAY, 0, arr), unit="D").strftime("%Y%m%d").astype(np.int64)
        out = pd.Series(numbers, dtype="Int64")
        out[arr == NO_DAY] = pd.NA
        return out
    if column.kind == "datetime":
        arr = np.asarray(days, dtype=np.int64)
        return pd.Series([datetime(1970, 1, 1) + timedelta(days=int(d), minutes=int(d * 37 % 1440)) for d in arr],
                         dtype=object)
    raise ValueError(f"{column.name} is not a date column")


SEX_CODINGS = {"gb": {True: "1", False: "2"}, "zh": {True: "男", False: "女"}}


def render_sex(male, column: Column) -> pd.Series:
    coding = SEX_CODINGS[column.fmt or "gb"]
    return pd.Series(np.where(np.asarray(male, dtype=bool), coding[True], coding[False]), dtype=object)
