"""Registering devices and recording their lifecycle, as a service: who may, and the audit record of each.

A device operator acts on devices of their org subtree (action ``operate_devices``).  Every change
is one write (table ``device`` or ``device_event``, append-only: history is never rewritten) and
one audited operation.  Transitions follow :mod:`carbonlib.devices.registry`; an event the
device's state does not allow is refused with the events possible now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import pandas as pd

from ..accounting import views
from ..lake import Lake
from ..security import Principal, Security
from ..settings import Settings
from . import registry
from .credentials import BrokerCredentials

#: Events after which a device may no longer connect to the broker.
REVOKING_EVENTS = ("lost", "retired", "scrapped")


@dataclass(frozen=True)
class NewDevice:
    """What registering a device needs (units: interval in s, coordinates in degrees WGS84)."""

    device_id: str
    org_id: str
    kind: str
    model: str
    serial_no: str
    interval_s: int
    vendor: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    calibration_due: date | None = None


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    return at.astimezone(timezone.utc).replace(tzinfo=None) if at.tzinfo else at


def register(security: Security, principal: Principal, settings: Settings, device: NewDevice, *,
             installed_at: datetime | None = None, stocked: bool = False) -> pd.Series:
    """Register ``device`` as installed at ``installed_at`` (UTC, default now) or, with ``stocked``, as in stock
    (its first reading is accepted only after an ``installed`` event).  Returns its registry row."""
    at = _utc(installed_at)
    with Lake.open(settings) as lake:
        paths = views.org_paths(lake)
        with security.operation(principal, "operate_devices", device.org_id, paths=paths,
                                object=f"device {device.device_id}") as operation:
            row = {**device.__dict__, "installed_on": at.date()}
            lake.append("device", pd.DataFrame([row]), source=f"registry/{principal.username}")
            event = "stocked" if stocked else "installed"
            _append_event(lake, principal, device.device_id, event, at, serial_no=device.serial_no,
                          model=device.model, calibration_due=device.calibration_due, note="registered")
            operation.detail = f"registered {device.kind} {device.model} {device.serial_no} at {device.org_id}: {event}"
        return registry.devices(lake, device_ids=[device.device_id]).iloc[0]


def _append_event(lake: Lake, principal: Principal, device_id: str, event: str, at: datetime, *,
                  serial_no: str | None = None, model: str | None = None, calibration_due: date | None = None,
                  note: str | None = None) -> str:
    event_id = f"{device_id}-{event}-{at:%Y%m%dT%H%M%S}"
    lake.append("device_event", pd.DataFrame([dict(
        event_id=event_id, device_id=device_id, event_type=event, event_time=at, actor=principal.username, note=note,
        serial_no=serial_no, model=model, calibration_due=calibration_due)]), source=f"registry/{principal.username}")
    return event_id


def record_event(security: Security, principal: Principal, settings: Settings, device_id: str, event: str, *,
                 at: datetime | None = None, serial_no: str | None = None, model: str | None = None,
                 calibration_due: date | None = None, note: str | None = None) -> pd.Series:
    """Record lifecycle ``event`` of ``device_id`` at ``at`` (UTC, default now); returns the device's registry row.

    ``replaced`` needs the new instrument's ``serial_no`` (and takes its ``model`` and
    ``calibration_due``); ``calibrated`` takes the next ``calibration_due``.  Events are recorded
    in time order: one before the device's latest event is refused.
    """
    moment = _utc(at)
    with Lake.open(settings) as lake:
        found = registry.devices(lake, device_ids=[device_id], at=registry.latest())
        if found.empty:
            raise ValueError(f"device {device_id!r} is not registered; register it first (carbon devices register)")
        current = found.iloc[0]
        paths = views.org_paths(lake)
        with security.operation(principal, "operate_devices", current.org_id, paths=paths,
                                object=f"device {device_id}") as operation:
            past = registry.history(lake, device_id)
            state = current.status if len(past) else None
            after = registry.next_state(state, event)
            latest = pd.Timestamp(past.event_time.iloc[-1]).to_pydatetime() if len(past) else None
            if at is None and latest is not None and moment <= latest < moment + timedelta(seconds=2):
                moment = latest + timedelta(seconds=1)  # "now", a second after an event recorded this very second
            if latest is not None and moment <= latest:
                raise registry.LifecycleError(f"device {device_id}: {event} at {moment} is not after its latest event "
                                              f"({past.event_type.iloc[-1]} at {past.event_time.iloc[-1]})")
            if event == "replaced" and not serial_no:
                raise ValueError(f"device {device_id}: a replacement needs the new instrument's serial number "
                                 "(--serial); the measurement point keeps its series")
            _append_event(lake, principal, device_id, event, moment, serial_no=serial_no, model=model,
                          calibration_due=calibration_due, note=note)
            operation.detail = f"{event}: {state or 'registered'} -> {after}" + (f", instrument {serial_no}"
                                                                                  if serial_no else "")
            if event in REVOKING_EVENTS and broker_credentials(security).revoke(device_id):
                operation.detail += "; MQTT credentials revoked"
        return registry.devices(lake, device_ids=[device_id], at=registry.latest()).iloc[0]


def broker_credentials(security: Security) -> BrokerCredentials:
    """The broker's password file and ACL of this platform (next to the security store's keys)."""
    return BrokerCredentials(security.service_key_path().parent / "mqtt")


def issue_credentials(security: Security, principal: Principal, settings: Settings, device_id: str) -> str:
    """A new MQTT password for an active device (replacing its earlier one); returned once, stored hashed."""
    with Lake.open(settings, read_only=True) as lake:
        found = registry.devices(lake, device_ids=[device_id])
        if found.empty:
            raise ValueError(f"device {device_id!r} is not registered")
        paths, row = views.org_paths(lake), found.iloc[0]
    with security.operation(principal, "operate_devices", row.org_id, paths=paths,
                            object=f"device {device_id}") as operation:
        if row.status != "active":
            raise registry.LifecycleError(f"device {device_id} is {row.status}: only an installed, active device gets "
                                          "credentials")
        password = broker_credentials(security).issue(device_id)
        operation.detail = "MQTT credentials issued (the password is shown once, stored hashed)"
    return password


def listing(security: Security, principal: Principal, settings: Settings, *, org: str | None = None,
            at: datetime | None = None) -> pd.DataFrame:
    """The registry rows (:func:`carbonlib.devices.registry.devices`) of the devices ``principal`` may see: those in
    a subtree where it operates devices or views telemetry (``org``: only that org's subtree)."""
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
        if org is not None:
            security.require(principal, "operate_devices" if principal.may("operate_devices", org, paths)
                             else "view_telemetry", org, paths=paths)
        table = registry.devices(lake, at=at)
    visible = [(principal.may("operate_devices", o, paths) or principal.may("view_telemetry", o, paths))
               and (org is None or org in paths.get(o, "").split("/"))
               for o in table.org_id]
    return table[visible].reset_index(drop=True)


def device_history(security: Security, principal: Principal, settings: Settings, device_id: str
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lifecycle events and instrument periods of ``device_id`` (:func:`registry.history`,
    :func:`registry.instrument_periods`), for whoever operates devices or views telemetry on its org."""
    with Lake.open(settings, read_only=True) as lake:
        found = registry.devices(lake, device_ids=[device_id])
        if found.empty:
            raise ValueError(f"device {device_id!r} is not registered")
        paths, org = views.org_paths(lake), found.org_id.iloc[0]
        action = "operate_devices" if principal.may("operate_devices", org, paths) else "view_telemetry"
        security.require(principal, action, org, paths=paths, object=f"device {device_id}")
        return registry.history(lake, device_id), registry.instrument_periods(lake, device_id)
