"""The device registry: lifecycle state, current instrument and calibration of every device (clause 8.2).

A row of table ``device`` is a **measurement point**: the place and kind of a measurement (the flux
tower of a site, the main electricity meter of a plant) whose series lives in ``telemetry`` under
its ``device_id``.  The physical instrument measuring there can change: a ``replaced`` event in
``device_event`` names the new instrument's serial number (and model, and calibration due date),
so the series continues on the same point while every reading can still be traced to the
instrument and the calibration that produced it (:func:`instrument_periods`, :func:`with_provenance`).

Lifecycle (GB/T 22239 IoT extension: 入库 stocked, 部署 installed, 维修 repaired, 丢失 lost,
报废 scrapped; clause 8.2 adds calibrated, replaced, removed, retired)::

    stocked --installed--> active --removed--> removed --installed--> active
    active --replaced--> active          (another instrument, same point)
    calibrated / repaired: the state stays
    stocked, active, removed --lost--> lost
    stocked, active, removed, lost --retired--> retired
    stocked, removed, lost, retired --scrapped--> scrapped   (terminal)

Only an **active** device's readings are accepted.  A device registered before the registry had
events (no event at all) counts as active from its ``installed_on`` date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd

from ..lake import Lake
from ..lake.schema import DEVICE_STATE_AFTER

STATES = ("stocked", "active", "removed", "lost", "retired", "scrapped")
#: event -> states it may follow.  ``None`` stands for a device without events yet.
ALLOWED_FROM: dict[str, tuple[str | None, ...]] = {
    "stocked": (None,),
    "installed": (None, "stocked", "removed"),
    "calibrated": ("stocked", "active", "removed"),
    "repaired": ("stocked", "active", "removed"),
    "replaced": ("active",),
    "removed": ("active",),
    "lost": ("stocked", "active", "removed"),
    "retired": ("stocked", "active", "removed", "lost"),
    "scrapped": ("stocked", "removed", "lost", "retired"),
}
#: event -> state after it (events not listed keep the state).
STATE_AFTER = DEVICE_STATE_AFTER
_ORDER = ["event_time", "event_id"]


class LifecycleError(ValueError):
    """An event that the device's state does not allow (the message names the state and what is allowed)."""


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def latest() -> datetime:
    """A moment after every event the lake may hold (events may be stamped up to a day ahead, as any time stamp)."""
    return _utc_now() + timedelta(days=1)


def next_state(state: str | None, event: str) -> str | None:
    """The state after ``event`` from ``state`` (None: no event yet); :class:`LifecycleError` when not allowed."""
    if event not in ALLOWED_FROM:
        raise LifecycleError(f"unknown lifecycle event {event!r}; events: {', '.join(ALLOWED_FROM)}")
    if state not in ALLOWED_FROM[event]:
        allowed = [e for e, sources in ALLOWED_FROM.items() if state in sources]
        raise LifecycleError(f"a device that is {state or 'registered without events'} cannot be {event}; "
                             f"possible now: {', '.join(allowed) or 'nothing (the device is scrapped)'}")
    return STATE_AFTER.get(event, state)


def _folded(device: pd.Series, events: pd.DataFrame, at: datetime) -> dict:
    """State, since, instrument and calibration of one device after its events up to ``at``."""
    state, since = None, None
    serial, model, due = device.serial_no, device.model, device.calibration_due
    calibrated_at = None
    for event in events.itertuples():
        if event.event_time > at:
            break
        if event.event_type in STATE_AFTER:
            state, since = STATE_AFTER[event.event_type], event.event_time
        if event.event_type in ("installed", "replaced") and isinstance(event.serial_no, str):
            serial, model = event.serial_no, event.model if isinstance(event.model, str) else model
        if event.event_type in ("calibrated", "replaced") and not pd.isna(event.calibration_due):
            due = event.calibration_due
        if event.event_type == "calibrated":
            calibrated_at = event.event_time
    if state is None:  # registered before the registry had events
        installed = pd.Timestamp(device.installed_on).to_pydatetime()
        state, since = ("active", installed) if installed <= at else ("stocked", None)
    return {"status": state, "since": since, "serial_no": serial, "model": model, "calibrated_at": calibrated_at,
            "calibration_due": None if pd.isna(due) else pd.Timestamp(due).date()}


def _events(lake: Lake, device_ids: list[str] | None = None) -> pd.DataFrame:
    return lake.query(f"SELECT * FROM {lake.relation('device_event')} WHERE ?::VARCHAR[] IS NULL "
                      "OR list_contains(?::VARCHAR[], device_id) ORDER BY device_id, event_time, event_id",
                      [device_ids, device_ids])


def devices(lake: Lake, *, at: datetime | None = None, orgs: list[str] | None = None,
            device_ids: list[str] | None = None) -> pd.DataFrame:
    """Every device (or those of ``orgs`` / ``device_ids``) with its state at ``at`` (UTC, default now).

    Columns: device_id, org_id, kind, vendor, interval_s, installed_on, latitude, longitude, status,
    since (UTC), serial_no and model of the instrument measuring now, calibrated_at, calibration_due,
    calibration_overdue (an active device past its due date).
    """
    # Default: now, counting an event service.record_event stamped a second ahead (recorded in the second of another).
    at = at or _utc_now() + timedelta(seconds=2)
    orgs = None if orgs is None else list(orgs)
    device_ids = None if device_ids is None else list(device_ids)
    table = lake.query(f"SELECT * FROM {lake.relation('device')} "
                       "WHERE (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], org_id)) "
                       "AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], device_id)) ORDER BY device_id",
                       [orgs, orgs, device_ids, device_ids])
    events = _events(lake, list(table.device_id))
    by_device = dict(tuple(events.groupby("device_id", sort=False))) if len(events) else {}
    rows = []
    for device in table.itertuples(index=False):
        device = pd.Series(device._asdict())
        folded = _folded(device, by_device.get(device.device_id, events.iloc[0:0]), at)
        rows.append({**{k: device[k] for k in ("device_id", "org_id", "kind", "vendor", "interval_s", "installed_on",
                                                "latitude", "longitude")}, **folded})
    columns = ["device_id", "org_id", "kind", "vendor", "interval_s", "installed_on", "latitude", "longitude", "status",
               "since", "serial_no", "model", "calibrated_at", "calibration_due"]
    frame = pd.DataFrame(rows, columns=columns)
    today = min(at, _utc_now()).date()
    frame["calibration_overdue"] = [status == "active" and due is not None and due < today
                                    for status, due in zip(frame.status, frame.calibration_due)]
    return frame


def state_of(lake: Lake, device_id: str, at: datetime | None = None) -> str | None:
    """The state of ``device_id`` at ``at`` (None: not registered)."""
    found = devices(lake, at=at, device_ids=[device_id])
    return None if found.empty else str(found.status.iloc[0])


def history(lake: Lake, device_id: str) -> pd.DataFrame:
    """The lifecycle events of ``device_id``, oldest first, with the state after each."""
    events = _events(lake, [device_id])
    state = None
    after = []
    for event in events.itertuples():
        state = STATE_AFTER.get(event.event_type, state)
        after.append(state)
    return events.assign(state_after=after)


def instrument_periods(lake: Lake, device_id: str) -> pd.DataFrame:
    """Which instrument and calibration measured at the point ``device_id`` when.

    One row per period: valid_from (UTC, inclusive), valid_to (exclusive; NaT = still), serial_no,
    model, calibrated_at (latest calibration before or at valid_from; NaT when none is recorded),
    calibration_due.  A new period starts at every installation, replacement and calibration that changes any of them.
    """
    found = lake.query(f"SELECT * FROM {lake.relation('device')} WHERE device_id = ?", [device_id])
    if found.empty:
        raise ValueError(f"device {device_id!r} is not registered")
    device = found.iloc[0]
    serial, model, due, calibrated = device.serial_no, device.model, device.calibration_due, pd.NaT
    periods = [[pd.Timestamp(device.installed_on), serial, model, calibrated, due]]
    for event in _events(lake, [device_id]).itertuples():
        if event.event_type not in ("installed", "replaced", "calibrated"):
            continue
        if event.event_type in ("installed", "replaced") and isinstance(event.serial_no, str):
            serial, model = event.serial_no, event.model if isinstance(event.model, str) else model
            calibrated = pd.NaT if event.event_type == "replaced" else calibrated
        if event.event_type == "calibrated":
            calibrated = pd.Timestamp(event.event_time)
        if not pd.isna(event.calibration_due):
            due = event.calibration_due
        periods.append([pd.Timestamp(event.event_time), serial, model, calibrated, due])
    frame = pd.DataFrame(periods, columns=["valid_from", "serial_no", "model", "calibrated_at", "calibration_due"])
    frame = frame.drop_duplicates("valid_from", keep="last").sort_values("valid_from", ignore_index=True)
    what = frame[["serial_no", "model", "calibrated_at", "calibration_due"]].astype(str)
    frame = frame[(what != what.shift()).any(axis=1)].reset_index(drop=True)  # a new period only when something changed
    frame.insert(1, "valid_to", frame.valid_from.shift(-1))
    return frame


def with_provenance(readings: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """``readings`` (with a ``ts`` column, UTC) of one point, each with the instrument and calibration that
    produced it (:func:`instrument_periods`): serial_no, model, calibrated_at, calibration_due."""
    ordered = readings.sort_values("ts")
    return pd.merge_asof(ordered, periods.drop(columns="valid_to").sort_values("valid_from"), left_on="ts",
                         right_on="valid_from", direction="backward").drop(columns="valid_from")


def calibration_overdue(lake: Lake, at: date | None = None, orgs: list[str] | None = None) -> pd.DataFrame:
    """Active devices past their calibration due date (for the monitor and the alerts)."""
    moment = datetime.combine(at, datetime.min.time()) if at else None
    table = devices(lake, at=moment, orgs=orgs)
    return table[table.calibration_overdue].reset_index(drop=True)
