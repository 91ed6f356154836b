"""Engine of the daytime flux partitioning: light-response curves after Lasslop et al. (2010).

Lasslop G., Reichstein M., Papale D. et al. (2010): Separation of net ecosystem exchange into
assimilation and respiration using a light response curve approach: critical issues and global
evaluation. Global Change Biology 16:187-208.

The procedure is REddyProc's ``partitionNEEGL`` with its default ``partGLControl()`` (R sources
``R/PartitioningLasslop10.R``, ``R/PartitioningLasslop10Nighttime.R``, ``R/LRC_base.R`` and
``R/LRC_rectangular.R``; Wutzler et al. 2018, Biogeosciences 15:5015), on plain arrays:

1. :func:`temperature_sensitivity` -- E0 from Lloyd-Taylor fits to night-time NEE in 12-day
   windows (24 and 48 days where a fit fails), moved by 2 days; the E0 series is smoothed by a
   Gaussian process per year (REddyProc: ``mlegp``); then RRef at 15 degC with E0 fixed.
2. :func:`fit_windows` -- the light-response curve with E0 fixed is fitted to daytime NEE in
   4-day windows moved by 2 days, with REddyProc's weak priors, refits and rejection rules;
   parameter covariance by bootstrap (30 samples) or, with ``n_boot=0``, by the curvature.
3. :func:`interpolate` -- GPP and Reco of each record are the predictions of the two nearest
   windows weighted by their distance in records.

Units: NEE, GPP, Reco, RRef and beta in umol CO2 m-2 s-1 (NEE positive = release), Rg in W m-2,
alpha in umol CO2 m-2 s-1 per W m-2, VPD in hPa, k in hPa-1, temperatures in degC, E0 in K.
Records are numbered from 0 here and from 1 in REddyProc; where that matters (rounding a mean
record number) the R formula is kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.optimize import curve_fit, least_squares, minimize

# --- constants (REddyProc defaults) ------------------------------------------------

#: Parameter vector theta of the light-response curve, in this order.
PARAMETERS = ("k", "beta", "alpha", "RRef", "E0")
K, BETA, ALPHA, RREF, E0 = range(5)

#: VPD above which beta declines, hPa (Lasslop et al. 2010).
VPD0 = 10.0
#: Reference temperature of RRef, degC.
T_REF = 15.0
#: Lloyd & Taylor (1994) T0 and the Celsius offset, K.
T0_KELVIN = 227.13
KELVIN = 273.15
#: Lower bound of temperature in predictions, degC (REddyProc: Lloyd-Taylor misbehaves below).
MIN_PREDICTION_TEMP = -40.0
#: Global radiation separating night (<=) from day (>), W m-2 (Lasslop et al. 2010).
LIGHT_RG = 4.0
#: Fewest valid records for any regression in a window (``minNRecInDayWindow``).
MIN_RECORDS = 10
#: Accepted range of a night-time E0 estimate, K.
E0_RANGE = (50.0, 400.0)
#: alpha above this is refitted with the alpha of the previous window (Lasslop et al. 2010, Table A1).
ALPHA_MAX = 0.22
#: beta at or above this rejects a window, umol m-2 s-1 (Table A1).
BETA_MAX = 250.0
#: Prior means of k and alpha; beta's is the 3-97 % range of NEE, RRef's the night-time estimate.
PRIOR_K, PRIOR_ALPHA = 0.05, 0.1
#: Prior standard deviations of k, beta, alpha, RRef (``isLasslopPriorsApplied``).
PRIOR_SD = np.array([50.0, 600.0, 10.0, 80.0])
#: A missing SD of NEE is replaced by max(0.7, 0.2 * |NEE|) umol m-2 s-1 (``replaceMissingSdNEEParms``).
MISSING_SD_MIN, MISSING_SD_SHARE = 0.7, 0.2
#: Window lengths in days: daytime fits, night-time fits and their extensions, window step.
DAY_WINDOW, NIGHT_WINDOW, NIGHT_EXTENSIONS, STRIDE = 4, 12, (24, 48), 2

#: Convergence and rejection codes (REddyProc ``FP_errorcode``).
CODE_OK = 0
CODE_NOT_CONVERGED = 1
CODE_BOOTSTRAP_FAILED = 1001
CODE_OUT_OF_BOUNDS = 1002
CODE_NEGATIVE_VARIANCE = 1005
CODE_SINGULAR_HESSIAN = 1006
CODE_TOO_FEW_RECORDS = 1011


# --- model -------------------------------------------------------------------------


def respiration(tair: np.ndarray, rref: np.ndarray, e0: np.ndarray) -> np.ndarray:
    """Ecosystem respiration, Lloyd & Taylor (1994) eq. 11 at 15 degC (REddyProc ``fLloydTaylor``).

    ``Reco = rref * exp(e0 * (1 / (288.15 - 227.13) - 1 / (tair + 273.15 - 227.13)))``, in the
    unit of ``rref``; ``tair`` in degC, ``e0`` in K.
    """
    return rref * np.exp(e0 * _temperature_term(tair, T_REF))


def _temperature_term(tair: np.ndarray, t_ref: float) -> np.ndarray:
    """``1 / (t_ref - T0) - 1 / (tair - T0)`` in K-1, temperatures in degC."""
    return 1.0 / (t_ref + KELVIN - T0_KELVIN) - 1.0 / (np.asarray(tair, dtype=float) + KELVIN - T0_KELVIN)


def _amax(k: np.ndarray, beta: np.ndarray, vpd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light-saturated GPP limited by VPD, and its factor ``exp(-k (VPD - VPD0))`` (1 if not limited).

    k == 0 ignores VPD (so a missing VPD does not matter); otherwise a missing VPD gives NaN.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        factor = np.where(vpd > VPD0, np.exp(-k * (vpd - VPD0)), np.where(vpd <= VPD0, 1.0, np.nan))
    factor = np.where(k == 0, 1.0, factor)
    return beta * factor, factor


def light_response(theta: np.ndarray, rg: np.ndarray, vpd: np.ndarray,
                   tair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GPP and Reco of the rectangular light-response curve with VPD limitation (Lasslop et al. 2010).

    ``GPP = alpha * beta' * Rg / (alpha * Rg + beta')`` with ``beta' = beta * exp(-k (VPD - 10 hPa))``
    above 10 hPa and ``beta' = beta`` otherwise; ``Reco`` from :func:`respiration` with RRef and E0.
    ``theta`` holds (k, beta, alpha, RRef, E0) in its last axis, one row per record or one for all.
    Returns (GPP, Reco) in umol CO2 m-2 s-1; the modelled NEE is ``Reco - GPP``.
    """
    theta = np.asarray(theta, dtype=float)
    rg = np.asarray(rg, dtype=float)
    amax, _ = _amax(theta[..., K], theta[..., BETA], np.asarray(vpd, dtype=float))
    alpha_rg = theta[..., ALPHA] * rg
    return amax * alpha_rg / (alpha_rg + amax), respiration(tair, theta[..., RREF], theta[..., E0])


def _gradients(theta: np.ndarray, rg: np.ndarray, vpd: np.ndarray,
               tair: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d GPP / d(k, beta, alpha) and d Reco / d(RRef, E0) per record (REddyProc ``computeLRCGradient``)."""
    k, beta, alpha, rref, e0 = (theta[..., i] for i in range(5))
    amax, factor = _amax(k, beta, vpd)
    denominator = alpha * rg + amax
    d_amax = (alpha * rg / denominator) ** 2
    with np.errstate(invalid="ignore"):
        d_k = np.where((vpd > VPD0) & (k != 0), -beta * (vpd - VPD0) * factor, 0.0)
    d_gpp = np.stack([d_amax * d_k, d_amax * factor, (amax / denominator) ** 2 * rg], axis=-1)
    term = _temperature_term(tair, T_REF)
    exp_term = np.exp(e0 * term)
    return d_gpp, np.stack([exp_term, rref * exp_term * term], axis=-1)


# --- windows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Windows:
    """Windows of a series as REddyProc ``applyWindows``, anchored on 4-day reference windows.

    ``start``/``stop``: first record and one past the last (0-based); ``central``: first record
    of the middle day of the reference window (REddyProc ``iCentralRec`` - 1); ``day_start``:
    first day, counted from 1 (REddyProc ``dayStart``).
    """

    start: np.ndarray
    stop: np.ndarray
    central: np.ndarray
    day_start: np.ndarray


def windows(n_records: int, records_per_day: int, size_days: int) -> Windows:
    """Windows of ``size_days`` centred on the 4-day reference windows moved by 2 days."""
    n_days = -(-n_records // records_per_day)
    first_days = np.arange(1, n_days - DAY_WINDOW // 2 + 1, STRIDE)
    if first_days.size == 0:
        raise ValueError(f"need at least {DAY_WINDOW // 2 + 1} days of records")
    central1 = 1 + (first_days - 1 + DAY_WINDOW // 2) * records_per_day
    half = size_days * records_per_day // 2
    return Windows(
        start=np.maximum(central1 - half, 1) - 1,
        stop=np.minimum(central1 - 1 + half, n_records),
        central=central1 - 1,
        day_start=np.maximum(first_days + DAY_WINDOW // 2 - size_days // 2, 1),
    )


def _mean_record(valid: np.ndarray, start: int) -> float:
    """Record (0-based) at the rounded mean position of valid records, R's ``round(mean(which(.)))``."""
    positions = np.flatnonzero(valid)
    if positions.size == 0:
        return np.nan
    return start + float(np.round(positions.mean() + 1.0)) - 1.0


# --- night-time temperature sensitivity --------------------------------------------------


@dataclass(frozen=True)
class TemperatureSensitivity:
    """Per 4-day reference window: E0 (K), its SD (K) and RRef at 15 degC (umol m-2 s-1)."""

    e0: np.ndarray
    sd_e0: np.ndarray
    rref: np.ndarray


def _night_records(is_night: np.ndarray, nee: np.ndarray, tair: np.ndarray) -> np.ndarray:
    """Valid night records; below -1 degC dropped if 12 or more warmer ones remain (``isValidNightRecord``)."""
    valid = is_night & np.isfinite(nee) & np.isfinite(tair)
    freezing = valid & (tair <= -1.0)
    if (valid & ~freezing).sum() >= 12:
        valid &= ~freezing
    return valid


def _fit_e0(nee: np.ndarray, tair: np.ndarray, previous_e0: float) -> tuple[float, float]:
    """E0 and its standard error from a Lloyd-Taylor fit (``partGLEstimateTempSensInBoundsE0Only``).

    RRef refers to the median temperature of the records during the fit (decorrelates RRef and
    E0); E0 starts from the previous window's estimate or 100 K. NaN if the fit fails or E0 is
    outside :data:`E0_RANGE`. The standard error is the nls one, s^2 (J'J)^-1.
    """
    term = _temperature_term(tair, float(np.median(tair)))

    def model(_: np.ndarray, rref: float, e0: float) -> np.ndarray:
        return rref * np.exp(e0 * term)

    start = (float(nee.mean()), previous_e0 if np.isfinite(previous_e0) else 100.0)
    try:
        with warnings.catch_warnings():  # an undetermined covariance comes back as inf
            warnings.simplefilter("ignore")
            params, cov = curve_fit(model, tair, nee, p0=start)
    except (RuntimeError, ValueError):
        return np.nan, np.nan
    e0, sd = float(params[1]), float(np.sqrt(cov[1, 1]))
    if not (np.isfinite(sd) and E0_RANGE[0] <= e0 <= E0_RANGE[1]):
        return np.nan, np.nan
    return e0, sd


def _e0_windows(nee: np.ndarray, tair: np.ndarray, is_night: np.ndarray,
                win: Windows) -> np.ndarray:
    """(E0, SD) per window, each fit starting from the previous window's E0 (``applyWindows`` prevRes)."""
    fits = np.full((win.start.size, 2), np.nan)
    previous = np.nan
    for i, (start, stop) in enumerate(zip(win.start, win.stop)):
        sl = slice(start, stop)
        valid = _night_records(is_night[sl], nee[sl], tair[sl])
        if valid.sum() >= MIN_RECORDS:
            fits[i] = _fit_e0(nee[sl][valid], tair[sl][valid], previous)
        previous = fits[i, 0]
    return fits


def _gaussian_process(x: np.ndarray, z: np.ndarray, noise: np.ndarray,
                      x_new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood Gaussian process as ``mlegp(X, Z, nugget = noise)``; prediction at ``x_new``.

    Constant mean, covariance ``sig2 * (exp(-b (x - x')^2) + tau * diag(noise))``: the nugget is
    known up to the factor tau. The mean (GLS) and sig2 are profiled out; b and tau maximise the
    likelihood on a log scale as in mlegp: Nelder-Mead from starts across mlegp's starting range
    (mlegp draws five at random), then L-BFGS from the best. Returns the predicted mean, its
    standard error and the fitted nugget of each observation (``tau * sig2 * noise``).
    """
    d2 = np.subtract.outer(x, x) ** 2
    both = np.column_stack((z, np.ones_like(z)))

    def profile(log_params: np.ndarray):
        b, tau = np.exp(log_params)
        chol = cho_factor(np.exp(-b * d2) + np.diag(tau * noise), lower=True)
        (zz, z1), (_, one_one) = both.T @ cho_solve(chol, both)
        mean = z1 / one_one
        sig2 = (zz - 2.0 * mean * z1 + mean ** 2 * one_one) / z.size
        return chol, mean, sig2

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        try:
            chol, _, sig2 = profile(log_params)
        except LinAlgError:
            return np.inf
        if not sig2 > 0:
            return np.inf
        log_det = 2.0 * np.log(np.diag(chol[0])).sum()
        return 0.5 * (z.size * np.log(2.0 * np.pi * sig2) + log_det + z.size)

    d2_min = d2[d2 > 0].min()
    log_tau = -np.log(np.var(z, ddof=1))
    starts = [np.array([np.log(-np.log(p) / d2_min), log_tau]) for p in (0.65, 0.45, 0.3)]
    bounds = [(starts[0][0] - 40.0, starts[-1][0] + 40.0), (log_tau - 40.0, log_tau + 40.0)]
    with np.errstate(invalid="ignore", over="ignore"):  # finite differences next to a singular matrix
        simplex = min((minimize(negative_log_likelihood, s, method="Nelder-Mead", bounds=bounds) for s in starts),
                      key=lambda result: result.fun)
        best = minimize(negative_log_likelihood, simplex.x, method="L-BFGS-B", bounds=bounds)
    chol, mean, sig2 = profile(best.x)
    b, tau = np.exp(best.x)
    r_new = np.exp(-b * np.subtract.outer(x_new, x) ** 2)
    fit = mean + r_new @ cho_solve(chol, z - mean)
    variance = sig2 * (1.0 - np.einsum("ij,ji->i", r_new, cho_solve(chol, r_new.T)))
    return fit, np.sqrt(np.maximum(variance, 0.0)), tau * sig2 * noise


def _smooth_e0(e0: np.ndarray, sd_e0: np.ndarray, central: np.ndarray,
               year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smooth E0 over time per year (``partGLSmoothTempSens``).

    An estimate equal to its predecessor (same records after a window extension) is dropped.
    Per year a Gaussian process (:func:`_gaussian_process`, x = central record numbered from 1)
    gives E0 for every window and SD = standard error + sqrt(nugget), the nugget of windows
    without estimate being the 90 % quantile of the fitted ones. REddyProc stops if a year has a
    single or constant estimate (mlegp needs variation); then that mean and the estimates' SDs are
    used. Years without estimate take the mean of the others and 1.5 times the 90 % quantile of
    their SDs.
    """
    e0 = e0.copy()
    e0[1:][np.diff(e0) == 0] = np.nan
    smooth, smooth_sd = np.full_like(e0, np.nan), np.full_like(e0, np.nan)
    for this_year in np.unique(year):
        in_year = year == this_year
        finite = in_year & np.isfinite(e0)
        if not finite.any():
            warnings.warn(f"no night-time E0 estimate in year {this_year} of the series; using other years",
                          RuntimeWarning, stacklevel=3)
            continue
        x, z, noise = central[finite] + 1.0, e0[finite], sd_e0[finite] ** 2
        if z.size < 2 or np.ptp(z) == 0:
            smooth[in_year] = z.mean()
            smooth_sd[in_year] = np.where(finite[in_year], sd_e0[in_year], np.quantile(sd_e0[finite], 0.9))
            continue
        fit, se, nugget = _gaussian_process(x, z, noise, central[in_year] + 1.0)
        year_nugget = np.full(in_year.sum(), np.quantile(nugget, 0.9))
        year_nugget[finite[in_year]] = nugget
        smooth[in_year] = fit
        smooth_sd[in_year] = se + np.sqrt(year_nugget)
    missing = ~np.isfinite(smooth)
    smooth[missing] = smooth[~missing].mean()
    smooth_sd[missing] = np.quantile(smooth_sd[~missing], 0.9) * 1.5
    return smooth, smooth_sd


def _fill_forward(values: np.ndarray) -> np.ndarray:
    """NaN replaced by the previous value, leading NaN by the first finite one (``fillNAForward``)."""
    finite = np.isfinite(values)
    index = np.maximum.accumulate(np.where(finite, np.arange(values.size), -1))
    return values[np.where(index < 0, np.argmax(finite), index)]


def temperature_sensitivity(nee: np.ndarray, tair: np.ndarray, is_night: np.ndarray,
                            records_per_day: int) -> TemperatureSensitivity:
    """E0, its SD and RRef per 4-day window from night-time NEE (``partGLFitNightTimeTRespSens``).

    1. E0 by :func:`_fit_e0` in 12-day windows with at least 10 valid night records; windows
       without estimate are fitted again on 24, then 48 days.
    2. Fewer than 5 estimates, and fewer than 10 % of the windows: ValueError.
    3. E0 smoothed by :func:`_smooth_e0`.
    4. RRef at 15 degC with that E0: least squares through the origin on the night records of
       the 12-day windows, negative values set to 0, windows without estimate filled forward.
    """
    n = nee.size
    win = windows(n, records_per_day, NIGHT_WINDOW)
    fits = _e0_windows(nee, tair, is_night, win)
    day_start = win.day_start.copy()
    for size in NIGHT_EXTENSIONS:
        missing = ~np.isfinite(fits[:, 0])
        if not missing.any():
            break
        wider = windows(n, records_per_day, size)
        fits[missing] = _e0_windows(nee, tair, is_night, wider)[missing]
        day_start[missing] = wider.day_start[missing]
    n_finite = int(np.isfinite(fits[:, 0]).sum())
    if n_finite < 5 and n_finite < 0.1 * fits.shape[0]:
        raise ValueError(f"estimated valid temperature sensitivity for only {n_finite} windows")
    e0, sd_e0 = _smooth_e0(fits[:, 0], fits[:, 1], win.central, np.ceil(day_start / 365.0))

    rref = np.full(e0.size, np.nan)
    for i, (start, stop) in enumerate(zip(win.start, win.stop)):
        sl = slice(start, stop)
        valid = _night_records(is_night[sl], nee[sl], tair[sl])
        if valid.sum() >= MIN_RECORDS:
            x = np.exp(e0[i] * _temperature_term(tair[sl][valid], T_REF))
            rref[i] = max(0.0, float(x @ nee[sl][valid] / (x @ x)))
    if not np.isfinite(rref).any():
        raise ValueError(f"no window with {MIN_RECORDS} valid night-time records to estimate RRef")
    return TemperatureSensitivity(e0=e0, sd_e0=sd_e0, rref=_fill_forward(rref))


# --- daytime light-response fits ----------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    """Valid daytime records of one window: NEE and its SD (umol m-2 s-1), Rg, VPD, Tair."""

    nee: np.ndarray
    sd: np.ndarray
    rg: np.ndarray
    vpd: np.ndarray
    tair: np.ndarray

    def take(self, index: np.ndarray) -> _Day:
        return _Day(*(values[index] for values in (self.nee, self.sd, self.rg, self.vpd, self.tair)))


@dataclass(frozen=True)
class _Fit:
    """One optimisation: full theta, free positions, cost, convergence code, residual Jacobian."""

    theta: np.ndarray
    free: tuple[int, ...]
    cost: float
    code: int
    jac: np.ndarray | None = None


def _free(fixed_vpd: bool, fixed_alpha: bool) -> tuple[int, ...]:
    """Positions optimised (``getOptimizedParameterPositions``): k unless fixed, alpha unless fixed."""
    return tuple(i for i in (K, BETA, ALPHA, RREF)
                 if not (i == K and fixed_vpd) and not (i == ALPHA and fixed_alpha))


def _optimize(theta0: np.ndarray, free: tuple[int, ...], day: _Day, prior: np.ndarray) -> _Fit:
    """Weighted least squares with weak priors (``optimLRCOnAdjustedPrior``, ``computeCost``).

    Cost = sum(((NEP_model - NEP) / sd)^2) + sum(((theta - prior) / prior_sd)^2) over the free
    parameters, NEP = -NEE, sd = max(sd_NEE, its 30 % quantile) so that a few very certain
    records do not dominate. REddyProc minimises it with R's BFGS; here MINPACK's
    Levenberg-Marquardt. E0 stays fixed. The model is :func:`light_response` written out for
    speed: VPD enters as its excess over 10 hPa (0 below, and for a missing VPD, which only
    occurs with k fixed to 0).
    """
    floor = np.quantile(day.sd, 0.3)
    if floor == 0:
        raise ValueError("too many zeros in the uncertainty of NEE: daytime partitioning cannot weight the records")
    weight = 1.0 / np.maximum(day.sd, floor)
    nep = -day.nee
    free_list = list(free)
    with np.errstate(invalid="ignore"):
        excess = np.where(day.vpd > VPD0, day.vpd - VPD0, 0.0)
    exp_term = np.exp(theta0[E0] * _temperature_term(day.tair, T_REF))
    prior_weight = 1.0 / PRIOR_SD[free_list]
    prior_free = prior[free_list]
    prior_jacobian = np.diag(prior_weight)
    theta = theta0[:4].copy()

    def parts(x: np.ndarray) -> tuple[np.ndarray, ...]:
        theta[free_list] = x
        k, beta, alpha, rref = theta
        factor = np.exp(-k * excess)
        amax = beta * factor
        alpha_rg = alpha * day.rg
        denominator = alpha_rg + amax
        return k, beta, alpha, rref, factor, amax, alpha_rg, denominator

    def residuals(x: np.ndarray) -> np.ndarray:
        *_, rref, _, amax, alpha_rg, denominator = parts(x)
        model = amax * alpha_rg / denominator - rref * exp_term
        return np.concatenate(((model - nep) * weight, (x - prior_free) * prior_weight))

    def jacobian(x: np.ndarray) -> np.ndarray:
        _, _, _, _, factor, amax, alpha_rg, denominator = parts(x)
        d_amax = (alpha_rg / denominator) ** 2
        columns = (-d_amax * amax * excess, d_amax * factor, (amax / denominator) ** 2 * day.rg, -exp_term)
        d_model = np.column_stack([columns[i] for i in free_list]) * weight[:, None]
        return np.vstack((d_model, prior_jacobian))

    try:
        result = least_squares(residuals, theta0[free_list], jac=jacobian, method="lm", x_scale="jac")
    except ValueError:  # residuals not finite at the start
        return _Fit(theta=np.full(5, np.nan), free=free, cost=np.nan, code=CODE_NOT_CONVERGED)
    fitted = theta0.copy()
    fitted[free_list] = result.x
    converged = result.status > 0 and np.isfinite(result.fun).all()
    return _Fit(theta=fitted, free=free, cost=2.0 * result.cost, code=CODE_OK if converged else CODE_NOT_CONVERGED,
                jac=result.jac)


def _fit_with_refits(start: np.ndarray, prior: np.ndarray, day: _Day, last_alpha: float,
                     neglect_vpd: bool) -> _Fit:
    """Fit, refitting with k = 0 or alpha of the last good window when out of range (``optimLRCBounds``).

    k is fixed to 0 if VPD is neglected; k is not fitted (kept at its start) when no VPD reaches
    10 hPa. k < 0 refits with k = 0; alpha > 0.22 refits with alpha of the last good window
    (0.22 before the first). A fit that does not converge, or has alpha < 0, RRef < 0, beta < 0
    or beta >= 250, is rejected (theta NaN, code 1 or 1002).
    """
    fixed_alpha_value = last_alpha if np.isfinite(last_alpha) else ALPHA_MAX
    fixed_vpd = neglect_vpd or not (day.vpd >= VPD0).any()
    fixed_alpha = False
    theta0 = start.copy()
    if neglect_vpd:
        theta0[K] = 0.0
    fit = _optimize(theta0, _free(fixed_vpd, fixed_alpha), day, prior)
    if not fit.theta[K] >= 0:
        fixed_vpd, theta0[K] = True, 0.0
        fit = _optimize(theta0, _free(fixed_vpd, fixed_alpha), day, prior)
        if not fit.theta[ALPHA] <= ALPHA_MAX:
            fixed_alpha, theta0[ALPHA] = True, fixed_alpha_value
            fit = _optimize(theta0, _free(fixed_vpd, fixed_alpha), day, prior)
    elif not fit.theta[ALPHA] <= ALPHA_MAX:
        fixed_alpha, theta0[ALPHA] = True, fixed_alpha_value
        fit = _optimize(theta0, _free(fixed_vpd, fixed_alpha), day, prior)
        if not fit.theta[K] >= 0:
            fixed_vpd, theta0[K] = True, 0.0
            fit = _optimize(theta0, _free(fixed_vpd, fixed_alpha), day, prior)
    theta = fit.theta
    if fit.code != CODE_OK:
        return _Fit(theta=np.full(5, np.nan), free=fit.free, cost=np.nan, code=fit.code)
    if theta[ALPHA] < 0 or theta[RREF] < 0 or theta[BETA] < 0 or theta[BETA] >= BETA_MAX:
        return _Fit(theta=np.full(5, np.nan), free=fit.free, cost=np.nan, code=CODE_OUT_OF_BOUNDS)
    return fit


def _bootstrap_covariance(fit: _Fit, prior: np.ndarray, day: _Day, sd_e0: float, n_boot: int,
                          rng: np.random.Generator) -> np.ndarray | None:
    """Covariance of theta from refits on resampled records with E0 ~ N(E0, sd_e0) in [50, 400] K.

    As REddyProc ``.bootStrapLRCFit``: None if fewer than 80 % of the refits converge.
    """
    e0_draws = np.clip(rng.normal(fit.theta[E0], sd_e0, n_boot), *E0_RANGE)
    samples = np.full((n_boot, 5), np.nan)
    for b in range(n_boot):
        theta = fit.theta.copy()
        theta[E0] = e0_draws[b]
        try:
            refit = _optimize(theta, fit.free, day.take(rng.integers(0, day.nee.size, day.nee.size)), prior)
        except ValueError:  # a resample with too many zero uncertainties
            continue
        if refit.code == CODE_OK:
            samples[b] = refit.theta
    ok = np.isfinite(samples[:, 0])
    if ok.sum() < 0.8 * n_boot:
        return None
    return np.cov(samples[ok], rowvar=False)


def _curvature_covariance(fit: _Fit, sd_e0: float) -> np.ndarray | None:
    """Covariance of theta as the inverse Hessian of the cost, with var(E0) = sd_e0^2.

    REddyProc inverts R's numerical Hessian of the cost; here its Gauss-Newton form 2 J'J. If the
    first free parameter has no curvature its row stays 0. None if the Hessian is singular.
    """
    hessian = 2.0 * fit.jac.T @ fit.jac
    inverse = np.zeros_like(hessian)
    try:
        if hessian[0, 0] < 1e-8:
            inverse[1:, 1:] = np.linalg.inv(hessian[1:, 1:])
        else:
            inverse = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return None
    cov = np.zeros((5, 5))
    cov[E0, E0] = sd_e0 ** 2
    cov[np.ix_(fit.free, fit.free)] = inverse
    return cov


@dataclass(frozen=True)
class _WindowResult:
    """Light-response fit of one window: theta, its covariance, free positions (incl. E0), code."""

    theta: np.ndarray
    cov: np.ndarray
    free: tuple[int, ...]
    code: int


def _rejected(code: int) -> _WindowResult:
    """A window without fit, with its REddyProc error code."""
    return _WindowResult(theta=np.full(5, np.nan), cov=np.full((5, 5), np.nan), free=(), code=code)


def _fit_window(day: _Day, e0: float, sd_e0: float, rref_night: float, last_alpha: float,
                neglect_vpd: bool, n_boot: int, rng: np.random.Generator) -> _WindowResult:
    """Fit one window from three starting betas and estimate the covariance (``fitLRC``).

    Priors and starts: k = 0.05, beta = |3 % - 97 % quantile of NEE| (also * 1.3 and * 0.8),
    alpha = 0.1, RRef = night-time RRef; the fit with the lowest cost is kept. The covariance
    comes from :func:`_bootstrap_covariance` (``n_boot`` > 0) or :func:`_curvature_covariance`.
    A window is rejected when beta > 100 and its SD >= beta (code 1002).
    """
    low, high = np.quantile(day.nee, [0.03, 0.97])
    prior = np.array([PRIOR_K, abs(low - high), PRIOR_ALPHA, rref_night, e0])
    best: _Fit | None = None
    first_code = None
    for factor in (1.0, 1.3, 0.8):
        start = prior.copy()
        start[BETA] *= factor
        fit = _fit_with_refits(start, prior, day, last_alpha, neglect_vpd)
        first_code = fit.code if first_code is None else first_code
        if np.isfinite(fit.theta[K]) and (best is None or fit.cost < best.cost):
            best = fit
    if best is None:
        return _rejected(first_code)
    if n_boot > 0:
        cov = _bootstrap_covariance(best, prior, day, sd_e0, n_boot, rng)
        if cov is None:
            return _rejected(CODE_BOOTSTRAP_FAILED)
    else:
        cov = _curvature_covariance(best, sd_e0)
        if cov is None:
            return _rejected(CODE_SINGULAR_HESSIAN)
        if (np.diag(cov) < 0).any():
            return _rejected(CODE_NEGATIVE_VARIANCE)
    sd_beta = np.sqrt(cov[BETA, BETA])
    if best.theta[BETA] > 100 and sd_beta >= best.theta[BETA]:
        return _rejected(CODE_OUT_OF_BOUNDS)
    return _WindowResult(theta=best.theta, cov=cov, free=best.free + (E0,), code=best.code)


@dataclass(frozen=True)
class WindowFits:
    """Light-response fits of all 4-day windows (REddyProc ``partGLFitLRCWindows``).

    Per window: ``central`` record (0-based), ``mean_record`` (0-based mean position of the
    valid records, NaN if none), ``n_valid`` records, ``code`` (0 fitted, else the
    ``FP_errorcode``), ``theta`` (window x 5, NaN if not fitted), ``sd`` (SD of the free
    parameters, E0's from the night-time estimate), ``cov`` (window x 5 x 5), ``fixed_any``
    (1 if k or alpha was fixed, NaN if not fitted: ``FP_qc``), the night-time ``rref_night`` and
    ``gpp2000`` (GPP at Rg = 2000 W m-2 without VPD limitation). E0 and its SD in ``theta`` and
    ``sd`` are the night-time estimates, given for every window.
    """

    central: np.ndarray
    mean_record: np.ndarray
    n_valid: np.ndarray
    code: np.ndarray
    theta: np.ndarray
    sd: np.ndarray
    cov: np.ndarray
    fixed_any: np.ndarray
    rref_night: np.ndarray
    gpp2000: np.ndarray


def fit_windows(nee: np.ndarray, sd_nee: np.ndarray, tair: np.ndarray, vpd: np.ndarray,
                rg: np.ndarray, is_day: np.ndarray, records_per_day: int,
                sensitivity: TemperatureSensitivity, *, neglect_vpd: bool = False, n_boot: int = 30,
                rng: np.random.Generator) -> WindowFits:
    """Fit the light-response curve in 4-day windows moved by 2 days (``partGLFitLRCOneWindow``).

    Valid records: day, finite NEE, SD, Tair, Rg and (unless ``neglect_vpd``) VPD. With fewer
    than 10 the VPD constraint is dropped and k fixed to 0 for that window; with still fewer
    than 10 the window is not fitted (code 1011). A window whose alpha must be fixed takes the
    alpha of the last fitted window (:func:`_fit_with_refits`).
    """
    win = windows(nee.size, records_per_day, DAY_WINDOW)
    m = win.start.size
    base = is_day & np.isfinite(nee) & np.isfinite(tair) & np.isfinite(rg) & np.isfinite(sd_nee)
    with_vpd = base if neglect_vpd else base & np.isfinite(vpd)
    theta = np.full((m, 5), np.nan)
    sd = np.full((m, 5), np.nan)
    cov = np.full((m, 5, 5), np.nan)
    code = np.zeros(m, dtype=int)
    fixed_any = np.full(m, np.nan)
    mean_record = np.full(m, np.nan)
    n_valid = np.zeros(m, dtype=int)
    last_alpha = np.nan
    for i, (start, stop) in enumerate(zip(win.start, win.stop)):
        sl = slice(start, stop)
        valid, window_neglects_vpd = with_vpd[sl], neglect_vpd
        mean_record[i] = _mean_record(valid, start)
        n_valid[i] = valid.sum()
        if valid.sum() < MIN_RECORDS:
            valid, window_neglects_vpd = base[sl], True
            mean_record[i] = _mean_record(valid, start)
            n_valid[i] = valid.sum()
            if valid.sum() < MIN_RECORDS:
                code[i] = CODE_TOO_FEW_RECORDS
                continue
        day = _Day(nee[sl][valid], sd_nee[sl][valid], rg[sl][valid], vpd[sl][valid], tair[sl][valid])
        result = _fit_window(day, sensitivity.e0[i], sensitivity.sd_e0[i], sensitivity.rref[i], last_alpha,
                             window_neglects_vpd, n_boot, rng)
        code[i] = result.code
        if not np.isfinite(result.theta[K]):
            continue
        theta[i], cov[i] = result.theta, result.cov
        free = list(result.free)
        sd[i, free] = np.sqrt(np.diag(result.cov)[free])
        fixed_any[i] = float(len(result.free) < 5)
        last_alpha = result.theta[ALPHA]
    theta[:, E0] = sensitivity.e0
    sd[:, E0] = sensitivity.sd_e0
    saturated = 2000.0 * theta[:, ALPHA]
    return WindowFits(central=win.central, mean_record=mean_record, n_valid=n_valid, code=code, theta=theta,
                      sd=sd, cov=cov, fixed_any=fixed_any, rref_night=sensitivity.rref,
                      gpp2000=theta[:, BETA] * saturated / (saturated + theta[:, BETA]))


# --- interpolation between windows ---------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """Per record: GPP, Reco and their SDs (umol m-2 s-1); ``d_record``: records to the nearer
    parameter record (REddyProc ``FP_dRecPar``)."""

    gpp: np.ndarray
    reco: np.ndarray
    sd_gpp: np.ndarray
    sd_reco: np.ndarray
    d_record: np.ndarray


def interpolate(fits: WindowFits, rg: np.ndarray, vpd: np.ndarray, tair: np.ndarray) -> Prediction:
    """GPP and Reco of every record from the fits of the windows before and after it.

    As REddyProc ``partGLInterpolateFluxes``: each fitted window is anchored at the mean record
    of its valid data (the first of windows sharing an anchor is kept). A record between two
    anchors gets ``w_before * f(theta_before) + w_after * f(theta_after)`` with weights
    proportional to the distance to the other anchor (summing to 1); records at an anchor or
    outside the first/last anchor get that window's prediction. Temperatures below -40 degC are
    set to -40 degC, negative Rg to 0 W m-2 (REddyProc keeps it, giving negative GPP).
    SD = sqrt(w_before^2 var_before + w_after^2 var_after), var = g' C g with g the gradient
    with respect to (k, beta, alpha) for GPP and (RRef, E0) for Reco and C the window's
    parameter covariance.
    """
    fitted = np.flatnonzero(np.isfinite(fits.theta[:, K]))
    if fitted.size == 0:
        raise ValueError("could not fit a single window in daytime partitioning; check the data")
    anchors, first = np.unique(fits.mean_record[fitted].astype(int), return_index=True)
    theta, cov = fits.theta[fitted][first], fits.cov[fitted][first]
    n = rg.size
    records = np.arange(n)
    after = np.clip(np.searchsorted(anchors, records, side="left"), 0, anchors.size - 1)
    before = np.clip(np.searchsorted(anchors, records, side="right") - 1, 0, anchors.size - 1)
    span = anchors[after] - anchors[before]
    w_after = np.where(span > 0, (records - anchors[before]) / np.where(span > 0, span, 1), 0.5)
    w_before = 1.0 - w_after
    tair = np.maximum(tair, MIN_PREDICTION_TEMP)
    rg = np.maximum(rg, 0.0)

    def predict(side: np.ndarray) -> tuple[np.ndarray, ...]:
        th = theta[side]
        gpp, reco = light_response(th, rg, vpd, tair)
        d_gpp, d_reco = _gradients(th, rg, vpd, tair)
        c = cov[side]
        var_gpp = np.einsum("ni,nij,nj->n", d_gpp, c[:, :3, :3], d_gpp)
        var_reco = np.einsum("ni,nij,nj->n", d_reco, c[:, 3:, 3:], d_reco)
        return gpp, reco, var_gpp, var_reco

    gpp_b, reco_b, vg_b, vr_b = predict(before)
    gpp_a, reco_a, vg_a, vr_a = predict(after)
    d_before, d_after = anchors[before] - records, anchors[after] - records
    return Prediction(
        gpp=w_before * gpp_b + w_after * gpp_a,
        reco=w_before * reco_b + w_after * reco_a,
        sd_gpp=np.sqrt(w_before ** 2 * vg_b + w_after ** 2 * vg_a),
        sd_reco=np.sqrt(w_before ** 2 * vr_b + w_after ** 2 * vr_a),
        d_record=np.where(np.abs(d_before) <= np.abs(d_after), d_before, d_after),
    )


# --- the whole procedure --------------------------------------------------------------------


@dataclass(frozen=True)
class DaytimePartition:
    """Result of :func:`partition`: the window fits, the per-record prediction and ``qc`` per
    record (REddyProc ``FP_qc``: 0 all parameters fitted, 1 k or alpha fixed, 2 nearest
    parameter record more than 14 days away)."""

    fits: WindowFits
    prediction: Prediction
    qc: np.ndarray


def partition(nee: np.ndarray, sd_nee: np.ndarray, tair: np.ndarray, vpd: np.ndarray, rg: np.ndarray,
              is_day: np.ndarray, is_night: np.ndarray, records_per_day: int, *, n_boot: int = 30,
              rng: np.random.Generator) -> DaytimePartition:
    """Daytime partitioning of a regular series (REddyProc ``partitionNEEGL``, default control).

    ``nee`` holds only the records to fit (others NaN), ``sd_nee`` their uncertainty; Tair, VPD
    and Rg are used for the fits where finite and for the prediction of every record. Records
    whose VPD is missing and that therefore got no GPP are predicted again from fits neglecting
    VPD (``isRefitMissingVPDWithNeglectVPDEffect``). A warning reports records still without GPP.
    """
    sensitivity = temperature_sensitivity(nee, tair, is_night, records_per_day)
    fits = fit_windows(nee, sd_nee, tair, vpd, rg, is_day, records_per_day, sensitivity, n_boot=n_boot, rng=rng)
    prediction = interpolate(fits, rg, vpd, tair)
    anchored_fits = fits
    missing_vpd = np.isnan(vpd) & np.isnan(prediction.gpp)
    if missing_vpd.any():
        anchored_fits = fit_windows(nee, sd_nee, tair, vpd, rg, is_day, records_per_day, sensitivity,
                                    neglect_vpd=True, n_boot=n_boot, rng=rng)
        without_vpd = interpolate(anchored_fits, rg, vpd, tair)
        prediction = Prediction(
            *(np.where(missing_vpd, new, old) for new, old in zip(
                (without_vpd.gpp, without_vpd.reco, without_vpd.sd_gpp, without_vpd.sd_reco, without_vpd.d_record),
                (prediction.gpp, prediction.reco, prediction.sd_gpp, prediction.sd_reco, prediction.d_record))))
    n_missing = int(np.isnan(prediction.gpp).sum())
    if n_missing:
        warnings.warn(f"could not predict GPP in {n_missing} cases", RuntimeWarning, stacklevel=3)
    return DaytimePartition(fits=fits, prediction=prediction,
                            qc=_quality_flags(fits, anchored_fits, prediction.d_record, records_per_day))


def _quality_flags(fits: WindowFits, anchored_fits: WindowFits, d_record: np.ndarray,
                   records_per_day: int) -> np.ndarray:
    """``FP_qc`` of every record, transferred as REddyProc does.

    The flag of a window (``fixed_any``) is written at its central record, copied to its mean
    record (anchor; REddyProc takes the anchors of the last fit, the one neglecting VPD when it
    was needed) and read by each record at its nearest anchor; 2 where that is more than 14
    days away.
    """
    qc = np.full(d_record.size, np.nan)
    qc[fits.central] = fits.fixed_any
    has_anchor = np.isfinite(anchored_fits.mean_record)
    qc[anchored_fits.mean_record[has_anchor].astype(int)] = qc[anchored_fits.central[has_anchor]]
    qc = qc[np.arange(d_record.size) + d_record]
    qc[np.abs(d_record) > 14 * records_per_day] = 2.0
    return qc
