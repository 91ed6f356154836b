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
def _donors(y, rg, vpd, tair):
    """The records with a value (the only possible donors), packed.

    Returns ``before`` (``before[j]`` = number of donors among records
    ``0 .. j - 1``, length n + 1, so that records ``lo .. hi`` hold the packed
    donors ``before[lo] .. before[hi + 1] - 1``) and the donors' value, Rg,
    VPD and Tair in record order.
    """
    n = y.size
    before = np.empty(n + 1, dtype=np.int64)
    m = 0
    for j in range(n):
        before[j] = m
        if not np.isnan(y[j]):
            m += 1
    before[n] = m
    dy = np.empty(m)
    drg = np.empty(m)
    dvpd = np.empty(m)
    dtair = np.empty(m)
    m = 0
    for j in range(n):
        if not np.isnan(y[j]):
            dy[m] = y[j]
            drg[m] = rg[j]
            dvpd[m] = vpd[j]
            dtair[m] = tair[j]
            m += 1
    return before, dy, drg, dvpd, dtair


@njit(cache=True)
def _lut_record(
    i, rg, vpd, tair, before, dy, drg, dvpd, dtair, use_all, tol_rg, tol_vpd, tol_tair, half, buf, mask,
):
    """Collect into ``buf`` the values of records with similar meteorology.

    Window: records ``i - half .. i + half`` clipped to the series. A record is
    similar when ``|x_j - x_i| < tolerance`` for each driver (strict, NaN never
    similar). Returns the number of records collected; ``buf`` holds their
    values in record order.

    Same values, same order, same count as testing record by record; faster
    because the donors come packed (:func:`_donors`: records without a value
    cost nothing), the tests of the whole window are one branch-free loop into
    ``mask`` (compiled to SIMD compares), and the values are then gathered
    without a branch (written at ``buf[k]``, ``k`` advanced by the mask): the
    outcomes follow no pattern a branch predictor could learn. ``buf`` and
    ``mask`` hold at least ``2 * half + 1`` elements.
    """
    n = rg.size
    rg_i = rg[i]
    if np.isnan(rg_i):
        return 0  # nothing is similar to a missing driver
    tol1 = max(min(tol_rg, rg_i), RG_TOLERANCE_FLOOR)
    lo = before[max(0, i - half)]
    hi = before[min(n - 1, i + half) + 1]
    # Views of the window looped from 0: the index is then known to be
    # non-negative, compiles without wrap-around handling and vectorises.
    wy = dy[lo:hi]
    wrg = drg[lo:hi]
    m = wy.size
    if use_all:
        vpd_i = vpd[i]
        tair_i = tair[i]
        if np.isnan(vpd_i) or np.isnan(tair_i):
            return 0
        wvpd = dvpd[lo:hi]
        wtair = dtair[lo:hi]
        for j in range(m):
            mask[j] = (
                (abs(wrg[j] - rg_i) < tol1)
                & (abs(wvpd[j] - vpd_i) < tol_vpd)
                & (abs(wtair[j] - tair_i) < tol_tair)
            )
    else:
        for j in range(m):
            mask[j] = abs(wrg[j] - rg_i) < tol1
    k = 0
    for j in range(m):
        buf[k] = wy[j]
        k += mask[j]
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
    mask = np.empty(buf.size, dtype=np.uint8)
    before, dy, drg, dvpd, dtair = _donors(y, rg, vpd, tair)
    pending = np.flatnonzero(todo)  # records still to fill, in record order
    for s in range(step_kind.size):
        kind = step_kind[s]
        left = 0
        for p in range(pending.size):
            i = pending[p]
            if kind == MDC:
                k = _mdc_record(i, y, step_days[s], dts, buf)
            else:
                k = _lut_record(
                    i, rg, vpd, tair, before, dy, drg, dvpd, dtair, kind == LUT_ALL,
                    tol_rg, tol_vpd, tol_tair, step_days[s] * dts, buf, mask,
                )
            if k > 1:
                mean, sd = _mean_sd(buf, k)
                out_mean[i] = mean
                out_sd[i] = sd
                out_num[i] = k
                out_meth[i] = step_meth[s]
                out_win[i] = step_win[s]
                out_qc[i] = step_qc[s]
            else:
                pending[left] = i  # keep it for the next step
                left += 1
        pending = pending[:left]
        if left == 0:
            break
    return out_mean, out_num, out_sd, out_meth, out_win, out_qc
