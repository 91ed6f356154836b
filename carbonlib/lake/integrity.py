"""Integrity of the lake's files: checksums recorded at write, verification, orphan clean-up.

DuckLake records for every Parquet file it references its size and footer size; it does
not record a content checksum.  After each write the lake records the SHA-256 of every new
local file in a side table of the catalog database (``carbon_file_checksum``, next to
DuckLake's own tables, invisible to lake readers).  :func:`verify` then checks every file
that any snapshot references: present, of the recorded size, with a readable Parquet footer,
(``full``) every page decoded, and the content hash as recorded.  Files left behind by a
killed write (written, never committed) are *orphans*: :func:`verify` lists them and
:func:`delete_orphans` removes those older than a margin (a file younger than that may
belong to a write still in progress in another process).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ..settings import Settings, mask_secrets
from .errors import DamagedLakeError, StorageUnreachableError
from .schema import CATALOG
from .sql import literal

#: Side table of the catalog database holding the SHA-256 of every data file written.
CHECKSUM_TABLE = "carbon_file_checksum"
_META = f"__ducklake_metadata_{CATALOG}"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_local(settings: Settings) -> bool:
    return settings.data_uri.startswith("/")


def _ensure_checksum_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {_META}.{CHECKSUM_TABLE} "
                "(path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, size_bytes BIGINT NOT NULL)")


def recorded_checksums(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """SHA-256 and size recorded at write for each data file, by file name (DuckLake names each file by a UUID:
    the recorded full path goes stale when a lake folder is moved or restored elsewhere)."""
    try:  # duckdb_tables() does not list DuckLake's metadata database: ask for the table itself
        rows = con.execute(f"SELECT path, sha256, size_bytes FROM {_META}.{CHECKSUM_TABLE}").fetchall()
    except duckdb.CatalogException:  # a lake written before checksums were recorded
        return {}
    return {Path(path).name: (sha, int(size)) for path, sha, size in rows}


def referenced_files(con: duckdb.DuckDBPyConnection, data_uri: str) -> pd.DataFrame:
    """Every data and delete file any snapshot references: table, path (full), size_bytes as recorded."""
    def files(kind: str) -> str:
        return (f"SELECT DISTINCT t.table_name AS table, CASE WHEN f.path_is_relative THEN (CASE WHEN t.path_is_relative "
                f"THEN (CASE WHEN s.path_is_relative THEN $1 || s.path ELSE s.path END) || t.path ELSE t.path END) "
                f"|| f.path ELSE f.path END AS path, f.file_size_bytes AS size_bytes "
                f"FROM {_META}.ducklake_{kind}_file f JOIN {_META}.ducklake_table t USING (table_id) "
                f"JOIN {_META}.ducklake_schema s USING (schema_id)")
    return con.execute(f"{files('data')} UNION {files('delete')} ORDER BY 1, 2", [data_uri]).df()


def current_file_counts(con: duckdb.DuckDBPyConnection, small_bytes: int) -> tuple[int, int]:
    """(data files the latest snapshot reads, those smaller than ``small_bytes``): the small-file count of health."""
    files, small = con.execute(f"SELECT count(*), count(*) FILTER (WHERE file_size_bytes < ?) "
                               f"FROM {_META}.ducklake_data_file WHERE end_snapshot IS NULL", [small_bytes]).fetchone()
    return int(files), int(small)


def record_new_files(con: duckdb.DuckDBPyConnection, settings: Settings, table: str) -> int:
    """Record the SHA-256 of the local files of ``table`` not recorded yet (called after each write)."""
    if not _is_local(settings):
        return 0
    _ensure_checksum_table(con)
    listed = con.execute(f"SELECT data_file, data_file_size_bytes, delete_file, delete_file_size_bytes "
                         f"FROM ducklake_list_files({literal(CATALOG)}, ?)", [table]).fetchall()
    files = {p: s for d, ds, x, xs in listed for p, s in ((d, ds), (x, xs)) if p}
    known = {r[0] for r in con.execute(f"SELECT path FROM {_META}.{CHECKSUM_TABLE}").fetchall()}
    new = [(path, sha256_file(Path(path)), int(size)) for path, size in files.items()
           if path not in known and Path(path).is_file()]
    if new:
        con.executemany(f"INSERT INTO {_META}.{CHECKSUM_TABLE} VALUES (?, ?, ?)", new)
    return len(new)


@dataclass
class VerifyReport:
    """What :func:`verify` found: files checked, problems (table, path, problem) and orphan files."""

    files: int
    bytes: int
    problems: pd.DataFrame
    orphans: list[str] = field(default_factory=list)
    unrecorded: int = 0

    @property
    def ok(self) -> bool:
        return self.problems.empty


LEVELS = ("stat", "quick", "full")


def verify(con: duckdb.DuckDBPyConnection, settings: Settings, *, level: str = "full") -> VerifyReport:
    """Check every file any snapshot references.

    ``level``: ``stat`` (present and of the recorded size: cheap, ``lake info`` runs it),
    ``quick`` (also a readable Parquet footer) or ``full`` (also every page decoded and the
    SHA-256 as recorded: reads the whole lake).  Object storage (``s3://``) is checked
    through DuckDB, without sizes or checksums.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    files = referenced_files(con, settings.data_uri)
    recorded = recorded_checksums(con)
    problems, unrecorded = [], 0
    for name, path, size in files.itertuples(index=False):
        local = Path(path) if _is_local(settings) else None
        if local is not None:
            if not local.is_file():
                problems.append((name, path, "missing"))
                continue
            actual = local.stat().st_size
            if actual != size:
                problems.append((name, path, f"size {actual:,} bytes, the catalog records {size:,} (truncated or replaced)"))
                continue
        if level == "stat":
            continue
        try:
            if level == "full":
                con.execute(f"SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM read_parquet({literal(path)})").fetchall()
            else:
                con.execute(f"SELECT count(*) FROM parquet_metadata({literal(path)})").fetchall()
        except duckdb.Error as error:
            problems.append((name, path, f"unreadable: {str(error).splitlines()[0][:160]}"))
            continue
        if local is not None and level == "full":
            if local.name not in recorded:
                unrecorded += 1
            elif sha256_file(local) != recorded[local.name][0]:
                problems.append((name, path, "content differs from the SHA-256 recorded when it was written"))
    orphans = [str(p) for p in orphan_files(con, settings)] if level != "stat" else []
    return VerifyReport(len(files), int(files.size_bytes.sum()) if len(files) else 0,
                        pd.DataFrame(problems, columns=["table", "path", "problem"]), orphans, unrecorded)


def orphan_files(con: duckdb.DuckDBPyConnection, settings: Settings, older_than_hours: float = 0.0) -> list[Path]:
    """Parquet files under a local data path that no snapshot references (nor DuckLake's deletion queue).

    File names are UUIDs, so a file is matched by name.  Only files last modified more than
    ``older_than_hours`` ago are listed.
    """
    if not _is_local(settings):
        return []
    known = set(Path(p).name for p in referenced_files(con, settings.data_uri).path)
    known |= {Path(r[0]).name for r in con.execute(
        f"SELECT path FROM {_META}.ducklake_files_scheduled_for_deletion").fetchall()}
    cutoff = time.time() - older_than_hours * 3600
    return sorted(p for p in Path(settings.data_uri).rglob("*.parquet")
                  if p.name not in known and p.stat().st_mtime <= cutoff)


def delete_orphans(con: duckdb.DuckDBPyConnection, settings: Settings, older_than_hours: float = 1.0) -> list[str]:
    """Delete the :func:`orphan_files` older than ``older_than_hours``; return their paths."""
    if not older_than_hours >= 0:
        raise ValueError(f"older_than_hours must be >= 0, not {older_than_hours!r}")
    deleted = []
    for path in orphan_files(con, settings, older_than_hours):
        path.unlink(missing_ok=True)
        deleted.append(str(path))
    return deleted


#: DuckDB errors a missing, truncated or corrupt data file raises.
FILE_ERRORS = (duckdb.IOException, duckdb.InvalidInputException)


#: What DuckDB's httpfs says when an object store does not answer (after its own retries with backoff).
UNREACHABLE = ("Could not connect to server", "Connection refused", "Couldn't connect to server", "Timeout was reached",
               "Could not resolve host", "Failed to connect")


def is_unreachable(error: BaseException) -> bool:
    """True for a DuckDB error saying the object store of the data files did not answer (not a damaged file)."""
    return isinstance(error, duckdb.Error) and any(phrase in str(error) for phrase in UNREACHABLE)


def unreachable(settings: Settings, error: Exception) -> StorageUnreachableError:
    """The error to raise when the object store holding the data files did not answer."""
    first = mask_secrets(str(error)).splitlines()[0][:240]
    where = settings.object_store.endpoint or "AWS S3"
    return StorageUnreachableError(
        f"the object store of {settings.data_uri} ({where}) does not answer, even after retries with backoff: "
        f"{first}. Nothing was written and the lake is not damaged. Fix: start the object store or check "
        "AWS_ENDPOINT_URL and the network, then run the command again.")


def is_file_damage(error: BaseException) -> bool:
    """True for a DuckDB error about reading a Parquet file of the lake (an unanswered object store is not)."""
    return isinstance(error, FILE_ERRORS) and ".parquet" in str(error) and not is_unreachable(error)


def damaged(settings: Settings, error: Exception, table: str | None = None) -> DamagedLakeError:
    """The error to raise when reading the lake failed on a file (missing, truncated, unreadable)."""
    first = mask_secrets(str(error)).splitlines()[0][:240]
    what = f"table {table!r}" if table else "the lake"
    return DamagedLakeError(f"{what} cannot be read: {first}. The lake is damaged (a data file is missing or "
                            f"corrupt). Fix: run `carbon lake verify --lake {settings.lake}` to list the damaged "
                            "files, then restore them from a backup.")
