"""Live MQTT ingestion against a real Mosquitto broker on loopback (issue 11): de-duplication, out-of-order and
late readings, conflict and replay quarantine, credentials revoked on retirement, ``kill -9`` mid-stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest

from carbonlib.devices import service as devices
from carbonlib.ingest import service
from carbonlib.lake import Lake
from carbonlib.security import Security
from conftest import TEST_PASSWORD, copy_lake
from servers import free_port, mosquitto

TOWER = "T-S430121-01"  # a demo flux tower (half-hourly, active)


@pytest.fixture
def platform(small_demo_lake, tmp_path):
    """A copy of the small demo lake, its broker configured and running, the tower's MQTT password."""
    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    port = free_port()
    with Security.open(settings) as security:
        config = service.broker_setup(security, port=port)
        with mosquitto(config):
            operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
            password = devices.issue_credentials(security, operator, settings, TOWER)
            yield settings, port, password


def _half_hour(hours_ago: float) -> datetime:
    moment = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=hours_ago)
    return moment.replace(minute=0 if moment.minute < 30 else 30, second=0, microsecond=0)


def _publish(port: int, password: str, payloads: list, device: str = TOWER) -> None:
    messages = [{"topic": f"carbon/telemetry/{device}", "payload": p if isinstance(p, (str, bytes)) else json.dumps(p),
                 "qos": 1} for p in payloads]
    publish.multiple(messages, hostname="127.0.0.1", port=port, auth={"username": device, "password": password})


def _ingest_until(settings, port: int, messages: int, **kw):
    """The ingester (as the scheduler) in a thread; returns its stop event, the thread and where its counters go."""
    stop, ready, counters = threading.Event(), threading.Event(), {}

    def run() -> None:
        with Security.open(settings) as security:
            scheduler = security.service_login().principal
            counters["c"] = service.run_mqtt(security, scheduler, settings, port=port, batch_s=0.3, stop=stop,
                                             ready=ready, **kw)

    runner = threading.Thread(target=run)
    runner.start()
    assert ready.wait(60), "the ingester did not connect"
    return stop, runner, counters


def _wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


def _count(settings, sql: str, params=()) -> int:
    with Lake.open(settings, read_only=True) as opened:
        return int(opened.query(sql, list(params)).iloc[0, 0])


def test_senml_and_single_readings_dedup_late_conflict_replay_and_malformed(platform):
    settings, port, password = platform
    t0, t1, t2 = _half_hour(3), _half_hour(2.5), _half_hour(2)
    senml = [{"bn": f"urn:dev:{TOWER}:", "bt": t1.replace(tzinfo=timezone.utc).timestamp(), "bu": "Cel"},
             {"n": "Tair", "v": 12.5}, {"n": "Tair", "v": 12.0, "t": 1800},
             {"n": "VPD", "u": "Pa", "v": 850.0}]  # 850 Pa = 8.5 hPa
    earlier = {"metric": "Tair", "ts": t0.isoformat() + "Z", "value": 13.0, "unit": "degC"}  # out of order: older
    conflict = {"metric": "Tair", "ts": t1.isoformat() + "Z", "value": 19.0}  # same key as SenML, other value
    future = {"metric": "Tair", "ts": (_half_hour(-48)).isoformat() + "Z", "value": 10.0}
    replay = {"metric": "Tair", "ts": (_half_hour(24 * 30)).isoformat() + "Z", "value": 10.0}
    no_zone = {"metric": "Tair", "ts": t0.isoformat(), "value": 13.0}
    payloads = [senml, senml, earlier, conflict, future, replay, "{not json", no_zone]
    before = _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ?", [TOWER])
    stop, runner, counters = _ingest_until(settings, port, len(payloads))
    try:
        _publish(port, password, payloads)
        _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry_reject WHERE source = 'mqtt'") >= 5)
    finally:
        stop.set()
        runner.join(timeout=60)
    assert counters["c"].messages == len(payloads)
    with Lake.open(settings, read_only=True) as opened:
        stored = opened.query("SELECT metric, ts, value FROM lake.telemetry WHERE device_id = ? AND ts >= ? "
                              "ORDER BY ts, metric", [TOWER, t0])
        rejects = opened.query("SELECT reason, payload FROM lake.telemetry_reject WHERE source = 'mqtt'")
        daily = opened.query("SELECT n FROM lake.telemetry_daily WHERE device_id = ? AND metric = 'VPD' AND day = ?",
                             [TOWER, t1.date()])
    assert len(stored) == 4 and _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ?",
                                       [TOWER]) == before + 4  # the repeated SenML pack added nothing
    values = {(m, ts): v for m, ts, v in stored.itertuples(index=False)}
    assert values[("Tair", t0)] == 13.0 and values[("Tair", t1)] == 12.5 and values[("Tair", t2)] == 12.0
    assert values[("VPD", t1)] == pytest.approx(8.5)
    reasons = " | ".join(rejects.reason)
    conflicting = [r for r, p in rejects.itertuples(index=False) if json.loads(p).get("value") == 19.0]
    assert len(conflicting) == 1 and ("different values" in conflicting[0] or "duplicate key" in conflicting[0])
    assert "in the future" in reasons and "late window" in reasons
    assert "malformed JSON" in reasons and any("{not json" in p for p in rejects.payload)
    assert "has no zone" in reasons
    assert len(daily) == 1 and daily.n[0] >= 1  # the monitor's roll-up followed the batch


def test_retirement_revokes_the_credentials_and_readings_after_it_are_quarantined(platform):
    """Two readings kept by the broker while the ingester is down, then the tower retired between their times: the
    one taken before the retirement goes in, the one taken after it is quarantined by the lake's rule (the device's
    state at the reading's time); the retired device can no longer connect."""
    settings, port, password = platform
    stop, runner, _ = _ingest_until(settings, port, 0)  # the ingester's persistent session now exists
    stop.set()
    runner.join(timeout=60)
    before, after = _half_hour(3), _half_hour(1)
    # sent while the ingester is down: the broker keeps them for the ingester's session
    _publish(port, password, [{"metric": "Tair", "ts": before.isoformat() + "Z", "value": 11.0},
                              {"metric": "Tair", "ts": after.isoformat() + "Z", "value": 11.5}])
    with Security.open(settings) as security:
        operator = security.sessions.login("t-devices", TEST_PASSWORD).principal
        row = devices.record_event(security, operator, settings, TOWER, "retired", at=_half_hour(2).replace(
            tzinfo=timezone.utc), note="end of the project")
        assert row.status == "retired"
        audited = security.audit.entries(actor="t-devices", action="operate_devices", limit=1)[0]
    assert "MQTT credentials revoked" in audited.detail
    with pytest.raises(Exception, match="[Nn]ot authori[sz]ed"):
        _publish(port, password, [{"metric": "Tair", "ts": _half_hour(0.5).isoformat() + "Z", "value": 11.0}])
    stop, runner, counters = _ingest_until(settings, port, 2)
    try:
        _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry_reject WHERE source = 'mqtt'") >= 1)
    finally:
        stop.set()
        runner.join(timeout=60)
    with Lake.open(settings, read_only=True) as opened:
        rejected = opened.query("SELECT reason, payload FROM lake.telemetry_reject WHERE source = 'mqtt'")
        kept = opened.query("SELECT value FROM lake.telemetry WHERE device_id = ? AND metric = 'Tair' AND ts = ?",
                            [TOWER, before])
    assert len(rejected) == 1 and pd.Timestamp(json.loads(rejected.payload[0])["ts"]) == pd.Timestamp(after)
    assert "was not installed and active" in rejected.reason[0]
    assert list(kept.value) == [11.0] and counters["c"].inserted == 1


def test_kill_9_mid_stream_loses_and_doubles_nothing(platform, tmp_path):
    settings, port, password = platform
    metrics = {"NEE": -3.0, "Rg": 200.0, "Tair": 15.0, "VPD": 6.0, "Ustar": 0.4}
    stamps = [_half_hour(1 + 0.5 * i) for i in range(400)]  # 200 h back: inside a 30-day late window
    payloads = [{"metric": m, "ts": ts.isoformat() + "Z", "value": v + i % 7 * 0.1}
                for i, ts in enumerate(stamps) for m, v in metrics.items()]
    expected = len(payloads)
    start = min(stamps)
    before = _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND ts >= ?", [TOWER, start])
    env = {**os.environ, "CARBON_LANG": "en", "CARBON_SESSION_FILE": str(tmp_path / "none")}
    command = [sys.executable, "-m", "carbonlib", "ingest", "mqtt", "--lake", str(settings.lake), "--port", str(port),
               "--batch-s", "0.5", "--late-window-days", "30"]
    stop, runner, _ = _ingest_until(settings, port, 0)  # the ingester's persistent session exists from now on
    stop.set()
    runner.join(timeout=60)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tower-publisher")
        publisher.username_pw_set(TOWER, password)
        publisher.connect("127.0.0.1", port)
        publisher.loop_start()
        infos = []
        for n, payload in enumerate(payloads):
            infos.append(publisher.publish(f"carbon/telemetry/{TOWER}", json.dumps(payload), qos=1))
            if n == expected // 3:  # some batches are in: kill the ingester mid-stream
                _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? "
                                                   "AND ts >= ?", [TOWER, start]) > before)
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
        for info in infos:
            info.wait_for_publish(timeout=60)
        publisher.loop_stop()
        publisher.disconnect()
        killed_at = _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND ts >= ?",
                           [TOWER, start])
        assert before < killed_at < before + expected
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND ts >= ?",
                                     [TOWER, start]) >= before + expected, timeout_s=120)
            time.sleep(2)  # any duplicate would arrive in the next batches
        finally:
            second.send_signal(signal.SIGTERM)
            output = second.communicate(timeout=60)[0]
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 0, output
    assert _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND ts >= ?",
                  [TOWER, start]) == before + expected
    assert _count(settings, "SELECT count(*) FROM lake.telemetry_reject WHERE source = 'mqtt'") == 0
    assert "quarantined" in output  # the summary on SIGTERM


def test_a_throughput_smoke_of_senml_batches(platform):
    settings, port, password = platform
    metrics = ("NEE", "Rg", "Tair", "VPD", "Ustar")
    packs = []
    for k in range(40):  # 40 packs x 10 half-hours x 5 metrics = 2,000 readings
        base = _half_hour(200 - 5 * k)
        records = [{"bn": f"{TOWER}:", "bt": base.replace(tzinfo=timezone.utc).timestamp()}]
        records += [{"n": m, "t": 1800 * i, "v": 0.3 + i * 0.01} for i in range(10) for m in metrics]
        packs.append(records)
    stop, runner, counters = _ingest_until(settings, port, len(packs), late_window=timedelta(days=30))
    try:
        _publish(port, password, packs)
        _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry_reject WHERE source = 'mqtt'") > 0
                  or _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND ts >= ?",
                            [TOWER, _half_hour(200)]) >= 2000)
    finally:
        stop.set()
        runner.join(timeout=60)
    c = counters["c"]
    assert (c.messages, c.readings) == (40, 2000)
    assert c.inserted + c.skipped == 2000 and c.rejected == 0


def test_the_compaction_job_merges_what_live_ingestion_wrote(platform):
    from carbonlib.reporting import pipelines

    settings, port, password = platform
    stop, runner, counters = _ingest_until(settings, port, 0)
    try:
        for k in range(6):  # six messages, each committed in a batch of its own: six small files
            _publish(port, password, [{"metric": "Tair", "ts": _half_hour(10 + k).isoformat() + "Z", "value": 9.0}])
            _wait_for(lambda: counters.get("c") is not None or _count(
                settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND metric = 'Tair' AND ts >= ?",
                [TOWER, _half_hour(10 + k)]) >= k + 1)
    finally:
        stop.set()
        runner.join(timeout=60)
    with Lake.open(settings, read_only=True) as opened:
        checksum = opened.checksums(tables=("telemetry",))
    outcome = pipelines.compact_lake(settings, datetime.now(timezone.utc))
    assert "6 inlined telemetry row(s) written to Parquet" in outcome  # small batches live inlined in the catalog
    with Lake.open(settings, read_only=True) as opened:
        assert opened.checksums(tables=("telemetry",)) == checksum
    assert "0 inlined" in pipelines.compact_lake(settings, datetime.now(timezone.utc))
    assert "compaction" in pipelines.load_schedule().jobs


def test_wrong_credentials_are_refused_and_a_device_cannot_speak_for_another(platform):
    settings, port, password = platform
    for username, secret in ((TOWER, password + "x"), ("T-NOT-REGISTERED", password), (TOWER, "")):
        with pytest.raises(Exception, match="[Nn]ot authori[sz]ed|[Bb]ad user name or password"):
            _publish(port, secret, [{"metric": "Tair", "ts": _half_hour(1).isoformat() + "Z", "value": 1.0}],
                     device=username)
    stop, runner, _ = _ingest_until(settings, port, 0)
    try:
        other = "T-S430181-01"  # another tower: the ACL gives each device its own topic only, the broker drops the rest
        forged = [{"topic": f"carbon/telemetry/{other}", "qos": 1,
                   "payload": json.dumps({"metric": "Tair", "ts": _half_hour(1).isoformat() + "Z", "value": 33.3})}]
        publish.multiple(forged, hostname="127.0.0.1", port=port, auth={"username": TOWER, "password": password})
        _publish(port, password, [{"metric": "Tair", "ts": _half_hour(1).isoformat() + "Z", "value": 12.5}])
        _wait_for(lambda: _count(settings, "SELECT count(*) FROM lake.telemetry WHERE device_id = ? AND value = 12.5",
                                 [TOWER]) == 1)
    finally:
        stop.set()
        runner.join(timeout=60)
    assert _count(settings, "SELECT count(*) FROM lake.telemetry WHERE value = 33.3") == 0
    assert _count(settings, "SELECT count(*) FROM lake.telemetry_reject WHERE payload LIKE '%33.3%'") == 0
