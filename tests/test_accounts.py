"""Accounting service: hand-checked figures, roll-up invariant, no-op recompute, snapshots."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from carbonlib.accounting import accounts, tower_sinks, views
from carbonlib.lake import Lake
from carbonlib.settings import load_settings

YEAR = 2025


@pytest.fixture(scope="module")
def account(small_demo_lake) -> pd.DataFrame:
    with Lake.open(small_demo_lake, read_only=True) as lake:
        return lake.read("account")


def test_enterprise_combustion_equals_hand_calculation(small_demo_lake, account):
    """Diesel of a logistics firm: E = FC x NCV x CC x OF x 44/12 (GB/T 32150 B.1) with the
    GB/T 2589 family, NCV 42.652 GJ/t, CC 20.2 tC/TJ, OF 0.98 -> 3.0959096 tCO2/t."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        ledger = views.activity_effective(lake)
    diesel = ledger[(ledger.activity_type == "diesel") & (pd.to_datetime(ledger.period_start).dt.year == YEAR)]
    org = diesel.org_id.iloc[0]
    tonnes = diesel[diesel.org_id == org].amount.sum()
    per_t = 42.652e-3 * 20.2 * 0.98 * 44 / 12  # TJ/t x tC/TJ x OF x tCO2/tC
    figure = account[(account.org_id == org) & (account.period == str(YEAR)) & (account.item == "scope1_mobile_combustion")]
    assert figure.value.item() == pytest.approx(tonnes * per_t, rel=1e-9)


def test_purchased_electricity_uses_latest_enterprise_grid_factor(small_demo_lake, account):
    """2025 has no published factor yet: the 2022 MEE enterprise-reporting value 0.5703 tCO2/MWh applies."""
    row = account[(account.period == str(YEAR)) & (account.item == "scope2_purchased_electricity")].iloc[0]
    mwh = account[(account.org_id == row.org_id) & (account.period == str(YEAR))
                  & (account.item == "purchased_electricity_mwh")].value.item()
    assert row.value == pytest.approx(mwh * 0.5703, rel=1e-12)
    assert "mee_enterprise_reporting:2022" in row.basis


def test_children_sum_to_parent_for_every_additive_item(small_demo_lake, account):
    """Every period kind: the year, each quarter and each month."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        tree = views.org_tree(lake)
    ratios = {"cap_utilisation", "clinker_energy_intensity", "paper_energy_intensity"}
    assert accounts.RATIO_ITEMS == ratios
    account = account[account.method_version == accounts.METHOD_VERSION]
    for period in [p.label for p in accounts.year_periods(YEAR)]:
        figures = account[(account.period == period) & ~account.item.isin(ratios)]
        assert len(figures), f"no figures for {period}"
        wide = figures.pivot_table(index="org_id", columns="item", values="value", aggfunc="sum").fillna(0.0)
        for parent in tree[tree.level.isin(["province", "city", "county"])].org_id:
            children = tree[tree.parent_id == parent].org_id
            own = wide.loc[parent]
            summed = wide.reindex(children).fillna(0.0).sum()
            np.testing.assert_allclose(summed.to_numpy(), own.to_numpy(), rtol=1e-9, atol=1e-6, err_msg=f"{parent} {period}")


def test_months_sum_to_year_for_ledger_items(account):
    items = ["scope1_stationary_combustion", "scope2_purchased_electricity", "removals", "emissions_total"]
    province = account[(account.org_id == "P43") & account.item.isin(items)]
    year = province[province.period == str(YEAR)].set_index("item").value
    months = province[province.period.str.startswith(f"{YEAR}-")].groupby("item").value.sum()
    # monthly ledger entries cover the year exactly; removals are pro-rated by days (365 in 2025)
    pd.testing.assert_series_equal(months.sort_index(), year.sort_index(), check_names=False, rtol=1e-9)


def test_net_is_sources_minus_sinks_and_caps_cover_covered_sectors(account):
    year = account[account.period == str(YEAR)].pivot_table(index="org_id", columns="item", values="value")
    np.testing.assert_allclose(year.net, year.emissions_total - year.removals.fillna(0.0), rtol=1e-12)
    capped = year[year.cap_utilisation.notna()]
    assert len(capped) >= 3
    np.testing.assert_allclose(capped.cap_utilisation, capped.emissions_total / capped.cap, rtol=1e-12)
    assert not any(org.startswith(("P", "C", "D")) for org in capped.index), "utilisation only for capped enterprises"


def test_recompute_without_new_data_is_a_noop_and_new_data_replaces(small_demo_lake, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(small_demo_lake.lake, copy)
    settings = load_settings(lake=copy)
    with Lake.open(settings) as lake:
        before = lake.snapshot_id()
        result = accounts.build_accounts(lake, [YEAR])
        assert result.inserted == 0 and result.skipped > 0
        assert lake.snapshot_id() == before, "a no-op recompute must not create a snapshot"

        entry = views.activity_effective(lake).query("category == 'purchased_electricity'").iloc[0]
        extra = entry.copy()
        extra["entry_id"] = entry.entry_id + "-LATE"
        extra["amount"] = 100.0  # MWh delivered late for the same month
        lake.append("activity", pd.DataFrame([extra]))
        old = lake.read("account", where="org_id = ? AND period = ? AND item = 'scope2_purchased_electricity'",
                        params=[entry.org_id, str(YEAR)]).value.item()
        result = accounts.build_accounts(lake, [YEAR])
        assert result.inserted > 0
        new = lake.read("account", where="org_id = ? AND period = ? AND item = 'scope2_purchased_electricity'",
                        params=[entry.org_id, str(YEAR)]).value.item()
        assert new == pytest.approx(old + 100.0 * 0.5703, rel=1e-12)
        # the replaced figure records the newer snapshot; the untouched ones keep theirs
        stamps = lake.read("account", where="period = ?", params=[str(YEAR)])
        assert stamps.snapshot_id.nunique() == 2


def test_account_pinned_to_snapshot_is_reproducible(small_demo_lake, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(small_demo_lake.lake, copy)
    settings = load_settings(lake=copy)
    with Lake.open(settings) as lake:
        k = lake.snapshot_id()
        first = accounts.compute_accounts(lake, YEAR, monthly=False, snapshot=k)
        entry = views.activity_effective(lake).iloc[0].copy()
        entry["entry_id"] += "-NEW"
        lake.append("activity", pd.DataFrame([entry]))
        again = accounts.compute_accounts(lake, YEAR, monthly=False, snapshot=k)
        latest = accounts.compute_accounts(lake, YEAR, monthly=False)
    cols = ["org_id", "period", "item", "value", "unit", "basis", "snapshot_id"]
    pd.testing.assert_frame_equal(first[cols], again[cols])
    assert not latest[cols].equals(first[cols])


# ----------------------------------------------------------------- periods, energy, intensities
def _additive(account: pd.DataFrame) -> pd.DataFrame:
    return account[~account.item.isin(accounts.RATIO_ITEMS)]


def test_quarters_and_year_are_sums_of_their_months_for_every_additive_item(account):
    """Entries are spread over months by days, so quarter = its 3 months and year = its 12, item by item."""
    annual_only = account.item == "cap"  # the quota is set per year (clause 6.2.2)
    wide = _additive(account[~annual_only]).pivot_table(index=["org_id", "item"], columns="period", values="value",
                                                        aggfunc="sum")
    for quarter in range(1, 5):
        months = [f"{YEAR}-{m:02d}" for m in range(3 * quarter - 2, 3 * quarter + 1)]
        label = f"{YEAR}Q{quarter}"
        has_q = wide[label].notna()
        # removals_flux exists for a quarter only when all its months are complete: compare where it exists
        np.testing.assert_allclose(wide.loc[has_q, months].fillna(0).sum(axis=1), wide.loc[has_q, label],
                                   rtol=1e-9, atol=1e-6, err_msg=label)
    has_y = wide[str(YEAR)].notna()
    np.testing.assert_allclose(wide.loc[has_y, [f"{YEAR}Q{q}" for q in range(1, 5)]].fillna(0).sum(axis=1),
                               wide.loc[has_y, str(YEAR)], rtol=1e-9, atol=1e-6)


def test_parse_period_labels_and_errors():
    q3 = accounts.parse_period("2025Q3")
    assert (q3.start.isoformat(), q3.end.isoformat(), q3.months) == ("2025-07-01", "2025-09-30", [7, 8, 9])
    assert accounts.parse_period("2024-02").end.day == 29  # leap year
    assert [p.label for p in accounts.year_periods(2025)][:6] == ["2025", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2025-01"]
    with pytest.raises(ValueError, match="2025Q5.*quarter '2025Q3'"):
        accounts.parse_period("2025Q5")


def test_energy_use_of_a_cement_month_equals_gbt2589_hand_calculation(small_demo_lake, account):
    """energy (tce) = coal t x 0.7143 + electricity MWh x 1000 kWh x 0.1229 kgce/kWh / 1000 (GB/T 2589-2020 App.A)."""
    with Lake.open(small_demo_lake, read_only=True) as lake:
        ledger = views.activity_effective(lake)
    july = ledger[pd.to_datetime(ledger.period_start) == pd.Timestamp(YEAR, 7, 1)]
    org = july[july.activity_type == "clinker"].org_id.iloc[0]
    mine = july[july.org_id == org].set_index("category").amount
    assert set(mine.index) == {"stationary_combustion", "purchased_electricity", "process"}  # coal t, MWh, clinker t
    expected = mine.stationary_combustion * 0.7143 + mine.purchased_electricity * 1000 * 0.1229 / 1000
    got = account[(account.org_id == org) & (account.period == f"{YEAR}-07")].set_index("item").value
    assert got.energy_use_tce == pytest.approx(expected, rel=1e-12)
    assert got.clinker_energy_tce == pytest.approx(expected, rel=1e-12)  # it produced clinker that month
    assert got.clinker_energy_intensity == pytest.approx(1000 * expected / got.clinker_output_t, rel=1e-12)


def test_intensity_is_recomputed_at_parents_not_summed(account):
    """Parent intensity = rolled-up energy / rolled-up output; e.g. two plants 100 tce/1000 t and
    300 tce/1000 t give 200 kgce/t at their county, not 100 + 300."""
    year = account[account.period == str(YEAR)].pivot_table(index="org_id", columns="item", values="value")
    for product in accounts.PRODUCTS:
        made = year[year[f"{product}_output_t"] > 0]
        np.testing.assert_allclose(made[f"{product}_energy_intensity"],
                                   1000 * made[f"{product}_energy_tce"] / made[f"{product}_output_t"], rtol=1e-12)
        enterprises = made[made.index.str.startswith("E")]
        assert len(enterprises) >= 2, f"need two {product} makers to tell a ratio from a sum"
        assert made.loc["P43", f"{product}_energy_intensity"] < enterprises[f"{product}_energy_intensity"].sum()
        low, high = enterprises[f"{product}_energy_intensity"].min(), enterprises[f"{product}_energy_intensity"].max()
        assert low <= made.loc["P43", f"{product}_energy_intensity"] <= high


def test_removals_rule_inventory_feeds_net_and_flux_is_reported_beside_it(account):
    year = account[account.period == str(YEAR)].pivot_table(index="org_id", columns="item", values="value")
    np.testing.assert_allclose(year.removals, year.removals_inventory.fillna(0.0), rtol=0, atol=0)
    towers = year[year.removals_flux.notna()]
    assert set(towers.index) >= {"S430121-01", "S430121-02"}  # the two tower sites of the small demo
    assert (towers.removals_flux > 0).all()  # the subtropical forest/wetland towers take CO2 up
    basis = account[(account.org_id == "P43") & (account.period == str(YEAR))].set_index("item").basis
    assert "T-S430121-01" in basis.removals_flux and "u*=" in basis.removals_flux
    assert "mee_enterprise_reporting:2022" in basis.emissions_total  # factor versions carried to the total


# -------------------------------------------------------------------------------- flux towers
def _tiny_tower_lake(settings) -> None:
    """Province P1 > site S1 (100 ha, tower T-S1) with June 2025 half-hours: NEE = -5 umol m-2 s-1.

    Rg is 300 W m-2 throughout so no record is a night record and the u* filter (nights only)
    removes nothing; 10 NEE values are missing and 5 flagged bad: MDS fills them with -5.
    """
    org = pd.DataFrame([
        dict(org_id="P1", parent_id=None, level="province", kind="government", name_zh="省", name_en="Province",
             region_code="990000", industry=None, area_ha=None, latitude=None, longitude=None),
        dict(org_id="S1", parent_id="P1", level="site", kind="forest", name_zh="林场", name_en="Forest",
             region_code="990000", industry=None, area_ha=100.0, latitude=28.0, longitude=113.0)])
    device = pd.DataFrame([dict(device_id="T-S1", org_id="S1", kind="flux_tower", model="IRGASON", serial_no="SN1",
                                interval_s=1800, installed_on=pd.Timestamp("2025-01-01").date())])
    ts = pd.date_range("2025-06-01 00:00", "2025-06-30 23:30", freq="30min")  # interval starts, UTC
    assert len(ts) == 1440
    values = {"NEE": -5.0, "Rg": 300.0, "Tair": 25.0, "VPD": 10.0, "Ustar": 0.4}
    frames = []
    for metric, value in values.items():
        frame = pd.DataFrame({"device_id": "T-S1", "metric": metric, "ts": ts, "value": value, "qc": 0})
        if metric == "NEE":
            frame = frame.drop(index=range(100, 110))  # a 5-hour gap
            frame.loc[frame.index[500:505], "qc"] = 2  # bad records
        frames.append(frame)
    telemetry = pd.concat(frames, ignore_index=True).astype({"qc": "uint8"})
    with Lake.open(settings) as lake:
        lake.append("org", org)
        lake.append("device", device)
        lake.append("telemetry", telemetry)


def test_flux_removals_of_a_constant_month_equal_hand_calculation(empty_lake):
    """-5 umol CO2 m-2 s-1 x 1e-6 mol/umol x 1800 s x 1440 half-hours = 12.96 mol CO2 m-2
    = 155.66256 gC m-2 (x 12.011 g/mol) -> x 1e-2 (g m-2 -> t ha-1) x 44/12 (IPCC 2006 Vol.4 Ch.2 eq. 2.16)
    = 5.7076272 tCO2 ha-1 -> x 100 ha = 570.76272 tCO2 taken up in June."""
    _tiny_tower_lake(empty_lake)
    gc_m2 = -5e-6 * 1800 * 12.011 * 1440
    assert gc_m2 == pytest.approx(-155.66256, rel=1e-12)
    expected = -gc_m2 * 1e-2 * 44 / 12 * 100
    assert expected == pytest.approx(570.76272, rel=1e-12)
    with Lake.open(empty_lake) as lake:
        monthly = tower_sinks.flux_removals(lake, 2025).set_index("month")
        assert monthly.loc[6, "complete"] and not monthly.drop(index=6).complete.any()
        assert monthly.loc[6, "nee_gc_m2"] == pytest.approx(gc_m2, rel=1e-12)
        assert monthly.loc[6, "removals_tco2e"] == pytest.approx(expected, rel=1e-12)
        assert monthly.loc[6, "n_measured"] == 1440 - 10 - 5
        accounts.build_accounts(lake)
        flux = lake.read("account", where="item = 'removals_flux'")
    got = flux.set_index(["org_id", "period"]).value
    assert got[("S1", "2025-06")] == pytest.approx(expected, rel=1e-12)
    assert got[("P1", "2025-06")] == pytest.approx(expected, rel=1e-12)
    # April and May have no data: neither Q2 nor the year has a (partial) flux figure
    assert set(flux.period) == {"2025-06"}


# ------------------------------------------------------------------------------ incremental
def _lake_copy(small_demo_lake, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(small_demo_lake.lake, copy)
    return load_settings(lake=copy)


def _chain(lake: Lake, org_id: str) -> set[str]:
    tree = views.org_tree(lake).set_index("org_id")
    return set(tree.path[org_id].split("/"))


def _assert_incremental_equals_full(lake: Lake, result: accounts.RefreshResult) -> None:
    table = lake.read("account", where="method_version = ?", params=[accounts.METHOD_VERSION])
    full = accounts.compute_accounts(lake, YEAR, snapshot=result.to_snapshot)
    key = ["org_id", "period", "item"]
    both = full.merge(table, on=key, how="outer", suffixes=("_full", "_table"), indicator=True)
    assert (both._merge == "both").all(), both[both._merge != "both"][key].head()
    np.testing.assert_allclose(both.value_table, both.value_full, rtol=1e-12, atol=1e-9)
    assert (both.basis_table == both.basis_full).all()
    for end in ("ci95_low", "ci95_high"):  # the intervals too: the frontier's uncertainty components roll up alike
        np.testing.assert_allclose(both[f"{end}_table"].astype(float), both[f"{end}_full"].astype(float),
                                   rtol=1e-12, atol=1e-9)
    assert (both.uncertainty_table == both.uncertainty_full).all()


def _changed_pairs(before: pd.DataFrame, after: pd.DataFrame) -> tuple[set, pd.DataFrame]:
    key = ["org_id", "period", "method_version", "item"]
    both = before.merge(after, on=key, suffixes=("_before", "_after"))
    assert len(both) == len(before) == len(after)
    moved = (both.snapshot_id_before != both.snapshot_id_after) | (both.computed_at_before != both.computed_at_after)
    return set(map(tuple, both[moved][["org_id", "period"]].drop_duplicates().to_numpy())), both[~moved]


def test_refresh_without_new_data_is_a_noop(small_demo_lake, tmp_path):
    with Lake.open(_lake_copy(small_demo_lake, tmp_path)) as lake:
        before = lake.snapshot_id()
        result = accounts.refresh_accounts(lake)
        assert (result.reason, result.rows_written, len(result.recomputed)) == ("no new data", 0, 0)
        assert lake.snapshot_id() == before


def test_refresh_after_one_ledger_entry_recomputes_only_its_org_chain_and_periods(small_demo_lake, tmp_path):
    with Lake.open(_lake_copy(small_demo_lake, tmp_path)) as lake:
        before = lake.read("account")
        entry = views.activity_effective(lake).query("category == 'purchased_electricity'").iloc[40].copy()
        month = pd.Timestamp(entry.period_start)
        entry["entry_id"] += "-LATE"
        entry["amount"] = 100.0  # MWh
        lake.append("activity", pd.DataFrame([entry]))
        result = accounts.refresh_accounts(lake)
        chain = _chain(lake, entry.org_id)
        periods = {str(YEAR), f"{YEAR}Q{month.quarter}", f"{month:%Y-%m}"}
        expected = {(o, p) for o in chain for p in periods}
        assert len(chain) == 4  # enterprise, county, city, province
        assert set(map(tuple, result.recomputed[["org_id", "period"]].to_numpy())) == expected
        changed, kept = _changed_pairs(before, lake.read("account"))
        assert changed == expected  # 100 MWh x 0.5703 changes scope 2, totals and energy in each of them
        assert len(kept) > 0.9 * len(before)  # everything else kept its snapshot_id and computed_at
        after = lake.read("account", where="item = 'scope2_purchased_electricity' AND period = ?", params=[str(YEAR)])
        old = before[(before.item == "scope2_purchased_electricity") & (before.period == str(YEAR))]
        delta = after.set_index("org_id").value - old.set_index("org_id").value
        np.testing.assert_allclose(delta[sorted(chain)], 100.0 * 0.5703, rtol=1e-9)
        assert (delta.drop(index=sorted(chain)) == 0).all()
        _assert_incremental_equals_full(lake, result)


def test_refresh_after_one_day_of_tower_telemetry_recomputes_only_that_site_year(small_demo_lake, tmp_path):
    """T-S430121-01 was silent on 2025-05-21 (power failure); the day arrives late.

    u* threshold and MDS use the tower's whole year, so every period of 2025 of the site and
    its ancestors is recomputed; May, Q2 and the year must change, nothing outside the chain may.
    """
    with Lake.open(_lake_copy(small_demo_lake, tmp_path)) as lake:
        day = "ts >= TIMESTAMP '2025-05-21' AND ts < TIMESTAMP '2025-05-22'"
        assert lake.query(f"SELECT count(*) AS n FROM telemetry WHERE device_id = 'T-S430121-01' AND {day}").n[0] == 0
        late = lake.query("SELECT device_id, metric, ts + INTERVAL 7 DAY AS ts, value, qc FROM telemetry "
                          "WHERE device_id = 'T-S430121-01' AND ts >= TIMESTAMP '2025-05-14' AND ts < TIMESTAMP '2025-05-15'")
        assert late.metric.nunique() == 5 and len(late) > 200
        before = lake.read("account")
        lake.append("telemetry", late)
        result = accounts.refresh_accounts(lake)
        chain = _chain(lake, "S430121-01")
        recomputed = set(map(tuple, result.recomputed[["org_id", "period"]].to_numpy()))
        assert recomputed == {(o, p.label) for o in chain for p in accounts.year_periods(YEAR)}
        changed, _ = _changed_pairs(before, lake.read("account"))
        assert {(o, p) for o in chain for p in (str(YEAR), f"{YEAR}Q2", f"{YEAR}-05")} <= changed <= recomputed
        moved = lake.read("account").merge(before, on=["org_id", "period", "method_version", "item"], suffixes=("", "_b"))
        moved = moved[moved.snapshot_id != moved.snapshot_id_b]
        assert {i.split(":")[1] if i.startswith(accounts.U95) else i for i in moved.item} <= {"removals_flux"}, \
            "tower data may change removals_flux (and its uncertainty components) only"
        _assert_incremental_equals_full(lake, result)


def test_a_sink_sites_own_emissions_are_deducted_from_its_removals_clause_3_2(small_demo_lake, tmp_path):
    """T/QGCML 2364-2023 clause 3.2: removals by sinks = stock change - emissions inside the monitoring boundary.

    Diesel burnt by the forest farm S430121-01 for site work (a copy of an approved diesel entry of an
    enterprise, booked to the site): its tCO2e E is deducted from the site's removals and from every
    ancestor's, stays out of emissions_total (counted once), and so raises net by E along the chain.
    """
    with Lake.open(_lake_copy(small_demo_lake, tmp_path)) as lake:
        before = lake.read("account", where="method_version = ? AND period = ?", params=[accounts.METHOD_VERSION, str(YEAR)])
        entry = views.activity_effective(lake).query("category == 'mobile_combustion'").iloc[0].copy()
        entry["entry_id"] += "-SITE"
        entry["org_id"] = "S430121-01"
        lake.append("activity", pd.DataFrame([entry]))
        result = accounts.refresh_accounts(lake)
        after = lake.read("account", where="method_version = ? AND period = ?", params=[accounts.METHOD_VERSION, str(YEAR)])
        _assert_incremental_equals_full(lake, result)
        chain = sorted(_chain(lake, "S430121-01"))
    old = before.pivot_table(index="org_id", columns="item", values="value")
    new = after.pivot_table(index="org_id", columns="item", values="value")
    emitted = new.loc["S430121-01", "emissions_in_boundary"]
    assert emitted == pytest.approx(new.loc["S430121-01", "scope1_mobile_combustion"], rel=1e-12) and emitted > 0
    np.testing.assert_allclose(new.loc[chain, "emissions_in_boundary"], emitted, rtol=1e-12)
    np.testing.assert_allclose(new.loc[chain, "removals"], old.loc[chain, "removals"] - emitted, rtol=1e-12)
    np.testing.assert_allclose(new.loc[chain, "removals"],
                               new.loc[chain, "removals_inventory"] - new.loc[chain, "emissions_in_boundary"], rtol=1e-12)
    np.testing.assert_allclose(new.loc[chain, "emissions_total"], old.loc[chain, "emissions_total"], rtol=1e-12)
    np.testing.assert_allclose(new.loc[chain, "net"], old.loc[chain, "net"] + emitted, rtol=1e-12)
    basis = after[(after.org_id == "P43") & (after.item == "removals")].basis.iloc[0]
    assert basis.startswith("clause 3.2: removals = removals_inventory")
