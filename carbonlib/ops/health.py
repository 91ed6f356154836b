"""The platform's own health (clause 5.5.2 status monitoring: storage, database, application; 8.3 O&M supervision).

:func:`check_health` looks at one deployment and returns a :class:`HealthReport`: one
:class:`Check` per concern, each ``ok``, ``warn`` or ``fail`` with a message and the fix in
zh and en (the catalogue's ``health_*`` keys) and its figures for machines:

* ``catalog`` — the lake's catalog opens and answers (snapshot, schema version, milliseconds);
* ``disk`` — free space where the lake lives (fail under :attr:`Limits.fail_free_fraction` or
  :attr:`Limits.fail_free_bytes`, warn under :attr:`Limits.warn_free_fraction`);
* ``ingest`` — when telemetry was last written (warn after :attr:`Limits.ingest_age_h`);
* ``scheduler`` — the heartbeat of ``carbon pipelines serve`` (fail when it stopped beating or its
  process is gone; warn when no scheduler ever served the lake);
* ``job:<name>`` — each job of the schedule: its last run, and fail when a scheduled time passed
  :attr:`Limits.job_grace_h` ago without a run;
* ``backup`` — age of the newest backup in the repository (fail after
  :attr:`Limits.backup_age_h`) and whether a verification covered it and found nothing;
* ``audit_log`` — the security store's audit log re-verified (seals, hash chain, signed checkpoints);
* ``snapshots`` and ``small_files`` — what lake maintenance keeps down (warn above the limits);
* ``servers`` — the dashboard servers that registered themselves (:func:`registered`) still
  have their process and answer on their port.

A check that cannot run is itself a failure that names the error; health never raises.  The
overall status is the worst check.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..i18n import message
from ..settings import Settings
from . import maintenance

STATUSES = ("ok", "warn", "fail")


@dataclass(frozen=True)
class Limits:
    """Where a figure turns a check to warn or fail (defaults for a province platform backed up daily)."""

    fail_free_fraction: float = 0.05
    fail_free_bytes: int = 2**30
    warn_free_fraction: float = 0.15
    ingest_age_h: float = 24.0
    heartbeat_stale_s: float = 180.0  # three missed heartbeats
    job_grace_h: float = 2.0  # after a scheduled time: misfire grace (1 h) and the run itself
    backup_age_h: float = 26.0  # a daily backup, with two hours to spare
    snapshots: int = 5000
    small_files: int = 500
    small_file_bytes: int = maintenance.SMALL_FILE_BYTES


@dataclass(frozen=True)
class Check:
    """One concern's outcome: ``status`` (ok, warn, fail), a message key with its fields, the fix's key, figures."""

    name: str
    status: str
    key: str
    fields: dict = field(default_factory=dict)
    fix_key: str | None = None
    figures: dict = field(default_factory=dict)

    def title(self, lang: str = "en") -> str:
        kind, _, job = self.name.partition(":")
        return message(f"health_check_{kind}", lang, job=job)

    def text(self, lang: str = "en") -> str:
        return message(self.key, lang, **self.fields)

    def fix(self, lang: str = "en") -> str:
        return message(self.fix_key, lang, **self.fields) if self.fix_key and self.status != "ok" else ""


@dataclass(frozen=True)
class HealthReport:
    """Every check of one look at the platform, and when it was taken (UTC)."""

    checked_at: datetime
    checks: list[Check]

    @property
    def status(self) -> str:
        return max((c.status for c in self.checks), key=STATUSES.index, default="ok")

    @property
    def counts(self) -> dict[str, int]:
        """How many checks are ok, warn and fail."""
        return {s: sum(c.status == s for c in self.checks) for s in STATUSES}

    def to_dict(self, lang: str = "en", *, details: bool = True) -> dict:
        """The report for JSON: overall status and per check its status, and with ``details`` its message, fix and
        figures (the unauthenticated HTTP endpoint leaves the details out)."""
        checks = []
        for check in self.checks:
            item = {"name": check.name, "status": check.status}
            if details:
                item.update(title=check.title(lang), message=check.text(lang), fix=check.fix(lang),
                            figures=check.figures)
            checks.append(item)
        return {"status": self.status, "checked_at": self.checked_at.isoformat(), "checks": checks}


def check_health(settings: Settings, *, now: datetime | None = None, limits: Limits = Limits(),
                 schedule: str | Path | None = None, repository: str | None = None,
                 disk_usage: Callable[[str], tuple[int, int, int]] | None = None) -> HealthReport:
    """Look at the deployment of ``settings`` (see module doc); ``schedule`` is the schedule file (default
    ``pipelines/schedule.yaml``), ``repository`` the backup repository (default as ``carbon backup``);
    ``now`` and ``disk_usage`` (``shutil.disk_usage``-like) can be given for tests and drills."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    checks = [*_guarded("catalog", lambda: _lake_checks(settings, now, limits), ("ingest", "snapshots", "small_files")),
              *_guarded("disk", lambda: [_disk(settings, limits, disk_usage or shutil.disk_usage)]),
              *_guarded("scheduler", lambda: [_scheduler(settings, now, limits)]),
              *_guarded("job:schedule", lambda: _jobs(settings, now, limits, schedule)),
              *_guarded("backup", lambda: [_backup(settings, now, limits, repository)]),
              *_guarded("audit_log", lambda: [_audit_log(settings)]),
              *_guarded("servers", lambda: [_servers(settings)])]
    return HealthReport(now, checks)


def _guarded(name: str, run: Callable[[], list[Check]], dependants: tuple[str, ...] = ()) -> list[Check]:
    """The checks ``run`` makes, or one failed check ``name`` naming the error (and its dependants not checked)."""
    try:
        return run()
    except Exception as error:  # a health check reports every failure, it never raises
        reason = f"{type(error).__name__}: {error}"
        return [Check(name, "fail", "health_error", {"error": reason}),
                *(Check(d, "fail", "health_not_checked", {"check": name}) for d in dependants)]


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _utc(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------------------------------ the lake
def _lake_checks(settings: Settings, now: datetime, limits: Limits) -> list[Check]:
    from ..lake import Lake

    started = time.perf_counter()
    with Lake.open(settings, read_only=True) as lake:
        snapshot, schema = lake.snapshot_id(), lake.schema_version
        answered_ms = round((time.perf_counter() - started) * 1000)
        last = lake.last_written("telemetry")
        snapshots = len(lake.snapshots())
        files, small = lake.data_file_counts(limits.small_file_bytes)
    checks = [Check("catalog", "ok", "health_catalog", {"snapshot": snapshot, "schema": schema, "ms": answered_ms},
                    figures={"snapshot": snapshot, "schema_version": schema, "answered_ms": answered_ms})]
    if last is None:
        checks.append(Check("ingest", "warn", "health_ingest_none", fix_key="health_fix_ingest"))
    else:
        at = last[1].to_pydatetime()
        age = _hours(now - at)
        checks.append(Check("ingest", "warn" if age > limits.ingest_age_h else "ok", "health_ingest",
                            {"at": _utc(at), "age_h": age, "limit": limits.ingest_age_h}, "health_fix_ingest",
                            {"last_ingest": at.isoformat(), "age_h": age, "snapshot": last[0]}))
    checks.append(Check("snapshots", "warn" if snapshots > limits.snapshots else "ok", "health_snapshots",
                        {"count": snapshots, "limit": limits.snapshots}, "health_fix_maintain",
                        {"snapshots": snapshots}))
    checks.append(Check("small_files", "warn" if small > limits.small_files else "ok", "health_small_files",
                        {"small": small, "files": files, "mib": limits.small_file_bytes / 2**20,
                         "limit": limits.small_files}, "health_fix_maintain",
                        {"small_files": small, "data_files": files}))
    return checks


def _disk(settings: Settings, limits: Limits, disk_usage) -> Check:
    where = Path(settings.lake)
    while not where.exists() and where != where.parent:
        where = where.parent
    total, _used, free = disk_usage(str(where))
    fraction = free / total if total else 0.0
    status = ("fail" if fraction < limits.fail_free_fraction or free < limits.fail_free_bytes
              else "warn" if fraction < limits.warn_free_fraction else "ok")
    return Check("disk", status, "health_disk", {"free_gib": free / 2**30, "free_pct": 100 * fraction,
                                                 "path": str(where)}, "health_fix_disk",
                 {"free_bytes": free, "total_bytes": total, "free_fraction": round(fraction, 4)})


# ------------------------------------------------------------------------------------------ scheduling
def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def _scheduler(settings: Settings, now: datetime, limits: Limits) -> Check:
    from ..reporting import pipelines

    beat = pipelines.read_heartbeat(pipelines.heartbeat_path(settings))
    if beat is None:
        return Check("scheduler", "warn", "health_scheduler_never", fix_key="health_fix_scheduler")
    age_s = (now - beat.beat_at).total_seconds()
    gone = beat.host == socket.gethostname() and not _process_alive(beat.pid)
    fields = {"pid": beat.pid, "host": beat.host, "at": _utc(beat.beat_at), "age_min": round(age_s / 60, 1),
              "started": _utc(beat.started_at)}
    figures = {"pid": beat.pid, "host": beat.host, "last_heartbeat": beat.beat_at.isoformat(),
               "heartbeat_age_s": round(age_s)}
    if gone or age_s > limits.heartbeat_stale_s:
        return Check("scheduler", "fail", "health_scheduler_stopped", fields, "health_fix_scheduler", figures)
    return Check("scheduler", "ok", "health_scheduler", fields, figures=figures)


def _jobs(settings: Settings, now: datetime, limits: Limits, schedule_file: str | Path | None) -> list[Check]:
    from ..reporting import pipelines

    schedule = pipelines.load_schedule(schedule_file or pipelines.SCHEDULE_FILE)
    state = pipelines.load_state(pipelines.default_state_path(settings))
    checks = []
    for name, job in schedule.jobs.items():
        upcoming = job.trigger(schedule.tz).get_next_fire_time(None, now.astimezone(schedule.tz))
        fields = {"job": name, "next": _utc(upcoming) if upcoming else "-"}
        last = state.get(name)
        if last is None:
            checks.append(Check(f"job:{name}", "warn", "health_job_never", fields, "health_fix_job_never"))
            continue
        fields["at"] = _utc(last)
        missed = pipelines.fire_times(job, schedule.tz, last, now - timedelta(hours=limits.job_grace_h))
        figures = {"last_run": last.isoformat(), "next_run": upcoming.isoformat() if upcoming else None}
        if missed:
            fields["due"] = _utc(missed[0])
            checks.append(Check(f"job:{name}", "fail", "health_job_overdue", fields, "health_fix_job",
                                {**figures, "overdue_since": missed[0].isoformat()}))
        else:
            checks.append(Check(f"job:{name}", "ok", "health_job", fields, figures=figures))
    return checks


# ------------------------------------------------------------------------------------------ backups, audit
def _backup(settings: Settings, now: datetime, limits: Limits, repository: str | None) -> Check:
    from . import service
    from .storage import open_storage

    location = repository or service.default_repository(settings)
    storage = open_storage(location)
    ids = sorted(key.rsplit("/", 1)[-1] for key in storage.keys("backups/"))
    if not ids:
        return Check("backup", "warn", "health_backup_none", {"repository": location}, "health_fix_backup")
    raw = storage.read("verified.json")
    verified = json.loads(raw) if raw else {}
    # Ids carry the creation time to the second; of backups made within the newest second, an unverified one
    # is the one to report (the random suffix says nothing about their order).
    same_second = [backup_id for backup_id in ids if backup_id[:16] == ids[-1][:16]]
    newest = next((backup_id for backup_id in same_second if backup_id not in verified.get("backups", [])), ids[-1])
    created = datetime.strptime(newest[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    age = _hours(now - created)
    fields = {"backup": newest, "count": len(ids), "age_h": age, "limit": limits.backup_age_h,
              "verified_at": _utc(datetime.fromisoformat(verified["at"])) if verified else "-",
              "problem": " / ".join(map(str, (verified.get("problems") or [[""]])[0]))}
    figures = {"backups": len(ids), "newest": newest, "age_h": age, "verified_at": verified.get("at"),
               "verified_ok": verified.get("ok")}
    if age > limits.backup_age_h:
        return Check("backup", "fail", "health_backup_old", fields, "health_fix_backup", figures)
    if verified and not verified.get("ok", False):
        return Check("backup", "fail", "health_backup_damaged", fields, "health_fix_backup", figures)
    if newest not in verified.get("backups", []):
        return Check("backup", "warn", "health_backup_unverified", fields, "health_fix_backup", figures)
    return Check("backup", "ok", "health_backup", fields, figures=figures)


def _audit_log(settings: Settings) -> Check:
    from ..security import Security, StoreError

    try:
        security = Security.open(settings)
    except StoreError as error:
        return Check("audit_log", "fail", "health_audit_no_store", {"error": str(error)}, "health_fix_security_init")
    with security:
        found = security.audit.verify()
    fields = {"entries": found.entries, "checkpoints": found.checkpoints, "problem": found.problem or ""}
    figures = {"entries": found.entries, "checkpoints": found.checkpoints, "intact": found.ok}
    if not found.ok:
        return Check("audit_log", "fail", "health_audit_damaged", fields, "health_fix_audit", figures)
    return Check("audit_log", "ok", "health_audit", fields, figures=figures)


# ------------------------------------------------------------------------------------------ servers
def _servers_folder(settings: Settings) -> Path:
    return Path(settings.lake) / "servers"


@contextmanager
def registered(settings: Settings, kind: str, address: str, port: int, scheme: str = "http") -> Iterator[Path]:
    """Register a dashboard server of this process while the block runs (``<lake>/servers/<kind>-<port>.json``),
    so that health checks it is up; the registration goes when the server stops normally."""
    folder = _servers_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{port}.json"
    path.write_text(json.dumps({"kind": kind, "pid": os.getpid(), "host": socket.gethostname(), "address": address,
                                "port": port, "scheme": scheme,
                                "started_at": datetime.now(timezone.utc).isoformat()}, indent=2))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _answers(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def _servers(settings: Settings) -> Check:
    folder = _servers_folder(settings)
    up, down = [], []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        server = json.loads(path.read_text())
        here = server["host"] == socket.gethostname()
        name = f"{server['kind']} {server['address']}:{server['port']}" + ("" if here else f" on {server['host']}")
        # a server of another host binds that host's loopback: only its own host can look at it
        alive = _process_alive(int(server["pid"])) and _answers(server["address"], server["port"]) if here else True
        (up if alive else down).append(name)
    figures = {"up": up, "down": down}
    if down:
        return Check("servers", "fail", "health_servers_down", {"servers": ", ".join(down)}, "health_fix_servers",
                     figures)
    if not up:
        return Check("servers", "ok", "health_servers_none", figures=figures)
    return Check("servers", "ok", "health_servers", {"servers": ", ".join(up)}, figures=figures)
