"""``carbon reports`` and ``carbon pipelines`` (faces): report batches and scheduled jobs.

Wired into the main CLI with ``app.add_typer(reports_app, name="reports")`` and
``app.add_typer(pipelines_app, name="pipelines")``.  Exit codes as in :mod:`carbonlib.cli`:
0 success, 1 the operation failed (message says what and the fix), 2 wrong usage.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from .auth import acting
from .common import LakeOption, SnapshotOption, clean_errors, fail, settings_from

reports_app = typer.Typer(help="Run the periodic report notebooks (papermill) for many organisations.",
                          no_args_is_help=True)
pipelines_app = typer.Typer(help="Scheduled jobs: serve the schedule, emit crontab lines, run one job.",
                            no_args_is_help=True)



@reports_app.callback()
def _reports() -> None:
    """Run the periodic report notebooks (papermill) for many organisations."""


@pipelines_app.callback()
def _pipelines() -> None:
    """Scheduled jobs: serve the schedule, emit crontab lines, run one job."""


ScheduleOption = Annotated[Optional[Path], typer.Option("--schedule", help="Schedule file (default: pipelines/schedule.yaml).")]
StateOption = Annotated[Optional[Path], typer.Option("--state", help="Last-run state file (default: <lake>/pipeline_state.json).")]


@reports_app.command("run")
def reports_run(
    period: Annotated[str, typer.Option("--period", help="Period label: 2025-10 (month), 2025 (year), 2025Q4.")],
    org: Annotated[Optional[list[str]], typer.Option("--org", help="Org id (repeat); default: every org "
                                                     "(enterprises and regions for disclosure).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="monthly, annual or disclosure.")] = "monthly",
    lake: LakeOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder (<out>/<kind>/<period>/<org>/...).")] = Path("reports"),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Notebooks run at once (one kernel each).")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Re-run even when the outputs are up to date.")] = False,
    snapshot: SnapshotOption = None,
    lang: Annotated[str, typer.Option("--lang", help="zh or en.")] = "zh",
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also print each report to PDF (needs headless Chromium).")] = False,
) -> None:
    """Execute the report notebook for each org: executed .ipynb, HTML, figures CSV/XLSX, manifest, report_run rows."""
    from ..reporting import reports

    if kind not in reports.NOTEBOOKS:
        raise typer.BadParameter(f"choose one of {list(reports.NOTEBOOKS)}", param_hint="--kind")
    if lang not in ("zh", "en"):
        raise typer.BadParameter("choose zh or en", param_hint="--lang")
    try:
        reports.check_period(kind, period)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--period")
    from ..reporting import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        result = service.run_reports(security, principal, settings, kind, period, orgs=org or None, out_dir=out,
                                     workers=workers, force=force, snapshot=snapshot, lang=lang, progress=progress,
                                     pdf=pdf)
    for record in result.records:
        line = f"{record.status:7s} {record.org_id:12s} {record.seconds:6.1f} s  {record.html_path or ''}"
        typer.echo(line + (f"\n        {record.error}" if record.error else ""))
    typer.echo(f"manifest: {result.manifest_path}")
    if result.failed:
        typer.secho(f"{len(result.failed)} of {len(result.records)} reports failed (partial notebooks kept)",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@reports_app.command("review")
def reports_review(
    run_dir: Annotated[Path, typer.Argument(help="The report's folder, e.g. reports/annual/2025/P43.")],
    lake: LakeOption = None,
    comment: Annotated[str, typer.Option("--comment", help="What the review found (kept in run.json and the audit log).")] = "",
) -> None:
    """Sign a report as its reviewer (four eyes: never one you prepared); its cover, HTML and PDF then name you."""
    from ..reporting import review

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        record = review.review_report(security, principal, settings, run_dir, comment=comment)
    typer.echo(f"reviewed {record.run_id} as {record.reviewed_by} at {record.reviewed_at} UTC: {record.html_path}")


def _schedule(path: Path | None):
    from ..reporting import pipelines

    try:
        return pipelines.load_schedule(path or pipelines.SCHEDULE_FILE)
    except (ValueError, FileNotFoundError) as error:
        fail(error)


@pipelines_app.command("serve")
def pipelines_serve(schedule: ScheduleOption = None, lake: LakeOption = None, state: StateOption = None) -> None:
    """Catch up missed runs, then run the schedule with APScheduler until stopped (Ctrl-C)."""
    from ..reporting import pipelines

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(lake)
    loaded = _schedule(schedule)
    with acting(settings) as (security, principal):
        try:
            pipelines.serve(loaded, settings, state, security=security, principal=principal)
        except (KeyboardInterrupt, SystemExit):
            typer.echo("stopped")


@pipelines_app.command("crontab")
def pipelines_crontab(
    schedule: ScheduleOption = None,
    lake: LakeOption = None,
    repo: Annotated[Optional[Path], typer.Option("--repo", help="Checkout to cd into (default: this one).")] = None,
) -> None:
    """Print crontab lines equivalent to the schedule (install with `crontab -e`)."""
    from ..reporting import pipelines

    typer.echo(pipelines.crontab(_schedule(schedule), repo or pipelines.REPO_ROOT, lake=lake), nl=False)


@pipelines_app.command("run-job")
def pipelines_run_job(
    name: Annotated[str, typer.Argument(help="Job name from the schedule file.")],
    at: Annotated[Optional[datetime], typer.Option("--at", help="Scheduled time the job runs for "
                                                   "(ISO, schedule time zone; default now).")] = None,
    schedule: ScheduleOption = None,
    lake: LakeOption = None,
    state: StateOption = None,
) -> None:
    """Run one job now (cron calls this) and record the run in the state file."""
    from ..reporting import pipelines

    loaded = _schedule(schedule)
    if name not in loaded.jobs:
        raise typer.BadParameter(f"no job {name!r}; jobs: {sorted(loaded.jobs)}", param_hint="NAME")
    from ..security import PermissionDenied

    settings = settings_from(lake)
    with acting(settings) as (security, principal):
        try:
            typer.echo(pipelines.run_job(loaded, name, settings, at, state, security=security, principal=principal))
        except PermissionDenied as refused:
            fail(refused)
        except Exception as error:  # the job's own error, reported with its type
            fail(RuntimeError(f"job {name} failed: {type(error).__name__}: {error}"))
