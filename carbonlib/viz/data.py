"""What the dashboards read, held in memory per lake snapshot and shared by every session.

A dashboard interaction must not wait for the lake: the roll-ups a view shows — the
``account`` figures of the current method, the org tree, devices, metric units and the
``telemetry_daily`` series — are read once into a :class:`Rollups` and then filtered in
memory.  :func:`rollups` returns the copy for the lake's current snapshot; it reads again
only when one of :data:`ROLLUP_TABLES` changed since (one catalog query to find out), so
new telemetry alone, which arrives every few seconds, never reloads the accounts.

The live part of the monitor — the newest readings of each device — is not a roll-up: it
is aggregated in SQL over a recent window of raw telemetry (:func:`device_status`), which
DuckLake prunes to the newest files, and cached per snapshot.

Readers return tCO2e as stored in ``account`` (``value`` with its ``unit``).  Caches are
module-level, so a ``panel serve`` process shares them across sessions; a Voila kernel loads
its copy while it is preheated, before the request arrives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pandas as pd

from ..accounting import accounts, caps, views
from ..lake import Lake
from ..lake.sql import marks
from ..settings import Settings, load_settings

#: Tables whose change reloads :class:`Rollups`.
ROLLUP_TABLES = ("account", "org", "org_change", "device", "metric", "telemetry_daily")
#: Hours of raw telemetry behind the newest rolled-up day that the monitor reads.
RECENT_HOURS = 72
#: Columns of :meth:`Rollups.figures` (as :func:`carbonlib.accounting.accounts.account_figures`).
FIGURE_COLUMNS = ["item", "value", "unit", "basis", "snapshot_id", "ci95_low", "ci95_high", "uncertainty"]

_lock = threading.Lock()
_rollups: dict[str, "Rollups"] = {}
_status: dict[tuple[str, int], "DeviceStatus"] = {}
_alerts: dict[tuple[str, int], pd.DataFrame] = {}


@dataclass
class Rollups:
    """Account figures, org tree, devices and daily telemetry of one lake snapshot, in memory.

    ``accounts``: account rows of :data:`carbonlib.accounting.accounts.METHOD_VERSION` (org_id, period,
    period_start, item, value, unit, basis, snapshot_id), with the cap utilisation of regions
    (:func:`carbonlib.accounting.caps.regional_utilisation`, over each year's tree); ``tree``: today's
    :func:`carbonlib.accounting.views.org_tree`;
    ``devices``: table ``device``; ``units``: metric → unit; ``coords``: latitude/longitude by
    org_id; ``daily_metrics``: metrics that have a daily roll-up.
    """

    snapshot_id: int
    tree: pd.DataFrame
    accounts: pd.DataFrame
    devices: pd.DataFrame
    units: dict[str, str]
    coords: pd.DataFrame
    daily_metrics: list[str]
    checked_snapshot: int = 0
    _by_org_period: dict = field(default_factory=dict, repr=False)
    _wide: dict = field(default_factory=dict, repr=False)
    _monthly: dict = field(default_factory=dict, repr=False)
    _daily: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, lake: Lake, snapshot: int) -> "Rollups":
        """Read the roll-ups of ``lake`` at ``snapshot`` (pinned, so all parts agree)."""
        frame = lake.query(f"SELECT org_id, period, period_start, item, value, unit, basis, snapshot_id, ci95_low, "
                           f"ci95_high, uncertainty FROM {lake.relation('account', snapshot)} WHERE method_version = ? "
                           "AND NOT starts_with(item, ?) ORDER BY org_id, period, item",
                           [accounts.METHOD_VERSION, accounts.U95])
        tree = views.org_tree(lake, snapshot)
        years = frame.period.str[:4]  # each year's regions as the accounts rolled it up (its own org tree)
        regional = [caps.regional_utilisation(frame[years == year], accounts.year_tree(lake, int(year), snapshot))
                    for year in sorted(years.unique())]
        frame = pd.concat([frame, *regional], ignore_index=True).sort_values(
            ["org_id", "period", "item"], ignore_index=True)
        devices = lake.query(f"SELECT * FROM {lake.relation('device', snapshot)} ORDER BY device_id")
        units = lake.query(f"SELECT metric, unit FROM {lake.relation('metric', snapshot)}")
        coords = lake.query(f"SELECT org_id, latitude, longitude FROM {lake.relation('org', snapshot)}")
        metrics = lake.query(f"SELECT DISTINCT metric FROM {lake.relation('telemetry_daily', snapshot)} ORDER BY metric")
        rollups = cls(snapshot, tree, frame, devices, dict(zip(units.metric, units.unit)),
                      coords.set_index("org_id"), metrics.metric.tolist(), checked_snapshot=snapshot)
        rollups._by_org_period = frame.groupby(["org_id", "period"], sort=False).indices
        return rollups

    # ---------------------------------------------------------------- accounts
    def periods(self, org_id: str, *, annual_only: bool = False) -> list[str]:
        """Account periods of ``org_id``: years newest first, then quarters and months in order."""
        found = {period for org, period in self._by_org_period if org == org_id}
        if not found:
            raise ValueError(f"the lake has no accounts of org {org_id} with method {accounts.METHOD_VERSION}. "
                             "Fix: compute them (`carbon accounts build`, or `carbon demo build`).")
        annual = sorted((p for p in found if len(p) == 4), reverse=True)
        return annual if annual_only else annual + sorted(p for p in found if len(p) != 4)

    def figures(self, org_id: str, period: str) -> pd.DataFrame:
        """The figures :func:`carbonlib.accounting.accounts.account_figures` returns for ``org_id`` and ``period``."""
        rows = self._by_org_period.get((org_id, period))
        if rows is None:
            return pd.DataFrame(columns=FIGURE_COLUMNS)
        return self.accounts.iloc[rows][FIGURE_COLUMNS].reset_index(drop=True)

    def wide(self, org_ids: list[str], period: str) -> pd.DataFrame:
        """Figures of several orgs in one period: one row per org_id (in the given order), one column per item."""
        if period not in self._wide:
            part = self.accounts[self.accounts.period == period]
            self._wide[period] = part.pivot_table(index="org_id", columns="item", values="value", aggfunc="sum")
        return self._wide[period].reindex(pd.Index(org_ids, name="org_id"))

    def monthly(self, org_ids: list[str], year: str, items: tuple[str, ...]) -> pd.DataFrame:
        """Monthly figures of ``items`` for orgs in ``year``: org_id, month (first day), item, value."""
        if year not in self._monthly:
            months = self.accounts[(self.accounts.period.str.len() == 7) & self.accounts.period.str.startswith(year)]
            self._monthly[year] = months.rename(columns={"period_start": "month"})[["org_id", "month", "item", "value"]]
        part = self._monthly[year]
        chosen = part[part.org_id.isin(org_ids) & part.item.isin(items)]
        return chosen.sort_values(["month", "org_id", "item"], kind="stable").reset_index(drop=True)

    # ---------------------------------------------------------------- telemetry roll-up
    def daily(self, lake: Lake, device_ids: list[str], metric: str, year: str) -> pd.DataFrame:
        """telemetry_daily of ``metric`` in ``year`` for devices: device_id, day, total, mean, good_share.

        One read per (metric, year), pinned to this snapshot; later calls filter in memory.
        """
        key = (metric, year)
        if key not in self._daily:
            self._daily[key] = lake.query(
                f"SELECT device_id, day, total, mean, good_share FROM {lake.relation('telemetry_daily', self.snapshot_id)} "
                "WHERE metric = ? AND year(day) = ? ORDER BY device_id, day", [metric, int(year)])
        part = self._daily[key]
        return part[part.device_id.isin(device_ids)].reset_index(drop=True)


def _lake_key(settings: Settings) -> str:
    """Which lake: its catalog and data path."""
    return f"{settings.catalog_uri}|{settings.data_uri}"


def rollups(lake: Lake) -> Rollups:
    """The roll-ups of ``lake``'s current snapshot (or its pinned one), shared across sessions.

    Reuses the cached copy when none of :data:`ROLLUP_TABLES` changed since it was read.
    """
    snapshot = lake.snapshot_id()
    key = _lake_key(lake.settings) + ("" if lake.pinned_snapshot is None else f"@{lake.pinned_snapshot}")
    with _lock:
        cached = _rollups.get(key)
        if cached is not None and cached.checked_snapshot <= snapshot and (
                cached.checked_snapshot == snapshot or not lake.tables_changed(cached.checked_snapshot, snapshot, ROLLUP_TABLES)):
            cached.checked_snapshot = snapshot
            return cached
        fresh = Rollups.load(lake, snapshot)
        _rollups[key] = fresh
        return fresh


# ----------------------------------------------------------------------------- live status
@dataclass(frozen=True)
class DeviceStatus:
    """Per device and metric, the newest reading in the recent window; one lake snapshot.

    ``latest``: device_id, metric, last_ts, last_value, readings, good (readings with qc = 0);
    ``last_daily``: device_id → newest ``last_ts`` of its daily roll-up (devices silent lately).
    """

    snapshot_id: int
    window_start: pd.Timestamp
    latest: pd.DataFrame
    last_daily: pd.Series


def device_status(lake: Lake, hours: int = RECENT_HOURS) -> DeviceStatus:
    """Newest reading per device and metric since ``max(telemetry_daily.day) - hours`` (SQL aggregate).

    The ``ts`` filter lets DuckLake skip every older file (min/max statistics), so the cost
    does not grow with the lake.  Cached per snapshot.
    """
    return _per_snapshot(_status, lake, lambda snapshot: _read_status(lake, snapshot, hours))


def _read_status(lake: Lake, snapshot: int, hours: int) -> DeviceStatus:
    daily = lake.relation("telemetry_daily", snapshot)
    last_daily = lake.query(f"SELECT device_id, max(last_ts) AS last_daily FROM {daily} GROUP BY device_id")
    newest_day = lake.query(f"SELECT max(day) AS d FROM {daily}").d.iloc[0]
    start = (pd.Timestamp("1970-01-01") if pd.isna(newest_day)
             else pd.Timestamp(newest_day) + pd.Timedelta(days=1) - pd.Timedelta(hours=hours))
    latest = lake.query(
        f"SELECT device_id, metric, max(ts) AS last_ts, arg_max(value, ts) AS last_value, count(*) AS readings, "
        f"count(*) FILTER (WHERE qc = 0) AS good FROM {lake.relation('telemetry', snapshot)} WHERE ts >= ? "
        "GROUP BY device_id, metric ORDER BY device_id, metric", [start.to_pydatetime()])
    return DeviceStatus(snapshot, start, latest, last_daily.set_index("device_id").last_daily)


def _per_snapshot(cache: dict, lake: Lake, read):
    """``read(snapshot)`` of the lake's current snapshot, kept in ``cache`` (one entry per lake: an older
    snapshot's goes) and shared by every session."""
    snapshot = lake.snapshot_id()
    key = (_lake_key(lake.settings), snapshot)
    with _lock:
        if key in cache:
            return cache[key]
    value = read(snapshot)
    with _lock:
        for old in [k for k in cache if k[0] == key[0]]:
            del cache[old]
        cache[key] = value
    return value


def open_alerts(lake: Lake, orgs: list[str]) -> pd.DataFrame:
    """The open alerts of ``orgs`` (:func:`carbonlib.alerts.lifecycle.alerts`, oldest first) at the lake's current
    snapshot; every open alert is read once per snapshot and shared, so a page refreshing on a timer does not
    query the lake each time."""
    from ..alerts import lifecycle

    every = _per_snapshot(_alerts, lake, lambda snapshot: lifecycle.alerts(lake, snapshot=snapshot))
    return every[every.org_id.isin(orgs)].reset_index(drop=True)


def status_table(status: DeviceStatus, devices: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per device: last_seen, age_h, status (online/late/offline), good_share and its latest values.

    Status is judged against the wall clock ``now`` (naive UTC, default the current time), so when
    every feed stops every device turns late, then offline: online when the age is at most 2
    reporting intervals (``interval_s``), late up to 12 intervals, else offline (also when never
    seen).  ``good_share`` is the share of readings with qc = 0 in the recent window (NaN when none).
    """
    now = pd.Timestamp.now(tz="UTC").tz_localize(None) if now is None else pd.Timestamp(now)
    out = devices[["device_id", "org_id", "kind", "interval_s"]].reset_index(drop=True)
    latest = status.latest[status.latest.device_id.isin(out.device_id)]
    per_device = latest.groupby("device_id").agg(last_recent=("last_ts", "max"), readings=("readings", "sum"),
                                                 good=("good", "sum"))
    out = out.join(per_device, on="device_id").join(status.last_daily, on="device_id")
    out["last_seen"] = pd.to_datetime(out[["last_daily", "last_recent"]].max(axis=1))
    out["good_share"] = out.good / out.readings
    age_s = (now - out.last_seen).dt.total_seconds().clip(lower=0)
    out["age_h"] = age_s / 3600
    out["status"] = "offline"
    out.loc[age_s <= 12 * out.interval_s, "status"] = "late"
    out.loc[age_s <= 2 * out.interval_s, "status"] = "online"
    return out.drop(columns=["last_daily", "last_recent", "readings", "good"])


def recent_series(lake: Lake, status: DeviceStatus, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], pd.DataFrame]:
    """Raw readings (ts, value) of (device_id, metric) ``pairs`` in ``status``'s window and snapshot; one query."""
    wanted = [(device, metric) for device, metric in pairs if device and metric]
    found = {pair: pd.DataFrame({"ts": pd.Series(dtype="datetime64[us]"), "value": pd.Series(dtype=float)}) for pair in pairs}
    if not wanted:
        return found
    devices = sorted({device for device, _ in wanted})
    # a plain IN list is pushed into the scan; (device, metric) pairs are not
    rows = lake.query(f"SELECT device_id, metric, ts, value FROM {lake.relation('telemetry', status.snapshot_id)} "
                      f"WHERE ts >= ? AND device_id IN ({marks(devices)}) ORDER BY device_id, metric, ts",
                      [status.window_start.to_pydatetime(), *devices])
    for pair, part in rows.groupby(["device_id", "metric"], sort=False):
        if pair in found:
            found[pair] = part[["ts", "value"]].reset_index(drop=True)
    return found


_shared: dict[str, Lake] = {}


def shared_lake() -> Lake:
    """One read-only lake connection per process (settings from the environment), for dashboard servers.

    Opening a lake costs ~0.2 s (extension load and catalog attach); a ``panel serve``
    process reuses this one for every session.  Reads without a pinned snapshot see each
    new commit of other processes.
    """
    settings = load_settings()
    key = _lake_key(settings)
    with _lock:
        if key not in _shared:
            _shared[key] = Lake.open(settings, read_only=True)
        return _shared[key]
