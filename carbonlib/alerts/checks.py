"""What each alert rule kind looks for, judged against the wall clock (``Context.now``).

A check returns :class:`Finding` s — one per subject (device, org, job) that is in trouble now;
the lifecycle (:mod:`.lifecycle`) turns "found" / "no longer found" into opened and cleared
alerts.  Every check reads the lake at one snapshot and only the recent window it needs (the
``ts`` filters let DuckLake skip older files).

Kinds and their parameters (:data:`PARAMETERS`, defaults shown there):

* ``device_silent`` — an active device has sent nothing for more than ``intervals`` times its
  reporting interval (``device.interval_s``); never-seen devices count from their installation.
* ``stuck_value`` — the newest ``readings`` readings of a metric are all the same non-zero value
  (a frozen sensor or logger; zero runs are left alone: a closed plant's meter and night-time
  radiation read 0); ``metrics`` limits the check (empty: all).
* ``qc_share`` — under ``below_pct`` % of a device's readings of the last ``hours`` have qc = 0
  (at least ``min_readings`` readings).
* ``rejects_spike`` — more than ``above`` telemetry records quarantined in the last ``hours``.
* ``calibration_overdue`` — an active device past its calibration due date (:mod:`carbonlib.devices`).
* ``cap_overrun`` — the year-end projection of a capped org exceeds its cap after offsets
  (:func:`carbonlib.accounting.caps.cap_status`, this year as of today).
* ``job_failed`` — the newest run of a scheduled job within ``hours`` failed (audit log).
* ``ledger_overdue`` — an enterprise that reported in the year before has no ledger entry for a month whose
  deadline (day ``deadline_day`` of the next month) has passed, among the newest ``months`` such months
  (:func:`carbonlib.ledger.supervision.missing`): the reminder to its data officers.
* ``review_waiting`` — ledger entries of an org awaiting review for more than ``days`` days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from ..lake import Lake

#: Parameters of each rule kind and their defaults (a rules file may set them).
PARAMETERS: dict[str, dict] = {
    "device_silent": {"intervals": 3},
    "stuck_value": {"readings": 12, "metrics": []},
    "qc_share": {"hours": 24.0, "below_pct": 80.0, "min_readings": 12},
    "rejects_spike": {"hours": 1.0, "above": 100},
    "calibration_overdue": {},
    "cap_overrun": {},
    "job_failed": {"hours": 48.0},
    "ledger_overdue": {"deadline_day": 15, "months": 3},
    "review_waiting": {"days": 10.0},
}
#: The least value of each numeric parameter (a rules file giving less is refused).
MINIMUM = {"intervals": 1, "readings": 2, "min_readings": 1, "above": 0, "hours": 0.1, "below_pct": 0.1,
           "deadline_day": 1, "months": 1, "days": 0.1}


@dataclass(frozen=True)
class Finding:
    """A subject in trouble: ``facts`` are the figures its message is made of (JSON-able)."""

    subject: str
    org_id: str
    facts: dict


@dataclass
class Context:
    """What checks read: the lake, the time (naive UTC), the registry at that time (:func:`carbonlib.devices.registry.devices`),
    the root of the org tree (platform-wide alerts belong to it) and the audit log's ``entries``."""

    lake: Lake
    now: datetime
    devices: pd.DataFrame
    root: str
    audit_entries: Callable[..., list] | None = None

    @property
    def active(self) -> pd.DataFrame:
        return self.devices[self.devices.status == "active"]


def _stamp(at) -> str:
    return "never" if at is None or pd.isna(at) else f"{pd.Timestamp(at):%Y-%m-%d %H:%M}"


def _active_ids(context: Context) -> list[str]:
    return sorted(context.active.device_id)


def device_silent(context: Context, intervals: int) -> list[Finding]:
    active = context.active
    if active.empty:
        return []
    lake, now = context.lake, context.now
    window = now - timedelta(seconds=int(intervals * active.interval_s.max()) + 86400)
    seen = lake.query(
        f"SELECT device_id, max(last_ts) AS last_ts FROM ("
        f"SELECT device_id, max(last_ts) AS last_ts FROM {lake.relation('telemetry_daily')} GROUP BY device_id "
        f"UNION ALL SELECT device_id, max(ts) FROM {lake.relation('telemetry')} WHERE ts >= ? AND ts <= ? "
        "GROUP BY device_id) GROUP BY device_id", [window, now]).set_index("device_id").last_ts
    found = []
    for device in active.itertuples(index=False):
        last = seen.get(device.device_id)
        last = None if last is None or pd.isna(last) or last > now else pd.Timestamp(last)
        start = last if last is not None else pd.Timestamp(device.since)
        silent_s = (pd.Timestamp(now) - start).total_seconds()
        if silent_s > intervals * device.interval_s:
            facts = {"device": device.device_id, "silent_h": round(silent_s / 3600, 1), "intervals": intervals,
                     "last_seen": _stamp(last), "interval_s": int(device.interval_s)}
            if last is None:
                facts |= {"variant": "never", "installed": _stamp(start)}
            found.append(Finding(device.device_id, device.org_id, facts))
    return found


def stuck_value(context: Context, readings: int, metrics: list[str]) -> list[Finding]:
    active = context.active
    if active.empty or readings < 2:
        return []
    lake, now = context.lake, context.now
    window = now - timedelta(seconds=int(readings * active.interval_s.max() * 2))
    runs = lake.query(
        f"SELECT device_id, metric, count(*) AS n, min(value) AS low, max(value) AS high, min(ts) AS since FROM ("
        f"SELECT device_id, metric, ts, value FROM {lake.relation('telemetry')} "
        "WHERE ts >= ? AND ts <= ? AND list_contains(?::VARCHAR[], device_id) "
        "AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], metric)) "
        "QUALIFY row_number() OVER (PARTITION BY device_id, metric ORDER BY ts DESC) <= ?) "
        "GROUP BY device_id, metric HAVING count(*) = ? AND min(value) = max(value) AND min(value) <> 0 "
        "ORDER BY device_id, metric",
        [window, now, _active_ids(context), metrics, metrics, readings, readings])
    orgs = context.devices.set_index("device_id").org_id
    return [Finding(f"{row.device_id}:{row.metric}", orgs[row.device_id], {
        "device": row.device_id, "metric": row.metric, "value": float(row.low), "readings": int(row.n),
        "since": _stamp(row.since)}) for row in runs.itertuples(index=False)]


def qc_share(context: Context, hours: float, below_pct: float, min_readings: int) -> list[Finding]:
    lake, now = context.lake, context.now
    shares = lake.query(
        f"SELECT device_id, count(*) AS n, count(*) FILTER (WHERE qc = 0) AS good FROM {lake.relation('telemetry')} "
        "WHERE ts >= ? AND ts <= ? AND list_contains(?::VARCHAR[], device_id) GROUP BY device_id ORDER BY device_id",
        [now - timedelta(hours=hours), now, _active_ids(context)])
    orgs = context.devices.set_index("device_id").org_id
    found = []
    for row in shares.itertuples(index=False):
        good_pct = 100.0 * row.good / row.n
        if row.n >= min_readings and good_pct < below_pct:
            found.append(Finding(row.device_id, orgs[row.device_id], {
                "device": row.device_id, "good_pct": round(good_pct, 1), "below_pct": below_pct, "hours": hours,
                "readings": int(row.n)}))
    return found


def rejects_spike(context: Context, hours: float, above: int) -> list[Finding]:
    lake, now = context.lake, context.now
    sources = lake.query(
        f"SELECT source, count(*) AS n FROM {lake.relation('telemetry_reject')} WHERE received_at >= ? "
        "GROUP BY source ORDER BY n DESC, source", [now - timedelta(hours=hours)])
    total = int(sources.n.sum()) if len(sources) else 0
    if total <= above:
        return []
    top = "; ".join(f"{source}: {n}" for source, n in zip(sources.source[:3], sources.n[:3]))
    return [Finding("telemetry_reject", context.root, {"rejects": total, "hours": hours, "above": above,
                                                       "sources": top})]


def calibration_overdue(context: Context) -> list[Finding]:
    overdue = context.devices[context.devices.calibration_overdue]
    return [Finding(d.device_id, d.org_id, {"device": d.device_id, "due": f"{d.calibration_due:%Y-%m-%d}"})
            for d in overdue.itertuples(index=False)]


def cap_overrun(context: Context) -> list[Finding]:
    from ..accounting import caps

    lake, year = context.lake, context.now.year
    orgs = lake.read("cap", columns=["org_id"], where="year = ?", params=[year]).org_id
    found = []
    for org in sorted(set(orgs)):
        try:
            status = caps.cap_status(lake, org, year, as_of=context.now.date())
        except ValueError:  # no monthly accounts yet this year: nothing to project
            continue
        if status.alert:
            found.append(Finding(org, org, {"org": org, "year": year, "projected": f"{status.projected:,.0f}",
                                            "cap": f"{status.cap:,.0f}", "deficit": f"{status.deficit:,.0f}"}))
    return found


def job_failed(context: Context, hours: float) -> list[Finding]:
    if context.audit_entries is None:
        return []
    since = f"{context.now - timedelta(hours=hours):%Y-%m-%dT%H:%M:%S.%fZ}"  # as the audit log stores times
    newest: dict[str, object] = {}
    for entry in context.audit_entries(since=since, limit=20000):  # newest first
        if entry.object.startswith("job ") and entry.outcome in ("ok", "failed"):
            newest.setdefault(entry.object[4:], entry)
    return [Finding(job, context.root, {"job": job, "at": entry.at[:16].replace("T", " "), "detail": entry.detail[:300]})
            for job, entry in sorted(newest.items()) if entry.outcome == "failed"]


def ledger_overdue(context: Context, deadline_day: int, months: int) -> list[Finding]:
    from ..ledger import supervision

    overdue = supervision.missing(context.lake, context.now.date(), deadline_day=min(int(deadline_day), 31),
                                  months=int(months))
    found = []
    for org, rows in overdue.groupby("org_id", sort=True):
        found.append(Finding(org, org, {"org": org, "months": ", ".join(f"{m:%Y-%m}" for m in rows.month),
                                        "days": int(rows.days_overdue.max())}))
    return found


def review_waiting(context: Context, days: float) -> list[Finding]:
    from ..ledger import supervision

    entries = supervision.submissions(context.lake, context.now.date())
    waiting = entries[(entries.status == "submitted") & (entries.waiting_days > days)]
    return [Finding(org, org, {"org": org, "entries": len(rows), "days": int(rows.waiting_days.max())})
            for org, rows in waiting.groupby("org_id", sort=True)]


CHECKS: dict[str, Callable[..., list[Finding]]] = {
    "device_silent": device_silent, "stuck_value": stuck_value, "qc_share": qc_share, "rejects_spike": rejects_spike,
    "calibration_overdue": calibration_overdue, "cap_overrun": cap_overrun, "job_failed": job_failed,
    "ledger_overdue": ledger_overdue, "review_waiting": review_waiting,
}
