"""Bokeh figures of the dashboards that update in place.

Each class builds its Bokeh figure once; ``update(...)`` then replaces only the data of its
``ColumnDataSource`` (and the factors of a categorical axis), so a selection change sends a
small data patch to the browser instead of a new plot — what keeps interactions within
~100 ms.  Values are tCO2e unless a unit is given; colours come from :mod:`.theme`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from bokeh.models import (BoxZoomTool, ColorBar, ColumnDataSource, FactorRange, HoverTool, LinearColorMapper,
                          NumeralTickFormatter)
from bokeh.plotting import figure
from bokeh.transform import dodge

from .. import boundaries
from . import theme
from ..i18n import label

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
#: Colours of series that are not account items (orgs, devices), in turn.
PALETTE = ("#2b5f9e", "#c8412b", "#23895a", "#d49a1c", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f", "#9a3412", "#475569")


def _figure(title: str, height: int, width: int | None, **kwargs):
    """A figure of fixed ``width`` (Voila: widgets get no width to stretch into) or stretching (Panel)."""
    size = {"width": width} if width else {"sizing_mode": "stretch_width"}
    plot = figure(title=title, height=height, tools=TOOLS, toolbar_location="right", **size, **kwargs)
    plot.title.text_font_size = "14px"
    plot.toolbar.logo = None
    return plot


def on_screen(plot, look: Mapping[str, str]) -> None:
    """Restyle ``plot`` for the province screen's ``look`` (:data:`carbonlib.viz.theme.SCREEN_THEMES`); no
    toolbar (a wall has no mouse)."""
    plot.toolbar_location = None
    plot.background_fill_color = plot.border_fill_color = look["panel"]
    plot.outline_line_color = None
    plot.title.text_color = look["text"]
    plot.title.text_font_size = "16px"
    for axis in plot.axis:
        axis.axis_label_text_color = axis.major_label_text_color = look["muted"]
        axis.axis_line_color = axis.major_tick_line_color = axis.minor_tick_line_color = look["line"]
    plot.grid.grid_line_color = look["line"]
    for legend in plot.legend:
        legend.background_fill_color = look["panel"]
        legend.label_text_color = look["text"]
        legend.border_line_color = None


def _tonnes(text: str = "0,0") -> NumeralTickFormatter:
    """Tick labels of tCO2e axes: whole tonnes with thousands separators, as the KPI cards.

    Only ever on a numeric axis: a number formatter on a categorical axis throws in BokehJS
    and leaves every chart of the page blank.
    """
    return NumeralTickFormatter(format=text)


class GroupedBars:
    """Bars of several account ``items`` side by side per name (e.g. the units below an org)."""

    def __init__(self, items: Sequence[str], lang: str, title: str, height: int = 320, width: int | None = None):
        self.items = tuple(items)
        self.source = ColumnDataSource({"name": [], **{item: [] for item in self.items}})
        self.figure = _figure(title, height, width, x_range=FactorRange(factors=[]))
        step = 0.84 / len(self.items)
        for k, item in enumerate(self.items):
            self.figure.vbar(x=dodge("name", -0.42 + step * (k + 0.5), range=self.figure.x_range), top=item,
                             width=step * 0.92, source=self.source, color=theme.ITEM_COLOURS.get(item, theme.NEUTRAL),
                             legend_label=label(item, lang))
        self.figure.add_tools(HoverTool(tooltips=[("", "@name"), *((label(i, lang), f"@{{{i}}}{{0,0}} tCO2e") for i in self.items)]))
        self.figure.yaxis.formatter = _tonnes()
        self.figure.yaxis.axis_label = "tCO2e"
        self.figure.xaxis.major_label_orientation = 0.35
        self.figure.xgrid.grid_line_color = None
        legend = self.figure.legend[0]
        legend.orientation = "horizontal"
        self.figure.add_layout(legend, "above")  # outside the plot: bars never hide behind it

    def update(self, frame: pd.DataFrame, name: str = "name") -> None:
        """Show the rows of ``frame``: ``frame[name]`` (unique) on the axis, one bar per item column."""
        names = [str(n) for n in frame[name]]
        data = {"name": names}
        for item in self.items:
            data[item] = frame[item].fillna(0.0).tolist() if item in frame else [0.0] * len(names)
        self.figure.x_range.factors = names
        self.source.data = data


class Breakdown:
    """Horizontal bars of the scope 1/2 emission categories (tCO2e); exports drawn as negative deductions."""

    #: The categories always shown, in order; other ``scope1_*``/``scope2_*``/``exported_*`` items follow.
    ITEMS = ("scope1_stationary_combustion", "scope1_mobile_combustion", "scope1_process", "scope1_fugitive",
             "scope2_purchased_electricity", "scope2_purchased_heat", "exported_electricity", "exported_heat")
    PREFIXES = ("scope1_", "scope2_", "exported_")

    def __init__(self, lang: str, height: int = 300, width: int | None = None):
        self.lang = lang
        self.source = ColumnDataSource({"category": [], "value": [], "colour": [], "interval": []})
        self.figure = _figure(label("ui_breakdown", lang), height, width, y_range=FactorRange(factors=[]))
        self.figure.hbar(y="category", right="value", height=0.7, color="colour", source=self.source)
        self.figure.add_tools(HoverTool(tooltips=[("", "@category"), ("tCO2e", "@value{0,0}"), ("", "@interval")]))
        self.figure.xaxis.formatter = _tonnes()
        self.figure.xaxis.axis_label = "tCO2e"
        self.figure.ygrid.grid_line_color = None

    def update(self, figures: Mapping[str, float], intervals: Mapping[str, str] | None = None) -> None:
        """Show the category items of ``figures`` (item → tCO2e); ``intervals`` (item → its 95 % interval as text)
        go into the tooltips."""
        extra = [i for i in figures if i.startswith(self.PREFIXES) and i not in self.ITEMS]
        rows = []
        for item in (*self.ITEMS, *sorted(extra)):
            value = float(figures.get(item, 0.0) or 0.0)
            exported = item.startswith("exported_")
            rows.append((label(item, self.lang), -value if exported else value, theme.NEUTRAL if exported else theme.SOURCE,
                         (intervals or {}).get(item, "")))
        categories = [r[0] for r in rows][::-1]  # first item on top
        self.figure.y_range.factors = categories
        self.source.data = {"category": [r[0] for r in rows], "value": [r[1] for r in rows], "colour": [r[2] for r in rows],
                            "interval": [r[3] for r in rows]}


class Lines:
    """One line per series over time (items of an org, orgs, or devices), with a legend.

    ``update`` takes a long frame (key column, x column, y column); series are named and
    coloured by ``names``/``colours`` (dicts over keys) or the :data:`PALETTE` in turn.
    """

    def __init__(self, title: str, y_label: str, height: int = 300, width: int | None = None,
                 y_format: str = "0,0", x_label: str = ""):
        self.source = ColumnDataSource({"xs": [], "ys": [], "name": [], "colour": []})
        self.figure = _figure(title, height, width, x_axis_type="datetime")
        self.figure.multi_line(xs="xs", ys="ys", color="colour", line_width=2.2, legend_field="name", source=self.source)
        self.figure.add_tools(HoverTool(tooltips=[("", "@name"), (y_label, f"$y{{{y_format}}}"), ("", "$x{%F}")],
                                        formatters={"$x": "datetime"}))
        self.figure.yaxis.formatter = _tonnes(y_format)
        self.figure.yaxis.axis_label = y_label
        self.figure.xaxis.axis_label = x_label
        self.figure.legend.location = "top_left"

    def update(self, frame: pd.DataFrame, key: str, x: str, y: str, names: Mapping[str, str] | None = None,
               colours: Mapping[str, str] | None = None, title: str | None = None) -> None:
        """Show one line per ``frame[key]`` value (in order of appearance)."""
        data: dict[str, list] = {"xs": [], "ys": [], "name": [], "colour": []}
        for k, (series, part) in enumerate(frame.groupby(key, sort=False)):
            data["xs"].append(pd.to_datetime(part[x]).tolist())
            data["ys"].append(part[y].astype(float).tolist())
            data["name"].append((names or {}).get(series, str(series)))
            data["colour"].append((colours or {}).get(series, PALETTE[k % len(PALETTE)]))
        if title is not None:
            self.figure.title.text = title
        self.source.data = data


class RegionMap:
    """A map of the province's real boundaries: regions coloured by net balance, places as markers.

    Regions (cities or counties, :mod:`carbonlib.boundaries`) are filled from the strongest
    sink (green) to the strongest source (red) on a scale symmetric around zero; a region
    without figures is grey.  Enterprises (red circles, sized by emissions), sink sites (green
    circles, sized by removals) and flux towers (triangles) sit at their coordinates.  The
    outline of the region in focus is drawn bold.  Longitude is drawn shrunk by
    :data:`X_SCALE`, so the province keeps its shape; no tiles, no network.
    """

    #: cos(27.5°): one degree of longitude at Hunan's mid-latitude is 0.89 degrees of latitude long.
    X_SCALE = math.cos(math.radians(27.5))
    KINDS = ("enterprise", "site", "flux_tower")

    def __init__(self, lang: str, height: int = 320, width: int | None = None, title: str | None = None,
                 screen: Mapping[str, str] | None = None):
        self.lang = lang
        self.regions = ColumnDataSource({"xs": [], "ys": [], "code": [], "name": [], "net": [], "net_text": []})
        self.outline = ColumnDataSource({"xs": [], "ys": []})
        self.places = {kind: ColumnDataSource({"x": [], "y": [], "name": [], "figure": [], "size": []}) for kind in self.KINDS}
        self.mapper = LinearColorMapper(palette=list(theme.NET_PALETTE), low=-1.0, high=1.0, nan_color=theme.NO_DATA)
        plot = _figure(label("ui_map", lang) if title is None else title, height, width, match_aspect=True)
        plot.tools = [t for t in plot.tools if not isinstance(t, BoxZoomTool)]  # a box would stretch the map
        areas = plot.multi_polygons("xs", "ys", source=self.regions, fill_color={"field": "net", "transform": self.mapper},
                                    line_color="white", line_width=1.2, hover_line_width=3, hover_line_color="#111827")
        plot.multi_polygons("xs", "ys", source=self.outline, fill_alpha=0, line_color="#374151", line_width=2.5)
        styles = {"enterprise": ("circle", theme.SOURCE), "site": ("circle", theme.SINK), "flux_tower": ("triangle", "#0e7490")}
        markers = []
        for kind in self.KINDS:
            marker, colour = styles[kind]
            markers.append(plot.scatter("x", "y", size="size", marker=marker, fill_color=colour, fill_alpha=0.85,
                                        line_color="white", source=self.places[kind], legend_label=label(kind, lang)))
        plot.add_tools(HoverTool(renderers=[areas], tooltips=[("", "@name"), (label("net", lang), "@net_text")]))
        plot.add_tools(HoverTool(renderers=markers, tooltips=[("", "@name"), ("tCO₂e", "@figure{0,0}")]))
        bar = ColorBar(color_mapper=self.mapper, title=f'{label("net", lang)} (tCO₂e)', formatter=_tonnes(),
                       width=12, major_label_text_font_size="11px")
        plot.add_layout(bar, "right")
        legend = plot.legend[0]
        legend.orientation = "horizontal"
        plot.add_layout(legend, "below")  # outside the map: it hides no region
        if screen:
            on_screen(plot, screen)
            self.mapper.nan_color = screen["no_data"]
            bar.background_fill_color = screen["panel"]
            bar.title_text_color = bar.major_label_text_color = screen["text"]
        plot.axis.visible = False
        plot.grid.grid_line_color = None
        self.figure = plot

    @staticmethod
    @functools.cache
    def _xy(region: boundaries.Region) -> tuple[list, list]:
        """Bokeh multi-polygon coordinates (parts of rings) of ``region``; built once per process and region.

        Rings are numpy arrays: Bokeh sends them to the browser as binary typed arrays, not JSON lists.
        """
        return ([[np.ascontiguousarray(ring[:, 0] * RegionMap.X_SCALE) for ring in part] for part in region.polygons],
                [[np.ascontiguousarray(ring[:, 1]) for ring in part] for part in region.polygons])

    def update(self, focus: boundaries.Region | None, shown: Sequence[boundaries.Region], net: Mapping[str, float],
               names: Mapping[str, str], places: pd.DataFrame, scale: float | None = None) -> None:
        """Show the ``shown`` regions coloured by ``net`` (region code → tCO2e, missing: no data) inside ``focus``.

        ``names``: region code → display name (default: the boundary file's name in the page
        language).  ``focus`` None (orgs outside the boundary file): places only.  ``scale``: the
        |tCO2e| at the ends of the colour scale (default: the largest shown), so that sibling
        regions drawn one after the other share one scale.  ``places``: kind (enterprise, site, flux_tower), name, longitude, latitude,
        figure (tCO2e: emissions of enterprises, removals of sites).
        """
        regions: dict[str, list] = {"xs": [], "ys": [], "code": [], "name": [], "net": [], "net_text": []}
        for region in shown:
            xs, ys = self._xy(region)
            value = net.get(region.code, float("nan"))
            regions["xs"].append(xs)
            regions["ys"].append(ys)
            regions["code"].append(region.code)
            regions["name"].append(names.get(region.code) or region.name(self.lang))
            regions["net"].append(value)
            regions["net_text"].append(f"{theme.format_value(value, 'tCO2e')} tCO₂e")
        largest = scale or max((abs(v) for v in regions["net"] if not math.isnan(v)), default=0.0) or 1.0
        if (self.mapper.low, self.mapper.high) != (-largest, largest):  # an unchanged scale re-lays nothing out
            self.mapper.low, self.mapper.high = -largest, largest
        self.regions.data = regions
        xs, ys = self._xy(focus) if focus else ([], [])
        self.outline.data = {"xs": [xs] if focus else [], "ys": [ys] if focus else []}
        located = places.dropna(subset=["longitude", "latitude"])
        largest_place = max(float(located.figure.max()) if located.figure.notna().any() else 1.0, 1.0)
        for kind, source in self.places.items():
            part = located[located.kind == kind]
            value = part.figure.fillna(0.0).astype(float)
            size = 12.0 if kind == "flux_tower" else None
            source.data = {"x": (part.longitude * self.X_SCALE).tolist(), "y": part.latitude.tolist(),
                           "name": part.name.tolist(), "figure": value.tolist(),
                           "size": [size] * len(part) if size else (6 + 26 * (value / largest_place) ** 0.5).tolist()}
