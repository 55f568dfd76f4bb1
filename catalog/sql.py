"""SQL over the lake for analysts: ``citylake sql "QUERY"`` (DuckDB over the Delta tables).

Every lake table is visible as ``<layer>.<name>`` (``gold.person``, ``silver.gongan_czrk``,
``governance.quality_issue``), read through :mod:`citylake.lake` as a lazy Arrow dataset of its
current version: DuckDB pushes projections and filters into the scan and streams the result, so a
query over a large table never loads it whole. Only the tables a query names are opened.
``SHOW TABLES [FROM layer]`` lists the lake's tables with their version and row count.

Who reads what is the role's (:mod:`citylake.catalog.access`): each table a query names becomes a
view over its scan that masks, pseudonymises, hides and filters as the role requires, so ``SELECT *``,
joins, sub-queries and CTEs all read the masked view; a restricted role's query is checked on its
parsed tree first (:mod:`citylake.catalog.sql_guard`), and the raw scans are registered under names
nobody can guess. DuckDB's file system access is switched off once the tables are registered (no
``read_csv('/etc/…')``, no ``COPY … TO``, no ``ATTACH``), so no query reads files outside the lake or
writes anywhere. Error messages are scrubbed of quoted values, long numbers and Chinese text (a
conversion error quotes the value it failed on, which may be an ID number). The CLI writes every read
to ``governance.access_log`` (:mod:`citylake.catalog.access_log`).
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from citylake.ingest.redact import scrub
from citylake.lake.names import TableName

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from citylake.catalog.access import Role
    from citylake.lake import DeltaRsLake

# The rows the ``table`` format shows; ``csv`` and ``json`` stream every row.
DEFAULT_MAX_ROWS = 100
_SHOW_TABLES = re.compile(r"\s*SHOW\s+TABLES(?:\s+(?:FROM|IN)\s+\"?(?P<layer>\w+)\"?)?\s*;?\s*", re.IGNORECASE)


class QueryError(ValueError):
    """A query DuckDB refused (syntax, unknown table or column, type error), its message scrubbed."""


class QueryRefused(QueryError):
    """A query the role may not run (a table it may not read, a statement that is no query …)."""


@dataclass(frozen=True)
class QueryResult:
    """A query's result, read once: :meth:`batches` streams it; ``columns`` names its columns."""

    relation: duckdb.DuckDBPyRelation
    connection: duckdb.DuckDBPyConnection
    tables: tuple[str, ...]  # the lake tables the query reads

    @property
    def columns(self) -> list[str]:
        return list(self.relation.columns)

    def batches(self, batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        try:
            yield from self.relation.to_arrow_reader(batch_size)
        except Exception as error:  # DuckDB raises most errors on execution, not on planning
            raise _query_error(error) from None

    def head(self, rows: int) -> QueryResult:
        return QueryResult(self.relation.limit(rows), self.connection, self.tables)

    def render(self, max_rows: int, max_width: int | None = None) -> tuple[str, int]:
        """The first ``max_rows`` rows as DuckDB's box table (CJK-width aware), with a note when cut,
        and the number of rows shown.

        Columns that do not fit in ``max_width`` characters are elided in the middle, as DuckDB's
        shell does.
        """
        try:
            shown = self.relation.limit(max_rows + 1).to_arrow_table()
        except Exception as error:
            raise _query_error(error) from None
        more = shown.num_rows > max_rows
        view = self.connection.from_arrow(shown.slice(0, max_rows))
        # DuckDB's box renderer only prints; its text is what the caller shows.
        box = io.StringIO()
        with contextlib.redirect_stdout(box):
            view.show(max_rows=max_rows, max_width=max_width)
        text = box.getvalue()
        if more:
            text += f"\nfirst {max_rows} rows shown; --max-rows N for more, --format csv|json for all\n"
        return text, min(shown.num_rows, max_rows)


def referenced_tables(query: str, tables: Iterable[str]) -> list[str]:
    """The lake tables among ``tables`` that ``query`` names as ``layer.name`` (quoted or not).

    A name that only appears inside a string literal is opened needlessly, which is harmless.
    """
    found = []
    for table in tables:
        name = TableName.parse(table)
        pattern = rf'(?<![\w.])"?{name.layer}"?\s*\.\s*"?{name.name}(?!\w)'
        if re.search(pattern, query, re.IGNORECASE):
            found.append(table)
    return found


def query(lake: DeltaRsLake, sql: str, role: Role | None = None) -> QueryResult:
    """Run ``sql`` over the lake's tables as ``role`` (default engineer: every table as stored).

    Raises :class:`QueryError` for a query DuckDB refuses, and :class:`QueryRefused` for one the
    role may not run (checked by :mod:`citylake.catalog.sql_guard` on the parsed query).
    """
    import duckdb

    from citylake.catalog.access import AccessError, Role, pseudonym_key, readable, view
    from citylake.catalog.sql_guard import GuardError, check

    role = role or Role("engineer")
    available = lake.list_tables()
    restricted = role.kind != "engineer"
    schemas = {t: lake.schema(t) for t in available} if restricted and role.kind in ("district", "department") else {}
    visible = [t for t in available
               if not restricted or role.kind == "analyst" or readable(role, TableName.parse(t), schemas[t])]
    con = duckdb.connect()
    match = _SHOW_TABLES.fullmatch(sql)
    if match:
        return QueryResult(con.from_arrow(show_tables(lake, visible, match.group("layer"))), con, ())
    if restricted:
        try:
            checked = check(sql, set(visible), str(role))
        except GuardError as error:
            raise QueryRefused(scrub(str(error), quotes="'")) from None
        sql, tables = checked.sql, list(checked.tables)
    else:
        tables = referenced_tables(sql, available)
    key = pseudonym_key()
    hidden: dict[str, tuple[str, ...]] = {}
    for layer in sorted({TableName.parse(t).layer for t in available}):
        con.execute(f"CREATE SCHEMA {layer}")
    # Registered objects live in DuckDB's temporary catalog under a name nobody can guess; the view,
    # which masks for restricted roles, gives them their lake name.
    token = secrets.token_hex(8)
    if restricted:
        _register_functions(con, key)
    for table in tables:
        name = TableName.parse(table)
        try:
            table_view = view(role, name, schemas.get(table) or lake.schema(table), key is not None)
        except AccessError as error:
            raise QueryRefused(str(error)) from None
        scan = f"scan_{token}_{name.layer}_{name.name}"
        con.register(scan, lake.dataset(table))
        con.execute(f"CREATE VIEW {name.layer}.{name.name} AS {table_view.sql(scan)}")
        hidden[table] = table_view.hidden
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    try:
        relation = con.sql(sql)
    except Exception as error:
        raise _query_error(error, _unknown_tables(sql, available), hidden) from None
    if relation is None:  # a statement without a result (SET, CREATE VIEW …) in the session's own catalog
        raise QueryError("citylake sql runs queries that return rows (SELECT, WITH, DESCRIBE, SHOW TABLES …)")
    return QueryResult(relation, con, tuple(tables))


def _register_functions(con: duckdb.DuckDBPyConnection, key: bytes | None) -> None:
    """The masking functions the views call (the guard keeps queries from calling them)."""
    from duckdb.sqltypes import VARCHAR

    from citylake.catalog.access import mask_values, pseudonym_values

    con.create_function("citylake_mask", mask_values, [VARCHAR, VARCHAR], VARCHAR, type="arrow",
                        side_effects=False)
    if key is not None:
        con.create_function("citylake_pseudonym", lambda values: pseudonym_values(key, values), [VARCHAR], VARCHAR,
                            type="arrow", side_effects=False)


def show_tables(lake: DeltaRsLake, tables: Iterable[str], layer: str | None = None) -> pa.Table:
    """``SHOW TABLES``: table, layer, name, version and rows of the lake's tables (of one layer)."""
    import pyarrow as pa

    rows = [TableName.parse(t) for t in tables]
    if layer is not None:
        layers = sorted({r.layer for r in rows})
        if layer.lower() not in layers:
            raise QueryError(f"no layer {layer!r} in the lake; layers: {', '.join(layers)}")
        rows = [r for r in rows if r.layer == layer.lower()]
    return pa.table({
        "table": [str(r) for r in rows],
        "layer": [r.layer for r in rows],
        "name": [r.name for r in rows],
        "version": pa.array([lake.version(r) for r in rows], pa.int64()),
        "rows": pa.array([lake.row_count(r) for r in rows], pa.int64()),
    })


def _unknown_tables(sql: str, available: list[str]) -> dict[str, list[str]]:
    """``layer.name`` references in ``sql`` to a lake layer but no lake table, with close lake names."""
    layers = "|".join(sorted({TableName.parse(t).layer for t in available}))
    if not layers:
        return {}
    named = {f"{m['layer'].lower()}.{m['name']}" for m in re.finditer(
        rf'(?<![\w.])"?(?P<layer>{layers})"?\s*\.\s*"?(?P<name>\w+)', sql, re.IGNORECASE)}
    return {t: difflib.get_close_matches(t, available, n=3) for t in sorted(named - set(available))}


def _query_error(error: Exception, unknown: dict[str, list[str]] | None = None,
                 hidden: dict[str, tuple[str, ...]] | None = None) -> QueryError:
    message = " ".join(str(error).split())
    withheld = sorted({c for columns in (hidden or {}).values() for c in columns})
    if withheld and "not found" in message:
        message += f" (columns hidden from this role: {', '.join(withheld)})"
    if unknown:
        # DuckDB only knows the tables the query named, so its "Did you mean" points elsewhere.
        message = re.sub(r"Did you mean .*?\?\s*", "", message)
        message += "; " + "; ".join(
            f"no lake table {t}" + (f" (did you mean {', '.join(close)}?)" if close else "")
            for t, close in unknown.items())
    # Column and table names are double-quoted by DuckDB and stay readable; values are
    # single-quoted, and long numbers or Chinese text may be values too.
    message = scrub(message, quotes="'")
    if "does not exist" in message and "Table" in message:
        message += " (lake tables are <layer>.<name>: citylake sql 'SHOW TABLES')"
    return QueryError(f"query failed: {message}")

