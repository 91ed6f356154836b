"""``carbon accounts build|refresh|caps``: the accounting service on the command line.

Wired into the main CLI with ``app.add_typer(accounts_app, name="accounts")``.
Exit codes as :mod:`carbonlib.cli`: 0 success, 1 the operation failed, 2 wrong usage.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Optional

import typer

from .auth import acting
from .common import CatalogOption, DataOption, LakeOption, clean_errors, open_lake, settings_from

accounts_app = typer.Typer(help="Periodic carbon accounts and cap checks (clauses 4.1, 6.2.2, 6.2.3, 6.4.3, 6.5).",
                           no_args_is_help=True)


@accounts_app.command("build")
def build(
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    year: Annotated[Optional[list[int]], typer.Option("--year", help="Year to build (repeatable); default every year with data.")] = None,
) -> None:
    """Compute and materialise accounts (years, quarters, months) for every org."""
    from ..accounting import accounts, service

    settings = settings_from(lake, catalog, data_path)
    with acting(settings) as (security, principal), clean_errors():
        result = service.build(security, principal, settings, year or None)
    typer.echo(f"accounts {accounts.METHOD_VERSION}: {result.inserted} figures written, {result.skipped} unchanged")


@accounts_app.command("refresh")
def refresh(lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None) -> None:
    """Recompute only the orgs and periods touched by data that arrived since the last run."""
    from ..accounting import service

    settings = settings_from(lake, catalog, data_path)
    with acting(settings) as (security, principal), clean_errors():
        result = service.refresh(security, principal, settings)
    typer.echo(f"accounts refresh ({result.reason}): snapshots {result.from_snapshot}..{result.to_snapshot}, "
               f"{len(result.recomputed)} org-periods recomputed, {result.rows_written} figures written, "
               f"{result.rows_deleted} deleted")


@accounts_app.command("caps")
def caps(
    year: Annotated[int, typer.Option(help="Compliance year.")],
    lake: LakeOption = None, catalog: CatalogOption = None, data_path: DataOption = None,
    org: Annotated[Optional[str], typer.Option(help="One capped org (default: every capped org).")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Cut-off date YYYY-MM-DD (default: data through).")] = None,
    offset_limit: Annotated[float, typer.Option(help="Largest share of emissions offset by credits.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cap position per capped org: projection, overrun alert, credits offset and deficit."""
    from ..accounting import caps as cap_checks

    try:
        cut_off = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter("give a date as YYYY-MM-DD", param_hint="--as-of") from None
    with open_lake(settings_from(lake, catalog, data_path), read_only=True) as opened, clean_errors():
        if org:
            report = [cap_checks.cap_status(opened, org, year, as_of=cut_off, offset_limit=offset_limit).__dict__]
        else:
            report = cap_checks.cap_report(opened, year, as_of=cut_off, offset_limit=offset_limit).to_dict("records")
    if as_json:
        typer.echo(json.dumps(report, default=str, indent=2))
        return
    for row in report:
        typer.secho(row["message"], fg=typer.colors.RED if row["alert"] else None)
