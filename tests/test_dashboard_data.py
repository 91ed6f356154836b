"""The dashboards' in-memory roll-ups (carbonlib.viz.data), without a browser.

What the pages show must equal the accounting service (:func:`carbonlib.accounting.accounts.account_figures`),
the cache must be reused while only telemetry arrives and be re-read when a roll-up table
changes, and the monitor's SQL status must follow new telemetry.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from conftest import lake_settings

from carbonlib.accounting import accounts
from carbonlib.lake import Lake
from carbonlib.viz import data


@pytest.fixture
def lake_copy(small_demo_lake, tmp_path):
    """A writable copy of the small demo lake, opened read-write."""
    target = tmp_path / "lake"
    shutil.copytree(small_demo_lake.lake, target)
    with Lake.open(lake_settings(target)) as lake:
        yield lake


def test_rollup_figures_equal_the_accounting_service(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        rollups = data.rollups(lake)
        orgs = rollups.tree.org_id.tolist()
        regional = rollups.accounts.basis.str.startswith("Σ emissions_total / Σ cap")
        for org_id in orgs:
            for period in ("2025", "2025-03", "2025Q2"):
                expected = accounts.account_figures(lake, org_id, period)[data.FIGURE_COLUMNS].reset_index(drop=True)
                shown = rollups.figures(org_id, period)
                own = shown[~shown.basis.str.startswith("Σ emissions_total / Σ cap")].reset_index(drop=True)
                pd.testing.assert_frame_equal(own, expected, check_dtype=False)
        # besides the accounts: the cap utilisation of each region (its capped enterprises' sums), annual only
        capped = rollups.accounts[(rollups.accounts.item == "cap_utilisation") & ~regional]
        assert set(rollups.accounts[regional].org_id) == {"P43", "C4301", "C4302", "D430121", "D430181", "D430223", "D430281"}
        assert set(rollups.accounts[regional].period.str.len()) == {4} and not set(capped.org_id) & set(rollups.accounts[regional].org_id)
        wide = rollups.wide(orgs, "2025")
        assert list(wide.index) == orgs
        own = accounts.account_figures(lake, "D430121", "2025")
        for item, value in zip(own.item, own.value):
            assert wide.loc["D430121", item] == value
        assert rollups.periods("P43")[0] == "2025" and "2025-12" in rollups.periods("P43")
        assert rollups.periods("P43", annual_only=True) == sorted(
            {p for p in rollups.periods("P43") if len(p) == 4}, reverse=True)
        with pytest.raises(ValueError, match="carbon accounts build"):
            rollups.periods("no-such-org")


def test_monthly_figures_are_the_months_of_the_year(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        trend = data.rollups(lake).monthly(["E430121-01"], "2025", ("emissions_total",))
        assert len(trend) == 12 and trend.month.is_monotonic_increasing
        annual = accounts.account_figures(lake, "E430121-01", "2025")
        total = annual.loc[annual.item == "emissions_total", "value"].iloc[0]
        assert trend.value.sum() == pytest.approx(total, rel=1e-9)


def test_rollups_are_reused_for_new_telemetry_and_reread_when_a_rollup_table_changes(lake_copy):
    lake = lake_copy
    first = data.rollups(lake)
    assert data.rollups(lake) is first

    meter = "M-E430121-01-electricity_import"
    newest = lake.query("SELECT max(ts) AS ts FROM telemetry WHERE device_id = ?", [meter]).ts.iloc[0]
    lake.append("telemetry", pd.DataFrame({"device_id": [meter], "metric": ["electricity_import"],
                                           "ts": [newest + pd.Timedelta(hours=1)], "value": [1.0], "qc": [0]}),
                source="test_dashboard_data")
    assert lake.tables_changed(first.snapshot_id, lake.snapshot_id(), data.ROLLUP_TABLES) == []
    assert data.rollups(lake) is first, "new telemetry alone must not reload the accounts"

    site = lake.read("org", where="org_id = 'S430121-01'")
    lake.append("org", site.assign(org_id="S430121-99", name_en="Test Forest Farm", name_zh="测试林场"),
                source="test_dashboard_data")
    assert lake.tables_changed(first.snapshot_id, lake.snapshot_id(), data.ROLLUP_TABLES) == ["org"]
    fresh = data.rollups(lake)
    assert fresh is not first and "S430121-99" in set(fresh.tree.org_id)
    assert fresh.snapshot_id == lake.snapshot_id()


def test_device_status_follows_new_telemetry(lake_copy):
    lake = lake_copy
    rollups = data.rollups(lake)
    devices = rollups.devices[rollups.devices.org_id == "E430121-01"]
    before = data.status_table(data.device_status(lake), devices)
    newest = before.last_seen.max()
    assert set(before.status) == {"offline"}  # the demo's readings lie in the past of the wall clock

    arrival = newest + pd.Timedelta(hours=3)
    lake.append("telemetry", pd.DataFrame({"device_id": ["M-E430121-01-electricity_import"], "metric": ["electricity_import"],
                                           "ts": [arrival], "value": [123456.0], "qc": [0]}), source="test_dashboard_data")
    status = data.device_status(lake)
    after = data.status_table(status, devices, now=arrival).set_index("device_id")  # as if it were that moment
    assert after.loc["M-E430121-01-electricity_import", "last_seen"] == arrival
    assert after.loc["M-E430121-01-electricity_import", "status"] == "online"
    for device, row in after.iterrows():  # age is measured from the clock
        assert row.age_h == pytest.approx((arrival - row.last_seen).total_seconds() / 3600), device
        ages_in_intervals = row.age_h * 3600 / row.interval_s
        expected = "online" if ages_in_intervals <= 2 else "late" if ages_in_intervals <= 12 else "offline"
        assert row.status == expected, device
    assert after.loc["M-E430121-01-diesel", "status"] == "late"  # hourly meter, 3 h behind the new reading
    latest = status.latest.set_index(["device_id", "metric"])
    assert latest.loc[("M-E430121-01-electricity_import", "electricity_import"), "last_value"] == 123456.0
    series = data.recent_series(lake, status, [("M-E430121-01-electricity_import", "electricity_import")])
    shown = series[("M-E430121-01-electricity_import", "electricity_import")]
    assert shown.ts.iloc[-1] == arrival and shown.value.iloc[-1] == 123456.0


def test_every_metric_unit_is_shown_with_proper_symbols():
    """Pages write µmol m⁻² s⁻¹ and °C, not the schema's ASCII codes 'umol m-2 s-1' and 'degC' (issue 9)."""
    import re

    from carbonlib.lake.schema import METRICS
    from carbonlib.viz.theme import unit_symbol

    assert unit_symbol("umol m-2 s-1") == "µmol m⁻² s⁻¹" and unit_symbol("degC") == "°C"
    for metric in METRICS.values():
        shown = unit_symbol(metric.unit)
        assert not re.search(r"\w-\d|deg|umol|\d$", shown), (metric.name, shown)


def test_every_device_kind_has_a_name_in_both_languages():
    """The monitor shows 电能表 / Electricity meter, not the schema code electricity_meter (issue 9)."""
    from carbonlib.lake.schema import DEVICE_KINDS
    from carbonlib.i18n import label

    for kind in DEVICE_KINDS:
        assert label(kind, "zh") != kind and label(kind, "en") != kind, kind


def test_the_explorer_draws_each_choice_once_and_a_selection_change_once(small_demo_lake, monkeypatch):
    """Choosing an org sets the table's selection itself: its watcher must not draw the charts a second time
    (it did: every org change read and drew the trend and the daily telemetry twice)."""
    from carbonlib.security import Grant, Principal
    from carbonlib.viz import components
    from carbonlib.viz.scope import Scope

    with Lake.open(small_demo_lake, read_only=True) as lake:
        rollups = data.rollups(lake)
        scope = Scope(Principal(1, "t", "t", grants=(Grant("analyst", "P43"),)), rollups.tree, "view_figures")
        view = components.Explorer(lake, scope, lang="en", rollups=rollups)
        drawn = []
        real = view._draw_selection
        monkeypatch.setattr(view, "_draw_selection", lambda chosen: (drawn.append(list(chosen.org_id)), real(chosen)))
        view.org_select.value = "D430181"
        assert len(drawn) == 1 and drawn[0] and all(o.startswith(("E430181", "S430181")) for o in drawn[0])
        assert set(view._rows.org_id) >= set(drawn[0]) and "D430181" in view.selected.object
        assert "carbon-drawn" in view.progress.object and 'data-org="D430181"' in view.progress.object
        view.table.selection = [0]
        assert len(drawn) == 2 and drawn[1] == [view._rows.org_id.iloc[0]]


def test_the_overview_shows_each_figures_95_percent_interval_and_says_when_there_is_none(small_demo_lake):
    """KPI cards carry the interval under the number and the account's note as tooltip; the breakdown's
    tooltips and the figures table carry it per item (the demo's factor rows state no uncertainty, so
    emissions say so; the inventory removals have their plot-sampling interval)."""
    from carbonlib.security import Grant, Principal
    from carbonlib.i18n import label
    from carbonlib.viz import components, theme
    from carbonlib.viz.scope import Scope

    with Lake.open(small_demo_lake, read_only=True) as lake:
        rollups = data.rollups(lake)
        scope = Scope(Principal(1, "t", "t", grants=(Grant("analyst", "P43"),)), rollups.tree, "view_figures")
        view = components.Overview(lake, scope, org="P43", period="2025", lang="en", rollups=rollups)
        own = accounts.account_figures(lake, "P43", "2025").set_index("item")
    removals = own.loc["removals"]
    expected = (f"95 % interval {theme.format_value(removals.ci95_low, 'tCO2e')} – "
                f"{theme.format_value(removals.ci95_high, 'tCO2e')}")
    kpis = view.kpis.object
    assert expected in kpis and kpis.count('class="kpi-interval"') >= 3
    assert "no interval estimate" in kpis and "ef=grid:" in kpis  # emissions: the note names the rows without one
    shown = view.figures.set_index("item")
    assert shown.loc["removals", "ci95"] == expected
    assert shown.loc["scope2_purchased_electricity", "ci95"] == "no interval estimate"
    assert shown.loc["cap", "ci95"] == "exact"  # an allocated amount: both ends are the value, not an interval
    tooltips = dict(zip(view.breakdown.source.data["category"], view.breakdown.source.data["interval"]))
    categories = [i for i in own.index if i.startswith(("scope1_", "scope2_", "exported_"))]
    assert len(categories) >= 4 and {tooltips[label(i, "en")] for i in categories} == {"no interval estimate"}
