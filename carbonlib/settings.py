"""One settings object for the whole workbench.

Values come, in increasing priority, from defaults, an optional TOML config file
(``CARBON_CONFIG`` or ``./carbon.toml``), environment variables ``CARBON_*`` and
explicit keyword overrides (the CLI passes its flags here).  No other module reads
the environment.  A bad file or value raises :class:`SettingsError` naming the file, the
setting and the fix.

Settings
--------
lake
    Lake folder for the embedded default (``CARBON_LAKE``).  It holds ``catalog.sqlite`` and
    the ``data/`` Parquet directory.  When no file, variable or flag names it, the lake is
    ``./lake``; readers (notebooks, the Intake catalog) ask ``load_settings(find_lake=True)``
    and then also take the nearest ``lake/`` with a catalog in a folder above, so a notebook
    that JupyterLab runs from ``notebooks/explore/`` finds the repository's lake.  Writers
    never search: a new lake is never mistaken for an existing one above it.
catalog
    DuckLake catalog URI (``CARBON_CATALOG``).  Default ``sqlite:<lake>/catalog.sqlite``;
    a PostgreSQL catalog is written ``postgres:dbname=carbon host=127.0.0.1 ...``.
data_path
    Where Parquet files live (``CARBON_DATA_PATH``).  Default ``<lake>/data/``; an
    object store is written ``s3://bucket/prefix/``.
security_store
    The security store: users, grants, sessions and the audit log (``CARBON_SECURITY_STORE``).
    Default an SQLite file in ``<lake>-security/`` next to the lake folder (owner-only); a
    PostgreSQL store is written ``postgres:dbname=carbon_security host=127.0.0.1 ...``.
registry_store
    The credit registry's system of record: serial blocks, transfers, pledges, retirements and
    its verifiable log (``CARBON_REGISTRY_STORE``).  Default an SQLite file in
    ``<lake>-registry/`` next to the lake folder; PostgreSQL written as for ``security_store``.
lock_timeout_s
    How long a write waits for the catalog when another process holds it (a long commit, a
    reader holding a transaction) or its PostgreSQL server is away (a restart) before it gives
    up with a clear error (``CARBON_LOCK_TIMEOUT_S``, seconds, default 120).
memory_limit, threads
    DuckDB's memory limit (``CARBON_MEMORY_LIMIT``, e.g. ``1GiB`` or ``60%``; default DuckDB's,
    80 % of RAM) and worker threads (``CARBON_THREADS``; default one per core) of every lake
    connection.  Above the limit DuckDB spills to disk instead of growing.

An ``s3://`` data path is reached with the standard AWS variables, read here and never written
to a file: ``AWS_ENDPOINT_URL`` (an S3-compatible server, e.g. ``http://127.0.0.1:9000``; path-style
addressing, TLS for ``https``), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN`` and ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` (:class:`ObjectStore`; the
backups' boto3 reads the same variables).

Secrets (a PostgreSQL password in the catalog URI) never leave this object unmasked in
messages: print :attr:`Settings.catalog_display`, and pass any text that may hold a URI
through :func:`mask_secrets`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

_ENV_PREFIX = "CARBON_"
_TEXT_FIELDS = ("lake", "catalog", "data_path", "security_store", "registry_store", "memory_limit")
_NUMBER_FIELDS = ("lock_timeout_s",)
_COUNT_FIELDS = ("threads",)
_FIELDS = _TEXT_FIELDS + _NUMBER_FIELDS + _COUNT_FIELDS
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)\s*$", re.IGNORECASE)
_CATALOG_SCHEMES = ("sqlite:", "postgres:")
_SECRETS = (
    (re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE), r"\1***"),  # libpq key=value
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"), r"\1***\2"),  # scheme://user:password@host
    (re.compile(r"((?:secret|token|key_secret)\w*\s*=\s*)\S+", re.IGNORECASE), r"\1***"),
)


class SettingsError(ValueError):
    """A configuration file, variable or flag is not usable; the message names it and the fix."""


def mask_secrets(text: str) -> str:
    """``text`` with passwords of catalog URIs (``password=…``, ``user:…@``) replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@dataclass(frozen=True)
class ObjectStore:
    """How to reach an S3-compatible object store (from the standard AWS variables; see module doc)."""

    endpoint: str | None = None  # host:port of an S3-compatible server; None: AWS itself
    use_ssl: bool = True
    region: str = "us-east-1"
    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> "ObjectStore":
        url = environ.get("AWS_ENDPOINT_URL", "").strip()
        scheme, _, host = url.partition("://") if "://" in url else ("https", "", url)
        return cls(endpoint=host.rstrip("/") or None, use_ssl=scheme != "http",
                   region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1",
                   key_id=environ.get("AWS_ACCESS_KEY_ID") or None, secret=environ.get("AWS_SECRET_ACCESS_KEY") or None,
                   session_token=environ.get("AWS_SESSION_TOKEN") or None)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    lake: Path = field(default_factory=lambda: Path("lake"))
    catalog: str | None = None
    data_path: str | None = None
    security_store: str | None = None
    registry_store: str | None = None
    lock_timeout_s: float = 120.0
    memory_limit: str | None = None
    threads: int | None = None
    object_store: ObjectStore = field(default_factory=ObjectStore, repr=False, compare=False)

    @property
    def catalog_uri(self) -> str:
        """The DuckLake catalog URI (``sqlite:...`` or ``postgres:...``); may hold a password: never print it."""
        return self.catalog or f"sqlite:{self.lake.resolve() / 'catalog.sqlite'}"

    @property
    def catalog_display(self) -> str:
        """The catalog URI with any password masked, for messages, manifests and ``lake info``."""
        return mask_secrets(self.catalog_uri)

    @property
    def data_uri(self) -> str:
        """The data path with a trailing slash (local folder or ``s3://`` prefix)."""
        path = self.data_path or str(self.lake.resolve() / "data")
        return path if path.endswith("/") else path + "/"

    @property
    def is_embedded(self) -> bool:
        """True when the catalog is the embedded SQLite file inside the lake folder."""
        return self.catalog_uri.startswith("sqlite:")

    def with_overrides(self, **overrides: object) -> "Settings":
        """Return a copy with the non-None ``overrides`` applied (checked like every other source)."""
        clean = {k: _checked(k, v, "override") for k, v in overrides.items() if v is not None}
        return replace(self, **clean)


def _checked(name: str, value: object, source: str) -> object:
    """``value`` of setting ``name`` converted to its type, or SettingsError naming ``source``."""
    if name not in _FIELDS:
        raise SettingsError(f"{source}: unknown setting {name!r}; known: {list(_FIELDS)}")
    if name in _COUNT_FIELDS:
        try:
            count = int(str(value).strip()) if not isinstance(value, (bool, float)) else 0
        except ValueError:
            count = 0
        if count < 1:
            raise SettingsError(f"{source}: {name} must be a whole number >= 1, not {str(value)[:40]!r}")
        return count
    if name in _NUMBER_FIELDS:
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number <= 0:
            raise SettingsError(f"{source}: {name} must be a positive number of seconds, not {str(value)[:40]!r}")
        return number
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise SettingsError(f"{source}: {name} must be a non-empty text (a folder or URI), not {str(value)[:40]!r}")
    if name == "lake":
        return Path(value)
    if name == "memory_limit" and not _MEMORY.match(value):
        raise SettingsError(f"{source}: memory_limit {value[:40]!r} must be a size such as '1GiB', '512MB' or '60%'")
    if name in ("catalog", "security_store", "registry_store") and not value.startswith(_CATALOG_SCHEMES):
        raise SettingsError(f"{source}: {name} {mask_secrets(value)[:60]!r} must start with one of "
                            f"{list(_CATALOG_SCHEMES)} (e.g. 'sqlite:/data/lake/catalog.sqlite' or "
                            "'postgres:dbname=carbon host=127.0.0.1')")
    return value


def _config_file(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML ({error}). Fix: write settings as `lake = \"/data/lake\"` "
                            f"lines with the keys {list(_FIELDS)}.") from None
    except OSError as error:
        raise SettingsError(f"cannot read the settings file {path}: {error.strerror}") from None
    return {key: _checked(key, value, str(path)) for key, value in document.items()}


def load_settings(config_file: str | os.PathLike | None = None, *, find_lake: bool = False,
                  **overrides: object) -> Settings:
    """Resolve settings from defaults, config file, ``CARBON_*`` variables and overrides.

    ``find_lake``: when nothing names the lake, use :func:`nearest_lake` of the working folder.
    """
    values: dict[str, object] = {}
    path = Path(config_file or os.environ.get(_ENV_PREFIX + "CONFIG", "carbon.toml"))
    if config_file is not None and not path.is_file():
        raise SettingsError(f"settings file {path} does not exist")
    if path.is_file():
        values.update(_config_file(path))
    for name in _FIELDS:
        env = os.environ.get(_ENV_PREFIX + name.upper())
        if env:
            values[name] = _checked(name, env, f"environment variable {_ENV_PREFIX}{name.upper()}")
    values.update({k: _checked(k, v, f"--{k.replace('_', '-')}") for k, v in overrides.items() if v is not None})
    if find_lake and "lake" not in values:
        values["lake"] = nearest_lake(Path.cwd())
    return replace(Settings(), **values, object_store=ObjectStore.from_environment())


def child_environment(settings: Settings) -> dict[str, str]:
    """The ``CARBON_*`` variables under which a child process (a report kernel, a batch worker) resolves these same
    settings: a catalog URI with its password travels in the environment, never in a notebook's parameters."""
    values = {"lake": str(Path(settings.lake).resolve()), "catalog": settings.catalog, "data_path": settings.data_path,
              "security_store": settings.security_store,
              "registry_store": settings.registry_store, "memory_limit": settings.memory_limit,
              "threads": settings.threads, "lock_timeout_s": settings.lock_timeout_s}
    return {_ENV_PREFIX + name.upper(): str(value) for name, value in values.items() if value is not None}


def nearest_lake(start: Path, name: str = "lake") -> Path:
    """``./lake`` relative to ``start``, or the nearest ``lake/`` holding a catalog in a folder above ``start``.

    Returns the relative ``Path("lake")`` when ``start`` has one or no folder above has one
    (new lakes are created there).
    """
    for folder in (start, *start.parents):
        candidate = folder / name
        if (candidate / "catalog.sqlite").is_file():
            return Path(name) if folder == start else candidate
    return Path(name)
