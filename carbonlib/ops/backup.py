"""Encrypted, incremental, verifiable backups of a lake and its security store (clauses 5.5.3 (d), 7.3.3,
9.3.3, 9.2.2 (e)).

A backup is a consistent copy of one lake snapshot: the embedded catalog (copied with SQLite's
online backup API, so writers may go on), every Parquet file that catalog references, the other
files of the lake folder (pipeline state, evidence), the security store (accounts, audit log,
keys), the credit registry's store (its system of record and signing key) and the settings file.  It goes into a **repository** folder:

* ``config.json``: format and the id of the key (``sha256(key)[:16]``), so a wrong key is named
  before anything is decrypted;
* ``objects/ab/<sha256>``: the content, addressed by the SHA-256 of its plaintext, in chunks of
  at most :data:`CHUNK_BYTES`; an object already there is never written again, so a backup after
  a day of telemetry stores only that day's new files (Parquet files are immutable);
* ``backups/<id>``: the manifest of one backup (what went where, the snapshot, every table's
  checksum), written last: a backup that failed half-way has no manifest and does not exist;
* ``verified.json``: the outcome of the last :func:`verify`.

Every object and manifest is encrypted with AES-256-GCM (``cryptography``) under a key the
operator holds in a file (:func:`generate_key`); the object's name and header are authenticated
data, so a renamed, swapped or altered object fails to decrypt.  Objects other than Parquet are
compressed with zlib first (Parquet is compressed already).  :func:`restore` rebuilds the lake in
a new folder and refuses to finish unless every table's checksum equals the one recorded at
backup time; :func:`prune` keeps the newest backup of each of the last N days, weeks and months.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..registry.store import location as registry_location
from ..security.store import Location as StoreLocation
from ..security.store import location as security_location
from ..settings import Settings
from .storage import BackupError, open_storage

FORMAT = 1
#: Largest object: bigger files are stored as several chunks (bounded memory, dedup by chunk).
CHUNK_BYTES = 64 * 2**20
_MAGIC = b"CSWB"
_RAW, _ZLIB = 0, 1
#: A repository: a local folder, or ``s3://bucket/prefix`` (:mod:`.storage`).
Location = str | os.PathLike


# ---------------------------------------------------------------------------------------------- keys
def generate_key(path: Path) -> str:
    """Write a new random 256-bit key to ``path`` (owner-only, never overwritten); returns its key id.

    Keep a copy apart from the backups: without the key no backup can be read.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AESGCM.generate_key(bit_length=256)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{path} exists; a key is never overwritten (backups made with it would be lost). "
                          "Fix: choose another file") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key_id(key)


def load_key(path: Path) -> bytes:
    """The 256-bit key in ``path`` (written by :func:`generate_key`)."""
    try:
        key = base64.b64decode(Path(path).read_text().strip(), validate=True)
    except FileNotFoundError:
        raise BackupError(f"no backup key at {path}. Fix: give the key file (--key-file or $CARBON_BACKUP_KEY_FILE), "
                          "or make one with `carbon backup key --out FILE`") from None
    except ValueError:
        key = b""
    if len(key) != 32:
        raise BackupError(f"{path} does not hold a backup key (base64 of 32 bytes, as `carbon backup key` writes)")
    return key


def key_id(key: bytes) -> str:
    """A public name of ``key``: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- records
@dataclass
class Entry:
    """One file of a backup: its role (catalog, data, lake, security, registry, config), its path inside that role's
    folder, SHA-256 and size of the whole file, the objects (chunks) holding it in order, and its permission
    bits (an owner-only key file is restored owner-only)."""

    role: str
    path: str
    sha256: str
    size: int
    chunks: list[str]
    mode: int = 0o600


@dataclass
class Manifest:
    """What one backup holds and the figures a restore must reproduce."""

    backup_id: str
    created_at: str  # UTC, ISO 8601
    snapshot_id: int
    schema_version: int
    source: str  # the lake's catalog, for people (passwords masked)
    data_uri: str  # the data path at backup time
    checksums: dict[str, str]  # Lake.checksums() at snapshot_id
    entries: list[Entry]
    new_bytes: int = 0  # bytes of objects this backup added to the repository (after compression)
    snapshot_time: str = ""  # when snapshot_id was taken: tells this lake's history from another one's

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        fields = json.loads(raw)
        fields["entries"] = [Entry(**e) for e in fields["entries"]]
        return cls(**fields)


@dataclass
class VerifyResult:
    """What :func:`verify` read: backups, objects and bytes checked; problems as (backup id, file, problem)."""

    backups: list[str]
    objects: int
    bytes: int
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RestoreResult:
    """Where :func:`restore` rebuilt the lake, from which backup and snapshot, and what it set aside."""

    lake: Path
    security: Path
    backup_id: str
    snapshot_id: int
    files: int
    bytes: int
    set_aside: list[Path]


@dataclass
class PruneResult:
    """Backups kept and removed by :func:`prune`, and objects deleted (no kept backup uses them)."""

    kept: list[str]
    removed: list[str]
    objects_deleted: int
    bytes_freed: int


# ---------------------------------------------------------------------------------------------- repository
class Repository:
    """A backup repository (a folder or ``s3://bucket/prefix``) opened with its key (see the module doc)."""

    def __init__(self, location: str | os.PathLike, key: bytes, *, create: bool = False):
        self.storage = open_storage(location)
        self.location = self.storage.location
        self._aead = AESGCM(key)
        config = self.storage.read("config.json")
        if config is None:
            if not create:
                raise BackupError(f"{self.location} is not a backup repository (no config.json). Fix: give the "
                                  "location `carbon backup create` wrote to")
            config = json.dumps({"format": FORMAT, "key_id": key_id(key), "created_at": _now().isoformat()},
                                indent=2).encode()
            self.storage.write("config.json", config)
        settings = json.loads(config)
        if settings.get("format") != FORMAT:
            raise BackupError(f"{self.location} has backup format {settings.get('format')}; this carbonlib reads {FORMAT}")
        if settings["key_id"] != key_id(key):
            raise BackupError(f"wrong key: the backups in {self.location} were made with key {settings['key_id']}, "
                              f"the key given is {key_id(key)}. Fix: give the key file kept when they were made")

    # ------------------------------------------------------------------ objects
    @staticmethod
    def _object_key(name: str) -> str:
        return f"objects/{name[:2]}/{name}"

    def has(self, name: str) -> bool:
        return self.storage.exists(self._object_key(name))

    def put(self, data: bytes, compress: bool) -> tuple[str, int]:
        """Store ``data`` (unless already there); its name and the bytes written (0 when it was there)."""
        name = hashlib.sha256(data).hexdigest()
        if self.has(name):
            return name, 0
        packed = zlib.compress(data, 6) if compress else data
        flag = _ZLIB if compress and len(packed) < len(data) else _RAW
        body = self._seal(flag, packed if flag == _ZLIB else data, name.encode())
        self.storage.write(self._object_key(name), body)
        return name, len(body)

    def get(self, name: str) -> bytes:
        """The plaintext of object ``name``; BackupError when it is missing, altered or not what its name says."""
        body = self.storage.read(self._object_key(name))
        if body is None:
            raise BackupError(f"object {name} is missing")
        data = self._open(body, name.encode(), f"object {name}")
        if hashlib.sha256(data).hexdigest() != name:
            raise BackupError(f"object {name} does not hold what its name says")
        return data

    def object_names(self) -> list[str]:
        return [key.rsplit("/", 1)[-1] for key in self.storage.keys("objects/")]

    def delete_object(self, name: str) -> int:
        return self.storage.delete(self._object_key(name))

    # ------------------------------------------------------------------ manifests
    def write_manifest(self, manifest: Manifest) -> None:
        self.storage.write(f"backups/{manifest.backup_id}",
                    self._seal(_ZLIB, zlib.compress(manifest.to_json()), b"manifest:" + manifest.backup_id.encode()))

    def manifests(self) -> list[Manifest]:
        """Every backup, oldest first."""
        found = []
        for key in self.storage.keys("backups/"):
            name = key.rsplit("/", 1)[-1]
            found.append(Manifest.from_json(self._open(self.storage.read(key) or b"", b"manifest:" + name.encode(),
                                                       f"manifest {name}")))
        return sorted(found, key=lambda m: m.created_at)

    def manifest(self, backup_id: str = "latest") -> Manifest:
        """One backup by id, or the newest (``latest``)."""
        manifests = self.manifests()
        if not manifests:
            raise BackupError(f"{self.location} holds no backup yet. Fix: `carbon backup create`")
        if backup_id == "latest":
            return manifests[-1]
        for manifest in manifests:
            if manifest.backup_id == backup_id:
                return manifest
        raise BackupError(f"no backup {backup_id!r} in {self.location}; backups: {[m.backup_id for m in manifests]}")

    def delete_manifest(self, backup_id: str) -> None:
        self.storage.delete(f"backups/{backup_id}")

    def record_verification(self, result: "VerifyResult") -> None:
        """Keep the outcome of a verification in ``verified.json`` (ids and counts only: no content)."""
        self.storage.write("verified.json", json.dumps(
            {"at": _now().isoformat(), "backups": result.backups, "ok": result.ok, "objects": result.objects,
             "problems": [list(p) for p in result.problems]}, indent=2).encode())

    # ------------------------------------------------------------------ sealing
    def _seal(self, flag: int, data: bytes, name: bytes) -> bytes:
        header = _MAGIC + bytes([flag])
        nonce = secrets.token_bytes(12)
        return header + nonce + self._aead.encrypt(nonce, data, header + name)

    def _open(self, body: bytes, name: bytes, what: str) -> bytes:
        header, nonce, sealed = body[:5], body[5:17], body[17:]
        if header[:4] != _MAGIC or len(nonce) != 12:
            raise BackupError(f"{what} is not a backup object (damaged or foreign file)")
        try:
            data = self._aead.decrypt(nonce, sealed, header + name)
        except InvalidTag:
            raise BackupError(f"{what} is damaged (its authentication tag does not match)") from None
        return zlib.decompress(data) if header[4] == _ZLIB else data


# ---------------------------------------------------------------------------------------------- backup
def create(settings: Settings, repository: Location, key: bytes, *, progress: bool = False) -> Manifest:
    """Back up the lake of ``settings`` (embedded catalog, local data) with its security store into ``repository``
    (created on first use); only content the repository lacks is written.  Returns the manifest."""
    from tqdm.auto import tqdm

    _require_embedded(settings)
    repo = Repository(repository, key, create=True)
    earlier = repo.manifests()
    known = {e.sha256: e for m in earlier for e in m.entries}
    started = _now()
    with tempfile.TemporaryDirectory(prefix="carbon-backup-") as scratch:
        catalog_copy = Path(scratch) / "catalog.sqlite"
        _copy_sqlite(Path(settings.catalog_uri.removeprefix("sqlite:")), catalog_copy)
        copied = _read_catalog(catalog_copy, settings, earlier)
        files = [("catalog", "catalog.sqlite", catalog_copy)]
        files += [("data", path, Path(settings.data_uri) / path) for path in copied.data_files]
        files += _lake_folder_files(settings)
        files += _store_files(security_location(settings), "security", Path(scratch))
        files += _store_files(registry_location(settings), "registry", Path(scratch))
        config = _config_file()
        if config:
            files.append(("config", config.name, config))
        entries, new_bytes = [], 0
        with tqdm(total=len(files), desc="backup", unit="file", disable=not progress) as bar:
            for role, relative, source in files:
                entry, written = _store_file(repo, role, relative, source,
                                             copied.recorded.get(source.name) if role == "data" else None, known)
                entries.append(entry)
                new_bytes += written
                bar.update()
    manifest = Manifest(backup_id=f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}", created_at=started.isoformat(),
                        snapshot_id=copied.snapshot_id, schema_version=copied.schema_version,
                        source=settings.catalog_display, data_uri=settings.data_uri, checksums=copied.checksums,
                        entries=entries, new_bytes=new_bytes, snapshot_time=copied.snapshot_time)
    repo.write_manifest(manifest)
    return manifest


def _store_file(repo: Repository, role: str, relative: str, source: Path, recorded: tuple[str, int] | None,
                known: dict[str, Entry]) -> tuple[Entry, int]:
    """Store ``source`` chunk by chunk; a data file whose recorded SHA-256 a backup already holds is not read."""
    try:
        status = source.stat()
        size, mode = status.st_size, status.st_mode & 0o777
    except FileNotFoundError:
        raise BackupError(f"{source} ({role}) vanished during the backup (a lake maintenance job?); nothing was "
                          "recorded. Fix: run the backup again") from None
    previous = known.get(recorded[0]) if recorded and recorded[1] == size else None
    if previous and all(repo.has(name) for name in previous.chunks):
        return Entry(role, relative, previous.sha256, size, list(previous.chunks), mode), 0
    whole, chunks, written = hashlib.sha256(), [], 0
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            whole.update(block)
            name, stored = repo.put(block, compress=not relative.endswith(".parquet"))
            chunks.append(name)
            written += stored
    digest = whole.hexdigest()
    if recorded and recorded[0] != digest:
        raise BackupError(f"{source} differs from the SHA-256 recorded when it was written: the lake is damaged and "
                          f"was not backed up. Fix: `carbon lake verify`, then restore that file from an older backup")
    return Entry(role, relative, digest, size, chunks, mode), written


def _require_embedded(settings: Settings) -> None:
    if not settings.is_embedded or not settings.data_uri.startswith("/"):
        raise BackupError("carbon backup copies an embedded lake (SQLite catalog, local data folder); this lake's catalog "
                          f"is {settings.catalog_display} and its data {settings.data_uri}. Fix: back up a PostgreSQL "
                          "catalog with pg_dump and object storage with the bucket's versioning and replication")


@contextmanager
def _sqlite(path: Path, *, read_only: bool = True) -> Iterator[sqlite3.Connection]:
    """An SQLite connection to ``path``, committed and closed at the end of the block."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True) if read_only else sqlite3.connect(path)) as con:
        with con:
            yield con


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API: writers may go on)."""
    if not source.is_file():
        raise BackupError(f"no database at {source}. Fix: point --lake at the lake to back up")
    with _sqlite(source) as origin, _sqlite(target, read_only=False) as copy:
        origin.backup(copy)
    os.chmod(target, source.stat().st_mode & 0o777)


@dataclass
class _CatalogCopy:
    """What a backup reads from its copy of the catalog."""

    snapshot_id: int
    snapshot_time: str
    schema_version: int
    checksums: dict[str, str]
    data_files: list[str]  # every data and delete file any snapshot references, relative to the data path
    recorded: dict[str, tuple[str, int]]  # SHA-256 and size recorded at write, by file name


def _read_catalog(catalog_copy: Path, settings: Settings, earlier: list[Manifest]) -> _CatalogCopy:
    """Snapshot, schema version, table checksums (over the live data files) and referenced files of the copied
    catalog.

    The checksums move on from the newest earlier backup of this lake's history (same snapshot
    time, same schema) by the rows changed since (:meth:`~carbonlib.lake.Lake.checksums_since`).
    """
    from ..lake import Lake
    from ..settings import load_settings

    copy = load_settings(lake=settings.lake, catalog=f"sqlite:{catalog_copy}", data_path=settings.data_uri)
    with Lake.open(copy, read_only=True) as lake:
        snapshot = lake.snapshot_id()
        times = {int(i): str(at) for i, at in lake.snapshots()[["snapshot_id", "snapshot_time"]].itertuples(index=False)}
        base = next((m for m in reversed(earlier) if m.snapshot_id <= snapshot and m.schema_version == lake.schema_version
                     and m.snapshot_time and times.get(m.snapshot_id) == m.snapshot_time), None)
        checksums = (lake.checksums_since(base.checksums, base.snapshot_id, snapshot) if base
                     else lake.checksums(snapshot))
        referenced = lake.referenced_files().path
        outside = [path for path in referenced if not path.startswith(settings.data_uri)]
        if outside:
            raise BackupError(f"{outside[0]} lies outside the data path {settings.data_uri}; carbon backup copies one "
                              "data folder")
        files = sorted({path[len(settings.data_uri):] for path in referenced})
        return _CatalogCopy(snapshot, times[snapshot], lake.schema_version, checksums, files, lake.recorded_checksums())


def _lake_folder_files(settings: Settings) -> list[tuple[str, str, Path]]:
    """Files of the lake folder other than the catalog and the data folder (pipeline state, evidence)."""
    lake = Path(settings.lake).resolve()
    data = Path(settings.data_uri).resolve()
    catalog = Path(settings.catalog_uri.removeprefix("sqlite:")).resolve()
    skipped = {catalog, catalog.with_name(catalog.name + "-wal"), catalog.with_name(catalog.name + "-shm")}
    found = []
    for path in sorted(lake.rglob("*")):
        if path.is_file() and path.resolve() not in skipped and data not in path.resolve().parents:
            found.append(("lake", str(path.relative_to(lake)), path))
    return found


def _store_files(where: StoreLocation, role: str, scratch: Path) -> list[tuple[str, str, Path]]:
    """A store (the security store, the credit registry): a consistent copy of its database and the other files
    of its folder (keys), under ``role``."""
    if where.dialect != "sqlite":
        raise BackupError(f"the {role} store is in PostgreSQL ({where.display}); carbon backup copies an SQLite store. "
                          "Fix: back it up with pg_dump")
    if not where.path.is_file():
        return []
    copy = scratch / f"{role}.sqlite"
    _copy_sqlite(where.path, copy)
    found = [(role, where.path.name, copy)]
    skipped = {where.path.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
    for path in sorted(where.path.parent.rglob("*")):
        if path.is_file() and str(path.relative_to(where.path.parent)) not in skipped:
            found.append((role, str(path.relative_to(where.path.parent)), path))
    return found


def _config_file() -> Path | None:
    path = Path(os.environ.get("CARBON_CONFIG", "carbon.toml"))
    return path.resolve() if path.is_file() else None


# ---------------------------------------------------------------------------------------------- verify
def verify(repository: Location, key: bytes, backup_id: str | None = None) -> VerifyResult:
    """Re-read every object of one backup (or all): present, decrypts and authenticates, and hashes to its name
    (a manifest, itself authenticated, lists each file's chunks in order).  The outcome is written to
    ``verified.json``."""
    repo = Repository(repository, key)
    manifests = [repo.manifest(backup_id)] if backup_id else repo.manifests()
    if not manifests:
        raise BackupError(f"{repository} holds no backup yet. Fix: `carbon backup create`")
    problem_of: dict[str, str | None] = {}  # object -> problem (None: good); each object is read once
    result = VerifyResult([m.backup_id for m in manifests], 0, 0)
    for manifest in manifests:
        for entry in manifest.entries:
            for name in entry.chunks:
                if name not in problem_of:
                    try:
                        result.bytes += len(repo.get(name))
                        problem_of[name] = None
                    except BackupError as error:
                        problem_of[name] = str(error)
                    result.objects += 1
            problems = [problem_of[name] for name in entry.chunks if problem_of[name]]
            if problems:
                result.problems.append((manifest.backup_id, f"{entry.role}/{entry.path}", problems[0]))
    repo.record_verification(result)
    return result


# ---------------------------------------------------------------------------------------------- restore
def restore(repository: Location, key: bytes, lake: Path, backup_id: str = "latest", *, force: bool = False,
            progress: bool = False) -> RestoreResult:
    """Rebuild the lake of one backup in folder ``lake`` (its security store in ``<lake>-security``, its credit
    registry in ``<lake>-registry``).

    The folders must be empty or absent; ``force`` moves existing ones aside to ``<name>.replaced-<time>``
    (never merged, never deleted).  The lake is built in a temporary folder next to ``lake`` and moved
    into place only after every table's checksum at the backup's snapshot equals the recorded one.
    """
    from tqdm.auto import tqdm

    from ..lake import Lake
    from ..settings import load_settings

    repo = Repository(repository, key)
    manifest = repo.manifest(backup_id)
    lake = Path(lake).resolve()
    security = lake.parent / f"{lake.name}-security"
    registry = lake.parent / f"{lake.name}-registry"
    occupied = [folder for folder in (lake, security, registry) if folder.exists() and any(folder.iterdir())]
    if occupied and not force:
        raise BackupError(f"not empty: {', '.join(map(str, occupied))}; a restore never merges into a lake. "
                          "Fix: restore into a new folder, or add --force to move the existing folders aside")
    building = lake.parent / f".{lake.name}.restoring-{secrets.token_hex(4)}"
    roots = {"catalog": building / "lake", "data": building / "lake" / "data", "lake": building / "lake",
             "security": building / "security", "registry": building / "registry",
             "config": building / "lake" / "restored-config"}
    written = 0
    try:
        with tqdm(total=len(manifest.entries), desc="restore", unit="file", disable=not progress) as bar:
            for entry in manifest.entries:
                target = roots[entry.role] / entry.path
                if roots[entry.role] not in target.resolve().parents:
                    raise BackupError(f"backup entry {entry.role}/{entry.path} points outside its folder; refused")
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                whole = hashlib.sha256()
                with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, entry.mode), "wb") as handle:
                    for name in entry.chunks:
                        data = repo.get(name)
                        whole.update(data)
                        handle.write(data)
                if whole.hexdigest() != entry.sha256:
                    raise BackupError(f"{entry.role}/{entry.path} does not match its SHA-256 in backup {manifest.backup_id}")
                written += entry.size
                bar.update()
        rebuilt = load_settings(lake=roots["lake"])
        with Lake.open(rebuilt, read_only=True) as opened:
            found = opened.checksums(manifest.snapshot_id)
        differing = sorted(t for t in set(found) | set(manifest.checksums) if found.get(t) != manifest.checksums.get(t))
        if differing:
            raise BackupError(f"the restored lake's tables {differing} differ from backup {manifest.backup_id}; "
                              "nothing was put in place")
        set_aside = []
        stamp = f"{_now():%Y%m%dT%H%M%SZ}"
        for folder in (lake, security, registry):
            if folder.exists():
                aside = folder.with_name(f"{folder.name}.replaced-{stamp}")
                folder.rename(aside)
                set_aside.append(aside)
        roots["lake"].rename(lake)
        for role, folder in (("security", security), ("registry", registry)):
            if roots[role].exists():
                roots[role].rename(folder)
        _record_paths(lake / "catalog.sqlite", str((lake / "data").resolve()) + "/",
                      [e.path for e in manifest.entries if e.role == "data"])
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return RestoreResult(lake, security, manifest.backup_id, manifest.snapshot_id, len(manifest.entries), written,
                         set_aside)


def _record_paths(catalog: Path, data_uri: str, relatives: list[str]) -> None:
    """Point the lake's recorded file checksums (kept by full path) at the restored files under ``data_uri``."""
    from ..lake.integrity import CHECKSUM_TABLE

    with _sqlite(catalog, read_only=False) as con:
        if con.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", [CHECKSUM_TABLE]).fetchone()[0]:
            by_name = {Path(relative).name: data_uri + relative for relative in relatives}
            rows = con.execute(f"SELECT rowid, path FROM {CHECKSUM_TABLE}").fetchall()
            con.executemany(f"UPDATE {CHECKSUM_TABLE} SET path = ? WHERE rowid = ?",
                            [(by_name[Path(path).name], rowid) for rowid, path in rows if Path(path).name in by_name])


# ---------------------------------------------------------------------------------------------- prune
def kept_backups(manifests: list[Manifest], daily: int = 7, weekly: int = 4, monthly: int = 12) -> set[str]:
    """The backups a retention policy keeps: the newest one of each of the last ``daily`` days, ``weekly`` ISO
    weeks and ``monthly`` months that have backups (as restic's --keep-daily/weekly/monthly), and the newest."""
    newest_first = sorted(manifests, key=lambda m: m.created_at, reverse=True)
    kept = {newest_first[0].backup_id} if newest_first else set()
    for count, bucket in ((daily, lambda t: t.date()), (weekly, lambda t: tuple(t.isocalendar())[:2]),
                          (monthly, lambda t: (t.year, t.month))):
        seen: list = []
        for manifest in newest_first:
            period = bucket(manifest.created)
            if period in seen:
                continue
            if len(seen) == count:
                break
            seen.append(period)
            kept.add(manifest.backup_id)
    return kept


def prune(repository: Location, key: bytes, daily: int = 7, weekly: int = 4, monthly: int = 12) -> PruneResult:
    """Remove the backups :func:`kept_backups` does not keep, then every object no kept backup uses."""
    repo = Repository(repository, key)
    manifests = repo.manifests()
    kept = kept_backups(manifests, daily, weekly, monthly)
    removed = [m.backup_id for m in manifests if m.backup_id not in kept]
    for backup_id in removed:
        repo.delete_manifest(backup_id)
    used = {name for m in manifests if m.backup_id in kept for e in m.entries for name in e.chunks}
    deleted, freed = 0, 0
    for name in list(repo.object_names()):
        if name not in used:
            freed += repo.delete_object(name)
            deleted += 1
    return PruneResult(sorted(kept), removed, deleted, freed)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
