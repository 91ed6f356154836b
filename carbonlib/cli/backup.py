"""``carbon backup key|create|list|verify|restore|prune``: encrypted, incremental backups (faces over
:mod:`carbonlib.ops`).  Exit codes as :mod:`carbonlib.cli`; ``verify`` exits 1 when a backup is damaged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .auth import acting
from .common import JsonOption, LakeOption, clean_errors, say, settings_from, t, typer_app

backup_app = typer_app("help_backup")

RepositoryOption = Annotated[Optional[str], typer.Option("--repository", help=t("opt_repository"))]
KeyFileOption = Annotated[Optional[Path], typer.Option("--key-file", help=t("opt_key_file"))]


def _where(settings, repository: str | None, key_file: Path | None) -> tuple[str, Path]:
    from ..ops import service

    return repository or service.default_repository(settings), key_file or service.default_key_file()


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f}"


@backup_app.command("key", help=t("help_backup_key"))
def key(out: Annotated[Optional[Path], typer.Option("--out", help=t("opt_key_out"))] = None) -> None:
    from ..ops import backup, service

    target = out or service.default_key_file()
    with clean_errors():
        identity = backup.generate_key(target)
    say("backup_key_written", path=target, key=identity)


@backup_app.command("create", help=t("help_backup_create"))
def create(lake: LakeOption = None, repository: RepositoryOption = None, key_file: KeyFileOption = None,
           progress: Annotated[bool, typer.Option(help=t("opt_progress"))] = True) -> None:
    from ..ops import service

    settings = settings_from(lake)
    folder, key_path = _where(settings, repository, key_file)
    with acting(settings) as (security, principal), clean_errors():
        manifest = service.create(security, principal, settings, folder, key_path, progress=progress)
    say("backup_created", id=manifest.backup_id, snapshot=manifest.snapshot_id, files=len(manifest.entries),
        mib=_mib(manifest.size), new=_mib(manifest.new_bytes), repository=folder)


@backup_app.command("list", help=t("help_backup_list"))
def listing(lake: LakeOption = None, repository: RepositoryOption = None, key_file: KeyFileOption = None,
            as_json: JsonOption = False) -> None:
    from ..ops import service

    settings = settings_from(lake)
    folder, key_path = _where(settings, repository, key_file)
    with acting(settings) as (security, principal), clean_errors():
        manifests = service.listing(security, principal, settings, folder, key_path)
    rows = [{"backup_id": m.backup_id, "created_at": m.created_at, "snapshot_id": m.snapshot_id,
             "files": len(m.entries), "bytes": m.size, "new_bytes": m.new_bytes} for m in manifests]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        say("backup_line", id=row["backup_id"], at=row["created_at"], snapshot=row["snapshot_id"], files=row["files"],
            mib=_mib(row["bytes"]), new=_mib(row["new_bytes"]))
    if not rows:
        say("backup_none", repository=folder)


@backup_app.command("verify", help=t("help_backup_verify"))
def verify(backup_id: Annotated[Optional[str], typer.Argument(help=t("arg_backup_id_all"))] = None,
           lake: LakeOption = None, repository: RepositoryOption = None, key_file: KeyFileOption = None) -> None:
    from ..ops import service

    settings = settings_from(lake)
    folder, key_path = _where(settings, repository, key_file)
    with acting(settings) as (security, principal), clean_errors():
        result = service.verify(security, principal, settings, folder, key_path, backup_id)
    say("backup_verified", backups=len(result.backups), objects=result.objects, mib=_mib(result.bytes),
        result=t("verify_ok") if result.ok else t("verify_damaged", count=len(result.problems)))
    for backup_id, path, problem in result.problems:
        typer.secho(f"  {backup_id}: {path}: {problem}", fg=typer.colors.RED)
    if not result.ok:
        raise typer.Exit(1)


@backup_app.command("restore", help=t("help_backup_restore"))
def restore(to: Annotated[Path, typer.Option("--to", help=t("opt_restore_to"))],
            backup_id: Annotated[str, typer.Argument(help=t("arg_backup_id"))] = "latest",
            lake: LakeOption = None, repository: RepositoryOption = None, key_file: KeyFileOption = None,
            force: Annotated[bool, typer.Option("--force", help=t("opt_restore_force"))] = False,
            progress: Annotated[bool, typer.Option(help=t("opt_progress"))] = True) -> None:
    from ..ops import backup

    settings = settings_from(lake)
    folder, key_path = _where(settings, repository, key_file)
    with clean_errors():
        result = backup.restore(folder, backup.load_key(key_path), to, backup_id, force=force, progress=progress)
    say("backup_restored", id=result.backup_id, snapshot=result.snapshot_id, files=result.files, mib=_mib(result.bytes),
        lake=result.lake, security=result.security)
    for aside in result.set_aside:
        say("backup_set_aside", path=aside)


@backup_app.command("prune", help=t("help_backup_prune"))
def prune(lake: LakeOption = None, repository: RepositoryOption = None, key_file: KeyFileOption = None,
          daily: Annotated[int, typer.Option(min=1, help=t("opt_keep_daily"))] = 7,
          weekly: Annotated[int, typer.Option(min=0, help=t("opt_keep_weekly"))] = 4,
          monthly: Annotated[int, typer.Option(min=0, help=t("opt_keep_monthly"))] = 12) -> None:
    from ..ops import service

    settings = settings_from(lake)
    folder, key_path = _where(settings, repository, key_file)
    with acting(settings) as (security, principal), clean_errors():
        result = service.prune(security, principal, settings, folder, key_path, daily=daily, weekly=weekly,
                               monthly=monthly)
    say("backup_pruned", kept=len(result.kept), removed=len(result.removed), objects=result.objects_deleted,
        mib=_mib(result.bytes_freed))
