"""``carbon lake …`` and ``carbon schema``: inspect and maintain the lake (faces over :mod:`carbonlib.lake`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import CatalogOption, DataOption, LakeOption, SnapshotOption, clean_errors, fail, open_lake, settings_from

lake_app = typer.Typer(help="Inspect and maintain the lake.", no_args_is_help=True)


@lake_app.command("init")
def lake_init(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """Create an empty lake with the current schema."""
    from ..lake import Lake, LakeError

    try:
        with Lake.create(settings_from(lake, catalog, data_path)) as created:
            typer.echo(f"created lake (schema version {created.schema_version}) at {created.settings.catalog_display}")
    except LakeError as error:
        fail(error)


@lake_app.command("info")
def lake_info(
    lake: LakeOption = None,
    catalog: CatalogOption = None,
    data_path: DataOption = None,
    snapshot: SnapshotOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Tables with rows, files and bytes; snapshots; size on disk.

    Small tables are kept inside the catalog (DuckLake data inlining) until they grow: they
    show rows but 0 files.
    """
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
    typer.echo(f"catalog   {summary['catalog']}\ndata      {summary['data_path']}")
    typer.echo(f"schema v{summary['schema_version']}, snapshot {summary['snapshot_id']} ({summary['snapshots']} snapshots)"
               + (f", {size / 2**20:.1f} MiB on disk" if size is not None else ""))
    typer.echo(info.to_string(index=False, formatters={"rows": "{:,}".format, "bytes": "{:,}".format}))
    if ((info.rows > 0) & (info.files == 0)).any():
        typer.echo("(tables with rows but 0 files are small enough to live inside the catalog: DuckLake data inlining)")


@lake_app.command("snapshots")
def lake_snapshots(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """List snapshots (time travel points) with what each changed."""
    with open_lake(settings_from(lake, catalog, data_path), read_only=True) as opened:
        typer.echo(opened.snapshots().to_string(index=False))


@lake_app.command("checksums")
def lake_checksums(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
                   snapshot: SnapshotOption = None) -> None:
    """Order-independent content checksums per table (compare two lakes or builds)."""
    with open_lake(settings_from(lake, catalog, data_path), read_only=True, snapshot=snapshot) as opened, clean_errors():
        typer.echo(json.dumps(opened.checksums(), indent=2))


@lake_app.command("verify")
def lake_verify(
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    quick: Annotated[bool, typer.Option("--quick", help="Check presence, size and Parquet footers only "
                                                       "(skip decoding every page and the checksums).")] = False,
    delete_orphans: Annotated[bool, typer.Option("--delete-orphans", help="Delete files no snapshot references "
                                                                          "(left by killed writes).")] = False,
    older_than_hours: Annotated[float, typer.Option("--older-than-hours", min=0.0, help="Only orphans older than "
                                                    "this (a younger file may belong to a write in progress).")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check every file the catalog references: present, size and SHA-256 as recorded, readable. Exit 1 if damaged."""
    settings = settings_from(lake, catalog, data_path)
    with open_lake(settings, read_only=not delete_orphans) as opened, clean_errors():
        report = opened.verify("quick" if quick else "full")
        deleted = opened.delete_orphans(older_than_hours) if delete_orphans else []
    summary = {"ok": report.ok, "files": report.files, "bytes": report.bytes, "problems": report.problems.to_dict("records"),
               "orphans": report.orphans, "orphans_deleted": deleted, "files_without_recorded_checksum": report.unrecorded}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"{report.files:,} files, {report.bytes / 2**20:,.1f} MiB checked ({'quick' if quick else 'full'}): "
                   f"{'ok' if report.ok else f'{len(report.problems)} damaged'}")
        for problem in report.problems.itertuples():
            typer.secho(f"  {problem.table}: {problem.path}: {problem.problem}", fg=typer.colors.RED)
        if report.orphans:
            typer.echo(f"{len(report.orphans)} orphan file(s) no snapshot references "
                       f"({sum(Path(p).stat().st_size for p in report.orphans if Path(p).is_file()) / 2**20:,.1f} MiB)"
                       + ("" if delete_orphans else "; delete them with --delete-orphans"))
        if deleted:
            typer.echo(f"deleted {len(deleted)} orphan file(s) older than {older_than_hours:g} h")
        if report.unrecorded:
            typer.echo(f"{report.unrecorded} file(s) written before checksums were recorded: checked for size and "
                       "readability only")
    if not report.ok:
        typer.secho("the lake is damaged: restore the listed files from a backup", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@lake_app.command("migrate")
def lake_migrate(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """Upgrade an older lake to this carbonlib's schema version (back it up first); an embedded catalog
    also moves to WAL mode (readers never block writers)."""
    from ..lake.connection import use_wal

    settings = settings_from(lake, catalog, data_path)
    catalog_file = Path(settings.catalog_uri.removeprefix("sqlite:"))
    if settings.is_embedded and catalog_file.is_file():
        use_wal(catalog_file)  # before this process opens the catalog through DuckDB
    with open_lake(settings, migrate=True) as opened:
        typer.echo(f"lake at schema version {opened.schema_version}")


def schema(
    table: Annotated[Optional[str], typer.Argument(help="One table; default all.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the full data model as Markdown.")] = False,
) -> None:
    """Describe the data model: tables, columns, units, rules."""
    from ..lake import schema as lake_schema

    if markdown:
        typer.echo(lake_schema.render_markdown(), nl=False)
        return
    try:
        tables = [lake_schema.table(table)] if table else list(lake_schema.TABLES.values())
    except KeyError as error:
        raise typer.BadParameter(str(error.args[0]), param_hint="TABLE")
    for t in tables:
        typer.secho(f"{t.name}  (key: {', '.join(t.key)})", bold=True)
        typer.echo(f"  {t.doc}")
        for c in t.columns:
            unit = f" [{c.unit}]" if c.unit else ""
            typer.echo(f"  - {c.name}: {c.type}{unit}{'' if c.nullable else ' required'}  {c.doc}")
        typer.echo("")
