"""跨源一致性检查: a department's records judged against other departments' authoritative records.

Rules are data (``quality/cross_source.yaml``), validated on load against the source registry and
the standards: a rule's subject and its contradicting tables are named as ``<system>.<TABLE>`` and
joined on a standard field (the person's ID number, say), read from silver where the values are
already standardised. A subject record that matches any contradicting record fails the rule.

Each check reads only the columns it joins and filters on (a few columns of each table, not whole
tables) and joins them in DuckDB; it feeds ``governance.quality_issue`` through the same
:func:`quality.feedback.record_findings` as the gate (owning only its own rule, so each side closes
only its own issues) and writes one ``governance.rule_result`` row: subject records evaluated and
failed, on the 一致性 indicator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from citylake.config_files import resolve
from citylake.config_model import ConfigModel, validate_document
from citylake.configuration import ConfigurationError, read_yaml
from citylake.quality.checks import Check
from citylake.sources.registry import SourceSystem, SourceTable, load_registry

# Loading the rules is part of parsing the promotion DAGs: DuckDB, pandas and Arrow are imported by
# the check itself, inside the task.

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("cross_source.yaml")


class CrossSourceRuleError(ConfigurationError):
    """quality/cross_source.yaml has a missing, unknown or malformed entry."""


@dataclass(frozen=True)
class TableRef:
    system: SourceSystem
    table: SourceTable
    column: str
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def silver(self) -> str:
        return self.table.silver_name(self.system.code)

    def filter(self):
        import pyarrow.compute as pc

        expression = None
        for column, values in self.where:
            term = pc.field(column).isin(list(values))
            expression = term if expression is None else expression & term
        return expression


@dataclass(frozen=True)
class CrossSourceRule:
    rule: str
    description: str
    criticality: str
    subject: TableRef
    contradicted_by: tuple[TableRef, ...]

    @property
    def check(self) -> Check:
        return Check(self.subject.table.name, "cross_source", (self.subject.column,), rule_name=self.rule,
                     rule_criticality=self.criticality)


class RefEntry(ConfigModel):
    """A table of a rule: ``<system>.<TABLE>``, the standard field it is joined on, and optionally
    the rows kept (source column -> values)."""

    table: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[^.\s]+$", description="<system>.<TABLE> of the registry")
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="a standard field")
    where: dict[str, Annotated[list[str | int], Field(min_length=1)]] = Field(
        default_factory=dict, description="source column -> the values a row must have one of")


class RuleEntry(ConfigModel):
    """One cross-source rule."""

    rule: str = Field(json_schema_extra={"pattern": r"^cross\."}, description="its id, cross.<name>")
    description: str = Field(min_length=1)
    criticality: Literal["error", "warning"]
    subject: RefEntry = Field(description="the records judged (their department gets the issue)")
    contradicted_by: list[RefEntry] = Field(min_length=1, description="the authoritative tables")

    @field_validator("rule")
    @classmethod
    def _cross(cls, rule: str) -> str:
        if not rule.startswith("cross."):
            raise ValueError(f"rule ids start with 'cross.' (got {rule})")
        return rule


class RulesFile(ConfigModel):
    """``quality/cross_source.yaml``."""

    rules: list[RuleEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RulesFile:
        ids = [r.rule for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError(f"rule ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        return self


def _table_ref(entry: RefEntry, where: str, registry: dict[str, SourceSystem]) -> TableRef:
    system_code, _, table_name = entry.table.partition(".")
    system = registry[system_code]
    try:
        table = system.table(table_name)
    except KeyError:
        raise CrossSourceRuleError(f"{where}: system {system_code} has no table '{table_name}'") from None
    columns = [c for c, f, role in table.mapped_columns() if f == entry.field and role == "subject"]
    if not columns:
        raise CrossSourceRuleError(f"{where}: {entry.table} maps no column to {entry.field} (subject role)")
    return TableRef(system, table, columns[0],
                    tuple((c, tuple(str(v) for v in values)) for c, values in entry.where.items()))


def rules_file() -> Path:
    """``quality/cross_source.yaml``, or its override in ``$CITYLAKE_CONFIG`` (citylake.config_files)."""
    return resolve("quality/cross_source.yaml", RULES_FILE)


def load_rules(path: Path | None = None) -> tuple[CrossSourceRule, ...]:
    """The rules of ``path`` (default :func:`rules_file`), read once per file."""
    return _load_rules(Path(path) if path else rules_file())


@cache
def _load_rules(path: Path) -> tuple[CrossSourceRule, ...]:
    return read_rules(path)


def read_rules(path: Path) -> tuple[CrossSourceRule, ...]:
    """The rules of ``path``, validated (:class:`RulesFile`, then against the source registry)."""
    doc = validate_document(RulesFile, read_yaml(path, CrossSourceRuleError) or {}, path, CrossSourceRuleError)
    registry = load_registry()
    rules = []
    for i, entry in enumerate(doc.rules):
        where = f"{path}: rules[{i}] ({entry.rule})"
        systems = {ref.table.partition(".")[0] for ref in [entry.subject, *entry.contradicted_by]}
        if systems - set(registry):
            # A department not onboarded here (yet): the rule cannot be checked, which is not an error.
            log.warning("%s: rule %s is inactive: systems %s are not in the source registry", where, entry.rule,
                        sorted(systems - set(registry)))
            continue
        rules.append(CrossSourceRule(
            entry.rule, entry.description, entry.criticality,
            _table_ref(entry.subject, f"{where}.subject", registry),
            tuple(_table_ref(r, f"{where}.contradicted_by[{j}]", registry)
                  for j, r in enumerate(entry.contradicted_by))))
    return tuple(rules)


def rules_for(system_code: str) -> list[CrossSourceRule]:
    """The rules whose subject belongs to ``system_code``."""
    return [r for r in load_rules() if r.subject.system.code == system_code]


def _read(lake, ref: TableRef, columns: list[str], use_filter: bool):
    import pyarrow as pa

    if not lake.exists(ref.silver):
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    # Filtered after the read: delta-rs' pushdown compares string statistics with string_view
    # literals and fails; these are a few narrow columns.
    table = lake.read_arrow(ref.silver, columns=columns).read_all()
    table = table.cast(pa.schema([pa.field(c, pa.string()) for c in columns]))
    return table.filter(ref.filter()) if use_filter and ref.where else table


def check_rule(lake, rule: CrossSourceRule) -> dict:
    """Evaluate ``rule`` over the current silver tables; record its issues and result."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from citylake.ingest import governance as gov
    from citylake.quality.feedback import record_findings
    from citylake.quality.rule_results import record_results, result_rows

    subject = rule.subject
    key = subject.table.primary_key[0]
    where_columns = [c for c, _ in subject.where]
    records = _read(lake, subject, [key, subject.column, *where_columns], use_filter=False)
    in_scope = records.filter(subject.filter()) if subject.where else records
    references = [_read(lake, ref, [ref.column, *(c for c, _ in ref.where)], use_filter=True)
                  .select([ref.column]).rename_columns(["id"]) for ref in rule.contradicted_by]
    with duckdb.connect() as db:
        db.register("contradicting", pa.concat_tables(references))
        db.register("scope", in_scope.select([key, subject.column]).rename_columns(["record_key", "id"]))
        failing = db.sql("SELECT DISTINCT s.record_key FROM scope s SEMI JOIN contradicting c ON s.id = c.id"
                         ).to_arrow_table()
    failed_keys = set(failing.column("record_key").to_pylist())
    batch_id = f"cross:{rule.rule}:{gov.now():%Y%m%dT%H%M%S%f}"
    finding = {"rule": rule.rule, "message": rule.description, "columns": [subject.column]}
    all_keys = records.column(key).to_pylist()
    checked = pd.DataFrame({key: all_keys, subject.column: records.column(subject.column).to_pylist()})
    empty: list = []
    findings = [[finding] if k in failed_keys else empty for k in all_keys]
    errors, warnings = (findings, [empty] * len(all_keys)) if rule.criticality == "error" else \
        ([empty] * len(all_keys), findings)
    checked["_errors"], checked["_warnings"] = errors, warnings
    feedback = record_findings(lake, subject.system, subject.table, batch_id, checked, [],
                               owns_rule=lambda r: r == rule.rule, job="cross_source")
    counts = {rule.check.check_id: (in_scope.num_rows, len(failed_keys), f"{len(failed_keys)} of {in_scope.num_rows}"
                                                                        " subject records contradicted")}
    record_results(lake, result_rows(subject.system, subject.table, batch_id, [rule.check], counts), batch_id)
    log.info("%s on %s: %d of %d records contradicted; issues +%d fixed %d", rule.rule, subject.silver,
             len(failed_keys), in_scope.num_rows, feedback["opened"], feedback["fixed"])
    return {"rule": rule.rule, "batch_id": batch_id, "evaluated": in_scope.num_rows, "failed": len(failed_keys),
            "issues_opened": feedback["opened"], "issues_fixed": feedback["fixed"]}
