"""``carbon lake …`` and ``carbon schema``: inspect and maintain the lake (faces over :mod:`carbonlib.lake`)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from .common import CatalogOption, DataOption, LakeOption, fail, open_lake, settings_from

lake_app = typer.Typer(help="Inspect and maintain the lake.", no_args_is_help=True)


@lake_app.command("init")
def lake_init(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """Create an empty lake with the current schema."""
    from ..lake import Lake, LakeError

    try:
        with Lake.create(settings_from(lake, catalog, data_path)) as created:
            typer.echo(f"created lake (schema version {created.schema_version}) at {created.settings.catalog_uri}")
    except LakeError as error:
        fail(error)


@lake_app.command("info")
def lake_info(
    lake: LakeOption = None,
    catalog: CatalogOption = None,
    data_path: DataOption = None,
    snapshot: Annotated[Optional[int], typer.Option(help="Report as of this snapshot id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Tables with rows, files and bytes; snapshots; size on disk."""
    settings = settings_from(lake, catalog, data_path)
    with open_lake(settings, read_only=True, snapshot=snapshot) as opened:
        info = opened.info()
        snapshots = opened.snapshots()
        size = sum(f.stat().st_size for f in settings.lake.rglob("*") if f.is_file()) if settings.is_embedded else None
        summary = dict(
            catalog=settings.catalog_uri, data_path=settings.data_uri, schema_version=opened.schema_version,
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


@lake_app.command("snapshots")
def lake_snapshots(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """List snapshots (time travel points) with what each changed."""
    with open_lake(settings_from(lake, catalog, data_path), read_only=True) as opened:
        typer.echo(opened.snapshots().to_string(index=False))


@lake_app.command("checksums")
def lake_checksums(lake: LakeOption = None, snapshot: Annotated[Optional[int], typer.Option()] = None) -> None:
    """Order-independent content checksums per table (compare two lakes or builds)."""
    with open_lake(settings_from(lake), read_only=True, snapshot=snapshot) as opened:
        typer.echo(json.dumps(opened.checksums(), indent=2))


@lake_app.command("migrate")
def lake_migrate(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """Upgrade an older lake to this carbonlib's schema version (back it up first)."""
    with open_lake(settings_from(lake, catalog, data_path), migrate=True) as opened:
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
