"""Reading a source query as a stream of Arrow record batches, each of at most ``chunk_rows`` rows.

PostgreSQL goes through ADBC (``adbc-driver-postgresql``: the binary COPY protocol straight into
Arrow, several times faster than row-by-row drivers); other databases through SQLAlchemy with a
server-side cursor, converted column by column. Either way the batches have the source table's
Arrow schema, and memory holds one chunk at a time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa


def read_batches(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    if engine.dialect.name == "postgresql":
        yield from prefetched(_postgres_adbc(engine, query, schema, chunk_rows))
    else:
        yield from _sqlalchemy(engine, query, schema, chunk_rows)


_DONE = object()


def prefetched(batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
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


def _sqlalchemy(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(query)
        for part in result.partitions(chunk_rows):
            columns = list(zip(*part, strict=True))
            yield pa.RecordBatch.from_arrays([_column(list(c), f) for c, f in zip(columns, schema, strict=True)],
                                             schema=schema)


class SourceValueError(ValueError):
    """A source value that does not fit its column's type. Names the column, never the value."""


def _column(values: list, field: pa.Field) -> pa.Array:
    try:
        return convert(values, field.type)
    except (pa.ArrowException, ValueError, TypeError, ArithmeticError) as exc:
        raise SourceValueError(f"column {field.name}: a value does not fit {field.type} "
                               f"({type(exc).__name__}; the value is withheld, it may be personal data)") from None


def _postgres_adbc(engine: sa.Engine, query: sa.Select, schema: pa.Schema, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    import adbc_driver_postgresql.dbapi as adbc

    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    url = engine.url.set(drivername="postgresql")
    with adbc.connect(url.render_as_string(hide_password=False)) as conn, conn.cursor() as cursor:
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            for start in range(0, batch.num_rows, chunk_rows):
                yield _cast(batch.slice(start, chunk_rows), schema)


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """ADBC's types to the source table's: NUMERIC arrives as text, integers may be narrower."""
    arrays = []
    for field, column in zip(schema, batch.columns, strict=True):
        try:
            arrays.append(column if column.type == field.type else column.cast(field.type))
        except pa.ArrowException as exc:
            raise SourceValueError(f"column {field.name}: a value does not fit {field.type} "
                                   f"({type(exc).__name__}; the value is withheld)") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def convert(values: list, type_: pa.DataType) -> pa.Array:
    """Python values from a DB-API driver to an Arrow array of ``type_``."""
    if pa.types.is_decimal(type_):
        quantum = Decimal(1).scaleb(-type_.scale)
        values = [None if v is None else (v if isinstance(v, Decimal) else Decimal(str(v))).quantize(quantum)
                  for v in values]
    elif pa.types.is_string(type_):
        if not all(v is None or isinstance(v, str) for v in values):
            values = [None if v is None else v if isinstance(v, str) else str(v) for v in values]
    elif pa.types.is_date32(type_):
        values = [None if v is None else v.date() if isinstance(v, datetime) else v if isinstance(v, date)
                  else date.fromisoformat(str(v)) for v in values]
    return pa.array(values, type=type_)
