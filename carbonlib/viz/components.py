"""Dashboard components: roll-up readers, HoloViews charts, KPI cards and the four dashboard views.

Readers (module functions) read pre-aggregated tables only — ``account`` and
``telemetry_daily`` — except :func:`recent_readings`, which reads raw telemetry of a small
recent window (``ts >=`` the newest rolled-up day minus a few hours), so DuckLake prunes to
the newest month partition and its newest files.  Views (:class:`Overview`,
:class:`Disclosure`, :class:`Monitor`, :class:`Explorer`) are Panel layouts built from them;
the Voila notebooks and Panel apps in ``dashboards/`` only pick parameters and show one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import holoviews as hv
import pandas as pd
import panel as pn
from bokeh.models import NumberFormatter, NumeralTickFormatter

from .. import accounts
from ..access import Access
from ..lake import Lake
from . import theme
from .labels import LANGUAGES, label

#: Items shown as headline KPI cards (Overview).
KPI_ITEMS = ("emissions_total", "removals", "net", "cap_utilisation")
#: Items of the emissions breakdown; any other item named ``<one of BREAKDOWN_PREFIXES>*`` is shown after them.
BREAKDOWN_ITEMS = ("scope1_stationary_combustion", "scope1_mobile_combustion", "scope1_process", "scope1_fugitive",
                   "scope2_purchased_electricity", "scope2_purchased_heat", "exported_electricity", "exported_heat")
BREAKDOWN_PREFIXES = ("scope1_", "scope2_", "exported_")
#: Public disclosure (clause 5.4/10.2) shows these items only: no activity data, no categories.
PUBLIC_ITEMS = ("emissions_total", "removals", "net")
RECENT_HOURS = 72
#: Table columns holding tCO2e (plain item names or "<label> (tCO2e)"), shown as whole tonnes.
TONNE_COLUMNS = (*PUBLIC_ITEMS, *(f"{label(i, lang)} (tCO2e)" for i in PUBLIC_ITEMS for lang in LANGUAGES))
#: Chart width in the Voila views (responsive plots get no width inside ipywidgets).
VOILA_CHART_WIDTH = 640


# ----------------------------------------------------------------------------- readers
def org_name(row: Mapping, lang: str) -> str:
    """Display name of an org row in ``lang``."""
    return row["name_zh"] if lang == "zh" else row["name_en"]


def periods(lake: Lake, org_id: str, *, annual_only: bool = False) -> list[str]:
    """Account periods available for ``org_id``, newest annual period first, then months."""
    found = lake.query("SELECT DISTINCT period FROM account WHERE org_id = ? AND method_version = ?",
                       [org_id, accounts.METHOD_VERSION]).period.tolist()
    if not found:
        raise ValueError(f"the lake has no accounts of org {org_id} with method {accounts.METHOD_VERSION}. "
                         "Fix: compute them (accounts.build_accounts, run by `carbon demo build`).")
    annual = sorted((p for p in found if len(p) == 4), reverse=True)
    monthly = sorted(p for p in found if len(p) != 4)
    return annual if annual_only else annual + monthly


def figures_wide(lake: Lake, org_ids: list[str], period: str) -> pd.DataFrame:
    """Account figures of several orgs for one period: one row per org_id, one column per item."""
    if not org_ids:
        return pd.DataFrame(index=pd.Index([], name="org_id"))
    marks = ", ".join("?" for _ in org_ids)
    long = lake.query(f"SELECT org_id, item, value FROM account WHERE period = ? AND method_version = ? "
                      f"AND org_id IN ({marks})", [period, accounts.METHOD_VERSION, *org_ids])
    return long.pivot_table(index="org_id", columns="item", values="value", aggfunc="sum").reindex(org_ids)


def monthly_trend(lake: Lake, org_ids: list[str], year: str, items: tuple[str, ...] = PUBLIC_ITEMS) -> pd.DataFrame:
    """Monthly figures of ``items`` for orgs in ``year``: org_id, month (first day), item, value."""
    marks = ", ".join("?" for _ in org_ids)
    item_marks = ", ".join("?" for _ in items)
    return lake.query(
        f"SELECT org_id, period_start AS month, item, value FROM account WHERE method_version = ? "
        f"AND length(period) = 7 AND period LIKE ? AND org_id IN ({marks}) AND item IN ({item_marks}) ORDER BY month",
        [accounts.METHOD_VERSION, f"{year}-%", *org_ids, *items])


def daily_telemetry(lake: Lake, device_ids: list[str], metric: str, year: str) -> pd.DataFrame:
    """telemetry_daily rows of ``metric`` for devices in ``year``: device_id, day, total, mean, good_share."""
    if not device_ids:
        return pd.DataFrame(columns=["device_id", "day", "total", "mean", "good_share"])
    marks = ", ".join("?" for _ in device_ids)
    return lake.query(f"SELECT device_id, day, total, mean, good_share FROM telemetry_daily WHERE metric = ? "
                      f"AND year(day) = ? AND device_id IN ({marks}) ORDER BY day", [metric, int(year), *device_ids])


def recent_readings(lake: Lake, device_ids: list[str], hours: int = RECENT_HOURS) -> pd.DataFrame:
    """Raw readings of the last ``hours`` before the newest rolled-up day, plus anything newer.

    The window starts at ``max(telemetry_daily.day) - hours``; a ``ts`` filter lets DuckLake
    skip every older file (min/max statistics), so the cost does not grow with the lake.
    Returns device_id, metric, ts, value, qc.
    """
    if not device_ids:
        return pd.DataFrame(columns=["device_id", "metric", "ts", "value", "qc"])
    start = lake.query("SELECT max(day) AS d FROM telemetry_daily").d.iloc[0]
    start = pd.Timestamp("1970-01-01") if pd.isna(start) else pd.Timestamp(start) - pd.Timedelta(hours=hours) + pd.Timedelta(days=1)
    marks = ", ".join("?" for _ in device_ids)
    return lake.query(f"SELECT device_id, metric, ts, value, qc FROM telemetry WHERE ts >= ? AND device_id IN ({marks}) "
                      "ORDER BY ts", [start.to_pydatetime(), *device_ids])


def device_status(devices: pd.DataFrame, lake: Lake, recent: pd.DataFrame) -> pd.DataFrame:
    """Per device: last_seen, age_h, status (online/late/offline) and good_share of the recent window.

    Status is relative to the newest reading of any device (``newest``): online when the age
    is at most 2 reporting intervals (``interval_s``), late up to 12 intervals, else offline
    (also when never seen).
    """
    out = devices[["device_id", "org_id", "kind", "interval_s"]].copy()
    if len(out):
        marks = ", ".join("?" for _ in out.device_id)
        rolled = lake.query(f"SELECT device_id, max(last_ts) AS last_daily FROM telemetry_daily "
                            f"WHERE device_id IN ({marks}) GROUP BY device_id", list(out.device_id))
    else:
        rolled = pd.DataFrame(columns=["device_id", "last_daily"])
    window = recent.groupby("device_id").agg(last_recent=("ts", "max"), good_share=("qc", lambda q: (q == 0).mean()))
    out = out.merge(rolled, on="device_id", how="left").merge(window, on="device_id", how="left")
    out["last_seen"] = pd.to_datetime(out[["last_daily", "last_recent"]].max(axis=1))
    newest = out.last_seen.max()
    age_s = (newest - out.last_seen).dt.total_seconds()
    out["age_h"] = age_s / 3600
    out["status"] = "offline"
    out.loc[age_s <= 12 * out.interval_s, "status"] = "late"
    out.loc[age_s <= 2 * out.interval_s, "status"] = "online"
    return out.drop(columns=["last_daily", "last_recent"])


# ----------------------------------------------------------------------------- small pieces
def kpi_cards(figures: Mapping[str, float], items: tuple[str, ...], units: Mapping[str, str], lang: str) -> str:
    """HTML of KPI cards; each card carries ``data-item`` and its number in ``.kpi-number``."""
    cards = []
    for item in items:
        unit = units.get(item, "share" if item == "cap_utilisation" else "tCO2e")
        number = theme.format_value(figures.get(item), unit)
        shown_unit = "" if unit == "share" else unit
        cards.append(
            f'<div class="carbon-kpi" data-item="{item}" style="--kpi-colour:{theme.ITEM_COLOURS.get(item, theme.NEUTRAL)}">'
            f'<div class="kpi-title">{label(item, lang)}</div><div class="kpi-value"><span class="kpi-number">{number}</span>'
            f'<span class="kpi-unit">{shown_unit}</span></div></div>')
    return f'<div class="carbon-kpis">{"".join(cards)}</div>'


def html(text: str = "", **kwargs) -> pn.pane.HTML:
    """An HTML pane carrying the theme's stylesheet (Panel panes live in shadow DOM)."""
    return pn.pane.HTML(text, stylesheets=[theme.CSS], **kwargs)


def refused_html(message: str | None) -> str:
    """HTML of a refusal/clamp message (empty when there is none)."""
    return f'<div class="carbon-refused" data-testid="refused">{message}</div>' if message else ""


def chart_pane(**kwargs) -> pn.pane.HoloViews:
    """A HoloViews pane whose axes are its own (Panel would link every "tCO2e" axis of a page)."""
    return pn.pane.HoloViews(linked_axes=False, **kwargs)


def _table_formatters() -> dict:
    """Cell formats (new Bokeh models per table: a model belongs to one document only)."""
    return {**{name: NumberFormatter(format="0,0", text_align="right") for name in TONNE_COLUMNS},
            "cap_utilisation": NumberFormatter(format="0.0 %", text_align="right")}


def table(lang: str, **kwargs) -> pn.widgets.Tabulator:
    """A read-only Tabulator styled with the inline theme CSS (works offline, also inside Voila).

    Columns named like account items (and ``name``, ``level``) get their display names in ``lang``.
    """
    titles = {key: label(key, lang) for key in (*PUBLIC_ITEMS, "cap_utilisation")}
    titles.update(name=label("ui_name", lang), level=label("ui_level", lang))
    options = {"disabled": True, "show_index": False, "sizing_mode": "stretch_width", "layout": "fit_data_stretch",
               "stylesheets": [theme.tabulator_css()], "formatters": _table_formatters(), "titles": titles}
    return pn.widgets.Tabulator(pd.DataFrame(), **{**options, **kwargs})


def csv_download(frame_getter, filename: str, lang: str) -> pn.widgets.FileDownload:
    """A button that downloads the DataFrame returned by ``frame_getter()`` as UTF-8 CSV."""
    def callback() -> io.BytesIO:
        return io.BytesIO(frame_getter().to_csv(index=False).encode("utf-8-sig"))
    return pn.widgets.FileDownload(callback=callback, filename=filename, label=label("ui_download", lang),
                                   button_type="primary", embed=False, auto=True)


# ----------------------------------------------------------------------------- charts
def _tonnes() -> NumeralTickFormatter:
    """Tick labels of tCO2e axes: whole tonnes with thousands separators, as the KPI cards.

    A new Bokeh model per chart: a model belongs to one document (Panel serves many sessions).
    Put it on the value axis only (``xformatter`` when axes are inverted): a number formatter
    on a categorical axis throws in BokehJS and leaves every chart of the page blank.
    """
    return NumeralTickFormatter(format="0,0")


def _size(height: int, width: int | None) -> dict:
    """Plot size options: fixed ``width`` (Voila, where responsive plots get no width) or responsive."""
    return {"height": height, "width": width, "responsive": False} if width else {"height": height, "responsive": True}


def bars_chart(frame: pd.DataFrame, category: str, items: tuple[str, ...], lang: str, title: str, height: int = 320,
               width: int | None = None):
    """Grouped bars of ``items`` (columns of ``frame``) per ``category`` (names)."""
    long = frame.melt(id_vars=[category], value_vars=[i for i in items if i in frame], var_name="item", value_name="value")
    long["measure"] = long["item"].map(lambda i: label(i, lang))
    cmap = {label(i, lang): theme.ITEM_COLOURS.get(i, theme.NEUTRAL) for i in items}
    measure = hv.Dimension("measure", values=list(cmap))  # bars in the order of ``items``, not alphabetical
    return hv.Bars(long, kdims=[category, measure], vdims="value").opts(
        title=title, color="measure", cmap=cmap, **_size(height, width), xrotation=20, tools=["hover"],
        ylabel="tCO2e", xlabel="", yformatter=_tonnes(), show_legend=True, multi_level=False,
        legend_position="top", legend_opts={"orientation": "horizontal"})


def breakdown_chart(figures: Mapping[str, float], lang: str, height: int = 300, width: int | None = None):
    """Horizontal bars (tCO2e) of the scope 1/2 emission categories, exports drawn as negative deductions."""
    extra = [i for i in figures if i.startswith(BREAKDOWN_PREFIXES) and i not in BREAKDOWN_ITEMS]
    rows = []
    for item in (*BREAKDOWN_ITEMS, *extra):
        value = float(figures.get(item, 0.0) or 0.0)
        exported = item.startswith("exported_")
        rows.append((label(item, lang), -value if exported else value, theme.SINK if exported else theme.SOURCE))
    frame = pd.DataFrame(rows, columns=["category", "value", "colour"])
    return hv.Bars(frame, kdims="category", vdims=["value", "colour"]).opts(
        invert_axes=True, color="colour", **_size(height, width), title=label("ui_breakdown", lang),
        xlabel="", ylabel="tCO2e", tools=["hover"], xformatter=_tonnes())


def trend_chart(trend: pd.DataFrame, lang: str, by: str = "item", names: Mapping[str, str] | None = None,
                height: int = 300, title: str | None = None, width: int | None = None):
    """Monthly lines, one per ``by`` value (items or orgs)."""
    curves = []
    for key, part in trend.groupby(by, sort=False):
        name = names.get(key, key) if names else label(key, lang)
        colour = theme.ITEM_COLOURS.get(key) if by == "item" else None
        curve = hv.Curve(part, "month", "value", label=name).opts(tools=["hover"], line_width=2.5)
        curves.append(curve.opts(color=colour) if colour else curve)
    overlay = hv.Overlay(curves) if curves else hv.Overlay([hv.Curve([], "month", "value")])
    return overlay.opts(title=title or label("ui_trend", lang), **_size(height, width), legend_position="top_left",
                        ylabel="tCO2e", xlabel="", yformatter=_tonnes())


def map_chart(orgs: pd.DataFrame, lang: str, height: int = 320, width: int | None = None):
    """Enterprises (red, sized by emissions) and sites (green, sized by removals) at their coordinates."""
    frame = orgs.dropna(subset=["longitude", "latitude"]).copy()
    frame["name"] = [org_name(r, lang) for r in frame.to_dict("records")]
    frame["figure"] = frame.emissions_total.where(frame.level == "enterprise", frame.removals).fillna(0.0)
    frame["size"] = 8 + 40 * (frame.figure / max(frame.figure.max(), 1.0)) ** 0.5
    frame["colour"] = frame.level.map({"enterprise": theme.SOURCE}).fillna(theme.SINK)
    return hv.Points(frame, kdims=["longitude", "latitude"], vdims=["name", "figure", "size", "colour"]).opts(
        size="size", color="colour", alpha=0.75, line_color="white", **_size(height, width), tools=["hover"],
        title=label("ui_map", lang), xlabel="lon", ylabel="lat")


def readings_chart(recent: pd.DataFrame, device_id: str, metric: str, unit: str, height: int = 220):
    """Line of one device's metric over the recent window."""
    part = recent[(recent.device_id == device_id) & (recent.metric == metric)]
    return hv.Curve(part, "ts", "value").opts(title=f"{device_id} · {metric} ({unit})", height=height, responsive=True,
                                              tools=["hover"], xlabel="UTC", ylabel=unit, line_width=1.5)


# ----------------------------------------------------------------------------- views
class _ScopedView:
    """Shared state of the dashboards: lake, org tree (scoped), language and the org selector."""

    def __init__(self, lake: Lake, tree: pd.DataFrame, org: str, lang: str, message: str | None = None):
        self.lake, self.tree, self.lang = lake, tree.reset_index(drop=True), lang
        self.orgs = self.tree.set_index("org_id")
        root_depth = int(self.tree.depth.min())
        options = {f"{'— ' * (int(r['depth']) - root_depth)}{org_name(r, lang)} ({r['org_id']})": r["org_id"]
                   for r in self.tree.to_dict("records")}
        self.org_select = pn.widgets.Select(name=label("ui_org", lang), options=options, value=org, width=340)
        self.message = html(refused_html(message), sizing_mode="stretch_width")

    def name(self, org_id: str) -> str:
        return org_name(self.orgs.loc[org_id], self.lang)

    def children(self, org_id: str) -> pd.DataFrame:
        return self.tree[self.tree.parent_id == org_id]

    def below(self, org_id: str, level: str) -> pd.DataFrame:
        """Orgs of ``level`` in the subtree of ``org_id``."""
        inside = self.tree.path.str.split("/").map(lambda ids: org_id in ids)
        return self.tree[inside & (self.tree.level == level)]


class Overview(_ScopedView):
    """Managers' overview (Voila): KPIs, children, map, breakdown, trend, top emitters, sinks, CSV."""

    def __init__(self, lake: Lake, access: Access, viewer: str, org: str | None = None, period: str | None = None,
                 lang: str = "zh"):
        org_id, message = access.clamp(viewer, org)
        super().__init__(lake, access.subtree(viewer), org_id, lang, message)
        self.root = access.allowed_root(viewer)
        with_coords = lake.read("org", columns=["org_id", "latitude", "longitude"])
        self.coords = with_coords.set_index("org_id")
        available = periods(lake, self.root)
        self.period_select = pn.widgets.Select(name=label("ui_period", lang), options=available,
                                               value=period if period in available else available[0], width=140)
        self.up = pn.widgets.Button(name=label("ui_up", lang), width=140)
        self.header = html(sizing_mode="stretch_width")
        self.kpis = html(sizing_mode="stretch_width")
        self.children_chart = chart_pane(sizing_mode="stretch_width", height=330)
        self.map = chart_pane(sizing_mode="stretch_width", height=330)
        self.breakdown = chart_pane(sizing_mode="stretch_width", height=310)
        self.trend = chart_pane(sizing_mode="stretch_width", height=310)
        self.children_table = table(lang, height=230, hidden_columns=["org_id"])
        self.top_table = table(lang, height=230, hidden_columns=["org_id", "level", "removals"])
        self.sink_table = table(lang, height=230, hidden_columns=["org_id", "level", "emissions_total"])
        self.figures_table = table(lang, height=300)
        self.download = csv_download(lambda: self.figures, f"carbon_{org_id}_{self.period_select.value}.csv", lang)
        for widget in (self.children_table, self.top_table, self.sink_table):
            widget.on_click(lambda event, widget=widget: self._drill_down(widget, event))
        self.up.on_click(self._go_up)
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.refresh()

    def _drill_down(self, widget: pn.widgets.Tabulator, event) -> None:
        """A click on a row of an org table selects that org (its figures, children, ...)."""
        self.org_select.value = widget.value.iloc[event.row]["org_id"]

    def _go_up(self, _event) -> None:
        current = self.org_select.value
        parent = self.orgs.loc[current, "parent_id"]
        if current != self.root and parent in self.orgs.index:
            self.org_select.value = parent

    def refresh(self) -> None:
        """Re-read the account figures of the selected org and period and redraw everything."""
        org_id, period = self.org_select.value, self.period_select.value
        lang = self.lang
        self.download.filename = f"carbon_{org_id}_{period}.csv"
        figures = accounts.account_figures(self.lake, org_id, period)
        values = dict(zip(figures.item, figures.value))
        units = dict(zip(figures.item, figures.unit))
        self.header.object = (f'<div class="carbon-header" data-org="{org_id}">{self.name(org_id)} · {period}</div>'
                              f'<div class="carbon-note">{label(self.orgs.loc[org_id, "level"], lang)} · {org_id} · '
                              f'tCO2e, rounded to whole tonnes · snapshot {figures.snapshot_id.max() if len(figures) else "–"}</div>')
        self.kpis.object = kpi_cards(values, KPI_ITEMS, units, lang)
        self.breakdown.object = breakdown_chart(values, lang, width=VOILA_CHART_WIDTH)
        self.figures = pd.DataFrame({
            "org_id": org_id, "period": period, "item": figures.item, "label": [label(i, lang) for i in figures.item],
            "value": figures.value.round(3), "unit": figures.unit, "basis": figures.basis})
        self.figures_table.value = self.figures

        kids = self.children(org_id)
        wide = figures_wide(self.lake, list(kids.org_id), period)
        kid_table = self._org_table(kids, wide)
        self.children_table.value = kid_table
        self.children_chart.object = bars_chart(kid_table.rename(columns={"name": "unit"}), "unit",
                                                ("emissions_total", "removals", "net"), lang, label("ui_children", lang),
                                                width=VOILA_CHART_WIDTH)
        enterprises, sites = self.below(org_id, "enterprise"), self.below(org_id, "site")
        leaves = pd.concat([enterprises, sites])
        leaf_wide = figures_wide(self.lake, list(leaves.org_id), period)
        leaf_table = self._org_table(leaves, leaf_wide)
        self.top_table.value = leaf_table[leaf_table.org_id.isin(enterprises.org_id)].sort_values(
            "emissions_total", ascending=False).head(10).reset_index(drop=True)
        self.sink_table.value = leaf_table[leaf_table.org_id.isin(sites.org_id)].sort_values(
            "removals", ascending=False).reset_index(drop=True)
        located = leaves.join(self.coords, on="org_id").join(leaf_wide, on="org_id")
        for item in ("emissions_total", "removals"):
            located[item] = located.get(item, 0.0)
        self.map.object = map_chart(located, lang, width=VOILA_CHART_WIDTH)
        year = period[:4]
        self.trend.object = trend_chart(monthly_trend(self.lake, [org_id], year), lang, width=VOILA_CHART_WIDTH)

    def _org_table(self, orgs: pd.DataFrame, wide: pd.DataFrame) -> pd.DataFrame:
        """Name, level and formatted-ready figures of ``orgs`` (org_id kept for drill-down)."""
        frame = pd.DataFrame({"org_id": orgs.org_id.to_numpy(), "name": [org_name(r, self.lang) for r in orgs.to_dict("records")],
                              "level": [label(v, self.lang) for v in orgs.level]})
        for item in ("emissions_total", "removals", "net"):
            frame[item] = wide[item].reindex(orgs.org_id).round(0).to_numpy() if item in wide else 0.0
        return frame.fillna({"emissions_total": 0.0, "removals": 0.0, "net": 0.0})

    def layout(self) -> pn.viewable.Viewable:
        """The whole overview page."""
        lang = self.lang
        def titled(key: str, widget) -> pn.Column:
            return pn.Column(html(f'<div class="carbon-header">{label(key, lang)}</div>'), widget, sizing_mode="stretch_width")

        return pn.Column(
            html(f'<div class="carbon-header">{label("ui_overview", lang)}</div>'),
            pn.Row(self.org_select, self.period_select, self.up, self.download), self.message, self.header, self.kpis,
            pn.Row(self.children_chart, self.map, sizing_mode="stretch_width"),
            pn.Row(titled("ui_children", self.children_table), titled("ui_top_emitters", self.top_table),
                   titled("ui_sink_sites", self.sink_table), sizing_mode="stretch_width"),
            pn.Row(self.breakdown, self.trend, sizing_mode="stretch_width"),
            titled("ui_figures", self.figures_table), sizing_mode="stretch_width")


class Disclosure(_ScopedView):
    """Public disclosure (clause 5.4/10.2): regional and per-enterprise/site source and sink totals only.

    Shows :data:`PUBLIC_ITEMS` of annual accounts; no categories, activity data or caps.
    Regions are the province, cities and counties; anyone may see the whole province.
    """

    def __init__(self, lake: Lake, tree: pd.DataFrame, org: str | None = None, period: str | None = None,
                 lang: str = "zh"):
        regions = tree[tree.level.isin(["province", "city", "county"])]
        message = None
        if org and org not in set(regions.org_id):
            message, org = f"{org!r} is not a region of this disclosure; showing the province.", None
        super().__init__(lake, regions, org or regions.org_id.iloc[0], lang, message)
        self.leaves = tree[tree.level.isin(["enterprise", "site"])]
        available = periods(lake, regions.org_id.iloc[0], annual_only=True)
        self.period_select = pn.widgets.Select(name=label("ui_period", lang), options=available,
                                               value=period if period in available else available[0], width=140)
        self.header = html(sizing_mode="stretch_width")
        self.kpis = html(sizing_mode="stretch_width")
        self.chart = chart_pane(sizing_mode="stretch_width", height=360)
        self.table = table(lang, height=420)
        self.download = csv_download(lambda: self.table.value, "carbon_disclosure.csv", lang)
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the public figures of the selected region and period."""
        org_id, period, lang = self.org_select.value, self.period_select.value, self.lang
        self.download.filename = f"carbon_disclosure_{org_id}_{period}.csv"
        own = figures_wide(self.lake, [org_id], period)
        self.header.object = f'<div class="carbon-header" data-org="{org_id}">{self.name(org_id)} · {period}</div>'
        self.kpis.object = kpi_cards(own.iloc[0].to_dict(), PUBLIC_ITEMS, {}, lang)
        inside = self.leaves[self.leaves.path.str.split("/").map(lambda ids: org_id in ids)]
        wide = figures_wide(self.lake, list(inside.org_id), period)
        table = pd.DataFrame({"org_id": inside.org_id.to_numpy(),
                              "name": [org_name(r, lang) for r in inside.to_dict("records")],
                              "level": [label(v, lang) for v in inside.level]})
        for item in PUBLIC_ITEMS:
            table[label(item, lang) + " (tCO2e)"] = (wide[item].round(0).to_numpy() if item in wide else 0.0)
        self.table.value = table.fillna(0.0)
        chart = table.rename(columns={label(i, lang) + " (tCO2e)": i for i in PUBLIC_ITEMS})
        self.chart.object = bars_chart(chart, "name", ("emissions_total", "removals"), lang, label("ui_disclosure", lang),
                                      width=2 * VOILA_CHART_WIDTH)

    def layout(self) -> pn.viewable.Viewable:
        """The whole disclosure page."""
        return pn.Column(html(f'<div class="carbon-header">{label("ui_disclosure", self.lang)}</div>'),
                         pn.Row(self.org_select, self.period_select, self.download), self.message, self.header,
                         self.kpis, self.chart, self.table, sizing_mode="stretch_width")


class Monitor(_ScopedView):
    """Real-time telemetry monitor (Panel): device status, latest values, tower and meter charts.

    :meth:`refresh` re-reads the recent window (:func:`recent_readings`); the app calls it on a
    periodic callback, so new telemetry appears without a page reload.
    """

    def __init__(self, lake: Lake, access: Access, viewer: str, org: str | None = None, lang: str = "zh"):
        org_id, message = access.clamp(viewer, org)
        super().__init__(lake, access.subtree(viewer), org_id, lang, message)
        self.devices_all = lake.read("device")
        self.units = dict(zip(*lake.read("metric", columns=["metric", "unit"]).to_dict("list").values()))
        self.newest = html(sizing_mode="stretch_width")
        self.table = table(lang, height=380)
        self.tower_select = pn.widgets.Select(name=label("ui_flux", lang), width=220)
        self.meter_select = pn.widgets.Select(name=label("ui_meter", lang), width=320)
        self.flux_charts = chart_pane(sizing_mode="stretch_width", height=480)
        self.meter_chart = chart_pane(sizing_mode="stretch_width", height=260)
        self.org_select.param.watch(lambda _: self._choose_devices(), "value")
        self.tower_select.param.watch(lambda _: self.refresh(), "value")
        self.meter_select.param.watch(lambda _: self.refresh(), "value")
        self._choose_devices()
        colours = {label(status, lang): colour for status, colour in theme.STATUS_COLOURS.items()}
        self.table.style.map(lambda shown: f"color: {colours.get(shown, theme.NEUTRAL)}; font-weight: 600", subset=["status"])

    def _choose_devices(self) -> None:
        inside = self.tree[self.tree.path.str.split("/").map(lambda ids: self.org_select.value in ids)]
        self.devices = self.devices_all[self.devices_all.org_id.isin(inside.org_id)]
        towers = sorted(self.devices[self.devices.kind == "flux_tower"].device_id)
        meters = sorted(self.devices[self.devices.kind != "flux_tower"].device_id)
        self.tower_select.options, self.meter_select.options = towers, meters
        self.tower_select.value = towers[0] if towers else None
        self.meter_select.value = next((m for m in meters if m.endswith("electricity_import")), meters[0] if meters else None)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the recent window and redraw status table and charts."""
        recent = recent_readings(self.lake, list(self.devices.device_id))
        status = device_status(self.devices, self.lake, recent)
        latest = recent.sort_values("ts").groupby(["device_id", "metric"]).tail(1)
        text = latest.groupby("device_id").apply(lambda g: " · ".join(
            f"{m} {theme.format_value(v, self.units.get(m, ''))} {self.units.get(m, '')}" for m, v in zip(g.metric, g.value)),
            include_groups=False)
        lang = self.lang
        table = pd.DataFrame({
            label("ui_device", lang): status.device_id, "org_id": status.org_id, "kind": status.kind,
            "status": [label(s, lang) for s in status.status],
            "last_seen (UTC)": status.last_seen.dt.strftime("%Y-%m-%d %H:%M"), "age_h": status.age_h.round(1),
            "good_share": (status.good_share * 100).round(1).astype(str) + " %",
            "dq_flag": ["⚠ QC" if s < 0.95 else "" for s in status.good_share.fillna(0)],
            "latest": status.device_id.map(text).fillna("")})
        self.table.value = table
        newest = status.last_seen.max()
        counts = status.status.value_counts()
        self.newest.object = (f'<div class="carbon-header" data-newest="{newest:%Y-%m-%d %H:%M}">{label("ui_latest", lang)}: '
                              f'{newest:%Y-%m-%d %H:%M} UTC · '
                              + " · ".join(f'<span style="color:{theme.STATUS_COLOURS[s]}">{label(s, lang)} {counts.get(s, 0)}</span>'
                                           for s in ("online", "late", "offline")) + "</div>")
        tower = self.tower_select.value
        if tower:
            charts = [readings_chart(recent, tower, m, self.units.get(m, "")) for m in ("NEE", "Tair", "Rg")]
            self.flux_charts.object = hv.Layout(charts).cols(1).opts(shared_axes=False)
        if self.meter_select.value:
            metric = recent[recent.device_id == self.meter_select.value].metric
            m = metric.iloc[0] if len(metric) else ""
            self.meter_chart.object = readings_chart(recent, self.meter_select.value, m, self.units.get(m, ""))

    def layout(self) -> pn.viewable.Viewable:
        """The whole monitor page."""
        lang = self.lang
        return pn.Column(html(f'<div class="carbon-header">{label("ui_monitor", lang)}</div>'),
                         pn.Row(self.org_select, self.tower_select, self.meter_select), self.message, self.newest,
                         html(f'<div class="carbon-header">{label("ui_devices", lang)}</div>'), self.table,
                         pn.Row(self.flux_charts, self.meter_chart, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")


class Explorer(_ScopedView):
    """Analyst explorer (Panel): account figures of enterprises and sites, linked to their trends.

    Selecting rows of the table (linked selection) redraws the monthly account trend of those
    units and the daily telemetry (``telemetry_daily``) of their devices for the chosen metric.
    """

    def __init__(self, lake: Lake, access: Access, viewer: str, org: str | None = None, period: str | None = None,
                 lang: str = "zh"):
        org_id, message = access.clamp(viewer, org)
        super().__init__(lake, access.subtree(viewer), org_id, lang, message)
        self.devices_all = lake.read("device")
        available = periods(lake, access.allowed_root(viewer), annual_only=True)
        self.period_select = pn.widgets.Select(name=label("ui_period", lang), options=available,
                                               value=period if period in available else available[0], width=140)
        metrics = lake.query("SELECT DISTINCT metric FROM telemetry_daily ORDER BY metric").metric.tolist()
        self.metric_select = pn.widgets.Select(name=label("ui_metric", lang), options=metrics,
                                               value="electricity_import" if "electricity_import" in metrics else metrics[0],
                                               width=200)
        self.table = table(lang, height=330, selectable="checkbox")
        self.selected = html(sizing_mode="stretch_width")
        self.trend = chart_pane(sizing_mode="stretch_width", height=320)
        self.daily = chart_pane(sizing_mode="stretch_width", height=320)
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.metric_select.param.watch(lambda _: self.redraw_selection(), "value")
        self.table.param.watch(lambda _: self.redraw_selection(), "selection")
        self.refresh()

    def refresh(self) -> None:
        """Re-read the table of units below the selected org; select its three top emitters."""
        org_id, period = self.org_select.value, self.period_select.value
        units = pd.concat([self.below(org_id, "enterprise"), self.below(org_id, "site")])
        wide = figures_wide(self.lake, list(units.org_id), period)
        table = pd.DataFrame({"org_id": units.org_id.to_numpy(),
                              "name": [org_name(r, self.lang) for r in units.to_dict("records")],
                              "level": units.level.to_numpy()})
        for item in ("emissions_total", "removals", "net", "cap_utilisation"):
            table[item] = wide[item].reindex(units.org_id).round(3 if item == "cap_utilisation" else 0).to_numpy() \
                if item in wide else float("nan")
        table = table.sort_values("emissions_total", ascending=False, na_position="last").reset_index(drop=True)
        self.table.value = table
        self.table.selection = list(range(min(3, len(table))))
        self.redraw_selection()

    def redraw_selection(self) -> None:
        """Redraw trend and daily telemetry for the selected rows."""
        chosen = self.table.value.iloc[self.table.selection] if len(self.table.value) else self.table.value
        names = dict(zip(chosen.org_id, chosen.name))
        self.selected.object = (f'<div class="carbon-note" data-testid="selected" data-scope="{self.org_select.value}">'
                                f'{label("ui_selected", self.lang)}: '
                                f'{", ".join(names.values()) or "–"}</div>')
        year = self.period_select.value
        trend = monthly_trend(self.lake, list(names) or [""], year, ("emissions_total", "removals"))
        trend = trend.assign(value=trend.value.where(trend.item == "emissions_total", -trend.value))
        self.trend.object = trend_chart(trend.groupby(["org_id", "month"], as_index=False).value.sum(), self.lang,
                                        by="org_id", names=names, title=f'{label("ui_trend", self.lang)} · {label("net", self.lang)}')
        devices = self.devices_all[self.devices_all.org_id.isin(names)].device_id.tolist()
        metric = self.metric_select.value
        daily = daily_telemetry(self.lake, devices, metric, year)
        column = "mean" if metric in ("NEE", "Rg", "Tair", "Ustar", "VPD") else "total"
        curves = [hv.Curve(part, "day", column, label=device).opts(tools=["hover"]) for device, part in daily.groupby("device_id")]
        self.daily.object = (hv.Overlay(curves) if curves else hv.Overlay([hv.Curve([], "day", column)])).opts(
            title=f'{label("ui_daily", self.lang)} · {metric} ({column})', responsive=True, height=320,
            legend_position="top_left", yformatter=NumeralTickFormatter(format="0,0.[0]"))

    def layout(self) -> pn.viewable.Viewable:
        """The whole explorer page."""
        return pn.Column(html(f'<div class="carbon-header">{label("ui_explorer", self.lang)}</div>'),
                         pn.Row(self.org_select, self.period_select, self.metric_select), self.message,
                         self.table, self.selected, pn.Row(self.trend, self.daily, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")


def panel_session() -> tuple[dict[str, str], Lake]:
    """Start a ``panel serve`` session: offline theme, URL arguments, a read-only lake closed with the session."""
    theme.init_panel()
    args = {key: values[0].decode() for key, values in pn.state.session_args.items()}
    lake = Lake.open(read_only=True)
    pn.state.on_session_destroyed(lambda _context, lake=lake: lake.close())  # bound now: Bokeh clears the app module
    return args, lake


def error_page(message: str) -> pn.viewable.Viewable:
    """What a dashboard shows when the request cannot be served (unknown viewer, bad parameter)."""
    return html(refused_html(message), sizing_mode="stretch_width")
