"""Scheduled jobs (services): the schedule file, the job functions, catch-up, APScheduler and crontab.

``pipelines/schedule.yaml`` says what runs when (cron expressions in one time zone); this
module turns it into

* :func:`run_job` — run one job now (or as of a given time) and remember when it ran;
* :func:`missed_runs` / :func:`catch_up` — the runs a stopped scheduler missed, worked out
  from the remembered last-run times and "now" (both injectable, so it is testable);
* :func:`build_scheduler` / :func:`serve` — an APScheduler 3 ``BlockingScheduler`` with one
  ``CronTrigger.from_crontab`` job each (coalesced, with a misfire grace time), which catches
  up first and records every successful run;
* :func:`crontab` — the equivalent crontab lines for machines that prefer cron.

Last-run times live in a small JSON state file (default ``<lake>/pipeline_state.json``):
job name -> ISO time of the last successful scheduled run.  A serving scheduler also writes a
heartbeat (``<lake>/pipeline_heartbeat.json``: process, host, start and last beat) every
:data:`HEARTBEAT_INTERVAL_S`; ``carbon health`` reads both (:mod:`carbonlib.ops.health`).

Jobs run as a principal (the ``scheduler`` account, logged in with its service key): each run
is authorised for the action its job needs (:data:`JOB_ACTIONS`) on the root of the org tree
and leaves ``started`` and ``ok``/``failed`` records in the audit log.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from ..security import Principal, Security
from ..settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEDULE_FILE = REPO_ROOT / "pipelines" / "schedule.yaml"
CATCH_UP = ("latest", "all", "none")
MISFIRE_GRACE_S = 3600
#: Seconds between two heartbeats of a serving scheduler.
HEARTBEAT_INTERVAL_S = 60
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- job functions
def resolve_period(word: str, at: datetime) -> str:
    """A period label from a period word and the scheduled time: previous_month, previous_year, or a label itself."""
    if word == "previous_month":
        return str(pd.Period(at.strftime("%Y-%m"), freq="M") - 1)
    if word == "previous_year":
        return str(at.year - 1)
    return word


def refresh_telemetry_daily(settings: Settings, at: datetime, days_back: int = 2) -> str:
    """Re-materialise ``telemetry_daily`` for the UTC days from ``days_back`` days before ``at``."""
    from ..accounting import views
    from ..lake import Lake

    since = (at - timedelta(days=days_back)).date().isoformat()
    with Lake.open(settings) as lake:
        written = views.refresh_telemetry_daily(lake, since=since)
    return f"telemetry_daily since {since}: {written} rows written"


def build_accounts(settings: Settings, at: datetime, period: str) -> str:
    """(Re)compute the accounts of the year of ``period`` (and its months) with :func:`carbonlib.accounting.accounts.build_accounts`."""
    from ..accounting import accounts
    from ..lake import Lake

    year = int(resolve_period(period, at)[:4])
    with Lake.open(settings) as lake:
        result = accounts.build_accounts(lake, [year])
    return f"accounts {year}: {result.inserted} figures written, {result.skipped} unchanged"


def report_batch(settings: Settings, at: datetime, kind: str, period: str, out_dir: str = "reports",
                 workers: int = 2, lang: str = "zh", prepared_by: str | None = None,
                 preparer: str | None = None, cluster: str | None = None) -> str:
    """Run the ``kind`` report notebooks for every org (see :func:`carbonlib.reporting.reports.run_batch`), on the
    Dask cluster at ``cluster`` (``tcp://host:8786``) when given."""
    from . import reports

    label = resolve_period(period, at)
    result = reports.run_batch(settings, kind, label, out_dir=out_dir, workers=workers, lang=lang, progress=False,
                               prepared_by=prepared_by, preparer=preparer, cluster=cluster)
    counts = {s: sum(r.status == s for r in result.records) for s in ("ok", "skipped", "failed")}
    if counts["failed"]:
        raise RuntimeError(f"{kind} reports {label}: {counts['failed']} failed, see {result.manifest_path}")
    return f"{kind} reports {label}: {counts}, manifest {result.manifest_path}"


#: Job functions a schedule may name in ``run``: f(settings, at, **args) -> one-line outcome.
def delete_orphan_files(settings: Settings, at: datetime, older_than_hours: float = 24.0) -> str:
    """Delete data files no snapshot references (left by killed writes) older than ``older_than_hours``."""
    from ..lake import Lake

    with Lake.open(settings) as lake:
        deleted = lake.delete_orphans(older_than_hours)
    return f"orphan files: {len(deleted)} deleted (older than {older_than_hours:g} h)"


def back_up_lake(settings: Settings, at: datetime, repository: str | None = None, key_file: str | None = None,
                 daily: int = 7, weekly: int = 4, monthly: int = 12) -> str:
    """Back up the lake (:func:`carbonlib.ops.backup.create`), verify that backup, then prune by the retention
    policy; repository and key file default as ``carbon backup`` (``$CARBON_BACKUP_REPOSITORY``, ``…_KEY_FILE``)."""
    from ..ops import backup, service

    folder = repository or service.default_repository(settings)
    key = backup.load_key(Path(key_file) if key_file else service.default_key_file())
    manifest = backup.create(settings, folder, key)
    checked = backup.verify(folder, key, manifest.backup_id)
    if not checked.ok:
        raise RuntimeError(f"backup {manifest.backup_id} failed its verification: {checked.problems[0]}")
    pruned = backup.prune(folder, key, daily, weekly, monthly)
    return (f"backup {manifest.backup_id} (snapshot {manifest.snapshot_id}, {manifest.new_bytes:,} new bytes) verified; "
            f"{len(pruned.removed)} old backup(s) pruned")


def maintain_lake(settings: Settings, at: datetime, keep_days: float = 30.0, grace_hours: float = 24.0) -> str:
    """Merge small files, expire snapshots older than ``keep_days`` that nothing pins, delete files unused for
    ``grace_hours`` (:func:`carbonlib.ops.maintenance.maintain`)."""
    from ..ops import maintenance

    result = maintenance.maintain(settings, keep_days=keep_days, grace_hours=grace_hours, now=at)
    return (f"maintenance: {result.files_before} -> {result.files_after} data files, {len(result.expired)} snapshot(s) "
            f"expired ({len(result.kept_pinned)} old ones pinned), "
            f"{len(result.deleted_files) + len(result.deleted_orphans)} file(s) deleted")


def compact_lake(settings: Settings, at: datetime) -> str:
    """Compact what live ingestion writes every few seconds: telemetry rows DuckLake inlined into the catalog go to
    Parquet, then small files are merged (DuckLake's own ``ducklake_flush_inlined_data`` and
    ``ducklake_merge_adjacent_files``; every snapshot still reads the same rows)."""
    from ..lake import Lake
    from ..ops.maintenance import SMALL_FILE_BYTES

    with Lake.open(settings) as lake:
        flushed = lake.flush_inlined("telemetry")
        before = lake.data_file_counts(SMALL_FILE_BYTES)
        merged = lake.merge_small_files()
        after = lake.data_file_counts(SMALL_FILE_BYTES)
    return (f"compaction: {flushed} inlined telemetry row(s) written to Parquet; {len(merged)} table(s) merged, "
            f"{before[0]} -> {after[0]} data files ({before[1]} -> {after[1]} small)")


def check_platform_health(settings: Settings, at: datetime) -> str:
    """Look at the platform's health (:func:`carbonlib.ops.health.check_health`); fails, and so leaves a ``failed``
    record in the audit log, when a check fails."""
    from ..ops import health

    report = health.check_health(settings)
    failing = [f"{c.name}: {c.text('en')}" for c in report.checks if c.status == "fail"]
    if failing:
        raise RuntimeError(f"{len(failing)} health check(s) failing: " + "; ".join(failing))
    return f"health {report.status}: " + ", ".join(f"{c.name} {c.status}" for c in report.checks if c.status != "ok")


def evaluate_alerts(settings: Settings, at: datetime, rules_file: str | None = None, actor: str = "scheduler") -> str:
    """Evaluate the alert rules (``pipelines/alerts.yaml`` or ``rules_file``) against the wall clock: open, escalate
    and clear alerts and send their notices (:func:`carbonlib.alerts.run_rules`); fails when a rule could not be
    checked or a notice not delivered (what was recorded and sent stays)."""
    from .. import alerts
    from ..security import Security

    rules = alerts.load_rules(rules_file or alerts.RULES_FILE)
    with Security.open(settings) as security:
        return alerts.run_rules(security, settings, rules, actor=actor).summary()


JOBS: dict[str, Callable[..., str]] = {
    "refresh_telemetry_daily": refresh_telemetry_daily,
    "build_accounts": build_accounts,
    "report_batch": report_batch,
    "delete_orphan_files": delete_orphan_files,
    "back_up_lake": back_up_lake,
    "maintain_lake": maintain_lake,
    "compact_lake": compact_lake,
    "check_platform_health": check_platform_health,
    "evaluate_alerts": evaluate_alerts,
}
#: The action (carbonlib.security.roles) each job function needs on the root of the org tree.
JOB_ACTIONS = {
    "refresh_telemetry_daily": "maintain_lake",
    "build_accounts": "compute_accounts",
    "report_batch": "run_reports",
    "delete_orphan_files": "maintain_lake",
    "back_up_lake": "maintain_lake",
    "maintain_lake": "maintain_lake",
    "compact_lake": "maintain_lake",
    "check_platform_health": "maintain_lake",
    "evaluate_alerts": "evaluate_alerts",
}


def _execute(schedule: "Schedule", name: str, settings: Settings, at: datetime, security: Security,
             principal: Principal) -> str:
    """Run job ``name`` for scheduled time ``at`` as ``principal``: authorised and audited."""
    from ..accounting import views
    from ..lake import Lake

    job = schedule.jobs[name]
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
    root = next(iter(paths), None)
    with security.operation(principal, JOB_ACTIONS[job.run], root, paths=paths, object=f"job {name}",
                            detail=f"scheduled {at.isoformat()}") as operation:
        # a report names who prepared it: the account the job runs as
        args = ({**job.args, "prepared_by": principal.display_name, "preparer": principal.username}
                if job.run == "report_batch" else
                {**job.args, "actor": principal.username} if job.run == "evaluate_alerts" else job.args)
        operation.detail = JOBS[job.run](settings, at, **args)
    return operation.detail


# --------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class Job:
    """One scheduled job: a cron expression, the job function it runs, its arguments and catch-up rule."""

    name: str
    cron: str
    run: str
    args: dict = field(default_factory=dict)
    catch_up: str = "latest"

    def trigger(self, tz: ZoneInfo):
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(self.cron, timezone=tz)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule file: time zone and jobs by name."""

    timezone: str
    jobs: dict[str, Job]
    path: Path

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_schedule(path: str | Path = SCHEDULE_FILE) -> Schedule:
    """Read and check a schedule file; errors name the job, the bad value and the fix."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"schedule file {path} does not exist (the default is {SCHEDULE_FILE})")
    where = f"{path}"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{where} is not valid YAML ({str(error).splitlines()[0]}). Fix: see pipelines/schedule.yaml "
                         "for the layout") from None
    if not isinstance(document, dict) or not isinstance(document.get("jobs") or {}, dict):
        raise ValueError(f"{where}: write a mapping with 'timezone' and 'jobs: {{NAME: {{cron, run, args}}}}' "
                         "(see pipelines/schedule.yaml)")
    tz = document.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{where}: timezone {tz!r} is not an IANA time zone name (e.g. 'Asia/Shanghai')") from None
    jobs = {}
    for name, spec in (document.get("jobs") or {}).items():
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: job {name!r} must be a mapping with keys cron and run, not {str(spec)[:40]!r}")
        unknown = set(spec) - {"cron", "run", "args", "catch_up"}
        if unknown or "cron" not in spec or "run" not in spec:
            raise ValueError(f"{where}: job {name!r} needs keys cron and run (optional args, catch_up); got {sorted(spec)}")
        if spec["run"] not in JOBS:
            raise ValueError(f"{where}: job {name!r} runs {spec['run']!r}, which is not a job function; "
                             f"choose one of {sorted(JOBS)}")
        job = Job(name, str(spec["cron"]), spec["run"], dict(spec.get("args") or {}), spec.get("catch_up", "latest"))
        if job.catch_up not in CATCH_UP:
            raise ValueError(f"{where}: job {name!r} catch_up must be one of {CATCH_UP}, not {job.catch_up!r}")
        try:
            job.trigger(ZoneInfo(tz))
        except ValueError as error:
            raise ValueError(f"{where}: job {name!r} has a bad cron expression {job.cron!r} ({error}); "
                             "write five fields: minute hour day-of-month month day-of-week") from None
        accepted = set(inspect.signature(JOBS[job.run]).parameters) - {"settings", "at"}
        if extra := set(job.args) - accepted:
            raise ValueError(f"{where}: job {name!r} passes unknown argument(s) {sorted(extra)} to {job.run}; "
                             f"it accepts {sorted(accepted)}")
        jobs[name] = job
    if not jobs:
        raise ValueError(f"{where}: no jobs defined (add a 'jobs:' mapping)")
    return Schedule(tz, jobs, path)


# --------------------------------------------------------------------------- state and catch-up
def default_state_path(settings: Settings) -> Path:
    """Where last-run times are kept by default: ``<lake>/pipeline_state.json``."""
    return Path(settings.lake) / "pipeline_state.json"


def load_state(path: str | Path) -> dict[str, datetime]:
    """Last successful run per job (aware datetimes); empty when the file does not exist yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return {name: datetime.fromisoformat(value) for name, value in json.loads(path.read_text()).items()}
    except (ValueError, AttributeError) as error:
        raise ValueError(f"pipeline state file {path} is not a JSON object of ISO times ({error}); "
                         "fix or delete it (the next start then treats every job as just run)") from None


def record_run(path: str | Path, name: str, at: datetime) -> None:
    """Remember that job ``name`` ran for scheduled time ``at`` (atomic rewrite of the state file)."""
    path = Path(path)
    state = load_state(path)
    state[name] = at
    _write_json(path, {k: v.isoformat() for k, v in sorted(state.items())})


def _write_json(path: Path, document: dict) -> None:
    """Replace ``path`` by ``document`` as JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2))
    os.replace(tmp, path)


def heartbeat_path(settings: Settings) -> Path:
    """Where a serving scheduler writes its heartbeat: ``<lake>/pipeline_heartbeat.json``."""
    return Path(settings.lake) / "pipeline_heartbeat.json"


@dataclass(frozen=True)
class Heartbeat:
    """The last sign of life of a serving scheduler: its process id and host, when it started and last beat (UTC)."""

    pid: int
    host: str
    started_at: datetime
    beat_at: datetime


def write_heartbeat(path: str | Path, started_at: datetime) -> None:
    """Record that this process's scheduler is alive now (atomic rewrite of the heartbeat file)."""
    import socket

    _write_json(Path(path), {"pid": os.getpid(), "host": socket.gethostname(), "started_at": started_at.isoformat(),
                             "beat_at": datetime.now(ZoneInfo("UTC")).isoformat()})


def read_heartbeat(path: str | Path) -> Heartbeat | None:
    """The scheduler's last heartbeat, or None when no scheduler ever served this lake."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        return Heartbeat(int(raw["pid"]), str(raw["host"]), datetime.fromisoformat(raw["started_at"]),
                         datetime.fromisoformat(raw["beat_at"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"scheduler heartbeat file {path} is damaged ({error}); delete it, a serving scheduler "
                         "writes it again within a minute") from None


def _aware(at: datetime, tz: ZoneInfo) -> datetime:
    return at.replace(tzinfo=tz) if at.tzinfo is None else at.astimezone(tz)


def fire_times(job: Job, tz: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
    """Scheduled times of ``job`` strictly after ``after`` and at or before ``until``."""
    trigger = job.trigger(tz)
    times, t = [], _aware(after, tz)
    while (t := trigger.get_next_fire_time(None, t + timedelta(microseconds=1))) and t <= _aware(until, tz):
        times.append(t)
    return times


def missed_runs(schedule: Schedule, state: dict[str, datetime], now: datetime) -> list[tuple[str, datetime]]:
    """The (job, scheduled time) runs to catch up at ``now``, oldest first.

    A job without a recorded run has missed nothing (it starts from now); ``catch_up``
    decides between every missed time (``all``), only the latest (``latest``) and none.
    """
    runs = []
    for name, job in schedule.jobs.items():
        if name not in state or job.catch_up == "none":
            continue
        missed = fire_times(job, schedule.tz, state[name], now)
        runs += [(name, t) for t in (missed if job.catch_up == "all" else missed[-1:])]
    return sorted(runs, key=lambda r: (r[1], list(schedule.jobs).index(r[0])))


def run_job(schedule: Schedule, name: str, settings: Settings, at: datetime | None = None,
            state_path: str | Path | None = None, *, security: Security, principal: Principal) -> str:
    """Run job ``name`` as ``principal`` as of scheduled time ``at`` (default now) and record it in the state file.

    Raises when the job fails or is not allowed (nothing is recorded, so it is caught up next time).
    """
    if name not in schedule.jobs:
        raise KeyError(f"no job {name!r} in {schedule.path}; jobs: {sorted(schedule.jobs)}")
    at = _aware(at or datetime.now(schedule.tz), schedule.tz)
    outcome = _execute(schedule, name, settings, at, security, principal)
    record_run(state_path or default_state_path(settings), name, at)
    log.info("%s (%s): %s", name, at.isoformat(), outcome)
    return outcome


def catch_up(schedule: Schedule, settings: Settings, state_path: str | Path, now: datetime | None = None, *,
             security: Security, principal: Principal) -> list[tuple[str, datetime, str]]:
    """Run the :func:`missed_runs` at ``now`` (default the current time); jobs never run get ``now`` as baseline.

    A failing run is logged and reported as ``failed: ...``; the others go on.  Returns
    (job, scheduled time, outcome) per run.
    """
    now = _aware(now or datetime.now(schedule.tz), schedule.tz)
    state = load_state(state_path)
    for name in schedule.jobs:
        if name not in state:
            record_run(state_path, name, now)
    done = []
    for name, at in missed_runs(schedule, state, now):
        try:
            outcome = run_job(schedule, name, settings, at, state_path, security=security, principal=principal)
        except Exception as error:  # one failing job must not stop the others
            log.exception("catch-up of %s for %s failed", name, at.isoformat())
            outcome = f"failed: {type(error).__name__}: {error}"
        done.append((name, at, outcome))
    return done


# --------------------------------------------------------------------------- scheduler and cron
def build_scheduler(schedule: Schedule, settings: Settings, state_path: str | Path, *, security: Security,
                    principal: Principal, heartbeat: str | Path | None = None,
                    started: datetime | None = None):
    """An APScheduler 3 ``BlockingScheduler`` with every job (coalesced, misfire grace, one instance at a time).

    Jobs run as ``principal``; each successful run is recorded in the state file with its scheduled time.
    With ``heartbeat`` (a file), the scheduler also writes its heartbeat there every :data:`HEARTBEAT_INTERVAL_S`
    (``started``: when this scheduler process started, default now).
    """
    from apscheduler.events import EVENT_JOB_EXECUTED
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=schedule.tz)

    def execute(name: str) -> str:
        return _execute(schedule, name, settings, datetime.now(schedule.tz), security, principal)

    for name, job in schedule.jobs.items():
        scheduler.add_job(execute, job.trigger(schedule.tz), args=[name], id=name, name=name, coalesce=True,
                          misfire_grace_time=MISFIRE_GRACE_S, max_instances=1)

    def on_executed(event) -> None:
        if event.job_id not in schedule.jobs:  # the heartbeat
            return
        record_run(state_path, event.job_id, event.scheduled_run_time)
        log.info("%s (%s): %s", event.job_id, event.scheduled_run_time.isoformat(), event.retval)

    scheduler.add_listener(on_executed, EVENT_JOB_EXECUTED)
    if heartbeat is not None:
        started = started or datetime.now(ZoneInfo("UTC"))
        write_heartbeat(heartbeat, started)
        scheduler.add_job(write_heartbeat, "interval", seconds=HEARTBEAT_INTERVAL_S, args=[heartbeat, started],
                          id="_heartbeat", name="heartbeat", coalesce=True, max_instances=1)
    return scheduler


def serve(schedule: Schedule, settings: Settings, state_path: str | Path | None = None, *, security: Security,
          principal: Principal) -> None:
    """Catch up missed runs, then run the schedule as ``principal`` until interrupted (Ctrl-C / SIGTERM)."""
    import threading

    state_path = state_path or default_state_path(settings)
    beat, stop = heartbeat_path(settings), threading.Event()
    started = datetime.now(ZoneInfo("UTC"))

    def beat_while_catching_up() -> None:  # a catch-up of report batches may take long: keep beating meanwhile
        while not stop.is_set():
            write_heartbeat(beat, started)
            stop.wait(HEARTBEAT_INTERVAL_S)

    beating = threading.Thread(target=beat_while_catching_up, name="heartbeat", daemon=True)
    beating.start()
    try:
        for name, at, outcome in catch_up(schedule, settings, state_path, security=security, principal=principal):
            log.info("caught up %s for %s: %s", name, at.isoformat(), outcome)
    finally:
        stop.set()
        beating.join()
    build_scheduler(schedule, settings, state_path, security=security, principal=principal, heartbeat=beat,
                    started=started).start()


def crontab(schedule: Schedule, repo: str | Path = REPO_ROOT, carbon: str = ".venv/bin/carbon",
            lake: str | Path | None = None) -> str:
    """Crontab lines equivalent to the schedule: ``m h dom mon dow  cd <repo> && <carbon> pipelines run-job NAME``.

    cron has no catch-up; ``run-job`` records each run, so a later ``serve`` knows what ran.
    """
    lake_flag = f" --lake {Path(lake).resolve()}" if lake else ""
    lines = [f"# Carbon Sink Workbench jobs from {schedule.path} (times in {schedule.timezone}; "
             "CRON_TZ works with cronie, otherwise set the server's time zone)",
             f"CRON_TZ={schedule.timezone}"]
    for name, job in schedule.jobs.items():
        lines.append(f"{job.cron}  cd {Path(repo).resolve()} && {carbon} pipelines run-job {name} "
                     f"--schedule {schedule.path.resolve()}{lake_flag}")
    return "\n".join(lines) + "\n"
