"""Enterprise-bearing records (法人库): every silver and quarantined record of every registry table
that maps ``enterprise.*`` fields (or ``party.*`` fields of an organisation), one row per (record,
role).

The tables and roles come from the source registry (``sources/systems/*.yaml``), not from a list:
an enterprise registration (市场监管), a tax return (税务), an employee's employer (人社, 医保), an
organisation holding a property (不动产权利人). A party is an organisation when its document type is
one of ``organisation_documents`` in ``jobs/enterprise/attributes.yaml`` (or, without a document type,
when its number is no valid GB 11643 ID number). Quarantined rows take part with their values as
written: a mistyped USCC is what linkage is for. A record corrected at its source has its old
version still in quarantine: only its current version (citylake.jobs.source_records.current) counts.

The frame :func:`enterprise_records` returns (the contract with citylake.jobs.enterprise.linkage):

``record_id``       ``<system>.<TABLE>:<record key>#<role>``, unique
``system``, ``source_table``, ``record_key``, ``role``, ``layer`` (silver/quarantine), ``batch_id``
``uscc_raw``        the USCC as the layer holds it
``uscc``            half-width, no spaces, upper case (NULL when empty) — valid or not
``uscc_check``      ``valid`` (GB 32100 and the embedded GB 11714 check characters match),
                    ``check_character`` (only the GB 32100 check character fails: an early pilot
                    code or a mistyped check character), ``invalid`` (any other shape), NULL if none
``name``            trimmed, half-width, simplified characters
``name_key``        ``name`` without brackets' width or spaces (the strict matching key);
``name_loose``      ``name_key`` with the form suffix variants folded (有限责任公司 → 有限公司)
``address``         the registered address text of the record (NULL when it has none)
``legal_rep_id``    the legal representative's normalised GB 11643 ID number (valid), or NULL
``legal_rep_name``  the legal representative's name (simplified), or NULL
``updated_at``      the source's update time of the record
``attributes``      map<string, string>: the columns of ``jobs/enterprise/attributes.yaml``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from citylake.jobs import source_records
from citylake.sources.registry import SourceSystem, SourceTable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

ATTRIBUTES_FILE = Path(__file__).with_name("attributes.yaml")
ENTERPRISE, PARTY = "enterprise", "party"
# Standard field (without entity) -> records column.
FIELDS = {"uscc": "uscc", "id_number": "uscc", "name": "name"}
RECORD_COLUMNS = ("record_id", "system", "source_table", "record_key", "role", "layer", "batch_id", "uscc_raw",
                  "uscc", "uscc_check", "name", "name_key", "name_loose", "address", "legal_rep_id",
                  "legal_rep_name", "updated_at", "attributes")
# Organisational form suffixes written for one another (企业名称登记管理规定 allows both for an LLC).
FORM_VARIANTS = (("有限责任公司", "有限公司"),)
VALID, CHECK_CHARACTER, INVALID = "valid", "check_character", "invalid"


class AttributesError(ValueError):
    """jobs/enterprise/attributes.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class EnterpriseRole:
    """One enterprise-bearing role of a table: which department column holds which field."""

    system: SourceSystem
    table: SourceTable
    role: str
    columns: Mapping[str, str]  # records column (uscc, name, address, legal_rep_id, legal_rep_name) -> column
    party: bool  # the role holds persons and organisations (party.*)
    attributes: Mapping[str, str]

    @property
    def source_table(self) -> str:
        return f"{self.system.code}.{self.table.name}"


@dataclass(frozen=True)
class Attributes:
    tables: Mapping[tuple[str, str], Mapping[str, str]]
    organisation_documents: tuple[str, ...]


def table_roles(table: SourceTable) -> dict[str, dict[str, str]]:
    """role -> {records column: department column} for the enterprise (or party) fields of a table."""
    roles: dict[str, dict[str, str]] = {}
    for column, standard, role in table.mapped_columns():
        entity, _, name = standard.partition(".")
        if entity in (ENTERPRISE, PARTY) and name in FIELDS:
            roles.setdefault(role, {})[FIELDS[name]] = column
    for column, standard, role in table.mapped_columns():
        # The table's address.text and legal representative belong to its subject enterprise.
        if "subject" in roles and standard == "address.text":
            roles["subject"]["address"] = column
        if "subject" in roles and role == "legal_rep" and standard in ("person.id_number", "person.name"):
            roles["subject"][f"legal_rep_{standard.partition('.')[2].replace('id_number', 'id')}"] = column
    return roles


def load_attributes(registry: Mapping[str, SourceSystem], path: Path = ATTRIBUTES_FILE) -> Attributes:
    """The attribute columns per (source table, role) and the organisation document types, validated."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise AttributesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"tables", "organisation_documents"}:
        raise AttributesError(f"{path}: expected the entries 'tables' and 'organisation_documents'")
    documents = doc["organisation_documents"]
    if not isinstance(documents, list) or not all(isinstance(d, str) and d for d in documents):
        raise AttributesError(f"{path}: organisation_documents must list document type codes as texts")
    if not isinstance(doc["tables"], dict):
        raise AttributesError(f"{path}: tables must map <system>.<TABLE> to roles")
    out: dict[tuple[str, str], dict[str, str]] = {}
    for source_table, roles in doc["tables"].items():
        where = f"{path}: tables.{source_table}"
        code, _, name = str(source_table).partition(".")
        if code not in registry or name not in {t.name for t in registry[code].tables}:
            raise AttributesError(f"{where}: no such table in the source registry")
        known = table_roles(registry[code].table(name))
        if not known:
            raise AttributesError(f"{where}: the table maps no enterprise or party field")
        if not isinstance(roles, dict):
            raise AttributesError(f"{where}: expected role -> {{attribute: column}}")
        for role, columns in roles.items():
            if role not in known:
                raise AttributesError(f"{where}.{role}: the table has no role '{role}' (it has {sorted(known)})")
            if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                        for k, v in columns.items()):
                raise AttributesError(f"{where}.{role}: expected attribute: column pairs")
            out[(source_table, role)] = dict(columns)
    return Attributes(out, tuple(documents))


def enterprise_roles(registry: Mapping[str, SourceSystem], attributes: Attributes) -> list[EnterpriseRole]:
    """Every enterprise-bearing (table, role) of the registry, in registry order."""
    out = []
    for system in registry.values():
        for table in system.tables:
            party = any(s.startswith(f"{PARTY}.") for _, s, _ in table.mapped_columns())
            for role, columns in table_roles(table).items():
                out.append(EnterpriseRole(system, table, role, columns, party,
                                          attributes.tables.get((f"{system.code}.{table.name}", role), {})))
    return out


def layer_tables(roles: list[EnterpriseRole]) -> dict[str, list[EnterpriseRole]]:
    """``<layer>.<system>_<table>`` -> its roles, for every layer table the records come from."""
    out: dict[str, list[EnterpriseRole]] = {}
    for role in roles:
        for layer in ("silver", "quarantine"):
            out.setdefault(f"{layer}.{role.table.lake_id(role.system.code)}", []).append(role)
    return out


# ------------------------------------------------------------------------------ standardisation

def uscc_check(code: str | None) -> str | None:
    """``valid``, ``check_character`` or ``invalid`` (see the module doc) for a normalised code."""
    from citylake.schemas.identifiers import USCC_ALPHABET, org_code_check_char, uscc_check_char

    if code is None:
        return None
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return INVALID
    if org_code_check_char(code[8:16]) != code[16]:
        return INVALID
    return VALID if uscc_check_char(code[:17]) == code[17] else CHECK_CHARACTER


def name_keys(name: str | None) -> tuple[str | None, str | None]:
    """(strict, loose) matching keys of a standardised name."""
    if name is None:
        return None, None
    strict = name.replace("(", "").replace(")", "")
    loose = strict
    for written, folded in FORM_VARIANTS:
        loose = loose.replace(written, folded)
    return strict, loose


def standardise_batch(frame: pd.DataFrame, documents: tuple[str, ...]) -> pd.DataFrame:
    """The standardised values of a batch of raw rows (``raw_uscc``, ``raw_name``, ``raw_address``,
    ``raw_legal_rep_id``, ``raw_legal_rep_name``, ``raw_document_type``, ``party``); ``documents``:
    the organisation document types."""
    import opencc

    from citylake.schemas.standards import VALIDATORS
    from citylake.schemas.validators import normalise_text

    converter = opencc.OpenCC("t2s")
    out: dict[str, pd.Series] = {}
    codes = frame["raw_uscc"].map(lambda v: (normalise_text(v) or "").upper() or None)
    out["uscc"] = codes
    out["uscc_check"] = codes.map(uscc_check)

    def simplified(values: pd.Series) -> pd.Series:
        uniques = values.dropna().unique().tolist()
        return values.map({u: (converter.convert(c) if (c := normalise_text(u)) else None) for u in uniques})

    names = simplified(frame["raw_name"])
    out["name"] = names
    keys = names.map(name_keys)
    out["name_key"] = keys.map(lambda k: k[0])
    out["name_loose"] = keys.map(lambda k: k[1])
    out["address"] = frame["raw_address"].map(lambda v: v.strip() or None if isinstance(v, str) else None)
    check_id = VALIDATORS["id_number"]
    verdicts = {v: check_id(v) for v in frame["raw_legal_rep_id"].dropna().unique()}
    out["legal_rep_id"] = frame["raw_legal_rep_id"].map(lambda v: verdicts[v].value if v in verdicts
                                                        and verdicts[v].ok else None)
    out["legal_rep_name"] = simplified(frame["raw_legal_rep_name"])
    # A party is an organisation by its document type, or without one by not being a person's ID.
    party_verdicts = {v: check_id(v).ok for v in frame.loc[frame["party"], "raw_uscc"].dropna().unique()}
    written = frame["raw_document_type"]
    organisation = ~frame["party"] | written.isin(list(documents)) | (
        written.isna() & ~frame["raw_uscc"].map(lambda v: party_verdicts.get(v, False)))
    out["organisation"] = organisation.astype(bool)
    return pd.DataFrame({k: (v.astype(object).where(v.notna(), None) if k != "organisation" else v)
                         for k, v in out.items()})


_STD = ("uscc", "uscc_check", "name", "name_key", "name_loose", "address", "legal_rep_id", "legal_rep_name")
_RAW = ("uscc", "name", "address", "legal_rep_id", "legal_rep_name", "document_type")


def _standardise(frame: DataFrame, documents: tuple[str, ...]) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(", ".join(f"{n} string" for n in _STD) + ", organisation boolean")
    def standardise(raw: pd.DataFrame) -> pd.DataFrame:
        return standardise_batch(raw, documents)

    args = F.struct(*[F.col(f"raw_{n}") for n in _RAW], F.col("party"))
    std = frame.withColumn("_std", standardise(args))
    return std.where(F.col("_std.organisation")).select(
        "record_id", "system", "source_table", "record_key", "role", "layer", "batch_id",
        F.col("raw_uscc").alias("uscc_raw"), *[F.col(f"_std.{n}").alias(n) for n in _STD], "updated_at",
        "attributes")


def _role_frame(frame: DataFrame, role: EnterpriseRole, layer: str) -> DataFrame:
    """The role's raw values (strings) from one layer of its table, ready for :func:`_standardise`."""
    from pyspark.sql import functions as F

    missing = sorted((set(role.columns.values()) | set(role.attributes.values())) - set(frame.columns))
    if missing:
        raise KeyError(f"{layer}.{role.table.lake_id(role.system.code)} lacks the columns {missing} "
                       f"(registry {role.system.path} or jobs/enterprise/attributes.yaml)")

    def text(name: str) -> Column:
        column = role.columns.get(name) or (role.attributes.get(name) if name == "document_type" else None)
        return F.col(column).cast("string") if column else F.lit(None).cast("string")

    return frame.select(
        *source_records.provenance(role, layer), *[text(n).alias(f"raw_{n}") for n in _RAW],
        F.lit(role.party).alias("party"), source_records.updated_at(role.table), source_records.attributes(role))


def records_schema() -> str:
    return ", ".join(f"{c} {'map<string,string>' if c == 'attributes' else 'timestamp' if c == 'updated_at' else 'string'}"
                     for c in RECORD_COLUMNS)


def source_tables(registry: Mapping[str, SourceSystem], path: Path = ATTRIBUTES_FILE) -> list[str]:
    """The layer tables the enterprise build reads (what the gold specs' ``sources`` refer to by this module)."""
    return sorted(layer_tables(enterprise_roles(registry, load_attributes(registry, path))))


def table_versions(lake, registry: Mapping[str, SourceSystem], path: Path = ATTRIBUTES_FILE) -> dict[str, int]:
    """The current version of every existing layer table the records come from."""
    roles = enterprise_roles(registry, load_attributes(registry, path))
    return {t: lake.version(t) for t in layer_tables(roles) if lake.exists(t)}


def enterprise_records(spark: SparkSession, lake, registry: Mapping[str, SourceSystem],
                       path: Path = ATTRIBUTES_FILE, versions: Mapping[str, int] | None = None) -> DataFrame:
    """The enterprise-bearing records (see the module doc) of the lake's silver and quarantine tables,
    read at ``versions`` (default: the current ones)."""
    from pyspark.sql import functions as F

    attributes = load_attributes(registry, path)
    raw = []
    for table, roles in layer_tables(enterprise_roles(registry, attributes)).items():
        if versions is not None and table not in versions:
            continue
        if versions is None and not lake.exists(table):
            continue
        frame = lake.read_spark(spark, table, version=versions[table] if versions is not None else None)
        raw.extend(_role_frame(frame, role, table.partition(".")[0]) for role in roles)
    if not raw:
        return spark.createDataFrame([], records_schema())
    # The current version first, then whether it bears an enterprise: a record whose employer was
    # removed in silver must not fall back to its old quarantined version. A record without any
    # enterprise value (a resident's insurance has no employer) bears none.
    union = (source_records.current(reduce(lambda a, b: a.unionByName(b), raw))
             .where(F.col("current") & (F.col("raw_uscc").isNotNull() | F.col("raw_name").isNotNull()))
             .drop("current"))
    return _standardise(union.coalesce(max(1, spark.sparkContext.defaultParallelism)), attributes.organisation_documents)
