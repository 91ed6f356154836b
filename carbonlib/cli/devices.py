"""``carbon devices list|register|event|history``: the device registry (a face over :mod:`carbonlib.devices`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Optional

import typer

from ..lake.schema import DEVICE_EVENTS, DEVICE_KINDS
from .auth import acting
from .common import JsonOption, LakeOption, choice, clean_errors, iso_date, say, settings_from, t, typer_app

devices_app = typer_app("help_devices")

DeviceArgument = Annotated[str, typer.Argument(help=t("arg_device_id"))]


def _moment(value: Optional[str]) -> Optional[datetime]:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(t("give_moment")) from None


def _show(row) -> None:
    say("device_line", id=row.device_id, org=row.org_id, kind=row.kind, status=row.status, serial=row.serial_no,
        model=row.model, due=row.calibration_due or "-",
        overdue=t("device_overdue") if row.calibration_overdue else "")


def _records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso"))


@devices_app.command("list", help=t("help_devices_list"))
def listing(lake: LakeOption = None, org: Annotated[Optional[str], typer.Option("--org", help=t("opt_org"))] = None,
            overdue: Annotated[bool, typer.Option("--overdue", help=t("opt_overdue"))] = False,
            as_json: JsonOption = False) -> None:
    from ..devices import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        table = service.listing(security, principal, settings, org=org)
    if overdue:
        table = table[table.calibration_overdue]
    if as_json:
        typer.echo(json.dumps(_records(table), indent=2, ensure_ascii=False))
        return
    for row in table.itertuples():
        _show(row)
    say("devices_count", count=len(table), overdue=int(table.calibration_overdue.sum()))


@devices_app.command("register", help=t("help_devices_register"))
def register(
    device_id: DeviceArgument,
    org: Annotated[str, typer.Option("--org", help=t("opt_device_org"))],
    kind: Annotated[str, typer.Option("--kind", callback=choice(DEVICE_KINDS),
                                      help=t("opt_device_kind", kinds=", ".join(DEVICE_KINDS)))],
    model: Annotated[str, typer.Option("--model", help=t("opt_device_model"))],
    serial: Annotated[str, typer.Option("--serial", help=t("opt_device_serial"))],
    interval_s: Annotated[int, typer.Option("--interval-s", help=t("opt_device_interval"))],
    vendor: Annotated[Optional[str], typer.Option("--vendor", help=t("opt_device_vendor"))] = None,
    latitude: Annotated[Optional[float], typer.Option("--lat", help=t("opt_device_lat"))] = None,
    longitude: Annotated[Optional[float], typer.Option("--lon", help=t("opt_device_lon"))] = None,
    calibration_due: Annotated[Optional[str], typer.Option("--calibration-due", help=t("opt_calibration_due"))] = None,
    installed_at: Annotated[Optional[str], typer.Option("--installed-at", help=t("opt_installed_at"))] = None,
    stocked: Annotated[bool, typer.Option("--stocked", help=t("opt_stocked"))] = False,
    lake: LakeOption = None,
) -> None:
    from ..devices import service

    settings = settings_from(lake)
    device = service.NewDevice(device_id, org, kind, model, serial, interval_s, vendor, latitude, longitude,
                               iso_date(calibration_due))
    with acting(settings) as (security, principal), clean_errors():
        row = service.register(security, principal, settings, device, installed_at=_moment(installed_at),
                               stocked=stocked)
    _show(row)


@devices_app.command("event", help=t("help_devices_event"))
def event(
    device_id: DeviceArgument,
    event_type: Annotated[str, typer.Argument(callback=choice(DEVICE_EVENTS),
                                              help=t("arg_device_event", events=", ".join(DEVICE_EVENTS)))],
    at: Annotated[Optional[str], typer.Option("--at", help=t("opt_event_at"))] = None,
    serial: Annotated[Optional[str], typer.Option("--serial", help=t("opt_event_serial"))] = None,
    model: Annotated[Optional[str], typer.Option("--model", help=t("opt_device_model"))] = None,
    calibration_due: Annotated[Optional[str], typer.Option("--calibration-due", help=t("opt_calibration_due"))] = None,
    note: Annotated[Optional[str], typer.Option("--note", help=t("opt_event_note"))] = None,
    lake: LakeOption = None,
) -> None:
    from ..devices import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        row = service.record_event(security, principal, settings, device_id, event_type, at=_moment(at),
                                   serial_no=serial, model=model, calibration_due=iso_date(calibration_due), note=note)
    _show(row)


@devices_app.command("history", help=t("help_devices_history"))
def history(device_id: DeviceArgument, lake: LakeOption = None, as_json: JsonOption = False) -> None:
    from ..devices import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        events, periods = service.device_history(security, principal, settings, device_id)
    if as_json:
        typer.echo(json.dumps({"events": _records(events), "instruments": _records(periods)}, indent=2,
                              ensure_ascii=False))
        return
    for e in events.itertuples():
        say("device_event_line", at=e.event_time, event=e.event_type, state=e.state_after, actor=e.actor,
            serial=e.serial_no if isinstance(e.serial_no, str) else "", note=e.note if isinstance(e.note, str) else "")
    for p in periods.itertuples():
        say("device_period_line", start=p.valid_from, end="" if p.valid_to is None or str(p.valid_to) == "NaT"
            else p.valid_to, serial=p.serial_no, model=p.model, due=p.calibration_due or "-")


@devices_app.command("credentials", help=t("help_devices_credentials"))
def credentials(device_id: DeviceArgument, lake: LakeOption = None) -> None:
    from ..devices import service

    settings = settings_from(lake)
    with acting(settings) as (security, principal), clean_errors():
        password = service.issue_credentials(security, principal, settings, device_id)
    say("device_credentials", id=device_id, password=password)
