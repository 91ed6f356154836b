"""Tests for carbonlib.emissions. Each expected number shows its source or its arithmetic."""

import numpy as np
import pandas as pd
import pytest

from carbonlib import emissions as em


def test_diesel_statistical_family():
    # Project check value 3.0959 tCO2/t: 42.652 GJ/t = 0.042652 TJ/t;
    # 0.042652 × 20.2 tC/TJ = 0.8615704 tC; × 0.98 = 0.84433899; × 44/12 = 3.0959096
    assert em.fuel_combustion(1.0, "t", "diesel") == pytest.approx(3.0959, abs=5e-5)


def test_diesel_ipcc_guidelines_family():
    # Project check value 3.1451 tCO2/t: 0.043330 TJ × 20.2 = 0.875266 tC; × 0.98 = 0.85776068;
    # × 44/12 = 3.1451225
    assert em.fuel_combustion(1.0, "t", "diesel", family="ipcc_guidelines") == pytest.approx(
        3.1451, abs=5e-5)


def test_unit_conversion_of_activity_data():
    # 2 500 kg = 2.5 t; 2.5 × 3.0959096 = 7.739774 tCO2
    assert em.fuel_combustion(2500.0, "kg", "diesel") == pytest.approx(2.5 * 3.0959096, rel=1e-6)


def test_natural_gas_in_ten_thousand_nm3():
    # 1 万Nm3 × 389.31 GJ/万Nm3 = 0.38931 TJ; × 15.3 tC/TJ = 5.956443 tC; × 0.99 = 5.89687857;
    # × 44/12 = 21.6218881 tCO2
    assert em.fuel_combustion(1.0, "万Nm3", "natural_gas") == pytest.approx(21.6218881, rel=1e-8)


def test_measured_ncv_overrides_default_with_its_own_unit():
    # measured NCV 36.0 MJ/Nm3 for 10 000 Nm3: 360 000 MJ = 0.36 TJ; default CC 15.3, OF 0.99:
    # 0.36 × 15.3 = 5.508; × 0.99 = 5.45292; × 44/12 = 19.99404 tCO2
    result = em.fuel_combustion(10_000.0, "Nm3", "natural_gas", ncv=36.0, ncv_unit="MJ/Nm3")
    assert result == pytest.approx(19.99404, rel=1e-8)


def test_measured_carbon_content_and_oxidation_override_defaults():
    # diesel NCV default 42.652 GJ/t, measured CC 20.0 tC/TJ and OF 1.0:
    # 0.042652 × 20.0 × 1.0 × 44/12 = 3.1278133
    result = em.fuel_combustion(1.0, "t", "diesel", carbon_content=20.0, oxidation=1.0)
    assert result == pytest.approx(3.1278133, rel=1e-7)


def test_without_fuel_all_parameters_required():
    # explicit parameters reproduce the diesel default: 3.0959096 (see first test)
    result = em.fuel_combustion(1.0, "t", ncv=42.652, carbon_content=20.2, oxidation=0.98)
    assert result == pytest.approx(3.0959096, rel=1e-7)
    with pytest.raises(ValueError, match="pass carbon_content, oxidation explicitly"):
        em.fuel_combustion(1.0, "t", ncv=42.652)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"unknown fuel 'peat'.*diesel"):
        em.fuel_combustion(1.0, "t", "peat")
    with pytest.raises(ValueError, match="unknown unit 'tonnen'"):
        em.fuel_combustion(1.0, "tonnen", "diesel")
    with pytest.raises(ValueError, match="write 0.98 for 98 %"):
        em.fuel_combustion(1.0, "t", "diesel", oxidation=98)
    with pytest.raises(ValueError, match=r"cannot convert 'Nm3' \(normal_volume\) to 't'"):
        em.fuel_combustion(1.0, "Nm3", "diesel")


def test_fuel_combustion_vectorised():
    # 1 t and 2 t of diesel: 3.0959096 and 6.1918193 tCO2
    series = em.fuel_combustion(pd.Series([1.0, 2.0]), "t", "diesel")
    np.testing.assert_allclose(series, [3.0959096, 6.1918193], rtol=1e-7)


def test_purchased_electricity_enterprise_vs_national_series_2022():
    # 1 000 MWh × 0.5703 (MEE 2023 notice) = 570.3 tCO2;
    # 1 000 MWh × 0.5366 (MEE/NBS 2022 national average) = 536.6 tCO2
    assert em.purchased_electricity(1000.0, 2022) == pytest.approx(570.3)
    assert em.purchased_electricity(1000.0, 2022, series="mee_nbs_average") == pytest.approx(536.6)


def test_purchased_electricity_2023_national_and_explicit_factor():
    # 500 MWh × 0.5306 (MEE/NBS 2023 national average) = 265.3 tCO2
    assert em.purchased_electricity(500.0, 2023, series="mee_nbs_average") == pytest.approx(265.3)
    # explicit factor 0.4 tCO2/MWh: 500 × 0.4 = 200 tCO2
    assert em.purchased_electricity(500.0, factor=0.4) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="data year"):
        em.purchased_electricity(500.0)
    with pytest.raises(ValueError, match="available years"):
        em.purchased_electricity(500.0, 2030)


def test_exported_electricity_positive():
    # 100 MWh × 0.5703 = 57.03 tCO2 (deducted later by enterprise_total)
    assert em.exported_electricity(100.0, 2022) == pytest.approx(57.03)


def test_steam_to_gj_and_heat_emissions():
    # GB/T 32151 / NDRC guidelines: AD = Ma × (En − 83.74) × 10^-3.
    # Saturated steam at 1.0 MPa(a), IAPWS-IF97 enthalpy 2777.1 kJ/kg (given as input):
    # 100 t × (2777.1 − 83.74) kJ/kg = 269 336 MJ; × 10^-3 = 269.336 GJ
    gj = em.steam_heat_gj(100.0, 2777.1)
    assert gj == pytest.approx(269.336)
    # × 0.11 tCO2/GJ (GB/T 32150 default) = 29.62696 tCO2
    assert em.purchased_heat(gj) == pytest.approx(29.62696)
    with pytest.raises(ValueError, match="must exceed 83.74"):
        em.steam_heat_gj(1.0, 50.0)


def test_hot_water_to_gj():
    # AD = Ma × (T − 20) × 4.1868 × 10^-3: 200 t × (80 − 20) = 12 000; × 4.1868e-3 = 50.2416 GJ
    assert em.hot_water_heat_gj(200.0, 80.0) == pytest.approx(50.2416)


def test_explicit_heat_factor_and_export():
    # 100 GJ × 0.1 tCO2/GJ = 10 tCO2; exported 50 GJ × 0.11 = 5.5 tCO2
    assert em.purchased_heat(100.0, factor=0.1) == pytest.approx(10.0)
    assert em.exported_heat(50.0) == pytest.approx(5.5)


def test_process_and_non_co2():
    # 1 000 t CaCO3 × 0.440 tCO2/t = 440 tCO2
    assert em.process_emission(1000.0, 0.440) == pytest.approx(440.0)
    # 2 t CH4 × 28 (AR5) = 56 tCO2e; × 21 (SAR) = 42 tCO2e; fossil CH4 AR6 2 × 29.8 = 59.6
    assert em.non_co2(2.0, "CH4") == pytest.approx(56.0)
    assert em.non_co2(2.0, "CH4", "SAR") == pytest.approx(42.0)
    assert em.non_co2(2.0, "CH4_fossil", "AR6") == pytest.approx(59.6)
    with pytest.raises(ValueError, match="no AR5 GWP for gas 'XYZ'"):
        em.non_co2(1.0, "XYZ")


def test_enterprise_total_with_exports_and_biomass_memo():
    result = em.enterprise_total(
        combustion_tco2=[300.0, 100.0],      # two fuels: 400 tCO2
        process_tco2=50.0,
        fugitive_tco2=5.0,
        purchased_electricity_tco2=570.3,    # 1 000 MWh × 0.5703
        purchased_heat_tco2=11.0,            # 100 GJ × 0.11
        exported_electricity_tco2=57.03,     # 100 MWh × 0.5703
        exported_heat_tco2=5.5,              # 50 GJ × 0.11
        non_co2_t={"CH4": 1.0, "N2O": 0.1},  # AR5: 1 × 28 + 0.1 × 265 = 54.5 tCO2e
        biomass_co2_t=80.0,                  # memo only
    )
    # 400 + 50 + 5 + 570.3 + 11 − 57.03 − 5.5 + 54.5 = 1028.27 tCO2e (biomass excluded)
    assert result.total_tco2e == pytest.approx(1028.27)
    assert result.non_co2_tco2e == pytest.approx(54.5)
    # direct: 400 + 50 + 5 + 54.5 = 509.5; indirect: 570.3 + 11 − 57.03 − 5.5 = 518.77
    assert result.direct_tco2e == pytest.approx(509.5)
    assert result.indirect_tco2 == pytest.approx(518.77)
    as_dict = result.as_dict()
    assert as_dict["biomass_co2_memo"] == 80.0 and as_dict["total_tco2e"] == pytest.approx(1028.27)
    frame = result.to_frame().set_index("category")
    assert frame.loc["exported_electricity", "tco2e"] == pytest.approx(-57.03)
    assert not frame.loc["biomass_co2_memo", "in_total"]
    # rows flagged in_total sum to the total
    assert frame.loc[frame["in_total"], "tco2e"].sum() == pytest.approx(1028.27)


def test_enterprise_total_rejects_negative_exports():
    with pytest.raises(ValueError, match="exported_heat_tco2 must be non-negative"):
        em.enterprise_total(exported_heat_tco2=-1.0)
