"""Lake I/O: the one interface to citylake's Delta tables.

Example::

    lake = open_lake()  # $CITYLAKE_HOME/lake; backend from $CITYLAKE_LAKE_BACKEND (delta-rs)
    lake.write_arrow("bronze.gongan_czrk", reader, metadata={"batch_id": "b42"})
    df = lake.read_spark(spark, "silver.person")
    lake.merge_spark(changes, "gold.person", keys=["person_id"], metadata={"batch_id": "b42"})

Tables are named ``<layer>.<name>`` and live at ``<lake root>/<layer>/<name>``. The default
backend (:class:`DeltaRsLake`) commits everything through delta-rs, Spark included;
:class:`DeltaSparkLake` uses Spark's ``format("delta")`` where the delta-spark jars exist.
"""

from citylake.lake.backends import BACKEND_ENV, open_lake
from citylake.lake.delta_rs import (
    LAKE_ROOT_ENV,
    STORAGE_OPTIONS_ENV,
    DeltaRsLake,
    default_lake_root,
    default_storage_options,
)
from citylake.lake.delta_spark import DeltaSparkLake
from citylake.lake.errors import (
    BackendUnavailableError,
    ConcurrentChangeError,
    DuplicateKeyError,
    InvalidTableNameError,
    LakeError,
    LockTimeoutError,
    NullKeyError,
    PartitionMismatchError,
    SchemaMismatchError,
    TableNotFoundError,
)
from citylake.lake.names import TableName
from citylake.lake.spark import get_spark

__all__ = [
    "BACKEND_ENV",
    "LAKE_ROOT_ENV",
    "STORAGE_OPTIONS_ENV",
    "BackendUnavailableError",
    "ConcurrentChangeError",
    "DeltaRsLake",
    "DeltaSparkLake",
    "DuplicateKeyError",
    "InvalidTableNameError",
    "LakeError",
    "LockTimeoutError",
    "NullKeyError",
    "PartitionMismatchError",
    "SchemaMismatchError",
    "TableName",
    "TableNotFoundError",
    "default_lake_root",
    "default_storage_options",
    "get_spark",
    "open_lake",
]
