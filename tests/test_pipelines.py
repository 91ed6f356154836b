"""Scheduled jobs: the schedule file, catch-up of missed runs (injected "now" and state), crontab, APScheduler."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from carbonlib.reporting import pipelines
from carbonlib.security import Grant, PermissionDenied, Principal, Security
from carbonlib.settings import load_settings
from conftest import TEST_PASSWORD

TZ = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def schedule():
    return pipelines.load_schedule()


def test_the_schedule_has_the_required_jobs(schedule):
    jobs = schedule.jobs
    assert schedule.timezone == "Asia/Shanghai"
    assert jobs["monthly_accounts"].cron == "0 2 3 * *" and jobs["monthly_accounts"].run == "build_accounts"
    assert jobs["annual_accounts"].cron == "0 2 15 1 *"
    assert jobs["telemetry_rollup"].cron.split()[1:] == ["*"] * 4  # hourly
    assert {j.args.get("kind") for j in jobs.values() if j.run == "report_batch"} == {"monthly", "annual", "disclosure"}


def test_missed_runs_from_injected_state_and_now(schedule):
    state = {"monthly_reports": at(2025, 9, 3, 4, 0), "telemetry_rollup": at(2025, 11, 2, 10, 7),
             "annual_accounts": at(2025, 1, 15, 2, 0)}
    missed = pipelines.missed_runs(schedule, state, now=at(2025, 11, 2, 12, 30))
    assert missed == [("monthly_reports", at(2025, 10, 3, 4, 0)),   # the October run (for September)
                      ("telemetry_rollup", at(2025, 11, 2, 12, 7))]  # 11:07 and 12:07 coalesced to the latest
    # 'all' catches up every missed month, oldest first; nothing is due after the last run
    later = pipelines.missed_runs(schedule, {"monthly_reports": at(2025, 9, 3, 4, 0)}, now=at(2026, 1, 3, 3, 59))
    assert later == [("monthly_reports", at(2025, m, 3, 4, 0)) for m in (10, 11, 12)]
    assert pipelines.missed_runs(schedule, {"monthly_reports": at(2025, 10, 3, 4, 0)}, now=at(2025, 11, 3, 3, 59)) == []


def test_period_words_follow_the_scheduled_time():
    assert pipelines.resolve_period("previous_month", at(2026, 1, 3, 2, 0)) == "2025-12"
    assert pipelines.resolve_period("previous_year", at(2026, 1, 15, 2, 0)) == "2025"
    assert pipelines.resolve_period("2025-07", at(2026, 1, 15)) == "2025-07"


def test_catch_up_runs_a_real_job_as_the_scheduler_and_records_state(small_demo_lake, tmp_path):
    from conftest import copy_lake

    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    security = Security.open(settings)
    scheduler = security.service_login().principal
    file = tmp_path / "schedule.yaml"
    file.write_text("timezone: Asia/Shanghai\njobs:\n"
                    "  rollup:\n    cron: '7 * * * *'\n    run: refresh_telemetry_daily\n    args: {days_back: 1}\n"
                    "  yearly:\n    cron: '0 2 15 1 *'\n    run: build_accounts\n    args: {period: previous_year}\n")
    schedule = pipelines.load_schedule(file)
    state = tmp_path / "state.json"
    pipelines.record_run(state, "rollup", at(2025, 12, 31, 9, 7))
    done = pipelines.catch_up(schedule, settings, state, now=at(2025, 12, 31, 11, 30), security=security,
                              principal=scheduler)
    assert [(name, t) for name, t, _ in done] == [("rollup", at(2025, 12, 31, 11, 7))]
    assert done[0][2].startswith("telemetry_daily since 2025-12-30")
    recorded = pipelines.load_state(state)
    assert recorded == {"rollup": at(2025, 12, 31, 11, 7), "yearly": at(2025, 12, 31, 11, 30)}  # yearly: baseline only
    assert pipelines.catch_up(schedule, settings, state, now=at(2025, 12, 31, 11, 30), security=security,
                              principal=scheduler) == []
    # the run is on record: started, then ok with the job's outcome, as the scheduler
    runs = security.audit.entries(actor="scheduler", action="maintain_lake", limit=5)
    assert [(e.outcome, e.object) for e in runs[:2]] == [("ok", "job rollup"), ("started", "job rollup")]
    assert runs[0].detail == done[0][2] and runs[0].role == "scheduler"

    # a manager may not run the jobs: refused before anything runs, and on record
    manager = security.sessions.login("t-province", TEST_PASSWORD).principal
    with pytest.raises(PermissionDenied, match="t-province may not maintain lake on P43"):
        pipelines.run_job(schedule, "rollup", settings, at(2025, 12, 31, 12, 7), state, security=security,
                          principal=manager)
    assert security.audit.entries(actor="t-province", action="maintain_lake", limit=1)[0].outcome == "denied"
    assert pipelines.load_state(state)["rollup"] == at(2025, 12, 31, 11, 7)
    security.close()


def test_crontab_lines_equal_the_schedule(schedule, tmp_path):
    from typer.testing import CliRunner

    from carbonlib.cli.reports import pipelines_app

    text = pipelines.crontab(schedule, repo="/srv/carbon")
    lines = [line for line in text.splitlines() if line and not line.startswith(("#", "CRON_TZ="))]
    assert "CRON_TZ=Asia/Shanghai" in text
    assert len(lines) == len(schedule.jobs)
    for line, (name, job) in zip(lines, schedule.jobs.items()):
        fields, command = line.split(maxsplit=5)[:5], line.split(maxsplit=5)[5]
        assert fields == job.cron.split()
        assert command.startswith("cd /srv/carbon && .venv/bin/carbon pipelines run-job " + name + " --schedule ")
    result = CliRunner().invoke(pipelines_app, ["crontab", "--repo", "/srv/carbon"])
    assert result.exit_code == 0 and result.output == text


def test_scheduler_has_one_coalesced_cron_job_per_entry(schedule, small_demo_lake, tmp_path):
    principal = Principal(1, "scheduler", "scheduled jobs", grants=(Grant("scheduler", "P43"),))
    with Security.open(small_demo_lake) as security:
        scheduler = pipelines.build_scheduler(schedule, load_settings(lake=tmp_path), tmp_path / "state.json",
                                              security=security, principal=principal)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(schedule.jobs)
    monthly = jobs["monthly_accounts"]
    assert monthly.coalesce and monthly.misfire_grace_time == pipelines.MISFIRE_GRACE_S and monthly.max_instances == 1
    assert monthly.trigger.get_next_fire_time(None, at(2025, 10, 3, 2, 1)) == at(2025, 11, 3, 2, 0)


@pytest.mark.parametrize("body, message", [
    ("jobs:\n  x:\n    cron: '0 2 3 * *'\n    run: launch_rockets\n", "job 'x' runs 'launch_rockets'"),
    ("jobs:\n  x:\n    cron: '0 25 3 * *'\n    run: build_accounts\n    args: {period: previous_year}\n", "job 'x' has a bad cron"),
    ("jobs:\n  x:\n    cron: '0 2 3 * *'\n    run: build_accounts\n    args: {year: 2025}\n", r"unknown argument\(s\) \['year'\]"),
    ("timezone: Mars/Olympus\njobs: {}\n", "not an IANA time zone"),
])
def test_bad_schedules_name_the_job_and_the_fix(tmp_path, body, message):
    file = tmp_path / "schedule.yaml"
    file.write_text(body)
    with pytest.raises(ValueError, match=message):
        pipelines.load_schedule(file)
