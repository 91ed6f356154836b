"""Tests for carbonlib.units. Expected numbers are unit definitions, shown in each comment."""

import numpy as np
import pandas as pd
import pytest

from carbonlib.units import CO2_PER_C, convert, dimension, normalise_unit, split_ratio


def test_co2_per_c_is_44_over_12():
    # IPCC 2006 Vol.2 Ch.1 / GB/T 32150-2015 (B.1): 44/12 = 3.666...
    assert CO2_PER_C == pytest.approx(3.6666667, rel=1e-7)


@pytest.mark.parametrize("spelling", ["万Nm3", "10^4 Nm3", "10^4Nm3", "10⁴Nm³", "万nm3"])
def test_ten_thousand_normal_cubic_metres_spellings(spelling):
    # 1 万Nm3 = 10^4 Nm3 = 10 000 Nm3 (definition of 万)
    assert convert(1.0, spelling, "Nm3") == pytest.approx(10_000.0)


@pytest.mark.parametrize(
    ("amount", "src", "dst", "expected"),
    [
        (1500.0, "kg", "t", 1.5),        # 1 kg = 10^-3 t
        (2000.0, "kWh", "MWh", 2.0),     # 1 MWh = 1000 kWh
        (1.0, "MWh", "GJ", 3.6),         # 1 MWh = 3.6e9 J = 3.6 GJ
        (1.0, "TJ", "GJ", 1000.0),       # 1 TJ = 1000 GJ
        (1.0, "tce", "GJ", 29.3076),     # GB/T 2589-2020: 1 kgce = 29 307.6 kJ -> 1 tce = 29.3076 GJ
        (15.0, "亩", "ha", 1.0),          # 1 mu = 10 000/15 m2 -> 15 mu = 1 ha
        (2.0, "万kWh", "MWh", 20.0),     # 2 × 10^4 kWh = 20 000 kWh = 20 MWh
    ],
)
def test_convert_values(amount, src, dst, expected):
    assert convert(amount, src, dst) == pytest.approx(expected)


def test_convert_arrays_and_series_keep_type():
    # 1 t = 1000 kg, element-wise
    arr = convert(np.array([1.0, 2.0]), "t", "kg")
    np.testing.assert_allclose(arr, [1000.0, 2000.0])
    series = convert(pd.Series([1.0, 2.0], name="fc"), "t", "kg")
    assert isinstance(series, pd.Series) and series.name == "fc"
    np.testing.assert_allclose(convert([1.0, 2.0], "t", "kg"), [1000.0, 2000.0])


def test_unknown_unit_names_bad_unit_and_lists_accepted():
    with pytest.raises(ValueError, match=r"unknown unit 'furlong'.*mass: t, kg"):
        convert(1.0, "furlong", "t")


def test_steam_unit_points_to_enthalpy_helper():
    with pytest.raises(ValueError, match="steam_heat_gj"):
        convert(1.0, "t steam", "GJ")


def test_cross_dimension_is_refused():
    with pytest.raises(ValueError, match=r"cannot convert 't' \(mass\) to 'GJ' \(energy\)"):
        convert(1.0, "t", "GJ")


def test_normalise_dimension_and_ratio():
    assert normalise_unit(" mwh ") == "MWh"
    assert dimension("万Nm3") == "normal_volume"
    assert split_ratio("kJ/kg") == ("kJ", "kg")
    with pytest.raises(ValueError, match="ratio unit"):
        split_ratio("GJ")
