"""``carbon lake …`` and ``carbon schema``: inspect and maintain the lake (faces over :mod:`carbonlib.lake`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (CatalogOption, DataOption, JsonOption, LakeOption, SnapshotOption, clean_errors, fail, open_lake,
                     say, settings_from, t, typer_app)

lake_app = typer_app("help_lake")


@lake_app.command("init", help=t("help_lake_init"))
def lake_init(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    from ..accounting import factor_library
    from ..lake import Lake, LakeError

    try:
        with Lake.create(settings_from(lake, catalog, data_path)) as created:
            say("lake_created", version=created.schema_version, catalog=created.settings.catalog_display)
            say("factors_seeded", count=factor_library.seed(created))
    except LakeError as error:
        fail(error)


@lake_app.command("info", help=t("help_lake_info"))
def lake_info(
    lake: LakeOption = None,
    catalog: CatalogOption = None,
    data_path: DataOption = None,
    snapshot: SnapshotOption = None,
    as_json: Annotated[bool, typer.Option("--json", help=t("opt_json_table"))] = False,
) -> None:
    settings = settings_from(lake, catalog, data_path)
    with open_lake(settings, read_only=True, snapshot=snapshot) as opened, clean_errors():
        opened.require_intact()
        info = opened.info()
        snapshots = opened.snapshots()
        size = sum(f.stat().st_size for f in settings.lake.rglob("*") if f.is_file()) if settings.is_embedded else None
        summary = dict(
            catalog=settings.catalog_display, data_path=settings.data_uri, schema_version=opened.schema_version,
            snapshot_id=opened.snapshot_id(), snapshots=len(snapshots), size_bytes=size,
            tables=info.to_dict(orient="records"),
        )
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    say("lake_catalog", catalog=summary["catalog"], data=summary["data_path"])
    typer.echo(t("lake_schema_line", version=summary["schema_version"], snapshot=summary["snapshot_id"],
                 snapshots=summary["snapshots"]) + (t("lake_size", mib=size / 2**20) if size is not None else ""))
    typer.echo(_headed(info).to_string(index=False, formatters={t("col_rows"): "{:,}".format,
                                                                  t("col_bytes"): "{:,}".format}))
    if ((info.rows > 0) & (info.files == 0)).any():
        say("lake_inlined")


@lake_app.command("snapshots", help=t("help_lake_snapshots"))
def lake_snapshots(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    with open_lake(settings_from(lake, catalog, data_path), read_only=True) as opened:
        typer.echo(_headed(opened.snapshots()).to_string(index=False))


def _headed(table):
    """``table`` with its column names in the command line's language (catalogue keys ``cli_col_<name>``)."""
    return table.rename(columns={name: t(f"col_{name}") for name in table.columns})


@lake_app.command("checksums", help=t("help_lake_checksums"))
def lake_checksums(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
                   snapshot: SnapshotOption = None) -> None:
    with open_lake(settings_from(lake, catalog, data_path), read_only=True, snapshot=snapshot) as opened, clean_errors():
        typer.echo(json.dumps(opened.checksums(), indent=2))


@lake_app.command("verify", help=t("help_lake_verify"))
def lake_verify(
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    quick: Annotated[bool, typer.Option("--quick", help=t("opt_quick"))] = False,
    delete_orphans: Annotated[bool, typer.Option("--delete-orphans", help=t("opt_delete_orphans"))] = False,
    older_than_hours: Annotated[float, typer.Option("--older-than-hours", min=0.0, help=t("opt_older_than_hours"))] = 1.0,
    as_json: JsonOption = False,
) -> None:
    settings = settings_from(lake, catalog, data_path)
    with open_lake(settings, read_only=not delete_orphans) as opened, clean_errors():
        report = opened.verify("quick" if quick else "full")
        deleted = opened.delete_orphans(older_than_hours) if delete_orphans else []
    summary = {"ok": report.ok, "files": report.files, "bytes": report.bytes, "problems": report.problems.to_dict("records"),
               "orphans": report.orphans, "orphans_deleted": deleted, "files_without_recorded_checksum": report.unrecorded}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        say("verify_summary", files=report.files, mib=report.bytes / 2**20, mode=t("verify_quick" if quick else "verify_full"),
            result=t("verify_ok") if report.ok else t("verify_damaged", count=len(report.problems)))
        for problem in report.problems.itertuples():
            typer.secho(f"  {problem.table}: {problem.path}: {problem.problem}", fg=typer.colors.RED)
        if report.orphans:
            orphan_bytes = sum(Path(p).stat().st_size for p in report.orphans if Path(p).is_file())
            typer.echo(t("verify_orphans", count=len(report.orphans), mib=orphan_bytes / 2**20)
                       + ("" if delete_orphans else t("verify_orphans_fix")))
        if deleted:
            say("verify_deleted", count=len(deleted), hours=older_than_hours)
        if report.unrecorded:
            say("verify_unrecorded", count=report.unrecorded)
    if not report.ok:
        typer.secho(t("verify_damaged_fix"), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@lake_app.command("maintain", help=t("help_lake_maintain"))
def lake_maintain(
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    keep_days: Annotated[float, typer.Option("--keep-days", min=0.0, help=t("opt_keep_days"))] = 30.0,
    grace_hours: Annotated[float, typer.Option("--grace-hours", min=0.0, help=t("opt_grace_hours"))] = 24.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=t("opt_dry_run"))] = False,
    as_json: JsonOption = False,
) -> None:
    from dataclasses import asdict

    from ..ops import service
    from .auth import acting

    settings = settings_from(lake, catalog, data_path)
    with acting(settings) as (security, principal), clean_errors():
        result = service.maintain(security, principal, settings, keep_days=keep_days, grace_hours=grace_hours,
                                  dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(asdict(result), indent=2))
        return
    if not dry_run:
        say("maintain_merged", tables=len(result.merged_tables), before=result.files_before, after=result.files_after,
            small_before=result.small_files_before, small_after=result.small_files_after)
    say("maintain_dry_run" if dry_run else "maintain_expired", count=len(result.expired), days=keep_days,
        pinned=len(result.kept_pinned), left=result.snapshots_left)
    if not dry_run:
        say("maintain_deleted", count=len(result.deleted_files), orphans=len(result.deleted_orphans), hours=grace_hours)


@lake_app.command("migrate", help=t("help_lake_migrate"))
def lake_migrate(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    from ..lake.connection import use_wal

    settings = settings_from(lake, catalog, data_path)
    catalog_file = Path(settings.catalog_uri.removeprefix("sqlite:"))
    if settings.is_embedded and catalog_file.is_file():
        use_wal(catalog_file)  # before this process opens the catalog through DuckDB
    from ..accounting import factor_library

    with open_lake(settings, migrate=True) as opened:
        say("lake_migrated", version=opened.schema_version)
        say("factors_seeded", count=factor_library.seed(opened))


def schema(
    table: Annotated[Optional[str], typer.Argument(help=t("arg_table"))] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help=t("opt_markdown"))] = False,
) -> None:
    from ..lake import schema as lake_schema

    if markdown:
        typer.echo(lake_schema.render_markdown(), nl=False)
        return
    try:
        tables = [lake_schema.table(table)] if table else list(lake_schema.TABLES.values())
    except KeyError as error:
        raise typer.BadParameter(str(error.args[0]), param_hint="TABLE")
    for described in tables:
        typer.secho(f"{described.name}  {t('schema_key', key=', '.join(described.key))}", bold=True)
        typer.echo(f"  {described.doc}")
        for c in described.columns:
            unit = f" [{c.unit}]" if c.unit else ""
            typer.echo(f"  - {c.name}: {c.type}{unit}{'' if c.nullable else ' ' + t('schema_required')}  {c.doc}")
        typer.echo("")
