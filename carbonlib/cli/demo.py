"""``carbon demo build``: the deterministic demo province (faces over :mod:`carbonlib.demo`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import LakeOption, fail, say, settings_from, t, typer_app

demo_app = typer_app("help_demo")


@demo_app.command("build", help=t("help_demo_build"))
def demo_build(
    lake: LakeOption = None,
    scale: Annotated[str, typer.Option(help=t("opt_scale"))] = "small",
    seed: Annotated[int, typer.Option(help=t("opt_seed"))] = 2364,
    force: Annotated[bool, typer.Option("--force", help=t("opt_force_demo"))] = False,
    progress: Annotated[bool, typer.Option(help=t("opt_progress"))] = True,
) -> None:
    from ..demo import SCALES, build_demo
    from ..lake import LakeError

    if scale not in SCALES:
        raise typer.BadParameter(t("choose_one_of", choices=list(SCALES)), param_hint="--scale")
    try:
        report = build_demo(settings_from(lake), scale, seed, force=force, progress=progress)
    except (LakeError, FileExistsError) as error:
        fail(error)
    if report.replaced:
        say("demo_replaced", what=report.replaced, lake=report.lake)
    if report.credentials:
        say("demo_credentials", path=report.credentials)
    say("demo_built", scale=report.scale, seed=report.seed, lake=report.lake, rows=report.telemetry_rows,
        rejected=report.rejected_rows, snapshot=report.snapshot_id, seconds=report.seconds)
