"""Tests of the demo province (carbonlib.demo): completeness, determinism and realism.

Expectations are derived by hand from the generator's documented design (carbonlib/demo/*.py):
a Hunan-like humid subtropical climate (January about 5 degC, July about 29 degC), UTC+8
local time, hourly meters in the small scale, half-hourly flux towers, and a ledger derived
from the same true energy flows as the meters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonlib import boundaries
from carbonlib.demo import DEFAULT_SEED, build_demo
from carbonlib.lake import Lake
from carbonlib.lake.schema import TABLES
from carbonlib.registry import Registry
from carbonlib.settings import load_settings

pytestmark = pytest.mark.slow

#: Tables the small demo build leaves empty on purpose: they are filled by later jobs
#: (report_run by papermill report runs, alert_event by the alerts job, activity_evidence by data officers
#: attaching files).  Remove a name once the demo fills that table.
FILLED_LATER = {"report_run", "alert_event", "activity_evidence", "cap_request", "cap_decision"}

TOWER_METRICS = {"NEE", "Rg", "Tair", "VPD", "Ustar"}


@pytest.fixture(scope="module")
def demo(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        yield lake


# ------------------------------------------------------------------------------ completeness
def test_filled_later_names_real_tables():
    assert FILLED_LATER <= set(TABLES)


@pytest.mark.parametrize("name", sorted(set(TABLES) - FILLED_LATER))
def test_every_table_has_rows(demo, name):
    assert int(demo.query(f"SELECT count(*) AS n FROM {name}").n[0]) > 0, f"the small demo leaves {name} empty"


def test_demo_records_its_scale_and_seed(demo):
    assert demo.meta("demo_scale") == "small"
    assert demo.meta("demo_seed") == str(DEFAULT_SEED)


# ------------------------------------------------------------------------------- determinism
def test_same_seed_gives_the_same_lake_and_another_seed_does_not(small_demo_lake, tmp_path):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        reference = lake.checksums()
    again = load_settings(lake=tmp_path / "again")
    build_demo(again, "small", DEFAULT_SEED, progress=False)
    with Lake.open(again, read_only=True) as lake:
        assert lake.checksums() == reference
    other = load_settings(lake=tmp_path / "other")
    build_demo(other, "small", DEFAULT_SEED + 1, progress=False)
    with Lake.open(other, read_only=True) as lake:
        different = lake.checksums()
    assert different["telemetry"] != reference["telemetry"]
    assert different["org"] != reference["org"]  # coordinates and site areas are drawn from the seed


# --------------------------------------------------------------------------- org tree realism
def test_org_tree_levels(demo):
    org = demo.read("org")
    counts = org.level.value_counts()
    assert counts["province"] == 1
    assert counts["city"] >= 2
    assert counts["county"] >= 4
    assert counts["enterprise"] >= 12
    assert counts["site"] >= 8
    enterprises = org[org.level == "enterprise"]
    assert set(enterprises.industry) == {"power", "cement", "paper", "logistics", "park"}
    assert set(org[org.level == "site"].kind) == {"forest", "wetland", "urban_green"}
    assert org[org.level != "enterprise"].industry.isna().all()
    # every node but the province hangs under the next level up
    parent_level = org.set_index("org_id").level
    expected = {"city": {"province"}, "county": {"city"}, "enterprise": {"county"}, "site": {"county"}}
    for row in org[org.level != "province"].itertuples():
        assert parent_level[row.parent_id] in expected[row.level], row.org_id
    assert org.loc[org.level == "province", "parent_id"].isna().all()


def test_region_codes(demo):
    org = demo.read("org").set_index("org_id")
    assert org.region_code.str.fullmatch(r"\d{6}").all()
    assert org.loc[org.level == "province", "region_code"].tolist() == ["430000"]  # Hunan
    for county_id, county in org[org.level == "county"].iterrows():
        city = org.loc[county.parent_id]
        assert city.region_code.endswith("00")
        assert county.region_code[:4] == city.region_code[:4], county_id
    for node_id, node in org[org.level.isin(["enterprise", "site"])].iterrows():
        assert node.region_code == org.loc[node.parent_id, "region_code"], node_id
    # Hunan lies between about 24.6 and 30.1 N, 108.8 and 114.3 E
    located = org.dropna(subset=["latitude"])
    assert located.latitude.between(24.5, 30.2).all() and located.longitude.between(108.7, 114.4).all()
    # every place lies inside its own region's boundary (the maps draw both)
    outlines = boundaries.regions()
    for node_id, node in located.iterrows():
        assert outlines[node.region_code].contains([node.longitude], [node.latitude])[0], node_id


# -------------------------------------------------------------------------- telemetry realism
def test_devices_and_intervals(demo):
    device = demo.read("device")
    towers = device[device.kind == "flux_tower"]
    meters = device[device.kind != "flux_tower"]
    assert len(towers) >= 2 and len(meters) >= 12
    assert (towers.interval_s == 1800).all()
    assert (meters.interval_s == 3600).all()
    spacing = demo.query(
        "SELECT d.kind = 'flux_tower' AS tower, min(step) AS min_step, max(minute(ts)) AS max_minute, "
        "bool_and(minute(ts) IN (0, 30)) AS half_hours, bool_and(minute(ts) = 0 AND second(ts) = 0) AS full_hours "
        "FROM (SELECT device_id, ts, epoch(ts - lag(ts) OVER (PARTITION BY device_id, metric ORDER BY ts)) AS step "
        "FROM telemetry) t JOIN device d USING (device_id) GROUP BY ALL"
    ).set_index("tower")
    assert spacing.loc[True, "min_step"] == 1800 and spacing.loc[True, "half_hours"]
    assert spacing.loc[True, "max_minute"] == 30
    assert spacing.loc[False, "min_step"] == 3600 and spacing.loc[False, "full_hours"]


def test_towers_report_the_half_hourly_flux_metrics(demo):
    per_tower = demo.query(
        "SELECT device_id, list(DISTINCT metric) AS metrics FROM telemetry WHERE device_id LIKE 'T-%' GROUP BY ALL"
    )
    assert len(per_tower) >= 2
    for row in per_tower.itertuples():
        assert set(row.metrics) == TOWER_METRICS, row.device_id


@pytest.fixture(scope="module")
def tower(demo) -> pd.DataFrame:
    """Tower readings with local (UTC+8) time of day and month."""
    frame = demo.query(
        "SELECT device_id, metric, ts, value, qc FROM telemetry WHERE metric IN ('NEE', 'Rg', 'Tair', 'VPD', 'Ustar')"
    )
    local = frame.ts + pd.Timedelta(hours=8)
    frame["month"] = local.dt.month
    frame["hour"] = local.dt.hour + local.dt.minute / 60
    return frame


def test_july_is_much_warmer_than_january(tower):
    tair = tower[tower.metric == "Tair"]
    monthly = tair.groupby("month").value.mean()
    # seasonal cycle 17.5 + 11.8 cos(2 pi (doy - 200) / 365.25): Jan ~6 degC, Jul ~29 degC
    assert monthly[7] - monthly[1] > 15
    assert 0 < monthly[1] < 12 and 24 < monthly[7] < 34
    assert monthly.idxmax() in (7, 8) and monthly.idxmin() in (1, 2, 12)
    assert tair.value.between(-45, 50).all()


def test_radiation_is_zero_at_night_and_peaks_near_local_noon(tower):
    rg = tower[tower.metric == "Rg"]
    midnight = rg[(rg.hour >= 23) | (rg.hour < 1)]
    assert len(midnight) > 100
    assert midnight.value.abs().max() < 5  # W m-2: no sun at local midnight
    profile = rg.groupby("hour").value.mean()
    # solar noon at ~113 E is about 12:28 China time; the half-hour stamp marks the interval start
    assert 11.0 <= profile.idxmax() <= 13.5
    assert profile.max() > 300
    summer_noon = rg[rg.month.isin([6, 7, 8]) & rg.hour.between(11.5, 13.0)].value.mean()
    winter_noon = rg[rg.month.isin([12, 1]) & rg.hour.between(11.5, 13.0)].value.mean()
    assert summer_noon > winter_noon


def test_summer_midday_nee_is_uptake(tower):
    nee = tower[(tower.metric == "NEE") & (tower.qc == 0)]
    summer = nee[nee.month.isin([6, 7, 8])]
    midday = summer[summer.hour.between(10, 14)].value.mean()
    night = summer[(summer.hour >= 22) | (summer.hour < 4)].value.mean()
    assert midday < 0, "forests take up CO2 at summer middays (negative NEE)"
    assert night > 0, "at night ecosystem respiration releases CO2"
    assert nee.value.between(-80, 60).all()  # the -9999 logger sentinels were quarantined


def test_telemetry_rejects_record_both_fault_kinds(demo):
    rejects = demo.read("telemetry_reject")
    reasons = " | ".join(rejects.reason)
    assert "outside the metric's plausible range" in reasons
    assert "unknown device" in reasons
    unknown = rejects[rejects.reason.str.contains("unknown device")]
    assert unknown.payload.str.contains("M-UNREGISTERED-GW17").all()
    assert (rejects.source.str.startswith("demo-gateway/")).all()


# ----------------------------------------------------------------------------- ledger realism
def test_ledger_electricity_matches_meters_in_fault_free_months(demo):
    ledger = demo.query(
        "SELECT org_id, period_start AS month, sum(amount) AS mwh FROM activity "
        "WHERE category = 'purchased_electricity' AND period_end - period_start < 31 GROUP BY ALL"
    )
    meters = demo.query(
        "SELECT d.org_id, date_trunc('month', t.ts) AS month, sum(t.value) / 1000 AS mwh "
        "FROM telemetry t JOIN device d USING (device_id) WHERE t.metric = 'electricity_import' GROUP BY ALL"
    )
    # months in which a reading of the meter was quarantined (roll-over spike, reversed CT) lose
    # that reading; outages are caught up by the next reading, random drops lose ~0.4 %
    rejected = demo.query(
        "SELECT DISTINCT json_extract_string(payload, '$.device_id') AS device_id, "
        "date_trunc('month', CAST(json_extract_string(payload, '$.ts') AS TIMESTAMP)) AS month FROM telemetry_reject"
    )
    rejected["org_id"] = rejected.device_id.map(demo.read("device").set_index("device_id").org_id)
    faulty = set(zip(rejected.org_id, rejected.month))
    assert len(ledger) == len(meters) >= 12 * 12, "one monthly electricity figure per metered org and month"
    both = meters.merge(ledger, on=["org_id", "month"], suffixes=("_meter", "_ledger"), validate="one_to_one")
    assert len(both) == len(meters)
    both = both[[key not in faulty for key in zip(both.org_id, both.month)]]
    assert len(both) >= 0.8 * len(meters), "too few fault-free meter months to compare"
    close = np.isclose(both.mwh_meter, both.mwh_ledger, rtol=0.04, atol=0.01)
    # a stuck gateway can still hide in a fault-free month: allow a rare outlier, never a gross one
    assert close.mean() >= 0.95, both[~close]
    assert np.isclose(both.mwh_meter, both.mwh_ledger, rtol=0.25, atol=0.01).all(), both[~close]
    assert np.isclose(both.mwh_meter.sum(), both.mwh_ledger.sum(), rtol=0.01)


def test_reversals_net_out(demo):
    activity = demo.read("activity").set_index("entry_id")
    reversals = activity[activity.reverses_entry_id.notna()]
    assert len(reversals) >= 1
    for entry_id, reversal in reversals.iterrows():
        original = activity.loc[reversal.reverses_entry_id]
        assert reversal.amount == -original.amount, entry_id
        assert reversal.amount < 0
        for same in ("org_id", "period_start", "period_end", "category", "activity_type", "unit"):
            assert reversal[same] == original[same], (entry_id, same)
        assert reversal.entered_at > original.entered_at
    assert (activity.loc[activity.reverses_entry_id.isna(), "amount"] >= 0).all()


def test_forest_inventory_has_two_survey_dates_per_plot(demo):
    dates = demo.query("SELECT plot_id, count(DISTINCT survey_date) AS n, min(survey_date) AS t1, max(survey_date) AS t2 "
                       "FROM survey_plot GROUP BY ALL")
    assert len(dates) > 0
    assert (dates.n == 2).all()
    assert ((dates.t2 - dates.t1).dt.days // 365 == 5).all()  # surveys five years apart
    trees = demo.query("SELECT plot_id, survey_date, count(*) AS n FROM survey_tree GROUP BY ALL")
    assert len(trees) == 2 * len(dates), "every plot survey has measured trees"


def test_the_demo_registry_verifies_and_the_lake_mirrors_its_log(small_demo_lake, demo):
    """The demo's credits go through the registry (issue with buffer, transfer, compliance retirement); every
    ``credit_event`` row carries its transaction's leaf hash and the leaf before it, and the units reconcile."""
    with Registry.open(small_demo_lake, create=False) as registry:
        assert registry.verify().ok
        table = registry.reconcile()
        leaves = {body["seq"]: leaf for body, leaf in registry.log_rows()}
    assert table.ok.all() and (table.buffer > 0).all() and (table.retired > 0).all()
    events = demo.query("SELECT * FROM credit_event ORDER BY op_seq, event_id")
    assert set(events.event_type) == {"issue", "transfer", "retire"}
    assert all(row.hash == leaves[row.op_seq] and row.prev_hash == leaves.get(row.op_seq - 1, "")
               for row in events.itertuples())
    retired = events[events.event_type == "retire"]
    assert (retired.purpose == "compliance").all() and (retired.cap_year == retired.vintage).all()
    assert (retired.event_time.dt.year == retired.cap_year + 1).all()  # surrendered in the following year
    # serial ranges: issues do not overlap, and each row's quantity is its range's length
    spans = sorted(zip(events[events.event_type == "issue"].serial_start, events[events.event_type == "issue"].serial_end))
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert (events.serial_end - events.serial_start + 1 == events.quantity_tco2e).all()
