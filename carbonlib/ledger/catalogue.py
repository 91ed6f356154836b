"""What may be entered in the ledger: activity types per category and units, and a plausibility hint.

The pick-lists of the entry form and of the bulk template come from here, so an officer can only
choose what the accounts can compute with the lake's factor library
(:mod:`carbonlib.accounting.factor_library`) in force this year: fuels with all three combustion
parameters and a GB/T 2589 standard-coal coefficient, process factors, gases with an AR5 GWP, waste
types with every incineration parameter, the grid, steam and hot water.
"""

from __future__ import annotations

import pandas as pd

from datetime import date

from .. import units as unit_conversion
from ..accounting import accounts, views
from ..accounting.factor_library import FactorLibrary, FactorMissing
from ..lake import Lake
from ..lake.schema import CATEGORY_UNITS

#: Heat carriers of purchased/exported heat (both accounted with the default heat factor, 0.11 tCO2/GJ).
HEAT_CARRIERS = ("steam", "hot_water")
#: Biomass fuels (memo item: tonnes, not in the total).
BIOMASS_FUELS = ("black_liquor", "wood", "straw", "bagasse")
#: A hint is given when an amount is this many times above (or below 1/this of) the org's median.
HINT_RATIO = 3.0


def library(lake: Lake, year: int | None = None) -> FactorLibrary:
    """The lake's factor library in force in ``year`` (default: this year)."""
    return FactorLibrary.of_lake(lake, year or date.today().year)


def fuels(lake: Lake) -> list[str]:
    """Fuels the accounts can compute (all three parameters in the lake and a standard-coal coefficient)."""
    return [f for f in library(lake).fuels() if f in accounts.STANDARD_COAL]


def activity_types(lake: Lake, category: str) -> list[str]:
    """Activity types an entry of ``category`` may have (empty: the category cannot be entered)."""
    if category in ("stationary_combustion", "mobile_combustion"):
        return fuels(lake)
    if category == "process":
        return library(lake).processes()
    if category == "fugitive":
        return library(lake).gases()
    if category == "waste":
        return library(lake).wastes()
    if category in ("purchased_electricity", "exported_electricity"):
        return ["grid"]
    if category in ("purchased_heat", "exported_heat"):
        return list(HEAT_CARRIERS)
    if category == "biomass_combustion":
        return list(BIOMASS_FUELS)
    return []


def units(lake: Lake, category: str, activity_type: str | None = None) -> tuple[str, ...]:
    """Units an entry of ``category`` (and fuel ``activity_type``) may be in: the lake's rule for the category,
    and for a fuel only the units of the dimension its net calorific value is given per (natural gas in Nm3,
    diesel in t: a mass of a gas cannot be converted without its density)."""
    allowed = CATEGORY_UNITS.get(category, ())
    if category not in ("stationary_combustion", "mobile_combustion") or activity_type not in accounts.STANDARD_COAL:
        return allowed
    try:
        ncv = library(lake).fuel(activity_type)[0]  # one read of the library, not one per question
    except FactorMissing:
        return allowed
    basis = unit_conversion.split_ratio(ncv.unit)[1]
    return tuple(u for u in allowed if unit_conversion.dimension(u) == unit_conversion.dimension(basis))


def plausibility(lake: Lake, org_id: str, category: str, activity_type: str, unit: str, amount: float,
                 days: int) -> tuple[float, float, int] | None:
    """(ratio to the median, median, entries compared) when ``amount`` per day of its period is more than
    :data:`HINT_RATIO` times above or below the median per day of the org's approved entries of the same
    category, type and unit (last 24 of them); None when it is in line or there is no history."""
    history = lake.query(
        f"SELECT amount / (datediff('day', period_start, period_end) + 1) AS per_day "
        f"FROM ({views.activity_effective_sql(lake)}) WHERE org_id = ? AND category = ? "
        f"AND activity_type = ? AND unit = ? ORDER BY period_start DESC LIMIT 24",
        [org_id, category, activity_type, unit])
    if len(history) < 3 or days <= 0:
        return None
    median = float(pd.Series(history.per_day).median())
    if median <= 0:
        return None
    ratio = (amount / days) / median
    if 1.0 / HINT_RATIO <= ratio <= HINT_RATIO:
        return None
    return ratio, median * days, len(history)
