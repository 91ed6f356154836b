"""Monitoring reports of credit projects drafted from the lake (issue 13, clause 5.3)."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.lake import Lake
from carbonlib.registry import RegistryRefused, monitoring, projects
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake_with_people

PROJECT, SITE = "PRJ-430281-02", "S430281-02"
OPERATORS = {"t-registry-province": [("registry_operator", "P43")]}


def test_stand_removals_hand_derived():
    """Three permanent plots measured in 2015 and 2020 (1,828 days apart: two leap days) in a 10 ha stand.

    Hand derivation: paired differences d = 50, 60, 40 m3/ha, mean 50, sd 10; volume change
    500 m3; CO2 per m3 = WD 0.5 x BEF 1.5 x (1 + R 0.2) x CF 0.5 x 44/12 = 1.65 tCO2 (IPCC 2006
    Vol.4 Eq 2.8; 44/12); years = 1828/365.25.  Standard error of the change = 10 ha x 10/sqrt(3)
    = 57.735 m3; t(0.975, 2 df) = 4.302653 (Student's t table)."""
    stand = pd.Series(dict(stand_id="ST1", species_group="x", area_ha=10.0))
    plots = pd.DataFrame(dict(
        plot_id=["a", "b", "c"] * 2, survey_date=[pd.Timestamp("2015-10-10")] * 3 + [pd.Timestamp("2020-10-11")] * 3,
        m3_per_ha=[100.0, 110.0, 120.0, 150.0, 170.0, 160.0]))
    species = pd.Series(dict(wood_density=0.5, bef=1.5, root_shoot=0.2, carbon_fraction=0.5))
    found = monitoring.stand_removals(stand, plots, species)
    years = 1828 / 365.25
    assert found["plots"] == 3
    assert found["removals_tco2e"] == pytest.approx(500 * 1.65 / years, rel=1e-9)
    assert found["u95_tco2e"] == pytest.approx(4.302653 * 57.73503 * 1.65 / years, rel=1e-6)


def test_stand_with_one_remeasured_plot_has_no_sampling_error():
    stand = pd.Series(dict(stand_id="ST1", species_group="x", area_ha=2.0))
    plots = pd.DataFrame(dict(plot_id=["a", "a"], survey_date=[pd.Timestamp("2015-10-10"), pd.Timestamp("2020-10-10")],
                              m3_per_ha=[100.0, 130.0]))
    species = pd.Series(dict(wood_density=0.5, bef=1.5, root_shoot=0.2, carbon_fraction=0.5))
    found = monitoring.stand_removals(stand, plots, species)
    assert found["removals_tco2e"] > 0 and math.isnan(found["u95_tco2e"])


def test_report_figures_agree_with_the_accounts_and_are_conservative(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        data = monitoring.collect(lake, PROJECT, 2025)
        with pytest.raises(RegistryRefused, match="outside"):
            monitoring.collect(lake, PROJECT, 1990)
        with pytest.raises(RegistryRefused, match="no project"):
            monitoring.collect(lake, "PRJ-NOPE", 2025)
    assert list(data.flags.check) == list(monitoring.CHECKS)
    flags = data.flags.set_index("check").status
    assert flags["matches_accounts"] == "ok" and data.removals_tco2e == pytest.approx(data.account_removals_tco2e)
    assert data.removals_by_sinks_tco2e == pytest.approx(data.removals_tco2e - data.emissions_in_boundary_tco2e)
    assert data.stands.covers_vintage.all() and (data.stands.area_ha > 0).all()
    # precision missed in the demo (stands with two plots): the lower 95 % bound is proposed
    assert flags["sampling_precision"] == "warn" and data.relative_u95 > monitoring.PRECISION_TARGET
    assert data.proposed_credits == math.floor(data.removals_by_sinks_tco2e - data.u95_tco2e)
    assert data.buffer_credits == math.floor(data.proposed_credits * 0.2 + 0.5)
    figures = data.figures()
    assert set(figures.item) >= {"removals_inventory", "removals_by_sinks", "proposed_credits"}
    assert (figures.snapshot_id == data.snapshot).all()


@pytest.mark.slow
def test_cli_drafts_and_records_the_report_only_in_order_and_for_operators(small_demo_lake, tmp_path, monkeypatch):
    lake = copy_lake_with_people(small_demo_lake, tmp_path / "lake", OPERATORS)
    with Security.open(lake) as security:
        officer = security.sessions.login("t-officer", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied):
            monitoring.draft(security, officer, lake, PROJECT, 2025, out=tmp_path / "out", body=SITE, on=date(2026, 2, 1))
        token = security.sessions.login("t-registry-province", TEST_PASSWORD).token
    assert not (tmp_path / "out").exists()  # refused before the notebook ran
    session = tmp_path / "session"
    session.write_text(token)
    monkeypatch.setenv("CARBON_SESSION_FILE", str(session))
    monkeypatch.setenv("CARBON_LANG", "en")
    command = ["registry", "monitoring-report", PROJECT, "--vintage", "2025", "--body", SITE, "--on", "2026-02-01",
               "--out", str(tmp_path / "out"), "--lang", "zh", "--lake", str(lake.lake)]
    done = CliRunner().invoke(app, command)
    assert done.exit_code == 0 and "recorded as PRJ-430281-02-M2025" in done.output, done.output
    html = (tmp_path / "out" / PROJECT / "2025" / "report.html").read_text()
    assert "碳汇项目监测报告" in html and "碳汇清除量" in html and "通量塔交叉验证" in html
    assert "import " not in html  # the code cells are hidden
    again = CliRunner().invoke(app, command)
    assert again.exit_code != 0 and "cannot follow" in again.output
    with Lake.open(lake, read_only=True) as opened:
        assert projects.status(opened, PROJECT) == "monitoring_report"


def test_a_project_claiming_part_of_a_site_reports_only_its_stands(small_demo_lake, tmp_path):
    from conftest import copy_lake

    settings = copy_lake(small_demo_lake, tmp_path / "lake")
    with Lake.open(settings) as lake:
        base = lake.read("credit_project", where="project_id = ?", params=[PROJECT]).iloc[0]
        stand = lake.read("forest_stand", where="org_id = ?", params=[SITE]).stand_id.min()
        lake.append("credit_project", pd.DataFrame([{**base.to_dict(), "project_id": "PRJ-PART"}]), source="test")
        lake.append("project_stand", pd.DataFrame({"project_id": ["PRJ-PART"], "stand_id": [stand]}), source="test")
        whole, part = monitoring.collect(lake, PROJECT, 2025), monitoring.collect(lake, "PRJ-PART", 2025)
    assert list(part.stands.stand_id) == [stand] and len(whole.stands) > 1
    assert part.removals_tco2e == pytest.approx(whole.stands.set_index("stand_id").removals_tco2e[stand])
    assert part.flags.set_index("check").status["matches_accounts"] == "info"
    assert whole.flags.set_index("check").status["matches_accounts"] == "ok"
