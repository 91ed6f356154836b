"""The lake layer: DuckLake connection, schema, migrations, typed writers and readers.

Knows nothing of carbon science.  Start with :meth:`Lake.open` / :meth:`Lake.create`.
"""

from .connection import CATALOG, Lake
from .errors import LakeError, NotALakeError, SchemaVersionError, SchemaViolation
from .schema import METRICS, SCHEMA_VERSION, TABLES
from .writer import WriteResult

__all__ = [
    "CATALOG",
    "Lake",
    "LakeError",
    "NotALakeError",
    "SchemaVersionError",
    "SchemaViolation",
    "METRICS",
    "SCHEMA_VERSION",
    "TABLES",
    "WriteResult",
]
