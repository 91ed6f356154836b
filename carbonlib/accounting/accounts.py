"""Periodic carbon accounts (services layer): sources, sinks, energy and net balance per org and period.

For every org node and period (year '2025', quarter '2025Q3', month '2025-07'; UTC calendar
periods, the time base of the lake) the service computes, materialises in table ``account``
and keeps up to date incrementally:

* **sources** (clause 6.2.3, GB/T 32150): approved ledger entries in force (reversals netted
  out) turned into tCO2e with :mod:`carbonlib.emissions` and the factor library.  An entry
  spanning several months is spread over them in proportion to days.
* **removals by sinks** (clauses 3, 6.4.3): ``removals_inventory`` from the forest inventory
  (stock difference of two surveys, IPCC 2006 Vol.4 Eq 2.8, pro-rated by days) and
  ``removals_flux`` from flux-tower NEE (:mod:`carbonlib.accounting.tower_sinks`; only periods whose every
  half-hour is measured or gap-filled, so a parent's figure sums the towers complete in it).
* **rule for** ``removals`` (what ``net`` uses): ``removals = removals_inventory -
  emissions_in_boundary`` (:func:`carbonlib.sinks.removals_by_sinks`).  Clause 3.2 defines
  removals by sinks as the *change of carbon stock* of the forest land over the period minus
  the greenhouse gas emissions inside the monitoring boundary; a sink site's own ledger
  entries (fuel for site work, fire) are those emissions (``emissions_in_boundary``, the
  site's source items), so they are deducted from its removals and left out of
  ``emissions_total`` (counted once: ``net`` is unchanged by where they are booked).  The
  standard asks for stock-change accounting (clause 6.4.3); the inventory
  stock difference is that measurement, follows IPCC 2006 Vol.4 and the CCER forestry
  methodologies (CCER-14-001/002), and can be verified by re-measuring plots.  Tower NEE
  covers only the footprint (scaled to the site area by assumption), includes soil and
  lateral fluxes the stock method does not see and is not an accepted crediting method, so
  it is reported beside it as an independent cross-check, never substituted: a site with a
  tower but no two surveys has ``removals_flux`` and no ``removals``.
* **emissions_total** = source items - exported items - emissions_in_boundary;
* **net** = emissions_total - removals (clause 4.1); **cap** and **cap_utilisation**
  (clause 6.2.2, annual); **energy use** in tce and **energy intensity** per tonne of metered
  output (clause 6.5, GB/T 2589-2020).

Items (unit):
``scope1_stationary_combustion``, ``scope1_mobile_combustion``, ``scope1_process``,
``scope1_fugitive``, ``scope2_purchased_electricity``, ``scope2_purchased_heat``,
``exported_electricity``, ``exported_heat``, ``emissions_total`` (all tCO2e);
``removals_inventory``, ``removals_flux``, ``removals`` (tCO2e, positive = taken up);
``emissions_in_boundary`` (tCO2e: the source items of sink sites, clause 3.2);
``net`` (tCO2e); ``purchased_electricity_mwh`` (MWh); ``memo_biomass_fuel_t`` (t, not in the
total); ``energy_use_tce`` (tce, inputs minus exported energy, GB/T 2589-2020 clause 4);
``clinker_output_t``, ``paper_output_t`` (t, from production meters, qc 0/1);
``clinker_energy_tce``, ``paper_energy_tce`` (tce: energy use of the orgs in months with
that output); ``clinker_energy_intensity``, ``paper_energy_intensity`` (kgce/t);
annual only: ``cap`` (tCO2e) and ``cap_utilisation`` (share, capped orgs only);
``pending_entry_months`` (entry-months): ledger entries awaiting review (submitted, or returned to
their officer), counted in every month their period overlaps; a period where it is above 0 is
**pending**: its figures leave those entries out until a reviewer approves them (never read
as zero emissions);
``dq_skipped_entries`` (entries): ledger entries in force that the accounts could not use
(an unknown fuel, a unit of the wrong dimension, a period ending before it starts: rows the
writer refuses today but an older lake may hold).  They are left out with a
:class:`LedgerEntrySkipped` warning naming each entry, and counted in the month the entry
starts, so a report shows that its figures miss them instead of every org's accounts failing.

**Uncertainty** (IPCC 2006 Vol.1 Ch.3 Approach 1): every tCO2e figure carries its 95 % interval in
``ci95_low`` / ``ci95_high`` and, in ``uncertainty``, how it was derived or why there is none.  The
error sources are the factor rows' stated uncertainties (:func:`_factor_uncertainty`), the plot sampling
of the inventory (:func:`site_removal_rates`), the random error of tower NEE and, for a complete
tower-year, its spread under the u* threshold's bootstrap scenarios (``tower_sinks``).  An
error source is one correlation group: its errors are the same wherever it is used, so they add linearly
(fully correlated: one grid factor's error moves every enterprise's scope-2 emissions together) and
different groups add in quadrature (independent).  Each figure's signed half-width per group is kept as an
additive item ``u95:<item>:<group>`` (and the part without any estimate as ``u95:<item>:none``, whose
basis says why), so it rolls up the tree and the periods like the figures and a parent's interval is
exact under these assumptions; totals combine their items' groups with the items' signs.  A figure with
any part lacking an estimate gets no interval: a partial one would look narrower than it is (so a tower's
figures of a running year have none until the year is complete and its u* scenarios are estimated).

Every additive item rolls up the org tree (a parent is the sum of its subtree, a quarter
the sum of its months); ratios (:data:`RATIO_ITEMS`) are recomputed at every node from the
rolled-up numerator and denominator.  Every figure carries ``method_version``, its factor
``basis`` and the ``snapshot_id`` of the lake it was computed from.
"""

from __future__ import annotations

import calendar
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from .. import emissions, sinks, uncertainty, units
from ..lake import Lake, WriteResult
from ..lake import CATALOG
from ..lake.schema import PENDING_STATUSES
from ..lake.sql import literal
from . import factor_library, tower_sinks, views
from .factor_library import FactorLibrary

#: acct-2.1: removals follow clause 3.2 (a sink site's own emissions are deducted from its removals);
#: acct-2.2: an entry's status is derived from its review steps; periods with entries awaiting review are pending;
#: acct-2.3: the factors are the lake's rows (factor library) and every figure names them; waste incineration;
#: natural gas to standard coal as oil-field gas, like its NCV
METHOD_VERSION = "acct-2.4"
#: Owner of the tables this package writes (``account``, ``telemetry_daily``).
SERVICE = views.SERVICE
GRID_SERIES = factor_library.GRID_SERIES
GWP_ASSESSMENT = factor_library.GWP_ASSESSMENT
#: lake_meta key holding the last snapshot whose changes the accounts have absorbed.
MARKER_KEY = f"accounts_snapshot/{METHOD_VERSION}"

_COMBUSTION = {"stationary_combustion": "scope1_stationary_combustion", "mobile_combustion": "scope1_mobile_combustion"}
#: Items whose sum minus :data:`EXPORT_ITEMS` is emissions_total (tCO2e).
SOURCE_ITEMS = ("scope1_stationary_combustion", "scope1_mobile_combustion", "scope1_process", "scope1_fugitive",
                 "scope1_waste_incineration", "scope2_purchased_electricity", "scope2_purchased_heat")
EXPORT_ITEMS = ("exported_electricity", "exported_heat")
#: Metered outputs (telemetry metric, t per interval) that energy intensity is expressed per.
PRODUCTS = ("clinker", "paper")
#: Items that are ratios: recomputed at every node and period, never summed.
RATIO_ITEMS = frozenset({"cap_utilisation", *(f"{p}_energy_intensity" for p in PRODUCTS)})
#: Additive items derived from others after roll-up.
TOTAL_ITEMS = frozenset({"emissions_total", "removals", "net"})
#: How each total is made of additive items (sign of each), for its uncertainty components.
_TOTAL_SIGNS = {
    "emissions_total": {**dict.fromkeys(SOURCE_ITEMS, 1.0), **dict.fromkeys(EXPORT_ITEMS, -1.0),
                        "emissions_in_boundary": -1.0},
    "removals": {"removals_inventory": 1.0, "emissions_in_boundary": -1.0},
    "net": {**dict.fromkeys(SOURCE_ITEMS, 1.0), **dict.fromkeys(EXPORT_ITEMS, -1.0), "removals_inventory": -1.0},
}
#: Item prefix of the uncertainty components stored beside the figures (see "Uncertainty" in the module doc).
U95 = "u95:"
_NONE = "none"
#: Basis of ``pending_entry_months`` (the entries themselves: ``carbon ledger list --status submitted``).
PENDING_BASIS = "ledger entries awaiting review (submitted or returned), per month of their period"
#: Tables whose changed rows make some (org, period) accounts stale (see :func:`refresh_accounts`).
INPUT_TABLES = ("activity", "activity_review", "telemetry", "cap", "cap_decision", "forest_stand", "survey_plot",
                "survey_tree")
#: Tables a change of which invalidates every account (tree, factors, species parameters).
GLOBAL_TABLES = ("org", "org_change", "emission_factor", "gwp", "species_parameter")
_ACCOUNT_COLUMNS = ["org_id", "period", "period_start", "period_end", "method_version", "item", "value", "unit",
                    "basis", "snapshot_id", "computed_at", "ci95_low", "ci95_high", "uncertainty"]


@dataclass(frozen=True)
class StandardCoal:
    """Conversion coefficient to standard coal: ``kgce`` per ``per_unit`` of the energy carrier."""

    kgce: float
    per_unit: str
    name_zh: str


#: GB/T 2589-2020 "General rules for calculation of the comprehensive energy consumption",
#: Appendix A reference coefficients (1 kgce = 29.3076 MJ).  Values as given in the brief and
#: widely reproduced from the 2008 edition; NOT verified against the primary 2020 text here
#: (no copy offline): ``basis`` says "unverified".  Electricity uses the equivalent value
#: (当量值, 3.6 MJ/kWh); bituminous coal uses the raw-coal average (the appendix has no rank).
STANDARD_COAL: dict[str, StandardCoal] = {
    "raw_coal": StandardCoal(0.7143, "kg", "原煤"),
    "bituminous_coal": StandardCoal(0.7143, "kg", "原煤 (烟煤按原煤平均)"),
    "coke": StandardCoal(0.9714, "kg", "焦炭"),
    "crude_oil": StandardCoal(1.4286, "kg", "原油"),
    "fuel_oil": StandardCoal(1.4286, "kg", "燃料油"),
    "gasoline": StandardCoal(1.4714, "kg", "汽油"),
    "kerosene": StandardCoal(1.4714, "kg", "煤油"),
    "diesel": StandardCoal(1.4571, "kg", "柴油"),
    "lpg": StandardCoal(1.7143, "kg", "液化石油气"),
    "natural_gas": StandardCoal(1.3300, "Nm3", "天然气 (油田天然气, 38 931 kJ/m3, as its NCV)"),
    "electricity": StandardCoal(0.1229, "kWh", "电力 (当量值)"),
    "heat": StandardCoal(0.03412, "MJ", "热力"),
}
_TCE_BASIS = "tce=GB/T 2589-2020 App.A (unverified)"


# ------------------------------------------------------------------------------ periods
@dataclass(frozen=True)
class Period:
    """An accounting period: label ('2025', '2025Q3', '2025-07'), kind and first/last day."""

    label: str
    kind: str
    start: date
    end: date

    @property
    def months(self) -> list[int]:
        """Calendar months (1-12) the period covers."""
        return list(range(self.start.month, self.end.month + 1))


def parse_period(label: str) -> Period:
    """The :class:`Period` of a label: 'YYYY', 'YYYYQn' (n 1-4) or 'YYYY-MM'."""
    text = str(label).strip()
    try:
        if len(text) == 4:
            year = int(text)
            return Period(text, "year", date(year, 1, 1), date(year, 12, 31))
        if len(text) == 6 and text[4] in "Qq" and text[5] in "1234":
            year, q = int(text[:4]), int(text[5])
            end = date(year, 3 * q, calendar.monthrange(year, 3 * q)[1])
            return Period(f"{year}Q{q}", "quarter", date(year, 3 * q - 2, 1), end)
        if len(text) == 7 and text[4] == "-":
            year, month = int(text[:4]), int(text[5:])
            return Period(text, "month", date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))
    except ValueError:
        pass
    raise ValueError(f"period {label!r} is not a year '2025', a quarter '2025Q3' or a month '2025-07'")


def year_periods(year: int, monthly: bool = True) -> list[Period]:
    """The year, then (if ``monthly``) its quarters and months."""
    labels = [str(year)]
    if monthly:
        labels += [f"{year}Q{q}" for q in range(1, 5)] + [f"{year}-{m:02d}" for m in range(1, 13)]
    return [parse_period(label) for label in labels]


def _month_of_period(periods: list[Period]) -> pd.DataFrame:
    """Which month feeds which period: month, period, n_months (months in the period)."""
    return pd.DataFrame([(m, p.label, len(p.months)) for p in periods for m in p.months],
                        columns=["month", "period", "n_months"])


# ------------------------------------------------------------------------------- ledger
def _tce(amount: np.ndarray, unit: str, carrier: str, entry_id: str) -> np.ndarray:
    """Standard coal (tce) of ``amount`` ``unit`` of ``carrier`` (GB/T 2589-2020 coefficients)."""
    if carrier not in STANDARD_COAL:
        raise ValueError(f"ledger entry {entry_id}: no GB/T 2589 standard-coal coefficient for {carrier!r}; "
                         f"fix: add it to carbonlib.accounting.accounts.STANDARD_COAL (known: {sorted(STANDARD_COAL)})")
    c = STANDARD_COAL[carrier]
    return np.asarray(units.convert(amount, unit, c.per_unit), dtype=float) * c.kgce / 1000.0


class LedgerEntrySkipped(UserWarning):
    """A ledger entry in force that the accounts cannot use was left out (its id and the reason are in the message)."""


def _skipped(entries: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Rows of ``entries`` the accounts leave out, with the reason; warns naming each entry."""
    ids = entries.entry_id.tolist()
    warnings.warn(LedgerEntrySkipped(f"ledger entries {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''} left out of "
                                     f"the accounts: {reason}. Fix: reverse them and enter corrections."),
                  stacklevel=3)
    return entries[["entry_id", "org_id", "period_start", "period_end"]].assign(reason=reason)


def entry_emissions(entries: pd.DataFrame, library: FactorLibrary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per ledger entry and account item: org_id, period_start, period_end, item, value, unit, basis.

    Vectorised per (category, activity type, unit), with the factor rows of ``library`` (the lake's rows in
    force in its year; each figure's basis names them as ``ef=<factor_id>``).  Emissions in tCO2e (fuel:
    GB/T 32150 B.1; electricity: the MEE grid factor; heat: the heat factor; fugitive: GWP100 AR5; waste
    incineration: IPCC 2006 Vol. 5 Eq. 5.1 with CH4 and N2O); ``energy_use_tce`` per GB/T 2589.
    Each tCO2e figure carries its uncertainty (:func:`_factor_uncertainty`): ``u_rel`` (relative 95 %
    half-width, NaN when there is none), ``u_group`` (the factor rows whose errors it shares) and ``u_note``
    (why there is none).  Entries that cannot be converted (unknown fuel or factor, a unit of the wrong
    dimension) are returned apart, with the reason (entry_id, org_id, period_start, period_end, reason), and a
    :class:`LedgerEntrySkipped` warning: one bad entry never stops the others.
    """
    frames, skipped = [], []

    def add(group: pd.DataFrame, item: str, values, unit: str, basis: str,
            factors: tuple[factor_library.FactorRow, ...] = (), measured: tuple[str, ...] = ()) -> None:
        rel, key, note = _factor_uncertainty(factors, measured) if unit == "tCO2e" else (np.nan, "", "")
        frames.append(pd.DataFrame({"org_id": group.org_id.to_numpy(), "period_start": group.period_start.to_numpy(),
                                    "period_end": group.period_end.to_numpy(), "item": item,
                                    "value": np.asarray(values, dtype=float), "unit": unit, "basis": basis,
                                    "u_rel": rel, "u_group": key, "u_note": note}))

    for (category, activity_type, unit), g in entries.groupby(["category", "activity_type", "unit"], sort=True):
        done = len(frames)
        try:
            _group_emissions(g, category, activity_type, unit, library, add)
        except (ValueError, KeyError) as error:
            del frames[done:]
            reason = f"{category} of {activity_type!r} in {unit!r}: {str(error).strip(chr(34) + chr(39))}"
            skipped.append(_skipped(g, reason))
    columns = ["org_id", "period_start", "period_end", "item", "value", "unit", "basis", "u_rel", "u_group", "u_note"]
    figures = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    left_out = (pd.concat(skipped, ignore_index=True) if skipped
                else pd.DataFrame(columns=["entry_id", "org_id", "period_start", "period_end", "reason"]))
    return figures, left_out


def _bases(*rows: factor_library.FactorRow, note: str = "") -> str:
    return "; ".join([*(r.basis for r in rows), *([note] if note else [])])


def _factor_uncertainty(rows: tuple[factor_library.FactorRow, ...], measured: tuple[str, ...] = ()
                        ) -> tuple[float, str, str]:
    """(relative 95 % uncertainty, correlation group, why none) of a figure computed from ``rows``.

    The figure is the activity data times the rows' values, so its relative uncertainty is the rows' in
    quadrature (IPCC 2006 Vol.1 Ch.3 Eq 3.1; for waste incineration, a sum of CO2, CH4 and N2O terms, this
    bounds the sum's).  The activity data count as recorded: the ledger holds no meter accuracy.  The group
    is the rows' ids: one row's error is the same in every figure computed with it, so those add linearly
    (fully correlated) and different groups in quadrature.  NaN with the reason when a row states no
    uncertainty or a parameter was measured without one.
    """
    if measured:
        return np.nan, "", f"measured {', '.join(measured)} without a stated uncertainty"
    missing = [r.basis for r in rows if r.uncertainty_pct is None]
    if missing or not rows:
        return np.nan, "", _NO_FACTOR_UNCERTAINTY + ", ".join(missing)
    rel = uncertainty.propagate_product([r.value for r in rows], [r.uncertainty_pct / 100.0 for r in rows])
    return rel.rel_uncertainty, "+".join(r.factor_id for r in rows), ""


def _group_emissions(g: pd.DataFrame, category: str, activity_type: str, unit: str, library: FactorLibrary,
                     add) -> None:
    """Figures of the entries ``g`` of one category, activity type and unit (see :func:`entry_emissions`); a factor
    is looked up only for the categories that need it (a year without a grid factor is accounted without one)."""
    amount, first = g.amount.to_numpy(dtype=float), g.entry_id.iloc[0]
    if category in _COMBUSTION:
        ncv, cc, ox = library.fuel(activity_type)
        measured = _measured(g)
        default = g[~measured]
        if len(default):
            add(default, _COMBUSTION[category], emissions.fuel_combustion(
                default.amount.to_numpy(dtype=float), unit, ncv=ncv.value, ncv_unit=ncv.unit,
                carbon_content=cc.value, oxidation=ox.value), "tCO2e", _bases(ncv, cc, ox), factors=(ncv, cc, ox))
        for row in g[measured].itertuples(index=False):  # lab-measured parameters override the defaults one by one
            given = {k: float(getattr(row, k)) for k in _MEASURED if pd.notna(getattr(row, k))}
            used = [r for k, r in zip(_MEASURED, (ncv, cc, ox)) if k not in given]
            add(pd.DataFrame([row._asdict()]), _COMBUSTION[category], emissions.fuel_combustion(
                float(row.amount), unit, ncv=given.get("ncv", ncv.value), ncv_unit=ncv.unit,
                carbon_content=given.get("carbon_content", cc.value), oxidation=given.get("oxidation", ox.value)),
                "tCO2e", _bases(*used, note=f"measured {', '.join(given)} ({activity_type})"), measured=tuple(given))
        add(g, "energy_use_tce", _tce(amount, unit, activity_type, first), "tce", _TCE_BASIS)
    elif category == "process":
        factor = library.process(activity_type)
        add(g, "scope1_process", emissions.process_emission(amount, factor.value), "tCO2e", _bases(factor),
            factors=(factor,))
    elif category == "fugitive":
        gwp = library.gwp(activity_type)
        add(g, "scope1_fugitive", np.asarray(units.convert(amount, unit, "t"), dtype=float) * gwp.value, "tCO2e",
            _bases(gwp), factors=(gwp,))
    elif category in ("purchased_electricity", "exported_electricity"):
        mwh = np.asarray(units.convert(amount, unit, "MWh"), dtype=float)
        sign = 1.0 if category == "purchased_electricity" else -1.0
        item = "scope2_purchased_electricity" if sign > 0 else "exported_electricity"
        grid = library.grid()
        add(g, item, mwh * grid.value, "tCO2e", _bases(grid), factors=(grid,))
        add(g, "energy_use_tce", sign * _tce(mwh, "MWh", "electricity", first), "tce", _TCE_BASIS)
        if sign > 0:
            add(g, "purchased_electricity_mwh", mwh, "MWh", "")
    elif category in ("purchased_heat", "exported_heat"):
        gj = np.asarray(units.convert(amount, unit, "GJ"), dtype=float)
        sign = 1.0 if category == "purchased_heat" else -1.0
        heat = library.heat()
        add(g, "scope2_purchased_heat" if sign > 0 else "exported_heat", gj * heat.value, "tCO2e", _bases(heat),
            factors=(heat,))
        add(g, "energy_use_tce", sign * _tce(gj, "GJ", "heat", first), "tce", _TCE_BASIS)
    elif category == "biomass_combustion":
        add(g, "memo_biomass_fuel_t", units.convert(amount, unit, "t"), "t", "")
    elif category == "waste":
        rows = library.waste(activity_type)
        ch4, n2o = library.gwp("CH4"), library.gwp("N2O")
        tonnes = np.asarray(units.convert(amount, unit, "t"), dtype=float)
        add(g, "scope1_waste_incineration", emissions.waste_incineration(
            tonnes, carbon_content=rows["waste_carbon_content"].value, fossil_fraction=rows["waste_fossil_fraction"].value,
            burnout=rows["waste_burnout"].value, ch4_per_t=rows["waste_ch4"].value, n2o_per_t=rows["waste_n2o"].value,
            gwp_ch4=ch4.value, gwp_n2o=n2o.value), "tCO2e", _bases(*rows.values(), ch4, n2o),
            factors=(*rows.values(), ch4, n2o))


def _components(figures: pd.DataFrame) -> pd.DataFrame:
    """Uncertainty component rows (``u95:<item>:<group>``) of the tCO2e figures of :func:`entry_emissions`."""
    f = figures[figures.unit == "tCO2e"]
    known, part = f.u_rel.notna(), f.drop(columns=["u_rel", "u_group", "u_note"])
    return pd.concat([
        part[known].assign(item=U95 + f.item[known] + ":" + f.u_group[known], value=f.value[known] * f.u_rel[known],
                           basis="factor rows " + f.u_group[known]),
        part[~known].assign(item=U95 + f.item[~known] + ":" + _NONE, value=f.value[~known].abs(),
                            basis=f.u_note[~known]),
    ], ignore_index=True)


#: Fuel parameters an entry may carry as measured (columns of table ``activity``; :func:`emissions.fuel_combustion`).
_MEASURED = ("ncv", "carbon_content", "oxidation")


def _measured(g: pd.DataFrame) -> pd.Series:
    """Rows of ``g`` with at least one measured fuel parameter (older lakes and batches have none)."""
    present = [g[k].notna() for k in _MEASURED if k in g]
    return pd.concat(present, axis=1).any(axis=1) if present else pd.Series(False, index=g.index)


def _spread_over_months(per_entry: pd.DataFrame, year: int) -> pd.DataFrame:
    """Spread entry figures over the months of ``year`` they cover, in proportion to days."""
    months = pd.DataFrame({"month": range(1, 13)})
    months["m_start"] = pd.to_datetime([date(year, m, 1) for m in months.month])
    months["m_end"] = months.m_start + pd.offsets.MonthEnd(0)
    x = per_entry.assign(period_start=pd.to_datetime(per_entry.period_start),
                         period_end=pd.to_datetime(per_entry.period_end)).merge(months, how="cross")
    overlap = (np.minimum(x.period_end, x.m_end) - np.maximum(x.period_start, x.m_start)).dt.days + 1
    span = (x.period_end - x.period_start).dt.days + 1
    x = x.assign(value=x.value * overlap / span)[overlap > 0]
    return x[["org_id", "month", "item", "unit", "value", "basis"]]


def _ledger_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None) -> pd.DataFrame:
    entries = lake.query(f"SELECT * FROM ({views.activity_effective_sql(lake, snapshot)}) "
                         f"WHERE ((period_start <= make_date(?, 12, 31) AND period_end >= make_date(?, 1, 1)) "
                         f"OR period_end < period_start){_org_filter(orgs)} ORDER BY entry_id",
                         [year, year, *sorted(orgs or ())])
    reversed_dates = pd.to_datetime(entries.period_end) < pd.to_datetime(entries.period_start)
    skipped = [_skipped(entries[reversed_dates], "the period ends before it starts")] if reversed_dates.any() else []
    entries = entries[~reversed_dates]
    entries = entries[(pd.to_datetime(entries.period_start) <= pd.Timestamp(year, 12, 31))
                      & (pd.to_datetime(entries.period_end) >= pd.Timestamp(year, 1, 1))]
    figures, left_out = entry_emissions(entries, FactorLibrary.of_lake(lake, year, snapshot))
    monthly = _spread_over_months(pd.concat([figures, _components(figures)], ignore_index=True), year)
    left_out = pd.concat([*skipped, left_out], ignore_index=True) if skipped else left_out
    starts = pd.to_datetime(left_out.period_start)
    left_out = left_out[starts.dt.year == year] if len(left_out) else left_out
    if len(left_out):
        counted = left_out.assign(month=pd.to_datetime(left_out.period_start).dt.month).groupby(
            ["org_id", "month"], as_index=False).agg(value=("entry_id", "size"), basis=("entry_id", _skipped_basis))
        monthly = pd.concat([monthly, counted.assign(item="dq_skipped_entries", unit="entries",
                                                     value=counted.value.astype(float))], ignore_index=True)
    return pd.concat([monthly, _pending_monthly(lake, year, snapshot, orgs)], ignore_index=True)


def _pending_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None) -> pd.DataFrame:
    """``pending_entry_months``: ledger entries awaiting review (derived status submitted or returned), one per
    month of ``year`` that the entry's period overlaps, so every period they touch shows as pending."""
    pending = lake.query(
        f"SELECT org_id, entry_id, month(m) AS month FROM ({views.activity_status_sql(lake, snapshot)}) AS e, "
        f"generate_series(date_trunc('month', greatest(e.period_start, make_date(?, 1, 1))), "
        f"least(e.period_end, make_date(?, 12, 31)), INTERVAL 1 MONTH) AS g(m) "
        f"WHERE e.status IN ({', '.join(literal(s) for s in PENDING_STATUSES)}) "
        f"AND e.period_start <= make_date(?, 12, 31) "
        f"AND e.period_end >= make_date(?, 1, 1){_org_filter(orgs, 'e.org_id')}", [year, year, year, year, *sorted(orgs or ())])
    counted = pending.groupby(["org_id", "month"], as_index=False).agg(value=("entry_id", "size"))
    return counted.assign(item="pending_entry_months", unit="entry-months", value=counted.value.astype(float),
                          month=counted.month.astype(int), basis=PENDING_BASIS)


def _org_filter(orgs: set[str] | None, column: str = "org_id") -> str:
    """`` AND <column> IN (?, …)`` for the sorted ``orgs`` (bind them in that order), or nothing for every org."""
    return "" if orgs is None else f" AND {column} IN ({', '.join('?' for _ in orgs)})" if orgs else " AND FALSE"


def _skipped_basis(entry_ids: pd.Series) -> str:
    ids = sorted(entry_ids)
    return "entries left out: " + "; ".join(ids[:5]) + ("; …" if len(ids) > 5 else "")


# -------------------------------------------------------------------------------- sinks
def site_removal_rates(lake: Lake, snapshot: int | None = None, orgs: set[str] | None = None) -> pd.DataFrame:
    """Removals by sinks per site (or per site of ``orgs``) from the two inventory surveys (stock difference).

    Stand volume (m3) = mean plot volume per ha x stand area; carbon = biomass_from_volume x
    carbon fraction (IPCC 2006 Vol.4 Eq 2.8, species parameters); rate = (C2 - C1)/(t2 - t1)
    as CO2 (tCO2e per year).  The rate's 95 % sampling uncertainty comes from the plots measured at both the
    first and the last survey (:func:`carbonlib.uncertainty.paired_difference_u95` of their m3/ha differences,
    scaled like the rate); stands are independent samples and add in quadrature (IPCC 2006 Vol.1 Eq 3.1).
    Returns org_id, first, last (survey dates), rate_tco2e_per_yr, u95_tco2e_per_yr (NaN when a stand has fewer
    than two paired plots) and unpaired (those stands, for the account's note).
    """
    plots = lake.query(
        f"SELECT p.stand_id, p.plot_id, p.survey_date, "
        f"sum(t.volume_m3 ORDER BY t.tree_no) / any_value(p.plot_area_ha) AS m3_per_ha "
        f"FROM {lake.relation('survey_plot', snapshot)} AS p JOIN {lake.relation('survey_tree', snapshot)} AS t "
        f"USING (plot_id, survey_date) WHERE p.stand_id IN (SELECT stand_id FROM {lake.relation('forest_stand', snapshot)} WHERE TRUE{_org_filter(orgs)}) "
        f"GROUP BY p.plot_id, p.stand_id, p.survey_date "
        f"ORDER BY p.stand_id, p.survey_date, p.plot_id",  # fixed order: float sums must not vary between runs
        sorted(orgs or ()))
    stands = lake.read("forest_stand", snapshot=snapshot)
    species = lake.read("species_parameter", snapshot=snapshot).set_index("species_group")
    per_stand = plots.groupby(["stand_id", "survey_date"], as_index=False).m3_per_ha.mean().merge(stands, on="stand_id")
    rows = []
    for stand_id, group in per_stand.groupby("stand_id"):
        group = group.sort_values("survey_date")
        if len(group) < 2:
            continue
        p = species.loc[group.species_group.iloc[0]]
        carbon = sinks.carbon_stock(
            sinks.biomass_from_volume(group.m3_per_ha.to_numpy() * group.area_ha.to_numpy(), p.wood_density, p.bef, p.root_shoot),
            p.carbon_fraction,
        )
        first, last = group.survey_date.iloc[0], group.survey_date.iloc[-1]
        t1, t2 = pd.Timestamp(first).date(), pd.Timestamp(last).date()
        rate_tc = sinks.stock_difference(carbon[0], carbon[-1], t1, t2)
        stand_plots = plots[plots.stand_id == stand_id].pivot_table(index="plot_id", columns="survey_date",
                                                                    values="m3_per_ha")
        u95_m3 = uncertainty.paired_difference_u95(stand_plots[last] - stand_plots[first]) * group.area_ha.iloc[0]
        u95_tc = sinks.stock_difference(0.0, sinks.carbon_stock(sinks.biomass_from_volume(
            u95_m3, p.wood_density, p.bef, p.root_shoot), p.carbon_fraction), t1, t2)
        rows.append((group.org_id.iloc[0], first, last, float(sinks.to_co2(rate_tc)), float(sinks.to_co2(u95_tc)),
                     stand_id))
    out = pd.DataFrame(rows, columns=["org_id", "first", "last", "rate", "u95", "stand_id"])
    return out.groupby("org_id", as_index=False).agg(
        first=("first", "min"), last=("last", "max"), rate_tco2e_per_yr=("rate", "sum"),
        u95_tco2e_per_yr=("u95", lambda u: float(np.sqrt((u ** 2).sum(skipna=False)))),
        unpaired=("stand_id", lambda ids: ", ".join(ids[out.loc[ids.index, "u95"].isna()])))


def _inventory_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None) -> pd.DataFrame:
    """removals_inventory per site and month: the survey rate pro-rated by days (years first < Y <= last)."""
    rates = site_removal_rates(lake, snapshot, orgs)
    rates = rates[(pd.to_datetime(rates["first"]).dt.year < year) & (pd.to_datetime(rates["last"]).dt.year >= year)]
    days_in_year = 366 if calendar.isleap(year) else 365
    months = pd.DataFrame({"month": range(1, 13), "days": [calendar.monthrange(year, m)[1] for m in range(1, 13)]})
    x = rates.merge(months, how="cross")
    share, known = x.days / days_in_year, x.u95_tco2e_per_yr.notna()
    figures = pd.DataFrame({
        "org_id": x.org_id, "month": x.month, "item": "removals_inventory", "unit": "tCO2e",
        "value": x.rate_tco2e_per_yr * share,
        "basis": "inventory stock difference " + pd.to_datetime(x["first"]).dt.year.astype(str) + ".."
                 + pd.to_datetime(x["last"]).dt.year.astype(str),
    })
    components = pd.DataFrame({  # one sampling error per site: the same in every month (correlated)
        "org_id": x.org_id, "month": x.month, "unit": "tCO2e",
        "item": (U95 + "removals_inventory:" + np.where(known, "inventory:" + x.org_id, _NONE)),
        "value": np.where(known, x.u95_tco2e_per_yr * share, (x.rate_tco2e_per_yr * share).abs()),
        "basis": np.where(known, "plot sampling (paired plots) of site " + x.org_id,
                          "fewer than two plots measured at both surveys in stand(s) " + x.unpaired),
    })
    return pd.concat([figures, components], ignore_index=True)


def _flux_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None) -> pd.DataFrame:
    """removals_flux per tower site and complete month (:mod:`carbonlib.accounting.tower_sinks`)."""
    found = tower_sinks.flux_removals(lake, year, snapshot=snapshot, orgs=orgs)
    found = found[found.complete.astype(bool)]
    month, value = found.month.astype(int), found.removals_tco2e.astype(float)
    figures = pd.DataFrame({"org_id": found.org_id, "month": month, "item": "removals_flux",
                            "unit": "tCO2e", "value": value, "basis": found.basis})

    def components(half: pd.Series, group: pd.Series, source: str, why_none: str) -> pd.DataFrame:
        known = half.notna()
        return pd.DataFrame({"org_id": found.org_id, "month": month, "unit": "tCO2e",
                             "item": U95 + "removals_flux:" + np.where(known, group, _NONE),
                             "value": np.where(known, half, value.abs()),
                             "basis": np.where(known, source + found.device_id, why_none + found.device_id)})

    return pd.concat([
        figures,  # random errors of different months and towers are independent; a u* error spans the year
        components(found.u95_tco2e, "flux:" + found.device_id + ":" + month.astype(str),
                   "tower random error (MDS) of ", "half-hours without a random-error estimate at "),
        components(found.u95_ustar_tco2e, "ustar:" + found.device_id, "u* threshold scenarios of ",
                   "u* threshold scenarios (estimated once the tower-year is complete) missing at "),
    ], ignore_index=True)


def _output_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None) -> pd.DataFrame:
    """``<product>_output_t`` per org and month from production meters (qc 0 and 1; qc 2 bad is left out).

    The sum is exact and so reproducible to the last bit whatever order DuckDB's threads add in:
    readings are summed as DECIMAL(38, 10) (1e-10 t) and converted back.  (An ordered sum did the
    same by sorting every reading of the year: 0.8 GB of memory on the large demo.)
    """
    products = ", ".join(literal(p) for p in PRODUCTS)
    sql = (f"SELECT d.org_id, t.metric || '_output_t' AS item, month(t.ts) AS month, "
           f"CAST(sum(CAST(t.value AS DECIMAL(38, 10))) AS DOUBLE) AS value "
           f"FROM {lake.relation('telemetry', snapshot)} AS t JOIN {lake.relation('device', snapshot)} AS d USING (device_id) "
           f"WHERE t.metric IN ({products}) AND t.qc < 2 AND t.ts >= ? AND t.ts < ?")
    params: list = [pd.Timestamp(year, 1, 1).to_pydatetime(), pd.Timestamp(year + 1, 1, 1).to_pydatetime()]
    if orgs is not None:
        sql += f" AND d.org_id IN ({', '.join('?' for _ in orgs)})"
        params += sorted(orgs)
    out = lake.query(sql + " GROUP BY ALL ORDER BY ALL", params)
    return out.assign(unit="t", basis="production meters, qc<2", month=out.month.astype(int))


def _own_monthly(lake: Lake, year: int, snapshot: int, orgs: set[str] | None, sites: set[str]) -> pd.DataFrame:
    """Each org's own figures (not its subtree) per month: org_id, month, item, unit, value, basis.

    ``sites``: the sink sites, whose source items are also their ``emissions_in_boundary`` (clause 3.2).
    """
    own = pd.concat([_ledger_monthly(lake, year, snapshot, orgs), _inventory_monthly(lake, year, snapshot, orgs),
                     _flux_monthly(lake, year, snapshot, orgs), _output_monthly(lake, year, snapshot, orgs)],
                    ignore_index=True)
    own = own.groupby(["org_id", "month", "item", "unit"], as_index=False).agg(
        value=("value", "sum"), basis=("basis", _join_basis))
    energy = own[own.item == "energy_use_tce"]
    for product in PRODUCTS:  # energy of the org-months that produced it: numerator of the intensity
        producing = own[(own.item == f"{product}_output_t") & (own.value > 0)][["org_id", "month"]]
        own = pd.concat([own, energy.merge(producing).assign(item=f"{product}_energy_tce")], ignore_index=True)
    inside = own[own.org_id.isin(sites) & own.item.isin(SOURCE_ITEMS)]
    boundary = inside.groupby(["org_id", "month"], as_index=False).agg(value=("value", "sum")).assign(
        item="emissions_in_boundary", unit="tCO2e", basis="clause 3.2: the sink site's own emissions (its ledger)")
    at_sites = own[own.org_id.isin(sites) & _is_component(own.item)]
    at_sites = at_sites[_component_base(at_sites.item).isin(SOURCE_ITEMS)]
    boundary_components = at_sites.assign(
        item=U95 + "emissions_in_boundary:" + _component_group(at_sites.item)).groupby(
        ["org_id", "month", "item", "unit"], as_index=False).agg(value=("value", "sum"), basis=("basis", _join_basis))
    return pd.concat([own, boundary, boundary_components], ignore_index=True)


def _join_basis(bases: pd.Series) -> str:
    """Union of basis notes ("a; b" strings), sorted, without repeats."""
    return "; ".join(sorted({part for b in bases if b for part in b.split("; ")}))


# ------------------------------------------------------------------------ computation
def _to_periods(own: pd.DataFrame, periods: list[Period]) -> pd.DataFrame:
    """Sum monthly figures into periods; removals_flux (and its uncertainty components) only where every month of
    the period is complete."""
    x = own.merge(_month_of_period(periods), on="month")
    out = x.groupby(["org_id", "period", "item", "unit"], as_index=False).agg(
        value=("value", "sum"), basis=("basis", _join_basis), months=("month", "nunique"), n_months=("n_months", "first"))
    flux = out.item == "removals_flux"
    complete = out[flux & (out.months == out.n_months)][["org_id", "period"]].assign(complete=True)
    out = out.merge(complete, on=["org_id", "period"], how="left")
    flux_parts = flux | (_is_component(out.item) & (_component_base(out.item) == "removals_flux"))
    out = out[~flux_parts | out.complete.fillna(False).astype(bool)]
    return out.drop(columns=["months", "n_months", "complete"])


def _all_pairs(tree: pd.DataFrame, periods: list[Period]) -> pd.DataFrame:
    return pd.MultiIndex.from_product([tree.org_id, [p.label for p in periods]], names=["org_id", "period"]).to_frame(index=False)


def _frontier(lake: Lake, tree: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Materialised additive figures of the children of recomputed nodes that are not recomputed themselves."""
    children = tree[["org_id", "parent_id"]].merge(pairs.rename(columns={"org_id": "parent_id"}), on="parent_id")
    children = children.merge(pairs, on=["org_id", "period"], how="left", indicator=True)
    children = children[children._merge == "left_only"][["org_id", "period"]]
    if children.empty:
        return pd.DataFrame(columns=["org_id", "period", "item", "unit", "value", "basis"])
    rows = lake.query(
        f"SELECT a.org_id, a.period, a.item, a.unit, a.value, a.basis FROM {CATALOG}.account a "
        f"JOIN _acct_frontier f USING (org_id, period) WHERE a.method_version = ?", [METHOD_VERSION],
        frames={"_acct_frontier": children})
    return rows[~rows.item.isin(RATIO_ITEMS | TOTAL_ITEMS)]


def _roll_up(contributions: pd.DataFrame, tree: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Sum contributions into every ancestor (each org's value = its whole subtree), for ``pairs`` only."""
    ancestors = tree.assign(ancestor=tree.path.str.split("/")).explode("ancestor")[["org_id", "ancestor"]]
    rolled = contributions.merge(ancestors, on="org_id").drop(columns="org_id").rename(columns={"ancestor": "org_id"})
    rolled = rolled.merge(pairs, on=["org_id", "period"])
    return rolled.groupby(["org_id", "period", "item", "unit"], as_index=False).agg(
        value=("value", "sum"), basis=("basis", _join_basis))


def _add_totals(rolled: pd.DataFrame, capped_orgs: set[str]) -> pd.DataFrame:
    """emissions_total, removals, net, energy intensities and cap_utilisation from rolled-up items."""
    figures = rolled[~_is_component(rolled.item)]
    wide = figures.pivot_table(index=["org_id", "period"], columns="item", values="value", aggfunc="sum").fillna(0.0)
    get = lambda name: wide[name] if name in wide else pd.Series(0.0, index=wide.index)  # noqa: E731
    boundary = get("emissions_in_boundary")
    total = sum(get(i) for i in SOURCE_ITEMS) - sum(get(i) for i in EXPORT_ITEMS) - boundary
    basis = (figures[figures.item.isin(SOURCE_ITEMS + EXPORT_ITEMS)].groupby(["org_id", "period"]).basis
             .agg(_join_basis).reindex(wide.index).fillna(""))
    removals = sinks.removals_by_sinks(get("removals_inventory"), boundary)
    extra = [pd.DataFrame({"item": "emissions_total", "value": total, "unit": "tCO2e", "basis": basis}),
             pd.DataFrame({"item": "removals", "value": removals, "unit": "tCO2e",
                           "basis": "clause 3.2: removals = removals_inventory (stock difference, clauses 3 and "
                                    "6.4.3) - emissions_in_boundary"}),
             pd.DataFrame({"item": "net", "value": total - removals, "unit": "tCO2e",
                           "basis": "clause 4.1: emissions_total - removals"})]
    for product in PRODUCTS:
        output = get(f"{product}_output_t")
        made = output > 0
        extra.append(pd.DataFrame({"item": f"{product}_energy_intensity",
                                   "value": 1000.0 * get(f"{product}_energy_tce")[made] / output[made], "unit": "kgce/t",
                                   "basis": f"{product}_energy_tce / {product}_output_t; {_TCE_BASIS}"}))
    if "cap" in wide:
        capped = wide[(wide["cap"] > 0) & wide.index.get_level_values("org_id").isin(list(capped_orgs))]
        extra.append(pd.DataFrame({"item": "cap_utilisation", "value": total[capped.index] / capped["cap"],
                                   "unit": "share", "basis": "emissions_total / cap"}))
    added = [e.reset_index() for e in extra if len(e)]
    if not added:  # nothing to total (e.g. only an incomplete tower month in the year so far)
        return rolled
    return pd.concat([rolled, *added], ignore_index=True)


def _is_component(items: pd.Series) -> pd.Series:
    """True for the uncertainty component rows ``u95:<item>:<group>``."""
    return items.str.startswith(U95)


def _component_base(items: pd.Series) -> pd.Series:
    """The figure a component row belongs to (``<item>`` of ``u95:<item>:<group>``)."""
    return items.str.split(":", n=2).str[1]


def _component_group(items: pd.Series) -> pd.Series:
    """The error source of a component row (``<group>`` of ``u95:<item>:<group>``; may hold colons)."""
    return items.str.split(":", n=2).str[2]


def _with_intervals(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``ci95_low``, ``ci95_high`` and ``uncertainty`` (see "Uncertainty" in the module doc)."""
    rows = rows.assign(value=rows.value.astype(float))
    components = rows[_is_component(rows.item)]
    parts = components.assign(base=_component_base(components.item), group=_component_group(components.item))
    for total, signs in _TOTAL_SIGNS.items():
        x = parts[parts.base.isin(list(signs))]
        x = x.assign(base=total, value=x.value * x.base.map(signs))
        parts = pd.concat([parts, x.groupby(["org_id", "period", "base", "group"], as_index=False).agg(
            value=("value", "sum"), basis=("basis", _join_basis))], ignore_index=True)
    parts = parts.groupby(["org_id", "period", "base", "group"], as_index=False).agg(
        value=("value", "sum"), basis=("basis", _join_basis))
    missing = parts[(parts.group == _NONE) & (parts.value.abs() > 1e-9)]
    known = parts[parts.group != _NONE].assign(square=lambda p: p.value ** 2)
    key = ["org_id", "period", "item"]
    half = known.groupby(["org_id", "period", "base"]).agg(half=("square", "sum"), sources=("group", "size"))
    half["half"] = np.sqrt(half.half)
    x = rows.merge(half.rename_axis(key).reset_index(), on=key, how="left").merge(
        missing[["org_id", "period", "base", "basis"]].rename(columns={"base": "item", "basis": "why_none"}),
        on=key, how="left")
    low, high = pd.Series(np.nan, index=x.index), pd.Series(np.nan, index=x.index)
    note = pd.Series("not estimated: a metered or recorded quantity (the ledger and the meters state no "
                     "accuracy)", index=x.index, dtype=object)
    co2e = x.unit == "tCO2e"
    estimated = co2e & x.why_none.isna() & x.half.notna()
    low[estimated], high[estimated] = x.value - x.half, x.value + x.half
    note[estimated] = ("95 % interval, IPCC 2006 Vol.1 Ch.3 Approach 1: " + x.sources.fillna(0).astype(int).astype(str)
                       + " independent error source(s), each fully correlated wherever it is used")
    unexplained = co2e & x.why_none.isna() & x.half.isna()
    nothing = unexplained & (x.value == 0)
    low[nothing] = high[nothing] = 0.0
    note[nothing] = "nothing accounted: exactly 0"
    note[unexplained & ~nothing] = "no 95 % interval: no error source is known for this figure"
    said = co2e & x.why_none.notna()
    note[said] = "no 95 % interval: " + x.why_none[said].astype(str).map(_why_none)
    exact = (x.item == "cap") | x.unit.isin(["entries", "entry-months"])
    low[exact], high[exact] = x.value, x.value
    note[exact] = "exact: an allocated amount or a count"
    component = _is_component(x.item)
    note[component] = "component of " + _component_base(x.item[component]) + "'s interval: the signed 95 % " \
        "half-width from one error source"
    low[component] = high[component] = np.nan
    utilisation = x.item == "cap_utilisation"
    if utilisation.any():  # the interval of emissions_total over the (exact) cap of the same org and period
        ends = pd.DataFrame({"item": x.item, "value": x.value, "low": low, "high": high}).set_axis(
            pd.MultiIndex.from_frame(x[["org_id", "period"]]))
        total, cap = ends[ends.item == "emissions_total"], ends[ends.item == "cap"].value
        at = ends.index[utilisation.to_numpy()]
        low[utilisation] = (total.low.reindex(at) / cap.reindex(at)).to_numpy()
        high[utilisation] = (total.high.reindex(at) / cap.reindex(at)).to_numpy()
        note[utilisation] = np.where(low[utilisation].notna(), "the interval of emissions_total over the cap (exact)",
                                     "no 95 % interval: emissions_total has none")
    return x.drop(columns=["half", "sources", "why_none"]).assign(ci95_low=low, ci95_high=high, uncertainty=note)


_NO_FACTOR_UNCERTAINTY = "no uncertainty in the factor library for "


def _why_none(reasons: str) -> str:
    """The joined reasons of the parts without an estimate, the factor rows named once (at most 1,500 chars)."""
    parts = reasons.split("; ")
    rows = sorted({r for p in parts if p.startswith(_NO_FACTOR_UNCERTAINTY)
                   for r in p[len(_NO_FACTOR_UNCERTAINTY):].split(", ")})
    other = [p for p in parts if not p.startswith(_NO_FACTOR_UNCERTAINTY)]
    said = "; ".join([*([_NO_FACTOR_UNCERTAINTY + ", ".join(rows)] if rows else []), *other])
    return said if len(said) <= 1500 else said[:1497] + "..."


def _caps(lake: Lake, year: int, snapshot: int, orgs: set[str] | None = None) -> pd.DataFrame:
    """Caps of ``year`` (org_id, cap_tco2e, source) of every org or of ``orgs``: the allocation (table ``cap``)
    plus the allocation adjustments and extra allowances granted on request (clause 6.2.2,
    :mod:`carbonlib.accounting.cap_requests`); the source names the granted requests."""
    return lake.query(
        f"SELECT c.org_id, c.cap_tco2e + coalesce(g.granted, 0.0) AS cap_tco2e, "
        f"CASE WHEN g.granted IS NULL THEN c.source ELSE c.source || '; granted on request ' || g.ids END AS source "
        f"FROM {lake.relation('cap', snapshot)} c LEFT JOIN ("
        f"SELECT r.org_id, sum(d.amount_tco2e) AS granted, string_agg(r.request_id, ', ' ORDER BY r.request_id) AS ids "
        f"FROM {lake.relation('cap_request', snapshot)} r JOIN {lake.relation('cap_decision', snapshot)} d "
        "USING (request_id) WHERE r.year = ? AND d.decision = 'granted' "
        "AND r.kind IN ('allocation_adjustment', 'extra_allowance') GROUP BY r.org_id) g USING (org_id) "
        f"WHERE c.year = ?{_org_filter(orgs, 'c.org_id')} ORDER BY c.org_id", [int(year), int(year), *sorted(orgs or ())])


def year_tree(lake: Lake, year: int, snapshot: int | None = None) -> pd.DataFrame:
    """The org tree ``year`` is accounted in (:func:`carbonlib.accounting.views.org_tree`): names and parents in
    force on its last day, orgs opened by then, without orgs closed on or before its first day.  An org that
    moved during the year counts in full under its new parent; its earlier years stay under the old one."""
    tree = views.org_tree(lake, snapshot, as_of=date(int(year), 12, 31))
    closed = pd.to_datetime(tree.closed_on)
    return tree[closed.isna() | (closed > pd.Timestamp(int(year), 1, 1))].reset_index(drop=True)


def _compute(lake: Lake, year: int, snapshot: int, *, monthly: bool = True,
             pairs: pd.DataFrame | None = None, tree: pd.DataFrame | None = None) -> pd.DataFrame:
    """Account rows for ``year``: every org and period, or only ``pairs`` (org_id, period; closed under ancestors).

    Incremental mode (``pairs`` given): own figures are computed from the lake only for the
    orgs in ``pairs``; the other children of those orgs contribute their materialised
    figures from table ``account`` (they are unaffected by the changes).  ``tree``: :func:`year_tree` when the
    caller has it.
    """
    tree = year_tree(lake, year, snapshot) if tree is None else tree
    periods = year_periods(year, monthly)
    incremental = pairs is not None
    if not incremental:
        pairs = _all_pairs(tree, periods)
    orgs = set(pairs.org_id) if incremental else None
    sites = set(tree[tree.level == "site"].org_id)
    own = _to_periods(_own_monthly(lake, year, snapshot, orgs, sites), periods)
    caps = _caps(lake, year, snapshot, orgs)
    own = pd.concat([own, pd.DataFrame({"org_id": caps.org_id, "period": str(year), "item": "cap", "unit": "tCO2e",
                                        "value": caps.cap_tco2e, "basis": caps.source})], ignore_index=True)
    own = own.merge(pairs, on=["org_id", "period"])
    contributions = pd.concat([own, _frontier(lake, tree, pairs)], ignore_index=True) if incremental else own
    rolled = _with_intervals(_add_totals(_roll_up(contributions, tree, pairs), set(caps.org_id)))
    bounds = {p.label: p for p in periods}
    rolled["period_start"] = rolled.period.map(lambda p: bounds[p].start)
    rolled["period_end"] = rolled.period.map(lambda p: bounds[p].end)
    rolled["method_version"] = METHOD_VERSION
    rolled["snapshot_id"] = snapshot
    rolled["computed_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    return rolled[_ACCOUNT_COLUMNS].sort_values(["org_id", "period", "item"], ignore_index=True)


def compute_accounts(lake: Lake, year: int, *, monthly: bool = True, snapshot: int | None = None) -> pd.DataFrame:
    """Account rows (schema of table ``account``) for every org for ``year``, its quarters and months.

    ``monthly=False`` gives the annual figures only.  Reads the lake as of ``snapshot``
    (default: latest), writes nothing.
    """
    return _compute(lake, year, lake.snapshot_id() if snapshot is None else snapshot, monthly=monthly)


# ---------------------------------------------------------------------- materialising
def _materialise(lake: Lake, result: pd.DataFrame, pairs: pd.DataFrame) -> tuple[WriteResult, int]:
    """Write ``result`` (replacing changed figures, keeping the stamps of unchanged ones) and delete the stale
    items of the recomputed (org, period) pairs (e.g. all entries reversed), all in one transaction."""
    key = ["org_id", "period", "method_version", "item"]
    existing = lake.query(f"SELECT a.org_id, a.period, a.method_version, a.item, a.value, a.basis, a.snapshot_id, "
                          f"a.computed_at, a.ci95_low, a.ci95_high, a.uncertainty "
                          f"FROM {CATALOG}.account a JOIN _acct_pairs USING (org_id, period) "
                          f"WHERE a.method_version = ?", [METHOD_VERSION],
                          frames={"_acct_pairs": pairs[["org_id", "period"]].drop_duplicates()})
    if len(existing):  # keep computed_at/snapshot of figures that did not change, so the write is a no-op
        merged = result.merge(existing, on=key, how="left", suffixes=("", "_old"))
        # equal up to summation-order noise (relative 1e-12): keep the stored row exactly
        same = (np.isclose(merged.value, merged.value_old, rtol=1e-12, atol=1e-9)
                & np.isclose(merged.ci95_low, merged.ci95_low_old, rtol=1e-12, atol=1e-9, equal_nan=True)
                & np.isclose(merged.ci95_high, merged.ci95_high_old, rtol=1e-12, atol=1e-9, equal_nan=True)
                & (merged.basis == merged.basis_old) & (merged.uncertainty == merged.uncertainty_old)).to_numpy()
        result = result.copy()
        for column in ("value", "ci95_low", "ci95_high", "snapshot_id", "computed_at"):
            result.loc[same, column] = merged.loc[same, f"{column}_old"].to_numpy()
    groups = pairs[["org_id", "period"]].drop_duplicates().assign(method_version=METHOD_VERSION)
    written = lake.service_append(SERVICE, "account", result, source=f"accounts/{METHOD_VERSION}", replace_within=groups)
    return written, written.deleted


def _data_years(lake: Lake, snapshot: int | None = None) -> list[int]:
    """Years with ledger entries, caps, or tower/production telemetry."""
    metrics = ", ".join(literal(m) for m in (*tower_sinks.TOWER_METRICS, *PRODUCTS))
    found = lake.query(
        f"SELECT year(period_start) AS y FROM {lake.relation('activity', snapshot)} "
        f"UNION SELECT year(period_end) FROM {lake.relation('activity', snapshot)} "
        f"UNION SELECT year FROM {lake.relation('cap', snapshot)} "
        f"UNION SELECT DISTINCT year(ts) FROM {lake.relation('telemetry', snapshot)} WHERE metric IN ({metrics})")
    return sorted(int(y) for y in found.y)


def compute_year(lake: Lake, year: int, snapshot: int, *, monthly: bool = True) -> pd.DataFrame:
    """Account rows of every org for ``year`` at ``snapshot`` (what one task of a cluster build computes)."""
    return _compute(lake, year, snapshot, monthly=monthly)


def _build(lake: Lake, years: list[int] | None, monthly: bool, cluster=None) -> tuple[WriteResult, int, pd.DataFrame]:
    """Full computation of ``years``: (write result, stale rows deleted, (org_id, period) pairs computed)."""
    snapshot = lake.snapshot_id()
    data_years = _data_years(lake, snapshot)
    years = data_years if years is None else sorted(years)
    if not years:
        raise ValueError("the lake has no ledger entries, caps or tower/production telemetry: nothing to account")
    if cluster is None:
        result = pd.concat([_compute(lake, y, snapshot, monthly=monthly) for y in years], ignore_index=True)
    else:
        from .cluster import compute_years

        result = compute_years(cluster, lake.settings, years, snapshot, monthly)
    # Replaced: every org ever registered, so figures of an org closed before a year (or opened after it) go.
    everyone = lake.query(f"SELECT org_id FROM {lake.relation('org', snapshot)}")
    pairs = pd.concat([_all_pairs(everyone, year_periods(y, monthly)) for y in years], ignore_index=True)
    written, deleted = _materialise(lake, result, pairs)
    if monthly and set(data_years) <= set(years):
        _advance_marker(lake, snapshot)
    return written, deleted, pairs


def build_accounts(lake: Lake, years: list[int] | None = None, *, monthly: bool = True, cluster=None) -> WriteResult:
    """Compute and materialise accounts for ``years`` (default: every year with data).

    ``cluster`` (a Dask scheduler's address ``tcp://host:8786`` or a ``distributed.Client``) computes
    each year as a task of that cluster (:mod:`carbonlib.accounting.cluster`); the rows are written here.

    Unchanged figures are skipped by the writer, so recomputing without new data writes
    nothing; changed figures replace the old ones in one transaction, and items that no
    longer exist are deleted.  When every year with data was built (months included), the
    snapshot computed from is recorded in ``lake_meta`` (:data:`MARKER_KEY`), so that
    :func:`refresh_accounts` can continue incrementally from it.  A lake without any factor row (made
    with ``Lake.create`` rather than ``carbon lake init``) is first seeded with the packaged factors.
    """
    lake.require_intact()
    _seed_an_empty_library(lake)
    return _build(lake, years, monthly, cluster)[0]


def _seed_an_empty_library(lake: Lake) -> None:
    """Seed the packaged factors when the lake has no factor row at all (nothing could be accounted)."""
    if not lake.query(f"SELECT count(*) AS n FROM {CATALOG}.emission_factor").n[0]:
        factor_library.seed(lake)


def account_figures(lake: Lake, org_id: str, period: str, *, snapshot: int | None = None,
                    method_version: str = METHOD_VERSION) -> pd.DataFrame:
    """Materialised figures of one org (its whole subtree) and period: item, value, unit, basis, snapshot_id,
    method_version and the 95 % interval (ci95_low, ci95_high, uncertainty); not the uncertainty components.

    This is what reports and dashboards show; it reads the ``account`` table only.
    """
    return lake.read(
        "account",
        columns=["org_id", "period", "item", "value", "unit", "basis", "snapshot_id", "method_version",
                 "ci95_low", "ci95_high", "uncertainty"],
        where=f"org_id = ? AND period = ? AND method_version = ? AND NOT starts_with(item, {literal(U95)})",
        params=[org_id, period, method_version],
        snapshot=snapshot,
    )


# ------------------------------------------------------------------------ incremental
@dataclass(frozen=True)
class RefreshResult:
    """What :func:`refresh_accounts` did.

    ``recomputed``: the (org_id, period) pairs recomputed (ancestors included);
    ``rows_written``: figures inserted or replaced; ``rows_deleted``: stale figures removed;
    ``full``: a full rebuild was needed (no marker yet, or the org tree / factors changed).
    """

    from_snapshot: int | None
    to_snapshot: int
    full: bool
    recomputed: pd.DataFrame = field(repr=False)
    rows_written: int
    rows_deleted: int
    reason: str


def _marker(lake: Lake) -> int | None:
    value = lake.meta(MARKER_KEY)
    return None if value is None else int(value)


def _advance_marker(lake: Lake, snapshot: int) -> None:
    """Record ``snapshot`` as absorbed, unless nothing an account reads changed since the marker."""
    marker = _marker(lake)
    if marker is not None and (marker >= snapshot or not lake.tables_changed(marker, snapshot, INPUT_TABLES + GLOBAL_TABLES)):
        return
    lake.set_meta(MARKER_KEY, str(snapshot))


def _changes(table_name: str, start: int, end: int) -> str:
    """FROM-item of the DuckLake change feed of ``table_name`` over snapshots [start, end]."""
    return f"ducklake_table_changes({literal(CATALOG)}, 'main', {literal(table_name)}, {int(start)}, {int(end)})"


def _periods_between(start: pd.Series, end: pd.Series) -> pd.DataFrame:
    """(row, period) for every year, quarter and month overlapping [start, end] of each row."""
    rows = []
    for i, (s, e) in enumerate(zip(pd.to_datetime(start), pd.to_datetime(end))):
        for month in pd.period_range(s, e, freq="M"):
            rows += [(i, str(month.year)), (i, f"{month.year}Q{month.quarter}"), (i, f"{month.year}-{month.month:02d}")]
    return pd.DataFrame(rows, columns=["row", "period"]).drop_duplicates()


def _affected(lake: Lake, after: int, upto: int, changed: list[str]) -> pd.DataFrame:
    """(org_id, period) pairs whose own figures may have changed in snapshots (after, upto]; only the change
    feeds of the ``changed`` input tables are read (an approval touches ``activity_review`` alone)."""
    parts = []
    activity = [lake.query(f"SELECT org_id, min(period_start) AS s, max(period_end) AS e "
                           f"FROM {_changes('activity', after + 1, upto)} GROUP BY org_id, period_start, period_end")
                ] if "activity" in changed else []
    if "activity_review" in changed:
        activity.append(lake.query(f"SELECT a.org_id, a.period_start AS s, a.period_end AS e "
                                   f"FROM {_changes('activity_review', after + 1, upto)} c "
                                   f"JOIN {CATALOG}.activity a USING (entry_id) GROUP BY ALL"))
    activity = pd.concat(activity, ignore_index=True) if activity else pd.DataFrame()
    if len(activity):
        spans = _periods_between(activity.s, activity.e)
        parts.append(pd.DataFrame({"org_id": activity.org_id.to_numpy()[spans.row], "period": spans.period}))
    towers = ", ".join(literal(m) for m in tower_sinks.TOWER_METRICS)
    products = ", ".join(literal(m) for m in PRODUCTS)
    telemetry = lake.query(  # aggregated in DuckDB: one row per org, kind of metric and month touched
        f"SELECT d.org_id, c.metric IN ({towers}) AS tower, min(c.ts) AS s, max(c.ts) AS e "
        f"FROM {_changes('telemetry', after + 1, upto)} c JOIN {CATALOG}.device d USING (device_id) "
        f"WHERE c.metric IN ({towers}, {products}) GROUP BY d.org_id, tower, date_trunc('month', c.ts)"
    ) if "telemetry" in changed else pd.DataFrame()
    if len(telemetry):  # a tower-year is gap-filled as a whole: every period of its year(s)
        s = telemetry.s.where(~telemetry.tower, telemetry.s.dt.to_period("Y").dt.start_time)
        e = telemetry.e.where(~telemetry.tower, telemetry.e.dt.to_period("Y").dt.end_time)
        spans = _periods_between(s, e)
        parts.append(pd.DataFrame({"org_id": telemetry.org_id.to_numpy()[spans.row], "period": spans.period}))
    if "cap" in changed:
        parts.append(lake.query(f"SELECT DISTINCT org_id, CAST(year AS VARCHAR) AS period "
                                f"FROM {_changes('cap', after + 1, upto)}"))
    if "cap_decision" in changed:
        parts.append(lake.query(f"SELECT DISTINCT r.org_id, CAST(r.year AS VARCHAR) AS period FROM "
                                f"{_changes('cap_decision', after + 1, upto)} d JOIN {CATALOG}.cap_request r "
                                f"USING (request_id)"))
    inventory = lake.query(
        f"SELECT DISTINCT s.org_id, year(c.survey_date) AS y FROM {_changes('survey_plot', after + 1, upto)} c "
        f"JOIN {CATALOG}.forest_stand s USING (stand_id) "
        f"UNION SELECT DISTINCT s.org_id, year(c.survey_date) FROM {_changes('survey_tree', after + 1, upto)} c "
        f"JOIN {CATALOG}.survey_plot p USING (plot_id, survey_date) JOIN {CATALOG}.forest_stand s USING (stand_id) "
        f"UNION SELECT DISTINCT org_id, NULL FROM {_changes('forest_stand', after + 1, upto)}"
    ) if {"survey_plot", "survey_tree", "forest_stand"} & set(changed) else pd.DataFrame()
    if len(inventory):  # a new survey changes the site's rate in every year it covers: all accounted years
        years = set(lake.query(f"SELECT DISTINCT year(period_start) AS y FROM {CATALOG}.account "
                               f"WHERE method_version = ?", [METHOD_VERSION]).y.astype(int))
        years |= {int(y) for y in inventory.y.dropna()}
        labels = [p.label for y in sorted(years) for p in year_periods(y)]
        parts.append(pd.MultiIndex.from_product([sorted(set(inventory.org_id)), labels],
                                                names=["org_id", "period"]).to_frame(index=False))
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return found.drop_duplicates(ignore_index=True) if len(found) else pd.DataFrame(columns=["org_id", "period"])


def _with_ancestors(pairs: pd.DataFrame, tree: pd.DataFrame) -> pd.DataFrame:
    ancestors = tree.assign(ancestor=tree.path.str.split("/")).explode("ancestor")[["org_id", "ancestor"]]
    out = pairs.merge(ancestors, on="org_id")[["ancestor", "period"]].rename(columns={"ancestor": "org_id"})
    return out.drop_duplicates().sort_values(["period", "org_id"], ignore_index=True)


def refresh_accounts(lake: Lake) -> RefreshResult:
    """Bring table ``account`` up to date with the lake, recomputing only what changed.

    Reads DuckLake's change feed (``ducklake_table_changes``) of the input tables between
    the snapshot last absorbed (``lake_meta`` :data:`MARKER_KEY`) and the latest one:

    * ledger rows and their review steps make their org's periods overlapping the entry stale;
    * production-meter telemetry (clinker, paper) makes its org's month, quarter and year stale;
    * tower telemetry makes every period of that site's year stale (u* threshold and MDS use the
      whole year); other meter telemetry does not enter the accounts (energy comes from the ledger);
    * cap rows make their org's year stale; inventory rows make the site's periods of every
      accounted year stale;
    * a change of ``org``, ``emission_factor``, ``gwp`` or ``species_parameter`` (or no marker
      yet, or snapshots since the marker expired by lake maintenance: the feed is no longer
      whole) rebuilds everything (a lake without any factor row is first seeded, as in :func:`build_accounts`).

    Stale pairs are closed under ancestors, recomputed (unaffected children contribute
    their materialised figures) and written; figures that come out identical keep their
    snapshot_id and computed_at.  Without new data nothing is written, not even a snapshot.
    """
    lake.require_intact()
    _seed_an_empty_library(lake)
    upto = lake.snapshot_id()
    after = _marker(lake)
    expired = after is not None and upto > after and not lake.history_complete(after, upto)
    changed = [] if after is None or expired else lake.tables_changed(after, upto, INPUT_TABLES + GLOBAL_TABLES)
    if after is None or expired or set(changed) & set(GLOBAL_TABLES):
        reason = ("no marker" if after is None else "snapshots since the marker were expired" if expired
                  else "org tree or factors changed")
        written, deleted, pairs = _build(lake, None, True)
        return RefreshResult(after, upto, True, pairs, written.inserted, deleted, reason)
    if not changed:
        return RefreshResult(after, upto, False, pd.DataFrame(columns=["org_id", "period"]), 0, 0, "no new data")
    affected = _affected(lake, after, upto, changed)
    written = deleted = 0
    done = []
    for year, stale in affected.groupby(affected.period.str[:4]):
        tree = year_tree(lake, int(year), upto)
        group = _with_ancestors(stale, tree)
        result = _compute(lake, int(year), upto, pairs=group, tree=tree)
        w, d = _materialise(lake, result, group)
        written, deleted = written + w.inserted, deleted + d
        done.append(group)
    pairs = pd.concat(done, ignore_index=True) if done else pd.DataFrame(columns=["org_id", "period"])
    lake.set_meta(MARKER_KEY, str(upto))
    return RefreshResult(after, upto, False, pairs, written, deleted, "incremental")
