"""``carbon demo build``: the deterministic demo province (faces over :mod:`carbonlib.demo`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import LakeOption, fail, settings_from

demo_app = typer.Typer(help="Build the demo province lake.", no_args_is_help=True)


@demo_app.command("build")
def demo_build(
    lake: LakeOption = None,
    scale: Annotated[str, typer.Option(help="small (tests, < 1 min), medium, or large (>= 100 M telemetry rows).")] = "small",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same lake.")] = 2364,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing demo lake (never any other lake).")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Build the deterministic demo province (orgs, devices, telemetry, ledgers, inventory, registry)."""
    from ..demo import SCALES, build_demo
    from ..lake import LakeError

    if scale not in SCALES:
        raise typer.BadParameter(f"choose one of {list(SCALES)}", param_hint="--scale")
    try:
        report = build_demo(settings_from(lake), scale, seed, force=force, progress=progress)
    except (LakeError, FileExistsError) as error:
        fail(error)
    if report.replaced:
        typer.echo(f"replaced the {report.replaced} at {report.lake}")
    if report.credentials:
        typer.echo(f"demo accounts created; their one-time passwords are in {report.credentials} (owner-only; "
                   "log in at the dashboards' /login page or with `carbon login`)")
    typer.echo(
        f"demo lake ({report.scale}, seed {report.seed}) at {report.lake}: {report.telemetry_rows:,} telemetry rows, "
        f"{report.rejected_rows} quarantined, snapshot {report.snapshot_id}, {report.seconds:.1f} s"
    )
