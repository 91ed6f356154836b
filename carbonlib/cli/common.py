"""Options and helpers shared by the ``carbon`` command and its sub-apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..settings import Settings, SettingsError, load_settings

LakeOption = Annotated[Optional[Path], typer.Option("--lake", help="Lake folder (default: $CARBON_LAKE or ./lake).")]
CatalogOption = Annotated[Optional[str], typer.Option("--catalog", help="DuckLake catalog URI (sqlite:... or postgres:...).")]
DataOption = Annotated[Optional[str], typer.Option("--data-path", help="Parquet data path (folder or s3://...).")]
SnapshotOption = Annotated[Optional[int], typer.Option("--snapshot", min=0,
                                                       help="Read as of this snapshot id (see `carbon lake snapshots`).")]


def settings_from(lake: Path | None, catalog: str | None = None, data_path: str | None = None) -> Settings:
    """Settings with the command's --lake/--catalog/--data-path flags applied (a bad setting fails cleanly)."""
    try:
        return load_settings(lake=lake, catalog=catalog, data_path=data_path)
    except SettingsError as error:
        fail(error)


def fail(error: Exception | str) -> None:
    """Print the error (it names the fix) and exit with code 1."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn the library's refusals (lake, settings, bad values, missing files) into ``error: …`` and exit 1."""
    from ..lake import LakeError

    try:
        yield
    except (LakeError, SettingsError, ValueError, FileNotFoundError, FileExistsError, PermissionError) as error:
        fail(error)


def open_lake(settings: Settings, **kw):
    """Open the lake, or fail with the lake layer's message."""
    from ..lake import Lake

    with clean_errors():
        return Lake.open(settings, **kw)
