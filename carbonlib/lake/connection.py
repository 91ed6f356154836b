"""The lakehouse connection: attach, create, migrate, snapshots, typed reads and writes.

One :class:`Lake` is one DuckDB connection (in memory) with the DuckLake catalog attached
as ``lake`` and made the default schema, so analysts can write ``SELECT * FROM telemetry``.
Many processes may hold a Lake on the same catalog at once (Voila and Panel kernels,
papermill runs, ingestion jobs): DuckLake commits are optimistic, and a commit that
collides with another process is retried with jittered back-off.

Reads can be pinned to a snapshot: either per query (``lake.read("org", snapshot=3)``) or
for the whole connection (``Lake.open(snapshot=3)``, read-only), so a report computed from
snapshot *k* gives the same numbers after new data arrives.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from ..settings import Settings, load_settings
from . import migrations, writer
from .errors import LakeError, NotALakeError, SchemaVersionError
from .extensions import load_extensions
from .schema import SCHEMA_VERSION, TABLES, table
from .transaction import transaction

CATALOG = "lake"
_CONFLICT_WORDS = ("conflict", "locked", "busy")


def _is_commit_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and any(w in str(error).lower() for w in _CONFLICT_WORDS)


#: Retry policy for writes that collide with another process's commit.
retry_on_conflict = retry(
    retry=retry_if_exception(_is_commit_conflict),
    wait=wait_random_exponential(multiplier=0.05, max=2.0),
    stop=stop_after_delay(120),
    reraise=True,
)


def _check_embedded_catalog(settings: Settings) -> None:
    """Refuse, before DuckLake touches it, a catalog file that is missing or not a DuckLake catalog.

    Attaching a foreign SQLite file writable would make DuckLake create its tables in it.
    """
    catalog_file = Path(settings.catalog_uri.removeprefix("sqlite:"))
    fix = (
        f"Fix: build one with `carbon demo build --lake {settings.lake}` or `carbon lake init --lake {settings.lake}`, "
        "or point CARBON_LAKE / --lake at an existing lake."
    )
    if not catalog_file.is_file():
        raise NotALakeError(f"{settings.lake} is not a Carbon lake (no {catalog_file.name} in it). {fix}")
    try:
        with closing(sqlite3.connect(f"{catalog_file.resolve().as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ducklake_metadata'").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise NotALakeError(f"{catalog_file} is not a DuckLake catalog ({error}). {fix}") from None
    if not found:
        raise NotALakeError(f"{catalog_file} is an SQLite database but not a DuckLake catalog. {fix}")


class Lake:
    """A connection to the Carbon lake (see module doc). Use as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, *, read_only: bool, snapshot: int | None):
        self.con = con
        self.settings = settings
        self.read_only = read_only
        self.pinned_snapshot = snapshot

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        read_only: bool = False,
        snapshot: int | None = None,
        migrate: bool = False,
    ) -> "Lake":
        """Attach an existing lake.

        Parameters
        ----------
        settings : where the lake is; default :func:`carbonlib.settings.load_settings`.
        read_only : attach read-only (dashboards, reports).
        snapshot : pin every read of this connection to DuckLake snapshot ``snapshot``
            (implies read-only).
        migrate : bring an older lake up to this carbonlib's schema version.
        """
        settings = settings or load_settings()
        if settings.is_embedded:
            _check_embedded_catalog(settings)
        lake = cls._attach(settings, read_only=read_only or snapshot is not None, snapshot=snapshot)
        version = lake._schema_version()
        if version is None:
            lake.close()
            raise NotALakeError(
                f"{settings.catalog_uri} is a DuckLake catalog but not a Carbon lake (no lake_meta table). "
                "Fix: use a lake made by `carbon lake init` / `carbon demo build`."
            )
        if version > SCHEMA_VERSION:
            lake.close()
            raise SchemaVersionError(
                f"the lake at {settings.catalog_uri} has schema version {version}, newer than this carbonlib "
                f"supports ({SCHEMA_VERSION}). Fix: upgrade carbonlib (pip install -U carbonlib) on this machine."
            )
        if version < SCHEMA_VERSION:
            if not migrate or lake.read_only:
                lake.close()
                raise SchemaVersionError(
                    f"the lake at {settings.catalog_uri} has schema version {version}; this carbonlib needs "
                    f"{SCHEMA_VERSION}. Fix: run `carbon lake migrate` (back the lake up first)."
                )
            migrations.migrate(lake.con, CATALOG, version)
        return lake

    @classmethod
    def create(cls, settings: Settings | None = None, *, exist_ok: bool = False) -> "Lake":
        """Create a new, empty lake at the configured location and return it open."""
        settings = settings or load_settings()
        if settings.is_embedded:
            catalog_file = Path(settings.catalog_uri.removeprefix("sqlite:"))
            if catalog_file.exists():
                if exist_ok:
                    return cls.open(settings, migrate=True)
                raise LakeError(
                    f"a lake already exists at {settings.lake}. Fix: choose another --lake, or remove it first."
                )
            catalog_file.parent.mkdir(parents=True, exist_ok=True)
            if settings.data_uri.startswith("/"):
                Path(settings.data_uri).mkdir(parents=True, exist_ok=True)
        lake = cls._attach(settings, read_only=False, snapshot=None)
        try:
            if lake._schema_version() is not None:
                if exist_ok:
                    return lake
                raise LakeError(f"a Carbon lake already exists in {settings.catalog_uri}")
            migrations.migrate(lake.con, CATALOG, 0)
            lake.set_meta("created_by", "carbonlib")
        except Exception:
            lake.close()
            raise
        return lake

    @classmethod
    def _attach(cls, settings: Settings, *, read_only: bool, snapshot: int | None) -> "Lake":
        con = duckdb.connect()
        needed = ["ducklake", "sqlite" if settings.is_embedded else "postgres"]
        if settings.data_uri.startswith(("s3://", "gs://", "http://", "https://")):
            needed.append("httpfs")
        load_extensions(con, needed)
        con.execute("SET TimeZone = 'UTC'")
        options = [f"DATA_PATH '{settings.data_uri}'", "OVERRIDE_DATA_PATH TRUE"]
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        try:
            retry_on_conflict(con.execute)(f"ATTACH 'ducklake:{settings.catalog_uri}' AS {CATALOG} ({', '.join(options)})")
        except duckdb.Error as error:
            con.close()
            raise NotALakeError(
                f"cannot open the lake catalog {settings.catalog_uri}: {error}. Fix: check the path/URI "
                "(CARBON_LAKE, CARBON_CATALOG) or create a lake with `carbon lake init`."
            ) from error
        con.execute(f"USE {CATALOG}")
        return cls(con, settings, read_only=read_only, snapshot=snapshot)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- metadata
    @retry_on_conflict
    def _row(self, sql: str, params: list | None = None) -> tuple | None:
        """First row of ``sql`` (None when empty), reading the result to its end; retried on catalog locks.

        ``fetchone()`` would leave the result open, and with it the read transaction on the
        SQLite catalog, until the next statement: a long-lived reader (a dashboard) would then
        block every writer's commit ("database is locked").
        """
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def _schema_version(self) -> int | None:
        exists = self._row(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = 'lake_meta'", [CATALOG]
        )[0]
        if not exists:
            return None
        row = self._row(f"SELECT value FROM {CATALOG}.lake_meta WHERE key = 'schema_version'")
        return int(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        """A value of the ``lake_meta`` table (None when unset)."""
        row = self._row(f"SELECT value FROM {CATALOG}.lake_meta WHERE key = ?", [key])
        return row[0] if row else None

    @retry_on_conflict
    def set_meta(self, key: str, value: str) -> None:
        """Set a ``lake_meta`` value in one transaction."""
        with transaction(self.con):
            self.con.execute(f"DELETE FROM {CATALOG}.lake_meta WHERE key = ?", [key])
            self.con.execute(f"INSERT INTO {CATALOG}.lake_meta VALUES (?, ?)", [key, value])

    @property
    def schema_version(self) -> int:
        return self._schema_version() or 0

    def snapshot_id(self) -> int:
        """Id of the snapshot this connection reads (the pinned one, or the latest)."""
        if self.pinned_snapshot is not None:
            return self.pinned_snapshot
        return int(self._row(f"FROM {CATALOG}.current_snapshot()")[0])

    def snapshots(self) -> pd.DataFrame:
        """All snapshots: id, time (UTC), schema version and what changed."""
        return self.query(
            f"SELECT snapshot_id, snapshot_time, schema_version, changes FROM ducklake_snapshots('{CATALOG}') "
            "ORDER BY snapshot_id"
        )

    def tables_changed(self, after: int, upto: int, tables: tuple[str, ...]) -> list[str]:
        """Which of ``tables`` were written in snapshots (after, upto], from the snapshots' change summaries.

        ``ducklake_snapshots`` lists per snapshot the ids (or names) of the tables written, so
        this costs one catalog query, not a scan of the change feed.
        """
        if upto <= after:
            return []
        names = self.query(f"SELECT table_id, table_name FROM ducklake_table_info('{CATALOG}')")
        by_id = dict(zip(names.table_id.astype(str), names.table_name))
        summaries = self.query(f"SELECT changes FROM ducklake_snapshots('{CATALOG}') WHERE snapshot_id > ? "
                               "AND snapshot_id <= ?", [after, upto]).changes
        touched = {by_id.get(t, t.split(".")[-1]) for changes in summaries for ids in changes.values() for t in ids}
        return [t for t in tables if t in touched]

    # ------------------------------------------------------------------ reading
    @retry_on_conflict
    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """Run SQL against the lake (tables are unqualified) and return a DataFrame.

        Retried when another process's commit holds the catalog lock for a moment.
        """
        return self.con.execute(sql, params or []).df()

    def relation(self, name: str, snapshot: int | None = None) -> str:
        """SQL FROM-item for ``name``, pinned with ``AT (VERSION => k)`` when a snapshot is given.

        The pinned form is a subquery, so it can take an alias like a plain table name.
        """
        table(name)
        if snapshot is None:
            return f"{CATALOG}.{name}"
        return f"(SELECT * FROM {CATALOG}.{name} AT (VERSION => {int(snapshot)}))"

    def read(
        self,
        name: str,
        *,
        columns: list[str] | None = None,
        where: str | None = None,
        params: list | None = None,
        snapshot: int | None = None,
    ) -> pd.DataFrame:
        """Read a table (optionally some columns, a WHERE clause and a snapshot) as a DataFrame."""
        definition = table(name)
        cols = columns or definition.column_names
        for col in cols:
            definition.column(col)
        sql = f"SELECT {', '.join(cols)} FROM {self.relation(name, snapshot)}"
        if where:
            sql += f" WHERE {where}"
        if definition.key:
            sql += f" ORDER BY {', '.join(k for k in definition.key)}"
        return self.query(sql, params)

    def info(self) -> pd.DataFrame:
        """Per table: rows, data files and bytes on storage."""
        files = self.query(f"SELECT table_name, file_count, file_size_bytes FROM ducklake_table_info('{CATALOG}')")
        rows = [
            (name, int(self._row(f"SELECT count(*) FROM {CATALOG}.{name}")[0])) for name in TABLES
        ]
        out = pd.DataFrame(rows, columns=["table", "rows"]).merge(
            files.rename(columns={"table_name": "table", "file_count": "files", "file_size_bytes": "bytes"}),
            on="table",
            how="left",
        )
        return out.fillna({"files": 0, "bytes": 0}).astype({"files": "int64", "bytes": "int64"})

    def checksums(self, snapshot: int | None = None) -> dict[str, str]:
        """Order-independent content checksum per table: ``rows:xor-of-row-hashes`` (hex).

        Equal checksums mean equal row multisets (up to hash collisions), whatever the
        file layout; used to prove that a seeded demo build is deterministic.  Volatile run
        stamps (``Table.volatile``, e.g. ``account.computed_at``) are left out.
        """
        out = {}
        for name, definition in TABLES.items():
            cols = ", ".join(c for c in definition.column_names if c not in definition.volatile)
            rows, digest = self._row(
                f"SELECT count(*), coalesce(bit_xor(hash({cols})), 0) FROM {self.relation(name, snapshot)}"
            )
            out[name] = f"{rows}:{digest:016x}"
        return out

    # ------------------------------------------------------------------ writing
    @retry_on_conflict
    def append(
        self,
        name: str,
        data: pd.DataFrame | pa.Table,
        *,
        source: str = "api",
        on_error: str = "raise",
        received_at: datetime | None = None,
        replace_within: pd.DataFrame | None = None,
    ) -> writer.WriteResult:
        """Validate and append rows to table ``name`` (see :mod:`carbonlib.lake.writer`).

        ``received_at`` (UTC) stamps quarantined rows; default now.  ``replace_within``
        (derived tables): key groups the batch replaces as a whole, stale rows deleted in
        the same transaction.
        """
        if self.read_only:
            raise LakeError("this lake connection is read-only (or pinned to a snapshot); open it writable to append")
        # Each attempt works on its own cursor: whatever a failed attempt left behind (registered
        # batch views, an aborted transaction) goes away with it and cannot break the retry.
        cursor = self.con.cursor()
        try:
            return writer.append(
                cursor, CATALOG, table(name), data, source=source, on_error=on_error, received_at=received_at,
                replace_within=replace_within,
            )
        finally:
            cursor.close()
