"""The check a restricted role's query passes before it runs (``citylake.catalog.sql``).

The query is parsed (sqlglot, DuckDB dialect) and its tree, not its text, is checked: one statement,
a query (SELECT, WITH, set operations) or ``DESCRIBE <table>``; every table the query reads, scope by
scope (so a CTE's name cannot be borrowed outside the CTE's scope), is a lake table
``<layer>.<name>`` the role may read; no table functions (``read_parquet``, ``query_table`` …) and no
functions that reveal the session (``current_setting``, ``duckdb_*``) or are citylake's own
(``citylake_pseudonym`` on a value typed in would find that person's rows). What runs is the SQL
regenerated from the checked tree, so DuckDB executes exactly what was checked.

The guard is one layer: the tables a role reads are views that mask below it
(:mod:`citylake.catalog.access`), and DuckDB's file system access is off.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

# Functions no restricted query calls, by lowercase name or prefix.
_DENIED_FUNCTIONS = frozenset({"current_setting", "getenv", "query", "query_table", "read_text", "read_blob",
                               "glob", "which_secret", "current_database", "current_schema", "current_schemas"})
_DENIED_PREFIXES = ("citylake_", "duckdb_", "pragma_", "read_", "parquet_", "sniff_", "iceberg_", "delta_")


class GuardError(ValueError):
    """A query the role may not run; the message says what to change."""


@dataclass(frozen=True)
class CheckedQuery:
    sql: str  # regenerated from the checked tree
    tables: tuple[str, ...]  # lake tables it reads, sorted


def check(sql: str, readable: Collection[str], role: str) -> CheckedQuery:
    """``sql`` if ``role`` may run it over the ``readable`` lake tables, else :class:`GuardError`."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError
    from sqlglot.optimizer.scope import traverse_scope

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        raise GuardError(f"the query could not be parsed (line {first.get('line')}, column {first.get('col')}): "
                         f"{first.get('description', 'syntax error')}") from None
    if len(statements) != 1:
        raise GuardError(f"run one statement at a time, not {len(statements)}")
    statement = statements[0]
    if isinstance(statement, exp.Describe):
        target = statement.this
        if not isinstance(target, exp.Table):
            raise GuardError(f"role {role} may DESCRIBE a lake table (<layer>.<name>) only")
        physical = {id(target)}
    elif isinstance(statement, exp.Query):
        try:
            scopes = traverse_scope(statement)
        except Exception as error:  # sqlglot could not resolve the scopes: do not guess
            raise GuardError(f"the query's tables could not be resolved: {error}") from None
        physical = {id(source) for scope in scopes for source in scope.sources.values()
                    if isinstance(source, exp.Table)}
    else:
        raise GuardError(f"role {role} runs queries only (SELECT, WITH, DESCRIBE, SHOW TABLES), "
                         f"not {statement.key.upper()}")

    tables = set()
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise GuardError(f"role {role} may not call table functions ({table.this.sql(dialect='duckdb')[:40]})")
        qualified = f"{table.db}.{table.name}"
        if id(table) not in physical:  # a reference to a CTE of its own scope
            if table.db or table.catalog:
                raise GuardError(f"{table.sql(dialect='duckdb')} is not a lake table")
            continue
        if table.catalog or not table.db:
            raise GuardError(f"{table.sql(dialect='duckdb')} is not a lake table: lake tables are <layer>.<name>")
        if qualified.lower() not in readable:
            raise GuardError(f"role {role} may not read {qualified}, or it is not in the lake "
                             "(citylake sql 'SHOW TABLES' lists the tables the role reads)")
        tables.add(qualified.lower())

    for function in statement.find_all(exp.Func):
        name = (function.name if isinstance(function, exp.Anonymous) else function.sql_name()).lower()
        if name in _DENIED_FUNCTIONS or name.startswith(_DENIED_PREFIXES):
            raise GuardError(f"role {role} may not call {name}()")
    return CheckedQuery(statement.sql(dialect="duckdb"), tuple(sorted(tables)))
