"""Options and helpers shared by the ``carbon`` command and its sub-apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..i18n import cli_language, message
from ..settings import Settings, SettingsError, load_settings


def language() -> str:
    """The command line's language (:func:`carbonlib.i18n.cli_language`); en while $CARBON_LANG is invalid
    (the ``carbon`` callback then refuses it with the fix)."""
    try:
        return cli_language()
    except ValueError:
        return "en"


def t(key: str, /, **fields: object) -> str:
    """Message ``cli_<key>`` of the catalogue in the command line's language, fields filled."""
    return message(f"cli_{key}", language(), **fields)


def say(key: str, /, **fields: object) -> None:
    """Print message ``cli_<key>`` (see :func:`t`)."""
    typer.echo(t(key, **fields))


def typer_app(help_key: str, **options: object) -> typer.Typer:
    """A Typer (sub-)app with help ``cli_<help_key>``; in Chinese its help is laid out by Click, not Rich,
    whose option tables cut CJK text (no spaces to wrap at) with an ellipsis."""
    markup = None if language() == "zh" else "rich"
    return typer.Typer(help=t(help_key), no_args_is_help=True, rich_markup_mode=markup, **options)


LakeOption = Annotated[Optional[Path], typer.Option("--lake", help=t("opt_lake"))]
CatalogOption = Annotated[Optional[str], typer.Option("--catalog", help=t("opt_catalog"))]
DataOption = Annotated[Optional[str], typer.Option("--data-path", help=t("opt_data_path"))]
SnapshotOption = Annotated[Optional[int], typer.Option("--snapshot", min=0, help=t("opt_snapshot"))]
JsonOption = Annotated[bool, typer.Option("--json", help=t("opt_json"))]


def settings_from(lake: Path | None, catalog: str | None = None, data_path: str | None = None) -> Settings:
    """Settings with the command's --lake/--catalog/--data-path flags applied (a bad setting fails cleanly)."""
    try:
        return load_settings(lake=lake, catalog=catalog, data_path=data_path)
    except SettingsError as error:
        fail(error)


def fail(error: Exception | str) -> None:
    """Print the error (it names the fix) and exit with code 1."""
    typer.secho(t("error", error=error), fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn the library's refusals (lake, settings, backups, bad values, missing files) into ``error: …`` and exit 1."""
    from ..lake import LakeError
    from ..ops.backup import BackupError
    from ..security.store import StoreError

    try:
        yield
    except (LakeError, SettingsError, BackupError, StoreError, ValueError, FileNotFoundError, FileExistsError,
            PermissionError) as error:
        fail(error)


def open_lake(settings: Settings, **kw):
    """Open the lake, or fail with the lake layer's message."""
    from ..lake import Lake

    with clean_errors():
        return Lake.open(settings, **kw)


def choice(allowed):
    """A Typer callback refusing a value outside ``allowed`` (None passes; each value of a repeated option is
    checked), with the choices in the message."""
    def check(value):
        values = value if isinstance(value, list) else [value]
        if any(v is not None and v not in allowed for v in values):
            raise typer.BadParameter(t("choose_one_of", choices=", ".join(allowed)))
        return value
    return check


def iso_date(value: str | None):
    """``value`` (YYYY-MM-DD) as a date (None passes), or a usage error asking for one."""
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(t("give_date")) from None
