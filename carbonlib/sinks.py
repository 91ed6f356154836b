"""Forest carbon sink accounting (clauses 3.2, 6.4.3): biomass expansion, stock difference,
gain-loss, removals by sinks and creditable quantities.

Methods: IPCC 2006 Guidelines Vol.4 (AFOLU) Ch.2 —

* Eq 2.7 gain-loss: ΔC_B = ΔC_G − ΔC_L;
* Eq 2.8 stock difference: ΔC_B = (C_t2 − C_t1) / (t2 − t1), with stocks from volume
  C = V × BCEF × (1 + R) × CF and BCEF = WD × BEF;
* Eq 2.9/2.10 gains: ΔC_G = A × G_W × (1 + R) × CF;
* Eq 2.11-2.14 losses from wood removals, fuelwood and disturbance;

and the CCER afforestation methodology (AR-CM-001) for the tree biomass of a stand
(B = V × WD × BEF × (1 + R)). Species defaults come from :func:`species_parameters`; every
function also takes explicit parameters, which win over defaults.

Units: volume m3, biomass t d.m. (dry matter), carbon tC, CO2 tCO2, area ha, time years.
"""

from __future__ import annotations

import datetime as _dt
from typing import TypeVar

import numpy as np

from carbonlib.factors import SpeciesParameters, species_parameters
from carbonlib.units import CO2_PER_C

__all__ = [
    "IPCC_DEFAULT_CARBON_FRACTION", "SpeciesParameters", "biomass_from_volume",
    "biomass_gain_tc", "carbon_stock", "credited_quantity", "disturbance_loss_tc", "gain_loss",
    "removals_by_sinks", "species_parameters", "stock_difference", "to_co2",
    "wood_removal_loss_tc",
]

#: Default carbon fraction of dry matter, tC/t d.m.: IPCC 2006 Vol.4 Ch.4 Table 4.3.
IPCC_DEFAULT_CARBON_FRACTION = 0.47

ArrayLike = TypeVar("ArrayLike")

_DAYS_PER_YEAR = 365.25


def biomass_from_volume(
    volume_m3: ArrayLike,
    wood_density: float | None = None,
    bef: float | None = None,
    root_shoot: float | None = None,
    *,
    bcef: float | None = None,
    species_group: str | None = None,
) -> ArrayLike:
    """Total (above- plus below-ground) tree biomass from stem volume.

    B = V × WD × BEF × (1 + R), or B = V × BCEF × (1 + R) with BCEF = WD × BEF
    (IPCC 2006 Vol.4 Eq 2.8; CCER AR-CM-001).

    Parameters
    ----------
    volume_m3 : float, numpy.ndarray or pandas.Series
        Merchantable stem volume over bark, m3.
    wood_density : float, optional
        Basic wood density WD, t d.m./m3.
    bef : float, optional
        Biomass expansion factor from stem to above-ground biomass, dimensionless.
    root_shoot : float, optional
        Root-to-shoot ratio R, dimensionless.
    bcef : float, optional
        Biomass conversion and expansion factor, t d.m./m3; replaces ``wood_density`` × ``bef``.
    species_group : str, optional
        Species group whose defaults fill any parameter not given (see
        :func:`species_parameters`).

    Returns
    -------
    same type as ``volume_m3``
        Biomass, t d.m.

    Raises
    ------
    ValueError
        Missing parameters, ``bcef`` given together with ``wood_density``/``bef``, or a species
        group that is not volume-based (bamboo).
    """
    if bcef is not None and (wood_density is not None or bef is not None):
        raise ValueError("give either bcef or wood_density and bef, not both (BCEF = WD × BEF)")
    if species_group is not None:
        defaults = species_parameters(species_group)
        if not defaults.volume_based:
            raise ValueError(f"species group {species_group!r} is not volume-based: its biomass "
                             f"is not derived from stem volume ({defaults.source})")
        if bcef is None:
            wood_density = defaults.wood_density if wood_density is None else wood_density
            bef = defaults.bef if bef is None else bef
        root_shoot = defaults.root_shoot if root_shoot is None else root_shoot
    needed = {"root_shoot": root_shoot}
    if bcef is None:
        needed.update(wood_density=wood_density, bef=bef)
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: pass them explicitly or give a "
                         f"species_group to use its defaults")
    expansion = bcef if bcef is not None else wood_density * bef
    return volume_m3 * expansion * (1.0 + root_shoot)


def carbon_stock(biomass_t: ArrayLike,
                 carbon_fraction: float = IPCC_DEFAULT_CARBON_FRACTION) -> ArrayLike:
    """Carbon in biomass, C = B × CF.

    Parameters
    ----------
    biomass_t : float, numpy.ndarray or pandas.Series
        Biomass, t d.m.
    carbon_fraction : float
        tC/t d.m.; default 0.47 (IPCC 2006 Vol.4 Table 4.3). Species values are in
        :func:`species_parameters`.

    Returns
    -------
    same type as ``biomass_t``
        Carbon, tC.
    """
    if not 0.0 < carbon_fraction < 1.0:
        raise ValueError(f"carbon_fraction must be a fraction in (0, 1), got {carbon_fraction!r}")
    return biomass_t * carbon_fraction


def to_co2(tc: ArrayLike) -> ArrayLike:
    """Convert tonnes of carbon to tonnes of CO2 (× 44/12).

    Parameters
    ----------
    tc : float, numpy.ndarray or pandas.Series
        Carbon, tC.

    Returns
    -------
    same type as ``tc``
        tCO2.
    """
    return tc * CO2_PER_C


def _as_years(t: int | float | _dt.date | np.datetime64) -> float:
    """A time point as (fractional) years: numbers pass through, dates count days / 365.25."""
    if isinstance(t, (_dt.date, np.datetime64)) or hasattr(t, "to_datetime64"):
        days = np.datetime64(t, "D").astype("int64")  # days since 1970-01-01
        return 1970.0 + float(days) / _DAYS_PER_YEAR
    return float(t)


def stock_difference(c_t1: ArrayLike, c_t2: ArrayLike,
                     t1: int | float | _dt.date, t2: int | float | _dt.date) -> ArrayLike:
    """Annual carbon stock change by the stock-difference method (IPCC 2006 Vol.4 Eq 2.8).

    ΔC = (C_t2 − C_t1) / (t2 − t1).

    Parameters
    ----------
    c_t1, c_t2 : float, numpy.ndarray or pandas.Series
        Stocks at the two inventories (tC, or tCO2: the result keeps the unit).
    t1, t2 : int, float, datetime.date, numpy.datetime64 or pandas.Timestamp
        Inventory times: years (2018, 2023.5) or dates (interval = days / 365.25).

    Returns
    -------
    same type as the stocks
        Stock change per year (positive = net removal).

    Raises
    ------
    ValueError
        If ``t2`` is not after ``t1``.
    """
    years = _as_years(t2) - _as_years(t1)
    if years <= 0:
        raise ValueError(f"t2 ({t2!r}) must be after t1 ({t1!r})")
    return (c_t2 - c_t1) / years


def biomass_gain_tc(area_ha: ArrayLike, growth_t_dm_per_ha: float, root_shoot: float,
                    carbon_fraction: float = IPCC_DEFAULT_CARBON_FRACTION) -> ArrayLike:
    """Annual carbon gain from biomass growth, ΔC_G = A × G_W × (1 + R) × CF (Eq 2.9-2.10).

    Parameters
    ----------
    area_ha : float, numpy.ndarray or pandas.Series
        Forest area, ha.
    growth_t_dm_per_ha : float
        Above-ground biomass growth G_W, t d.m. ha^-1 yr^-1 (= I_V × BCEF_I from volume
        increment, Eq 2.10).
    root_shoot : float
        Root-to-shoot ratio R.
    carbon_fraction : float
        tC/t d.m.

    Returns
    -------
    same type as ``area_ha``
        tC per year.
    """
    return area_ha * growth_t_dm_per_ha * (1.0 + root_shoot) * carbon_fraction


def wood_removal_loss_tc(harvest_m3: ArrayLike, bcef_r: float, root_shoot: float,
                         carbon_fraction: float = IPCC_DEFAULT_CARBON_FRACTION) -> ArrayLike:
    """Annual carbon loss from wood removals, L = H × BCEF_R × (1 + R) × CF (Eq 2.12).

    Parameters
    ----------
    harvest_m3 : float, numpy.ndarray or pandas.Series
        Roundwood removals H, m3 per year.
    bcef_r : float
        Biomass conversion and expansion factor for removals, t d.m./m3.
    root_shoot : float
        Root-to-shoot ratio R.
    carbon_fraction : float
        tC/t d.m.

    Returns
    -------
    same type as ``harvest_m3``
        tC per year.
    """
    return harvest_m3 * bcef_r * (1.0 + root_shoot) * carbon_fraction


def disturbance_loss_tc(area_ha: ArrayLike, biomass_t_dm_per_ha: float, root_shoot: float,
                        fraction_lost: float,
                        carbon_fraction: float = IPCC_DEFAULT_CARBON_FRACTION) -> ArrayLike:
    """Annual carbon loss from disturbance, L = A × B_W × (1 + R) × CF × fd (Eq 2.14).

    Parameters
    ----------
    area_ha : float, numpy.ndarray or pandas.Series
        Area affected, ha per year.
    biomass_t_dm_per_ha : float
        Above-ground biomass B_W of the affected stands, t d.m./ha.
    root_shoot : float
        Root-to-shoot ratio R.
    fraction_lost : float
        Fraction of biomass lost fd (1 for stand-replacing disturbance).
    carbon_fraction : float
        tC/t d.m.

    Returns
    -------
    same type as ``area_ha``
        tC per year.
    """
    if not 0.0 <= fraction_lost <= 1.0:
        raise ValueError(f"fraction_lost must be within [0, 1], got {fraction_lost!r}")
    return area_ha * biomass_t_dm_per_ha * (1.0 + root_shoot) * carbon_fraction * fraction_lost


def gain_loss(growth_tc: ArrayLike, removals_tc: ArrayLike = 0.0, fuelwood_tc: ArrayLike = 0.0,
              disturbance_tc: ArrayLike = 0.0) -> ArrayLike:
    """Annual biomass carbon stock change by the gain-loss method (Eq 2.7 and 2.11).

    ΔC_B = ΔC_G − (L_wood-removals + L_fuelwood + L_disturbance).

    Parameters
    ----------
    growth_tc : float or array
        Gain ΔC_G, tC per year (:func:`biomass_gain_tc`).
    removals_tc, fuelwood_tc, disturbance_tc : float or array
        Losses, tC per year, as positive numbers (:func:`wood_removal_loss_tc`,
        :func:`disturbance_loss_tc`).

    Returns
    -------
    float or array
        ΔC_B, tC per year (positive = net removal).
    """
    for name, loss in (("removals_tc", removals_tc), ("fuelwood_tc", fuelwood_tc),
                       ("disturbance_tc", disturbance_tc)):
        if np.any(np.asarray(loss) < 0):
            raise ValueError(f"{name} is a loss and must be given as a positive amount")
    return growth_tc - (removals_tc + fuelwood_tc + disturbance_tc)


def removals_by_sinks(stock_change_tco2: ArrayLike,
                      emissions_in_boundary_tco2: ArrayLike) -> ArrayLike:
    """Carbon removals by sinks (碳汇量), T/QGCML 2364-2023 clause 3.2.

    The carbon stock change of the forest land / urban green space over the period minus the
    greenhouse gas emissions inside the monitoring boundary (e.g. fuel for site preparation,
    fertiliser N2O, biomass burning), both in CO2 terms.

    Parameters
    ----------
    stock_change_tco2 : float or array
        Stock change over the period, tCO2 (use :func:`to_co2` on tC).
    emissions_in_boundary_tco2 : float or array
        Emissions inside the monitoring boundary over the same period, tCO2e (positive).

    Returns
    -------
    float or array
        Removals by sinks, tCO2e.
    """
    if np.any(np.asarray(emissions_in_boundary_tco2) < 0):
        raise ValueError("emissions_in_boundary_tco2 must be a positive amount (it is deducted)")
    return stock_change_tco2 - emissions_in_boundary_tco2


def credited_quantity(verified_increase: ArrayLike, deduction_rate: float) -> ArrayLike:
    """Quantity that may be credited after a deduction (e.g. a non-permanence risk buffer).

    Q = verified increase × (1 − deduction rate).

    Parameters
    ----------
    verified_increase : float or array
        Verified net removals, tCO2e.
    deduction_rate : float
        Fraction withheld, in [0, 1) (e.g. 0.20 for a 20 % buffer).

    Returns
    -------
    float or array
        Creditable quantity, tCO2e.
    """
    if not 0.0 <= deduction_rate < 1.0:
        raise ValueError(f"deduction_rate must be a fraction in [0, 1), got {deduction_rate!r} "
                         f"(write 0.2 for 20 %)")
    return verified_increase * (1.0 - deduction_rate)
