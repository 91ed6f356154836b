"""Uncertainty of emission and removal estimates (IPCC 2006 Guidelines Vol.1 Ch.3).

* Approach 1, error propagation: Eq 3.1 for products, Eq 3.2 for sums;
* Approach 2, Monte Carlo simulation.

Uncertainties are *relative half-widths of the 95 % confidence interval* written as fractions
(0.05 means ±5 %), the convention of IPCC Vol.1 Ch.3 (which prints them in percent).
Approach 1 assumes independent inputs and relative uncertainties below about 60 %
(Vol.1 Ch.3 section 3.2.3.1); use Approach 2 otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from carbonlib.emissions import fuel_combustion

__all__ = [
    "MonteCarloResult", "Propagated", "fuel_combustion_uncertainty", "monte_carlo",
    "normal_from_uncertainty", "paired_difference_u95", "propagate_product", "propagate_sum",
    "stock_change_uncertainty",
]

#: Two-sided 95 % quantile of the standard normal distribution.
Z95 = 1.959963984540054


class Propagated(NamedTuple):
    """A value with its relative 95 % uncertainty (fraction)."""

    value: float
    rel_uncertainty: float

    @property
    def half_width(self) -> float:
        """Absolute half-width of the 95 % interval, in the unit of ``value``."""
        return abs(self.value) * self.rel_uncertainty


def _quadrature(uncertainties: Sequence[float] | np.ndarray) -> float:
    """Root of the sum of squares of non-negative uncertainties."""
    u = np.asarray(uncertainties, dtype=float)
    if np.any(u < 0):
        raise ValueError(f"uncertainties must be non-negative, got {u.tolist()}")
    return float(np.sqrt(np.sum(u ** 2)))


def propagate_product(values: Sequence[float], rel_uncertainties: Sequence[float]) -> Propagated:
    """Uncertainty of a product, IPCC 2006 Vol.1 Eq 3.1: U = sqrt(U_1² + U_2² + ... + U_n²).

    Parameters
    ----------
    values : sequence of float
        Factors of the product (e.g. activity data, NCV, carbon content, oxidation).
    rel_uncertainties : sequence of float
        Relative 95 % uncertainty of each factor, as fractions.

    Returns
    -------
    Propagated
        Product and its relative uncertainty.
    """
    x = np.asarray(values, dtype=float)
    u = np.asarray(rel_uncertainties, dtype=float)
    if x.shape != u.shape:
        raise ValueError(f"{x.size} values but {u.size} uncertainties")
    return Propagated(float(np.prod(x)), _quadrature(u))


def propagate_sum(values: Sequence[float], uncertainties: Sequence[float], *,
                  relative: bool = True) -> Propagated:
    """Uncertainty of a sum, IPCC 2006 Vol.1 Eq 3.2.

    U_total = sqrt((U_1·x_1)² + ... + (U_n·x_n)²) / |x_1 + ... + x_n|.

    Parameters
    ----------
    values : sequence of float
        Terms of the sum (e.g. emissions by source, tCO2e); may be negative (removals).
    uncertainties : sequence of float
        Relative uncertainties (fractions) of each term, or absolute half-widths in the unit of
        ``values`` when ``relative=False``.
    relative : bool
        Whether ``uncertainties`` are relative (default) or absolute.

    Returns
    -------
    Propagated
        Sum and its relative uncertainty.

    Raises
    ------
    ValueError
        If the sum is zero (relative uncertainty undefined) or lengths differ.
    """
    x = np.asarray(values, dtype=float)
    u = np.asarray(uncertainties, dtype=float)
    if x.shape != u.shape:
        raise ValueError(f"{x.size} values but {u.size} uncertainties")
    total = float(np.sum(x))
    if total == 0:
        raise ValueError("the sum is zero: its relative uncertainty is undefined")
    half_widths = u * np.abs(x) if relative else u
    return Propagated(total, _quadrature(half_widths) / abs(total))


def normal_from_uncertainty(mean: float, rel_uncertainty: float) -> Any:
    """A normal distribution whose 95 % interval is mean × (1 ± rel_uncertainty).

    Parameters
    ----------
    mean : float
        Expected value.
    rel_uncertainty : float
        Relative 95 % half-width, fraction (sd = mean × U / 1.96).

    Returns
    -------
    scipy.stats frozen distribution
    """
    from scipy import stats

    return stats.norm(loc=mean, scale=abs(mean) * rel_uncertainty / Z95)


@dataclass(frozen=True)
class MonteCarloResult:
    """Summary of a Monte Carlo run (IPCC Approach 2).

    Attributes
    ----------
    mean, median : float
        Of the simulated output.
    ci_low, ci_high : float
        2.5th and 97.5th percentiles.
    n : int
        Number of draws.
    """

    mean: float
    median: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def rel_uncertainty(self) -> float:
        """Half the 95 % interval width relative to the mean (IPCC's symmetric summary)."""
        return (self.ci_high - self.ci_low) / 2.0 / abs(self.mean)


def monte_carlo(func: Callable[..., np.ndarray], distributions: Mapping[str, Any], *,
                n: int = 20_000, seed: int | None = None) -> MonteCarloResult:
    """Propagate input distributions through ``func`` by simulation (IPCC Approach 2).

    Parameters
    ----------
    func : callable
        Vectorised model called as ``func(**samples)`` with one numpy array of length ``n`` per
        input; returns an array of ``n`` outputs.
    distributions : mapping of str to distribution or float
        Input name -> object with ``rvs(size=..., random_state=...)`` (a scipy.stats frozen
        distribution, e.g. from :func:`normal_from_uncertainty`), or a plain number held fixed.
    n : int
        Number of draws.
    seed : int, optional
        Seed of the random generator, for reproducible results.

    Returns
    -------
    MonteCarloResult
    """
    if n < 100:
        raise ValueError(f"n must be at least 100 draws for a 95 % interval, got {n}")
    rng = np.random.default_rng(seed)
    samples = {
        name: (np.full(n, float(dist)) if np.isscalar(dist)
               else np.asarray(dist.rvs(size=n, random_state=rng), dtype=float))
        for name, dist in distributions.items()
    }
    out = np.asarray(func(**samples), dtype=float)
    low, median, high = np.percentile(out, [2.5, 50.0, 97.5])
    return MonteCarloResult(mean=float(out.mean()), median=float(median), ci_low=float(low),
                            ci_high=float(high), n=n)


def fuel_combustion_uncertainty(
    amount: float,
    unit: str,
    fuel: str | None = None,
    *,
    u_amount: float,
    u_ncv: float,
    u_carbon_content: float,
    u_oxidation: float = 0.0,
    **parameters: Any,
) -> Propagated:
    """Fuel combustion CO2 with its Approach 1 uncertainty (Eq 3.1 on E = FC × NCV × CC × OF).

    Parameters
    ----------
    amount, unit, fuel
        As in :func:`carbonlib.emissions.fuel_combustion`.
    u_amount, u_ncv, u_carbon_content, u_oxidation : float
        Relative 95 % uncertainties (fractions) of fuel consumption, NCV, carbon content and
        oxidation factor.
    **parameters
        Passed to :func:`carbonlib.emissions.fuel_combustion` (``ncv``, ``ncv_unit``,
        ``carbon_content``, ``oxidation``, ``family``).

    Returns
    -------
    Propagated
        Emissions (tCO2) and relative uncertainty.
    """
    emissions = float(fuel_combustion(amount, unit, fuel, **parameters))
    return Propagated(emissions, _quadrature([u_amount, u_ncv, u_carbon_content, u_oxidation]))


def stock_change_uncertainty(
    volume_t1_m3: float,
    volume_t2_m3: float,
    years: float,
    *,
    wood_density: float,
    bef: float,
    root_shoot: float,
    carbon_fraction: float,
    u_volume: float,
    u_wood_density: float,
    u_bef: float,
    u_root_shoot: float,
    u_carbon_fraction: float,
) -> Propagated:
    """Annual carbon stock change by stock difference with its Approach 1 uncertainty.

    ΔC = (V2 − V1) × WD × BEF × (1 + R) × CF / years, in tC per year (IPCC 2006 Vol.4
    Eq 2.8 and 2.5).  The two surveys use the same WD, BEF, R and CF, so those parameter
    errors are fully correlated between the surveys and act once on the difference; the
    volume errors of the two surveys are independent (sampling error):

    * U(V2 − V1) = sqrt((u_V·V1)² + (u_V·V2)²) / |V2 − V1|  (Eq 3.2, absolute terms),
    * U(1 + R) = u_R · R / (1 + R)  (a relative error on R moves only the root share),
    * U(ΔC) = sqrt(U(ΔV)² + u_WD² + u_BEF² + U(1+R)² + u_CF²)  (Eq 3.1).

    All ``u_*`` are relative 95 % uncertainties as fractions.  The volume-difference term
    grows large when the stock barely changed; use :func:`monte_carlo` when any relative
    uncertainty exceeds about 60 %.
    """
    if years <= 0:
        raise ValueError(f"years between the surveys must be positive, got {years}")
    difference = volume_t2_m3 - volume_t1_m3
    if difference == 0:
        raise ValueError("the two surveys have the same volume: the relative uncertainty of a zero change is undefined")
    u_difference = _quadrature([u_volume * volume_t1_m3, u_volume * volume_t2_m3]) / abs(difference)
    u_expansion = u_root_shoot * root_shoot / (1 + root_shoot)
    change_tc = difference * wood_density * bef * (1 + root_shoot) * carbon_fraction / years
    return Propagated(change_tc, _quadrature([u_difference, u_wood_density, u_bef, u_expansion, u_carbon_fraction]))


def paired_difference_u95(differences: Sequence[float] | np.ndarray) -> float:
    """Half-width of the 95 % confidence interval of the mean of paired differences, in their unit.

    ``t(0.975, n - 1) * sd(d) / sqrt(n)`` (Student's t, sample SD with n - 1): the sampling uncertainty of a
    change measured on the same permanent plots twice, d = plot value at the second survey minus the first
    (IPCC 2006 Vol.4 Ch.2 section 2.2.4 stock-difference sampling; Vol.1 Ch.3 Eq 3.1 combines independent
    samples).  NaN when fewer than two pairs are given (no spread to estimate).
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size))
