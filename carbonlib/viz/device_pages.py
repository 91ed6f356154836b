"""The device operators' page (Panel, ``/devices``): the registry of their subtree, registering devices, recording
lifecycle events, a device's history, and acknowledging its alerts (clause 8.2; 9.3.10).

Every button calls the same services as ``carbon devices`` and ``carbon alerts`` (:mod:`carbonlib.devices.service`,
:mod:`carbonlib.alerts`) as the logged-in principal, whose session is checked again first: the
services authorise (``operate_devices``, ``acknowledge_alerts`` on the device's org) and audit
every step, whatever the page sent back.  Refusals are shown on the page, nothing is half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd
import panel as pn

from .. import alerts
from ..alerts.notify import text as alert_text
from ..devices import registry
from ..devices import service as device_service
from ..i18n import label, message
from ..lake import Lake
from ..lake.schema import DEVICE_EVENTS, DEVICE_KINDS, table as schema_table
from . import data as rollup_data
from .components import PAGE_ACTIONS, _ScopedView, action_button, header, html, requested_lang, table
from .scope import Scope

INTERVALS = schema_table("device").column("interval_s").allowed


class DevicesPage(_ScopedView):
    """Devices of the selected org's subtree: state, instrument, calibration (overdue in red), open alerts; forms to
    register a device and to record a lifecycle event; the chosen device's history."""

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None):
        org_id, message = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, message)
        self.scope = scope
        self.result = html(sizing_mode="stretch_width")
        self.table = table(lang, height=360, pagination="remote", page_size=50)
        self.history = table(lang, height=240)
        self.alert_table = table(lang, height=160)

        def text(key: str, width: int = 180, **kw) -> pn.widgets.TextInput:
            return pn.widgets.TextInput(name=label(key, lang), width=width, **kw)

        self.new_id = text("ui_device", placeholder="T-S430181-02")
        self.new_org = pn.widgets.Select(name=label("ui_org", lang), width=260)  # sites of the selected subtree
        self.new_kind = pn.widgets.Select(name=label("ui_kind", lang), width=180,
                                          options={label(k, lang): k for k in DEVICE_KINDS})
        self.new_model, self.new_serial, self.new_vendor = text("ui_model"), text("ui_serial"), text("ui_vendor")
        self.new_interval = pn.widgets.Select(name=label("ui_interval_s", lang), options=list(INTERVALS), value=1800,
                                              width=150)
        self.new_lat = pn.widgets.FloatInput(name=label("ui_latitude", lang), value=None, start=-90, end=90, width=120)
        self.new_lon = pn.widgets.FloatInput(name=label("ui_longitude", lang), value=None, start=-180, end=180,
                                             width=120)
        self.new_due = pn.widgets.DatePicker(name=label("ui_calibration_due", lang), width=160)
        self.device = pn.widgets.Select(name=label("ui_device", lang), width=280)
        self.event = pn.widgets.Select(name=label("ui_event", lang), width=160,
                                       options={label(f"event_{e}", lang): e for e in DEVICE_EVENTS})
        self.ev_serial, self.ev_model = text("ui_serial"), text("ui_model")
        self.ev_due = pn.widgets.DatePicker(name=label("ui_calibration_due", lang), width=160)
        self.ev_note = text("ui_note", width=300)
        self.alert_choice = pn.widgets.Select(name=label("ui_alerts", lang), width=380)
        self.register_button = self._button("ui_register_device", self._register)
        self.event_button = self._button("ui_record_event", self._record_event)
        self.ack_button = self._button("ui_acknowledge", self._acknowledge)
        self.org_select.param.watch(lambda _: self.reload(), "value")
        self.device.param.watch(lambda _: self._draw_history(), "value")
        self.reload()

    # ------------------------------------------------------------------------------------------ drawing
    def reload(self) -> None:
        """Read the registry and open alerts of the selected subtree again (after every action)."""
        lang = self.lang
        subtree = self.inside(self.selected_org())
        inside = list(subtree.org_id)
        leaves = subtree[subtree.level.isin(["enterprise", "site"])].org_id
        chosen_org = self.new_org.value
        self.new_org.options = {f"{self.name(o)} ({o})": o for o in leaves}
        self.new_org.value = chosen_org if chosen_org in set(leaves) else next(iter(leaves), None)
        found = registry.devices(self.lake, orgs=inside)
        self.devices = found
        due = found.calibration_due.map(lambda d: "" if d is None or pd.isna(d) else f"{d:%Y-%m-%d}")
        self.table.value = pd.DataFrame({
            label("ui_device", lang): found.device_id, label("ui_org_code", lang): found.org_id,
            label("ui_kind", lang): [label(k, lang) for k in found.kind],
            label("ui_status", lang): [label(s, lang) for s in found.status],
            label("ui_since", lang): found.since.map(lambda t: "" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M}"),
            label("ui_vendor", lang): found.vendor.fillna(""), label("ui_model", lang): found.model.fillna(""),
            label("ui_serial", lang): found.serial_no.fillna(""), label("ui_calibration_due", lang): due,
            label("ui_calibration_overdue", lang): ["⚠ " + label("ui_calibration_overdue", lang) if o else ""
                                                    for o in found.calibration_overdue]})
        chosen = self.device.value
        self.device.options = list(found.device_id)
        self.device.value = chosen if chosen in self.device.options else next(iter(self.device.options), None)
        open_now = alerts.alerts(self.lake, orgs=inside)
        self.alert_table.value = pd.DataFrame({
            label("ui_severity", lang): [label(s, lang) for s in open_now.severity],
            label("ui_status", lang): [label(s, lang, "alert") for s in open_now.state],
            label("ui_alert_since", lang): open_now.opened_at.map(lambda t: f"{t:%Y-%m-%d %H:%M}"),
            label("ui_alert_text", lang): [alert_text({"kind": k, "facts": f}, lang)
                                           for k, f in zip(open_now.kind, open_now.facts)]})
        self.alert_choice.options = {f"{alert_text({'kind': k, 'facts': f}, lang)[:80]} ({a})": a
                                     for a, k, f, s in zip(open_now.alert_id, open_now.kind, open_now.facts,
                                                           open_now.state) if s == "active"}
        self._draw_history()

    def _draw_history(self) -> None:
        lang, device_id = self.lang, self.device.value
        if not device_id or device_id not in set(self.devices.device_id):
            self.history.value = pd.DataFrame()
            return
        events = registry.history(self.lake, device_id)
        self.history.value = pd.DataFrame({
            label("ui_event_time", lang): events.event_time.map(lambda t: f"{t:%Y-%m-%d %H:%M:%S}"),
            label("ui_event", lang): [label(f"event_{e}", lang) for e in events.event_type],
            label("ui_status", lang): [label(s, lang) for s in events.state_after],
            label("ui_serial", lang): events.serial_no.fillna(""), label("ui_actor", lang): events.actor,
            label("ui_note", lang): events.note.fillna("")})

    # ------------------------------------------------------------------------------------------ actions
    def _button(self, key: str, work) -> pn.widgets.Button:
        return action_button(self, key, work, self.result, width=180)

    def _register(self, security, principal) -> str:
        for field, widget in (("ui_device", self.new_id), ("ui_model", self.new_model), ("ui_serial", self.new_serial)):
            if not widget.value.strip():
                raise ValueError(message("ui_required", self.lang, field=label(field, self.lang)))
        due = self.new_due.value if isinstance(self.new_due.value, date) else None
        row = device_service.register(security, principal, self.lake.settings, device_service.NewDevice(
            self.new_id.value.strip(), self.new_org.value, self.new_kind.value, self.new_model.value.strip(),
            self.new_serial.value.strip(), int(self.new_interval.value), self.new_vendor.value.strip() or None,
            self.new_lat.value, self.new_lon.value, due))
        self.device.value = None
        return f"{row.device_id} · {label(row.status, self.lang)}"

    def _record_event(self, security, principal) -> str:
        due = self.ev_due.value if isinstance(self.ev_due.value, date) else None
        row = device_service.record_event(security, principal, self.lake.settings, self.device.value, self.event.value,
                                          serial_no=self.ev_serial.value.strip() or None,
                                          model=self.ev_model.value.strip() or None, calibration_due=due,
                                          note=self.ev_note.value.strip() or None)
        return f"{row.device_id} · {label(f'event_{self.event.value}', self.lang)} · {label(row.status, self.lang)}"

    def _acknowledge(self, security, principal) -> str:
        if not self.alert_choice.value:
            raise ValueError(label("ui_no_alerts", self.lang))
        row = alerts.acknowledge(security, principal, self.lake.settings, self.alert_choice.value,
                                 note=self.ev_note.value.strip() or None)
        return f"{row.name} · {label(row.state, self.lang, 'alert')}"

    def layout(self) -> pn.viewable.Viewable:
        """The whole page."""
        lang = self.lang
        self.page = pn.Column(
            html(header(label("ui_devices_page", lang))), self.org_select, self.message, self.result, self.table,
            html(header(label("ui_alerts", lang))), self.alert_table, pn.Row(self.alert_choice, self.ack_button),
            html(header(label("ui_register_device", lang))),
            pn.Row(self.new_id, self.new_org, self.new_kind, self.new_interval),
            pn.Row(self.new_vendor, self.new_model, self.new_serial, self.new_lat, self.new_lon, self.new_due),
            self.register_button,
            html(header(label("ui_record_event", lang))),
            pn.Row(self.device, self.event, self.ev_serial, self.ev_model, self.ev_due), pn.Row(self.ev_note),
            self.event_button,
            html(header(label("ui_device_history", lang))), self.history,
            sizing_mode="stretch_width")
        return self.page


def devices_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> DevicesPage:
    """The device operators' page for a request (``org``, ``lang``)."""
    return DevicesPage(lake, scope, args.get("org"), requested_lang(args), rollups)


PAGE_ACTIONS[devices_page] = "operate_devices"
