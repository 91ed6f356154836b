"""One settings object for the whole workbench.

Values come, in increasing priority, from defaults, an optional TOML config file
(``CARBON_CONFIG`` or ``./carbon.toml``), environment variables ``CARBON_*`` and
explicit keyword overrides (the CLI passes its flags here).  No other module reads
the environment.

Settings
--------
lake
    Lake folder for the embedded default (``CARBON_LAKE``, default ``./lake``).  It
    holds ``catalog.sqlite`` and the ``data/`` Parquet directory.
catalog
    DuckLake catalog URI (``CARBON_CATALOG``).  Default ``sqlite:<lake>/catalog.sqlite``;
    a PostgreSQL catalog is written ``postgres:dbname=carbon host=127.0.0.1 ...``.
data_path
    Where Parquet files live (``CARBON_DATA_PATH``).  Default ``<lake>/data/``; an
    object store is written ``s3://bucket/prefix/``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

_ENV_PREFIX = "CARBON_"
_FIELDS = ("lake", "catalog", "data_path")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    lake: Path = field(default_factory=lambda: Path("lake"))
    catalog: str | None = None
    data_path: str | None = None

    @property
    def catalog_uri(self) -> str:
        """The DuckLake catalog URI (``sqlite:...`` or ``postgres:...``)."""
        return self.catalog or f"sqlite:{self.lake.resolve() / 'catalog.sqlite'}"

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
        """Return a copy with the non-None ``overrides`` applied."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "lake" in clean:
            clean["lake"] = Path(str(clean["lake"]))
        return replace(self, **clean)


def load_settings(config_file: str | os.PathLike | None = None, **overrides: object) -> Settings:
    """Resolve settings from defaults, config file, ``CARBON_*`` variables and overrides."""
    values: dict[str, object] = {}
    path = Path(config_file or os.environ.get(_ENV_PREFIX + "CONFIG", "carbon.toml"))
    if path.is_file():
        with path.open("rb") as handle:
            document = tomllib.load(handle)
        unknown = set(document) - set(_FIELDS)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {list(_FIELDS)}")
        values.update(document)
    for name in _FIELDS:
        env = os.environ.get(_ENV_PREFIX + name.upper())
        if env:
            values[name] = env
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings().with_overrides(**values)
