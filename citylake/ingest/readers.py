"""Reading a source query as a stream of Arrow record batches, each of at most ``chunk_rows`` rows.

PostgreSQL goes through ADBC (``adbc-driver-postgresql``: the binary COPY protocol straight into
Arrow, several times faster than row-by-row drivers); other databases through SQLAlchemy with a
server-side cursor, converted column by column. Either way the batches have the source table's
Arrow schema, and memory holds one chunk at a time.

Values are read raw (no SQLAlchemy result processing; SQLite text as undecoded bytes) and typed by
``citylake.ingest.convert``: a value that does not fit its column never fails the read, it comes
back NULL with its raw text in the chunk's ``_unconverted`` column.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import sqlalchemy as sa

from citylake.ingest.convert import convert_array, convert_values, unconverted_column

Chunk = tuple[pa.RecordBatch, pa.Array]


def read_batches(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[Chunk]:
    """The query's rows as (record batch of ``schema``, its ``_unconverted`` column) chunks."""
    if engine.dialect.name == "postgresql":
        yield from prefetched(_postgres_adbc(engine, query, schema, chunk_rows))
    else:
        yield from _sqlalchemy(engine, query, schema, chunk_rows)


_DONE = object()


def prefetched(batches: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Read the next batches in a thread while the caller works on this one (the driver releases the
    GIL while it waits on the network), holding at most ``depth`` batches in memory."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                slots.put(batch)
            slots.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    worker = threading.Thread(target=produce, name="source-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _sqlalchemy(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[Chunk]:
    # The driver's own values: SQLAlchemy's result processors raise on a value that does not fit
    # (a SQLite DATETIME holding 'not a date') and would fail the whole read.
    raw = query.with_only_columns(*[sa.type_coerce(c, sa.types.NullType()).label(c.name)
                                    for c in query.selected_columns])
    with engine.connect() as conn, _undecoded_text(conn):
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(raw)
        for part in result.partitions(chunk_rows):
            columns = list(zip(*part, strict=True))
            arrays, failures = [], {}
            for values, field in zip(columns, schema, strict=True):
                array, failures[field.name] = convert_values(list(values), field.type)
                arrays.append(array)
            yield pa.RecordBatch.from_arrays(arrays, schema=schema), unconverted_column(failures, len(part))


@contextmanager
def _undecoded_text(conn: sa.Connection) -> Iterator[None]:
    """SQLite text as bytes for the duration of a read: the sqlite3 module raises on text that is not
    UTF-8 (quoting it in the message) and stops the read; Arrow validates the bytes instead."""
    if conn.dialect.name != "sqlite":
        yield
        return
    dbapi = conn.connection.dbapi_connection
    before = dbapi.text_factory
    dbapi.text_factory = bytes
    try:
        yield
    finally:
        dbapi.text_factory = before


def _postgres_adbc(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[Chunk]:
    import adbc_driver_postgresql.dbapi as adbc

    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    url = engine.url.set(drivername="postgresql")
    with adbc.connect(url.render_as_string(hide_password=False)) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            for start in range(0, batch.num_rows, chunk_rows):
                yield _cast(batch.slice(start, chunk_rows), schema)


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> Chunk:
    """ADBC's types to the source table's: NUMERIC arrives as text (``'NaN'`` included), integers may
    be narrower."""
    arrays, failures = [], {}
    for field, column in zip(schema, batch.columns, strict=True):
        array, failures[field.name] = convert_array(column, field.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema), unconverted_column(failures, batch.num_rows)
