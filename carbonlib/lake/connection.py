"""The lakehouse connection: attach, create, migrate, snapshots, typed reads and writes.

One :class:`Lake` is one DuckDB connection (in memory) with the DuckLake catalog attached
as ``lake`` and made the default schema, so analysts can write ``SELECT * FROM telemetry``.
Many processes may hold a Lake on the same catalog at once (Voila and Panel kernels,
papermill runs, ingestion jobs): DuckLake commits are optimistic, and a commit that
collides with another process is retried with jittered back-off.

Reads can be pinned to a snapshot: either per query (``lake.read("org", snapshot=3)``) or
for the whole connection (``Lake.open(snapshot=3)``, read-only), so a report computed from
snapshot *k* gives the same numbers after new data arrives.

Safety rules the connection keeps:

* every connection and cursor runs in UTC (``SET GLOBAL TimeZone``), whatever ``TZ`` says;
* reads fetch their whole result, so no reader keeps the catalog's read transaction open;
  the raw DuckDB connection is private, and :meth:`Lake.query` runs exactly one statement;
* the embedded SQLite catalog runs in WAL mode, so readers never block a writer's commit;
* a write that meets a locked catalog waits up to ``settings.lock_timeout_s``, then fails
  with :class:`LakeBusyError`; either way the catalog is re-attached, so the next write of
  the same process works as soon as the lock is gone;
* a write whose PostgreSQL catalog goes away (a restart, a fail-over) is attached anew and
  done again for up to ``settings.lock_timeout_s`` (the writer skips rows already there, so a
  commit that did land is not doubled), then fails with :class:`CatalogUnreachableError`;
  reads and opens name the catalog and the fix at once; the same :class:`Lake` works again
  as soon as the server answers;
* tables owned by a service (:attr:`~carbonlib.lake.schema.Table.owner`) are refused by
  :meth:`Lake.append`; their service writes them with :meth:`Lake.service_append`;
* a closed lake detaches its catalog and leaves its DuckDB instance (extensions loaded, file
  cache dropped, nothing attached) for the next open in the same process (:data:`_IDLE`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sqlite3
import threading
from collections.abc import Mapping
from contextlib import closing
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from tenacity import RetryError, Retrying, retry, retry_if_exception, stop_after_delay, wait_random_exponential

from ..settings import Settings, load_settings, mask_secrets
from . import integrity, migrations, writer
from .errors import (CatalogUnreachableError, DamagedLakeError, LakeBusyError, LakeError, NotALakeError,
                     OwnedTableError, SchemaVersionError)
from .extensions import load_extensions
from .schema import CATALOG, SCHEMA_VERSION, TABLES, table
from .sql import literal
from .transaction import transaction

_CONFLICT_WORDS = ("conflict", "locked", "busy")
#: Errors after which the attached catalog connection may be stuck (SQLite keeps a transaction
#: open after a COMMIT refused as busy): the catalog is attached anew.
_STUCK_WORDS = ("locked", "busy", "failed to query most recent snapshot", "failed to commit")


def _is_commit_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and any(w in str(error).lower() for w in _CONFLICT_WORDS)


def _is_stuck(error: BaseException | None) -> bool:
    return isinstance(error, duckdb.Error) and any(w in str(error).lower() for w in _STUCK_WORDS)


#: What DuckDB's postgres extension (libpq underneath) says when the catalog's PostgreSQL server went away or does
#: not answer; a COMMIT cut off by a restart fails with an empty 'Failed to execute query "ROLLBACK"'.
_CATALOG_LOST_WORDS = ("to connect to postgres", "connection to server at", "server closed the connection",
                       "terminating connection due to", "no connection to the server", "could not send data to server",
                       "could not receive data from server", "the database system is starting up",
                       "the database system is shutting down", 'failed to execute query "rollback"')


#: Server answers that say PostgreSQL is there but refuses (a wrong password, a database that does not exist): a
#: setting to fix, not an outage to wait for, unless the server is starting up or shutting down.
_SERVER_PASSING = ("the database system is starting up", "the database system is shutting down",
                   "terminating connection due to")


def _is_catalog_lost(error: BaseException | None, settings: Settings) -> bool:
    """True when ``error`` says the PostgreSQL server of the catalog does not answer (never for an embedded
    catalog, a locked or conflicting commit, a server refusing the login or database, or an object store that
    does not answer)."""
    if isinstance(error, CatalogUnreachableError):
        return True
    if settings.is_embedded or not isinstance(error, duckdb.Error):
        return False
    text = str(error).lower()
    if "fatal:" in text and not any(phrase in text for phrase in _SERVER_PASSING):
        return False
    return any(w in text for w in _CATALOG_LOST_WORDS)


def _catalog_unreachable(settings: Settings, error: BaseException, *, writing: bool, waited_s: float | None = None
                         ) -> CatalogUnreachableError:
    """The error to raise when the catalog's PostgreSQL server does not answer (``error``: DuckDB's, or the
    :class:`CatalogUnreachableError` of a failed attach again)."""
    if isinstance(error, CatalogUnreachableError):
        reason = error.reason
    else:
        text = mask_secrets(str(error))
        said = re.search(r"failed: ([^\n]+)", text)  # libpq's reason, e.g. "Connection refused"
        reason = (said.group(1) if said else text.splitlines()[0] if text.strip() else "no answer")[:200].strip()
    waited = f" for {waited_s:g} s" if waited_s else ""
    outcome = "Nothing was written and the lake" if writing else "The lake"
    return CatalogUnreachableError(
        f"the lake catalog {settings.catalog_display} (PostgreSQL) did not answer{waited} ({reason}). {outcome} is "
        "not damaged. Fix: start PostgreSQL (or wait for its restart to finish), check CARBON_CATALOG and the "
        "network, then run the command again.", reason)


#: Retry policy for catalog reads that meet another process's commit for a moment.
retry_on_conflict = retry(
    retry=retry_if_exception(_is_commit_conflict),
    wait=wait_random_exponential(multiplier=0.05, max=2.0),
    stop=stop_after_delay(120),
    reraise=True,
)


def _catalog_file(settings: Settings) -> Path:
    return Path(settings.catalog_uri.removeprefix("sqlite:"))


def _check_embedded_catalog(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Refuse, before DuckLake touches it, a catalog file that is missing or not a DuckLake catalog.

    Attaching a foreign SQLite file writable would make DuckLake create its tables in it.  The
    file is read through DuckDB's own SQLite (the library DuckLake uses), never through Python's
    ``sqlite3`` module: two SQLite libraries in one process do not see each other's POSIX
    locks, and closing one's file handle drops the other's locks.
    """
    catalog_file = _catalog_file(settings)
    fix = (
        f"Fix: build one with `carbon demo build --lake {settings.lake}` or `carbon lake init --lake {settings.lake}`, "
        "or point CARBON_LAKE / --lake at an existing lake."
    )
    if not catalog_file.is_file():
        raise NotALakeError(f"{settings.lake} is not a Carbon lake (no {catalog_file.name} in it). {fix}")
    probe = "SELECT count(*) FROM sqlite_master WHERE name = 'ducklake_metadata'"
    try:
        con.execute(f"ATTACH {literal(str(catalog_file))} AS _carbon_probe (TYPE sqlite, READ_ONLY)")
        try:
            found = int(con.execute(f"SELECT * FROM sqlite_query('_carbon_probe', {literal(probe)})").fetchall()[0][0])
        finally:
            con.execute("DETACH _carbon_probe")
    except duckdb.Error as error:
        raise NotALakeError(f"{catalog_file} is not a DuckLake catalog ({str(error).splitlines()[0]}). {fix}") from None
    if not found:
        raise NotALakeError(f"{catalog_file} is an SQLite database but not a DuckLake catalog. {fix}")


def use_wal(catalog_file: Path) -> None:
    """Put an embedded SQLite catalog in WAL mode (readers then never block a writer's commit).

    Uses Python's ``sqlite3``, so call it only while no DuckDB connection of this process
    has the catalog open: on a new file (:meth:`Lake.create`) or at the start of
    ``carbon lake migrate``.  While another process holds the file the mode stays as it is.
    """
    try:
        with closing(sqlite3.connect(catalog_file, timeout=0.5)) as db:
            db.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        pass


#: Idle DuckDB instances with the extensions loaded and the instance settings applied, per process and per
#: :func:`_instance_key`: loading the ducklake and catalog extensions (about 0.1 s each) was most of the time
#: of opening a lake, and services open one per call.  A closed :class:`Lake` detaches its catalog and leaves
#: its instance here (at most :data:`IDLE_INSTANCES` per key); the next open attaches to it.
_IDLE: dict[tuple, list[duckdb.DuckDBPyConnection]] = {}
_IDLE_LOCK = threading.Lock()
IDLE_INSTANCES = 4
_BARE_DATABASES = {"memory", "system", "temp"}


def _instance_key(settings: Settings) -> tuple:
    """What a DuckDB instance was set up with (extensions and GLOBAL settings), and the process it belongs to
    (an instance must not cross a fork)."""
    needed = ["ducklake", "sqlite" if settings.is_embedded else "postgres"]
    if settings.data_uri.startswith(("s3://", "gs://", "http://", "https://")):
        needed.append("httpfs")
    return os.getpid(), tuple(needed), settings.memory_limit, settings.threads, settings.data_uri.startswith("s3://")


def _instance(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An idle instance for ``settings`` if one is kept, else a new one with extensions and settings applied."""
    key = _instance_key(settings)
    with _IDLE_LOCK:
        idle = _IDLE.get(key)
        if idle:
            return idle.pop()
    con = duckdb.connect()
    load_extensions(con, list(key[1]))
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: cursors do not inherit a session setting
    if settings.memory_limit:
        con.execute(f"SET GLOBAL memory_limit = {literal(settings.memory_limit)}")
    if settings.threads:
        con.execute(f"SET GLOBAL threads = {int(settings.threads)}")
    if settings.data_uri.startswith("s3://"):
        # httpfs retries a failed request itself, each wait HTTP_RETRY_BACKOFF times the one before
        con.execute(f"SET GLOBAL http_retries = {HTTP_RETRIES}")
        con.execute(f"SET GLOBAL http_retry_backoff = {HTTP_RETRY_BACKOFF}")
    return con


def _release(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Detach the catalog and keep the instance for the next open, or close it: when it still holds anything
    besides the bare databases, a step fails (e.g. a transaction left open), or enough instances are kept."""
    key = _instance_key(settings)
    try:
        con.execute("USE memory")
        con.execute(f"DETACH DATABASE IF EXISTS {CATALOG}")
        if settings.data_uri.startswith("s3://"):  # no credentials kept in an idle instance
            con.execute("DROP TEMPORARY SECRET IF EXISTS carbon_lake_s3")
        bare = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()} == _BARE_DATABASES
        # drop the file cache of what this lake read (it would keep memory in an idle instance)
        con.execute("SET GLOBAL enable_external_file_cache = false")
        con.execute("SET GLOBAL enable_external_file_cache = true")
    except duckdb.Error:
        bare = False
    if bare:
        with _IDLE_LOCK:
            idle = _IDLE.setdefault(key, [])
            if len(idle) < IDLE_INSTANCES:
                idle.append(con)
                return
    con.close()


def _connect(settings: Settings, *, read_only: bool, snapshot: int | None, check: bool = True
             ) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC with the lake's catalog attached as ``lake`` and in use (on an idle instance
    of this process when one is kept, see :data:`_IDLE`).

    ``check``: refuse an embedded catalog that is missing or not a DuckLake catalog (off only
    for :meth:`Lake.create`, which makes the catalog).
    """
    con = _instance(settings)
    if check and settings.is_embedded:
        try:
            _check_embedded_catalog(con, settings)
        except NotALakeError:
            con.close()
            raise
    if settings.data_uri.startswith("s3://"):
        con.execute(_s3_secret_sql(settings))
    options = [f"DATA_PATH {literal(settings.data_uri)}", "OVERRIDE_DATA_PATH TRUE"]
    if read_only:
        options.append("READ_ONLY")
    if snapshot is not None:
        options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
    try:
        retry_on_conflict(con.execute)(f"ATTACH {literal('ducklake:' + settings.catalog_uri)} AS {CATALOG} "
                                       f"({', '.join(options)})")
    except duckdb.Error as error:
        con.close()
        if _is_catalog_lost(error, settings):
            raise _catalog_unreachable(settings, error, writing=False) from None
        raise NotALakeError(
            f"cannot open the lake catalog {settings.catalog_display}: {mask_secrets(str(error))}. Fix: check the "
            "path/URI (CARBON_LAKE, CARBON_CATALOG) or create a lake with `carbon lake init`."
        ) from None
    con.execute(f"USE {CATALOG}")
    return con


#: Retries of one object-store request and the factor its wait grows by (DuckDB's httpfs; first wait 100 ms).
HTTP_RETRIES = 5
HTTP_RETRY_BACKOFF = 4


def _s3_secret_sql(settings: Settings) -> str:
    """A temporary DuckDB secret for the lake's ``s3://`` data path, from :class:`carbonlib.settings.ObjectStore`
    (path-style addressing when an endpoint of an S3-compatible server is given)."""
    store = settings.object_store
    options = [f"REGION {literal(store.region)}", f"USE_SSL {'true' if store.use_ssl else 'false'}"]
    if store.key_id and store.secret:
        options += [f"KEY_ID {literal(store.key_id)}", f"SECRET {literal(store.secret)}"]
    if store.session_token:
        options.append(f"SESSION_TOKEN {literal(store.session_token)}")
    if store.endpoint:
        options += [f"ENDPOINT {literal(store.endpoint)}", "URL_STYLE 'path'"]
    return f"CREATE OR REPLACE TEMPORARY SECRET carbon_lake_s3 (TYPE s3, {', '.join(options)})"


def _checksum_columns(name: str) -> str:
    """The columns a table's checksum hashes: all but its volatile run stamps (``Table.volatile``)."""
    definition = TABLES[name]
    return ", ".join(c for c in definition.column_names if c not in definition.volatile)


class Lake:
    """A connection to the Carbon lake (see module doc). Use as a context manager."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, *, read_only: bool, snapshot: int | None):
        self._con = con
        self._lost = False  # the catalog went away and attaching it again failed: attach before the next use
        self._lost_in_write = False  # the catalog went away during the current write, which was done again
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
            (implies read-only); a snapshot the lake does not have is refused with the range it has.
        migrate : bring an older lake up to this carbonlib's schema version.
        """
        settings = settings or load_settings()
        if snapshot is not None and (isinstance(snapshot, bool) or not isinstance(snapshot, int) or snapshot < 0):
            raise LakeError(f"snapshot must be a snapshot id (a whole number >= 0), not {snapshot!r}. "
                            "Fix: pick one from `carbon lake snapshots`.")
        try:
            lake = cls._attach(settings, read_only=read_only or snapshot is not None, snapshot=snapshot)
        except NotALakeError:
            if snapshot is not None:
                cls._refuse_unknown_snapshot(settings, snapshot)
            raise
        version = lake._schema_version()
        if version is None:
            lake.close()
            raise NotALakeError(
                f"{settings.catalog_display} is a DuckLake catalog but not a Carbon lake (no lake_meta table). "
                "Fix: use a lake made by `carbon lake init` / `carbon demo build`."
            )
        if version > SCHEMA_VERSION:
            lake.close()
            raise SchemaVersionError(
                f"the lake at {settings.catalog_display} has schema version {version}, newer than this carbonlib "
                f"supports ({SCHEMA_VERSION}). Fix: upgrade carbonlib (pip install -U carbonlib) on this machine."
            )
        if version < SCHEMA_VERSION:
            if not migrate or lake.read_only:
                lake.close()
                raise SchemaVersionError(
                    f"the lake at {settings.catalog_display} has schema version {version}; this carbonlib needs "
                    f"{SCHEMA_VERSION}. Fix: run `carbon lake migrate` (back the lake up first)."
                )
            migrations.migrate(lake._con, CATALOG, version)
        return lake

    @classmethod
    def _refuse_unknown_snapshot(cls, settings: Settings, snapshot: int) -> None:
        """Raise a clear error when ``snapshot`` is not a snapshot of the lake (the pinned attach failed)."""
        with cls._attach(settings, read_only=True, snapshot=None) as latest:
            newest = latest.snapshot_id()
            kept = set(latest.snapshots().snapshot_id)
        if snapshot > newest:
            raise LakeError(f"the lake has no snapshot {snapshot}: its snapshots are 0 to {newest}. "
                            "Fix: pick one from `carbon lake snapshots`.")
        if snapshot not in kept:
            raise LakeError(f"snapshot {snapshot} was expired by lake maintenance (older than its keep-days, and no "
                            "report run or account pins it). Fix: pick a kept one from `carbon lake snapshots`, or "
                            "restore a backup taken at that snapshot (`carbon backup list`).")

    @classmethod
    def create(cls, settings: Settings | None = None, *, exist_ok: bool = False) -> "Lake":
        """Create a new, empty lake at the configured location and return it open."""
        settings = settings or load_settings()
        if settings.is_embedded:
            catalog_file = _catalog_file(settings)
            if catalog_file.exists():
                if exist_ok:
                    return cls.open(settings, migrate=True)
                raise LakeError(
                    f"a lake already exists at {settings.lake}. Fix: choose another --lake, or remove it first."
                )
            catalog_file.parent.mkdir(parents=True, exist_ok=True)
            if settings.data_uri.startswith("/"):
                Path(settings.data_uri).mkdir(parents=True, exist_ok=True)
            use_wal(catalog_file)  # an empty SQLite file in WAL mode, which DuckLake then fills
        lake = cls(_connect(settings, read_only=False, snapshot=None, check=False), settings, read_only=False,
                   snapshot=None)
        try:
            if lake._schema_version() is not None:
                if exist_ok:
                    return lake
                raise LakeError(f"a Carbon lake already exists in {settings.catalog_display}")
            migrations.migrate(lake._con, CATALOG, 0)
            lake.set_meta("created_by", "carbonlib")
        except Exception:
            lake.close()
            raise
        return lake

    @classmethod
    def _attach(cls, settings: Settings, *, read_only: bool, snapshot: int | None) -> "Lake":
        return cls(_connect(settings, read_only=read_only, snapshot=snapshot), settings, read_only=read_only,
                   snapshot=snapshot)

    def _reattach(self) -> None:
        """Replace the connection by a new one (after a lock left the attached catalog in a stuck transaction, or
        its PostgreSQL server went away).  When the catalog does not answer, the lake stays marked lost and the
        next read or write attaches it again."""
        try:
            self._con.close()
        except duckdb.Error:
            pass
        self._lost = True
        self._con = _connect(self.settings, read_only=self.read_only, snapshot=self.pinned_snapshot)
        self._lost = False

    def _live(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, attached anew first when the catalog was lost."""
        if self._lost:
            self._reattach()
        return self._con

    def close(self) -> None:
        _release(self._con, self.settings)

    def __enter__(self) -> "Lake":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- metadata
    @retry_on_conflict
    def _row(self, sql: str, params: list | dict | None = None) -> tuple | None:
        """First row of ``sql`` (None when empty), reading the result to its end; retried on catalog locks.

        ``fetchone()`` would leave the result open, and with it the read transaction on the
        SQLite catalog, until the next statement: a long-lived reader (a dashboard) would then
        block every writer's commit ("database is locked").
        """
        try:
            rows = self._live().execute(sql, params or []).fetchall()
        except duckdb.Error as error:
            if _is_catalog_lost(error, self.settings):
                raise _catalog_unreachable(self.settings, error, writing=False) from None
            if integrity.is_file_damage(error):
                raise integrity.damaged(self.settings, error) from None
            raise
        return rows[0] if rows else None

    def _schema_version(self) -> int | None:
        try:  # asking the catalog for its table list instead costs a read of every table's metadata
            row = self._row(f"SELECT value FROM {CATALOG}.lake_meta WHERE key = 'schema_version'")
        except duckdb.CatalogException:  # no lake_meta table: not a Carbon lake (or not created yet)
            return None
        return int(row[0]) if row else None

    def meta(self, key: str) -> str | None:
        """A value of the ``lake_meta`` table (None when unset)."""
        row = self._row(f"SELECT value FROM {CATALOG}.lake_meta WHERE key = ?", [key])
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``lake_meta`` value in one transaction (the lake's own table: services keep markers here)."""
        if self.read_only:
            raise LakeError("this lake connection is read-only (or pinned to a snapshot); open it writable")

        def write(con: duckdb.DuckDBPyConnection) -> None:
            with transaction(con):
                con.execute(f"DELETE FROM {CATALOG}.lake_meta WHERE key = ?", [key])
                con.execute(f"INSERT INTO {CATALOG}.lake_meta VALUES (?, ?)", [key, value])

        self._write(write)

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
            f"SELECT snapshot_id, snapshot_time, schema_version, changes FROM ducklake_snapshots({literal(CATALOG)}) "
            "ORDER BY snapshot_id"
        )

    def tables_changed(self, after: int, upto: int, tables: tuple[str, ...]) -> list[str]:
        """Which of ``tables`` were written in snapshots (after, upto], from the snapshots' change summaries.

        ``ducklake_snapshots`` lists per snapshot the ids (or names) of the tables written, so
        this costs one catalog query, not a scan of the change feed.
        """
        if upto <= after:
            return []
        if not self.history_complete(after, upto):  # snapshots expired in between: their summaries are gone
            return list(tables)
        by_id = self._table_names_by_id()
        summaries = self.query(f"SELECT changes FROM ducklake_snapshots({literal(CATALOG)}) WHERE snapshot_id > ? "
                               "AND snapshot_id <= ?", [after, upto]).changes
        touched = {name for changes in summaries for name in _tables_in(changes, by_id)}
        return [t for t in tables if t in touched]

    def history_complete(self, after: int, upto: int) -> bool:
        """True when every snapshot from ``after`` to ``upto`` is still there (none expired by lake maintenance), so
        change summaries and change feeds over that range are whole."""
        present = self._row(f"SELECT count(*) FROM ducklake_snapshots({literal(CATALOG)}) WHERE snapshot_id >= ? "
                            "AND snapshot_id <= ?", [after, upto])[0]
        return int(present) == upto - after + 1

    def last_written(self, name: str) -> tuple[int, pd.Timestamp] | None:
        """The latest snapshot that inserted rows into table ``name`` and its time (UTC), or None when none did
        (a merge of its files by maintenance is not a write)."""
        table(name)
        by_id = self._table_names_by_id()
        history = self.query(f"SELECT snapshot_id, snapshot_time, changes FROM ducklake_snapshots({literal(CATALOG)}) "
                             "ORDER BY snapshot_id DESC")
        for snapshot_id, snapshot_time, changes in history.itertuples(index=False):
            inserts = {kind: ids for kind, ids in changes.items() if "insert" in kind}
            if name in _tables_in(inserts, by_id):
                at = pd.Timestamp(snapshot_time)
                return int(snapshot_id), at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
        return None

    # ------------------------------------------------------------------ maintenance (policy: carbonlib.ops.maintenance)
    def merge_small_files(self) -> list[str]:
        """Merge adjacent small data files of every table into larger ones (DuckLake's ``merge_adjacent_files``);
        every snapshot still reads exactly what it read (time travel is kept).  The merged files get their
        SHA-256 recorded; the old ones wait in DuckLake's deletion queue.  Returns the tables merged."""
        self._refuse_read_only("merge small files")

        def work(con: duckdb.DuckDBPyConnection) -> list[str]:
            merged = sorted({row[1] for row in con.execute(
                f"CALL ducklake_merge_adjacent_files({literal(CATALOG)})").fetchall()})
            for name in merged:
                integrity.record_new_files(con, self.settings, name)
            return merged

        return self._write(work)

    def flush_inlined(self, table_name: str) -> int:
        """Write the rows of ``table_name`` that DuckLake keeps inlined in the catalog (small inserts, such as the
        batches of live ingestion) into a Parquet file (``ducklake_flush_inlined_data``); every snapshot still reads
        the same rows.  Returns the number of rows flushed."""
        self._refuse_read_only("flush inlined rows")
        table(table_name)  # only tables of the data model

        def work(con: duckdb.DuckDBPyConnection) -> int:
            flushed = sum(int(row[2]) for row in con.execute(
                f"CALL ducklake_flush_inlined_data({literal(CATALOG)}, table_name => ?)", [table_name]).fetchall())
            if flushed:
                integrity.record_new_files(con, self.settings, table_name)
            return flushed

        return self._write(work)

    def expire_snapshots(self, snapshot_ids: list[int]) -> list[int]:
        """Expire the given snapshots (no longer readable; files only they used join the deletion queue)."""
        self._refuse_read_only("expire snapshots")
        if self.snapshot_id() in snapshot_ids:
            raise LakeError(f"snapshot {self.snapshot_id()} is the lake's current state and cannot be expired")
        if not snapshot_ids:
            return []
        rows = self._write(lambda con: con.execute(
            f"CALL ducklake_expire_snapshots({literal(CATALOG)}, versions => ?)", [sorted(snapshot_ids)]).fetchall())
        return sorted(int(row[0]) for row in rows)

    def delete_expired_files(self, older_than: datetime) -> list[str]:
        """Delete the files of DuckLake's deletion queue (merged away, or used only by expired snapshots) queued
        before ``older_than`` (a reader that started earlier may still scan them); returns their paths."""
        self._refuse_read_only("delete expired files")
        rows = self._write(lambda con: con.execute(
            f"CALL ducklake_cleanup_old_files({literal(CATALOG)}, older_than => ?)", [older_than]).fetchall())
        return [row[0] for row in rows]

    def _refuse_read_only(self, what: str) -> None:
        if self.read_only:
            raise LakeError(f"this lake connection is read-only; open it writable to {what}")

    def data_file_counts(self, small_bytes: int) -> tuple[int, int]:
        """(data files the latest snapshot reads, how many of them are smaller than ``small_bytes``)."""
        return integrity.current_file_counts(self._live(), small_bytes)

    def _table_names_by_id(self) -> dict[str, str]:
        names = self.query(f"SELECT table_id, table_name FROM ducklake_table_info({literal(CATALOG)})")
        return dict(zip(names.table_id.astype(str), names.table_name))

    # ------------------------------------------------------------------ reading
    @retry_on_conflict
    def query(self, sql: str, params: list | dict | None = None, *, frames: dict[str, pd.DataFrame] | None = None
              ) -> pd.DataFrame:
        """Run one SQL statement against the lake (tables are unqualified) and return its whole result.

        Values go in ``params`` (``?`` marks), never into ``sql``; ``frames`` are DataFrames
        the statement may read by name (registered on a cursor of their own).  More than one
        statement in ``sql`` is refused.  Retried when another process's commit holds the
        catalog lock for a moment.
        """
        con = self._live()
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            raise LakeError(f"Lake.query runs exactly one SQL statement; got {len(statements)}. "
                            "Fix: pass values as ? parameters, never inside the SQL text.")
        cursor = con.cursor() if frames else con
        try:
            for name, frame in (frames or {}).items():
                cursor.register(name, frame)
            return cursor.execute(sql, params or []).df()
        except duckdb.Error as error:
            if _is_catalog_lost(error, self.settings):
                raise _catalog_unreachable(self.settings, error, writing=False) from None
            if integrity.is_unreachable(error):
                raise integrity.unreachable(self.settings, error) from None
            if integrity.is_file_damage(error):
                raise integrity.damaged(self.settings, error) from None
            raise
        finally:
            if frames:
                cursor.close()

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
        """Read a table (optionally some columns, a WHERE condition with ``?`` marks and a snapshot) as a DataFrame."""
        definition = table(name)
        cols = columns or definition.column_names
        for col in cols:
            definition.column(col)
        sql = f"SELECT {', '.join(cols)} FROM {self.relation(name, snapshot)}"
        if where:
            sql += f" WHERE {where}"
        if definition.key:
            sql += f" ORDER BY {', '.join(definition.key)}"
        return self.query(sql, params)

    def info(self) -> pd.DataFrame:
        """Per table: rows, data files and bytes on storage (small tables live inlined in the catalog: 0 files)."""
        files = self.query(f"SELECT table_name, file_count, file_size_bytes FROM ducklake_table_info({literal(CATALOG)})")
        rows = []
        for name in TABLES:
            rows.append((name, int(self._row(f"SELECT count(*) FROM {CATALOG}.{name}")[0])))
        out = pd.DataFrame(rows, columns=["table", "rows"]).merge(
            files.rename(columns={"table_name": "table", "file_count": "files", "file_size_bytes": "bytes"}),
            on="table",
            how="left",
        )
        return out.fillna({"files": 0, "bytes": 0}).astype({"files": "int64", "bytes": "int64"})

    def checksums(self, snapshot: int | None = None, tables: tuple[str, ...] | None = None) -> dict[str, str]:
        """Order-independent content checksum per table: ``rows:xor-of-row-hashes`` (hex).

        Equal checksums mean equal row multisets (up to hash collisions), whatever the
        file layout; used to prove that a seeded demo build is deterministic.  Volatile run
        stamps (``Table.volatile``, e.g. ``account.computed_at``) are left out.  ``tables``: only
        these.  A damaged lake (a missing or unreadable file) raises
        :class:`~carbonlib.lake.errors.DamagedLakeError`.
        """
        out = {}
        for name in TABLES:
            if tables is not None and name not in tables:
                continue
            cols = _checksum_columns(name)
            try:
                rows, digest = self._row(
                    f"SELECT count(*), coalesce(bit_xor(hash({cols})), 0) FROM {self.relation(name, snapshot)}"
                )
            except duckdb.Error as error:
                if integrity.is_file_damage(error):
                    raise integrity.damaged(self.settings, error, name) from None
                raise
            out[name] = f"{rows}:{digest:016x}"
        return out

    def checksums_since(self, previous: Mapping[str, str], after: int, snapshot: int | None = None) -> dict[str, str]:
        """:meth:`checksums` at ``snapshot`` from those at ``after`` (``previous``) and the changes in between.

        A checksum is a row count and the XOR of row hashes, so rows inserted since ``after`` are
        XORed in and rows deleted XORed out (an update is both), read from DuckLake's change feed;
        a table nobody wrote keeps its checksum.  Costs the rows changed, not the table: a backup
        after one day of telemetry does not hash a hundred million rows again.  A table whose
        changes cannot be read, or all tables when a snapshot in between was expired, are checksummed in full.
        """
        snapshot = self.snapshot_id() if snapshot is None else snapshot
        if snapshot > after and not self.history_complete(after, snapshot):  # change feeds may be partial
            return self.checksums(snapshot)
        changed = set(self.tables_changed(after, snapshot, tuple(TABLES))) if snapshot > after else set()
        out = {}
        for name in TABLES:
            if name in previous and name not in changed:
                out[name] = previous[name]
                continue
            if name in previous:
                try:
                    out[name] = self._checksum_moved_on(name, previous[name], after, snapshot)
                    continue
                except duckdb.Error:  # the change feed of (after, snapshot] is no longer there
                    pass
            out[name] = self.checksums(snapshot, tables=(name,))[name]
        return out

    def _checksum_moved_on(self, name: str, checksum: str, after: int, snapshot: int) -> str:
        """``checksum`` of table ``name`` at ``after`` with the rows inserted and deleted up to ``snapshot`` applied."""
        count, _, digest_hex = checksum.partition(":")
        rows, digest = int(count), int(digest_hex, 16)
        cols = _checksum_columns(name)
        feed = self.query(f"SELECT change_type, count(*) AS n, coalesce(bit_xor(hash({cols})), 0) AS x "
                          f"FROM ducklake_table_changes({literal(CATALOG)}, 'main', {literal(name)}, ?, ?) "
                          "GROUP BY change_type", [after + 1, snapshot])
        for change, n, x in feed.itertuples(index=False):
            rows += int(n) if change in ("insert", "update_postimage") else -int(n)
            digest ^= int(x)
        return f"{rows}:{digest:016x}"

    def referenced_files(self) -> pd.DataFrame:
        """Every data and delete file any snapshot references: table, path (full), size_bytes as recorded."""
        return integrity.referenced_files(self._live(), self.settings.data_uri)

    def recorded_checksums(self) -> dict[str, tuple[str, int]]:
        """SHA-256 and size recorded when each data file was written, by file name (:mod:`.integrity`)."""
        return integrity.recorded_checksums(self._live())

    def verify(self, level: str = "full") -> integrity.VerifyReport:
        """Check every file the catalog references: ``stat``, ``quick`` or ``full`` (see :func:`.integrity.verify`)."""
        try:
            return integrity.verify(self._live(), self.settings, level=level)
        except duckdb.Error as error:  # the catalog's server went away: named, its password masked
            if _is_catalog_lost(error, self.settings):
                self._lost = True
                raise _catalog_unreachable(self.settings, error, writing=False) from None
            raise

    def require_intact(self) -> None:
        """Raise :class:`~carbonlib.lake.errors.DamagedLakeError` when a file the catalog references is missing
        or of the wrong size (a cheap ``stat`` check; services run it before they compute from the lake)."""
        problems = self.verify("stat").problems
        if len(problems):
            first = problems.iloc[0]
            raise DamagedLakeError(
                f"the lake is damaged: {len(problems)} data file(s) missing or truncated, e.g. {first.path} "
                f"({first.problem}); nothing was computed. Fix: run `carbon lake verify --lake {self.settings.lake}` "
                "and restore the files from a backup.")

    def delete_orphans(self, older_than_hours: float = 1.0) -> list[str]:
        """Delete data files no snapshot references, older than ``older_than_hours`` (left by killed writes)."""
        self._refuse_read_only("delete orphan files")
        return integrity.delete_orphans(self._live(), self.settings, older_than_hours)

    # ------------------------------------------------------------------ writing
    def append(
        self,
        name: str,
        data: pd.DataFrame | pa.Table,
        *,
        source: str = "api",
        on_error: str = "raise",
        received_at: datetime | None = None,
    ) -> writer.WriteResult:
        """Validate and append rows to table ``name`` (see :mod:`carbonlib.lake.writer`).

        ``received_at`` (UTC) stamps quarantined rows; default now.  Tables owned by a
        service (accounts, roll-ups, report runs, the lake's own tables) are refused: their
        service writes them.
        """
        definition = table(name)
        if definition.owner:
            raise OwnedTableError(
                f"table {name!r} is written only by the {definition.owner} service "
                f"({_OWNER_ENTRY_POINTS.get(definition.owner, 'its own functions')}); nothing was written. "
                "Fix: change the inputs it is derived from, and let the service recompute it."
            )
        return self._append(definition, data, source=source, on_error=on_error, received_at=received_at)

    def service_append(self, service: str, name: str, data: pd.DataFrame | pa.Table, *, source: str,
                       replace_within: pd.DataFrame | None = None) -> writer.WriteResult:
        """Write a table owned by ``service`` (for that service's own code only; see :meth:`append`).

        ``replace_within`` (derived tables): key groups the batch replaces as a whole, stale
        rows deleted in the same transaction.
        """
        definition = table(name)
        if definition.owner != service:
            raise OwnedTableError(f"table {name!r} is owned by {definition.owner or 'nobody'}, not {service!r}")
        return self._append(definition, data, source=source, replace_within=replace_within)

    def _append(self, definition, data, **kw) -> writer.WriteResult:
        if self.read_only:
            raise LakeError("this lake connection is read-only (or pinned to a snapshot); open it writable to append")

        def write(con: duckdb.DuckDBPyConnection) -> writer.WriteResult:
            result = writer.append(con, definition, data, **kw)
            if result.inserted or result.deleted or self._lost_in_write:  # an earlier attempt's commit may have landed
                integrity.record_new_files(con, self.settings, definition.name)
            return result

        result = self._write(write)
        return dataclasses.replace(result, retried=True) if self._lost_in_write else result

    def _write(self, work):
        """Run ``work(cursor)`` with retries on commit conflicts, catalog locks and a lost PostgreSQL catalog (see
        module doc)."""
        retrying = Retrying(retry=retry_if_exception(
                                lambda error: _is_commit_conflict(error) or _is_catalog_lost(error, self.settings)),
                            wait=wait_random_exponential(multiplier=0.05, max=2.0),
                            stop=stop_after_delay(self.settings.lock_timeout_s),
                            before_sleep=self._reattach_if_stuck)
        self._lost_in_write = False
        try:
            for attempt in retrying:
                with attempt:
                    # Each attempt works on its own cursor: whatever a failed attempt left behind (registered
                    # batch views, an aborted transaction) goes away with it and cannot break the retry.
                    cursor = self._live().cursor()
                    try:
                        return work(cursor)
                    finally:
                        cursor.close()
        except duckdb.Error as error:
            if integrity.is_unreachable(error):
                self._reattach()
                raise integrity.unreachable(self.settings, error) from None
            raise
        except RetryError as gave_up:
            error = gave_up.last_attempt.exception()
            if _is_catalog_lost(error, self.settings):
                self._lost = True
                raise _catalog_unreachable(self.settings, error, writing=True, waited_s=self.settings.lock_timeout_s) from None
            self._reattach()
            raise LakeBusyError(
                f"the lake catalog stayed locked or in conflict for {self.settings.lock_timeout_s:g} s "
                f"({mask_secrets(str(error)).splitlines()[0][:200]}); nothing was written. Fix: retry when the other "
                "writer has finished; a reader holding a transaction open cannot block writes (WAL), so look for "
                "a long write or a tool holding the catalog file."
            ) from None

    def _reattach_if_stuck(self, state) -> None:
        """After a failed attempt: attach the catalog anew if the failure may have left it in a stuck transaction,
        or mark it lost (attached again by the next attempt) when its PostgreSQL server went away."""
        error = state.outcome.exception()
        if _is_catalog_lost(error, self.settings):
            self._lost = self._lost_in_write = True
        elif _is_stuck(error):
            self._reattach()


#: Where each service writes its tables (for the refusal message of :meth:`Lake.append`).
_OWNER_ENTRY_POINTS = {
    "lake": "Lake.create / migrations / Lake.set_meta",
    "quarantine": "Lake.append(..., on_error='quarantine')",
    "accounting": "carbonlib.accounting.accounts.build_accounts / refresh_accounts and "
                  "carbonlib.accounting.views.refresh_telemetry_daily",
    "reporting": "carbonlib.reporting.reports.run_batch",
    "alerts": "carbonlib.alerts.service.evaluate / acknowledge",
    "ledger": "carbonlib.ledger.service (enter, attach, submit, approve, return_entry, reject, reverse)",
    "caps": "carbonlib.accounting.cap_requests (request, decide)",
    "orgs": "carbonlib.ledger.orgs (create, rename, move, close)",
    "registry": "carbonlib.registry.service (issue, transfer, retire, pledge, cancel, reverse) and "
                "carbonlib.registry.publish.mirror",
}


def _tables_in(changes: Mapping[str, list[str]], by_id: Mapping[str, str]) -> set[str]:
    """Names of the tables a snapshot's change summary lists (by id, or by qualified name when created)."""
    return {by_id.get(t, t.split(".")[-1]) for ids in changes.values() for t in ids}
