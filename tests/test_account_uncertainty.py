"""95 % intervals of the account figures (IPCC 2006 Vol.1 Ch.3 Approach 1), checked by hand and against the
independent code paths that compute the same uncertainty (registry monitoring, tower sinks)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from carbonlib import uncertainty
from carbonlib.accounting import accounts, factor_library, tower_sinks
from carbonlib.lake import Lake
from carbonlib.registry import monitoring
from carbonlib.settings import load_settings

YEAR = 2025
GRID_PCT = 5.0
DIESEL_PCT = {"ncv": 2.0, "carbon_content": 3.0, "oxidation": 1.0}


def test_paired_difference_u95_equals_the_t_table_value():
    """d = 1, 2, 3, 4: mean 2.5, sd = sqrt(5/3) = 1.290994, n = 4; t(0.975, 3) = 3.182446 (any Student's t
    table, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.2): half-width = 3.182446 * 1.290994 / 2 = 2.054259."""
    assert uncertainty.paired_difference_u95([1.0, 2.0, 3.0, 4.0]) == pytest.approx(2.054259, abs=2e-6)
    assert np.isnan(uncertainty.paired_difference_u95([3.0]))  # one pair: no spread to estimate


@pytest.fixture(scope="module")
def stated(small_demo_lake, tmp_path_factory) -> pd.DataFrame:
    """A copy of the small demo where the grid factor and the diesel parameters in force state an uncertainty
    (rows superseding them from 2025, as an operator adds with `carbon factors add --uncertainty-pct`)."""
    copy = tmp_path_factory.mktemp("uncertainty") / "lake"
    shutil.copytree(small_demo_lake.lake, copy)
    with Lake.open(load_settings(lake=copy)) as lake:
        library = factor_library.FactorLibrary.of_lake(lake, YEAR)
        rows = lake.read("emission_factor").set_index("factor_id")
        grid = library.grid()
        added = [(grid.factor_id, GRID_PCT)] + [(row.factor_id, DIESEL_PCT[row.kind]) for row in library.fuel("diesel")]
        new = rows.loc[[fid for fid, _ in added]].reset_index()
        new = new.assign(factor_id=new.factor_id + ":u", effective_year=YEAR, uncertainty_pct=[p for _, p in added])
        lake.append("emission_factor", new.astype({"effective_year": "Int32"}))
        accounts.refresh_accounts(lake)  # a factor change rebuilds every account
        return lake.read("account", where="method_version = ? AND period = ?",
                         params=[accounts.METHOD_VERSION, str(YEAR)])


def _half(figure: pd.Series) -> float:
    return (figure.ci95_high - figure.ci95_low) / 2.0


def _figure(account: pd.DataFrame, org: str, item: str) -> pd.Series:
    return account[(account.org_id == org) & (account.item == item)].iloc[0]


def test_one_factors_stated_uncertainty_gives_each_figure_its_share_and_adds_up_fully_correlated(stated):
    """Scope 2 = MWh x grid factor: with the grid factor at ±5 % every enterprise's scope-2 figure is ±5 %
    (the ledger's MWh count as recorded).  The same factor's error is shared by all enterprises, so the
    province's scope 2 is ±5 % of its sum (linear), wider than the children's half-widths in quadrature."""
    scope2 = stated[stated.item == "scope2_purchased_electricity"].set_index("org_id")
    enterprises = scope2[scope2.index.str.startswith("E")]
    assert len(enterprises) >= 5
    np.testing.assert_allclose(_half(enterprises), 0.05 * enterprises.value, rtol=1e-9)
    np.testing.assert_allclose((enterprises.ci95_low + enterprises.ci95_high) / 2, enterprises.value, rtol=1e-12)
    assert enterprises.uncertainty.str.contains("Approach 1").all()
    province = scope2.loc["P43"]
    assert _half(province) == pytest.approx(0.05 * province.value, rel=1e-9)
    assert _half(province) > 1.5 * np.sqrt((_half(enterprises) ** 2).sum())


def test_fuel_parameters_combine_in_quadrature_eq_3_1(stated):
    """Diesel: E = FC x NCV x CC x OF x 44/12, so U = sqrt(2² + 3² + 1²) % = 3.741657 % (IPCC 2006 Vol.1 Eq 3.1)."""
    mobile = stated[stated.item == "scope1_mobile_combustion"]
    mobile = mobile[mobile.org_id.str.startswith("E")]
    assert len(mobile) >= 3 and mobile.ci95_low.notna().all()
    np.testing.assert_allclose(_half(mobile), 0.03741657 * mobile.value, rtol=1e-6)


def test_a_figure_with_a_part_without_uncertainty_has_no_interval_and_says_which_rows(stated):
    """Cement: its process emissions use the clinker factor, which states no uncertainty, so neither
    scope1_process nor emissions_total nor net gets an interval; the note names the row."""
    process = stated[(stated.item == "scope1_process") & stated.org_id.str.startswith("E")]
    org = process.org_id.iloc[0]
    for item in ("scope1_process", "emissions_total", "net"):
        figure = _figure(stated, org, item)
        assert np.isnan(figure.ci95_low) and np.isnan(figure.ci95_high), item
        assert figure.uncertainty.startswith("no 95 % interval") and "ef=process:clinker" in figure.uncertainty
    assert "ef=grid:" not in _figure(stated, org, "emissions_total").uncertainty  # the grid row now states one


def test_a_count_and_an_allocation_are_exact_and_a_metered_quantity_says_it_is_not_estimated(stated):
    cap = stated[stated.item == "cap"].iloc[0]
    assert cap.ci95_low == cap.ci95_high == cap.value
    mwh = stated[stated.item == "purchased_electricity_mwh"].iloc[0]
    assert np.isnan(mwh.ci95_low) and mwh.uncertainty.startswith("not estimated")


def test_inventory_sampling_interval_equals_the_monitoring_reports_paired_plot_uncertainty(small_demo_lake):
    """Two code paths: the accounts (per site, stands in quadrature) and the registry's monitoring report
    (per stand, t x sd(d)/sqrt(n) of the paired plot differences).  For a whole survey interval year the
    account's half-width is the stands' u95 in quadrature; the province adds its sites in quadrature."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        account = lake.read("account", where="method_version = ? AND period = ?",
                            params=[accounts.METHOD_VERSION, str(YEAR)])
        stands = lake.read("forest_stand")
        species = lake.read("species_parameter").set_index("species_group")
        site = "S430181-01"
        plots = monitoring._plot_volumes(lake, list(stands[stands.org_id == site].stand_id), lake.snapshot_id())
    per_stand = pd.DataFrame([monitoring.stand_removals(stand, plots[plots.stand_id == stand.stand_id],
                                                        species.loc[stand.species_group])
                              for stand in stands[stands.org_id == site].itertuples(index=False)])
    assert len(per_stand) >= 5 and per_stand.u95_tco2e.notna().all()
    figure = _figure(account, site, "removals_inventory")
    assert figure.value == pytest.approx(per_stand.removals_tco2e.sum(), rel=1e-6)
    assert _half(figure) == pytest.approx(np.sqrt((per_stand.u95_tco2e ** 2).sum()), rel=1e-6)
    sites = account[(account.item == "removals_inventory") & account.org_id.str.startswith("S")]
    province = _figure(account, "P43", "removals_inventory")
    assert _half(province) == pytest.approx(np.sqrt((_half(sites) ** 2).sum()), rel=1e-9)


def test_tower_interval_adds_monthly_random_errors_in_quadrature_and_the_ustar_error_linearly(small_demo_lake):
    """Random errors of different months are independent; one u* threshold error shifts every month of the
    tower-year the same way: half² = Σ_m random_m² + (Σ_m ustar_m)² (from tower_sinks' monthly figures)."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        monthly = tower_sinks.flux_removals(lake, YEAR)
        account = lake.read("account", where="method_version = ? AND period = ? AND item = 'removals_flux'",
                            params=[accounts.METHOD_VERSION, str(YEAR)])
    for org, months in monthly.groupby("org_id"):
        assert months.complete.all() and months.u95_tco2e.notna().all() and months.u95_ustar_tco2e.notna().all()
        expected = np.sqrt((months.u95_tco2e ** 2).sum() + months.u95_ustar_tco2e.sum() ** 2)
        assert _half(_figure(account, org, "removals_flux")) == pytest.approx(expected, rel=1e-9)
        assert (months.u95_tco2e > 0).all()


def test_the_figures_readers_show_the_intervals_but_never_the_components(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        figures = accounts.account_figures(lake, "P43", str(YEAR))
        stored = lake.read("account", where="org_id = 'P43' AND period = ?", params=[str(YEAR)])
    assert not figures.item.str.startswith(accounts.U95).any()
    assert stored.item.str.startswith(accounts.U95).any()
    removals = figures.set_index("item").loc["removals"]
    assert removals.ci95_low < removals.value < removals.ci95_high


def test_tower_partitioning_by_both_methods_agrees_with_the_accounts_tower_sink(small_demo_lake):
    """The monitoring report's cross-check: per tower-year, GPP and Reco by night-time (Reichstein et al. 2005)
    and daytime (Lasslop et al. 2010) partitioning.  Both methods share the gap-filled NEE, so Reco - GPP is
    the same annual NEE the accounts turn into removals_flux (sign flipped); the two GPP estimates of one
    tower-year differ by a few per cent in the literature (Lasslop et al. 2010, Fig. 6): here within 15 %."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        found = tower_sinks.partitioning(lake, YEAR)
        monthly = tower_sinks.flux_removals(lake, YEAR)
    assert set(found.method) == {"nighttime", "daytime"} and found.device_id.nunique() == monthly.device_id.nunique()
    for device, rows in found.groupby("device_id"):
        night, day = rows.set_index("method").loc["nighttime"], rows.set_index("method").loc["daytime"]
        assert night.gpp_tco2e > 0 and day.gpp_tco2e > 0
        assert night.reco_tco2e - night.gpp_tco2e == pytest.approx(night.nee_tco2e, rel=1e-9)
        removals = monthly[monthly.device_id == device].removals_tco2e.sum()
        assert -night.nee_tco2e == pytest.approx(removals, rel=1e-9)
        assert day.gpp_tco2e == pytest.approx(night.gpp_tco2e, rel=0.15)
