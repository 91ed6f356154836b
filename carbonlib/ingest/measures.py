"""Units of field readings, converted to each telemetry metric's canonical unit (``lake.schema.METRICS``).

Loggers and processing software spell units in many ways: AmeriFlux writes ``umolCO2 m-2 s-1``,
EddyPro ``[umol+1s-1m-2]``, a Campbell TOA5 header ``umol/m^2/s``.  A unit is read as a product
of base symbols with integer exponents (``/`` negates what follows, ``+1`` is an exponent, a
chemical label such as ``CO2`` after ``umol``/``mg`` is dropped), so those three spellings are
one unit.  Temperatures convert with an offset (K, degF to degC); everything else by a factor.

Conversions (exact unless stated):

* CO2 flux: 1 mg CO2 m-2 s-1 = 1000 / 44.01 umol m-2 s-1 (molar mass of CO2 44.01 g/mol,
  IUPAC standard atomic weights C 12.011, O 15.999);
* pressure deficit: 1 hPa = 100 Pa = 0.1 kPa;
* temperature: degC = K - 273.15 = (degF - 32) x 5/9;
* amounts of meters (energy, mass, volume) through :func:`carbonlib.units.convert`.
"""

from __future__ import annotations

import re

import numpy as np

from .. import units
from ..lake.schema import METRICS

#: Molar mass of CO2 (g/mol) used for mass <-> molar flux conversions.
CO2_MOLAR_MASS = 44.01

_FACTOR = re.compile(r"(/)?([A-Za-z]+)([+-]?\d+)?")
_LABELS = ("CO2", "H2O")
_TEMPERATURES = {"degc": "degC", "c": "degC", "°c": "degC", "celsius": "degC", "k": "K", "kelvin": "K",
                 "degf": "degF", "°f": "degF", "f": "degF"}


def _signature(unit: str) -> tuple[tuple[str, int], ...]:
    """The unit as sorted (symbol, exponent) pairs: ``'umol+1s-1m-2'`` and ``'umol m-2 s-1'`` are equal."""
    text = unit.strip().strip("[]").replace("µ", "u").replace("^", "")
    for label in _LABELS:
        text = text.replace(label, "")
    powers: dict[str, int] = {}
    for chunk in re.split(r"[\s*.·]+", text):
        position = 0
        while position < len(chunk):
            match = _FACTOR.match(chunk, position)
            if not match or not match.group(0):
                raise ValueError(f"cannot read the unit {unit!r}")
            exponent = int(match.group(3) or 1) * (-1 if match.group(1) else 1)
            powers[match.group(2)] = powers.get(match.group(2), 0) + exponent
            position = match.end()
    return tuple(sorted((symbol, power) for symbol, power in powers.items() if power))


#: (metric's canonical unit signature family) -> spelling signature -> factor to the canonical unit
_FACTORS: dict[str, dict[tuple, float]] = {
    "umol m-2 s-1": {
        _signature("umol m-2 s-1"): 1.0,
        _signature("mg m-2 s-1"): 1000.0 / CO2_MOLAR_MASS,
        _signature("mmol m-2 s-1"): 1000.0,
    },
    "W m-2": {_signature("W m-2"): 1.0, _signature("kW m-2"): 1000.0},
    "hPa": {_signature("hPa"): 1.0, _signature("Pa"): 0.01, _signature("kPa"): 10.0, _signature("mbar"): 1.0},
    "m s-1": {_signature("m s-1"): 1.0, _signature("cm s-1"): 0.01},
}


def conversion(metric: str, unit: str):
    """A function turning readings of ``metric`` given in ``unit`` into the metric's canonical unit.

    Raises ValueError naming the metric, the unit and the units accepted for it.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
    canonical = METRICS[metric].unit
    if canonical == "degC":
        given = _TEMPERATURES.get(unit.strip().strip("[]").replace(" ", "").lower())
        offsets = {"degC": lambda v: v, "K": lambda v: v - 273.15, "degF": lambda v: (v - 32.0) * 5.0 / 9.0}
        if given is None:
            raise ValueError(f"unit {unit!r} is not a temperature unit for {metric}; use degC, K or degF")
        return offsets[given]
    if canonical in _FACTORS:
        try:
            factor = _FACTORS[canonical].get(_signature(unit))
        except ValueError:
            factor = None
        if factor is None:
            raise ValueError(f"unit {unit!r} cannot be converted to {canonical} for {metric}; "
                             f"give the readings in {canonical} or one of the units this module documents")
        return (lambda v: v) if factor == 1.0 else (lambda v: v * factor)
    try:
        units.convert(1.0, unit, canonical)
    except ValueError as error:
        raise ValueError(f"unit {unit!r} cannot be converted to {canonical} for {metric}: {error}") from None
    return lambda v: units.convert(np.asarray(v, dtype=float), unit, canonical)
