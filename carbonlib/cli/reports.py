"""``carbon reports`` and ``carbon pipelines`` (faces): report batches and scheduled jobs.

Wired into the main CLI with ``app.add_typer(reports_app, name="reports")`` and
``app.add_typer(pipelines_app, name="pipelines")``.  Exit codes as in :mod:`carbonlib.cli`:
0 success, 1 the operation failed (message says what and the fix), 2 wrong usage.
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from .auth import acting
from .common import LakeOption, SnapshotOption, clean_errors, fail, say, settings_from, t, typer_app

reports_app = typer_app("help_reports")
pipelines_app = typer_app("help_pipelines")


@reports_app.callback(help=t("help_reports"))
def _reports() -> None:
    pass


@pipelines_app.callback(help=t("help_pipelines"))
def _pipelines() -> None:
    pass


ScheduleOption = Annotated[Optional[Path], typer.Option("--schedule", help=t("opt_schedule"))]
StateOption = Annotated[Optional[Path], typer.Option("--state", help=t("opt_state"))]


@reports_app.command("run", help=t("help_reports_run"))
def reports_run(
    period: Annotated[str, typer.Option("--period", help=t("opt_period"))],
    org: Annotated[Optional[list[str]], typer.Option("--org", help=t("opt_report_org"))] = None,
    kind: Annotated[str, typer.Option("--kind", help=t("opt_kind"))] = "monthly",
    lake: LakeOption = None,
    out: Annotated[Path, typer.Option("--out", help=t("opt_out"))] = Path("reports"),
    workers: Annotated[int, typer.Option("--workers", min=1, help=t("opt_workers"))] = 2,
    force: Annotated[bool, typer.Option("--force", help=t("opt_force_reports"))] = False,
    snapshot: SnapshotOption = None,
    lang: Annotated[str, typer.Option("--lang", help=t("opt_report_lang"))] = "zh",
    progress: Annotated[bool, typer.Option(help=t("opt_progress"))] = True,
    pdf: Annotated[bool, typer.Option("--pdf", help=t("opt_pdf"))] = False,
    cluster: Annotated[Optional[str], typer.Option("--cluster", help=t("opt_cluster"))] = None,
) -> None:
    from ..reporting import reports

    if kind not in reports.NOTEBOOKS:
        raise typer.BadParameter(t("choose_one_of", choices=list(reports.NOTEBOOKS)), param_hint="--kind")
    if lang not in ("zh", "en"):
        raise typer.BadParameter(t("choose_lang"), param_hint="--lang")
    try:
        reports.check_period(kind, period)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--period")
    from ..reporting import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        result = service.run_reports(security, principal, settings, kind, period, orgs=org or None, out_dir=out,
                                     workers=workers, force=force, snapshot=snapshot, lang=lang, progress=progress,
                                     pdf=pdf, cluster=cluster)
    for record in result.records:
        line = f"{t('status_' + record.status):7s} {record.org_id:12s} {record.seconds:6.1f} s  {record.html_path or ''}"
        typer.echo(line + (f"\n        {record.error}" if record.error else ""))
    say("reports_manifest", path=result.manifest_path)
    if result.failed:
        typer.secho(t("reports_failed", failed=len(result.failed), total=len(result.records)), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@reports_app.command("review", help=t("help_reports_review"))
def reports_review(
    run_dir: Annotated[Path, typer.Argument(help=t("arg_run_dir"))],
    lake: LakeOption = None,
    comment: Annotated[str, typer.Option("--comment", help=t("opt_comment"))] = "",
) -> None:
    from ..reporting import review

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        record = review.review_report(security, principal, settings, run_dir, comment=comment)
    say("reports_reviewed", run=record.run_id, reviewer=record.reviewed_by, at=record.reviewed_at, path=record.html_path)


def _schedule(path: Path | None):
    from ..reporting import pipelines

    try:
        return pipelines.load_schedule(path or pipelines.SCHEDULE_FILE)
    except (ValueError, FileNotFoundError) as error:
        fail(error)


@pipelines_app.command("serve", help=t("help_pipelines_serve"))
def pipelines_serve(schedule: ScheduleOption = None, lake: LakeOption = None, state: StateOption = None) -> None:
    from ..reporting import pipelines

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from(lake)
    loaded = _schedule(schedule)
    def stop(signum, _frame):  # SIGTERM (systemd's stop, kill) ends it like Ctrl-C: warm kernels shut down
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    with acting(settings) as (security, principal):
        try:
            pipelines.serve(loaded, settings, state, security=security, principal=principal)
        except (KeyboardInterrupt, SystemExit):
            say("stopped")


@pipelines_app.command("crontab", help=t("help_pipelines_crontab"))
def pipelines_crontab(
    schedule: ScheduleOption = None,
    lake: LakeOption = None,
    repo: Annotated[Optional[Path], typer.Option("--repo", help=t("opt_repo"))] = None,
) -> None:
    from ..reporting import pipelines

    typer.echo(pipelines.crontab(_schedule(schedule), repo or pipelines.REPO_ROOT, lake=lake), nl=False)


@pipelines_app.command("run-job", help=t("help_pipelines_run_job"))
def pipelines_run_job(
    name: Annotated[str, typer.Argument(help=t("arg_job"))],
    at: Annotated[Optional[datetime], typer.Option("--at", help=t("opt_at"))] = None,
    schedule: ScheduleOption = None,
    lake: LakeOption = None,
    state: StateOption = None,
) -> None:
    from ..reporting import pipelines

    loaded = _schedule(schedule)
    if name not in loaded.jobs:
        raise typer.BadParameter(t("no_job", name=name, jobs=sorted(loaded.jobs)), param_hint="NAME")
    from ..security import PermissionDenied

    settings = settings_from(lake)
    with acting(settings) as (security, principal):
        try:
            typer.echo(pipelines.run_job(loaded, name, settings, at, state, security=security, principal=principal))
        except PermissionDenied as refused:
            fail(refused)
        except Exception as error:  # the job's own error, reported with its type
            fail(t("job_failed", name=name, kind=type(error).__name__, error=error))
