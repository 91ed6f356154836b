"""Unit conversion for activity data (mass, volume, normal volume, energy, area).

Conversions only happen within one dimension: a mass never becomes an energy here. Turning a
fuel quantity into energy needs a net calorific value (:mod:`carbonlib.emissions`), and turning
tonnes of steam or hot water into GJ needs an enthalpy or a temperature
(:func:`carbonlib.emissions.steam_heat_gj`, :func:`carbonlib.emissions.hot_water_heat_gj`).

Accepted spellings are case-insensitive and ignore spaces; ``"万Nm3"``, ``"10^4 Nm3"``,
``"10^4Nm3"`` and ``"10⁴Nm³"`` all mean ten thousand normal cubic metres.

Constants
---------
CO2_PER_C
    44/12, the ratio of the molar masses of CO2 (44.01 g/mol) and C (12.011 g/mol) rounded to
    whole numbers as in IPCC 2006 Vol.2 Ch.1 and the NDRC 24-industry accounting guidelines
    (GB/T 32150-2015 formula (B.1) uses the same 44/12). Multiply tonnes of carbon by it to get
    tonnes of CO2.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

__all__ = ["CO2_PER_C", "M_PER_DEG_LAT", "M_PER_DEG_LON", "convert", "dimension", "known_units", "normalise_unit",
           "split_ratio"]

CO2_PER_C: float = 44.0 / 12.0
#: Metres per degree of latitude, and of longitude at the equator (WGS84, rounded): local equirectangular
#: distances and areas of stand maps (error well below 1 % at the size of a forest stand).
M_PER_DEG_LAT: float = 110_574.0
M_PER_DEG_LON: float = 111_320.0

ArrayLike = TypeVar("ArrayLike")

# canonical unit -> (dimension, size in the dimension's base unit)
# base units: mass t, volume m3, normal_volume Nm3, energy GJ, area ha
_UNITS: dict[str, tuple[str, float]] = {
    "t": ("mass", 1.0),
    "kg": ("mass", 1e-3),
    "g": ("mass", 1e-6),
    "10^4 t": ("mass", 1e4),
    "m3": ("volume", 1.0),
    "L": ("volume", 1e-3),
    "Nm3": ("normal_volume", 1.0),
    "10^4 Nm3": ("normal_volume", 1e4),
    "10^8 Nm3": ("normal_volume", 1e8),
    "GJ": ("energy", 1.0),
    "MJ": ("energy", 1e-3),
    "kJ": ("energy", 1e-6),
    "TJ": ("energy", 1e3),
    "kWh": ("energy", 3.6e-3),
    "MWh": ("energy", 3.6),
    "10^4 kWh": ("energy", 36.0),
    "GWh": ("energy", 3.6e3),
    # tonne of standard coal equivalent: 29 307.6 kJ/kg (7 000 kcal/kg), GB/T 2589-2020 clause 3.4
    "tce": ("energy", 29.3076),
    "ha": ("area", 1.0),
    "m2": ("area", 1e-4),
    "km2": ("area", 100.0),
    # 1 mu (亩) = 10 000/15 m2, the statutory Chinese land-area unit
    "mu": ("area", 1.0 / 15.0),
}

_ALIASES: dict[str, str] = {
    "tonne": "t", "tonnes": "t", "吨": "t", "万t": "10^4 t", "万吨": "10^4 t",
    "m^3": "m3", "立方米": "m3", "l": "L", "litre": "L", "liter": "L",
    "nm^3": "Nm3", "万nm3": "10^4 Nm3", "亿nm3": "10^8 Nm3",
    "万立方米": "10^4 Nm3",
    "千瓦时": "kWh", "兆瓦时": "MWh", "万kwh": "10^4 kWh",
    "tec": "tce", "吨标准煤": "tce", "公顷": "ha", "亩": "mu",
}


def _key(unit: str) -> str:
    """Spelling-insensitive lookup key: lower case, no spaces, ASCII exponents."""
    return (
        unit.strip().replace(" ", "").replace("³", "3").replace("²", "2").replace("⁴", "^4")
        .replace("⁸", "^8").replace("×", "").replace("*", "").lower()
    )


_LOOKUP: dict[str, str] = {_key(name): name for name in _UNITS}
_LOOKUP.update({_key(alias): name for alias, name in _ALIASES.items()})


def known_units() -> dict[str, list[str]]:
    """Canonical unit names grouped by dimension.

    Returns
    -------
    dict of str to list of str
        ``{"mass": ["t", "kg", ...], "energy": [...], ...}``.
    """
    grouped: dict[str, list[str]] = {}
    for name, (dim, _) in _UNITS.items():
        grouped.setdefault(dim, []).append(name)
    return grouped


def _accepted() -> str:
    return "; ".join(f"{dim}: {', '.join(names)}" for dim, names in known_units().items())


def normalise_unit(unit: str) -> str:
    """Return the canonical spelling of ``unit``.

    Parameters
    ----------
    unit : str
        A unit such as ``"万Nm3"``, ``"kwh"`` or ``"t"``.

    Returns
    -------
    str
        Canonical name, e.g. ``"10^4 Nm3"``.

    Raises
    ------
    ValueError
        If the unit is unknown; the message lists the accepted units.
    """
    if not isinstance(unit, str):
        raise ValueError(f"unit must be a string, got {unit!r}; accepted units: {_accepted()}")
    try:
        return _LOOKUP[_key(unit)]
    except KeyError:
        hint = ""
        if "steam" in unit.lower() or "蒸汽" in unit:
            hint = (" Steam quantities need an enthalpy to become energy: use "
                    "carbonlib.emissions.steam_heat_gj(mass_t, enthalpy_kj_per_kg).")
        raise ValueError(f"unknown unit {unit!r}.{hint} Accepted units: {_accepted()}") from None


def dimension(unit: str) -> str:
    """Dimension of a unit: ``"mass"``, ``"volume"``, ``"normal_volume"``, ``"energy"`` or ``"area"``."""
    return _UNITS[normalise_unit(unit)][0]


def convert(amount: ArrayLike, from_unit: str, to_unit: str) -> ArrayLike:
    """Convert ``amount`` between two units of the same dimension.

    Parameters
    ----------
    amount : float, numpy.ndarray or pandas.Series
        Quantity expressed in ``from_unit``.
    from_unit, to_unit : str
        Unit names (see :func:`known_units`); Chinese and ASCII spellings are accepted.

    Returns
    -------
    same type as ``amount``
        Quantity expressed in ``to_unit``.

    Raises
    ------
    ValueError
        If a unit is unknown, or the two units measure different dimensions (e.g. t to GJ).

    Examples
    --------
    >>> convert(2.5, "万Nm3", "Nm3")
    25000.0
    >>> convert(1000, "kWh", "MWh")
    1.0
    """
    src, dst = normalise_unit(from_unit), normalise_unit(to_unit)
    (dim_src, size_src), (dim_dst, size_dst) = _UNITS[src], _UNITS[dst]
    if dim_src != dim_dst:
        raise ValueError(
            f"cannot convert {from_unit!r} ({dim_src}) to {to_unit!r} ({dim_dst}); "
            f"{dim_dst} units are: {', '.join(known_units()[dim_dst])}"
        )
    if src == dst:
        return amount
    factor = size_src / size_dst
    if isinstance(amount, (list, tuple)):
        return np.asarray(amount, dtype=float) * factor
    return amount * factor


def split_ratio(unit: str) -> tuple[str, str]:
    """Split a ratio unit such as ``"GJ/t"`` or ``"kJ/kg"`` into canonical parts.

    Parameters
    ----------
    unit : str
        ``"<numerator>/<denominator>"``.

    Returns
    -------
    tuple of str
        ``(numerator, denominator)`` in canonical spelling.

    Raises
    ------
    ValueError
        If there is not exactly one ``/`` or a part is unknown.
    """
    parts = unit.split("/")
    if len(parts) != 2:
        raise ValueError(f"expected a ratio unit like 'GJ/t', got {unit!r}")
    return normalise_unit(parts[0]), normalise_unit(parts[1])
