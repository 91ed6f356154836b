"""Live MQTT ingestion end to end (issue 11: ≥ 20,000 readings/s with SenML packs, ≥ 3,000 messages/s with one
reading per message, publish-to-visible-in-lake p95 ≤ 5 s, memory flat).

Builds the small demo lake in a scratch folder, configures and starts Debian's Mosquitto on a free
loopback port (``carbon ingest broker-config``), issues a flux tower's credentials and runs the
ingester (:class:`carbonlib.ingest.mqtt.MqttIngester`, batches every ``--batch-s``) in this process
while a publisher process (as a field gateway would be) offers, for ``--seconds`` seconds each:

1. ``senml``: ``--senml-rate`` packs of 100 readings (20 half-hours x 5 metrics) per second
   (default 200/s = 20,000 readings/s, the target);
2. ``single``: ``--single-rate`` one-reading messages per second (default 3,000/s, the target).

3. ``soak`` (with ``--soak-minutes``): SenML packs at ``--soak-rate`` per second for that many minutes,
   the ingester's resident memory sampled every 15 s (memory flat over a long run: ``rss_growth_mib``
   from the end of the first minute to the end).

Each phase reports readings/s and messages/s committed (from the first publish to the last
commit: below the offered rate when the ingester falls behind), the latency from a message's
arrival at the ingester to the commit of its batch (p50/p95 over every message; the broker hop on
loopback adds well under a millisecond), and the ingester process's peak RSS (MiB) at the start
and end of the phase (memory flat = no growth between phases).
Prints JSON.  Run from the repository root: ``.venv/bin/python benchmarks/mqtt.py``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402

from carbonlib.demo import build_demo  # noqa: E402
from carbonlib.devices import service as devices  # noqa: E402
from carbonlib.ingest import service  # noqa: E402
from carbonlib.ingest.mqtt import BrokerAddress, MqttIngester  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.security import Security  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402
from servers import free_port, mosquitto  # noqa: E402

TOWER = "T-BENCH"  # registered by the benchmark at a demo forest site, installed in 1990 (room for decades of slots)
METRICS = {"NEE": -3.0, "Rg": 200.0, "Tair": 15.0, "VPD": 6.0, "Ustar": 0.4}


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def publish_for(port: int, password: str, seconds: float, rate: float, kind: str, first_slot: int,
                result) -> None:
    """Publish ``rate`` messages/s of ``kind`` for ``seconds`` (in a process of its own, as a field gateway would);
    puts (messages, readings, start time) into ``result``."""
    make = senml_pack if kind == "senml" else single
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)

    def stamps(slot: int) -> float:
        return (now - timedelta(minutes=30 * (first_slot + slot))).timestamp()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{kind}")
    client.username_pw_set(TOWER, password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started, sent, readings, pending = time.time(), 0, 0, []
    while time.time() - started < seconds:
        wait = started + sent / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        payload, count = make(sent, stamps)
        pending.append(client.publish(f"carbon/telemetry/{TOWER}", payload, qos=1))
        sent, readings = sent + 1, readings + count
        if len(pending) >= 2000:
            pending.pop(0).wait_for_publish(timeout=60)
    for info in pending:
        info.wait_for_publish(timeout=120)
    client.loop_stop()
    client.disconnect()
    result.put((sent, readings, started))


def senml_pack(i: int, stamps) -> tuple[str, int]:
    base = stamps(i * 20)
    records = [{"bn": f"{TOWER}:", "bt": base}]
    records += [{"n": m, "t": 1800 * k, "v": v + (i % 5) * 0.01} for k in range(20) for m, v in METRICS.items()]
    return json.dumps(records), 100


def single(i: int, stamps) -> tuple[str, int]:
    metric = list(METRICS)[i % 5]
    moment = datetime.fromtimestamp(stamps(i // 5), tz=timezone.utc)
    return json.dumps({"metric": metric, "ts": moment.isoformat(), "value": METRICS[metric]}), 1


def phase(ingester: MqttIngester, port: int, password: str, seconds: float, rate: float, kind: str,
          first_slot: int) -> dict:
    """One publishing phase at ``rate`` messages/s; half-hour slots counted back from ``first_slot``."""
    ingester.counters.latencies_s.clear()
    done_before = ingester.counters.messages
    rss_before = peak_mib()
    result = multiprocessing.Queue()
    publisher = multiprocessing.Process(target=publish_for, args=(port, password, seconds, rate, kind, first_slot,
                                                                  result))
    publisher.start()
    sent, readings, started = result.get(timeout=seconds + 300)
    publisher.join(timeout=60)
    while ingester.counters.messages - done_before < sent:
        time.sleep(0.2)
    finished = ingester.counters.last_commit.replace(tzinfo=timezone.utc).timestamp()
    latencies = np.array(ingester.counters.latencies_s)
    return {"offered_messages_per_s": rate, "messages": sent, "readings": readings,
            "seconds": round(finished - started, 2),
            "tail_s": round(finished - started - seconds, 2),  # after the last publish: the last batch's wait and commit
            "messages_per_s": round(sent / (finished - started)), "readings_per_s": round(readings / (finished - started)),
            "latency_p50_s": round(float(np.percentile(latencies, 50)), 2),
            "latency_p95_s": round(float(np.percentile(latencies, 95)), 2),
            "peak_rss_mib_before": rss_before, "peak_rss_mib_after": peak_mib()}


def soak(ingester: MqttIngester, port: int, password: str, minutes: float, rate: float, first_slot: int) -> dict:
    """A long SenML phase; the ingester process's resident memory (MiB) every 15 s."""
    import psutil

    me, samples, done = psutil.Process(), [], threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not done.wait(15):
            samples.append((round(time.monotonic() - started), round(me.memory_info().rss / 2**20, 1)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        figures = phase(ingester, port, password, minutes * 60, rate, "senml", first_slot)
    finally:
        done.set()
        sampler.join()
    after_first_minute = [rss for at, rss in samples if at >= 60]
    return {**figures, "rss_mib_samples": samples,
            "rss_growth_mib": round(after_first_minute[-1] - after_first_minute[0], 1) if after_first_minute else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time of each phase (s)")
    parser.add_argument("--batch-s", type=float, default=2.0, help="the ingester's commit interval (s)")
    parser.add_argument("--senml-rate", type=float, default=200.0, help="SenML packs of 100 readings offered per s")
    parser.add_argument("--single-rate", type=float, default=3000.0, help="one-reading messages offered per s")
    parser.add_argument("--soak-minutes", type=float, default=0.0, help="length of the soak phase (0: none)")
    parser.add_argument("--soak-rate", type=float, default=30.0, help="SenML packs of 100 readings per s in the soak")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carbon-mqtt-bench-") as scratch:
        settings = load_settings(lake=Path(scratch) / "lake")
        build_demo(settings, "small", progress=False)
        port = free_port()
        with Security.open(settings) as security:
            config = service.broker_setup(security, port=port)
            with Lake.open(settings) as lake:
                lake.append("device", pd.DataFrame([dict(device_id=TOWER, org_id="S430181-01", kind="flux_tower",
                                                         model="IRGASON", serial_no="B1", interval_s=1800,
                                                         installed_on=date(1990, 1, 1))]))
            with mosquitto(config):
                password = devices.broker_credentials(security).issue(TOWER)
                secret = (devices.broker_credentials(security).folder / "ingester.secret").read_text().strip()
                ingester = MqttIngester(settings, BrokerAddress(port=port, password=secret), batch_s=args.batch_s,
                                        late_window=timedelta(days=366 * 37), refresh_accounts=False)
                stop, ready = threading.Event(), threading.Event()
                runner = threading.Thread(target=ingester.run, args=(stop,), kwargs={"ready": ready})
                runner.start()
                ready.wait(60)
                try:
                    senml = phase(ingester, port, password, args.seconds, args.senml_rate, "senml", first_slot=48)
                    singles = phase(ingester, port, password, args.seconds, args.single_rate, "single",
                                    first_slot=100_000)
                    long_run = (soak(ingester, port, password, args.soak_minutes, args.soak_rate, first_slot=120_000)
                                if args.soak_minutes else None)
                finally:
                    stop.set()
                    runner.join(timeout=120)
        print(json.dumps({"batch_s": args.batch_s, "senml_packs_of_100": senml, "one_reading_per_message": singles,
                          **({"soak": long_run} if long_run else {})}, indent=2))


if __name__ == "__main__":
    main()
