"""The lake layer: DuckLake connection, schema, migrations, typed writers and readers.

Knows nothing of carbon science.  Start with :meth:`Lake.open` / :meth:`Lake.create`.
"""

from .connection import Lake
from .errors import (
    CatalogUnreachableError,
    DamagedLakeError,
    LakeBusyError,
    LakeError,
    NotALakeError,
    OwnedTableError,
    SchemaVersionError,
    StorageUnreachableError,
    SchemaViolation,
    UnknownTableError,
)
from .schema import CATALOG, METRICS, SCHEMA_VERSION, TABLES
from .writer import WriteResult

__all__ = [
    "CATALOG",
    "CatalogUnreachableError",
    "DamagedLakeError",
    "Lake",
    "LakeBusyError",
    "LakeError",
    "NotALakeError",
    "OwnedTableError",
    "SchemaVersionError",
    "StorageUnreachableError",
    "SchemaViolation",
    "UnknownTableError",
    "METRICS",
    "SCHEMA_VERSION",
    "TABLES",
    "WriteResult",
]
