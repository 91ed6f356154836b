"""Compiled kernels of the marginal distribution sampling (MDS) gap filling.

Private helpers of :mod:`carbonlib.flux`. They implement, record by record, the
look-up table (LUT) and mean diurnal course (MDC) steps of REddyProc
(``R/EddyGapfilling.R``: ``sEddyProc_sFillLUT`` and ``sEddyProc_sFillMDC``;
Reichstein et al. 2005, Global Change Biology 11:1424; Wutzler et al. 2018,
Biogeosciences 15:5015). The fill sequence and the quality flags are decided in
:func:`carbonlib.flux.gapfill_mds`; these kernels only do the counting.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Step kinds of the MDS sequence.
LUT_ALL = 0  # look-up table on Rg, VPD and Tair
LUT_RG = 1  # look-up table on Rg only
MDC = 2  # mean diurnal course

#: REddyProc bounds the Rg tolerance of a gap to [20, tol_rg] W m-2 by the gap's
#: own Rg ("Special treatment of Rg to be congruent with MR PV-Wave").
RG_TOLERANCE_FLOOR = 20.0


@njit(cache=True)
def _mean_sd(buf, k):
    """Mean and sample standard deviation (n - 1 denominator, as R ``sd``)."""
    total = 0.0
    for m in range(k):
        total += buf[m]
    mean = total / k
    ss = 0.0
    for m in range(k):
        ss += (buf[m] - mean) ** 2
    return mean, np.sqrt(ss / (k - 1))


@njit(cache=True)
def _lut_record(i, y, rg, vpd, tair, use_all, tol_rg, tol_vpd, tol_tair, half, buf):
    """Collect into ``buf`` the values of records with similar meteorology.

    Window: records ``i - half .. i + half`` clipped to the series. A record is
    similar when ``|x_j - x_i| < tolerance`` for each driver (strict, NaN never
    similar). Returns the number of records collected.
    """
    n = y.size
    rg_i = rg[i]
    tol1 = tol_rg
    if not np.isnan(rg_i):
        tol1 = min(tol_rg, rg_i)
    tol1 = max(tol1, RG_TOLERANCE_FLOOR)
    lo = max(0, i - half)
    hi = min(n - 1, i + half)
    k = 0
    for j in range(lo, hi + 1):
        if np.isnan(y[j]):
            continue
        if not abs(rg[j] - rg_i) < tol1:
            continue
        if use_all:
            if not abs(vpd[j] - vpd[i]) < tol_vpd:
                continue
            if not abs(tair[j] - tair[i]) < tol_tair:
                continue
        buf[k] = y[j]
        k += 1
    return k


@njit(cache=True)
def _mdc_record(i, y, days, dts, buf):
    """Collect values within +-2 records of the same time of day, 0..``days`` days away."""
    n = y.size
    k = 0
    for d in range(days + 1):
        for side in (-1, 1):
            if d == 0 and side == 1:
                continue  # day 0: a single block centred on the record itself
            c = i + side * d * dts
            for j in range(c - 2, c + 3):
                if 0 <= j < n and not np.isnan(y[j]):
                    buf[k] = y[j]
                    k += 1
    return k


@njit(cache=True)
def run_mds(
    y, rg, vpd, tair, tol_rg, tol_vpd, tol_tair, dts, todo,
    step_kind, step_days, step_meth, step_win, step_qc,
):
    """Run the MDS step sequence over all records flagged in ``todo``.

    Each step treats only records not yet filled by an earlier step, and uses
    only the original values ``y`` as donors, so the result for a record
    depends only on data inside its windows. A record is filled by a step when
    at least two donor values are found (REddyProc ``length(...) > 1``).

    Returns arrays (mean, num, sd, meth, win, qc), NaN where never filled.
    """
    n = y.size
    out_mean = np.full(n, np.nan)
    out_num = np.full(n, np.nan)
    out_sd = np.full(n, np.nan)
    out_meth = np.full(n, np.nan)
    out_win = np.full(n, np.nan)
    out_qc = np.full(n, np.nan)
    max_lut = 0
    max_mdc = 0
    for s in range(step_kind.size):
        if step_kind[s] == MDC:
            max_mdc = max(max_mdc, step_days[s])
        else:
            max_lut = max(max_lut, step_days[s])
    buf = np.empty(max(2 * max_lut * dts + 1, (2 * max_mdc + 1) * 5))
    pending = todo.copy()
    for s in range(step_kind.size):
        kind = step_kind[s]
        for i in range(n):
            if not pending[i]:
                continue
            if kind == MDC:
                k = _mdc_record(i, y, step_days[s], dts, buf)
            else:
                k = _lut_record(
                    i, y, rg, vpd, tair, kind == LUT_ALL,
                    tol_rg, tol_vpd, tol_tair, step_days[s] * dts, buf,
                )
            if k > 1:
                mean, sd = _mean_sd(buf, k)
                out_mean[i] = mean
                out_sd[i] = sd
                out_num[i] = k
                out_meth[i] = step_meth[s]
                out_win[i] = step_win[s]
                out_qc[i] = step_qc[s]
                pending[i] = False
    return out_mean, out_num, out_sd, out_meth, out_win, out_qc
