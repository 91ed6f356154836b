"""Dashboard components: KPI cards, tables and the four dashboard views.

Views (:class:`Overview`, :class:`Disclosure`, :class:`Monitor`, :class:`Explorer`) are Panel
layouts; the Voila notebooks and Panel apps in ``dashboards/`` only pick parameters and show
one.  They read the in-memory roll-ups of :mod:`.data` (account figures, org tree, daily
telemetry) and, for the monitor, the SQL status of the recent telemetry window, so no
interaction scans the lake.  Charts are :mod:`.figures` built once per view and updated in
place.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping
from typing import ClassVar

import pandas as pd
import panel as pn
from bokeh.models import NumberFormatter

from .. import boundaries
from ..alerts.notify import text as alert_text
from ..lake import Lake
from ..security import ANONYMOUS, Grant, PermissionDenied, Principal, SessionInvalid
from ..markup import Markup
from ..markup import html as markup
from . import data as rollup_data
from . import figures, theme
from ..i18n import LANGUAGES, label
from ..i18n import message as i18n_message
from .scope import Scope

#: Items shown as headline KPI cards (Overview).
KPI_ITEMS = ("emissions_total", "removals", "net", "cap_utilisation")
#: Public disclosure (clause 5.4/10.2) shows these items only: no activity data, no categories.
PUBLIC_ITEMS = ("emissions_total", "removals", "net")
#: Table columns holding tCO2e (plain item names or "<label> (tCO2e)"), shown as whole tonnes.
TONNE_COLUMNS = (*PUBLIC_ITEMS, *(f"{label(i, lang)} (tCO2e)" for i in PUBLIC_ITEMS for lang in LANGUAGES))
#: Chart width in the Voila views (plots inside ipywidgets get no width to stretch into).
VOILA_CHART_WIDTH = 640
#: Metrics whose daily roll-up is shown as a mean (the others as daily totals).
MEAN_METRICS = ("NEE", "Rg", "Tair", "Ustar", "VPD")


def org_name(row: Mapping, lang: str) -> str:
    """Display name of an org row in ``lang``."""
    return row["name_zh"] if lang == "zh" else row["name_en"]


# ----------------------------------------------------------------------------- small pieces
def interval_text(low: float | None, high: float | None, unit: str, lang: str) -> str:
    """'95 % interval low – high' of a figure (formatted as its value), 'exact' (an allocated amount or a count:
    both ends equal the value), or 'no interval estimate'."""
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return i18n_message("ui_no_interval", lang)
    if low == high:
        return i18n_message("ui_exact", lang)
    return i18n_message("ui_interval", lang, low=theme.format_value(float(low), unit),
                        high=theme.format_value(float(high), unit))


def kpi_cards(figures: Mapping[str, float], items: tuple[str, ...], units: Mapping[str, str], lang: str,
              intervals: Mapping[str, tuple[float, float, str]] | None = None) -> Markup:
    """HTML of KPI cards; each card carries ``data-item`` and its number in ``.kpi-number``.

    ``intervals`` (item -> ci95_low, ci95_high, uncertainty note): a card of an item in it shows the 95 %
    interval under its number (``.kpi-interval``) and the note as its tooltip (why there is none, if so).
    """
    cards = []
    for item in items:
        unit = units.get(item, "share" if item == "cap_utilisation" else "tCO2e")
        low, high, note = (intervals or {}).get(item, (None, None, None))
        interval = (markup('<div class="kpi-interval">{}</div>', interval_text(low, high, unit, lang))
                    if intervals is not None and item in intervals else Markup(""))
        cards.append(markup(
            '<div class="carbon-kpi" data-item="{}" style="--kpi-colour:{}" title="{}"><div class="kpi-title">{}</div>'
            '<div class="kpi-value"><span class="kpi-number">{}</span><span class="kpi-unit">{}</span></div>{}</div>',
            item, theme.ITEM_COLOURS.get(item, theme.NEUTRAL), note or "", label(item, lang),
            theme.format_value(figures.get(item), unit), "" if unit == "share" else theme.unit_symbol(unit), interval))
    return markup('<div class="carbon-kpis">{}</div>', Markup("").join(cards))


def figure_intervals(own: pd.DataFrame) -> dict[str, tuple[float, float, str]]:
    """item -> (ci95_low, ci95_high, uncertainty) of account figures (:func:`kpi_cards`' ``intervals``)."""
    if "ci95_low" not in own:
        return {}
    return {row.item: (row.ci95_low, row.ci95_high, row.uncertainty if isinstance(row.uncertainty, str) else "")
            for row in own.itertuples(index=False)}


def pending_notice(figures: Mapping[str, float], lang: str) -> Markup:
    """A banner saying the period is pending (ledger entries await review: ``pending_entry_months`` > 0; its
    ``data-pending`` carries the number), or nothing when the figures are final."""
    pending = figures.get("pending_entry_months") or 0.0
    if pending <= 0:
        return Markup("")
    return markup('<div class="carbon-pending" data-pending="{}">{}</div>', f"{pending:.0f}",
                  i18n_message("ui_pending", lang, n=f"{pending:,.0f}"))


class Choice(pn.widgets.Select):
    """A drop-down whose choice the server handles at once.

    Panel waits 50 ms (``Reactive._debounce``) before handling a widget's change, so that typing
    or dragging a slider sends one update, not many; a choice in a drop-down is one discrete
    event, so it is handled on the next turn of the event loop (measured on the large demo: the
    overview's headline reached the browser about 50 ms after the change, against 67 ms).
    """

    _debounce: ClassVar[int] = 0


#: Milliseconds between setting a page's headline and drawing its details.  Panel writes pane updates
#: from a task that retries every 10 ms while the socket is busy (the reply to the browser's change
#: is still going out); details drawn on the next tick block the loop for 0.1-0.3 s and held the
#: headline back until they were done (measured: headline in the browser 190-300 ms after the change).
HEADLINE_LEAD_MS = 30


def after_headline(details: Callable[[], None]) -> None:
    """Run ``details`` after the headline just set has had time to go to the browser (served:
    :data:`HEADLINE_LEAD_MS` later on the session's event loop, with the document lock, errors shown
    as Panel shows a callback's); not served (a test, a notebook): now."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        details()
        return
    doc.add_timeout_callback(lambda: pn.state.execute(details, schedule=False), HEADLINE_LEAD_MS)


class _HTML(pn.pane.HTML):
    """An HTML pane whose updates carry its style sheets only when they changed.

    Panel 1.9 gives a pane's first model style-sheet models of its own, and on an update rebuilds the list
    from a per-document cache: the first update after a page opened re-sent every pane's style sheets (about
    10 kB, and 0.2–0.4 s before the first change's figures showed).  Sheets are the same when their URLs (or
    inline CSS) are, whichever model holds them."""

    def _update(self, ref: str, model) -> None:
        properties = self._get_properties(model.document)
        if _sheets(properties.get("stylesheets", ())) == _sheets(model.stylesheets):
            properties.pop("stylesheets", None)
        model.update(**properties)


def _sheets(stylesheets) -> list[str]:
    return [sheet if isinstance(sheet, str) else str(getattr(sheet, "url", None) or getattr(sheet, "css", sheet))
            for sheet in stylesheets]


def after_first_paint(*objects: pn.viewable.Viewable) -> pn.Column:
    """A column of ``objects``; served, they join the page once the browser has drawn the rest of it
    (``pn.state.onload``), so the headline above them shows first (on the large demo the overview's
    headline painted after 1.5 s with its tables and charts in the first render, 1.0 s without; the
    monitor's newest-reading line 1.4 s with its charts, 1.1 s without); not served (Voila, a test, a
    notebook): at once."""
    column = pn.Column(sizing_mode="stretch_width")
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        column.extend(objects)
    else:
        pn.state.onload(lambda: column.extend(objects))
    return column


def html(content: Markup = Markup(""), stylesheets: tuple[str, ...] = (), **kwargs) -> pn.pane.HTML:
    """An HTML pane (with the theme's stylesheet and ``stylesheets``: Panel panes live in shadow DOM) for HTML
    built by :func:`carbonlib.markup.html`; plain strings are refused, so no value reaches a page unescaped."""
    return _HTML(_checked(content), stylesheets=[theme.CSS, *stylesheets], **kwargs)


def set_html(pane: pn.pane.HTML, content: Markup) -> None:
    """Show ``content`` (built by :func:`carbonlib.markup.html`) in ``pane``."""
    pane.object = _checked(content)


def _checked(content: Markup) -> str:
    """The HTML text of ``content``, which must be :class:`Markup` (Panel is given a plain ``str``)."""
    if not isinstance(content, Markup):
        raise TypeError("dashboard HTML must be built with carbonlib.markup.html (values escaped), not a plain string")
    return str(content)


def header(text: str) -> Markup:
    """A section header."""
    return markup('<div class="carbon-header">{}</div>', text)


def refused_html(message: str | None) -> Markup:
    """HTML of a refusal/clamp message (empty when there is none)."""
    return markup('<div class="carbon-refused" data-testid="refused">{}</div>', message) if message else Markup("")


def _table_formatters() -> dict:
    """Cell formats (new Bokeh models per table: a model belongs to one document only)."""
    return {**{name: NumberFormatter(format="0,0", text_align="right") for name in TONNE_COLUMNS},
            "cap_utilisation": NumberFormatter(format="0.0 %", text_align="right")}


def table(lang: str, **kwargs) -> pn.widgets.Tabulator:
    """A read-only Tabulator styled with the inline theme CSS (works offline, also inside Voila).

    Columns named like account items and the common ones (``name``, ``level``, ``org_id``,
    ``period``, ``label``, ``value``, ``unit``, ``ci95``, ``uncertainty``, ``basis``) get their display names in ``lang``;
    the data keeps its column names (CSV downloads, server-side selections).
    """
    titles = {key: label(key, lang) for key in (*PUBLIC_ITEMS, "cap_utilisation")}
    titles.update(name=label("ui_name", lang), level=label("ui_level", lang), org_id=label("ui_org_code", lang),
                  period=label("ui_period", lang), label=label("ui_item", lang), value=label("ui_value", lang),
                  unit=label("ui_unit", lang), basis=label("ui_basis", lang), ci95=label("ui_interval_column", lang),
                  uncertainty=label("ui_uncertainty", lang))
    options = {"disabled": True, "show_index": False, "sizing_mode": "stretch_width", "layout": "fit_data_stretch",
               "stylesheets": [theme.tabulator_css()], "formatters": _table_formatters(), "titles": titles}
    return pn.widgets.Tabulator(pd.DataFrame(), **{**options, **kwargs})


def text_table(columns: dict) -> pd.DataFrame:
    """A table of text columns (format numbers first): a Tabulator keeps the column types of its first value, so a
    table first shown empty (float columns) would show later text as NaN."""
    return pd.DataFrame({name: pd.Series(list(values), dtype=object) for name, values in columns.items()})


def csv_download(frame_getter, filename: str, lang: str, before=None) -> pn.widgets.FileDownload:
    """A button that downloads the DataFrame returned by ``frame_getter()`` as UTF-8 CSV.

    ``before()`` runs first (the views check the session and audit the export there; it may raise).
    """
    def callback() -> io.BytesIO:
        if before is not None:
            before()
        return io.BytesIO(frame_getter().to_csv(index=False).encode("utf-8-sig"))
    return pn.widgets.FileDownload(callback=callback, filename=filename, label=label("ui_download", lang),
                                   button_type="primary", embed=False, auto=True)


# ----------------------------------------------------------------------------- views
def bokeh_pane(chart, **kwargs) -> pn.pane.Bokeh:
    """A Panel pane around a :mod:`.figures` chart (its Bokeh figure)."""
    return pn.pane.Bokeh(chart.figure, **kwargs)


class _ScopedView:
    """Shared state of the dashboards: lake, roll-ups, org tree (scoped), language and the org selector."""

    def __init__(self, lake: Lake, rollups: rollup_data.Rollups, tree: pd.DataFrame, org: str, lang: str,
                 message: str | None = None):
        self.lake, self.data, self.lang = lake, rollups, lang
        self.tree = tree.reset_index(drop=True)
        self.orgs = self.tree.set_index("org_id")
        records = self.tree.to_dict("records")
        self._names = {r["org_id"]: org_name(r, lang) for r in records}
        self._path_ids = self.tree.path.str.split("/")
        root_depth = int(self.tree.depth.min())
        options = {f"{'— ' * (int(r['depth']) - root_depth)}{self._names[r['org_id']]} ({r['org_id']})": r["org_id"]
                   for r in records}
        self.org_select = Choice(name=label("ui_org", lang), options=options, value=org, width=340)
        self.message = html(sizing_mode="stretch_width")
        self.notices: list[str] = []
        #: checks the session again on each user action (None: not served, e.g. a preheating Voila kernel)
        self.guard = None
        #: leaves an audit record: audit(action, org_id, outcome, detail)
        self.audit = None
        self.page: pn.Column | None = None
        #: "updating" until a choice's details are drawn, then a ``carbon-drawn`` marker (overview, explorer)
        self.progress = html(sizing_mode="stretch_width")
        self._choice = 0  # counts the choices shown; the details of an older one are not drawn
        if message:
            self.notice(message)

    def name(self, org_id: str) -> str:
        """The display name of ``org_id`` in the page's language (KeyError outside the tree)."""
        return self._names[org_id]

    def checked(self, touch: bool = True) -> bool:
        """Whether the session is still live (a person's action ``touch``es it); if not, the page says so and stops."""
        if self.guard is None:
            return True
        try:
            self.guard(touch)
            return True
        except SessionInvalid as ended:
            if self.page is not None:
                self.page.objects = [error_page(f"{ended} ({label('ui_reload', self.lang)})")]
            return False

    def record(self, action: str, org_id: str, outcome: str = "ok", detail: str = "") -> None:
        if self.audit is not None:
            self.audit(action, org_id, outcome, detail)

    def details_after_headline(self, org_id: str, period: str, details: Callable[[], None]) -> None:
        """Say "updating" and run ``details`` once the headline just set has gone out (:func:`after_headline`),
        then mark ``org_id`` and ``period`` drawn; a newer choice made before then supersedes this one."""
        set_html(self.progress, markup('<div class="carbon-note carbon-updating">{}</div>', label("ui_updating", self.lang)))
        self._choice += 1
        choice = self._choice

        def draw() -> None:
            if choice == self._choice:
                details()
                set_html(self.progress, markup('<div class="carbon-drawn" data-org="{}" data-period="{}"></div>',
                                               org_id, period))

        after_headline(draw)

    def notice(self, text: str) -> None:
        """Show ``text`` (why a request was clamped or refused) above the page, after the earlier notices."""
        self.notices.append(text)
        set_html(self.message, refused_html(" ".join(self.notices)))

    def selected_org(self) -> str:
        """The org selected, re-checked against the viewer's scope on every use.

        The page's widgets live in the browser and send values back; a value outside the
        scope (a forged request) selects the top of the scope instead and says so.
        """
        org_id = self.org_select.value
        if org_id in self.orgs.index:
            return org_id
        top = self.tree.org_id.iloc[0]
        self.record("view_figures", str(org_id)[:60], "denied", "an org outside the scope came back from the page")
        self.org_select.value = top
        self.notice(f"{str(org_id)[:60]!r} is not an org this page may show; showing {top} instead.")
        return top

    def in_scope(self, org_ids) -> list[str]:
        """The ``org_ids`` that lie in the viewer's scope (any other id, however it came back from the page, is dropped)."""
        return [o for o in org_ids if o in self.orgs.index]

    def period_selector(self, available: list[str], requested: str | None) -> pn.widgets.Select:
        """The period selector: ``requested`` when available, else the first (newest year) and a message saying so."""
        if requested and requested not in available:
            self.notice(f"no accounts for period {str(requested)[:40]!r}; showing {available[0]} "
                        f"(periods with accounts: {', '.join(available[:6])}…)")
        return Choice(name=label("ui_period", self.lang), options=available,
                      value=requested if requested in available else available[0], width=140)

    def selected_period(self) -> str:
        """The period selected, re-checked against the periods offered (a forged value selects the newest)."""
        if self.period_select.value not in self.period_select.options:
            self.period_select.value = self.period_select.options[0]
        return self.period_select.value

    def names(self, orgs: pd.DataFrame) -> list[str]:
        return [org_name(r, self.lang) for r in orgs.to_dict("records")]

    def children(self, org_id: str) -> pd.DataFrame:
        return self.tree[self.tree.parent_id == org_id]

    def inside(self, org_id: str) -> pd.DataFrame:
        """Orgs in the subtree of ``org_id`` (itself included)."""
        return self.tree[self._path_ids.map(lambda ids: org_id in ids)]

    def below(self, org_id: str, level: str) -> pd.DataFrame:
        """Orgs of ``level`` in the subtree of ``org_id``."""
        inside = self.inside(org_id)
        return inside[inside.level == level]

    def leaf_units(self, org_id: str, period: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The enterprises and sink sites below ``org_id`` (tree rows) and their :meth:`org_table` in ``period``
        (missing figures as 0), row for row."""
        leaves = pd.concat([self.below(org_id, "enterprise"), self.below(org_id, "site")])
        return leaves, self.org_table(leaves, period).fillna(0.0)

    def draw_map(self, chart: figures.RegionMap, org_id: str, period: str,
                 units: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> None:
        """Show on ``chart`` the regions one level below ``org_id`` coloured by their net emissions in ``period``,
        and the enterprises, sink sites and flux towers of its subtree (``units``: :meth:`leaf_units`, when the
        caller has them already).

        The region in focus is the org's own (an enterprise or site: its county); regions outside
        the viewer's scope, or without an org in the lake, are drawn without figures.  The colour
        scale spans the largest |net| of the viewer's regions of the level shown.
        """
        outlines = boundaries.regions()
        focus = outlines.get(str(self.orgs.loc[org_id, "region_code"]))
        shown = (boundaries.children(focus.code) or [focus]) if focus else []
        regional = self.tree[self.tree.level.isin(["province", "city", "county"])]
        by_code = dict(zip(regional.region_code, regional.org_id))
        region_orgs = [by_code[r.code] for r in shown if r.code in by_code]
        # one colour scale for every region of the level shown (siblings drawn in turn compare)
        level = shown[0].level if shown else None
        peers = self.data.wide(list(regional[regional.level == level].org_id), period)
        scale = float(peers["net"].abs().max()) if "net" in peers and peers["net"].notna().any() else None
        figures_by_org = peers.reindex(region_orgs)
        net = {code: float(figures_by_org.loc[org, "net"]) for code, org in by_code.items()
               if org in region_orgs and "net" in figures_by_org and pd.notna(figures_by_org.loc[org, "net"])}
        names = {code: self.name(org) for code, org in by_code.items() if org in region_orgs}
        leaves, leaf_table = units or self.leaf_units(org_id, period)
        places = leaves[["org_id", "level"]].rename(columns={"level": "kind"}).join(self.data.coords, on="org_id").assign(
            name=leaf_table.name.to_numpy(),
            figure=leaf_table.emissions_total.where(leaves.level.to_numpy() == "enterprise", leaf_table.removals).to_numpy())
        towers = self.data.devices[(self.data.devices.kind == "flux_tower") & self.data.devices.org_id.isin(leaves.org_id)]
        tower_places = towers[["device_id", "org_id"]].join(self.data.coords, on="org_id").assign(
            kind="flux_tower", name=towers.device_id.to_numpy(), figure=float("nan"))
        chart.update(focus, shown, net, names, pd.concat([places, tower_places], ignore_index=True), scale)

    def org_table(self, orgs: pd.DataFrame, period: str, items: tuple[str, ...] = PUBLIC_ITEMS) -> pd.DataFrame:
        """org_id, name, level and ``items`` of ``orgs`` in ``period`` (tCO2e rounded to whole tonnes)."""
        wide = self.data.wide(list(orgs.org_id), period)
        frame = pd.DataFrame({"org_id": orgs.org_id.to_numpy(), "name": self.names(orgs),
                              "level": [label(v, self.lang) for v in orgs.level]})
        for item in items:
            digits = 3 if item == "cap_utilisation" else 0
            frame[item] = wide[item].round(digits).to_numpy() if item in wide else float("nan")
        return frame


class Overview(_ScopedView):
    """Managers' overview (Voila): KPIs, children, map, breakdown, trend, top emitters, sinks, CSV."""

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, period: str | None = None,
                 lang: str = "zh", rollups: rollup_data.Rollups | None = None):
        org_id, message = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, message)
        self.root = scope.root
        self.period_select = self.period_selector(self.data.periods(self.root), period)
        self.up = pn.widgets.Button(name=label("ui_up", lang), width=140)
        self.header = html(sizing_mode="stretch_width")
        self.kpis = html(sizing_mode="stretch_width")
        self.pending = html(sizing_mode="stretch_width")
        self.children_chart = figures.GroupedBars(PUBLIC_ITEMS, lang, label("ui_children", lang), 330, VOILA_CHART_WIDTH)
        self.map = figures.RegionMap(lang, 420, VOILA_CHART_WIDTH)
        self.breakdown = figures.Breakdown(lang, 310, VOILA_CHART_WIDTH)
        self.trend = figures.Lines(label("ui_trend", lang), "tCO2e", 310, VOILA_CHART_WIDTH)
        self.children_table = table(lang, height=230, hidden_columns=["org_id"])
        self.top_table = table(lang, height=230, hidden_columns=["org_id", "level", "removals"])
        self.sink_table = table(lang, height=230, hidden_columns=["org_id", "level", "emissions_total"])
        self.figures_table = table(lang, height=300, hidden_columns=["item"])  # the label column names it
        self.download = csv_download(lambda: self.figures, f"carbon_{org_id}_{self.period_select.value}.csv", lang,
                                     before=self._exporting)
        self._rows: dict[str, pd.DataFrame] = {}  # what each org table shows, kept on the server
        for key, widget in (("children", self.children_table), ("top", self.top_table), ("sinks", self.sink_table)):
            widget.on_click(lambda event, key=key: self._drill_down(key, event))
        self.up.on_click(self._go_up)
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.refresh()

    def _exporting(self) -> None:
        if not self.checked():
            raise SessionInvalid("session ended")
        self.record("export_figures", self.org_select.value, detail=f"CSV of {self.period_select.value}")

    def _drill_down(self, key: str, event) -> None:
        """A click on a row of an org table selects that org (its figures, children, ...).

        The row is looked up in the server's copy of the table, never in the values the page
        sends back (a cell edited in the browser must not select an org outside the scope).
        """
        rows = self._rows.get(key)
        if rows is None or not 0 <= event.row < len(rows) or not self.checked():
            return
        chosen = self.in_scope([rows.org_id.iloc[event.row]])
        if chosen:
            self.org_select.value = chosen[0]

    def _go_up(self, _event) -> None:
        if not self.checked():
            return
        current = self.org_select.value
        parent = self.orgs.loc[current, "parent_id"]
        if current != self.root and parent in self.orgs.index:
            self.org_select.value = parent

    def refresh(self) -> None:
        """Show the account figures of the selected org and period everywhere on the page.

        The headline (header, pending notice, KPI cards) goes to the browser first; the tables, charts and map
        follow a moment later (:meth:`details_after_headline`), so the browser draws the figures asked for without waiting for the
        heavier parts (a line says "updating" until they are drawn).  Not served (a test, a notebook), both
        happen at once.  A newer choice made before the details are drawn supersedes them.
        """
        if not self.checked():
            return
        org_id, period = self.selected_org(), self.selected_period()
        own = self.data.figures(org_id, period)
        self._show_headline(org_id, period, own)
        self.details_after_headline(org_id, period, lambda: self._show_details(org_id, period, own))

    def _show_headline(self, org_id: str, period: str, own: pd.DataFrame) -> None:
        lang = self.lang
        values = dict(zip(own.item, own.value))
        snapshot = own.snapshot_id.max() if len(own) else "–"
        set_html(self.header, markup('<div class="carbon-header" data-org="{}">{} · {}</div><div class="carbon-note">'
                                     '{} · {} · tCO2e, rounded to whole tonnes · snapshot {}</div>', org_id,
                                     self.name(org_id), period, label(self.orgs.loc[org_id, "level"], lang), org_id,
                                     snapshot))
        set_html(self.pending, pending_notice(values, lang))
        set_html(self.kpis, kpi_cards(values, KPI_ITEMS, dict(zip(own.item, own.unit)), lang, figure_intervals(own)))

    def _show_details(self, org_id: str, period: str, own: pd.DataFrame) -> None:
        lang = self.lang
        values = dict(zip(own.item, own.value))
        self.download.filename = f"carbon_{org_id}_{period}.csv"
        self.figures = pd.DataFrame({
            "org_id": org_id, "period": period, "item": own.item, "label": [label(i, lang) for i in own.item],
            "value": own.value.round(3), "unit": own.unit,
            "ci95": [interval_text(lo, hi, u, lang) for lo, hi, u in zip(own.ci95_low, own.ci95_high, own.unit)],
            "uncertainty": own.uncertainty, "basis": own.basis})
        self.figures_table.value = self.figures
        self.breakdown.update(values, {item: interval_text(low, high, unit, lang) for item, low, high, unit
                                       in zip(own.item, own.ci95_low, own.ci95_high, own.unit)})

        kids = self.org_table(self.children(org_id), period).fillna(0.0)
        self.children_chart.update(kids)
        leaves, leaf_table = self.leaf_units(org_id, period)
        enterprise = (leaves.level == "enterprise").to_numpy()
        self._rows = {
            "children": kids,
            "top": leaf_table[enterprise].sort_values(
                "emissions_total", ascending=False, kind="stable").head(10).reset_index(drop=True),
            "sinks": leaf_table[~enterprise].sort_values(
                "removals", ascending=False, kind="stable").reset_index(drop=True)}
        self.children_table.value = self._rows["children"]
        self.top_table.value = self._rows["top"]
        self.sink_table.value = self._rows["sinks"]
        self.draw_map(self.map, org_id, period, (leaves, leaf_table))
        trend = self.data.monthly([org_id], period[:4], PUBLIC_ITEMS)
        self.trend.update(trend, "item", "month", "value", names={i: label(i, lang) for i in PUBLIC_ITEMS},
                          colours=theme.ITEM_COLOURS)

    def layout(self) -> pn.viewable.Viewable:
        """The whole overview page."""
        lang = self.lang
        def titled(key: str, widget) -> pn.Column:
            return pn.Column(html(header(label(key, lang))), widget, sizing_mode="stretch_width")

        self.page = pn.Column(
            html(header(label("ui_overview", lang))),
            pn.Row(self.org_select, self.period_select, self.up, self.download), self.message, self.header,
            self.pending, self.kpis, self.progress,
            after_first_paint(
                pn.Row(bokeh_pane(self.children_chart), bokeh_pane(self.map), sizing_mode="stretch_width"),
                pn.Row(titled("ui_children", self.children_table), titled("ui_top_emitters", self.top_table),
                       titled("ui_sink_sites", self.sink_table), sizing_mode="stretch_width"),
                pn.Row(bokeh_pane(self.breakdown), bokeh_pane(self.trend), sizing_mode="stretch_width"),
                titled("ui_figures", self.figures_table)),
            sizing_mode="stretch_width")
        return self.page


class Disclosure(_ScopedView):
    """Public disclosure (clause 5.4/10.2): regional and per-enterprise/site source and sink totals only.

    Shows :data:`PUBLIC_ITEMS` of annual accounts; no categories, activity data or caps.
    Regions are the province, cities and counties; anyone may see the whole province.
    """

    def __init__(self, lake: Lake, org: str | None = None, period: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None):
        rollups = rollups or rollup_data.rollups(lake)
        regions = rollups.tree[rollups.tree.level.isin(["province", "city", "county"])]
        message = None
        if org and org not in set(regions.org_id):
            message, org = f"{str(org)[:60]!r} is not a region of this disclosure; showing the province.", None
        super().__init__(lake, rollups, regions, org or regions.org_id.iloc[0], lang, message)
        self.leaves = rollups.tree[rollups.tree.level.isin(["enterprise", "site"])].reset_index(drop=True)
        self._leaf_paths = self.leaves.path.str.split("/")
        self.period_select = self.period_selector(self.data.periods(regions.org_id.iloc[0], annual_only=True), period)
        self.header = html(sizing_mode="stretch_width")
        self.kpis = html(sizing_mode="stretch_width")
        self.chart = figures.GroupedBars(("emissions_total", "removals"), lang, label("ui_by_unit", lang), 360,
                                         2 * VOILA_CHART_WIDTH)
        self.table = table(lang, height=420)
        self.download = csv_download(lambda: self._rows, "carbon_disclosure.csv", lang)
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.refresh()

    def refresh(self) -> None:
        """Show the public figures of the selected region and period."""
        org_id, period, lang = self.selected_org(), self.selected_period(), self.lang
        self.download.filename = f"carbon_disclosure_{org_id}_{period}.csv"
        own = self.data.figures(org_id, period)
        set_html(self.header, markup('<div class="carbon-header" data-org="{}">{} · {}</div>', org_id, self.name(org_id),
                                     period))
        set_html(self.kpis, kpi_cards(dict(zip(own.item, own.value)), PUBLIC_ITEMS, {}, lang, figure_intervals(own)))
        inside = self.leaves[self._leaf_paths.map(lambda ids: org_id in ids)]
        figures_of = self.org_table(inside, period).fillna(0.0)
        self.chart.update(figures_of)
        self._rows = figures_of.rename(columns={item: label(item, lang) + " (tCO2e)" for item in PUBLIC_ITEMS})
        self.table.value = self._rows

    def layout(self) -> pn.viewable.Viewable:
        """The whole disclosure page."""
        return pn.Column(html(header(label("ui_disclosure", self.lang))),
                         pn.Row(self.org_select, self.period_select, self.download), self.message, self.header,
                         self.kpis, bokeh_pane(self.chart), self.table, sizing_mode="stretch_width")


#: Limits of the monitor's ``refresh`` URL parameter (seconds).
REFRESH_RANGE = (1.0, 3600.0)


def refresh_seconds(requested: str | None, default: float = 5.0, name: str = "refresh") -> float:
    """A page's period in seconds from its URL parameter ``name``; ValueError unless a number in :data:`REFRESH_RANGE`."""
    if requested in (None, ""):
        return default
    try:
        seconds = float(requested)
    except ValueError:
        seconds = math.nan
    low, high = REFRESH_RANGE
    if not (math.isfinite(seconds) and low <= seconds <= high):
        raise ValueError(f"{name}={str(requested)[:20]!r} is not a period; give seconds from {low:g} to {high:g}")
    return seconds


class Monitor(_ScopedView):
    """Real-time telemetry monitor (Panel): device status, latest values, tower and meter charts.

    :meth:`refresh` reads the status of the recent window (:func:`.data.device_status`, one
    SQL aggregate per lake snapshot, shared by all sessions) and redraws only when the lake
    has a new snapshot; the app calls it on a periodic callback, so new telemetry appears
    without a page reload.
    """

    TOWER_METRICS = ("NEE", "Tair", "Rg")

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, lang: str = "zh",
                 rollups: rollup_data.Rollups | None = None):
        org_id, message = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, message)
        self.units = self.data.units
        self.newest = html(sizing_mode="stretch_width")
        self.table = table(lang, height=380, pagination="remote", page_size=100)  # only the shown page goes to the browser
        self.tower_select = Choice(name=label("ui_flux", lang), width=220)
        self.meter_select = Choice(name=label("ui_meter", lang), width=320)
        self.tower_charts = {m: figures.Lines(m, theme.unit_symbol(self.units.get(m, "")), 160, y_format="0,0.[0]",
                                              x_label="UTC")
                             for m in self.TOWER_METRICS}
        self.meter_chart = figures.Lines(label("ui_meter", lang), "", 260, y_format="0,0.[0]", x_label="UTC")
        self.alert_box = html(sizing_mode="stretch_width")
        self._shown: tuple | None = None
        self._minute: pd.Timestamp | None = None
        self._choosing = False
        self.org_select.param.watch(lambda _: self._choose_devices(), "value")
        self.tower_select.param.watch(self._device_chosen, "value")
        self.meter_select.param.watch(self._device_chosen, "value")
        self._choose_devices()
        colours = {label(status, lang): colour for status, colour in theme.STATUS_COLOURS.items()}
        self.table.style.map(lambda shown: f"color: {colours.get(shown, theme.NEUTRAL)}; font-weight: 600",
                             subset=[label("ui_status", lang)])

    def _choose_devices(self) -> None:
        inside = self.inside(self.selected_org())
        self.devices = self.data.devices[self.data.devices.org_id.isin(inside.org_id)]
        towers = sorted(self.devices[self.devices.kind == "flux_tower"].device_id)
        meters = sorted(self.devices[self.devices.kind != "flux_tower"].device_id)
        self._choosing = True  # one redraw below, not one per selector
        try:
            self.tower_select.options, self.meter_select.options = towers, meters
            self.tower_select.value = towers[0] if towers else None
            self.meter_select.value = next((m for m in meters if m.endswith("electricity_import")), meters[0] if meters else None)
        finally:
            self._choosing = False
        self.refresh(force=True)

    def _device_chosen(self, _event) -> None:
        if not self._choosing and self.checked():
            self._draw_charts(rollup_data.device_status(self.lake))

    def refresh(self, force: bool = False) -> None:
        """Redraw status table and charts when the lake has a new snapshot (or ``force``).

        The page's own timer calls it without ``force``: that checks the session without
        counting as activity, so an unattended monitor still times out.
        """
        if not self.checked(touch=force):
            return
        status = rollup_data.device_status(self.lake)
        shown = (status.snapshot_id, self.selected_org())
        minute = pd.Timestamp.now(tz="UTC").floor("min")
        if shown == self._shown and not force:
            if minute != self._minute:  # no new data: statuses still age against the wall clock
                self._minute = minute
                self._draw_table(status)
            return
        self._shown, self._minute = shown, minute
        self._draw_table(status)
        self._draw_alerts()
        self._draw_charts(status)

    def _draw_alerts(self) -> None:
        """The open alerts of the devices and orgs in view (:mod:`carbonlib.alerts`), newest first."""
        lang = self.lang
        inside = list(self.inside(self.selected_org()).org_id)
        open_now = rollup_data.open_alerts(self.lake, inside).iloc[::-1]
        if open_now.empty:
            set_html(self.alert_box, markup('<div class="carbon-alerts" data-alerts="0">{}</div>', label("ui_no_alerts", lang)))
            return
        colours = {"critical": theme.SOURCE, "warning": theme.CAP}
        rows = Markup("").join(markup(
            '<li class="carbon-alert" data-alert-id="{id}" data-state="{state}" style="border-left:4px solid {colour}">'
            '<b style="color:{colour}">{severity}</b> · {state_label} · {since_label} {since} UTC · {text}</li>',
            id=row.alert_id, state=row.state, colour=colours.get(row.severity, theme.NEUTRAL),
            severity=label(row.severity, lang), state_label=label(row.state, lang, "alert"), since_label=label("ui_alert_since", lang),
            since=f"{row.opened_at:%Y-%m-%d %H:%M}", text=alert_text({"kind": row.kind, "facts": row.facts}, lang))
            for row in open_now.itertuples())
        set_html(self.alert_box, markup('<div class="carbon-alerts" data-alerts="{}"><ul>{}</ul></div>', len(open_now), rows))

    def _draw_table(self, status: rollup_data.DeviceStatus) -> None:
        lang = self.lang
        table = rollup_data.status_table(status, self.devices)
        latest = status.latest[status.latest.device_id.isin(table.device_id)]
        parts: dict[str, list[str]] = {}
        for device, metric, value in zip(latest.device_id, latest.metric, latest.last_value):
            unit = self.units.get(metric, "")
            parts.setdefault(device, []).append(f"{metric} {theme.format_value(value, unit)} {theme.unit_symbol(unit)}")
        text = {device: " · ".join(shown) for device, shown in parts.items()}
        self.table.value = pd.DataFrame({
            label("ui_device", lang): table.device_id, label("ui_org_code", lang): table.org_id,
            label("ui_kind", lang): [label(k, lang) for k in table.kind],
            label("ui_status", lang): [label(s, lang) for s in table.status],
            label("ui_last_seen", lang): table.last_seen.dt.strftime("%Y-%m-%d %H:%M"),
            label("ui_age_h", lang): table.age_h.round(1),
            label("ui_good_share", lang): (table.good_share * 100).round(1).astype(str) + " %",
            label("ui_dq_flag", lang): ["⚠ QC" if s < 0.95 else "" for s in table.good_share.fillna(0)],
            label("ui_latest_values", lang): table.device_id.map(text).fillna("")})
        newest = table.last_seen.max()
        counts = table.status.value_counts()
        statuses = Markup(" · ").join(markup('<span style="color:{}">{} {}</span>', theme.STATUS_COLOURS[s], label(s, lang),
                                             counts.get(s, 0)) for s in ("online", "late", "offline"))
        set_html(self.newest, markup('<div class="carbon-header" data-newest="{0}">{1}: {0} UTC · {2}</div>',
                                     f"{newest:%Y-%m-%d %H:%M}", label("ui_latest", lang), statuses))

    def _draw_charts(self, status: rollup_data.DeviceStatus) -> None:
        allowed = set(self.devices.device_id)  # devices of the scope: a forged selection draws nothing
        tower, meter = (d if d in allowed else None for d in (self.tower_select.value, self.meter_select.value))
        metrics = status.latest[status.latest.device_id == meter].metric
        charts = {(tower, metric): chart for metric, chart in self.tower_charts.items()}
        charts[(meter, metrics.iloc[0] if len(metrics) else "")] = self.meter_chart
        series = rollup_data.recent_series(self.lake, status, list(charts))
        for (device, metric), chart in charts.items():
            chart.update(series[(device, metric)].assign(device=device or ""), "device", "ts", "value",
                         title=f"{device or '–'} · {metric} ({theme.unit_symbol(self.units.get(metric, ''))})")

    def layout(self) -> pn.viewable.Viewable:
        """The whole monitor page."""
        lang = self.lang
        towers = pn.Column(*(bokeh_pane(c, sizing_mode="stretch_width") for c in self.tower_charts.values()),
                           sizing_mode="stretch_width")
        self.page = pn.Column(html(header(label("ui_monitor", lang))),
                              pn.Row(self.org_select, self.tower_select, self.meter_select), self.message, self.newest,
                              html(header(label("ui_alerts", lang))), self.alert_box,
                              html(header(label("ui_devices", lang))), self.table,
                              after_first_paint(pn.Row(towers, bokeh_pane(self.meter_chart, sizing_mode="stretch_width"),
                                                       sizing_mode="stretch_width")),
                              sizing_mode="stretch_width")
        return self.page


class Explorer(_ScopedView):
    """Analyst explorer (Panel): account figures of enterprises and sites, linked to their trends.

    Selecting rows of the table (linked selection) redraws the monthly account trend of those
    units and the daily telemetry (``telemetry_daily``) of their devices for the chosen metric.
    """

    def __init__(self, lake: Lake, scope: Scope, org: str | None = None, period: str | None = None,
                 lang: str = "zh", rollups: rollup_data.Rollups | None = None):
        org_id, message = scope.clamp(org)
        super().__init__(lake, rollups or rollup_data.rollups(lake), scope.tree, org_id, lang, message)
        self.period_select = self.period_selector(self.data.periods(scope.root, annual_only=True), period)
        metrics = self.data.daily_metrics
        self.metric_select = Choice(name=label("ui_metric", lang), options=metrics,
                                    value="electricity_import" if "electricity_import" in metrics else metrics[0],
                                    width=200)
        self.table = table(lang, height=330, selectable="checkbox")
        self.selected = html(sizing_mode="stretch_width")
        self.trend = figures.Lines(f'{label("ui_trend", lang)} · {label("net", lang)}', "tCO2e", 320)
        self.daily = figures.Lines(label("ui_daily", lang), "", 320, y_format="0,0.[0]")
        self._refreshing = False  # the refresh sets the selection itself: its watcher does not redraw twice
        self._rows = pd.DataFrame({"org_id": [], "name": []})  # the server's copy of the table, once drawn
        self.org_select.param.watch(lambda _: self.refresh(), "value")
        self.period_select.param.watch(lambda _: self.refresh(), "value")
        self.metric_select.param.watch(lambda _: self.redraw_selection(), "value")
        self.table.param.watch(lambda _: None if self._refreshing else self.redraw_selection(), "selection")
        self.refresh()

    def refresh(self) -> None:
        """Show the units below the selected org; select its three top emitters.

        The line naming the selected units goes to the browser first; the table and the two charts
        follow a moment later (:meth:`details_after_headline`; a line says "updating" until they are drawn), as on the
        overview.  Not served (a test, a notebook), both happen at once.  A newer choice made before
        the table is drawn supersedes it.
        """
        if not self.checked():
            return
        org_id, period = self.selected_org(), self.selected_period()
        units = pd.concat([self.below(org_id, "enterprise"), self.below(org_id, "site")])
        table = self.org_table(units, period, ("emissions_total", "removals", "net", "cap_utilisation"))
        table["level"] = units.level.to_numpy()
        rows = table.sort_values("emissions_total", ascending=False, na_position="last", kind="stable"
                                 ).reset_index(drop=True)
        selection = list(range(min(3, len(rows))))
        self._show_selected(self._in_scope_rows(rows, selection))

        def details() -> None:
            self._rows = rows  # the server's copy: selections index into it
            self._refreshing = True
            try:
                with pn.io.hold():
                    self.table.value = rows
                    self.table.selection = selection
            finally:
                self._refreshing = False
            self._draw_selection(self.chosen_rows())

        self.details_after_headline(org_id, period, details)

    def _in_scope_rows(self, rows: pd.DataFrame, positions: list) -> pd.DataFrame:
        """The rows of ``rows`` at ``positions`` (ints inside it; anything else the page sent is ignored) whose
        org is inside the viewer's scope."""
        chosen = rows.iloc[[i for i in positions if isinstance(i, int) and 0 <= i < len(rows)]]
        return chosen[chosen.org_id.isin(self.in_scope(chosen.org_id))]

    def chosen_rows(self) -> pd.DataFrame:
        """The selected rows of the server's copy of the table, inside the viewer's scope.

        Only the selected positions come from the page; ids are read from the server's copy
        and re-checked, so a cell edited in the browser (even of a disabled table) cannot
        reach another org's figures or meters.
        """
        return self._in_scope_rows(self._rows, self.table.selection)

    def redraw_selection(self) -> None:
        """Redraw the selected line, trend and daily telemetry for the rows selected in the table."""
        if not self.checked():
            return
        chosen = self.chosen_rows()
        self._show_selected(chosen)
        self._draw_selection(chosen)

    def _show_selected(self, chosen: pd.DataFrame) -> None:
        set_html(self.selected, markup('<div class="carbon-note" data-testid="selected" data-scope="{}">{}: {}</div>',
                                       self.org_select.value, label("ui_selected", self.lang),
                                       ", ".join(chosen.name) or "–"))

    def _draw_selection(self, chosen: pd.DataFrame) -> None:
        """The monthly net trend of the ``chosen`` units and the daily telemetry of their devices."""
        names = dict(zip(chosen.org_id, chosen.name))
        year = self.selected_period()
        trend = self.data.monthly(list(names), year, ("emissions_total", "removals"))
        trend = trend.assign(value=trend.value.where(trend.item == "emissions_total", -trend.value))
        net = trend.groupby(["org_id", "month"], as_index=False, sort=False).value.sum()
        self.trend.update(net, "org_id", "month", "value", names=names)
        devices = self.data.devices[self.data.devices.org_id.isin(names)].device_id.tolist()
        metric = self.metric_select.value if self.metric_select.value in self.metric_select.options else ""
        column = "mean" if metric in MEAN_METRICS else "total"
        daily = self.data.daily(self.lake, devices, metric, year)
        unit = self.data.units.get(metric, "")
        self.daily.update(daily, "device_id", "day", column,
                          title=f'{label("ui_daily", self.lang)} · {metric} ({column}, {theme.unit_symbol(unit)})')

    def layout(self) -> pn.viewable.Viewable:
        """The whole explorer page."""
        self.page = pn.Column(html(header(label("ui_explorer", self.lang))),
                              pn.Row(self.org_select, self.period_select, self.metric_select), self.message,
                              self.table, self.selected, self.progress,
                              pn.Row(bokeh_pane(self.trend, sizing_mode="stretch_width"),
                                     bokeh_pane(self.daily, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
                              sizing_mode="stretch_width")
        return self.page


def warm_up(view: _ScopedView) -> None:
    """Build the Bokeh models of a throwaway view and refresh it once: a preheated Voila kernel
    pays its first-call costs (lazy imports, model classes, model updates, roll-up caches)
    before the request and the first interaction, not after."""
    view.layout().get_root()
    view.refresh()


def requested_lang(args: Mapping[str, str]) -> str:
    """The page language from the ``lang`` URL parameter (default zh); ValueError for any other language."""
    lang = args.get("lang") or "zh"
    if lang not in LANGUAGES:
        raise ValueError(f"lang={str(lang)[:20]!r} is not a language of these pages; use lang=zh or lang=en")
    return lang


def overview_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> Overview:
    """The managers' overview for a request (``org``, ``period``, ``lang`` from ``args``)."""
    return Overview(lake, scope, args.get("org"), args.get("period"), requested_lang(args), rollups)


def explorer_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> Explorer:
    """The analyst explorer for a request (``org``, ``period``, ``lang``)."""
    return Explorer(lake, scope, args.get("org"), args.get("period"), requested_lang(args), rollups)


def monitor_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> Monitor:
    """The monitor for a request (``org``, ``lang``, ``refresh`` seconds); refreshes itself in a Panel session."""
    refresh_s = refresh_seconds(args.get("refresh"))
    view = Monitor(lake, scope, args.get("org"), requested_lang(args), rollups)
    if pn.state.curdoc is not None:  # a served session (not a test building the page)
        pn.state.add_periodic_callback(view.refresh, period=int(refresh_s * 1000))
    return view


def disclosure_page(lake: Lake, scope: Scope | None, args: Mapping[str, str], rollups: rollup_data.Rollups) -> Disclosure:
    """The public disclosure for a request (``org``, ``period``, ``lang``); open to anyone."""
    return Disclosure(lake, args.get("org"), args.get("period"), requested_lang(args), rollups)


#: What each page needs the principal to be allowed (None: public); :mod:`.screen` adds the province screen.
PAGE_ACTIONS = {overview_page: "view_figures", explorer_page: "view_figures", monitor_page: "view_telemetry",
                disclosure_page: None}


def page_for(build, principal: Principal | None, args: Mapping[str, str], lake: Lake, rollups: rollup_data.Rollups, *,
             guard=None, audit=None) -> pn.viewable.Viewable:
    """The page ``principal`` gets for a request: ``build(lake, scope, args, rollups).layout()``, or the refusal.

    The principal comes from the session (never from the request); its scope for the page's
    action bounds every org shown.  ``guard(touch)`` re-checks the session on each user
    action; ``audit(action, org_id, outcome, detail)`` records refusals and exports.  A
    request that cannot be served (no right, a parameter out of range) gets a page saying why.
    """
    action = PAGE_ACTIONS[build]
    try:
        scope = None
        if action is not None:
            if principal is None:
                raise PermissionDenied("this page needs a login: log in at /login (the public disclosure needs none)")
            scope = Scope(principal, rollups.tree, action)
            org_id, refused = scope.clamp(args.get("org"))
            if refused and audit is not None:
                audit(action, str(args.get("org"))[:60], "denied", refused)
        view = build(lake, scope, args, rollups)
        view.guard, view.audit = guard, audit
        return view.layout()
    except PermissionDenied as refused:
        if audit is not None:
            audit(action or "view_disclosure", str(args.get("org") or "")[:60], "denied", str(refused))
        return error_page(str(refused))
    except ValueError as refused:
        return error_page(str(refused))


def serve_view(build, title: str) -> None:
    """Serve one dashboard view (``overview_page``, ``explorer_page`` …) as this Panel session's page.

    The session cookie names the principal (the Panel server already sent anyone without a
    live session to the login page); each user action re-checks it, refusals and exports
    are audited.
    """
    from . import auth

    theme.init_panel()
    args = {key: values[0].decode("utf-8", "replace") for key, values in pn.state.session_args.items()}
    token = pn.state.cookies.get(auth.COOKIE)
    source = "panel"  # the session recorded the client address at login
    lake = rollup_data.shared_lake()
    try:
        principal = auth.session_principal(token, source)
    except SessionInvalid as ended:
        error_page(f"{ended} ({label('ui_reload', 'zh')} / {label('ui_reload', 'en')})").servable(title=title)
        return

    def guard(touch: bool) -> Principal:
        return auth.session_principal(token, source, touch=touch)

    def audit(action: str, org_id: str, outcome: str, detail: str) -> None:
        with auth._lock:
            auth.security().record(principal, action, object=title, org_id=org_id, outcome=outcome, detail=detail)

    page_for(build, principal, args, lake, rollup_data.rollups(lake), guard=guard, audit=audit).servable(title=title)


def voila_page(build, args: Mapping[str, str], lake: Lake, rollups: rollup_data.Rollups) -> pn.viewable.Viewable:
    """The page of a Voila request: the principal from the request's forwarded session cookie (see :mod:`.auth`)."""
    from . import auth

    try:
        principal = auth.kernel_principal()
    except SessionInvalid:
        principal = None
    token = principal.session if principal else None

    def guard(touch: bool) -> Principal:
        return auth.session_principal(token, "voila", touch=touch)

    def audit(action: str, org_id: str, outcome: str, detail: str) -> None:
        with auth._lock:
            auth.security().record(principal or ANONYMOUS, action, object=build.__name__, org_id=org_id,
                                   outcome=outcome, detail=detail)

    return page_for(build, principal, args, lake, rollups, guard=guard if principal else None, audit=audit)


def warm_up_view(build, lake: Lake, rollups: rollup_data.Rollups) -> None:
    """Build and refresh a throwaway page (as a manager of the whole tree, shown to no one), so a preheated
    Voila kernel has paid its first-call costs before the request."""
    root = rollups.tree.org_id.iloc[0]
    builder = Principal(0, "warm-up", "warm-up", grants=(Grant("manager", root),))
    action = PAGE_ACTIONS[build]
    scope = Scope(builder, rollups.tree, action) if action else None
    warm_up(build(lake, scope, {}, rollups))


def error_page(message: str) -> pn.viewable.Viewable:
    """What a dashboard shows when the request cannot be served (no login or right, a bad parameter)."""
    return html(refused_html(message), sizing_mode="stretch_width")


def run_user_action(view, work: Callable[[Principal | None], Markup], notice: pn.pane.HTML) -> None:
    """A person's button on ``view`` (a page with ``guard``, ``page``, ``lang`` and ``reload()``): the session is
    checked again (``work`` gets the principal it names, None on a page without a guard), ``work`` runs under the
    security store's lock and its Markup goes to ``notice``, then the page reloads; a refusal is shown in
    ``notice``, an ended session replaces the page."""
    from . import auth

    try:
        principal = view.guard(True) if view.guard is not None else None
        with auth._lock:
            shown = work(principal)
        set_html(notice, shown)
        view.reload()
    except SessionInvalid as ended:
        if view.page is not None:
            view.page.objects = [error_page(f"{ended} ({label('ui_reload', view.lang)})")]
    except (PermissionDenied, ValueError, KeyError) as refused:
        set_html(notice, refused_html(str(refused)))


def action_button(view, key: str, work: Callable, notice: pn.pane.HTML, width: int = 180) -> pn.widgets.Button:
    """A button labelled ``key`` on ``view`` (a page with ``scope``, ``lang``, ``guard``, ``page``, ``reload()``)
    that runs ``work(security, principal)`` through :func:`run_user_action` as the session's principal and shows
    "Done: <what work returned>" (``data-testid=done``) or the refusal in ``notice``."""
    from . import auth

    def act(_event) -> None:
        run_user_action(view, lambda principal: markup(
            '<div class="carbon-note" data-testid="done">{}: {}</div>', label("ui_done", view.lang),
            work(auth.security(), principal or view.scope.principal)), notice)

    button = pn.widgets.Button(name=label(key, view.lang), width=width)
    button.on_click(act)
    return button
