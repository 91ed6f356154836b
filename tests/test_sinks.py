"""Tests for carbonlib.sinks. Each expected number shows its arithmetic or source."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carbonlib import sinks


def test_biomass_from_volume_explicit_parameters():
    # B = V × WD × BEF × (1 + R) = 100 × 0.5 × 1.4 × 1.25 = 87.5 t d.m.
    assert sinks.biomass_from_volume(100.0, 0.5, 1.4, 0.25) == pytest.approx(87.5)


def test_biomass_from_volume_with_bcef():
    # B = V × BCEF × (1 + R) = 100 × 0.7 × 1.25 = 87.5 t d.m. (BCEF = 0.5 × 1.4)
    assert sinks.biomass_from_volume(100.0, root_shoot=0.25, bcef=0.7) == pytest.approx(87.5)
    with pytest.raises(ValueError, match="either bcef or wood_density"):
        sinks.biomass_from_volume(100.0, 0.5, root_shoot=0.25, bcef=0.7)


def test_biomass_from_volume_species_defaults_and_override():
    params = sinks.species_parameters("杉木")
    expected = 200.0 * params.wood_density * params.bef * (1 + params.root_shoot)
    # hand check with the packaged Chinese fir values 0.307, 1.634, 0.246:
    # 200 × 0.307 = 61.4; × 1.634 = 100.3276; × 1.246 = 125.0082 t d.m.
    assert expected == pytest.approx(125.0082, rel=1e-6)
    assert sinks.biomass_from_volume(200.0, species_group="chinese_fir") == pytest.approx(expected)
    # explicit root_shoot 0.2 wins: 100.3276 × 1.2 = 120.39312
    assert sinks.biomass_from_volume(200.0, root_shoot=0.2, species_group="chinese_fir") == (
        pytest.approx(120.39312))


def test_biomass_from_volume_errors():
    with pytest.raises(ValueError, match="missing root_shoot, wood_density, bef"):
        sinks.biomass_from_volume(100.0)
    with pytest.raises(ValueError, match="not volume-based"):
        sinks.biomass_from_volume(100.0, species_group="bamboo")
    with pytest.raises(ValueError, match=r"unknown species group 'teak'.*chinese_fir \(杉木\)"):
        sinks.species_parameters("teak")


def test_biomass_vectorised():
    # 10 and 20 m3 × 0.5 × 1.4 × 1.25 = 8.75 and 17.5 t d.m.
    result = sinks.biomass_from_volume(pd.Series([10.0, 20.0]), 0.5, 1.4, 0.25)
    np.testing.assert_allclose(result, [8.75, 17.5])


def test_carbon_stock_and_co2():
    # 87.5 t d.m. × 0.47 (IPCC 2006 Vol.4 Table 4.3) = 41.125 tC; × 44/12 = 150.7916667 tCO2
    tc = sinks.carbon_stock(87.5)
    assert tc == pytest.approx(41.125)
    assert sinks.to_co2(tc) == pytest.approx(150.7916667)
    with pytest.raises(ValueError, match="carbon_fraction"):
        sinks.carbon_stock(1.0, 47)


def test_stock_difference_years():
    # IPCC Eq 2.8: (1 300 − 1 000) tC / (2023 − 2018) yr = 60 tC/yr
    assert sinks.stock_difference(1000.0, 1300.0, 2018, 2023) == pytest.approx(60.0)


def test_stock_difference_dates():
    # 2020-01-01 to 2022-01-01 = 731 days (2020 is a leap year) = 731/365.25 = 2.0013689 yr;
    # 100 tC / 2.0013689 = 49.965800 tC/yr
    result = sinks.stock_difference(500.0, 600.0, dt.date(2020, 1, 1), pd.Timestamp("2022-01-01"))
    assert result == pytest.approx(100.0 / (731 / 365.25))
    with pytest.raises(ValueError, match="must be after"):
        sinks.stock_difference(1.0, 2.0, 2023, 2023)


def test_gain_loss():
    # gain: 100 ha × 5 t d.m./ha/yr × (1 + 0.25) × 0.47 = 293.75 tC/yr (Eq 2.9-2.10)
    gain = sinks.biomass_gain_tc(100.0, 5.0, 0.25)
    assert gain == pytest.approx(293.75)
    # removals: 200 m3 × 0.7 × 1.25 × 0.47 = 82.25 tC/yr (Eq 2.12)
    removals = sinks.wood_removal_loss_tc(200.0, 0.7, 0.25)
    assert removals == pytest.approx(82.25)
    # disturbance: 2 ha × 100 t/ha × 1.25 × 0.47 × 0.5 = 58.75 tC/yr (Eq 2.14)
    disturbance = sinks.disturbance_loss_tc(2.0, 100.0, 0.25, 0.5)
    assert disturbance == pytest.approx(58.75)
    # Eq 2.7/2.11: 293.75 − (82.25 + 10 + 58.75) = 142.75 tC/yr
    assert sinks.gain_loss(gain, removals, 10.0, disturbance) == pytest.approx(142.75)
    with pytest.raises(ValueError, match="positive amount"):
        sinks.gain_loss(gain, removals_tc=-1.0)


def test_removals_by_sinks_clause_3_2():
    # stock change 60 tC/yr × 44/12 = 220 tCO2; minus 12.5 tCO2e emitted in the boundary = 207.5
    assert sinks.removals_by_sinks(sinks.to_co2(60.0), 12.5) == pytest.approx(207.5)
    with pytest.raises(ValueError, match="positive amount"):
        sinks.removals_by_sinks(220.0, -1.0)


def test_credited_quantity():
    # 207.5 tCO2e × (1 − 0.2) = 166 tCO2e
    assert sinks.credited_quantity(207.5, 0.2) == pytest.approx(166.0)
    with pytest.raises(ValueError, match="write 0.2 for 20 %"):
        sinks.credited_quantity(207.5, 20)
