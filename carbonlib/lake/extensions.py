"""Load DuckDB extensions offline from the pinned PyPI extension packages.

DuckDB normally downloads extensions at run time, which fails without internet.  The
packages ``duckdb-extension-<name>`` (pinned to the DuckDB version, see pyproject) ship
the signed binaries; we ``INSTALL`` them from that local file once (DuckDB copies it into
its extension directory under the extension's own name) and ``LOAD`` them by name, with
auto-installation disabled.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

import duckdb

from .errors import LakeError
from .sql import ident, literal

# extension name -> (python package, binary file stem, name DuckDB loads it by)
_PACKAGES = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake", "ducklake"),
    "sqlite": ("duckdb_extension_sqlite", "sqlite", "sqlite_scanner"),
    "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner", "postgres_scanner"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs", "httpfs"),
}


@cache
def extension_path(name: str) -> Path:
    """Path of the extension binary shipped by its PyPI package."""
    package, binary, _ = _PACKAGES[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise LakeError(
            f"DuckDB extension {name!r} is not installed; fix: pip install "
            f"{package.replace('_', '-')}=={duckdb.__version__}"
        ) from None
    root = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(root.glob(f"{binary}.duckdb_extension"))
    if not found:
        raise LakeError(
            f"{package} has no binary for duckdb {duckdb.__version__} under {root}; fix: install the "
            f"extension package matching duckdb=={duckdb.__version__}"
        )
    return found[0]


def load_extensions(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Load ``names`` into ``con`` from local files, never from the network."""
    con.execute("SET autoinstall_known_extensions = false")
    installed = {
        row[0] for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE installed").fetchall()
    }
    for name in names:
        loaded_as = _PACKAGES[name][2]
        if loaded_as not in installed:
            con.execute(f"INSTALL {literal(extension_path(name))}")
        con.execute(f"LOAD {ident(loaded_as)}")
