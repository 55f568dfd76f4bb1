"""``gold.standard_address`` (标准地址): the authoritative list (公安 一标三实, ``authority`` in
jobs/address/matching.yaml) from its silver table, components in one written form.

The list's columns are found by the registry mapping (``address.<component>``), not by name. Each
component is written as the parser (citylake.jobs.address.parse) writes it: names cleaned
(citylake.jobs.address.normalise.clean: no spaces, half-width, simplified characters), numbers as
digits without their 号/号楼/单元/室. Rows of the list naming one place twice (a duplicate record of
the department) become one standard address, keyed by the smallest address code, the other codes
kept in ``duplicate_ids``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pandas as pd

from citylake.jobs.address.settings import MatchingSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

NAMES = ("district", "street", "community", "road", "compound")
NUMBERS = {"house_number": re.compile(r"号$"), "building": re.compile(r"(号楼|栋|幢|座|#楼|#|号)$"),
           "unit": re.compile(r"单元$"), "room": re.compile(r"(室|户)$")}
PLACE = ("district_code", "street", "community", "road", "house_number", "compound", "building", "unit", "room")


def written_number(value: str | None, suffix: re.Pattern) -> str | None:
    """``"142号"``, ``"１４２"``, ``"二单元"`` → ``"142"``, ``"2"``; other text (142-1, A) cleaned."""
    from citylake.jobs.address.normalise import clean, to_number

    if value is None:
        return None
    text = suffix.sub("", clean(value))
    if not text:
        return None
    return to_number(text) or text


def normalise_components(frame: pd.DataFrame) -> pd.DataFrame:
    """The list's components (pandas, one column each) in the parser's written form."""
    from citylake.jobs.address.normalise import clean

    out = {"district_code": frame["district_code"].map(lambda v: clean(v) if isinstance(v, str) else None)}
    for name in NAMES:
        out[name] = frame[name].map(lambda v: (clean(v) or None) if isinstance(v, str) else None)
    for name, suffix in NUMBERS.items():
        out[name] = frame[name].map(lambda v, s=suffix: written_number(v, s) if isinstance(v, str) else None)
    out["text"] = frame["text"].map(lambda v: (clean(v) or None) if isinstance(v, str) else None)
    return pd.DataFrame(out)[[*PLACE[:1], *NAMES[:1], *PLACE[1:], "text"]]


def standard_addresses(silver: DataFrame, settings: MatchingSettings) -> DataFrame:
    """``gold.standard_address`` from the authority's silver rows (no I/O)."""
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    columns = settings.authority_columns
    key = settings.authority_table.primary_key[0]
    components = ("district_code", "district", *PLACE[1:], "text")
    schema = ", ".join(f"{c} string" for c in components)

    @pandas_udf(schema)
    def normalise(raw: pd.DataFrame) -> pd.DataFrame:
        return normalise_components(raw)

    raw = F.struct(*[(F.col(columns[c]).cast("string") if c in columns else F.lit(None).cast("string")).alias(c)
                     for c in components])
    rows = silver.select(F.col(key).cast("string").alias("code"), F.col("_batch_id").alias("batch_id"),
                         normalise(raw).alias("c")).select("code", "batch_id", "c.*")
    grouped = rows.groupBy(*PLACE).agg(
        F.array_sort(F.collect_list("code")).alias("codes"), F.min("district").alias("district"),
        F.min("text").alias("standard_text"), F.min("batch_id").alias("batch_id"))
    return grouped.select(
        F.col("codes")[0].alias("address_id"), *PLACE[:1], "district", *PLACE[1:], "standard_text",
        F.slice("codes", 2, 1_000_000).alias("duplicate_ids"),
        F.lit(settings.authority).alias("source_table"), "batch_id")
