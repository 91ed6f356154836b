"""Removals by sinks measured by flux towers (services layer): telemetry -> tCO2e per month.

A site with an eddy-covariance tower (device kind ``flux_tower``, id ``T-<site>``) reports
half-hourly NEE, Rg, Tair, VPD and Ustar in table ``telemetry`` (``ts`` = START of the
30-min interval, UTC; qc 0 good / 1 suspect / 2 bad; values outside a metric's plausible
range, such as the logger code -9999, were quarantined at ingestion and never reach here).
Per tower and calendar year (UTC) this module

1. builds a regular series indexed by half-hour MIDPOINTS (``ts + 15 min``), as
   :func:`carbonlib.flux.gapfill_mds` expects; missing half-hours are NaN;
2. drops NEE flagged bad (qc 2).  Flags 0 and 1 are kept: in the 0/1/2 scheme of Mauder &
   Foken (2004, "Documentation and instruction manual of the eddy covariance software
   package TK2") 1 means "suitable for budgets", 2 "discard";
3. estimates the u* threshold of the year with the moving point test
   (:func:`carbonlib.flux.ustar_threshold`, REddyProc defaults) and removes low-turbulence
   night records (:func:`carbonlib.flux.filter_ustar`); when no threshold can be estimated
   every night record is removed (REddyProc flag 3), as REddyProc does;
4. gap-fills NEE with marginal distribution sampling (:func:`carbonlib.flux.gapfill_mds`);
5. sums the filled NEE over each month, converts umol CO2 m-2 s-1 per half-hour to
   gC m-2 (:func:`carbonlib.flux.to_gc_m2`, 1800 s) and then to tCO2 ha-1
   (:func:`carbonlib.flux.gc_m2_to_tco2_ha`), and multiplies by the site's ``org.area_ha``.

Removals are positive when the ecosystem takes CO2 up (NEE < 0).  A month is *complete*
when every half-hour of it has a measured or gap-filled NEE (MDS leaves gaps longer than
60 days unfilled); only complete months give a figure, so a period sum never silently
misses days.  Assumption: the tower footprint is representative of the whole site area.

The whole year is processed together because both the u* threshold and the gap filling use
the year's data (windows up to +-210 days): new data on one day can change every month of
that tower-year, which is what :func:`carbonlib.accounting.accounts.refresh_accounts` recomputes.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from scipy import stats

from .. import flux, uncertainty
from ..lake import Lake
from ..lake.sql import ident, literal, marks

TOWER_METRICS = ("NEE", "Rg", "Tair", "VPD", "Ustar")
HALF_HOUR_S = 1800
#: Largest NEE quality flag used: 0 good, 1 suspect but usable for budgets, 2 bad (Mauder & Foken 2004).
NEE_QC_MAX = 1

#: Bootstrap resamples of the u* threshold per tower-year (REddyProc ``nSample`` is 200; 100 keeps a
#: tower-year's scenarios under about 2 s on a 2-core machine, ``benchmarks/flux_mds.py``).
USTAR_SAMPLES = 100
#: The u* scenarios span the bootstrap's 5-95 % range, ±1.645 SD of a normal distribution; the accounts'
#: intervals are 95 % (±1.960 SD), so half the range is widened by 1.960 / 1.645.
RANGE90_TO_HALF95 = uncertainty.Z95 / float(stats.norm.ppf(0.95))

_COLUMNS = ["org_id", "device_id", "month", "removals_tco2e", "u95_tco2e", "u95_ustar_tco2e", "nee_gc_m2",
            "n_records", "n_measured", "complete", "ustar_threshold", "basis"]


def towers(lake: Lake, snapshot: int | None = None, orgs: Iterable[str] | None = None) -> pd.DataFrame:
    """Flux towers with their site: device_id, org_id, area_ha (ha), interval_s.

    Raises ValueError when a tower's site has no area, a tower does not report every 30 min,
    or a site has more than one tower (their removals would be counted twice).
    """
    found = lake.query(
        f"SELECT d.device_id, d.org_id, o.area_ha, d.interval_s FROM {lake.relation('device', snapshot)} AS d "
        f"JOIN {lake.relation('org', snapshot)} AS o USING (org_id) WHERE d.kind = 'flux_tower' ORDER BY d.device_id"
    )
    if orgs is not None:
        found = found[found.org_id.isin(set(orgs))]
    no_area = found[found.area_ha.isna() | (found.area_ha <= 0)]
    if len(no_area):
        raise ValueError(f"flux tower site(s) {sorted(no_area.org_id)} have no area_ha in table org; "
                         "fix: record the site area (ha) so tower NEE per m2 can be scaled to the site")
    odd = found[found.interval_s != HALF_HOUR_S]
    if len(odd):
        raise ValueError(f"flux tower(s) {sorted(odd.device_id)} report every {sorted(set(odd.interval_s))} s; "
                         f"tower accounting expects {HALF_HOUR_S} s half-hours: aggregate to 30 min first")
    doubled = found[found.org_id.duplicated(keep=False)]
    if len(doubled):
        raise ValueError(f"site(s) {sorted(set(doubled.org_id))} have several flux towers ({sorted(doubled.device_id)}); "
                         "fix: keep one tower per site in table device (its NEE is scaled to the whole site area)")
    return found.reset_index(drop=True)


def tower_year(lake: Lake, device_ids: list[str], year: int, snapshot: int | None = None) -> pd.DataFrame:
    """Half-hourly tower data of ``year`` in wide form, one row per device and half-hour with data.

    Columns: device_id, mid (UTC midpoint = ts + 15 min), NEE, NEE_qc, Rg, Tair, VPD, Ustar.
    Vectorised in DuckDB; months outside the year are pruned by the telemetry partitioning.
    """
    if not device_ids:
        return pd.DataFrame(columns=["device_id", "mid", "NEE", "NEE_qc", *TOWER_METRICS[1:]])
    values = ", ".join(f"max(value) FILTER (WHERE metric = {literal(m)}) AS {ident(m)}" for m in TOWER_METRICS)
    return lake.query(
        f"SELECT device_id, ts + INTERVAL 15 MINUTE AS mid, {values}, "
        f"max(qc) FILTER (WHERE metric = 'NEE') AS NEE_qc "
        f"FROM {lake.relation('telemetry', snapshot)} WHERE device_id IN ({marks(device_ids)}) "
        f"AND metric IN ({marks(TOWER_METRICS)}) AND ts >= ? AND ts < ? GROUP BY device_id, ts ORDER BY device_id, ts",
        [*device_ids, *TOWER_METRICS, pd.Timestamp(year, 1, 1).to_pydatetime(), pd.Timestamp(year + 1, 1, 1).to_pydatetime()],
    )


def half_hours(year: int) -> pd.DatetimeIndex:
    """Midpoints of every half-hour of ``year`` (UTC): 00:15, 00:45, ... 23:45."""
    return pd.date_range(pd.Timestamp(year, 1, 1, 0, 15), pd.Timestamp(year, 12, 31, 23, 45), freq="30min")


def _half_hourly(frame: pd.DataFrame, year: int) -> pd.DataFrame:
    """One tower's readings of ``year`` on every half-hour of the year, NEE flagged worse than
    :data:`NEE_QC_MAX` removed."""
    series = frame.set_index("mid").reindex(half_hours(year))
    series["NEE"] = series["NEE"].where(series["NEE_qc"].fillna(0) <= NEE_QC_MAX)
    return series


def monthly_nee(frame: pd.DataFrame, year: int) -> tuple[pd.DataFrame, float]:
    """u*-filter and MDS gap-fill one tower-year; sum NEE per month.

    Parameters
    ----------
    frame : DataFrame
        One tower's half-hours of ``year`` (columns mid, NEE in umol m-2 s-1, NEE_qc, Rg in
        W m-2, Tair in degC, VPD in hPa, Ustar in m s-1), as from :func:`tower_year`.
    year : int
        Calendar year (UTC) the series is completed to.

    Returns
    -------
    (DataFrame, float)
        Per month 1-12: ``nee_gc_m2`` (sum of filled NEE, gC m-2, NaN unless complete),
        ``nee_sd_gc_m2`` (its random-error SD, gC m-2: the MDS spread of NEE under similar
        conditions of every half-hour, independent errors added in quadrature as
        :func:`carbonlib.flux.annual_sum_uncertainty`; NaN unless every half-hour has one),
        ``ustar_half95_gc_m2`` (the u* part: the month's NEE sum under the 5 % minus under the 95 % u*
        scenario of :func:`carbonlib.flux.ustar_scenarios` (:data:`USTAR_SAMPLES` resamples, seed 0),
        halved and widened to 95 % by :data:`RANGE90_TO_HALF95`; signed alike in every month, since one
        threshold error shifts the whole year; NaN until every half-hour of the year is measured or filled,
        or when the scenarios are not estimable),
        ``n_records`` (half-hours in the month), ``n_measured`` (half-hours with NEE kept
        after QC and u* filtering), ``complete``; and the u* threshold used (m s-1, NaN if
        not estimable).
    """
    series = _half_hourly(frame, year)
    threshold = flux.ustar_threshold(series)
    filtered = flux.filter_ustar(series, threshold)
    measured = filtered["NEE"].notna()
    if measured.any():
        filled = flux.gapfill_mds(filtered)
        nee, sd = filled["NEE_f"], filled["NEE_fsd"]
    else:
        nee = sd = pd.Series(np.nan, index=series.index)
    month = series.index.month
    grams = pd.Series(flux.to_gc_m2(nee.to_numpy(), HALF_HOUR_S), index=series.index)
    variance = pd.Series(flux.to_gc_m2(sd.to_numpy(), HALF_HOUR_S) ** 2, index=series.index)
    out = pd.DataFrame({
        "nee_gc_m2": grams.groupby(month).sum(min_count=1),
        "nee_sd_gc_m2": np.sqrt(variance.groupby(month).sum(min_count=1).where(
            variance.notna().groupby(month).all()).astype(float)),
        "n_records": grams.groupby(month).size(),
        "n_filled": nee.notna().groupby(month).sum(),
        "n_measured": measured.groupby(month).sum(),
    }).rename_axis("month").reset_index()
    out["complete"] = out.n_filled == out.n_records
    out["nee_gc_m2"] = out.nee_gc_m2.where(out.complete)
    # REddyProc bootstraps the threshold on whole years; a running year would also cost the bootstrap at every
    # refresh of live data (about 1 s per tower)
    out["ustar_half95_gc_m2"] = _ustar_spread(series, month) if out.complete.all() else np.nan
    return out.drop(columns="n_filled"), float(threshold.annual)


def _ustar_spread(series: pd.DataFrame, month: np.ndarray) -> np.ndarray:
    """Per month, the 95 % half-width of NEE's sum (gC m-2) from the u* threshold's uncertainty (see
    :func:`monthly_nee`)."""
    scenarios = flux.ustar_scenarios(series, n_samples=USTAR_SAMPLES, probs=(0.05, 0.95), seed=0)
    sums = {}
    for column in ("U05", "U95"):
        threshold = float(scenarios.loc[("single", 0), column])
        if not np.isfinite(threshold):
            return np.full(12, np.nan)
        filled = flux.gapfill_mds(flux.filter_ustar(series, threshold), fill_all=False)["NEE_f"].to_numpy()
        sums[column] = pd.Series(flux.to_gc_m2(filled, HALF_HOUR_S)).groupby(month).sum(min_count=1)
    return ((sums["U05"] - sums["U95"]) / 2.0 * RANGE90_TO_HALF95).reindex(range(1, 13)).to_numpy()


def flux_removals(lake: Lake, year: int, *, snapshot: int | None = None,
                  orgs: Iterable[str] | None = None) -> pd.DataFrame:
    """Monthly removals by sinks of every tower site (or of ``orgs``) in ``year``.

    Returns one row per tower and month: org_id, device_id, month (1-12), removals_tco2e
    (tCO2e, positive = uptake; NaN unless complete), u95_tco2e (half-width of its 95 % interval from the
    random error, :data:`carbonlib.uncertainty.Z95` times the SD), u95_ustar_tco2e (the signed 95 % half-width
    from the u* threshold's uncertainty, the same error in every month), nee_gc_m2, n_records, n_measured,
    complete, ustar_threshold (m s-1) and basis (method and threshold, for the account).
    A tower with no NEE in the year gives no rows.
    """
    sites = towers(lake, snapshot, orgs)
    data = tower_year(lake, sites.device_id.tolist(), year, snapshot)
    parts = []
    for tower in sites.itertuples():  # one MDS run per tower-year (numba), not per record
        frame = data[data.device_id == tower.device_id]
        if frame.NEE.notna().sum() == 0:
            continue
        months, threshold = monthly_nee(frame, year)
        gc_m2 = months.nee_gc_m2.to_numpy()
        months["removals_tco2e"] = -flux.gc_m2_to_tco2_ha(gc_m2) * tower.area_ha
        months["u95_tco2e"] = uncertainty.Z95 * flux.gc_m2_to_tco2_ha(months.nee_sd_gc_m2.to_numpy()) * tower.area_ha
        months["u95_ustar_tco2e"] = -flux.gc_m2_to_tco2_ha(months.ustar_half95_gc_m2.to_numpy()) * tower.area_ha
        months["org_id"], months["device_id"], months["ustar_threshold"] = tower.org_id, tower.device_id, threshold
        u = "u* not estimable, nights removed" if np.isnan(threshold) else f"u*={threshold:.3f} m s-1"
        months["basis"] = f"flux={tower.device_id} MDS ({u}) x {tower.area_ha:g} ha"
        parts.append(months)
    if not parts:
        return pd.DataFrame(columns=_COLUMNS)
    return pd.concat(parts, ignore_index=True)[_COLUMNS]


def partitioning(lake: Lake, year: int, *, snapshot: int | None = None,
                 orgs: Iterable[str] | None = None) -> pd.DataFrame:
    """GPP, Reco and NEE of every tower site (or of ``orgs``) in ``year`` by both partitioning methods.

    For each tower whose whole year is measured or gap-filled: the u* filter and MDS gap filling of
    :func:`monthly_nee`, temperature, VPD and global radiation gap-filled the same way, then
    :func:`carbonlib.flux.compare_partitioning` (night-time after Reichstein et al. 2005, daytime after
    Lasslop et al. 2010 without the bootstrap, whose parameter SDs the sums do not need).  One row per
    tower and method: org_id, device_id, method, reference, gpp_tco2e, reco_tco2e, nee_tco2e (the year's
    sums in tCO2 over the site's area, :func:`carbonlib.flux.gc_m2_to_tco2_ha`; NEE positive = release)
    and n_records (half-hours the method predicted).  A tower whose year is incomplete or whose
    partitioning fails (too few night-time records, say) gives no rows.
    """
    sites = towers(lake, snapshot, orgs)
    data = tower_year(lake, sites.device_id.tolist(), year, snapshot)
    rows = []
    for tower in sites.itertuples():
        series = _half_hourly(data[data.device_id == tower.device_id], year)
        if series["NEE"].notna().sum() == 0:
            continue
        filled = flux.gapfill_mds(flux.filter_ustar(series, flux.ustar_threshold(series)))
        try:
            for driver in ("Tair", "VPD", "Rg"):
                filled = flux.gapfill_mds(filled, driver)
            if filled[["NEE_f", "Tair_f", "VPD_f", "Rg_f"]].isna().any().any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # windows without a fit: said by n_records
                both = flux.compare_partitioning(filled, rg="Rg_f", tair_qc="Tair_fqc", n_boot=0)
        except ValueError:
            continue
        for method, row in both.iterrows():
            rows.append(dict(org_id=tower.org_id, device_id=tower.device_id, method=method, reference=row.reference,
                             gpp_tco2e=float(flux.gc_m2_to_tco2_ha(row.GPP_gC_m2)) * tower.area_ha,
                             reco_tco2e=float(flux.gc_m2_to_tco2_ha(row.Reco_gC_m2)) * tower.area_ha,
                             nee_tco2e=float(flux.gc_m2_to_tco2_ha(row.NEE_gC_m2)) * tower.area_ha,
                             n_records=int(row.n_records)))
    return pd.DataFrame(rows, columns=["org_id", "device_id", "method", "reference", "gpp_tco2e", "reco_tco2e",
                                       "nee_tco2e", "n_records"])
