"""Alerts: the rules file, every rule kind against the wall clock, the lifecycle (opened, de-duplicated, escalated,
acknowledged, cleared) in the lake, and notices that really arrive: e-mail at a local SMTP server (aiosmtpd) and
WeCom / DingTalk / JSON webhooks at a local HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import yaml

from carbonlib import alerts
from carbonlib.alerts import notify
from carbonlib.devices import service as devices
from carbonlib.lake import Lake
from carbonlib.reporting import pipelines
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake
from servers import free_port, smtp_server, webhook_server

SITE = "S430181-01"  # a demo forest site in county D430181


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def security(lake):
    with Security.open(lake) as opened:
        yield opened


def _now() -> datetime:
    """The wall clock (naive UTC) on the half-hour grid towers report on."""
    return pd.Timestamp(datetime.now(timezone.utc).replace(tzinfo=None)).floor("30min").to_pydatetime()


def _rules(tmp_path, rules: dict, channels: dict | None = None, smtp_port: int = 25) -> alerts.RuleSet:
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump({"smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@test.local"},
                                    "channels": channels or {}, "rules": rules}))
    return alerts.load_rules(path)


def _register(security, lake, device_id: str, installed: datetime, interval_s: int = 1800, **kw) -> None:
    operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
    devices.register(security, operator, lake, devices.NewDevice(device_id, SITE, "flux_tower", "IRGASON-EC100",
                                                                 f"SN-{device_id}", interval_s, **kw),
                     installed_at=installed)


def _readings(lake, device_id: str, stamps, values, qc=None, metric: str = "NEE") -> None:
    with Lake.open(lake) as opened:
        opened.append("telemetry", pd.DataFrame({
            "device_id": device_id, "metric": metric, "ts": list(stamps), "value": list(values),
            "qc": np.array(qc if qc is not None else [0] * len(values), dtype=np.uint8)}), source="test_alerts")


# ---------------------------------------------------------------------------------------------- rules file
def test_the_repository_rules_file_loads():
    rules = alerts.load_rules()
    assert set(rules.rules) >= {"device_silent", "stuck_value", "qc_share", "rejects_spike", "calibration_overdue",
                                "cap_overrun", "job_failed"}
    silent = rules.rules["device_silent"]
    assert silent.params == {"intervals": 3} and silent.escalate_to == ("bureau_mail",)
    assert rules.channels["duty_group"].url_env == "CARBON_ALERT_WEBHOOK"  # the robot's address is not in git


@pytest.mark.parametrize("rule, channels, says", [
    ({"kind": "device_sleeping"}, {}, "needs kind: one of"),
    ({"kind": "device_silent", "intervals": 0}, {}, "intervals must be a whole number of at least 1"),
    ({"kind": "qc_share", "hours": "a day"}, {}, "hours must be a number"),
    ({"kind": "stuck_value", "metrics": ["CO2"]}, {}, "unknown metric(s) ['CO2']"),
    ({"kind": "device_silent", "notify": ["pager"]}, {}, "unknown channel(s) ['pager']"),
    ({"kind": "device_silent", "escalate_after_min": 30}, {}, "escalation needs both"),
    ({"kind": "device_silent", "threshold": 3}, {}, "unknown field(s) ['threshold']"),
    ({"kind": "device_silent", "severity": "fatal"}, {}, "severity must be one of"),
    ({"kind": "device_silent"}, {"robot": {"kind": "webhook", "url": "http://x", "url_env": "X"}}, "exactly one of url"),
    ({"kind": "device_silent"}, {"robot": {"kind": "webhook", "url": "http://x", "flavour": "slack"}}, "flavour must be"),
    ({"kind": "device_silent"}, {"desk": {"kind": "email", "to": ["nobody"]}}, "to: give the recipients"),
])
def test_a_wrong_rules_file_is_refused_naming_the_entry_and_field(tmp_path, rule, channels, says):
    with pytest.raises(alerts.RulesError) as refused:
        _rules(tmp_path, {"r1": rule}, channels)
    assert says in str(refused.value) and "alerts.yaml" in str(refused.value)


# ---------------------------------------------------------------------------------------------- lifecycle
def test_an_outage_opens_one_alert_escalates_is_acknowledged_and_clears_with_mail_and_webhooks(lake, security, tmp_path):
    t0 = _now()
    _register(security, lake, "T-ALERT", t0 - timedelta(hours=10))
    _readings(lake, "T-ALERT", pd.date_range(t0 - timedelta(hours=6), t0 - timedelta(hours=2), freq="30min"),
              [-3.0 - i for i in range(9)])
    scheduler = security.service_login().principal
    operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
    with smtp_server() as (port, mails), webhook_server() as (robot, posted):
        rules = _rules(tmp_path, {"silent": {
            "kind": "device_silent", "intervals": 3, "orgs": [SITE], "severity": "warning",
            "notify": ["duty", "wecom", "plain"], "escalate_after_min": 30, "escalate_to": ["bureau"]}},
            {"duty": {"kind": "email", "to": ["duty@test.local"], "lang": "en"},
             "bureau": {"kind": "email", "to": ["bureau@test.local"]},
             "wecom": {"kind": "webhook", "flavour": "wecom", "url": f"{robot}/cgi-bin/webhook/send?key=K"},
             "plain": {"kind": "webhook", "flavour": "json", "url": f"{robot}/carbon", "lang": "en"}}, port)

        first = alerts.evaluate(security, scheduler, lake, rules, at=t0)
        assert (first.opened, first.still_open, first.delivered) == (1, 1, 3)  # 2 h silent > 3 x 30 min
        with Lake.open(lake, read_only=True) as opened:
            alert = alerts.alerts(opened).iloc[0]
        assert (alert.subject, alert.org_id, alert.state, alert.level) == ("T-ALERT", SITE, "active", 0)
        assert alert.facts["silent_h"] == 2.0 and alert.facts["last_seen"] == f"{t0 - timedelta(hours=2):%Y-%m-%d %H:%M}"
        assert len(mails) == 1 and mails[0]["To"] == "duty@test.local"
        assert mails[0]["Subject"] == "[Warning] Carbon platform alert: Device T-ALERT silent for 2.0 h (more than 3 " \
            f"reporting intervals; last reading {t0 - timedelta(hours=2):%Y-%m-%d %H:%M} UTC)"
        assert f"carbon alerts ack {alert.alert_id}" in mails[0].get_content()
        (wecom_path, wecom), (_, plain) = sorted(posted, key=lambda p: p[0] != "/cgi-bin/webhook/send?key=K")
        assert wecom["msgtype"] == "markdown" and "设备 T-ALERT 已 2.0 小时无数据" in wecom["markdown"]["content"]
        assert plain["step"] == "opened" and plain["alert_id"] == alert.alert_id and plain["facts"]["silent_h"] == 2.0

        again = alerts.evaluate(security, scheduler, lake, rules, at=t0 + timedelta(minutes=5))
        assert (again.opened, again.escalated, again.delivered, len(mails)) == (0, 0, 0, 1)  # de-duplicated

        escalated = alerts.evaluate(security, scheduler, lake, rules, at=t0 + timedelta(minutes=31))
        assert escalated.escalated == 1 and len(mails) == 2 and mails[1]["To"] == "bureau@test.local"
        assert mails[1]["Subject"].startswith("【升级·警告】")  # the bureau's channel speaks Chinese (the default)
        assert alerts.evaluate(security, scheduler, lake, rules, at=t0 + timedelta(minutes=36)).delivered == 0

        with pytest.raises(PermissionDenied):  # acknowledging is the device operators' and managers' job
            alerts.acknowledge(security, security.sessions.login("t-analyst", TEST_PASSWORD).principal, lake,
                               alert.alert_id)
        acked = alerts.acknowledge(security, operator, lake, alert.alert_id, note="crew on the way",
                                   at=t0 + timedelta(minutes=40))
        assert (acked.state, acked.actor, acked.note, acked.level) == ("acknowledged", "t-devices", "crew on the way", 1)
        with pytest.raises(ValueError, match="is acknowledged .*only an active alert"):
            alerts.acknowledge(security, operator, lake, alert.alert_id)

        _readings(lake, "T-ALERT", [t0 + timedelta(minutes=30)], [-4.0])
        cleared = alerts.evaluate(security, scheduler, lake, rules, at=t0 + timedelta(minutes=45))
        assert (cleared.cleared, cleared.still_open) == (1, 0)
        assert {m["To"] for m in mails[2:]} == {"duty@test.local", "bureau@test.local"}  # whoever was told
        assert mails[2]["Subject"].startswith("[Cleared] Device T-ALERT")
    with Lake.open(lake, read_only=True) as opened:
        history = opened.query("SELECT event_type, state, level, actor FROM lake.alert_event ORDER BY event_time")
    assert history.values.tolist() == [["opened", "active", 0, "scheduler"], ["escalated", "active", 1, "scheduler"],
                                       ["acknowledged", "acknowledged", 1, "t-devices"],
                                       ["cleared", "cleared", 1, "scheduler"]]
    assert security.audit.entries(action="acknowledge_alerts", outcome="ok")[0].object == f"alert {alert.alert_id}"
    assert security.audit.entries(action="evaluate_alerts", outcome="ok", limit=10)[0].actor == "scheduler"


def test_each_rule_kind_finds_its_trouble_against_the_wall_clock(lake, security, tmp_path):
    t0 = _now()
    _register(security, lake, "T-STUCK", t0 - timedelta(days=2), calibration_due=date(2026, 1, 1))
    _register(security, lake, "T-NOISY", t0 - timedelta(days=2), calibration_due=t0.date() + timedelta(days=90))
    half_hours = pd.date_range(t0 - timedelta(hours=7, minutes=30), periods=15, freq="30min")
    _readings(lake, "T-STUCK", half_hours, [-2.5] * 15)  # a frozen logger: the same value 15 times
    _readings(lake, "T-STUCK", half_hours, [0.0] * 15, metric="Rg")  # zero at night is not stuck
    _readings(lake, "T-NOISY", half_hours, np.linspace(-5, 5, 15), qc=[2] * 10 + [0] * 5)  # 5 of 15 good: 33.3 %
    with Lake.open(lake) as opened:  # 6 rows out of range go to quarantine
        opened.append("telemetry", pd.DataFrame({"device_id": "T-NOISY", "metric": "Tair", "ts": half_hours[:6],
                                                 "value": 99.0, "qc": np.uint8(0)}), source="gw/test",
                      on_error="quarantine")
    scheduler = security.service_login().principal
    security.record(scheduler, "maintain_lake", object="job backup", outcome="failed", detail="OSError: disk full")
    rules = _rules(tmp_path, {
        "stuck": {"kind": "stuck_value", "readings": 12, "orgs": [SITE]},
        "qc": {"kind": "qc_share", "hours": 24, "below_pct": 80, "min_readings": 12, "orgs": [SITE]},
        "rejects": {"kind": "rejects_spike", "hours": 1, "above": 5},
        "calibration": {"kind": "calibration_overdue", "orgs": [SITE]},
        "jobs": {"kind": "job_failed", "hours": 1},
        "silent": {"kind": "device_silent", "intervals": 3, "orgs": [SITE]}})
    alerts.evaluate(security, scheduler, lake, rules, at=t0)
    with Lake.open(lake, read_only=True) as opened:
        found = alerts.alerts(opened).set_index("rule")
    stuck = found.loc["stuck"]
    assert (stuck.subject, stuck.facts["value"], stuck.facts["readings"]) == ("T-STUCK:NEE", -2.5, 12)
    assert found.loc["qc"].subject == "T-NOISY" and found.loc["qc"].facts["good_pct"] == 33.3
    assert found.loc["rejects"].facts["rejects"] == 6 and "gw/test: 6" in found.loc["rejects"].facts["sources"]
    assert found.loc["calibration"].subject == "T-STUCK" and found.loc["calibration"].facts["due"] == "2026-01-01"
    assert found.loc["jobs"].subject == "backup" and "disk full" in found.loc["jobs"].facts["detail"]
    assert "silent" not in found.index  # both towers reported half an hour ago
    # a later successful run of the job clears its alert; an hour later both towers are silent
    security.record(scheduler, "maintain_lake", object="job backup", outcome="ok", detail="backup done")
    later = alerts.evaluate(security, scheduler, lake, rules, at=t0 + timedelta(hours=2))
    with Lake.open(lake, read_only=True) as opened:
        now_open = alerts.alerts(opened)
    assert "jobs" not in set(now_open.rule) and later.cleared >= 1
    assert set(now_open[now_open.rule == "silent"].subject) == {"T-STUCK", "T-NOISY"}


def test_a_dead_channel_fails_the_run_but_the_alert_is_recorded_and_the_others_told(lake, security, tmp_path):
    t0 = _now()
    _register(security, lake, "T-DEAD", t0 - timedelta(hours=5))
    with smtp_server() as (port, mails):
        rules = _rules(tmp_path, {"silent": {"kind": "device_silent", "orgs": [SITE], "notify": ["robot", "duty"]}},
                       {"robot": {"kind": "webhook", "url": f"http://127.0.0.1:{free_port()}/dead"},
                        "duty": {"kind": "email", "to": ["duty@test.local"]}}, port)
        with pytest.raises(alerts.AlertsError, match=r"1 opened.*not delivered: robot \(opened silent:T-DEAD"):
            alerts.evaluate(security, security.service_login().principal, lake, rules, at=t0)
        assert len(mails) == 1
    with Lake.open(lake, read_only=True) as opened:
        assert alerts.alerts(opened).subject.tolist() == ["T-DEAD"]
    failed = security.audit.entries(action="evaluate_alerts", outcome="failed")[0]
    assert "ConnectionError" in failed.detail


def test_a_robot_that_refuses_and_an_unset_address_are_failed_deliveries(lake, security, tmp_path, monkeypatch):
    monkeypatch.delenv("CARBON_TEST_ROBOT", raising=False)
    t0 = _now()
    _register(security, lake, "T-ROBOT", t0 - timedelta(hours=5))
    with webhook_server({"errcode": 93000, "errmsg": "invalid webhook url"}) as (robot, posted):
        rules = _rules(tmp_path, {"silent": {"kind": "device_silent", "orgs": [SITE], "notify": ["wecom", "unset"]}},
                       {"wecom": {"kind": "webhook", "flavour": "wecom", "url": robot},
                        "unset": {"kind": "webhook", "url_env": "CARBON_TEST_ROBOT"}})
        with pytest.raises(alerts.AlertsError) as failed:
            alerts.evaluate(security, security.service_login().principal, lake, rules, at=t0)
    assert "errcode 93000, invalid webhook url" in str(failed.value) and "$CARBON_TEST_ROBOT is not set" in str(failed.value)
    assert len(posted) == 1  # a refusal is not retried


def test_a_dingtalk_robot_with_signing_gets_a_valid_signature(lake, security, tmp_path, monkeypatch):
    secret = "SEC-test-2364"
    monkeypatch.setenv("CARBON_TEST_DINGTALK_SECRET", secret)
    t0 = _now()
    _register(security, lake, "T-DING", t0 - timedelta(hours=5))
    with webhook_server() as (robot, posted):
        rules = _rules(tmp_path, {"silent": {"kind": "device_silent", "orgs": [SITE], "notify": ["ding"]}},
                       {"ding": {"kind": "webhook", "flavour": "dingtalk", "url": f"{robot}/robot/send?access_token=T",
                                 "secret_env": "CARBON_TEST_DINGTALK_SECRET"}})
        alerts.evaluate(security, security.service_login().principal, lake, rules, at=t0)
    path, body = posted[0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    # DingTalk custom robot signing: Base64(HMAC-SHA256(secret, "timestamp\nsecret")), URL-encoded
    expected = base64.b64encode(hmac.new(secret.encode(), f"{query['timestamp'][0]}\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["access_token"] == ["T"] and query["sign"] == [expected]
    assert body["msgtype"] == "markdown" and "T-DING" in body["markdown"]["text"] and body["markdown"]["title"]


def test_the_scheduled_job_evaluates_as_the_scheduler(lake, security, tmp_path):
    t0 = _now()
    _register(security, lake, "T-JOB", t0 - timedelta(hours=5))
    rules = _rules(tmp_path, {"silent": {"kind": "device_silent", "orgs": [SITE]}})
    schedule_file = tmp_path / "schedule.yaml"
    schedule_file.write_text(yaml.safe_dump({"timezone": "Asia/Shanghai", "jobs": {"alerts": {
        "cron": "*/5 * * * *", "run": "evaluate_alerts", "args": {"rules_file": str(rules.path)}}}}))
    schedule = pipelines.load_schedule(schedule_file)
    detail = pipelines.run_job(schedule, "alerts", lake, state_path=tmp_path / "state.json", security=security,
                               principal=security.service_login().principal)
    assert "1 opened" in detail
    with Lake.open(lake, read_only=True) as opened:
        assert alerts.alerts(opened).actor.tolist() == ["scheduler"]
    assert "evaluate_alerts" in pipelines.JOB_ACTIONS.values()
    assert pipelines.load_schedule().jobs["alerts"].run == "evaluate_alerts"  # the repository schedule runs it


def test_notice_texts_exist_for_every_kind_in_both_languages():
    facts = {"device": "D", "silent_h": 1, "intervals": 3, "last_seen": "x", "metric": "NEE", "value": 1.0,
             "readings": 12, "since": "x", "good_pct": 50, "below_pct": 80, "hours": 1, "rejects": 9, "above": 5,
             "due": "2026-01-01", "org": "E", "year": 2026, "projected": "1", "cap": "1", "deficit": "1", "job": "j",
             "at": "x", "detail": "d", "months": "2026-01", "days": 5, "entries": 2}
    from carbonlib.lake.schema import ALERT_KINDS

    for kind in ALERT_KINDS:
        for lang in ("zh", "en"):
            assert notify.text({"kind": kind, "facts": facts}, lang)
    never = notify.text({"kind": "device_silent", "facts": {**facts, "variant": "never", "installed": "2026-12-01 08:00"}},
                        "en")
    assert never.startswith("Device D has sent nothing in the 1 h since its installation at 2026-12-01 08:00 UTC")


def test_the_command_line_checks_lists_and_acknowledges(lake, security, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from carbonlib.cli import app

    env, cli = {"CARBON_LANG": "en"}, CliRunner()
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    _register(security, lake, "T-CLI", _now() - timedelta(hours=5))
    rules = _rules(tmp_path, {"silent": {"kind": "device_silent", "orgs": [SITE]}})
    checked = cli.invoke(app, ["alerts", "check", "--rules", str(rules.path), "--lake", str(lake.lake)], env=env)
    assert checked.exit_code == 0 and "1 opened" in checked.output, checked.output  # as the scheduler (service key)
    wrong = cli.invoke(app, ["alerts", "check", "--rules", str(tmp_path / "none.yaml"), "--lake", str(lake.lake)], env=env)
    assert wrong.exit_code == 1 and "no such rules file" in wrong.output and "Traceback" not in wrong.output
    login = cli.invoke(app, ["login", "--lake", str(lake.lake), "--user", "t-devices"], input=f"{TEST_PASSWORD}\n", env=env)
    assert login.exit_code == 0, login.output
    listed = cli.invoke(app, ["alerts", "list", "--org", SITE, "--lake", str(lake.lake)], env=env)
    assert listed.exit_code == 0 and "Device T-CLI has sent nothing in the 5." in listed.output, listed.output
    alert_id = listed.output.split()[0]
    acked = cli.invoke(app, ["alerts", "ack", alert_id, "--note", "on it", "--lake", str(lake.lake)], env=env)
    assert acked.exit_code == 0 and f"alert {alert_id} acknowledged by t-devices" in acked.output, acked.output
    again = cli.invoke(app, ["alerts", "ack", alert_id, "--lake", str(lake.lake)], env={"CARBON_LANG": "zh"})
    assert again.exit_code == 1 and "only an active alert" in again.output
    zh = cli.invoke(app, ["alerts", "list", "--org", SITE, "--lake", str(lake.lake)], env={"CARBON_LANG": "zh"})
    assert "已确认" in zh.output and "设备 T-CLI 自" in zh.output and "安装以来 5." in zh.output


def test_the_province_screen_ticker_shows_the_open_alerts_once(lake, security, tmp_path):
    """The wall screen's ticker leads with the alerting service's open alerts of the region in focus, and does
    not repeat a device an open alert already names among the devices it finds late or offline itself."""
    from carbonlib.security import Grant, Principal
    from carbonlib.viz import data as rollup_data
    from carbonlib.viz import screen
    from carbonlib.viz.scope import Scope

    viewer = Principal(9, "viewer", "viewer", grants=(Grant("manager", "P43"),))

    def ticker(org_id: str) -> str:
        with Lake.open(lake, read_only=True) as opened:
            view = screen.ProvinceScreen(opened, Scope(viewer, rollup_data.rollups(opened).tree, "view_figures"),
                                         org=org_id, lang="en")
            return view.ticker.object.replace("&#x27;", "'")

    _register(security, lake, "T-QUIET", _now() - timedelta(days=2))  # installed, never heard from
    before = ticker("D430181")
    assert " · T-QUIET · " in before and "data-alert-id" not in before  # seen by the screen itself, no alert yet
    scheduler = security.service_login().principal
    alerts.evaluate(security, scheduler, lake, _rules(tmp_path, {
        "silent": {"kind": "device_silent", "intervals": 3, "orgs": [SITE]}}), at=_now())
    with Lake.open(lake, read_only=True) as opened:
        (alert,) = alerts.alerts(opened).itertuples()
    assert (alert.subject, alert.org_id) == ("T-QUIET", SITE)
    after = ticker("D430181")
    said = notify.text({"kind": alert.kind, "facts": alert.facts}, "en")
    assert f'data-alert-id="{alert.alert_id}"' in after and said in after
    assert " · T-QUIET · " not in after  # the screen's own line for the device gives way to the alert
    # only the alert's line names the device (in its id and text); the list is shown twice for the scroll
    assert after.count("T-QUIET") == 2 * (said.count("T-QUIET") + alert.alert_id.count("T-QUIET"))
    assert "data-alert-id" not in ticker("D430121")  # another county: not its alerts
