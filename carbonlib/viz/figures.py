"""Bokeh figures of the dashboards that update in place.

Each class builds its Bokeh figure once; ``update(...)`` then replaces only the data of its
``ColumnDataSource`` (and the factors of a categorical axis), so a selection change sends a
small data patch to the browser instead of a new plot — what keeps interactions within
~100 ms.  Values are tCO2e unless a unit is given; colours come from :mod:`.theme`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, NumeralTickFormatter
from bokeh.plotting import figure
from bokeh.transform import dodge

from . import theme
from .labels import label

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
        self.source = ColumnDataSource({"category": [], "value": [], "colour": []})
        self.figure = _figure(label("ui_breakdown", lang), height, width, y_range=FactorRange(factors=[]))
        self.figure.hbar(y="category", right="value", height=0.7, color="colour", source=self.source)
        self.figure.add_tools(HoverTool(tooltips=[("", "@category"), ("tCO2e", "@value{0,0}")]))
        self.figure.xaxis.formatter = _tonnes()
        self.figure.xaxis.axis_label = "tCO2e"
        self.figure.ygrid.grid_line_color = None

    def update(self, figures: Mapping[str, float]) -> None:
        """Show the category items of ``figures`` (item → tCO2e)."""
        extra = [i for i in figures if i.startswith(self.PREFIXES) and i not in self.ITEMS]
        rows = []
        for item in (*self.ITEMS, *sorted(extra)):
            value = float(figures.get(item, 0.0) or 0.0)
            exported = item.startswith("exported_")
            rows.append((label(item, self.lang), -value if exported else value, theme.NEUTRAL if exported else theme.SOURCE))
        categories = [r[0] for r in rows][::-1]  # first item on top
        self.figure.y_range.factors = categories
        self.source.data = {"category": [r[0] for r in rows], "value": [r[1] for r in rows], "colour": [r[2] for r in rows]}


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


class OrgMap:
    """Enterprises (red, sized by emissions) and sites (green, sized by removals) at their coordinates."""

    def __init__(self, lang: str, height: int = 320, width: int | None = None):
        self.source = ColumnDataSource({"longitude": [], "latitude": [], "name": [], "figure": [], "size": [], "colour": []})
        self.figure = _figure(label("ui_map", lang), height, width)
        self.figure.scatter("longitude", "latitude", size="size", color="colour", alpha=0.75, line_color="white",
                            source=self.source)
        self.figure.add_tools(HoverTool(tooltips=[("", "@name"), ("tCO2e", "@figure{0,0}")]))
        self.figure.xaxis.axis_label, self.figure.yaxis.axis_label = "lon", "lat"

    def update(self, orgs: pd.DataFrame, names: Sequence[str]) -> None:
        """``orgs``: level, longitude, latitude, emissions_total, removals (one row per org, ``names`` alike)."""
        frame = orgs.assign(name=list(names)).dropna(subset=["longitude", "latitude"])
        figure_value = frame.emissions_total.where(frame.level == "enterprise", frame.removals).fillna(0.0)
        size = 8 + 40 * (figure_value / max(figure_value.max() if len(frame) else 1.0, 1.0)) ** 0.5
        colour = frame.level.map({"enterprise": theme.SOURCE}).fillna(theme.SINK)
        self.source.data = {"longitude": frame.longitude.tolist(), "latitude": frame.latitude.tolist(),
                            "name": frame.name.tolist(), "figure": figure_value.tolist(), "size": size.tolist(),
                            "colour": colour.tolist()}
