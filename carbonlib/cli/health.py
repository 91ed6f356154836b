"""``carbon health``: the platform's own health, for people (a coloured list) and machines (``--json``), over
:mod:`carbonlib.ops.health`.  Exits 1 when a check fails, 0 when every check is ok or only warns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.cells import cell_len

from .common import JsonOption, LakeOption, language, settings_from, t
from ..i18n import message

COLOURS = {"ok": typer.colors.GREEN, "warn": typer.colors.YELLOW, "fail": typer.colors.RED}
MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


def health(lake: LakeOption = None, as_json: JsonOption = False,
           schedule: Annotated[Optional[Path], typer.Option("--schedule", help=t("opt_schedule"))] = None,
           repository: Annotated[Optional[str], typer.Option("--repository", help=t("opt_repository"))] = None
           ) -> None:
    from ..ops import health as checks

    lang = language()
    report = checks.check_health(settings_from(lake), schedule=schedule, repository=repository)
    if as_json:
        typer.echo(json.dumps(report.to_dict(lang), ensure_ascii=False, indent=2))
    else:
        typer.secho(t("health_summary", status=message(f"health_{report.status}", lang), **report.counts),
                    fg=COLOURS[report.status], bold=True)
        width = max(cell_len(c.title(lang)) for c in report.checks) + 2  # CJK characters take two columns
        for check in report.checks:
            title = check.title(lang)
            typer.secho(f"{MARKS[check.status]} ", fg=COLOURS[check.status], nl=False)
            typer.echo(title + " " * (width - cell_len(title)) + check.text(lang))
            if check.fix(lang):
                typer.echo(" " * (width + 2) + t("health_fix", fix=check.fix(lang)))
    if report.status == "fail":
        raise typer.Exit(1)
