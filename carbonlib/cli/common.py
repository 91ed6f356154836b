"""Options and helpers shared by the ``carbon`` command and its sub-apps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..settings import Settings, load_settings

LakeOption = Annotated[Optional[Path], typer.Option("--lake", help="Lake folder (default: $CARBON_LAKE or ./lake).")]
CatalogOption = Annotated[Optional[str], typer.Option("--catalog", help="DuckLake catalog URI (sqlite:... or postgres:...).")]
DataOption = Annotated[Optional[str], typer.Option("--data-path", help="Parquet data path (folder or s3://...).")]


def settings_from(lake: Path | None, catalog: str | None = None, data_path: str | None = None) -> Settings:
    """Settings with the command's --lake/--catalog/--data-path flags applied."""
    return load_settings(lake=lake, catalog=catalog, data_path=data_path)


def fail(error: Exception) -> None:
    """Print the error (it names the fix) and exit with code 1."""
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def open_lake(settings: Settings, **kw):
    """Open the lake, or fail with the lake layer's message."""
    from ..lake import Lake, LakeError

    try:
        return Lake.open(settings, **kw)
    except LakeError as error:
        fail(error)
