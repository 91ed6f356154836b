"""The province screen (大屏): a full-screen Panel page for the wall of a forestry bureau (clause 7.1).

A map of the real province with its city and county boundaries (:mod:`carbonlib.boundaries`),
coloured by net emissions; enterprises, sink sites and flux towers as markers; the KPIs of
the region in focus; the ranking of the regions below it; a ticker of alerts (the open alerts of the
alerting service, :mod:`carbonlib.alerts`; then devices late or offline and enterprises over their cap
that no open alert names) and the newest readings; the monthly trend.  The screen
rotates on its own: the viewer's whole scope, then each city (or county) in turn, every
``rotate`` seconds, and re-reads the lake every ``refresh`` seconds, so figures and readings
follow without a reload.  Dark (for a wall) and light looks.

Served by ``carbon dashboards panel`` as ``/screen``; URL parameters: ``org`` (clamped to the
viewer's scope), ``period`` (a year with accounts), ``lang`` (zh | en), ``look`` (dark |
light), ``rotate`` (seconds, 0 = hold, default 20), ``refresh`` (seconds, default 30).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import panel as pn

from ..alerts.notify import text as alert_text
from ..lake import Lake
from ..markup import Markup
from ..markup import html as markup
from . import data as rollup_data
from . import figures, theme
from .components import KPI_ITEMS, PAGE_ACTIONS, _ScopedView, html, refresh_seconds, requested_lang, set_html
from ..i18n import label
from .scope import Scope

#: How many regions the ranking and how many lines the ticker show.
RANKED, TICKER_LINES = 8, 12


def screen_css(look: Mapping[str, str]) -> str:
    """The screen's stylesheet in ``look`` (:data:`carbonlib.viz.theme.SCREEN_THEMES`)."""
    return f"""
.screen-title {{font-family: system-ui, sans-serif; color: {look['text']}; display: flex; align-items: baseline;
                gap: 18px; flex-wrap: wrap;}}
.screen-title h1 {{font-size: 30px; margin: 4px 0; letter-spacing: 1px;}}
.screen-title .focus {{font-size: 22px; color: {look['muted']};}}
.screen-title .stamp {{margin-left: auto; font-size: 14px; color: {look['muted']};}}
.screen-kpis {{display: flex; gap: 14px; flex-wrap: wrap; font-family: system-ui, sans-serif;}}
.screen-kpi {{flex: 1 1 150px; background: {look['panel']}; border: 1px solid {look['line']}; border-radius: 10px;
              padding: 10px 16px; border-top: 5px solid var(--kpi-colour, {theme.NEUTRAL});}}
.screen-kpi .kpi-title {{font-size: 14px; color: {look['muted']};}}
.screen-kpi .kpi-number {{font-size: 30px; font-weight: 700; color: {look['text']};}}
.screen-kpi .kpi-unit {{font-size: 13px; color: {look['muted']}; margin-left: 4px;}}
.screen-box {{background: {look['panel']}; border: 1px solid {look['line']}; border-radius: 10px; padding: 10px 14px;
              font-family: system-ui, sans-serif; color: {look['text']};}}
.screen-box h2 {{font-size: 16px; margin: 0 0 8px 0; color: {look['muted']}; font-weight: 600;}}
.screen-rank {{display: grid; grid-template-columns: minmax(0, 1fr) 120px; gap: 4px 10px; font-size: 15px;}}
.screen-rank .bar {{height: 8px; border-radius: 4px; margin-top: 2px;}}
.screen-rank .value {{text-align: right; font-variant-numeric: tabular-nums;}}
.screen-ticker {{height: 300px; overflow: hidden; font-size: 14px;}}
.screen-ticker ul {{list-style: none; margin: 0; padding: 0; animation: screen-scroll 40s linear infinite;}}
.screen-ticker li {{padding: 4px 0; border-bottom: 1px solid {look['line']}; white-space: nowrap; overflow: hidden;
                    text-overflow: ellipsis;}}
.screen-ticker li.alert {{color: {theme.SOURCE}; font-weight: 600;}}
@keyframes screen-scroll {{0%, 15% {{transform: translateY(0);}} 100% {{transform: translateY(-50%);}}}}
"""


class ProvinceScreen(_ScopedView):
    """The province screen of one viewer's scope; :meth:`advance` moves the focus, :meth:`refresh` re-reads the lake."""

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, period: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None, look: str = "dark"):
        if look not in theme.SCREEN_THEMES:
            raise ValueError(f"look={str(look)[:20]!r} is not a look of the screen; use look=dark or look=light")
        org_id, message = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, message)
        self.look_name, self.look = look, theme.SCREEN_THEMES[look]
        self.period_select = self.period_selector(self.data.periods(org_id, annual_only=True), period)
        #: the rotation: each top of the scope (the org asked for, or every root of the viewer's grants),
        #: then each region below it
        self.stops = []
        for top in ([org_id] if org_id != scope.root or len(scope.roots) == 1 else scope.roots):
            below = self.children(top)
            self.stops += [top, *below[below.level.isin(["city", "county"])].org_id]
        self.position = 0
        css = (screen_css(self.look),)
        self.title, self.kpis, self.ranking, self.ticker = (html(stylesheets=css, sizing_mode="stretch_width") for _ in range(4))
        self.map = figures.RegionMap(lang, 660, None, title="", screen=self.look)
        self.trend = figures.Lines(label("ui_trend", lang), "tCO₂e", 300)
        figures.on_screen(self.trend.figure, self.look)
        self.refresh()

    def focus(self) -> str:
        """The org in focus now."""
        return self.stops[self.position % len(self.stops)]

    def advance(self) -> None:
        """Focus the next stop of the rotation (the page's timer calls it; not a person's action)."""
        self.position = (self.position + 1) % len(self.stops)
        self.refresh()

    def refresh(self) -> None:
        """Show the focus: re-read the roll-ups (only when the lake changed) and the device status."""
        if not self.checked(touch=False):
            return
        self.data = rollup_data.rollups(self.lake)
        org_id, period, lang = self.focus(), self.selected_period(), self.lang
        status = rollup_data.device_status(self.lake)
        devices = self.data.devices[self.data.devices.org_id.isin(self.inside(org_id).org_id)]
        devices_now = rollup_data.status_table(status, devices)
        own = self.data.figures(org_id, period)
        values = dict(zip(own.item, own.value))
        newest = devices_now.last_seen.max()
        with pn.io.hold():
            set_html(self.title, markup(
                '<div class="screen-title" data-focus="{}" data-look="{}"><h1>{}</h1><span class="focus">{} · {}</span>'
                '<span class="stamp">{}: {} UTC · {} {}</span></div>', org_id, self.look_name,
                label("ui_screen", lang), self.name(org_id), period, label("ui_latest", lang),
                "–" if pd.isna(newest) else f"{newest:%Y-%m-%d %H:%M}", label("ui_snapshot", lang), self.data.snapshot_id))
            set_html(self.kpis, self._kpis(values, dict(zip(own.item, own.unit)), devices_now))
            set_html(self.ranking, self._ranking(org_id, period))
            set_html(self.ticker, self._ticker(status, devices_now, org_id, period))
            self.draw_map(self.map, org_id, period)
            self.map.figure.title.text = f'{self.name(org_id)} · {label("net", lang)}'
            trend = self.data.monthly([org_id], period[:4], ("emissions_total", "removals"))
            self.trend.update(trend, "item", "month", "value", colours=theme.ITEM_COLOURS,
                              names={i: label(i, lang) for i in ("emissions_total", "removals")})

    def _kpis(self, values: Mapping[str, float], units: Mapping[str, str], devices_now: pd.DataFrame) -> Markup:
        lang = self.lang
        cards = []
        for item in KPI_ITEMS:
            unit = units.get(item, "share" if item == "cap_utilisation" else "tCO2e")
            cards.append(markup('<div class="screen-kpi" data-item="{}" style="--kpi-colour:{}"><div class="kpi-title">{}</div>'
                                '<span class="kpi-number">{}</span><span class="kpi-unit">{}</span></div>', item,
                                theme.ITEM_COLOURS.get(item, theme.NEUTRAL), label(item, lang),
                                theme.format_value(values.get(item), unit), "" if unit == "share" else theme.unit_symbol(unit)))
        online = int((devices_now.status == "online").sum())
        cards.append(markup('<div class="screen-kpi" data-item="devices_online" style="--kpi-colour:{}"><div class="kpi-title">{}'
                            '</div><span class="kpi-number">{}</span><span class="kpi-unit">/ {}</span></div>', theme.SINK,
                            label("ui_devices_online", lang), f"{online:,}", f"{len(devices_now):,}"))
        return markup('<div class="screen-kpis">{}</div>', Markup("").join(cards))

    def _ranking(self, org_id: str, period: str) -> Markup:
        """The regions (or, in a county, the units) below the focus, by net emissions, with a bar each."""
        below = self.children(org_id)
        table = self.org_table(below, period).dropna(subset=["net"]).sort_values("net", ascending=False).head(RANKED)
        largest = max(float(table.net.abs().max()) if len(table) else 1.0, 1.0)
        rows = Markup("").join(markup(
            '<div><div>{}</div><div class="bar" style="width:{:.0f}%;background:{}"></div></div><div class="value">{}</div>',
            row.name, 100 * abs(row.net) / largest, theme.SOURCE if row.net > 0 else theme.SINK,
            theme.format_value(row.net, "tCO2e")) for row in table.itertuples())
        return markup('<div class="screen-box" data-testid="ranking"><h2>{} · {} (tCO₂e)</h2><div class="screen-rank">{}</div></div>',
                      label("ui_ranking", self.lang), label("net", self.lang), rows)

    def _ticker(self, status: rollup_data.DeviceStatus, devices_now: pd.DataFrame, org_id: str, period: str) -> Markup:
        """Alerts first: the open alerts of the alerting service in the focus (newest first, :mod:`carbonlib.alerts`),
        then what the screen sees itself that no open alert already says (how many devices are late or offline and
        the longest silent of them, never heard from first; how many enterprises are over their cap and the worst
        of them); then the newest readings."""
        lang = self.lang
        owners = self.data.devices.set_index("device_id").org_id
        raised = rollup_data.open_alerts(self.lake, list(self.inside(org_id).org_id)).iloc[::-1]
        lines: list[Markup] = [markup('<li class="alert" data-alert-id="{}">⚠ {} · {} · {}</li>', row.alert_id,
                                      label(row.severity, lang), self.name(row.org_id),
                                      alert_text({"kind": row.kind, "facts": row.facts}, lang))
                               for row in raised.itertuples()]
        said = set(raised.subject)  # devices and orgs an open alert already names
        quiet = devices_now[(devices_now.status != "online") & ~devices_now.device_id.isin(said)]
        if len(quiet):
            lines.append(markup('<li class="alert">⚠ {}: {}</li>', label("ui_quiet_count", lang), f"{len(quiet):,}"))
        for row in quiet.sort_values("last_seen", na_position="first").head(TICKER_LINES // 2).itertuples():
            lines.append(markup('<li class="alert">⚠ {} · {} · {} {}</li>', self.name(row.org_id), row.device_id,
                                label(row.status, lang), f"{row.last_seen:%m-%d %H:%M}" if pd.notna(row.last_seen) else ""))
        enterprises = self.org_table(self.below(org_id, "enterprise"), period, ("cap_utilisation",))
        over = enterprises[enterprises.cap_utilisation > 1].sort_values("cap_utilisation", ascending=False)
        if len(over):
            lines.append(markup('<li class="alert">⚠ {}: {}</li>', label("ui_over_cap_count", lang), f"{len(over):,}"))
        for row in over[~over.org_id.isin(said)].head(TICKER_LINES // 2).itertuples():
            lines.append(markup('<li class="alert">⚠ {} · {} {}</li>', row.name, label("over", lang),
                                theme.format_value(row.cap_utilisation, "share")))
        alerts = len(lines)
        readings = status.latest[status.latest.device_id.isin(devices_now.device_id)].nlargest(TICKER_LINES, "last_ts")
        for row in readings.itertuples():
            unit = self.data.units.get(row.metric, "")
            lines.append(markup('<li>{} · {} · {} {} {}</li>', f"{row.last_ts:%m-%d %H:%M}", self.name(owners[row.device_id]),
                                label(row.metric, lang), theme.format_value(row.last_value, unit), theme.unit_symbol(unit)))
        shown = Markup("").join(lines)
        # the list twice in a row, so the scroll loops without a jump
        return markup('<div class="screen-box" data-testid="ticker" data-alerts="{}"><h2>{}</h2><div class="screen-ticker">'
                      '<ul>{}{}</ul></div></div>', alerts,
                      label("ui_ticker", lang), shown, shown)

    def layout(self) -> pn.viewable.Viewable:
        """The whole screen, filling the browser window."""
        look = self.look
        right = pn.Column(self.ranking, self.ticker, sizing_mode="stretch_width", width_policy="max")
        self.page = pn.Column(
            self.title, self.message, self.kpis,
            pn.Row(figures_pane(self.map, look), right, sizing_mode="stretch_width"),
            figures_pane(self.trend, look),
            sizing_mode="stretch_both",
            styles={"background": look["page"], "min-height": "100vh", "padding": "12px 18px"})
        return self.page


def figures_pane(chart, look: Mapping[str, str]) -> pn.pane.Bokeh:
    """A chart of the screen in a stretching pane with the look's panel colour around it."""
    return pn.pane.Bokeh(chart.figure, sizing_mode="stretch_width", styles={"background": look["panel"], "border-radius": "10px"})


def screen_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> ProvinceScreen:
    """The screen for a request (``org``, ``period``, ``lang``, ``look``, ``rotate``, ``refresh``); in a served
    session it rotates and refreshes itself on periodic callbacks."""
    rotate_s = 0.0 if args.get("rotate") in ("0", "0.0") else refresh_seconds(args.get("rotate"), 20.0, "rotate")
    refresh_s = refresh_seconds(args.get("refresh"), default=30.0)
    view = ProvinceScreen(lake, scope, args.get("org"), args.get("period"), requested_lang(args), rollups,
                          args.get("look") or "dark")
    if pn.state.curdoc is not None:
        if rotate_s:
            pn.state.add_periodic_callback(view.advance, period=int(rotate_s * 1000))
        pn.state.add_periodic_callback(view.refresh, period=int(refresh_s * 1000))
    return view


PAGE_ACTIONS[screen_page] = "view_figures"
