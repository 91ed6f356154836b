"""Enterprise emission accounting: activity data × emission factors (clause 6.2.3).

Methods follow GB/T 32150-2015 (general requirements of enterprise GHG accounting) and the NDRC
24-industry accounting guidelines (2013-2015):

* fossil fuel combustion, formula (B.1)-(B.3) of GB/T 32150-2015:
  E = FC × NCV × CC × OF × 44/12;
* purchased / exported electricity: E = AD (MWh) × EF_grid (tCO2/MWh);
* purchased / exported heat: E = AD (GJ) × EF_heat (tCO2/GJ), default 0.11 tCO2/GJ;
* steam and hot water become GJ by the enthalpy formulas of the guidelines (heat section);
* non-CO2 gases become CO2e with the 100-year GWP of the chosen IPCC assessment.

CO2 from biomass combustion is reported as a memo item and excluded from the total.
All functions accept scalars, numpy arrays or pandas Series for the activity data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from carbonlib import factors
from carbonlib.units import CO2_PER_C, convert, normalise_unit, split_ratio

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EnterpriseEmissions", "enterprise_total", "exported_electricity", "exported_heat",
    "fuel_combustion", "hot_water_heat_gj", "non_co2", "process_emission",
    "purchased_electricity", "purchased_heat", "steam_heat_gj", "waste_incineration",
]

ArrayLike = TypeVar("ArrayLike")


def fuel_combustion(
    amount: ArrayLike,
    unit: str,
    fuel: str | None = None,
    *,
    ncv: float | None = None,
    ncv_unit: str | None = None,
    carbon_content: float | None = None,
    oxidation: float | None = None,
    family: str = "gbt2589",
) -> ArrayLike:
    """CO2 from fossil fuel combustion, E = FC × NCV × CC × OF × 44/12.

    GB/T 32150-2015 Appendix B formulas (B.1)-(B.3); defaults from :mod:`carbonlib.factors`.
    Measured parameters (``ncv``, ``carbon_content``, ``oxidation``) override the defaults one by
    one; without ``fuel`` all three are required.

    Parameters
    ----------
    amount : float, numpy.ndarray or pandas.Series
        Fuel consumed (FC), in ``unit``.
    unit : str
        Unit of ``amount``: a mass (t, kg) or normal volume (Nm3, 10^4 Nm3) compatible with the
        NCV's denominator.
    fuel : str, optional
        Fuel key (``"diesel"``) or Chinese name (``"柴油"``); see :func:`carbonlib.factors.list_fuels`.
    ncv : float, optional
        Measured net calorific value, in ``ncv_unit``.
    ncv_unit : str, optional
        Unit of ``ncv`` such as ``"GJ/t"``, ``"kJ/kg"`` or ``"GJ/10^4 Nm3"``. Defaults to the
        fuel's default NCV unit, or to ``"GJ/<unit>"`` without a fuel.
    carbon_content : float, optional
        Carbon content per unit heat, tC/TJ (= kgC/GJ; 20.2 tC/TJ is 20.2×10^-3 tC/GJ).
    oxidation : float, optional
        Carbon oxidation factor as a fraction (0.98, not 98).
    family : {"gbt2589", "ipcc_guidelines"}
        Default parameter family (see :mod:`carbonlib.factors`).

    Returns
    -------
    same type as ``amount``
        Emissions, tCO2.

    Raises
    ------
    ValueError
        Unknown fuel/unit, missing parameters without ``fuel``, incompatible units, or an
        oxidation factor outside (0, 1].

    Examples
    --------
    >>> round(fuel_combustion(1.0, "t", "diesel"), 4)  # 42.652e-3 TJ × 20.2 × 0.98 × 44/12
    3.0959
    """
    if fuel is not None:
        defaults = factors.fuel_parameters(fuel, family)
        if ncv is None:
            ncv, ncv_unit = defaults.ncv, defaults.ncv_unit
        elif ncv_unit is None:
            ncv_unit = defaults.ncv_unit
        carbon_content = defaults.carbon_content if carbon_content is None else carbon_content
        oxidation = defaults.oxidation if oxidation is None else oxidation
    else:
        missing = [name for name, value in
                   (("ncv", ncv), ("carbon_content", carbon_content), ("oxidation", oxidation))
                   if value is None]
        if missing:
            raise ValueError(f"without a fuel name, pass {', '.join(missing)} explicitly "
                             f"(or name a fuel, e.g. fuel='diesel', to use defaults)")
        ncv_unit = ncv_unit or f"GJ/{normalise_unit(unit)}"
    if not 0.0 < oxidation <= 1.0:
        raise ValueError(f"oxidation must be a fraction in (0, 1], got {oxidation!r} "
                         f"(write 0.98 for 98 %)")
    energy_unit, per_unit = split_ratio(ncv_unit)
    fuel_amount = convert(amount, unit, per_unit)
    energy_tj = convert(fuel_amount * ncv, energy_unit, "TJ")
    return energy_tj * carbon_content * oxidation * CO2_PER_C


def purchased_electricity(
    mwh: ArrayLike,
    year: int | None = None,
    series: str = "mee_enterprise_reporting",
    region: str = "national",
    *,
    factor: float | None = None,
) -> ArrayLike:
    """Indirect CO2 from purchased electricity, E = AD × EF_grid.

    Parameters
    ----------
    mwh : float, numpy.ndarray or pandas.Series
        Electricity purchased, MWh (use :func:`carbonlib.units.convert` from kWh).
    year : int, optional
        Data year of the grid factor; required unless ``factor`` is given.
    series, region : str
        Grid factor series and region, see :func:`carbonlib.factors.grid_factor`.
    factor : float, optional
        Explicit emission factor, tCO2/MWh (e.g. a supplier-specific factor).

    Returns
    -------
    same type as ``mwh``
        Emissions, tCO2.
    """
    return mwh * _grid(year, series, region, factor)


def exported_electricity(
    mwh: ArrayLike,
    year: int | None = None,
    series: str = "mee_enterprise_reporting",
    region: str = "national",
    *,
    factor: float | None = None,
) -> ArrayLike:
    """CO2 attributed to electricity exported from the boundary (deducted from the total).

    Same factor logic as :func:`purchased_electricity`; returns a positive tCO2 amount that
    :func:`enterprise_total` subtracts.

    Parameters
    ----------
    mwh : float, numpy.ndarray or pandas.Series
        Electricity exported, MWh.
    year : int, optional
        Data year of the grid factor; required unless ``factor`` is given.
    series, region : str
        Grid factor series and region.
    factor : float, optional
        Explicit emission factor, tCO2/MWh.

    Returns
    -------
    same type as ``mwh``
        tCO2 (positive).
    """
    return mwh * _grid(year, series, region, factor)


def _grid(year: int | None, series: str, region: str, factor: float | None) -> float:
    if factor is not None:
        return float(factor)
    if year is None:
        raise ValueError("pass the data year of the grid factor (year=...) or an explicit factor")
    return float(factors.grid_factor(year, series, region))


def purchased_heat(gj: ArrayLike, factor: float | None = None) -> ArrayLike:
    """Indirect CO2 from purchased heat (steam, hot water), E = AD × EF_heat.

    Parameters
    ----------
    gj : float, numpy.ndarray or pandas.Series
        Heat purchased, GJ (see :func:`steam_heat_gj`, :func:`hot_water_heat_gj`).
    factor : float, optional
        tCO2/GJ; default 0.11 (GB/T 32150-2015 Appendix B, :func:`carbonlib.factors.heat_factor`).

    Returns
    -------
    same type as ``gj``
        Emissions, tCO2.
    """
    return gj * (float(factors.heat_factor()) if factor is None else float(factor))


def exported_heat(gj: ArrayLike, factor: float | None = None) -> ArrayLike:
    """CO2 attributed to heat exported from the boundary (positive; deducted from the total).

    Parameters
    ----------
    gj : float, numpy.ndarray or pandas.Series
        Heat exported, GJ.
    factor : float, optional
        tCO2/GJ; default 0.11.

    Returns
    -------
    same type as ``gj``
        tCO2 (positive).
    """
    return purchased_heat(gj, factor)


def steam_heat_gj(mass_t: ArrayLike, enthalpy_kj_per_kg: ArrayLike) -> ArrayLike:
    """Heat in steam, AD = Ma × (En − 83.74) × 10^-3 (NDRC guidelines / GB/T 32151 heat section).

    83.74 kJ/kg is the enthalpy of (return) water at 20 °C.

    Parameters
    ----------
    mass_t : float, numpy.ndarray or pandas.Series
        Steam mass, t.
    enthalpy_kj_per_kg : float or array
        Specific enthalpy of the steam at its measured pressure and temperature, kJ/kg, from
        steam tables (IAPWS-IF97): saturated steam by pressure, superheated steam by pressure and
        temperature.

    Returns
    -------
    same type as ``mass_t``
        Heat, GJ (t × kJ/kg gives MJ; × 10^-3 gives GJ).
    """
    water = float(factors.heat_parameter("water_enthalpy_20c"))
    if np.any(np.asarray(enthalpy_kj_per_kg) <= water):
        raise ValueError(f"steam enthalpy must exceed {water} kJ/kg (water at 20 °C); "
                         f"got {enthalpy_kj_per_kg!r}")
    return mass_t * (enthalpy_kj_per_kg - water) * 1e-3


def hot_water_heat_gj(mass_t: ArrayLike, temperature_c: ArrayLike) -> ArrayLike:
    """Heat in hot water, AD = Ma × (T − 20) × 4.1868 × 10^-3 (NDRC guidelines / GB/T 32151).

    Parameters
    ----------
    mass_t : float, numpy.ndarray or pandas.Series
        Hot water mass, t.
    temperature_c : float or array
        Hot water temperature, °C.

    Returns
    -------
    same type as ``mass_t``
        Heat, GJ.
    """
    reference = float(factors.heat_parameter("hot_water_reference_temperature"))
    specific_heat = float(factors.heat_parameter("water_specific_heat"))
    return mass_t * (temperature_c - reference) * specific_heat * 1e-3


def process_emission(activity: ArrayLike, factor: float) -> ArrayLike:
    """Process emission, E = AD × EF (e.g. t clinker × tCO2/t clinker).

    Parameters
    ----------
    activity : float, numpy.ndarray or pandas.Series
        Activity data in the unit the factor refers to (e.g. t of limestone).
    factor : float
        Emission factor, tCO2 per activity unit (e.g. 44.01/100.09 = 0.440 tCO2/t CaCO3, stoichiometric).

    Returns
    -------
    same type as ``activity``
        tCO2.
    """
    return activity * factor


def waste_incineration(
    waste_t: ArrayLike,
    *,
    carbon_content: float,
    fossil_fraction: float,
    burnout: float,
    ch4_per_t: float = 0.0,
    n2o_per_t: float = 0.0,
    gwp_ch4: float = 28.0,
    gwp_n2o: float = 265.0,
) -> ArrayLike:
    """Emissions of incinerating waste: fossil CO2 plus CH4 and N2O as CO2 equivalents.

    CO2 = IW × CCW × FCF × EF × 44/12 (IPCC 2006 Guidelines Vol. 5 Ch. 5 Eq. 5.1 on a wet-weight
    basis, as in the NDRC 2011 guidelines for provincial GHG inventories, chapter 5); CH4 = IW × EF_CH4
    and N2O = IW × EF_N2O (IPCC 2006 Vol. 5 Eq. 5.4 and 5.5), weighted with GWP100 (default AR5: 28, 265).
    Biogenic CO2 (the non-fossil share) is not counted.

    Parameters
    ----------
    waste_t : float, numpy.ndarray or pandas.Series
        Waste incinerated (IW), t wet weight.
    carbon_content : float
        Carbon content of the waste (CCW), t C per t wet waste (0.20 for 20 %).
    fossil_fraction : float
        Fossil share of that carbon (FCF), 0-1.
    burnout : float
        Burnout (combustion) efficiency of the incinerator (EF), 0-1.
    ch4_per_t, n2o_per_t : float
        t CH4 and t N2O per t wet waste.
    gwp_ch4, gwp_n2o : float
        GWP100 of CH4 and N2O, tCO2e/t.

    Returns
    -------
    same type as ``waste_t``
        tCO2e.

    Examples
    --------
    >>> round(waste_incineration(1000.0, carbon_content=0.20, fossil_fraction=0.39, burnout=0.95), 2)
    271.7
    """
    for name, share in (("carbon_content", carbon_content), ("fossil_fraction", fossil_fraction),
                        ("burnout", burnout)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be a share in [0, 1], got {share!r} (write 0.2 for 20 %)")
    co2 = waste_t * carbon_content * fossil_fraction * burnout * CO2_PER_C
    return co2 + waste_t * (ch4_per_t * gwp_ch4 + n2o_per_t * gwp_n2o)


def non_co2(mass_t: ArrayLike, gas: str, assessment: str = "AR5") -> ArrayLike:
    """CO2-equivalent of a non-CO2 greenhouse gas, E = m × GWP100.

    Parameters
    ----------
    mass_t : float, numpy.ndarray or pandas.Series
        Mass of gas emitted, t.
    gas : str
        Gas name, see :func:`carbonlib.factors.gwp` (AR6 methane: ``"CH4_fossil"`` or
        ``"CH4_non_fossil"``).
    assessment : {"SAR", "AR4", "AR5", "AR6"}
        IPCC assessment report of the GWP.

    Returns
    -------
    same type as ``mass_t``
        tCO2e.
    """
    return mass_t * factors.gwp(gas, assessment)


@dataclass(frozen=True)
class EnterpriseEmissions:
    """Per-category emissions of an organisation for one period (all tCO2 / tCO2e).

    ``total_tco2e`` = combustion + process + fugitive + purchased electricity + purchased heat
    − exported electricity − exported heat + non-CO2 (as CO2e). ``biomass_co2_memo`` is reported
    but excluded from the total.
    """

    combustion_tco2: float
    process_tco2: float
    fugitive_tco2: float
    purchased_electricity_tco2: float
    purchased_heat_tco2: float
    exported_electricity_tco2: float
    exported_heat_tco2: float
    non_co2_tco2e: float
    biomass_co2_memo: float
    gwp_assessment: str

    @property
    def direct_tco2e(self) -> float:
        """Scope 1: combustion + process + fugitive + non-CO2, tCO2e."""
        return self.combustion_tco2 + self.process_tco2 + self.fugitive_tco2 + self.non_co2_tco2e

    @property
    def indirect_tco2(self) -> float:
        """Scope 2 net: purchased − exported electricity and heat, tCO2."""
        return (self.purchased_electricity_tco2 + self.purchased_heat_tco2
                - self.exported_electricity_tco2 - self.exported_heat_tco2)

    @property
    def total_tco2e(self) -> float:
        """Total emissions, tCO2e (biomass CO2 excluded)."""
        return self.direct_tco2e + self.indirect_tco2

    def as_dict(self) -> dict[str, float | str]:
        """Categories plus ``total_tco2e`` as a plain dict."""
        return {**asdict(self), "total_tco2e": self.total_tco2e}

    def to_frame(self) -> pd.DataFrame:
        """One row per category (exports negative), the memo item and the total.

        Returns
        -------
        pandas.DataFrame
            Columns ``category``, ``tco2e``, ``in_total`` (bool).
        """
        import pandas as pd

        rows = [
            ("combustion", self.combustion_tco2, True),
            ("process", self.process_tco2, True),
            ("fugitive", self.fugitive_tco2, True),
            ("non_co2", self.non_co2_tco2e, True),
            ("purchased_electricity", self.purchased_electricity_tco2, True),
            ("purchased_heat", self.purchased_heat_tco2, True),
            ("exported_electricity", 0.0 - self.exported_electricity_tco2, True),
            ("exported_heat", 0.0 - self.exported_heat_tco2, True),
            ("biomass_co2_memo", self.biomass_co2_memo, False),
            ("total", self.total_tco2e, False),
        ]
        return pd.DataFrame(rows, columns=["category", "tco2e", "in_total"])


def _summed(name: str, value: float | Iterable[float]) -> float:
    if isinstance(value, Iterator):
        value = list(value)
    total = float(np.sum(np.asarray(value, dtype=float)))
    if total < 0:
        raise ValueError(f"{name} must be non-negative (exports are given as positive amounts "
                         f"and deducted), got {total}")
    return total


def enterprise_total(
    *,
    combustion_tco2: float | Iterable[float] = 0.0,
    process_tco2: float | Iterable[float] = 0.0,
    fugitive_tco2: float | Iterable[float] = 0.0,
    purchased_electricity_tco2: float | Iterable[float] = 0.0,
    purchased_heat_tco2: float | Iterable[float] = 0.0,
    exported_electricity_tco2: float | Iterable[float] = 0.0,
    exported_heat_tco2: float | Iterable[float] = 0.0,
    non_co2_t: Mapping[str, float] | None = None,
    gwp_assessment: str = "AR5",
    biomass_co2_t: float | Iterable[float] = 0.0,
) -> EnterpriseEmissions:
    """Enterprise emission breakdown and total for one period (GB/T 32150-2015 clause 7).

    Total = combustion + process + fugitive + purchased electricity + purchased heat
    − exported electricity − exported heat + Σ(non-CO2 mass × GWP). Biomass CO2 is a memo item.

    Parameters
    ----------
    combustion_tco2, process_tco2, fugitive_tco2 : float or iterable of float
        Direct CO2, tCO2 (an iterable is summed, e.g. one entry per fuel or source).
        ``fugitive_tco2`` is fugitive CO2; fugitive CH4 etc. belong in ``non_co2_t``.
    purchased_electricity_tco2, purchased_heat_tco2 : float or iterable of float
        Indirect CO2, tCO2.
    exported_electricity_tco2, exported_heat_tco2 : float or iterable of float
        CO2 attributed to exported energy, tCO2, given as positive numbers.
    non_co2_t : mapping of str to float, optional
        Mass of each non-CO2 gas, t (e.g. ``{"CH4": 2.0, "SF6": 0.01}``).
    gwp_assessment : {"SAR", "AR4", "AR5", "AR6"}
        GWP set for ``non_co2_t``.
    biomass_co2_t : float or iterable of float
        CO2 from biomass combustion, tCO2 (memo item, not in the total).

    Returns
    -------
    EnterpriseEmissions
        Frozen record with ``total_tco2e``, ``as_dict()`` and ``to_frame()``.

    Raises
    ------
    ValueError
        A negative category, or an unknown gas/assessment.
    """
    non_co2_tco2e = sum(float(non_co2(_summed(f"non_co2_t[{gas!r}]", mass), gas,
                                      gwp_assessment))
                        for gas, mass in (non_co2_t or {}).items())
    return EnterpriseEmissions(
        combustion_tco2=_summed("combustion_tco2", combustion_tco2),
        process_tco2=_summed("process_tco2", process_tco2),
        fugitive_tco2=_summed("fugitive_tco2", fugitive_tco2),
        purchased_electricity_tco2=_summed("purchased_electricity_tco2",
                                           purchased_electricity_tco2),
        purchased_heat_tco2=_summed("purchased_heat_tco2", purchased_heat_tco2),
        exported_electricity_tco2=_summed("exported_electricity_tco2", exported_electricity_tco2),
        exported_heat_tco2=_summed("exported_heat_tco2", exported_heat_tco2),
        non_co2_tco2e=non_co2_tco2e,
        biomass_co2_memo=_summed("biomass_co2_t", biomass_co2_t),
        gwp_assessment=gwp_assessment,
    )
