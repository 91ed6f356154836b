"""Periodic carbon accounts (services layer): sources, sinks and net balance per org and period.

For every enterprise the approved ledger entries in force (reversals netted out) are turned
into tCO2e with :mod:`carbonlib.emissions` and the factor library; for every site the
inventory's stock difference (two surveys) gives the removals by sinks (clause 3.2); caps
come from the ``cap`` table.  Every figure is rolled up the organisation tree (a parent is
the sum of its subtree), stamped with the method version, its factor basis and the lake
snapshot it was computed from, and materialised in the ``account`` table.

Items (unit):
``scope1_stationary_combustion``, ``scope1_mobile_combustion``, ``scope1_process``,
``scope1_fugitive``, ``scope2_purchased_electricity``, ``scope2_purchased_heat``,
``exported_electricity``, ``exported_heat``, ``emissions_total`` (all tCO2e);
``removals`` (tCO2e, positive = taken up); ``net`` = emissions_total - removals (tCO2e);
``purchased_electricity_mwh`` (MWh); ``memo_biomass_fuel_t`` (t, not in the total);
annual only: ``cap`` (tCO2e) and ``cap_utilisation`` (share, capped enterprises only).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from . import emissions, factors, sinks, units, views
from .lake import Lake, WriteResult

METHOD_VERSION = "acct-1.0"
GRID_SERIES = "mee_enterprise_reporting"
GWP_ASSESSMENT = "AR5"

_COMBUSTION = {"stationary_combustion": "scope1_stationary_combustion", "mobile_combustion": "scope1_mobile_combustion"}


def grid_factor_for(year: int) -> factors.Factor:
    """The enterprise-reporting grid factor of ``year``, or of the latest earlier year published."""
    for data_year in range(year, year - 10, -1):
        try:
            return factors.grid_factor(data_year, series=GRID_SERIES)
        except (KeyError, ValueError):
            continue
    raise ValueError(f"no {GRID_SERIES} grid factor within ten years before {year}")


def _fuel_family(fuel: str) -> str:
    return "gbt2589" if fuel in factors.list_fuels("gbt2589") else "ipcc_guidelines"


def entry_emissions(entries: pd.DataFrame, process_factors: dict[str, float], year: int) -> pd.DataFrame:
    """One row per ledger entry and account item: org_id, period_start, item, value, unit, basis."""
    grid = grid_factor_for(year)
    rows = []
    for e in entries.itertuples():
        if e.category in _COMBUSTION:
            family = _fuel_family(e.activity_type)
            value = float(emissions.fuel_combustion(e.amount, e.unit, e.activity_type, family=family))
            rows.append((e.org_id, e.period_start, _COMBUSTION[e.category], value, "tCO2e", f"fuel={family}"))
        elif e.category == "process":
            if e.activity_type not in process_factors:
                raise ValueError(f"ledger entry {e.entry_id}: no process factor for {e.activity_type!r} in emission_factor")
            value = float(emissions.process_emission(e.amount, process_factors[e.activity_type]))
            rows.append((e.org_id, e.period_start, "scope1_process", value, "tCO2e", f"process={e.activity_type}"))
        elif e.category == "fugitive":
            value = float(emissions.non_co2(units.convert(e.amount, e.unit, "t"), e.activity_type, GWP_ASSESSMENT))
            rows.append((e.org_id, e.period_start, "scope1_fugitive", value, "tCO2e", f"gwp={GWP_ASSESSMENT}"))
        elif e.category in ("purchased_electricity", "exported_electricity"):
            mwh = float(units.convert(e.amount, e.unit, "MWh"))
            item = "scope2_purchased_electricity" if e.category == "purchased_electricity" else "exported_electricity"
            rows.append((e.org_id, e.period_start, item, mwh * float(grid), "tCO2e", f"grid={GRID_SERIES}:{grid.data_year}"))
            if e.category == "purchased_electricity":
                rows.append((e.org_id, e.period_start, "purchased_electricity_mwh", mwh, "MWh", ""))
        elif e.category in ("purchased_heat", "exported_heat"):
            gj = float(units.convert(e.amount, e.unit, "GJ"))
            item = "scope2_purchased_heat" if e.category == "purchased_heat" else "exported_heat"
            rows.append((e.org_id, e.period_start, item, float(emissions.purchased_heat(gj)), "tCO2e", "heat=default"))
        elif e.category == "biomass_combustion":
            rows.append((e.org_id, e.period_start, "memo_biomass_fuel_t", float(units.convert(e.amount, e.unit, "t")), "t", ""))
    return pd.DataFrame(rows, columns=["org_id", "period_start", "item", "value", "unit", "basis"])


def site_removal_rates(lake: Lake, snapshot: int | None = None) -> pd.DataFrame:
    """Removals by sinks per site from the two inventory surveys (stock difference).

    Stand volume (m3) = mean plot volume per ha x stand area; carbon = biomass_from_volume x
    carbon fraction (IPCC 2006 Vol.4 Eq 2.8, species parameters); rate = (C2 - C1)/(t2 - t1)
    as CO2 (tCO2e per year).  Returns org_id, first, last (survey dates), rate_tco2e_per_yr.
    """
    plots = lake.query(
        f"SELECT p.stand_id, p.survey_date, sum(t.volume_m3) / any_value(p.plot_area_ha) AS m3_per_ha "
        f"FROM {lake.relation('survey_plot', snapshot)} AS p JOIN {lake.relation('survey_tree', snapshot)} AS t "
        f"USING (plot_id, survey_date) GROUP BY p.plot_id, p.stand_id, p.survey_date"
    )
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
        rate_tc = sinks.stock_difference(carbon[0], carbon[-1], pd.Timestamp(first).date(), pd.Timestamp(last).date())
        rows.append((group.org_id.iloc[0], first, last, float(sinks.to_co2(rate_tc))))
    out = pd.DataFrame(rows, columns=["org_id", "first", "last", "rate"])
    return out.groupby("org_id", as_index=False).agg(first=("first", "min"), last=("last", "max"), rate_tco2e_per_yr=("rate", "sum"))


def _periods(year: int, monthly: bool) -> list[tuple[str, date, date]]:
    periods = [(str(year), date(year, 1, 1), date(year, 12, 31))]
    if monthly:
        for m in range(1, 13):
            end = (pd.Timestamp(year, m, 1) + pd.offsets.MonthEnd(0)).date()
            periods.append((f"{year}-{m:02d}", date(year, m, 1), end))
    return periods


def _roll_up(leaf: pd.DataFrame, tree: pd.DataFrame) -> pd.DataFrame:
    """Sum leaf figures into every ancestor (each org's value = its whole subtree)."""
    ancestors = tree.assign(ancestor=tree.path.str.split("/")).explode("ancestor")[["org_id", "ancestor"]]
    return (
        leaf.merge(ancestors, on="org_id")
        .groupby(["ancestor", "period", "item", "unit"], as_index=False)
        .agg(value=("value", "sum"), basis=("basis", lambda b: "; ".join(sorted({x for x in b if x}))))
        .rename(columns={"ancestor": "org_id"})
    )


def compute_accounts(lake: Lake, year: int, *, monthly: bool = True, snapshot: int | None = None) -> pd.DataFrame:
    """Account rows (schema of table ``account``) for every org for ``year`` and its months."""
    snapshot = lake.snapshot_id() if snapshot is None else snapshot
    tree = views.org_tree(lake, snapshot)
    entries = views.activity_effective(lake, snapshot)
    entries = entries[pd.to_datetime(entries.period_start).dt.year == year]
    process = lake.query(
        f"SELECT subject, value FROM {lake.relation('emission_factor', snapshot)} WHERE kind = 'process'"
    ).set_index("subject")["value"].to_dict()
    per_entry = entry_emissions(entries, process, year)
    per_entry["period_start"] = pd.to_datetime(per_entry.period_start)
    removal_rates = site_removal_rates(lake, snapshot)
    caps = lake.read("cap", where="year = ?", params=[year], snapshot=snapshot)

    leaf_parts = []
    for label, start, end in _periods(year, monthly):
        in_period = per_entry[(per_entry.period_start >= pd.Timestamp(start)) & (per_entry.period_start <= pd.Timestamp(end))]
        figures = in_period.groupby(["org_id", "item", "unit"], as_index=False).agg(
            value=("value", "sum"), basis=("basis", lambda b: "; ".join(sorted({x for x in b if x})))
        )
        days = (end - start).days + 1
        covered = removal_rates[(pd.to_datetime(removal_rates["first"]).dt.year < year) & (pd.to_datetime(removal_rates["last"]).dt.year >= year)]
        removals = pd.DataFrame({
            "org_id": covered.org_id, "item": "removals", "unit": "tCO2e",
            "value": covered.rate_tco2e_per_yr * days / (366 if calendar.isleap(year) else 365),
            "basis": "inventory stock difference " + covered["first"].astype(str) + ".." + covered["last"].astype(str),
        })
        part = pd.concat([figures, removals], ignore_index=True)
        part["period"] = label
        if label == str(year) and len(caps):
            part = pd.concat([part, pd.DataFrame({"org_id": caps.org_id, "item": "cap", "unit": "tCO2e",
                                                  "value": caps.cap_tco2e, "basis": caps.source, "period": label})])
        leaf_parts.append(part)
    leaf = pd.concat(leaf_parts, ignore_index=True)
    rolled = _roll_up(leaf, tree)
    rolled = _add_totals(rolled, set(caps.org_id))
    bounds = {label: (start, end) for label, start, end in _periods(year, monthly)}
    rolled["period_start"] = rolled.period.map(lambda p: bounds[p][0])
    rolled["period_end"] = rolled.period.map(lambda p: bounds[p][1])
    rolled["method_version"] = METHOD_VERSION
    rolled["snapshot_id"] = snapshot
    rolled["computed_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    columns = ["org_id", "period", "period_start", "period_end", "method_version", "item", "value", "unit", "basis",
               "snapshot_id", "computed_at"]
    return rolled[columns].sort_values(["org_id", "period", "item"], ignore_index=True)


def _add_totals(rolled: pd.DataFrame, capped_orgs: set[str]) -> pd.DataFrame:
    """emissions_total, net, and cap_utilisation of each capped enterprise, from the rolled-up items."""
    wide = rolled.pivot_table(index=["org_id", "period"], columns="item", values="value", aggfunc="sum").fillna(0.0)
    get = lambda name: wide[name] if name in wide else 0.0  # noqa: E731
    total = (get("scope1_stationary_combustion") + get("scope1_mobile_combustion") + get("scope1_process")
             + get("scope1_fugitive") + get("scope2_purchased_electricity") + get("scope2_purchased_heat")
             - get("exported_electricity") - get("exported_heat"))
    removals = get("removals")
    extra = [pd.DataFrame({"item": "emissions_total", "value": total, "unit": "tCO2e", "basis": ""}),
             pd.DataFrame({"item": "net", "value": total - removals, "unit": "tCO2e", "basis": "clause 4.1: sources - sinks"})]
    if "cap" in wide:
        capped = wide[(wide["cap"] > 0) & wide.index.get_level_values("org_id").isin(list(capped_orgs))]
        extra.append(pd.DataFrame({"item": "cap_utilisation", "value": total[capped.index] / capped["cap"],
                                   "unit": "share", "basis": "emissions_total / cap"}))
    added = pd.concat([e.reset_index() for e in extra], ignore_index=True)
    return pd.concat([rolled, added], ignore_index=True)


def build_accounts(lake: Lake, years: list[int] | None = None, *, monthly: bool = True) -> WriteResult:
    """Compute and materialise accounts for ``years`` (default: every year in the ledger).

    Unchanged figures are skipped by the writer, so recomputing without new data writes
    nothing; changed figures replace the old ones in one transaction.
    """
    if years is None:
        years = sorted(int(y) for y in lake.query("SELECT DISTINCT year(period_start) AS y FROM activity").y)
    frames = [compute_accounts(lake, y, monthly=monthly) for y in years]
    if not frames:
        raise ValueError("the ledger is empty: nothing to account")
    result = pd.concat(frames, ignore_index=True)
    existing = lake.read("account", columns=["org_id", "period", "method_version", "item", "value", "unit", "basis"])
    if len(existing):  # keep computed_at/snapshot of figures that did not change, so the write is a no-op
        key = ["org_id", "period", "method_version", "item"]
        merged = result.merge(existing, on=key, how="left", suffixes=("", "_old"))
        same = np.isclose(merged.value, merged.value_old, rtol=0, atol=1e-9) & (merged.basis == merged.basis_old)
        stamps = lake.read("account", columns=key + ["snapshot_id", "computed_at"]).set_index(key)
        keep = merged[same].set_index(key).index
        result = result.set_index(key)
        result.loc[keep, ["snapshot_id", "computed_at"]] = stamps.loc[keep].to_numpy()
        result = result.reset_index()
    return lake.append("account", result, source=f"accounts/{METHOD_VERSION}")


def account_figures(lake: Lake, org_id: str, period: str, *, snapshot: int | None = None,
                    method_version: str = METHOD_VERSION) -> pd.DataFrame:
    """Materialised figures of one org (its whole subtree) and period: item, value, unit, basis, snapshot_id.

    This is what reports and dashboards show; it reads the ``account`` table only.
    """
    return lake.read(
        "account",
        columns=["org_id", "period", "item", "value", "unit", "basis", "snapshot_id", "method_version"],
        where="org_id = ? AND period = ? AND method_version = ?",
        params=[org_id, period, method_version],
        snapshot=snapshot,
    )
