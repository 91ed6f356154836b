"""Cap checks (clause 6.2.2): projection, overrun alerts, offsets limited to 5 %, deficits."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import caps
from carbonlib.cli.accounts import accounts_app
from carbonlib.lake import Lake
from carbonlib.registry import Registry
from carbonlib.registry.publish import mirror
from conftest import copy_lake

YEAR = 2025
PROJECT = "PRJ-430121-02"  # a demo project: the test's credits come from it


# ------------------------------------------------------------------------------ pure rules
def test_projection_by_days_without_history():
    """Jan-Jun 2025 at 100 t each: 600 t over 181 days -> 600 x 365/181 = 1209.944751... t."""
    p = caps.project_year_end(pd.Series(100.0, index=range(1, 7)), 2025)
    assert (p.method, p.months, p.emissions_ytd) == ("days", 6, 600.0)
    assert p.projected == pytest.approx(600 * 365 / 181, rel=1e-12)


def test_projection_by_previous_year_seasonal_share():
    """2024: 50 t/month in Jan-Jun, 150 t/month in Jul-Dec -> Jan-Jun share 300/1200 = 0.25;
    600 t YTD / 0.25 = 2400 t (the days rule would say 1210 t and miss the busy second half)."""
    previous = pd.Series([50.0] * 6 + [150.0] * 6, index=range(1, 13))
    p = caps.project_year_end(pd.Series(100.0, index=range(1, 7)), 2025, previous)
    assert p.method == "seasonal share of 2024" and p.factor == pytest.approx(0.25)
    assert p.projected == pytest.approx(2400.0, rel=1e-12)
    incomplete = previous.drop(index=12)  # history without December is not used
    assert caps.project_year_end(pd.Series(100.0, index=range(1, 7)), 2025, incomplete).method == "days"


def test_complete_year_projects_to_actual():
    p = caps.project_year_end(pd.Series(10.0, index=range(1, 13)), 2025)
    assert (p.method, p.projected) == ("actual", 120.0)


def test_shortfall_below_the_limit_is_fully_offset():
    """projected 1030, cap 1000: shortfall 30 <= 5 % x 1030 = 51.5, 100 credits retired -> 30 used, no deficit."""
    p = caps.Projection(1030.0, 1030.0, 12, "actual", 1.0)
    got = caps.assess_cap(1000.0, p, credits_retired=100.0)
    assert got == pytest.approx({"shortfall": 30.0, "offset_allowed": 51.5, "offset_used": 30.0, "deficit": 0.0})


def test_shortfall_above_the_limit_leaves_a_deficit():
    """projected 1100, cap 1000: shortfall 100 > 5 % x 1100 = 55 -> 55 offset, 45 deficit;
    with only 20 credits retired: 20 offset, 80 deficit."""
    p = caps.Projection(1100.0, 1100.0, 12, "actual", 1.0)
    assert caps.assess_cap(1000.0, p, 200.0) == pytest.approx(
        {"shortfall": 100.0, "offset_allowed": 55.0, "offset_used": 55.0, "deficit": 45.0})
    assert caps.assess_cap(1000.0, p, 20.0)["deficit"] == pytest.approx(80.0)
    assert caps.assess_cap(1000.0, p, 200.0, offset_limit=0.10)["deficit"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="0.05 for 5 %"):
        caps.assess_cap(1000.0, p, 0.0, offset_limit=5)


# ------------------------------------------------------------------------------- on a lake
def _cap_and_credits(lake: Lake, org_id: str, cap: float, retired: int) -> None:
    """Give ``org_id`` a 2025 cap, and ``retired`` credits retired in the registry for compliance with it."""
    lake.append("cap", pd.DataFrame([dict(org_id=org_id, year=YEAR, cap_tco2e=cap, source="test allocation")]))
    with Registry.open(lake.settings) as book:
        book.open_accounts(org_id)
        book.issue(PROJECT, YEAR, retired, proponent=org_id, verification_ref=f"TEST-V-{org_id}", buffer_share=0)
        book.retire(org_id, PROJECT, YEAR, retired, beneficiary=org_id, purpose="compliance", cap_year=YEAR)
        mirror(lake, book)


def _ytd(lake: Lake, org_id: str) -> float:
    """emissions_total of Jan-Nov, the months completed before 1 December."""
    rows = lake.read("account", where="org_id = ? AND item = 'emissions_total' AND period LIKE ? AND length(period) = 7",
                     params=[org_id, f"{YEAR}-%"])
    return float(rows[rows.period <= f"{YEAR}-11"].value.sum())


@pytest.fixture
def capped_lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


def test_cap_status_on_the_demo_lake_offsets_then_leaves_a_deficit(capped_lake):
    """Two logistics firms without a cap get one: 3 % and 10 % below their projected emissions.

    The small demo has one year only, so the projection is by days; asked on 1 December,
    the data run through 30 Nov, 334 of 365 days -> projected = YTD x 365/334.
    """
    small_gap, big_gap = "E430121-01", "E430181-03"
    with Lake.open(capped_lake) as lake:
        projected = {org: _ytd(lake, org) * 365 / 334 for org in (small_gap, big_gap)}
        _cap_and_credits(lake, small_gap, round(0.97 * projected[small_gap]), retired=10_000)
        _cap_and_credits(lake, big_gap, round(0.90 * projected[big_gap]), retired=10_000)
        small = caps.cap_status(lake, small_gap, YEAR, as_of=date(YEAR, 12, 1))
        big = caps.cap_status(lake, big_gap, YEAR, as_of=date(YEAR, 12, 1))
    assert small.as_of == date(YEAR, 12, 1) and small.projection_method == "days" and not small.complete
    assert small.projected == pytest.approx(projected[small_gap], rel=1e-12)
    assert small.shortfall == pytest.approx(projected[small_gap] - round(0.97 * projected[small_gap]), rel=1e-9)
    assert small.shortfall < 0.05 * small.projected  # 3 % < 5 %
    assert small.alert and small.offset_used == pytest.approx(small.shortfall) and small.deficit == pytest.approx(0.0)
    assert big.offset_allowed == pytest.approx(0.05 * projected[big_gap], rel=1e-12)
    assert big.credits_retired == 10_000
    assert big.offset_used == pytest.approx(min(big.offset_allowed, 10_000))
    assert big.deficit == pytest.approx(big.shortfall - big.offset_used) and big.deficit > 0
    assert "deficit" in big.message and big_gap in big.message


def test_cap_status_cut_off_and_errors(capped_lake):
    with Lake.open(capped_lake, read_only=True) as lake:
        capped = lake.read("cap").org_id.iloc[0]
        july = caps.cap_status(lake, capped, YEAR, as_of=date(YEAR, 7, 15))  # Jan-Jun only
        june = lake.read("account", where="org_id = ? AND item = 'emissions_total' AND period <= ? AND length(period) = 7 "
                                          "AND period LIKE ?", params=[capped, f"{YEAR}-06", f"{YEAR}-%"])
        assert july.emissions_ytd == pytest.approx(june.value.sum(), rel=1e-12)
        assert july.projected == pytest.approx(june.value.sum() * 365 / 181, rel=1e-12)
        with pytest.raises(ValueError, match="no cap for 2025"):
            caps.cap_status(lake, "P43", YEAR)
    with Lake.open(capped_lake) as lake:  # capped for a year without accounts yet: said so, nothing to project
        lake.append("cap", pd.DataFrame([{"org_id": capped, "year": 2026, "cap_tco2e": 1000.0, "source": "test"}]))
        with pytest.raises(ValueError, match="no monthly accounts of .* in 2026"):
            caps.cap_status(lake, capped, 2026)
        assert caps.cap_statuses(lake, [capped, "P43"], 2026) == {}
        assert set(caps.cap_statuses(lake, [capped, capped, "P43"], YEAR)) == {capped}


def test_caps_command_prints_alerts_as_json(capped_lake):
    result = CliRunner().invoke(accounts_app, ["caps", "--year", str(YEAR), "--lake", str(capped_lake.lake), "--json"])
    assert result.exit_code == 0, result.output
    assert '"alert"' in result.output and '"deficit"' in result.output
    missing = CliRunner().invoke(accounts_app, ["caps", "--year", str(YEAR), "--org", "P43", "--lake", str(capped_lake.lake)])
    assert missing.exit_code == 1 and "no cap" in missing.output


def test_regional_utilisation_sums_the_capped_orgs_below_each_region():
    """Hand-derived: city C holds E1 (90 of a 100 t cap), E2 (60 of 50) and the uncapped E3 (1,000 t); county D holds
    E1 only.  C and the province: (90 + 60) / (100 + 50) = 1.0; D: 90 / 100 = 0.9.  E3's emissions count nowhere."""
    tree = pd.DataFrame({"org_id": ["P", "C", "D", "E1", "E2", "E3"],
                         "path": ["P", "P/C", "P/C/D", "P/C/D/E1", "P/C/E2", "P/C/E3"]})

    def row(org, item, value, unit="tCO2e"):
        return dict(org_id=org, period="2025", item=item, value=value, unit=unit, basis="", snapshot_id=7)
    rows = pd.DataFrame([row("E1", "emissions_total", 90.0), row("E1", "cap", 100.0), row("E1", "cap_utilisation", 0.9, "share"),
                         row("E2", "emissions_total", 60.0), row("E2", "cap", 50.0), row("E2", "cap_utilisation", 1.2, "share"),
                         row("E3", "emissions_total", 1000.0), row("C", "emissions_total", 1150.0), row("C", "cap", 150.0)])
    found = caps.regional_utilisation(rows, tree).set_index("org_id")
    assert found.value.to_dict() == pytest.approx({"P": 1.0, "C": 1.0, "D": 0.9})
    assert set(found.item) == {"cap_utilisation"} and set(found.unit) == {"share"} and set(found.snapshot_id) == {7}
    assert list(caps.regional_utilisation(rows, tree).columns) == list(rows.columns)
    assert caps.regional_utilisation(rows[rows.item != "cap_utilisation"], tree).empty
