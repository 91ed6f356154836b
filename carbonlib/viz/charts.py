"""HoloViews charts of periodic accounts (faces): used by the report notebooks and dashboards.

Every function takes the tables of :class:`carbonlib.reporting.reports.ReportData` and a language
('zh' or 'en') and returns a HoloViews object (Bokeh backend); an empty table gives a short
note instead of an empty plot.  HoloViews is imported inside the functions, so importing
this module is cheap.  Call :func:`init` once per notebook: it loads the Bokeh/HoloViews
JavaScript *inline*, so executed notebooks and their HTML render offline (no CDN).
"""

from __future__ import annotations

import pandas as pd

from .labels import label

_TEXT = {
    "breakdown": ("排放构成（按范围和类别）", "Emissions by scope and category"),
    "trend": ("与往期对比", "Trend over previous periods"),
    "children": ("下级单位对比", "Comparison of child organisations"),
    "caps": ("配额使用率", "Cap utilisation"),
    "category": ("类别", "Category"),
    "scope": ("范围", "Scope"),
    "period": ("期间", "Period"),
    "org": ("单位", "Organisation"),
    "share_pct": ("使用率 (%)", "Utilisation (%)"),
    "exported": ("输出（扣减）", "Exported (deducted)"),
    "empty": ("无数据", "no data"),
}
_SCOPE_PREFIXES = {"scope1_": "scope1", "scope2_": "scope2", "exported_": "exported"}
_WIDTH = 720


def _t(key: str, lang: str) -> str:
    """A chart phrase (or an account item's name) in ``lang``."""
    return label(key, lang, _TEXT)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as Python objects: HoloViews' Bokeh bars mis-draw pandas 3 string dtypes as empty plots."""
    return frame.astype({c: object for c in frame.columns if pd.api.types.is_string_dtype(frame[c])})


def init(inline: bool = True) -> None:
    """Load HoloViews' Bokeh extension; ``inline=True`` embeds its JS/CSS (offline notebooks and HTML)."""
    import holoviews as hv

    hv.extension("bokeh", inline=inline, logo=False)


def _empty(what: str, lang: str):
    import holoviews as hv

    return hv.Div(f"<p><i>{_t(what, lang)}: {_t('empty', lang)}</i></p>")


def breakdown(figures: pd.DataFrame, lang: str = "zh"):
    """Horizontal bars of emission items (tCO2e) coloured by scope; exports drawn as negative deductions.

    Any item named ``scope1_*``, ``scope2_*`` or ``exported_*`` is shown (unknown ones under their key).
    """
    import holoviews as hv

    rows = []
    for item, value in zip(figures["item"], figures["value"]):
        scope = next((s for prefix, s in _SCOPE_PREFIXES.items() if item.startswith(prefix)), None)
        if scope:
            rows.append((label(item, lang), -value if scope == "exported" else value, _t(scope, lang)))
    if not rows:
        return _empty("breakdown", lang)
    data = _plain(pd.DataFrame(rows, columns=["category", "tCO2e", "scope"]))
    return hv.Bars(data, kdims=["category"], vdims=["tCO2e", "scope"]).opts(
        invert_axes=True, color="scope", cmap="Category10", width=_WIDTH, height=60 + 32 * len(data),
        title=_t("breakdown", lang), xlabel="", ylabel="tCO2e", tools=["hover"], show_legend=True,
        legend_position="bottom_right", xformatter="%.0f",
    )


def trend(series: pd.DataFrame, lang: str = "zh"):
    """Lines of emissions_total, removals and net (tCO2e) over periods (``period``, ``item``, ``value``)."""
    import holoviews as hv

    if series.empty:
        return _empty("trend", lang)
    layers = []
    for item, part in series.groupby("item", sort=False):
        part = _plain(part.rename(columns={"period": _t("period", lang), "value": "tCO2e"}))
        layers.append(hv.Curve(part, _t("period", lang), "tCO2e", label=label(item, lang)))
        layers.append(hv.Scatter(part, _t("period", lang), "tCO2e", label=label(item, lang)).opts(size=6, tools=["hover"]))
    return hv.Overlay(layers).opts(width=_WIDTH, height=320, title=_t("trend", lang), legend_position="top_left",
                                   yformatter="%.0f")


def children(table: pd.DataFrame, lang: str = "zh", items: tuple[str, ...] = ("emissions_total", "removals", "net")):
    """Grouped bars (tCO2e) of ``items`` per child org (a :func:`carbonlib.reporting.reports.children` table)."""
    import holoviews as hv

    if table.empty:
        return _empty("children", lang)
    names = table["name_zh" if lang == "zh" else "name_en"]
    long = _plain(pd.DataFrame(
        [(n, label(i, lang), float(row[i])) for n, (_, row) in zip(names, table.iterrows()) for i in items],
        columns=[_t("org", lang), "item", "tCO2e"],
    ))
    return hv.Bars(long, kdims=[_t("org", lang), "item"], vdims="tCO2e").opts(
        width=max(_WIDTH, 90 * len(table)), height=380, title=_t("children", lang), xrotation=30, tools=["hover"],
        yformatter="%.0f", xlabel="", color="item", cmap="Category10", show_legend=False,
    )


def caps(table: pd.DataFrame, lang: str = "zh"):
    """Bars of cap utilisation (%) per capped enterprise with the 100 % line (a :func:`carbonlib.reporting.reports.cap_status` table)."""
    import holoviews as hv

    if table.empty:
        return _empty("caps", lang)
    data = _plain(pd.DataFrame({
        _t("org", lang): table["name_zh" if lang == "zh" else "name_en"],
        _t("share_pct", lang): table["utilisation"] * 100.0,
        "over": table["over_cap"].map({True: "over", False: "within"}),
    }))
    bars = hv.Bars(data, kdims=[_t("org", lang)], vdims=[_t("share_pct", lang), "over"]).opts(
        color="over", cmap={"over": "#d62728", "within": "#2ca02c"}, tools=["hover"], xrotation=30,
    )
    return (bars * hv.HLine(100.0).opts(color="black", line_dash="dashed")).opts(
        width=max(_WIDTH, 90 * len(data)), height=340, title=_t("caps", lang), show_legend=False,
    )
