"""Live ingestion from an MQTT broker (paho-mqtt against Mosquitto): at-least-once in, exactly once in the lake.

The ingester subscribes to ``carbon/telemetry/+`` with QoS 1 in a persistent session
(``clean_session=False``) and acknowledges a message only after the batch holding it is committed
(paho's manual acknowledgement).  So:

* a killed ingester (``kill -9``) loses nothing: the broker delivers every unacknowledged message
  again when it reconnects;
* nothing is counted twice: a redelivered or re-sent reading has the key (device, metric, ts) and
  value of a row already in the lake and is skipped by the writer;
* a reading that comes back with another value is a conflict, quarantined with the lake's reason;
  one from more than ``future_s`` ahead of the clock or older than ``late_window`` is quarantined
  as a replay; late and out-of-order readings inside the window are simply accepted;
* a reading taken when its device was not installed and active (after a removal, loss or
  retirement, before its installation: the registry's state at the reading's time, a rule of the
  lake writer) is quarantined with the reason, whatever the broker let through; a reading taken
  before a retirement and delivered after it (the broker kept it for the ingester) is kept.

Every ``batch_s`` seconds the readings received are written as one all-or-nothing batch
(:meth:`carbonlib.lake.Lake.append`, quarantine mode); the daily roll-up is then refreshed from the
batch's first day and the accounts incrementally (:func:`carbonlib.accounting.accounts.refresh_accounts`),
so the monitor and the overview follow within seconds.  The small files this makes are merged by
the scheduled ``compact`` job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from ..accounting import accounts, views
from ..devices.credentials import INGESTER_USER, TOPIC_PREFIX
from ..lake import Lake
from ..settings import Settings
from .messages import parse

log = logging.getLogger(__name__)
_COLUMNS = ["device_id", "metric", "ts", "value", "qc", "src_refused", "src_topic", "src_payload"]


@dataclass
class BrokerAddress:
    """Where the broker listens and how the ingester logs in (loopback by default)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = INGESTER_USER
    password: str | None = None
    client_id: str = "carbon-ingester"


@dataclass
class Counters:
    """What the ingester has done since it started."""

    messages: int = 0
    readings: int = 0
    inserted: int = 0
    skipped: int = 0
    rejected: int = 0
    batches: int = 0
    last_commit: datetime | None = None
    latencies_s: list[float] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class MqttIngester:
    """Subscribe, batch, commit, acknowledge (see the module doc); :meth:`run` until ``stop`` is set."""

    def __init__(self, settings: Settings, broker: BrokerAddress, *, batch_s: float = 2.0,
                 late_window: timedelta = timedelta(days=7), future_s: float = 300.0, refresh_accounts: bool = True):
        self.settings, self.broker, self.batch_s = settings, broker, batch_s
        self.late_window, self.future_s, self.refresh = late_window, future_s, refresh_accounts
        self.counters = Counters()
        #: Seconds a lake connection serves before it is reopened: a DuckDB connection that commits every few
        #: seconds keeps growing its caches (about 6 MiB a minute at 3,000 readings/s, measured by
        #: benchmarks/mqtt.py --soak-minutes 10); reopening (~0.2 s) keeps the ingester's memory flat.
        self.connection_max_age_s = 300.0
        self._lake: Lake | None = None
        self._lake_opened = float("-inf")
        self._inbox: queue.Queue = queue.Queue()
        self._connected = threading.Event()
        self._client = None

    # -------------------------------------------------------------- MQTT callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the ingester: %s", reason_code)
            return
        client.subscribe(f"{TOPIC_PREFIX}/+", qos=1)
        self._connected.set()

    def _on_message(self, client, userdata, message) -> None:
        self._inbox.put((message, _now(), time.time()))

    def connect(self, timeout_s: float = 30.0) -> None:
        """Connect with a persistent session; raises ConnectionError naming the broker when it does not answer."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.broker.client_id, clean_session=False,
                             manual_ack=True)
        client.username_pw_set(self.broker.username, self.broker.password)
        client.on_connect, client.on_message = self._on_connect, self._on_message
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=30)
        except OSError as error:
            raise ConnectionError(f"MQTT broker {self.broker.host}:{self.broker.port} does not answer ({error}); "
                                  "start it (mosquitto -c <config from carbon ingest broker-config>)") from None
        client.loop_start()
        if not self._connected.wait(timeout_s):
            client.loop_stop()
            raise ConnectionError(f"MQTT broker {self.broker.host}:{self.broker.port} refused the ingester's login "
                                  f"as {self.broker.username!r} (wrong password?)")
        self._client = client

    def close(self) -> None:
        if self._lake is not None:
            self._lake.close()
            self._lake = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    # -------------------------------------------------------------- batches (the ingester's own thread)
    def _drain(self) -> list:
        taken = []
        while True:
            try:
                taken.append(self._inbox.get_nowait())
            except queue.Empty:
                return taken

    def _rows(self, taken: list) -> pd.DataFrame:
        rows = []
        for message, received, _ in taken:
            for row in parse(message.topic, message.payload, received):
                if row["src_refused"] is not None:  # the row's own fields cannot say what came: keep the message
                    row = {**row, "src_topic": message.topic,
                           "src_payload": message.payload[:2000].decode("utf-8", "replace")}
                rows.append(row)
        frame = pd.DataFrame(rows, columns=_COLUMNS)
        # at-least-once delivery: the same reading may come twice in one batch; keep one (another value is a conflict)
        same = ["device_id", "metric", "ts", "value", "qc"]
        repeated = frame.duplicated(same) & frame.src_refused.isna() & frame.ts.notna()
        self.counters.skipped += int(repeated.sum())
        frame = frame[~repeated].reset_index(drop=True)
        now = _now()
        refusals = frame.src_refused.copy()
        stamps = pd.to_datetime(frame.ts)
        late = stamps < now - self.late_window
        ahead = stamps > now + timedelta(seconds=self.future_s)
        refusals = refusals.where(refusals.notna() | ~late, f"older than the late window ({self.late_window}): replay?")
        refusals = refusals.where(refusals.notna() | ~ahead,
                                  f"more than {self.future_s:g} s in the future: clock error or replay")
        return frame.assign(src_refused=refusals, ts=stamps)

    def commit(self) -> int:
        """Write what has arrived as one batch, then acknowledge it; the number of messages committed."""
        taken = self._drain()
        if not taken:
            return 0
        frame = self._rows(taken)
        if self._lake is not None and time.monotonic() - self._lake_opened > self.connection_max_age_s:
            self._lake.close()
            self._lake = None
        if self._lake is None:  # one connection for many batches: opening the lake costs more than a batch
            self._lake, self._lake_opened = Lake.open(self.settings), time.monotonic()
        if frame.src_refused.isna().all():
            frame = frame.drop(columns="src_refused")
        result = self._lake.append("telemetry", frame, source="mqtt", on_error="quarantine")
        if result.inserted or result.retried:  # the days the batch touched (live data: today, late stragglers)
            stamps = frame.ts.dropna()
            views.refresh_telemetry_daily(self._lake, since=str(stamps.min().date()), until=str(stamps.max().date()))
            if self.refresh:
                accounts.refresh_accounts(self._lake)
        for message, _, _ in taken:  # only now: a crash before this line makes the broker deliver them again
            self._client.ack(message.mid, message.qos)
        done = time.time()
        c = self.counters
        c.messages += len(taken)
        c.readings += len(frame)
        c.inserted, c.skipped, c.rejected = c.inserted + result.inserted, c.skipped + result.skipped, \
            c.rejected + result.rejected
        c.batches += 1
        c.last_commit = _now()
        c.latencies_s.extend(done - arrived for _, _, arrived in taken)
        del c.latencies_s[:-100_000]
        return len(taken)

    def run(self, stop: threading.Event, on_commit=None, ready: threading.Event | None = None) -> Counters:
        """Connect (then set ``ready``), commit every ``batch_s`` seconds until ``stop`` is set, and once more on the
        way out."""
        self.connect()
        if ready is not None:
            ready.set()
        try:
            while not stop.wait(self.batch_s):
                if self.commit() and on_commit:
                    on_commit(self.counters)
            self.commit()
        finally:
            self.close()
        return self.counters
