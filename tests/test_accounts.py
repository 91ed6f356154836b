"""Accounting service: hand-checked figures, roll-up invariant, no-op recompute, snapshots."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from carbonlib import accounts, views
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
    with Lake.open(small_demo_lake, read_only=True) as lake:
        tree = views.org_tree(lake)
    ratios = {"cap_utilisation"}
    for period in (str(YEAR), f"{YEAR}-07"):
        figures = account[(account.period == period) & ~account.item.isin(ratios)]
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
