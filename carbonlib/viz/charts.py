"""Static charts of periodic accounts for the reports (faces): matplotlib figures, shown as SVG.

A report is a document: its charts have no toolbar, no script and no link to any server, so
the HTML opens offline and prints to A4 as it looks on screen.  Every function takes the
tables of :class:`carbonlib.reporting.reports.ReportData` and a language ('zh' or 'en') and
returns a :class:`matplotlib.figure.Figure` (not registered with pyplot, so a notebook shows it
exactly once, where it is the cell's value); an empty table gives a short note instead of an
empty plot.  Call :func:`init` once per notebook: SVG output and fonts with Chinese glyphs
(Noto Sans CJK from Debian's ``fonts-noto-cjk``; glyphs are embedded as paths).

Colours mean one thing everywhere (:mod:`.theme`): sources red, removals green, net blue, caps
amber, exports grey.
"""

from __future__ import annotations

import pandas as pd

from . import theme
from ..i18n import label

_SCOPE_PREFIXES = {"scope1_": "scope1", "scope2_": "scope2", "exported_": "exported"}
#: Scope 1 and 2 are shades of the source colour; exports (deducted) are neutral.
_SCOPE_COLOURS = {"scope1": theme.SOURCE, "scope2": "#e58a78", "exported": theme.NEUTRAL}
_WIDTH_IN = 7.5  # inches: fits an A4 page with margins
_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK", "WenQuanYi Zen Hei", "DejaVu Sans"]
_TCO2E = r"tCO$_2$e"  # mathtext subscript: every font has it


def _t(key: str, lang: str) -> str:
    """A chart phrase (``chart_<key>`` of :mod:`carbonlib.i18n`) or an account item's name in ``lang``."""
    return label(key, lang, "chart")


def init() -> None:
    """Report notebooks: show figures as SVG, with fonts that have Chinese glyphs."""
    import matplotlib

    matplotlib.rcParams.update({
        "font.family": "sans-serif", "font.sans-serif": _FONTS, "axes.unicode_minus": False,
        "svg.fonttype": "path", "svg.hashsalt": "carbon-report",  # glyphs as paths; ids stable between runs
        "axes.spines.top": False, "axes.spines.right": False, "axes.titleweight": "bold", "axes.titlesize": 12,
        "figure.dpi": 100,
    })
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("svg", bbox_inches=None)  # the constrained layout fits the figure: no second draw


def _figure(height_in: float, width_in: float = _WIDTH_IN):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), layout="constrained")


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _empty(what: str, lang: str):
    figure = _figure(0.8)
    figure.text(0.02, 0.5, f"{_t(what, lang)}: {_t('empty', lang)}", va="center", style="italic",
                color=theme.NEUTRAL)
    return figure


def breakdown(figures: pd.DataFrame, lang: str = "zh"):
    """Horizontal bars of emission items (tCO2e) coloured by scope; exports drawn as negative deductions.

    Any item named ``scope1_*``, ``scope2_*`` or ``exported_*`` is shown (unknown ones under their key).
    """
    from matplotlib.patches import Patch

    rows = []
    for item, value in zip(figures["item"], figures["value"]):
        scope = next((s for prefix, s in _SCOPE_PREFIXES.items() if item.startswith(prefix)), None)
        if scope:
            rows.append((label(item, lang), -float(value) if scope == "exported" else float(value), scope))
    if not rows:
        return _empty("breakdown", lang)
    rows.reverse()  # first item on top
    figure = _figure(1.1 + 0.38 * len(rows))
    axes = figure.subplots()
    names, values, scopes = zip(*rows)
    bars = axes.barh(names, values, color=[_SCOPE_COLOURS[s] for s in scopes])
    axes.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    axes.axvline(0, color="black", linewidth=0.6)
    _thousands(axes.xaxis)
    axes.set_xlabel(_TCO2E)
    axes.set_title(_t("breakdown", lang), loc="left")
    axes.margins(x=0.15)
    present = list(dict.fromkeys(scopes))
    figure.legend(handles=[Patch(color=_SCOPE_COLOURS[s], label=_t(s, lang)) for s in present],
                  loc="outside lower center", ncols=len(present), fontsize=8, frameon=False)
    return figure


def trend(series: pd.DataFrame, lang: str = "zh", title: str = "trend"):
    """Lines of emissions_total, removals and net (tCO2e) over periods (``period``, ``item``, ``value``).

    ``title``: ``"trend"`` (previous periods) or ``"profile"`` (the months of a year).
    """
    if series.empty:
        return _empty(title, lang)
    periods = list(dict.fromkeys(series["period"].astype(str)))
    figure = _figure(3.2)
    axes = figure.subplots()
    for item, part in series.groupby("item", sort=False):
        values = part.assign(period=part["period"].astype(str)).set_index("period")["value"].reindex(periods)
        axes.plot(range(len(periods)), values.to_numpy(dtype=float), marker="o", markersize=4, linewidth=1.8,
                  color=theme.ITEM_COLOURS.get(item, theme.NEUTRAL), label=label(item, lang))
    step = max(1, len(periods) // 12)  # at most about a dozen labels, however many months
    axes.set_xticks(range(0, len(periods), step), [periods[i] for i in range(0, len(periods), step)],
                    rotation=30 if len(periods) > 6 else 0, ha="right" if len(periods) > 6 else "center")
    axes.axhline(0, color="black", linewidth=0.6)
    _thousands(axes.yaxis)
    axes.set_ylabel(_TCO2E)
    axes.set_xlabel(_t("period", lang))
    axes.set_title(_t(title, lang), loc="left")
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return figure


def children(table: pd.DataFrame, lang: str = "zh", items: tuple[str, ...] = ("emissions_total", "removals", "net")):
    """Grouped bars (tCO2e) of ``items`` per child org (a :func:`carbonlib.reporting.reports.children` table)."""
    import numpy as np

    if table.empty:
        return _empty("children", lang)
    names = list(table["name_zh" if lang == "zh" else "name_en"])
    figure = _figure(3.6, max(_WIDTH_IN, 0.75 * len(names)))
    axes = figure.subplots()
    positions = np.arange(len(names))
    width = 0.8 / len(items)
    for k, item in enumerate(items):
        axes.bar(positions + (k - (len(items) - 1) / 2) * width, table[item].astype(float), width,
                 color=theme.ITEM_COLOURS.get(item, theme.NEUTRAL), label=label(item, lang))
    axes.set_xticks(positions, names, rotation=30, ha="right")
    axes.axhline(0, color="black", linewidth=0.6)
    _thousands(axes.yaxis)
    axes.set_ylabel(_TCO2E)
    axes.set_title(_t("children", lang), loc="left")
    figure.legend(loc="outside lower center", ncols=len(items), fontsize=8, frameon=False)
    return figure


def caps(table: pd.DataFrame, lang: str = "zh"):
    """Bars of cap use so far (%) per capped enterprise, the projected year end as a marker, and the 100 % line.

    Colour by status (a :func:`carbonlib.reporting.reports.cap_status` table): green within the
    cap, amber within so far but projected over it, red over it.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if table.empty:
        return _empty("caps", lang)
    names = list(table["name_zh" if lang == "zh" else "name_en"])
    shares = (table["utilisation"].astype(float) * 100.0).to_numpy()
    projected = (table["projected_utilisation"].astype(float) * 100.0).to_numpy()
    colours = {"within": theme.SINK, "projected_over": theme.CAP, "over": theme.SOURCE}
    figure = _figure(1.4 + 0.28 * len(names), _WIDTH_IN)  # one row per enterprise: any number fits the page width
    axes = figure.subplots()
    rows = range(len(names))
    bars = axes.barh(rows, shares, color=[colours[s] for s in table["status"]], height=0.7)
    axes.bar_label(bars, labels=[f"{s:,.1f} %" for s in shares], padding=3, fontsize=8)
    axes.scatter(projected, rows, marker="D", s=22, color="black", zorder=3)
    axes.axvline(100.0, color="black", linestyle="--", linewidth=1)
    axes.set_yticks(rows, names, fontsize=8)
    axes.invert_yaxis()  # the first enterprise of the table on top
    axes.set_xlabel(_t("share_pct", lang))
    axes.set_title(_t("caps", lang), loc="left")
    axes.margins(x=0.12)
    present = list(dict.fromkeys(table["status"]))
    figure.legend(handles=[*(Patch(color=colours[s], label=_t(s, lang)) for s in present),
                           Line2D([], [], marker="D", linestyle="", color="black", label=_t("projected", lang))],
                  loc="outside lower center", ncols=len(present) + 1, fontsize=8, frameon=False)
    return figure


def stand_removals(stands: pd.DataFrame, lang: str = "zh"):
    """Bars of each stand's removals (tCO2e per year) with its 95 % sampling uncertainty as error bars; stands
    whose surveys do not cover the vintage are drawn pale (a monitoring report's stands table)."""
    import numpy as np

    if stands.empty:
        return _empty("stand_removals", lang)
    figure = _figure(3.2, max(_WIDTH_IN, 0.45 * len(stands)))
    axes = figure.subplots()
    positions = np.arange(len(stands))
    colours = [theme.SINK if covered else theme.NEUTRAL for covered in stands.covers_vintage]
    axes.bar(positions, stands.removals_tco2e.astype(float), 0.7, color=colours,
             yerr=stands.u95_tco2e.astype(float).fillna(0), capsize=3, error_kw={"linewidth": 0.8})
    axes.set_xticks(positions, stands.stand_id, rotation=30, ha="right", fontsize=8)
    axes.axhline(0, color="black", linewidth=0.6)
    _thousands(axes.yaxis)
    axes.set_ylabel(_TCO2E + " / a")
    axes.set_title(_t("stand_removals", lang), loc="left")
    return figure
