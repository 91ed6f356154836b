"""Eddy-covariance flux processing: u* filtering, MDS gap filling, partitioning.

Pure functions on numbers, arrays and DataFrames that follow the REddyProc
reference implementation (R package by Wutzler, Moffat, Migliavacca et al.;
Wutzler et al. 2018, Biogeosciences 15:5015):

* :func:`ustar_threshold`, :func:`filter_ustar` -- moving point test for the
  friction velocity threshold (Papale et al. 2006, Biogeosciences 3:571;
  REddyProc ``R/EddyUStarFilterDP.R``).
* :func:`gapfill_mds` -- marginal distribution sampling (Reichstein et al.
  2005, Global Change Biology 11:1424; REddyProc ``R/EddyGapfilling.R``).
* :func:`partition_nighttime`, :func:`lloyd_taylor` -- night-time flux
  partitioning (Reichstein et al. 2005; Lloyd & Taylor 1994, Functional
  Ecology 8:315; REddyProc ``R/EddyPartitioning.R``).
* :func:`partition_daytime`, :func:`compare_partitioning` -- daytime flux
  partitioning with light-response curves (Lasslop et al. 2010, Global Change
  Biology 16:187; REddyProc ``R/PartitioningLasslop10.R``) and its comparison
  with the night-time method.
* :func:`to_gc_m2`, :func:`gc_m2_to_tco2_ha`, :func:`annual_sum_uncertainty`
  -- unit conversion and aggregation.

Conventions: input frames have a regular :class:`pandas.DatetimeIndex` of
time-step midpoints (half-hourly or hourly). NEE is in umol CO2 m-2 s-1
(positive = release to the atmosphere), Rg in W m-2, Tair in degC, VPD in hPa,
u* in m s-1. Missing values are NaN.
"""

from __future__ import annotations

import warnings
from copy import deepcopy

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import curve_fit

from carbonlib import _lasslop
from carbonlib import _mds
from carbonlib.units import CO2_PER_C

# --- constants ---------------------------------------------------------------

#: Molar mass of carbon, g mol-1 (IUPAC 2013 standard atomic weight, conventional value): moles of CO2
#: measured by the tower to grams of carbon.  Carbon to CO2 uses :data:`carbonlib.units.CO2_PER_C` (44/12),
#: the one ratio of the library, as inventory removals and emissions do.
MOLAR_MASS_C = 12.011
#: Lloyd & Taylor (1994) temperature T0 = 227.13 K, expressed in degC.
LLOYD_TAYLOR_T0_C = -46.02
#: Night-time threshold of global radiation, W m-2 (REddyProc ``swThr``).
NIGHT_RG = 10.0


# --- units --------------------------------------------------------------------


def to_gc_m2(flux_umol_m2_s: ArrayLike, seconds: float = 1800.0) -> np.ndarray | float:
    """Convert a CO2 flux over one time step to a carbon mass per area.

    Parameters
    ----------
    flux_umol_m2_s : array_like
        CO2 flux in umol CO2 m-2 s-1.
    seconds : float
        Length of the time step in s (1800 for half-hourly records).

    Returns
    -------
    ndarray or float
        Carbon in gC m-2: ``flux * 1e-6 mol/umol * seconds * 12.011 g/mol``.
    """
    return np.asarray(flux_umol_m2_s, dtype=float) * 1e-6 * seconds * MOLAR_MASS_C


def gc_m2_to_tco2_ha(gc_m2: ArrayLike) -> np.ndarray | float:
    """Convert gC m-2 to tonnes CO2 per hectare.

    ``gC m-2 * 1e4 m2/ha * 1e-6 t/g * 44/12 (tCO2/tC, IPCC 2006 Vol.4 Ch.2 eq. 2.16 and every carbon-to-CO2
    step of the library: :data:`carbonlib.units.CO2_PER_C`)``.
    """
    return np.asarray(gc_m2, dtype=float) * 1e4 * 1e-6 * CO2_PER_C


# --- helpers ------------------------------------------------------------------


def _records_per_day(index: pd.Index) -> int:
    """Number of records per day of a regular DatetimeIndex (REddyProc ``DTS``)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        raise ValueError("need a DatetimeIndex with at least two time steps")
    steps = np.diff(index.values)  # timedelta64 in the index's own resolution
    if not (steps == steps[0]).all() or steps[0] <= np.timedelta64(0):
        raise ValueError("the DatetimeIndex must be increasing with a constant step")
    per_day = np.timedelta64(1, "D") / steps[0]
    if per_day != round(per_day):
        raise ValueError("the time step must divide one day")
    return int(round(per_day))


def _run_starts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of runs of True in a boolean vector."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def filter_long_runs(values: ArrayLike, min_run_length: int = 8) -> np.ndarray:
    """Replace runs of numerically identical values by NaN.

    As REddyProc ``filterLongRunsInVector`` (default ``na.rm = TRUE``): NaNs
    are skipped, so they do not interrupt a run. Such runs hint at a stuck
    sensor; the REddyProc gap-filling regression test applies this filter to
    NEE before gap filling.

    Parameters
    ----------
    values : array_like
        Series of measurements (any unit).
    min_run_length : int
        Minimum number of identical successive values to replace (8 = 4 hours
        of half-hourly data).

    Returns
    -------
    ndarray
        Copy of ``values`` as float with long runs set to NaN.
    """
    x = np.array(values, dtype=float)
    valid = np.flatnonzero(~np.isnan(x))
    y = x[valid]
    if y.size == 0:
        return x
    new_value = np.concatenate(([True], y[1:] != y[:-1]))
    run_id = np.cumsum(new_value)
    run_length = np.bincount(run_id)[run_id]
    x[valid[run_length >= min_run_length]] = np.nan
    return x


# --- MDS gap filling ------------------------------------------------------------


def _mds_steps(met_mode: int) -> np.ndarray:
    """The REddyProc ``sMDSGapFill`` sequence as rows (kind, days, meth, window, qc).

    ``met_mode`` 3: Rg, VPD and Tair usable; 1: Rg only; 0: no meteorology.
    Window = full window length in days as reported by REddyProc (``fwin``):
    2*days for LUT, 2*days + 1 for MDC. Quality flags (REddyProc details):
    LUT(Rg, VPD, Tair): 1 if fwin <= 14, 2 if <= 56, else 3;
    LUT(Rg): 1 if fwin <= 14, 2 if <= 28, else 3;
    MDC: 1 if fwin <= 1, 2 if <= 5, else 3.
    """
    def lut_all(days: int) -> tuple[int, int, int, int, int]:
        win = 2 * days
        return _mds.LUT_ALL, days, 1, win, 1 if win <= 14 else 2 if win <= 56 else 3

    def lut_rg(days: int) -> tuple[int, int, int, int, int]:
        win = 2 * days
        return _mds.LUT_RG, days, 2, win, 1 if win <= 14 else 2 if win <= 28 else 3

    def mdc(days: int) -> tuple[int, int, int, int, int]:
        win = 2 * days + 1
        return _mds.MDC, days, 3, win, 1 if win <= 1 else 2 if win <= 5 else 3

    steps = []
    if met_mode == 3:  # step 1 and 2: LUT(Rg, VPD, Tair) +-7 and +-14 days
        steps += [lut_all(7), lut_all(14)]
    if met_mode >= 1:  # step 3: LUT(Rg) +-7 days
        steps.append(lut_rg(7))
    steps += [mdc(0), mdc(1), mdc(2)]  # steps 4 and 5: MDC same day, +-1, +-2 days
    if met_mode == 3:  # step 6: LUT(Rg, VPD, Tair) +-21 ... +-70 days
        steps += [lut_all(d) for d in range(21, 71, 7)]
    if met_mode >= 1:  # step 7: LUT(Rg) +-14 ... +-70 days
        steps += [lut_rg(d) for d in range(14, 71, 7)]
    steps += [mdc(d) for d in range(7, 211, 7)]  # step 8: MDC +-7 ... +-210 days
    return np.array(steps, dtype=np.int64)


def gapfill_mds(
    df: pd.DataFrame,
    flux: str = "NEE",
    rg: str | None = "Rg",
    tair: str | None = "Tair",
    vpd: str | None = "VPD",
    *,
    qc: str | None = None,
    qc_max: float = 0.0,
    fill_all: bool = True,
    tol_rg: float = 50.0,
    tol_vpd: float = 5.0,
    tol_tair: float = 2.5,
    max_gap_days: float = 60.0,
) -> pd.DataFrame:
    """Gap-fill a flux with marginal distribution sampling (MDS).

    Implements REddyProc ``sEddyProc$sMDSGapFill`` (method "Reichstein05")
    with its ``sFillInit``, ``sFillLUT`` and ``sFillMDC`` steps (Reichstein et
    al. 2005, GCB 11:1424, appendix A; Wutzler et al. 2018, Biogeosciences
    15:5015). The sequence of steps is

    1. look-up table (LUT) with Rg, VPD and Tair, window +-7 then +-14 days;
    2. LUT with Rg only, +-7 days;
    3. mean diurnal course (MDC), +-2 records around the same time of day on
       the same day, then +-1 and +-2 days;
    4. LUT with Rg, VPD, Tair, +-21 ... +-70 days (step 7 days);
    5. LUT with Rg only, +-14 ... +-70 days;
    6. MDC +-7 ... +-210 days.

    A LUT record is similar when |Rg - Rg_gap| < tol_rg', |VPD - VPD_gap| <
    tol_vpd and |Tair - Tair_gap| < tol_tair, where tol_rg' is the gap's own Rg
    clamped to [20, tol_rg] W m-2 (REddyProc's PV-Wave-congruent rule). A step
    fills a record when at least two original values qualify; the filled value
    is their mean. Records whose own drivers are missing find no similar
    records and fall through to MDC. If VPD or Tair is unavailable (None, the
    flux itself, or all NaN) only the Rg steps run; without Rg only MDC runs.
    Gaps longer than ``max_gap_days`` are left NaN.

    Parameters
    ----------
    df : DataFrame
        Regular time series indexed by time-step midpoints.
    flux : str
        Column to fill (any unit, e.g. NEE in umol m-2 s-1).
    rg, tair, vpd : str or None
        Driver columns: global radiation (W m-2), air temperature (degC),
        vapour pressure deficit (hPa). None disables a driver.
    qc : str or None
        Quality-flag column; records with ``qc > qc_max`` are treated as gaps.
    qc_max : float
        Largest flag value of good data.
    fill_all : bool
        As REddyProc ``FillAll`` (default TRUE): also run the filling for
        records that have data, so that ``_fnum``, ``_fsd``, ``_fmeth``,
        ``_fwin`` and ``_fall`` describe every record (uncertainty estimate).
        ``_f`` keeps the original values of good records in either case.
    tol_rg, tol_vpd, tol_tair : float
        LUT tolerances in W m-2, hPa and degC (REddyProc defaults 50, 5, 2.5).
    max_gap_days : float
        Gaps longer than this many days are not filled (REddyProc: 60).

    Returns
    -------
    DataFrame
        Copy of ``df`` with columns ``<flux>_f`` (original or filled value),
        ``<flux>_fqc`` (0 original, 1-3 filled with decreasing reliability),
        ``<flux>_fall`` (value filled as if every record was a gap),
        ``<flux>_fnum`` (number of values averaged), ``<flux>_fsd`` (their
        standard deviation, flux unit), ``<flux>_fmeth`` (1 LUT with Rg, VPD,
        Tair; 2 LUT with Rg only; 3 MDC) and ``<flux>_fwin`` (full window
        length in days). NaN where not filled.
    """
    dts = _records_per_day(df.index)
    y = df[flux].to_numpy(dtype=float, copy=True)
    if qc is not None:
        y[df[qc].to_numpy(dtype=float) > qc_max] = np.nan
    if np.isnan(y).all():
        raise ValueError(f"variable to be filled ({flux}) contains no data")

    def driver(name: str | None) -> np.ndarray | None:
        if name is None or name == flux:
            return None
        values = df[name].to_numpy(dtype=float)
        return None if np.isnan(values).all() else values

    rg_v, vpd_v, tair_v = driver(rg), driver(vpd), driver(tair)
    if rg_v is None:
        met_mode = 0
    else:
        met_mode = 3 if vpd_v is not None and tair_v is not None else 1
    missing = np.full(len(df), np.nan)
    rg_v = missing if rg_v is None else rg_v
    vpd_v = missing if vpd_v is None else vpd_v
    tair_v = missing if tair_v is None else tair_v

    is_gap = np.isnan(y)
    todo = np.ones(len(y), dtype=bool) if fill_all else is_gap.copy()
    starts, lengths = _run_starts(is_gap)
    too_long = lengths > max_gap_days * dts
    for start, length in zip(starts[too_long], lengths[too_long]):
        todo[start:start + length] = False

    steps = _mds_steps(met_mode)
    mean, num, sd, meth, win, fqc = _mds.run_mds(
        y, rg_v, vpd_v, tair_v, float(tol_rg), float(tol_vpd), float(tol_tair), dts, todo,
        steps[:, 0], steps[:, 1], steps[:, 2], steps[:, 3], steps[:, 4],
    )
    added = {
        f"{flux}_f": np.where(is_gap, mean, y),
        f"{flux}_fqc": np.where(is_gap, fqc, 0.0),
        f"{flux}_fall": mean if fill_all else np.where(is_gap, mean, y),
        f"{flux}_fnum": num,
        f"{flux}_fsd": sd,
        f"{flux}_fmeth": meth,
        f"{flux}_fwin": win,
    }
    if (not isinstance(df.columns, pd.MultiIndex) and set(added).isdisjoint(df.columns)
            and df.flags.allows_duplicate_labels):
        # The frame df.copy() and seven insertions give, without consolidating and copying every column of df
        # first (that took 3 ms on a site-year, a quarter of the whole gap fill).
        frame = pd.DataFrame(added, index=df.index)
        if frame.columns.dtype == df.columns.dtype:
            out = pd.concat([df, frame], axis=1)
            out.attrs = deepcopy(df.attrs)
            return out
    out = df.copy()  # earlier columns of the same names are overwritten in place
    for name, values in added.items():
        out[name] = values
    return out


def warm_up() -> None:
    """Compile the MDS kernels once (numba caches them on disk), on four synthetic days.

    A new installation's first gap fill would otherwise wait about 3 s for compilation;
    ``make install`` runs this, so the first real gap fill loads the cached kernels (< 1 s).
    """
    index = pd.date_range("2000-06-01 00:15", periods=4 * 48, freq="30min")
    hour = np.asarray(index.hour + index.minute / 60.0)
    rg = np.clip(800.0 * np.sin((hour - 6.0) / 12.0 * np.pi), 0.0, None)
    frame = pd.DataFrame({"NEE": 2.0 - 0.02 * rg, "Rg": rg, "Tair": 20.0 + 0.005 * rg, "VPD": 5.0 + 0.01 * rg},
                         index=index)
    frame.iloc[::5, 0] = np.nan
    gapfill_mds(frame)


def annual_sum_uncertainty(
    df: pd.DataFrame, flux: str = "NEE", *, seconds: float = 1800.0
) -> dict[str, float]:
    """Sum of a gap-filled flux and its random uncertainty, in gC m-2.

    Assumption: the random errors of the records are independent, so the
    variance of the sum is the sum of the record variances,
    ``sd_sum = sqrt(sum((fsd_i * c)**2))`` with ``c`` the conversion of
    :func:`to_gc_m2`. The per-record SD is the MDS ``<flux>_fsd``: with
    ``fill_all=True`` it is the spread of the flux under similar meteorology
    for every record, the random-error proxy of Reichstein et al. (2005) and
    REddyProc. Temporal autocorrelation of errors is ignored, which makes the
    SD a lower bound.

    Parameters
    ----------
    df : DataFrame
        Output of :func:`gapfill_mds` (columns ``<flux>_f``, ``<flux>_fsd``).
    flux : str
        Name of the filled flux, in umol CO2 m-2 s-1.
    seconds : float
        Length of a record in s.

    Returns
    -------
    dict
        ``sum_gc_m2``: sum of ``<flux>_f`` (NaN records skipped);
        ``sd_gc_m2``: SD of that sum; ``n_records``: records summed;
        ``n_without_sd``: summed records without an SD estimate.
    """
    values = df[f"{flux}_f"].to_numpy(dtype=float)
    sds = df[f"{flux}_fsd"].to_numpy(dtype=float)
    summed = ~np.isnan(values)
    sd_known = summed & ~np.isnan(sds)
    return {
        "sum_gc_m2": float(to_gc_m2(values[summed], seconds).sum()),
        "sd_gc_m2": float(np.sqrt((to_gc_m2(sds[sd_known], seconds) ** 2).sum())),
        "n_records": int(summed.sum()),
        "n_without_sd": int((summed & ~sd_known).sum()),
    }


# --- u* threshold ---------------------------------------------------------------


@dataclass(frozen=True)
class UstarThresholdResult:
    """u* threshold estimates (m s-1) at the aggregation levels of REddyProc.

    Attributes
    ----------
    annual : float
        Single aggregate: median across years of the yearly thresholds
        (REddyProc ``aggregationMode == "single"``).
    years : DataFrame
        Index season-year; columns ``max_season`` (maximum of the seasonal
        estimates), ``pooled`` (estimate on all records of the year, computed
        only when needed), ``n_records`` and ``threshold`` (chosen value).
    seasons : DataFrame
        Index season label (year * 1000 + start month); columns ``year``,
        ``n_records``, ``estimate`` (median over temperature classes) and
        ``threshold`` (estimate, or the year's threshold if not estimable).
    temp_classes : DataFrame
        Estimate per season (rows) and temperature class (columns 1..n).
    record_threshold : ndarray
        For each input record, the threshold of its season-year (the default
        u* scenario that REddyProc applies in ``sMDSGapFillAfterUstar``).
    """

    annual: float
    years: pd.DataFrame
    seasons: pd.DataFrame
    temp_classes: pd.DataFrame
    record_threshold: np.ndarray


def season_labels(
    index: pd.DatetimeIndex, start_months: tuple[int, ...] = (3, 6, 9, 12)
) -> np.ndarray:
    """Season of each record, as REddyProc ``usCreateSeasonFactorMonth``.

    Seasons begin at ``start_months`` and span year boundaries (the default
    gives DJF, MAM, JJA, SON, with December joining January and February of
    the next year); January and February of the first year form their own
    season. Label = start year * 1000 + start month, e.g. 1998003 for MAM 1998.
    """
    year = index.year.to_numpy()
    month = index.month.to_numpy()
    starts = [(y, m) for y in np.unique(year) for m in sorted(set(start_months))]
    if starts[0][1] != 1:
        starts.insert(0, (starts[0][0], 1))
    start_codes = np.array([y * 1000 + m for y, m in starts])
    pos = np.searchsorted(start_codes, year * 1000 + month, side="right") - 1
    return start_codes[pos]


def _bin_balanced(x_sorted: np.ndarray, n_bin: int, tol: float = 1e-8) -> np.ndarray:
    """Temperature classes of sorted values (REddyProc ``.binWithEqualValuesBalanced``).

    Class k starts at the first change of value at or after position
    (k - 1) * floor(n / n_bin), so equal values share a class.
    """
    bin_id = np.ones(x_sorted.size, dtype=np.int64)
    bin_size = x_sorted.size // n_bin
    breaks = np.flatnonzero(np.diff(x_sorted) > tol) + 1
    for k in range(2, n_bin + 1):
        later = breaks[breaks >= (k - 1) * bin_size]
        if later.size:
            bin_id[later[0]:] = k
    return bin_id


def _bin_min_records(x_sorted: np.ndarray, n_bin: int, tol: float = 1e-14) -> np.ndarray:
    """u* classes of sorted values (REddyProc ``.binWithEqualValuesMinRec``).

    Each class holds at least floor(n / n_bin) records, extended to the next
    change of value; a short last class (< 90 % of the size) joins the
    previous one; classes beyond ``n_bin`` are merged into the last.
    """
    n = x_sorted.size
    bin_id = np.zeros(n, dtype=np.int64)
    bin_size = n // n_bin
    last_of_value = np.flatnonzero(np.diff(x_sorted) > tol)  # 0-based end of a value run
    end = -1  # 0-based index of the last record of the previous class
    current = 0
    while end < n - 1:
        current += 1
        start = end + 1
        candidates = last_of_value[last_of_value >= end + bin_size]
        if candidates.size == 0:
            if n - start < bin_size * 0.9 and current != 1:
                current -= 1
            bin_id[start:] = current
            break
        end = candidates[0]
        bin_id[start:end + 1] = current
    return np.minimum(bin_id, n_bin)


def _threshold_fw2(ustar_avg: np.ndarray, nee_avg: np.ndarray, plateau_fwd: int = 10,
                   plateau_crit: float = 0.95, min_plateau: int = 3) -> float:
    """Moving point test "FW2" (REddyProc ``usEstUstarThresholdSingleFw2Binned``).

    The threshold is the mean u* of the first class whose mean NEE, and that of
    the following class, reach ``plateau_crit`` times the mean NEE of the next
    ``plateau_fwd`` classes (fewer at the end). NaN if no class qualifies.
    """
    n = nee_avg.size
    for u in range(n - max(2, min_plateau)):
        if (nee_avg[u] >= plateau_crit * nee_avg[u + 1:u + 1 + plateau_fwd].mean()
                and nee_avg[u + 1] >= plateau_crit * nee_avg[u + 2:u + 2 + plateau_fwd].mean()):
            return float(ustar_avg[u])
    return np.nan


def _estimate_subset(ustar: np.ndarray, nee: np.ndarray, tair: np.ndarray, *, n_temp_classes: int,
                     n_ustar_classes: int, corr_max: float, first_ustar_max: float,
                     min_records: int, min_records_temp: int) -> np.ndarray:
    """Threshold per temperature class of one season (REddyProc ``.estimateUStarSeason``)."""
    estimates = np.full(n_temp_classes, np.nan)
    n = ustar.size
    if n < min_records or n / n_temp_classes < min_records_temp:
        return estimates
    order = np.argsort(tair, kind="stable")
    temp_class = _bin_balanced(tair[order], n_temp_classes)
    for k in range(1, n_temp_classes + 1):
        idx = order[temp_class == k]
        if idx.size < 2:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = abs(np.corrcoef(ustar[idx], tair[idx])[0, 1])
        if not corr < corr_max:  # also rejects NaN (degenerate class)
            continue
        by_ustar = idx[np.argsort(ustar[idx], kind="stable")]
        ustar_class = _bin_min_records(ustar[by_ustar], n_ustar_classes)
        counts = np.bincount(ustar_class)[1:]  # classes are numbered 1..k without holes
        ustar_avg = np.bincount(ustar_class, weights=ustar[by_ustar])[1:] / counts
        nee_avg = np.bincount(ustar_class, weights=nee[by_ustar])[1:] / counts
        if ustar_avg[0] > first_ustar_max:
            continue
        estimates[k - 1] = _threshold_fw2(ustar_avg, nee_avg)
    return estimates


def _aggregate_classes(estimates: np.ndarray, min_valid_fraction: float) -> float:
    """Median over temperature classes, NaN if too few classes gave a threshold."""
    finite = np.isfinite(estimates)
    if finite.mean() < min_valid_fraction:
        return np.nan
    return float(np.median(estimates[finite]))


def ustar_threshold(
    df: pd.DataFrame,
    ustar: str = "Ustar",
    nee: str = "NEE",
    tair: str = "Tair",
    rg: str = "Rg",
    *,
    seasons: ArrayLike | None = None,
    n_temp_classes: int = 7,
    n_ustar_classes: int = 20,
    night_rg: float = NIGHT_RG,
    corr_max: float = 0.5,
    first_ustar_max: float = 0.2,
    min_records_season: int = 160,
    min_records_temp: int = 100,
    min_records_year: int = 3000,
    min_valid_fraction: float = 0.2,
) -> UstarThresholdResult:
    """Estimate the u* threshold with the moving point test.

    Follows REddyProc ``usEstUstarThreshold`` with its defaults (Papale et al.
    2006, Biogeosciences 3:571; Wutzler et al. 2018):

    * night-time records (Rg < ``night_rg``) with finite u*, NEE, Tair, Rg;
    * per season, records sorted by Tair into ``n_temp_classes`` classes of
      equal size; a class is skipped when |corr(u*, Tair)| >= ``corr_max``;
    * per class, records sorted by u* into ``n_ustar_classes`` classes; the
      class is skipped when the first mean u* exceeds ``first_ustar_max``;
      the threshold is the mean u* of the first class whose mean NEE and that
      of the following class both reach 95 % of the mean NEE of the following
      10 classes (REddyProc "FW2" test);
    * season = median over temperature classes (NaN if fewer than
      ``min_valid_fraction`` of them gave a threshold); season-year = maximum
      over its seasons, or the estimate on all records of the year pooled
      when the year has fewer than ``min_records_year`` valid records or no
      seasonal estimate; single aggregate = median over years.

    Parameters
    ----------
    df : DataFrame
        Time series indexed by time-step midpoints; u* in m s-1, NEE in
        umol m-2 s-1, Tair in degC, Rg in W m-2.
    ustar, nee, tair, rg : str
        Column names.
    seasons : array_like or None
        Season label of each record; default :func:`season_labels` (DJF,
        MAM, JJA, SON). The season-year is the year of a season's central time.
    n_temp_classes, n_ustar_classes : int
        Number of temperature and u* classes (7 and 20).
    night_rg : float
        Night-time threshold of Rg, W m-2.
    corr_max, first_ustar_max : float
        Quality checks described above.
    min_records_season, min_records_temp, min_records_year : int
        Minimum numbers of valid records per season, per temperature class
        (as season records / n_temp_classes) and per year.
    min_valid_fraction : float
        Minimum fraction of temperature classes with a threshold.

    Returns
    -------
    UstarThresholdResult
    """
    labels = season_labels(df.index) if seasons is None else np.asarray(seasons)
    u = df[ustar].to_numpy(dtype=float)
    f = df[nee].to_numpy(dtype=float)
    t = df[tair].to_numpy(dtype=float)
    r = df[rg].to_numpy(dtype=float)
    valid = np.isfinite(u) & np.isfinite(f) & np.isfinite(t) & np.isfinite(r) & (r < night_rg)
    settings = dict(n_temp_classes=n_temp_classes, n_ustar_classes=n_ustar_classes,
                    corr_max=corr_max, first_ustar_max=first_ustar_max,
                    min_records=min_records_season, min_records_temp=min_records_temp)

    times = df.index.values
    season_ids = pd.unique(labels)
    season_year = {}
    for s in season_ids:
        in_season = times[labels == s]
        season_year[s] = pd.Timestamp(in_season[0] + (in_season[-1] - in_season[0]) / 2).year

    rows, class_rows = [], {}
    for s in season_ids:
        sel = valid & (labels == s)
        class_rows[s] = _estimate_subset(u[sel], f[sel], t[sel], **settings)
        rows.append({"season": s, "year": season_year[s], "n_records": int(sel.sum()),
                     "estimate": _aggregate_classes(class_rows[s], min_valid_fraction)})
    season_df = pd.DataFrame(rows).set_index("season")

    record_year = np.array([season_year[s] for s in labels])
    year_rows = []
    for year, group in season_df.groupby("year"):
        finite = group["estimate"].dropna()
        max_season = float(finite.max()) if len(finite) else np.nan
        n_year = int(group["n_records"].sum())
        pooled = np.nan
        if n_year > 0 and (n_year < min_records_year or not np.isfinite(max_season)):
            sel = valid & (record_year == year)
            pooled = _aggregate_classes(_estimate_subset(u[sel], f[sel], t[sel], **settings),
                                        min_valid_fraction)
        year_rows.append({"year": year, "max_season": max_season, "pooled": pooled,
                          "n_records": n_year,
                          "threshold": pooled if np.isfinite(pooled) else max_season})
    year_df = pd.DataFrame(year_rows).set_index("year")
    annual = float(np.nanmedian(year_df["threshold"])) if year_df["threshold"].notna().any() else np.nan
    year_df["threshold"] = year_df["threshold"].fillna(annual)
    season_df["threshold"] = season_df["estimate"].fillna(season_df["year"].map(year_df["threshold"]))
    temp_df = pd.DataFrame.from_dict(class_rows, orient="index",
                                     columns=range(1, n_temp_classes + 1))
    return UstarThresholdResult(
        annual=annual, years=year_df, seasons=season_df, temp_classes=temp_df,
        record_threshold=year_df["threshold"].reindex(record_year).to_numpy(),
    )


#: REddyProc ``minValidBootProp``: a level whose bootstrap gave a threshold in fewer runs than this share
#: reports no quantiles.
MIN_VALID_BOOT_SHARE = 0.4


def ustar_scenarios(
    df: pd.DataFrame,
    *,
    n_samples: int = 200,
    probs: tuple[float, ...] = (0.05, 0.5, 0.95),
    seed: int | None = 0,
    ustar: str = "Ustar",
    nee: str = "NEE",
    tair: str = "Tair",
    rg: str = "Rg",
    **options,
) -> pd.DataFrame:
    """u* threshold scenarios by bootstrap, as REddyProc ``sEstimateUstarScenarios``.

    The threshold is estimated (:func:`ustar_threshold`) on the records as they are and on
    ``n_samples - 1`` resamples: within each season (:func:`season_labels`) records are drawn
    with replacement (REddyProc resamples "only within the seasons").  A resample whose
    seasons or years come out differently counts as missing for them.  A level (the single
    aggregate, each year, each season) that gave a threshold in fewer than
    :data:`MIN_VALID_BOOT_SHARE` of the runs reports no quantiles.

    Parameters
    ----------
    df : DataFrame
        As for :func:`ustar_threshold` (u* m s-1, NEE umol m-2 s-1, Tair degC, Rg W m-2).
    n_samples : int
        Number of estimates, the unresampled one included (REddyProc ``nSample``, 200).
    probs : tuple of float
        Quantiles of the bootstrap to return (REddyProc ``probs``).
    seed : int or None
        Seed of the resampling (the same seed gives the same scenarios).
    **options
        Further arguments of :func:`ustar_threshold`.

    Returns
    -------
    DataFrame
        One row per level, index (``level``, ``key``): ("single", 0), ("year", 1998),
        ("season", 1998003) …; columns ``estimate`` (unresampled, m s-1), ``valid_share``
        and one column per probability named ``U05``, ``U50``, ``U95`` … (m s-1).
    """
    columns = [ustar, nee, tair, rg]
    frame = df[columns]
    labels = season_labels(frame.index)
    kwargs = dict(ustar=ustar, nee=nee, tair=tair, rg=rg, **options)

    def levels(result: UstarThresholdResult) -> pd.Series:
        values = {("single", 0): result.annual}
        values.update({("year", int(y)): v for y, v in result.years["threshold"].items()})
        # a season's threshold as applied: its estimate, else its year's (REddyProc reports the same)
        values.update({("season", int(k)): v for k, v in result.seasons["threshold"].items()})
        return pd.Series(values, dtype=float)

    reference = levels(ustar_threshold(frame, seasons=labels, **kwargs))
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(labels == label) for label in pd.unique(labels)]
    runs = [reference.to_numpy()]
    for _ in range(n_samples - 1):
        # sorted within each season: a bootstrap sample is a multiset, and time order keeps the seasons' years
        picked = np.concatenate([np.sort(rng.choice(group, size=len(group))) for group in groups])
        found = levels(ustar_threshold(frame.iloc[picked], seasons=labels[picked], **kwargs))
        runs.append(found.reindex(reference.index).to_numpy())
    estimates = np.vstack(runs)
    valid_share = np.isfinite(estimates).mean(axis=0)
    out = pd.DataFrame({"estimate": reference.to_numpy(), "valid_share": valid_share},
                       index=pd.MultiIndex.from_tuples(reference.index, names=["level", "key"]))
    for prob in probs:
        with warnings.catch_warnings():  # an all-missing level gives NaN, said by valid_share
            warnings.simplefilter("ignore", RuntimeWarning)
            quantile = np.nanquantile(estimates, prob, axis=0)
        out[f"U{round(prob * 100):02d}"] = np.where(valid_share >= MIN_VALID_BOOT_SHARE, quantile, np.nan)
    return out


def nee_under_ustar_scenarios(df: pd.DataFrame, scenarios: pd.DataFrame, *, flux: str = "NEE",
                              seconds: float = 1800.0, **options) -> pd.Series:
    """Sum of gap-filled NEE (gC m-2) under the annual u* threshold and each bootstrap scenario.

    For each column of ``scenarios`` (:func:`ustar_scenarios`: ``estimate``, ``U05`` …) the
    single-aggregate threshold filters the records (:func:`filter_ustar`), :func:`gapfill_mds`
    fills them (``options``), and the filled flux is summed over ``df``'s period.  The spread
    between the scenarios is the u* part of the uncertainty of the tower sink (REddyProc's
    use case repeats the processing per scenario the same way).
    """
    sums = {}
    for column in [c for c in scenarios.columns if c == "estimate" or c.startswith("U")]:
        threshold = float(scenarios.loc[("single", 0), column])
        filled = gapfill_mds(filter_ustar(df, threshold, flux=flux), flux, **options)
        sums[column] = float(to_gc_m2(filled[f"{flux}_f"].to_numpy(), seconds).sum())
    return pd.Series(sums, name=f"{flux} (gC m-2)")


def filter_ustar(
    df: pd.DataFrame,
    threshold: float | ArrayLike | UstarThresholdResult,
    ustar: str = "Ustar",
    flux: str = "NEE",
    rg: str = "Rg",
    *,
    night_rg: float = NIGHT_RG,
    filter_daytime: bool = False,
) -> pd.DataFrame:
    """Mark records with insufficient turbulence as gaps.

    As REddyProc ``sMDSGapFillAfterUstar``: a record is filtered when it is
    night (Rg < ``night_rg`` W m-2 or Rg missing; all records if
    ``filter_daytime``) and u* is below the threshold (flag 1), no finite
    threshold exists (flag 3) or u* is missing (flag 4).

    Parameters
    ----------
    df : DataFrame
        Time series with u* (m s-1), the flux and Rg (W m-2).
    threshold : float, array_like or UstarThresholdResult
        u* threshold in m s-1: one value, one value per record, or an
        estimate (its per-record season-year thresholds are used).
    ustar, flux, rg : str
        Column names.
    night_rg : float
        Night-time threshold of Rg, W m-2.
    filter_daytime : bool
        Also filter daytime records.

    Returns
    -------
    DataFrame
        Copy of ``df`` with ``flux`` set to NaN where filtered and a column
        ``<ustar>_fqc`` (0 kept, 1 low u*, 3 no threshold, 4 u* missing).
    """
    if isinstance(threshold, UstarThresholdResult):
        threshold = threshold.record_threshold
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (len(df),))
    u = df[ustar].to_numpy(dtype=float)
    r = df[rg].to_numpy(dtype=float)
    considered = np.ones(len(df), dtype=bool) if filter_daytime else ~(r >= night_rg)
    flag = np.zeros(len(df))
    flag[considered & (u < thr)] = 1
    flag[considered & ~np.isfinite(thr)] = 3
    flag[considered & ~np.isfinite(u)] = 4
    out = df.copy()
    out.loc[flag != 0, flux] = np.nan
    out[f"{ustar}_fqc"] = flag
    return out


# --- night-time partitioning ----------------------------------------------------


def lloyd_taylor(
    t_celsius: ArrayLike, r_ref: ArrayLike, e0: ArrayLike, t_ref: float = 15.0
) -> np.ndarray | float:
    """Ecosystem respiration after Lloyd & Taylor (1994, Funct. Ecol. 8:315), eq. 11.

    ``R = r_ref * exp(e0 * (1/(t_ref - T0) - 1/(T - T0)))`` with
    T0 = -46.02 degC (227.13 K); temperatures in degC.

    Parameters
    ----------
    t_celsius : array_like
        Temperature, degC.
    r_ref : array_like
        Respiration at ``t_ref`` (flux unit, e.g. umol m-2 s-1).
    e0 : array_like
        Temperature sensitivity ("activation energy" parameter), K.
    t_ref : float
        Reference temperature, degC (REddyProc: 15 degC).

    Returns
    -------
    ndarray or float
        Respiration in the unit of ``r_ref``.
    """
    t = np.asarray(t_celsius, dtype=float)
    return np.asarray(r_ref, dtype=float) * np.exp(
        np.asarray(e0, dtype=float)
        * (1.0 / (t_ref - LLOYD_TAYLOR_T0_C) - 1.0 / (t - LLOYD_TAYLOR_T0_C))
    )


def _fit_e0(
    night_flux: np.ndarray, temp: np.ndarray, t_ref: float, trim_percent: float
) -> tuple[float, float]:
    """E0 and its standard error from a trimmed Lloyd-Taylor regression (REddyProc ``fOptimSingleE0``).

    Fit R_ref and E0 (start 2 and 200), drop records whose residual lies
    outside the [trim, 100 - trim] percentiles, refit. NaN if a fit fails.
    """
    def model(t: np.ndarray, r_ref: float, e0: float) -> np.ndarray:
        return lloyd_taylor(t, r_ref, e0, t_ref)

    try:
        params, _ = curve_fit(model, temp, night_flux, p0=(2.0, 200.0))
        resid = night_flux - model(temp, *params)
        lo, hi = np.percentile(resid, [trim_percent, 100.0 - trim_percent])
        keep = (resid >= lo) & (resid <= hi)
        params, cov = curve_fit(model, temp[keep], night_flux[keep], p0=(2.0, 200.0))
    except (RuntimeError, ValueError, TypeError):
        return np.nan, np.nan
    return float(params[1]), float(np.sqrt(cov[1, 1]))


def partition_nighttime(
    df: pd.DataFrame,
    nee: str = "NEE_f",
    tair: str = "Tair",
    rg: str = "Rg",
    *,
    nee_qc: str | None = "NEE_fqc",
    tair_qc: str | None = None,
    night_rg: float = NIGHT_RG,
    t_ref: float = 15.0,
    e0_bounds: tuple[float, float] = (30.0, 350.0),
    e0_window_days: int = 7,
    e0_step_days: int = 5,
    e0_min_temp_range: float = 5.0,
    n_best_e0: int = 3,
    trim_percent: float = 5.0,
    rref_window_days: int = 3,
    rref_step_days: int = 4,
) -> pd.DataFrame:
    """Partition NEE into ecosystem respiration and GPP from night-time data.

    REddyProc ``sMRFluxPartition`` (Reichstein et al. 2005, GCB 11:1424):

    1. Night-time records: Rg <= ``night_rg`` W m-2, original (``nee_qc`` ==
       0) NEE and original (``tair_qc`` == 0) temperature.
    2. E0: Lloyd-Taylor regressions in windows of +-``e0_window_days`` days
       moved by ``e0_step_days`` days, in windows with more than 6 records
       and a temperature range of at least ``e0_min_temp_range`` K; each fit
       is repeated after trimming the 5 % extreme residuals. Estimates are
       valid when E0 - SE > ``e0_bounds[0]`` and E0 + SE < ``e0_bounds[1]``;
       E0 is the mean of the ``n_best_e0`` valid estimates with the lowest
       SE, rounded to 0.01 K.
    3. R_ref: with E0 fixed, least squares through the origin in windows of
       +-``rref_window_days`` days moved by ``rref_step_days`` days (more than
       2 records); negative values are dropped. Each estimate is placed at
       the mean position of its records and linearly interpolated, constant
       beyond the first and last.
    4. Reco = lloyd_taylor(Tair, R_ref, E0); GPP = Reco - NEE.

    Window days are counted as in REddyProc: day = (record number, from 1)
    // records per day.

    Parameters
    ----------
    df : DataFrame
        Regular time series indexed by time-step midpoints with gap-filled
        NEE (umol m-2 s-1), temperature (degC) and Rg (W m-2).
    nee, tair, rg : str
        Column names. Reco is computed from ``tair`` for every record, so
        pass a gap-filled temperature to get complete series.
    nee_qc, tair_qc : str or None
        Gap-filling quality columns; only records with flag 0 enter the
        regressions. None: all finite values are used.
    night_rg : float
        Night-time threshold of Rg, W m-2.
    t_ref : float
        Reference temperature, degC.
    e0_bounds : (float, float)
        Validity range of E0 in K. REddyProc uses (30, 350) for air
        temperature, (30, 550) for soil temperature and (30, 450) otherwise.
    e0_window_days, e0_step_days, e0_min_temp_range, n_best_e0, trim_percent,
    rref_window_days, rref_step_days
        Regression settings, REddyProc defaults.

    Returns
    -------
    DataFrame
        Copy of ``df`` with columns ``E_0`` (K), ``R_ref``, ``Reco`` and
        ``GPP_f`` (umol m-2 s-1).

    Raises
    ------
    ValueError
        If fewer than ``n_best_e0`` valid E0 estimates are found.
    """
    dts = _records_per_day(df.index)
    flux = df[nee].to_numpy(dtype=float)
    temp = df[tair].to_numpy(dtype=float)
    radiation = df[rg].to_numpy(dtype=float)
    usable = (radiation <= night_rg) & np.isfinite(flux) & np.isfinite(temp)
    if nee_qc is not None:
        usable &= df[nee_qc].to_numpy(dtype=float) == 0
    if tair_qc is not None:
        usable &= df[tair_qc].to_numpy(dtype=float) == 0
    day = (np.arange(len(df)) + 1) // dts
    last_day = int(day[-1])

    e0_fits = []
    for middle in range(e0_window_days + 1, last_day + 1, e0_step_days):
        sel = usable & (day >= middle - e0_window_days) & (day <= middle + e0_window_days)
        if sel.sum() > 6 and np.ptp(temp[sel]) >= e0_min_temp_range:
            e0_fits.append(_fit_e0(flux[sel], temp[sel], t_ref, trim_percent))
    fits = np.array(e0_fits, dtype=float).reshape(-1, 2)
    ok = (fits[:, 0] - fits[:, 1] > e0_bounds[0]) & (fits[:, 0] + fits[:, 1] < e0_bounds[1])
    if ok.sum() < n_best_e0:
        raise ValueError(
            f"only {int(ok.sum())} valid E0 estimates from {len(fits)} windows, need {n_best_e0}"
        )
    best = fits[ok][np.argsort(fits[ok][:, 1], kind="stable")[:n_best_e0]]
    e0 = round(float(best[:, 0].mean()), 2)

    r_ref = np.full(len(df), np.nan)
    for middle in range(rref_window_days + 1, last_day + 1, rref_step_days):
        sel = usable & (day >= middle - rref_window_days) & (day <= middle + rref_window_days)
        positions = np.flatnonzero(sel)
        if positions.size > 2:
            x = lloyd_taylor(temp[sel], 1.0, e0, t_ref)
            estimate = float(x @ flux[sel] / (x @ x))
            # R rounds the mean of 1-based positions (half to even, as numpy)
            r_ref[int(np.round(positions.mean() + 1)) - 1] = estimate if estimate >= 0 else np.nan
    known = np.flatnonzero(np.isfinite(r_ref))
    if known.size == 0:
        raise ValueError("no valid R_ref estimate")
    r_ref = np.interp(np.arange(len(df)), known, r_ref[known])

    out = df.copy()
    out["E_0"] = e0
    out["R_ref"] = r_ref
    out["Reco"] = lloyd_taylor(temp, r_ref, e0, t_ref)
    out["GPP_f"] = out["Reco"] - flux
    return out


# --- daytime partitioning ----------------------------------------------------------


def partition_daytime(
    df: pd.DataFrame,
    nee: str = "NEE_f",
    tair: str = "Tair_f",
    rg: str = "Rg",
    vpd: str = "VPD_f",
    *,
    nee_qc: str | None = "NEE_fqc",
    nee_sd: str | None = "NEE_fsd",
    pot_rad: str | None = None,
    n_boot: int = 30,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Partition NEE into GPP and ecosystem respiration with daytime light-response curves.

    The method of Lasslop et al. (2010, Global Change Biology 16:187) as implemented by
    REddyProc ``partitionNEEGL`` / ``sEddyProc$sGLFluxPartition`` with its default
    ``partGLControl()`` (Wutzler et al. 2018, Biogeosciences 15:5015). Daytime NEE is fitted by

    ``NEE = Reco - GPP``, ``GPP = alpha beta' Rg / (alpha Rg + beta')``,
    ``beta' = beta exp(-k (VPD - 10 hPa))`` for VPD > 10 hPa (else beta),
    ``Reco = RRef exp(E0 (1 / (288.15 - 227.13) - 1 / (Tair + 273.15 - 227.13)))``.

    1. Day: Rg > 4 W m-2, night: Rg <= 4 W m-2; with ``pot_rad`` also potential radiation > 0
       for day and <= 0 for night. Only original NEE (``nee_qc`` == 0) enters the fits; a
       missing SD of NEE becomes max(0.7, 0.2 |NEE|).
    2. E0 from Lloyd-Taylor fits to night-time NEE in 12-day windows (24, 48 days where a fit
       fails; accepted in 50-400 K), smoothed over time by a Gaussian process per year; RRef of
       the night from E0 (REddyProc ``partGLFitNightTimeTRespSens``).
    3. In 4-day windows moved by 2 days (at least 10 valid records): k, beta, alpha and RRef by
       weighted least squares (weights 1/SD of NEE, SD floored at its 30 % quantile) with weak
       priors, E0 fixed, from three starting betas; k < 0 refits with k = 0, alpha > 0.22 with
       the alpha of the last fitted window; rejected if alpha < 0, RRef < 0, beta < 0 or
       beta >= 250, or beta > 100 with SD >= beta. Parameter covariance from ``n_boot``
       bootstrap refits (E0 drawn from its uncertainty), or from the curvature if ``n_boot``
       is 0.
    4. Each record's GPP and Reco are the predictions of the two windows whose mean valid
       record is nearest before and after it, weighted by distance (``partGLInterpolateFluxes``);
       records with missing VPD are predicted from fits neglecting VPD.

    Windows count days from the first record, so the series should start at midnight.

    Parameters
    ----------
    df : DataFrame
        Regular time series indexed by time-step midpoints.
    nee : str
        Gap-filled NEE, umol CO2 m-2 s-1.
    tair, rg, vpd : str
        Gap-filled air temperature (degC), global radiation (W m-2) and vapour pressure
        deficit (hPa); they drive the prediction of every record.
    nee_qc : str or None
        Quality flag of ``nee``; records with a flag other than 0 are not fitted. None: all.
    nee_sd : str or None
        Standard deviation of NEE (umol m-2 s-1), e.g. ``NEE_fsd`` of :func:`gapfill_mds`
        with ``fill_all=True``. None: all missing.
    pot_rad : str or None
        Potential (top-of-atmosphere) radiation in W m-2 to separate day and night as
        REddyProc (``PotRad_NEW``); None separates by Rg only (``isNeglectPotRadForNight``).
    n_boot : int
        Bootstrap samples per window for the parameter uncertainty (REddyProc
        ``nBootUncertainty``, 30); 0 uses the inverse Hessian of the cost.
    seed : int or None
        Seed of the bootstrap (the same seed gives the same result).

    Returns
    -------
    DataFrame
        Copy of ``df`` with, per record, ``GPP_DT`` and ``Reco_DT`` (umol CO2 m-2 s-1, GPP >= 0;
        the modelled NEE is ``Reco_DT - GPP_DT``), their standard deviations ``GPP_DT_SD`` and
        ``Reco_DT_SD``, ``FP_qc`` (0 all parameters fitted, 1 k or alpha fixed, 2 nearest fit
        more than 14 days away) and ``FP_dRecPar`` (records to the nearest fit); at the central
        record of each window (NaN elsewhere) the parameters ``FP_k`` (hPa-1), ``FP_beta``
        (umol m-2 s-1), ``FP_alpha`` (umol m-2 s-1 per W m-2), ``FP_RRef`` (umol m-2 s-1 at
        15 degC), ``FP_E0`` (K), their SDs ``FP_<name>_sd``, ``FP_RRef_Night``, ``FP_GPP2000``
        (GPP at Rg = 2000 W m-2 without VPD limitation) and ``FP_errorcode`` (0 fitted, 1 not
        converged, 1001 bootstrap failed, 1002 out of bounds, 1005/1006 covariance from the
        curvature failed, 1011 fewer than 10 records), as REddyProc names them.

    Raises
    ------
    ValueError
        Fewer than 5 windows (and 10 % of them) with a night-time E0, no window with enough
        night records for RRef, no window fitted, or too many zero SDs of NEE.

    Notes
    -----
    REddyProc options other than the defaults are not offered (fixed temperature sensitivity,
    non-rectangular and logistic curves, ``isUsingLasslopQualityConstraints``,
    ``useNightimeBasalRespiration`` of Keenan et al. 2019, quality filters on the drivers,
    ``minPropSaturation``); potential radiation is not computed here (pass ``pot_rad``).
    Deviations: R's BFGS (relative tolerance 1e-3) and nls are replaced by Levenberg-Marquardt
    to full convergence, mlegp's random restarts by fixed ones, the Hessian by its Gauss-Newton
    form, R's random numbers by numpy's; the SD of a prediction combines the variances of both
    neighbouring windows (REddyProc uses the earlier window's twice), the gradient of GPP
    with respect to beta is 1 rather than 0 when k = 0, and negative Rg counts as 0 W m-2.
    """
    records_per_day = _records_per_day(df.index)
    flux = df[nee].to_numpy(dtype=float, copy=True)
    if nee_qc is not None:
        flux[df[nee_qc].to_numpy(dtype=float) != 0] = np.nan
    sd = df[nee_sd].to_numpy(dtype=float) if nee_sd is not None else np.full(len(df), np.nan)
    sd = np.where(np.isfinite(sd), sd, np.fmax(_lasslop.MISSING_SD_MIN, _lasslop.MISSING_SD_SHARE * np.abs(flux)))
    radiation = df[rg].to_numpy(dtype=float)
    is_day = radiation > _lasslop.LIGHT_RG
    is_night = radiation <= _lasslop.LIGHT_RG
    if pot_rad is not None:
        potential = df[pot_rad].to_numpy(dtype=float)
        is_day &= potential > 0
        is_night &= potential <= 0
    result = _lasslop.partition(
        flux, sd, df[tair].to_numpy(dtype=float), df[vpd].to_numpy(dtype=float), radiation, is_day, is_night,
        records_per_day, n_boot=n_boot, rng=np.random.default_rng(seed),
    )
    fits = result.fits

    def at_windows(values: np.ndarray) -> np.ndarray:
        column = np.full(len(df), np.nan)
        column[fits.central] = values
        return column

    out = df.copy()
    for i, name in enumerate(_lasslop.PARAMETERS):
        out[f"FP_{name}"] = at_windows(fits.theta[:, i])
        out[f"FP_{name}_sd"] = at_windows(fits.sd[:, i])
    out["FP_RRef_Night"] = at_windows(fits.rref_night)
    out["FP_GPP2000"] = at_windows(fits.gpp2000)
    out["FP_errorcode"] = at_windows(fits.code)
    out["FP_qc"] = result.qc
    out["FP_dRecPar"] = result.prediction.d_record
    out["Reco_DT"] = result.prediction.reco
    out["GPP_DT"] = result.prediction.gpp
    out["Reco_DT_SD"] = result.prediction.sd_reco
    out["GPP_DT_SD"] = result.prediction.sd_gpp
    return out


def compare_partitioning(
    df: pd.DataFrame,
    nee: str = "NEE_f",
    tair: str = "Tair_f",
    rg: str = "Rg",
    vpd: str = "VPD_f",
    *,
    nee_qc: str | None = "NEE_fqc",
    tair_qc: str | None = None,
    **daytime_options,
) -> pd.DataFrame:
    """Sums of GPP, Reco and NEE of a site-year by night-time and daytime partitioning.

    Runs :func:`partition_nighttime` (Reichstein et al. 2005) and :func:`partition_daytime`
    (Lasslop et al. 2010) on the same gap-filled series and sums each method's GPP and Reco
    over the records where it gives both, converted with :func:`to_gc_m2`. NEE is that
    method's Reco - GPP: for the night-time method the sum of the gap-filled NEE, for the
    daytime method the sum of the modelled NEE, so the two NEE differ by the misfit of the
    light-response curves. Pass one site-year for annual sums.

    Parameters
    ----------
    df : DataFrame
        Regular time series with gap-filled NEE (umol m-2 s-1), Tair (degC), Rg (W m-2) and
        VPD (hPa) as for both methods.
    nee, tair, rg, vpd, nee_qc : str
        Column names for both methods.
    tair_qc : str or None
        Quality flag of temperature for the night-time regressions.
    **daytime_options
        Further arguments of :func:`partition_daytime` (``nee_sd``, ``pot_rad``, ``n_boot``,
        ``seed``).

    Returns
    -------
    DataFrame
        Index ``method`` ("nighttime", "daytime"); columns ``reference``, ``GPP_gC_m2``,
        ``Reco_gC_m2``, ``NEE_gC_m2`` and ``n_records`` (records summed).
    """
    seconds = 86400.0 / _records_per_day(df.index)
    night = partition_nighttime(df, nee, tair, rg, nee_qc=nee_qc, tair_qc=tair_qc)
    day = partition_daytime(df, nee, tair, rg, vpd, nee_qc=nee_qc, **daytime_options)
    rows = []
    for method, reference, gpp, reco in (
        ("nighttime", "Reichstein et al. 2005", night["GPP_f"], night["Reco"]),
        ("daytime", "Lasslop et al. 2010", day["GPP_DT"], day["Reco_DT"]),
    ):
        gpp, reco = gpp.to_numpy(dtype=float), reco.to_numpy(dtype=float)
        both = np.isfinite(gpp) & np.isfinite(reco)
        gpp_sum = float(to_gc_m2(gpp[both], seconds).sum())
        reco_sum = float(to_gc_m2(reco[both], seconds).sum())
        rows.append({"method": method, "reference": reference, "GPP_gC_m2": gpp_sum, "Reco_gC_m2": reco_sum,
                     "NEE_gC_m2": reco_sum - gpp_sum, "n_records": int(both.sum())})
    return pd.DataFrame(rows).set_index("method")
