"""Tests for carbonlib.factors: packaged coefficients match their published values."""

import pytest

from carbonlib import factors


def test_grid_2022_enterprise_reporting_series():
    # MEE notice on 2023-2025 power-sector GHG reporting (Feb 2023): 2022 national grid 0.5703 tCO2/MWh
    f = factors.grid_factor(2022)
    assert float(f) == 0.5703
    assert f.unit == "tCO2/MWh" and f.series == "mee_enterprise_reporting" and f.data_year == 2022
    assert f.verified and "0.5703" in f.source


def test_grid_2022_national_average_series_differs_from_enterprise_series():
    # MEE/NBS announcement on 2022 electricity CO2 factors (2024-12-20): national average 0.5366
    f = factors.grid_factor(2022, series="mee_nbs_average")
    assert float(f) == 0.5366
    assert float(f) != float(factors.grid_factor(2022))


def test_grid_2023_national_average():
    # MEE/NBS announcement on 2023 electricity CO2 factors: national average 0.5306 kgCO2/kWh
    assert float(factors.grid_factor(2023, series="mee_nbs_average")) == 0.5306


def test_grid_regional_with_chinese_name():
    # MEE/NBS 2022 announcement: North China regional grid 0.6776 (华北 = north)
    assert float(factors.grid_factor(2022, "mee_nbs_average", "华北")) == 0.6776


def test_factor_behaves_as_float():
    # 1000 MWh × 0.5703 tCO2/MWh = 570.3 tCO2
    assert factors.grid_factor(2022) * 1000 == pytest.approx(570.3)


def test_missing_year_names_available_years_and_series():
    with pytest.raises(ValueError) as err:
        factors.grid_factor(2015)
    message = str(err.value)
    assert "2015" in message and "2019, 2020, 2021, 2022" in message
    assert "mee_nbs_average: 2021, 2022, 2023" in message


def test_unknown_series_and_region():
    with pytest.raises(ValueError, match="known series: mee_enterprise_reporting"):
        factors.grid_factor(2022, series="iea")
    with pytest.raises(ValueError, match="regions: national"):
        factors.grid_factor(2022, series="mee_enterprise_reporting", region="north")


def test_heat_default_factor():
    # GB/T 32150-2015 Appendix B: default purchased-heat factor 0.11 tCO2/GJ
    f = factors.heat_factor()
    assert float(f) == 0.11 and f.unit == "tCO2/GJ"


@pytest.mark.parametrize(
    ("gas", "assessment", "expected"),
    [
        ("CH4", "SAR", 21), ("N2O", "SAR", 310),          # IPCC SAR (1995) GWP-100
        ("CH4", "AR4", 25), ("N2O", "AR4", 298),          # IPCC AR4 WG1 Table 2.14
        ("CH4", "AR5", 28), ("N2O", "AR5", 265),          # IPCC AR5 WG1 Table 8.A.1
        ("SF6", "AR5", 23500), ("HFC-134a", "AR5", 1300),  # IPCC AR5 WG1 Table 8.A.1
        ("NF3", "AR4", 17200),                            # IPCC AR4 WG1 Table 2.14
        ("N2O", "AR6", 273), ("HFC-32", "AR6", 771),      # IPCC AR6 WG1 Table 7.SM.7
        ("CH4_fossil", "AR6", 29.8),                      # IPCC AR6 WG1 Table 7.15
        ("CH4_non_fossil", "AR6", 27.0),                  # IPCC AR6 WG1 Table 7.15
        ("hfc23", "AR6", 14600),                          # AR6 Table 7.SM.7; spelling-insensitive
    ],
)
def test_gwp_values(gas, assessment, expected):
    assert factors.gwp(gas, assessment) == expected


def test_gwp_ar6_methane_must_be_explicit():
    with pytest.raises(ValueError, match="CH4_fossil"):
        factors.gwp("CH4", "AR6")


def test_gwp_unknown_gas_and_assessment():
    with pytest.raises(ValueError, match=r"no AR5 GWP for gas 'R-404A'.*HFC-134a"):
        factors.gwp("R-404A")
    with pytest.raises(ValueError, match="known: SAR, AR4, AR5, AR6"):
        factors.gwp("CH4", "TAR")


def test_nf3_has_no_sar_value():
    # NF3 was not assessed in the IPCC SAR GWP table
    with pytest.raises(ValueError, match="no SAR GWP"):
        factors.gwp("NF3", "SAR")


def test_diesel_parameters_of_both_families():
    # gbt2589: GB/T 2589-2020 App. A NCV 42 652 kJ/kg; ipcc_guidelines: GB/T 32150-2015 App. B 43.330 GJ/t
    stat = factors.fuel_parameters("diesel")
    ipcc = factors.fuel_parameters("柴油", family="ipcc_guidelines")
    assert (stat.ncv, stat.carbon_content, stat.oxidation) == (42.652, 20.2, 0.98)
    assert (ipcc.ncv, ipcc.carbon_content, ipcc.oxidation) == (43.330, 20.2, 0.98)
    assert stat.activity_unit == "t"
    assert factors.fuel_parameters("natural_gas").activity_unit == "10^4 Nm3"


def test_unknown_fuel_lists_known_fuels():
    with pytest.raises(ValueError, match=r"unknown fuel 'peat'.*diesel"):
        factors.fuel_parameters("peat")
    with pytest.raises(ValueError, match="known families: gbt2589, ipcc_guidelines"):
        factors.list_fuels("ipcc")


def test_every_row_has_a_source_and_verified_flag():
    for name in ("fuels", "grid", "heat", "gwp", "species_parameters"):
        table = factors.factor_table(name)
        assert table["source"].str.len().min() > 10, name
        assert table["verified"].dtype == bool, name
