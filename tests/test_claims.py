"""Double-claim checks of the credit registry (issue 13, part 5): stands claimed twice, overlapping stand
boundaries of two projects, and a compliance retirement of credits from the beneficiary's own sink site."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
import shapely
from shapely import affinity, wkt
from typer.testing import CliRunner

from carbonlib.accounting import accounts
from carbonlib.cli import app
from carbonlib.lake import Lake
from carbonlib.registry import Registry, claims
from carbonlib.registry.publish import mirror
from conftest import copy_lake

PROJECT, SITE, COUNTY = "PRJ-430121-02", "S430121-02", "D430121"
NEW = "PRJ-TEST-01"


def test_area_of_a_lon_lat_square_hand_derived():
    """A 0.01 x 0.01 degree square at latitude 30 degrees: 1,113.2 m x cos(30) = 964.06 m wide, 1,105.74 m high,
    area 1,066,000 m2 = 106.60 ha (metres per degree from the WGS84 ellipsoid, rounded as in the module)."""
    square = shapely.box(120.0, 29.995, 120.01, 30.005)
    assert claims.area_ha(square, 30.0) == pytest.approx(0.01 * 111_320 * 0.8660254 * 0.01 * 110_574 / 10_000, rel=1e-6)
    assert claims.area_ha(square, 30.0) == pytest.approx(106.60, abs=0.01)


def test_the_demo_registry_has_no_double_claim(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        assert claims.double_claims(lake).empty
        seen = claims.coverage(lake)
    assert seen["projects"] == 3 and seen["stands"] == seen["mapped"] > 0


def _shifted(boundary: str, fraction: float) -> str:
    """The square ``boundary`` moved east by ``fraction`` of its width."""
    shape = wkt.loads(boundary)
    west, _, east, _ = shape.bounds
    return affinity.translate(shape, xoff=(east - west) * fraction).wkt


@pytest.fixture
def claimed(small_demo_lake, tmp_path):
    """A copy of the demo lake with a second project (another site, the same crediting years) that claims one
    stand of PROJECT outright, a stand of its own overlapping PROJECT's eastmost stand by half, one touching
    that stand's east edge, and one whose boundary crosses itself; and a third project, of an earlier crediting period, on PROJECT's land."""
    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    with Lake.open(settings) as lake:
        theirs = lake.read("forest_stand", where="org_id = ?", params=[SITE]).sort_values("stand_id")
        first, second = theirs.iloc[0], theirs.iloc[-1]  # the westmost and the eastmost stand
        projects = lake.read("credit_project")
        base = projects[projects.project_id == PROJECT].iloc[0]
        other_site = lake.read("org", where="level = 'site' AND org_id <> ?", params=[SITE]).org_id.iloc[0]
        earlier = dict(crediting_start=pd.Timestamp(date(2000, 1, 1)), crediting_end=pd.Timestamp(date(2012, 12, 31)))
        lake.append("credit_project", pd.DataFrame([
            {**base.to_dict(), "project_id": NEW, "org_id": other_site, "status": "registered"},
            {**base.to_dict(), "project_id": "PRJ-TEST-EARLIER", "org_id": other_site, "status": "initiated", **earlier}]),
            source="test")
        template = dict(org_id=other_site, species_group=first.species_group, area_ha=first.area_ha, origin="planted",
                        established_year=2000)
        lake.append("forest_stand", pd.DataFrame([
            {**template, "stand_id": "T-HALF", "boundary_wkt": _shifted(second.boundary_wkt, 0.5)},
            {**template, "stand_id": "T-EDGE", "boundary_wkt": _shifted(second.boundary_wkt, 1.0)},
            {**template, "stand_id": "T-BOWTIE", "boundary_wkt": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"},
            {**template, "stand_id": "T-UNMAPPED", "boundary_wkt": None}]), source="test")
        lake.append("project_stand", pd.DataFrame({
            "project_id": [NEW] * 5 + ["PRJ-TEST-EARLIER"],
            "stand_id": [first.stand_id, "T-HALF", "T-EDGE", "T-BOWTIE", "T-UNMAPPED", first.stand_id]}), source="test")
    return settings, first, second


def test_stands_claimed_twice_or_overlapping_are_found(claimed):
    settings, first, second = claimed
    with Lake.open(settings, read_only=True) as lake:
        found = claims.double_claims(lake)
    by_kind = {kind: rows for kind, rows in found.groupby("kind")}
    assert set(by_kind) == {"same_stand", "overlapping_stands", "unmapped_boundary"}, found
    same = by_kind["same_stand"].iloc[0]
    assert len(by_kind["same_stand"]) == 1 and same.stand_id == first.stand_id  # not the earlier project
    assert {same.project_id, same.other_project_id} == {PROJECT, NEW}
    overlap = by_kind["overlapping_stands"]
    assert len(overlap) == 1 and {overlap.stand_id.iloc[0], overlap.other_stand_id.iloc[0]} == {second.stand_id, "T-HALF"}
    assert overlap.amount.iloc[0] == pytest.approx(second.area_ha / 2, rel=0.002)  # half the square, in ha
    assert "T-EDGE" not in set(found.stand_id) | set(found.other_stand_id)  # sharing an edge is no claim
    bad = by_kind["unmapped_boundary"]
    assert list(bad.stand_id) == ["T-BOWTIE"] and "Self-intersection" in bad.detail.iloc[0]


def test_credits_retired_by_the_owner_of_the_sink_site_are_found(small_demo_lake, tmp_path):
    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    with Registry.open(settings) as registry, Lake.open(settings) as lake:
        registry.retire(SITE, PROJECT, 2025, 100, beneficiary=COUNTY, purpose="compliance", cap_year=2025)
        registry.retire(SITE, PROJECT, 2025, 40, beneficiary="E430181-01", purpose="compliance", cap_year=2025)
        mirror(lake, registry)
        removals = accounts.account_figures(lake, SITE, "2025").set_index("item").value["removals"]
        found = claims.double_claims(lake)
    assert removals > 100
    assert list(found.kind) == ["credited_and_own_sink"]  # E430181-01's subtree does not hold the site
    row = found.iloc[0]
    assert row.project_id == PROJECT and row.amount == 100 and COUNTY in row.detail and SITE in row.detail


def test_cli_prints_the_reconciliation_and_fails_on_a_double_claim(claimed):
    settings, _, _ = claimed
    where = ["--lake", str(settings.lake)]
    done = CliRunner().invoke(app, ["registry", "claims", *where])
    assert done.exit_code == 1, done.output
    assert f"{PROJECT} 2025: issued" in done.output and ": ok" in done.output
    assert "[same_stand]" in done.output and "[overlapping_stands]" in done.output
    assert "3 double claims or unreconciled totals found" in done.output
    report = json.loads(CliRunner().invoke(app, ["registry", "claims", "--json", *where]).stdout)
    assert {c["kind"] for c in report["double_claims"]} == {"same_stand", "overlapping_stands", "unmapped_boundary"}
    assert all(r["ok"] for r in report["reconciliation"])
