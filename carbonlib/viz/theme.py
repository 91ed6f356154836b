"""Look and number formats shared by the dashboards (Voila and Panel).

Colours follow the sign of a figure: sources red, sinks green, net blue, caps amber, exports
(deducted from emissions) grey, the same in dashboards and reports.
Numbers are formatted one way everywhere (:func:`format_value`): tonnes of CO2e rounded to
whole tonnes with thousands separators, shares as percent with one decimal, other units to
at most one decimal.  Tests compare page text with :func:`carbonlib.accounting.accounts.account_figures`
numbers formatted by this rule.
"""

from __future__ import annotations

import functools
import math

SOURCE = "#c8412b"
SINK = "#23895a"
NET = "#2b5f9e"
CAP = "#d49a1c"
NEUTRAL = "#6b7280"
STATUS_COLOURS = {"online": SINK, "late": CAP, "offline": SOURCE}
#: Regions without figures on a map.
NO_DATA = "#d1d5db"


def _blend(a: str, b: str, t: float) -> str:
    """The colour ``t`` of the way from ``a`` to ``b`` (hex RGB)."""
    ca, cb = (tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b))
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


#: Net balance on maps, from the strongest sink (green) through balanced (pale) to the strongest source (red).
NET_PALETTE = tuple([_blend(SINK, "#f5f5f4", k / 5) for k in range(5)] + [_blend("#f5f5f4", SOURCE, k / 5) for k in range(6)])
#: The two looks of the province screen: page, panel and text colours.
SCREEN_THEMES = {"dark": {"page": "#0b1220", "panel": "#111a2e", "text": "#e5e7eb", "muted": "#94a3b8", "line": "#1f2a44",
                          "no_data": "#334155"},
                 "light": {"page": "#f3f4f6", "panel": "#ffffff", "text": "#111827", "muted": "#4b5563", "line": "#d1d5db",
                           "no_data": NO_DATA}}
#: Colour per account item (items not listed use NEUTRAL).
ITEM_COLOURS = {"emissions_total": SOURCE, "removals": SINK, "net": NET, "cap": CAP, "cap_utilisation": CAP}

CSS = """
.carbon-kpis {display: flex; gap: 12px; flex-wrap: wrap; font-family: system-ui, sans-serif;}
.carbon-kpi {border-radius: 10px; padding: 10px 16px; min-width: 180px; background: #f7f7f8;
             border-left: 6px solid var(--kpi-colour, #6b7280); box-shadow: 0 1px 3px rgba(0,0,0,.12);}
.carbon-kpi .kpi-title {font-size: 13px; color: #4b5563;}
.carbon-kpi .kpi-value {font-size: 26px; font-weight: 700; color: #111827;}
.carbon-kpi .kpi-interval {font-size: 12px; color: #4b5563; margin-top: 2px;}
.carbon-kpi .kpi-unit {font-size: 12px; color: #6b7280; margin-left: 4px;}
.carbon-header {font-family: system-ui, sans-serif; font-size: 20px; font-weight: 600;}
.carbon-note {font-family: system-ui, sans-serif; font-size: 12px; color: #6b7280;}
.carbon-table {border-collapse: collapse; font-family: system-ui, sans-serif; font-size: 13px; margin: 4px 0;}
.carbon-table td {padding: 3px 10px; border-bottom: 1px solid #e5e7eb;}
.carbon-table td.num {text-align: right; font-variant-numeric: tabular-nums; font-weight: 600;}
.carbon-pending {font-family: system-ui, sans-serif; color: #78350f; background: #fef3c7; padding: 8px 12px;
  border-left: 4px solid #d97706; border-radius: 4px;}
.carbon-refused {font-family: system-ui, sans-serif; color: #7f1d1d; background: #fee2e2; padding: 8px 12px;
                 border-radius: 6px;}
"""


#: How a unit code of the schema is written for people (codes stay ASCII in the lake and in CSV exports).
UNIT_SYMBOLS = {"umol m-2 s-1": "µmol m⁻² s⁻¹", "degC": "°C", "W m-2": "W m⁻²", "m s-1": "m s⁻¹", "m3": "m³",
                "tCO2e": "tCO₂e", "tCO2": "tCO₂"}


def unit_symbol(unit: str) -> str:
    """The display form of a unit code: 'umol m-2 s-1' → 'µmol m⁻² s⁻¹', 'degC' → '°C'; others unchanged."""
    return UNIT_SYMBOLS.get(unit, unit)


def format_value(value: float | None, unit: str) -> str:
    """Display text of a figure: 'tCO2e'/'t'/'MWh' → whole numbers with thousands separators,
    'share' → percent with one decimal, anything else → one decimal; missing → '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "share":
        return f"{value * 100:,.1f} %"
    if unit in ("tCO2e", "t", "MWh", "kWh", "GJ", "m3", "L", "entries", "entry-months"):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def init_panel(*, voila: bool = False) -> None:
    """Load Panel for a dashboard, fully offline (JavaScript inline, no CDN).

    ``voila=True`` renders through ipywidgets (needs ``jupyter_bokeh``), as Voila requires.
    The dashboards draw with Bokeh directly (:mod:`.figures`); leaving HoloViews unimported
    keeps Panel from publishing BokehJS into a Voila page twice (about 1.3 MB less to load).
    """
    import panel as pn

    options = {"comms": "ipywidgets"} if voila else {}
    pn.extension("tabulator", inline=True, raw_css=[CSS], notifications=not voila, **options)


@functools.cache
def tabulator_css() -> str:
    """Tabulator's 'simple' theme CSS from Panel's bundled files, for inline use (Voila loads no CDN CSS)."""
    from pathlib import Path

    import panel

    found = sorted((Path(panel.__file__).parent / "dist" / "bundled" / "datatabulator").glob("*/dist/css/tabulator_simple.min.css"))
    if not found:
        raise FileNotFoundError("Panel's bundled Tabulator CSS is missing. Fix: reinstall panel (pip install --force-reinstall panel).")
    return found[-1].read_text(encoding="utf-8")
