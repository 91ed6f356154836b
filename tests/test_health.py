"""The platform's own health (carbonlib.ops.health, ``carbon health``): green when the platform is looked after,
red for a stopped scheduler, an old or damaged backup, a full disk (simulated), an overdue job, a dead
dashboard server, a tampered audit log and an unreachable catalog, each with its fix."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.lake import Lake
from carbonlib.ops import backup, health
from carbonlib.reporting import pipelines
from carbonlib.security import Security
from carbonlib.settings import load_settings
from conftest import copy_lake

GIB = 2**30
ROOMY_DISK = lambda path: (100 * GIB, 50 * GIB, 50 * GIB)  # noqa: E731 (total, used, free)
#: A schedule of one hourly job (at minute 7), in UTC.
SCHEDULE = "timezone: UTC\njobs:\n  rollup:\n    cron: '7 * * * *'\n    run: refresh_telemetry_daily\n"


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def schedule_file(tmp_path):
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE)
    return path


@pytest.fixture
def backups(lake, tmp_path):
    """A verified backup of ``lake``: (repository, key)."""
    key_file = tmp_path / "backup.key"
    backup.generate_key(key_file)
    key = backup.load_key(key_file)
    repository = tmp_path / "backups"
    backup.create(lake, repository, key)
    assert backup.verify(repository, key).ok
    return repository, key


def _looked_after(lake, schedule_file, now: datetime) -> None:
    """What a running platform leaves: a fresh heartbeat of a live scheduler (this process) and the last run of
    every job recorded at its latest scheduled time."""
    pipelines.write_heartbeat(pipelines.heartbeat_path(lake), now - timedelta(hours=5))
    schedule = pipelines.load_schedule(schedule_file)
    for name, job in schedule.jobs.items():
        latest = pipelines.fire_times(job, schedule.tz, now - timedelta(hours=2), now)[-1]
        pipelines.record_run(pipelines.default_state_path(lake), name, latest)


def _checks(report) -> dict:
    return {c.name: c for c in report.checks}


def _listening():
    """A real listening socket on loopback: stands in for a dashboard server of this process."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def test_a_looked_after_platform_is_all_green(lake, schedule_file, backups):
    now = datetime.now(timezone.utc)
    _looked_after(lake, schedule_file, now)
    repository, _ = backups
    with _listening() as server, health.registered(lake, "panel", "127.0.0.1", port := server.getsockname()[1]):
        report = health.check_health(lake, schedule=schedule_file, repository=str(repository), disk_usage=ROOMY_DISK)
    checks = _checks(report)
    assert set(checks) == {"catalog", "ingest", "snapshots", "small_files", "disk", "scheduler", "job:rollup",
                           "backup", "audit_log", "servers"}
    assert {name: c.status for name, c in checks.items() if c.status != "ok"} == {}
    assert report.status == "ok"
    with Lake.open(lake, read_only=True) as opened:
        assert checks["catalog"].figures["snapshot"] == opened.snapshot_id()
        assert checks["ingest"].figures["snapshot"] == opened.last_written("telemetry")[0]
        assert checks["snapshots"].figures["snapshots"] == len(opened.snapshots())
    assert checks["scheduler"].figures["pid"] == os.getpid()
    assert checks["audit_log"].figures["intact"] and checks["audit_log"].figures["entries"] > 0
    assert checks["backup"].figures["backups"] == 1 and checks["backup"].figures["verified_ok"] is True
    assert checks["servers"].figures["up"] == [f"panel 127.0.0.1:{port}"]
    assert not list((Path(lake.lake) / "servers").glob("*.json"))  # the registration goes with the server
    assert "verified intact" in checks["backup"].text("en") and "校验完好" in checks["backup"].text("zh")
    assert all(c.fix("en") == "" for c in report.checks)  # nothing to fix

    # the JSON of the command line carries the same statuses, messages in the chosen language
    result = CliRunner().invoke(app, ["health", "--json", "--lake", str(lake.lake), "--schedule", str(schedule_file),
                                      "--repository", str(repository)], env={"CARBON_LANG": "zh"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    statuses = {c["name"]: c["status"] for c in shown["checks"]}
    assert statuses.pop("disk") in ("ok", "warn")  # this machine's real disk
    assert statuses == {n: "ok" for n in checks if n != "disk"}
    assert shown["checks"][0]["title"] == "目录数据库"


def test_sigterm_stops_the_scheduler_like_ctrl_c(lake, schedule_file, tmp_path):
    """systemd stops a service with SIGTERM: ``carbon pipelines serve`` ends cleanly (exit handlers run, so its warm
    report kernels shut down and their folders go), not killed mid-way."""
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serving = subprocess.Popen([sys.executable, "-m", "carbonlib", "pipelines", "serve", "--lake", str(lake.lake),
                                    "--schedule", str(schedule_file)], stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, CARBON_LANG="en"))
        deadline = time.monotonic() + 120
        while not pipelines.heartbeat_path(lake).is_file():
            assert serving.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        serving.send_signal(signal.SIGTERM)
        assert serving.wait(timeout=60) == 0, log.read_text()
    assert log.read_text().rstrip().endswith("stopped")


def test_a_stopped_scheduler_goes_red(lake, schedule_file, tmp_path):
    """A real ``carbon pipelines serve`` beats; killed, its heartbeat names the dead process at once; a scheduler on
    another host that stopped beating is red once three heartbeats are missed."""
    log = (tmp_path / "serve.log").open("w")
    serving = subprocess.Popen([sys.executable, "-m", "carbonlib", "pipelines", "serve", "--lake", str(lake.lake),
                                "--schedule", str(schedule_file)], stdout=log, stderr=subprocess.STDOUT)
    beat = pipelines.heartbeat_path(lake)
    try:
        deadline = time.monotonic() + 120
        while not beat.is_file():
            assert serving.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        running = _checks(health.check_health(lake, schedule=schedule_file, disk_usage=ROOMY_DISK))["scheduler"]
        assert running.status == "ok" and running.figures["pid"] == serving.pid
    finally:
        serving.send_signal(signal.SIGKILL)
        serving.wait(timeout=30)
        log.close()

    report = health.check_health(lake, schedule=schedule_file, disk_usage=ROOMY_DISK)
    stopped = _checks(report)["scheduler"]
    assert stopped.status == "fail" and report.status == "fail"
    assert f"process {serving.pid}" in stopped.text("en") and "stopped" in stopped.text("en")
    assert "carbon pipelines serve" in stopped.fix("en") and "carbon pipelines serve" in stopped.fix("zh")
    result = CliRunner().invoke(app, ["health", "--lake", str(lake.lake), "--schedule", str(schedule_file)],
                                env={"CARBON_LANG": "en"})
    assert result.exit_code == 1 and "✗ Scheduler" in result.output and "the scheduler stopped" in result.output

    # another host's scheduler: its process cannot be looked up, its heartbeat's age decides
    beat.write_text(json.dumps({"pid": 1, "host": "scheduler-host", "started_at": "2026-01-01T00:00:00+00:00",
                                "beat_at": "2026-01-05T08:00:00+00:00"}))
    on_time = datetime(2026, 1, 5, 8, 2, tzinfo=timezone.utc)
    assert _checks(health.check_health(lake, now=on_time))["scheduler"].status == "ok"
    late = on_time + timedelta(seconds=health.Limits().heartbeat_stale_s)
    assert _checks(health.check_health(lake, now=late))["scheduler"].status == "fail"
    beat.unlink()
    never = _checks(health.check_health(lake))["scheduler"]
    assert never.status == "warn" and never.text("en") == "no scheduler has ever served this lake"


def test_an_old_unverified_or_damaged_backup_goes_red(lake, backups):
    repository, key = backups
    newest = backup.Repository(repository, key).manifest()
    check = lambda now=None: _checks(health.check_health(lake, now=now, repository=str(repository)))["backup"]  # noqa: E731
    assert check(newest.created + timedelta(hours=25)).status == "ok"
    old = check(newest.created + timedelta(hours=27))
    assert old.status == "fail" and f"{newest.backup_id}, is 27.0 h old (limit 26 h)" in old.text("en")
    assert "carbon backup create" in old.fix("en")

    later = backup.create(lake, repository, key)  # not verified yet
    unverified = check()
    assert unverified.status == "warn" and later.backup_id in unverified.text("en")

    damaged = next(p for p in sorted((repository / "objects").rglob("*")) if p.is_file())
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    assert not backup.verify(repository, key).ok
    bad = check()
    assert bad.status == "fail" and "found damage" in bad.text("en") and damaged.name in bad.text("en")

    empty = _checks(health.check_health(lake, repository=str(repository.parent / "none")))["backup"]
    assert empty.status == "warn" and "no backup in" in empty.text("en")


def test_a_backup_made_in_the_same_second_as_a_verified_one_still_warns(lake, tmp_path, monkeypatch):
    """Backup ids carry the time to the second plus a random suffix, so two backups of one second sort by chance;
    the unverified one must still be reported (this was a flake when a test made them back to back)."""
    key_file = tmp_path / "backup.key"
    backup.generate_key(key_file)
    key = backup.load_key(key_file)
    repository = tmp_path / "backups"
    second = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(backup, "_now", lambda: second)
    monkeypatch.setattr(backup.secrets, "token_hex", lambda n: "ffffff")
    backup.create(lake, repository, key)
    assert backup.verify(repository, key).ok
    monkeypatch.setattr(backup.secrets, "token_hex", lambda n: "000000")  # sorts before the verified one
    later = backup.create(lake, repository, key)
    state = _checks(health.check_health(lake, now=second + timedelta(minutes=1), repository=str(repository)))["backup"]
    assert state.status == "warn" and later.backup_id in state.text("en")


def test_a_full_disk_goes_red(lake, monkeypatch):
    """Simulated: the disk usage the check reads says how full the lake's disk is."""
    def disk(free_bytes: int):
        return lambda path: (100 * GIB, 100 * GIB - free_bytes, free_bytes)

    states = {free: _checks(health.check_health(lake, disk_usage=disk(free)))["disk"]
              for free in (GIB // 2, 4 * GIB, 10 * GIB, 40 * GIB)}
    assert [c.status for c in states.values()] == ["fail", "fail", "warn", "ok"]  # < 1 GiB, < 5 %, < 15 %, roomy
    assert "0.5 GiB free (0 %)" in states[GIB // 2].text("en") and str(lake.lake) in states[GIB // 2].text("en")
    assert "carbon lake maintain" in states[GIB // 2].fix("en")

    import shutil

    monkeypatch.setattr(shutil, "disk_usage", disk(GIB // 4))
    result = CliRunner().invoke(app, ["health", "--lake", str(lake.lake)], env={"CARBON_LANG": "en"})
    assert result.exit_code == 1 and "✗ Disk space" in result.output


def test_an_overdue_job_goes_red_and_a_new_one_warns(lake, schedule_file):
    now = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    state = pipelines.default_state_path(lake)
    pipelines.record_run(state, "rollup", datetime(2026, 3, 1, 9, 7, tzinfo=timezone.utc))  # 10:07 missed
    overdue = _checks(health.check_health(lake, now=now, schedule=schedule_file))["job:rollup"]
    assert overdue.status == "fail"
    assert overdue.text("en") == "overdue: due at 2026-03-01 10:07 UTC, last run 2026-03-01 09:07 UTC"
    assert "carbon pipelines run-job rollup" in overdue.fix("en")
    pipelines.record_run(state, "rollup", datetime(2026, 3, 1, 11, 7, tzinfo=timezone.utc))  # 12:07 within grace
    assert _checks(health.check_health(lake, now=now, schedule=schedule_file))["job:rollup"].status == "ok"
    state.unlink()
    new = _checks(health.check_health(lake, now=now, schedule=schedule_file))["job:rollup"]
    assert new.status == "warn" and new.text("en") == "not run yet; next 2026-03-01 13:07 UTC"


def test_a_dead_dashboard_server_goes_red(lake):
    with _listening() as server:
        port = server.getsockname()[1]
        with health.registered(lake, "voila", "127.0.0.1", port) as registration:
            up = _checks(health.check_health(lake))["servers"]
            assert up.status == "ok" and f"voila 127.0.0.1:{port}" in up.text("en")
            server.close()  # the server stops answering; its registration stays (as after a crash)
            down = _checks(health.check_health(lake))["servers"]
            assert down.status == "fail" and f"voila 127.0.0.1:{port}" in down.text("en")
            assert "carbon dashboards" in down.fix("en")
            # a registration whose process is gone (killed with SIGKILL: no clean-up ran) is red too
            ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                   text=True, check=True)
            registration.write_text(json.dumps({**json.loads(registration.read_text()), "pid": int(ended.stdout)}))
            assert _checks(health.check_health(lake))["servers"].status == "fail"


def test_a_tampered_audit_log_goes_red(lake):
    with Security.open(lake) as security:
        path = security.store.location.path
    db = sqlite3.connect(path)
    db.execute("UPDATE audit SET actor = actor || '-innocent' WHERE seq = 3")
    db.commit()
    db.close()
    check = _checks(health.check_health(lake))["audit_log"]
    assert check.status == "fail" and "failed its verification" in check.text("en") and "3" in check.text("en")
    assert "auditor" in check.fix("en")


def test_an_unreachable_catalog_goes_red_and_the_rest_is_still_checked(tmp_path):
    nowhere = load_settings(lake=tmp_path / "no-lake")
    report = health.check_health(nowhere, disk_usage=ROOMY_DISK)
    checks = _checks(report)
    assert checks["catalog"].status == "fail" and "no-lake" in checks["catalog"].text("en")
    assert [checks[n].text("en") for n in ("ingest", "snapshots", "small_files")] == \
        ["not checked: the catalog check failed"] * 3
    assert checks["disk"].status == "ok" and checks["audit_log"].status == "fail"  # no security store either
    assert "carbon security init" in checks["audit_log"].fix("en")
    assert report.status == "fail"


def test_the_hourly_health_job_leaves_a_failure_in_the_audit_log(lake, tmp_path):
    """The schedule's ``health`` job fails when a check fails, so the failure is on record (the alerting of the
    ingestion issue can pick it up there)."""
    file = tmp_path / "health.yaml"
    file.write_text("timezone: UTC\njobs:\n  health:\n    cron: '17 * * * *'\n    run: check_platform_health\n")
    schedule = pipelines.load_schedule(file)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    folder = Path(lake.lake) / "servers"
    folder.mkdir()
    (folder / "panel-5999.json").write_text(json.dumps({"kind": "panel", "pid": int(ended.stdout), "port": 5999,
                                                        "host": socket.gethostname(), "address": "127.0.0.1"}))
    with Security.open(lake) as security:
        scheduler = security.service_login().principal
        with pytest.raises(RuntimeError, match="servers: registered but not answering: panel 127.0.0.1:5999"):
            pipelines.run_job(schedule, "health", lake, security=security, principal=scheduler)
        entry = security.audit.entries(actor="scheduler", action="maintain_lake", limit=1)[0]
    assert entry.object == "job health" and entry.outcome == "failed" and "panel 127.0.0.1:5999" in entry.detail
