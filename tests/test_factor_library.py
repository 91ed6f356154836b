"""The factor library (issue 12, item 5): the accounts read the lake's emission_factor and gwp rows, a new row
with an effective year supersedes the old one from that year on, every figure names its rows, and waste
incineration is accounted with hand-calculated figures."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib import emissions
from carbonlib.accounting import accounts, factor_library
from carbonlib.accounting.factor_library import FactorLibrary, FactorMissing
from carbonlib.cli import app
from carbonlib.lake import Lake
from carbonlib.lake.errors import SchemaViolation
from carbonlib.ledger import service
from carbonlib.reporting import reports
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake, lake_settings

ENTERPRISE = "E430121-01"
MONTH = "2026-01"  # after the demo's data, before today


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def people(lake):
    with Security.open(lake) as security:
        yield security, {name: security.sessions.login(name, TEST_PASSWORD).principal
                         for name in ("t-officer", "t-reviewer")}


def _figures(settings, org: str = ENTERPRISE, period: str = MONTH) -> pd.DataFrame:
    with Lake.open(settings) as lake:
        accounts.refresh_accounts(lake)
        return lake.query("SELECT item, value, basis FROM lake.account WHERE org_id = ? AND period = ? "
                          "AND method_version = ?", [org, period, accounts.METHOD_VERSION]).set_index("item")


def _approved(security, p, settings, **kw) -> None:
    fields = dict(org_id=ENTERPRISE, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31),
                  category="purchased_heat", activity_type="steam", amount=1000.0, unit="GJ", evidence_ref="INV-1")
    entry = service.enter(security, p["t-officer"], settings, service.NewEntry(**{**fields, **kw}))
    service.approve(security, p["t-reviewer"], settings, entry.entry_id)


# ----------------------------------------------------------------------------- which row is in force
def _rows(*rows) -> pd.DataFrame:
    keys = ("factor_id", "kind", "subject", "series", "data_year", "effective_year", "value")
    frame = pd.DataFrame([dict(zip(keys, r)) for r in rows])
    return frame.assign(unit="u", source="s", verified=False)


def test_the_latest_data_year_then_the_latest_effective_year_in_force_wins():
    rows = _rows(("g21", "grid", "national", "mee", 2021, None, 0.58),
                 ("g22", "grid", "national", "mee", 2022, None, 0.57),
                 ("g22-fix", "grid", "national", "mee", 2022, 2026, 0.56),
                 ("d", "ncv", "diesel", "gbt2589", None, None, 42.652),
                 ("d-2027", "ncv", "diesel", "gbt2589", None, 2027, 43.0))
    gwp = pd.DataFrame({"gas": ["CH4"], "assessment": ["AR5"], "value": [28.0], "source": ["AR5"]})
    assert FactorLibrary(rows, gwp, 2021).row("grid", "national", "mee").factor_id == "g21"
    assert FactorLibrary(rows, gwp, 2025).row("grid", "national", "mee").factor_id == "g22"
    assert FactorLibrary(rows, gwp, 2026).row("grid", "national", "mee").factor_id == "g22-fix"
    assert FactorLibrary(rows, gwp, 2026).row("ncv", "diesel", "gbt2589").value == 42.652
    assert FactorLibrary(rows, gwp, 2027).row("ncv", "diesel", "gbt2589").factor_id == "d-2027"
    with pytest.raises(FactorMissing, match="no grid factor for 'national'.*in force in 2020.*carbon factors add"):
        FactorLibrary(rows, gwp, 2020).row("grid", "national", "mee")
    assert FactorLibrary(rows, gwp, 2026).gwp("CH4").factor_id == "gwp:CH4:AR5"


def test_a_new_lake_is_seeded_with_the_packaged_factors_once(tmp_path):
    result = CliRunner().invoke(app, ["lake", "init", "--lake", str(tmp_path / "new")])
    assert result.exit_code == 0, result.output
    with Lake.open(lake_settings(tmp_path / "new")) as lake:
        rows, gwp = lake.read("emission_factor"), lake.read("gwp")
        assert {"ncv:raw_coal:gbt2589", "grid:national:mee_enterprise_reporting:2022", "process:clinker",
                "waste_n2o:msw:ipcc2006"} <= set(rows.factor_id)
        assert ((gwp.gas == "CH4") & (gwp.assessment == "AR5") & (gwp.value == 28.0)).sum() == 1
        assert factor_library.seed(lake) == 0  # idempotent
        assert len(lake.read("emission_factor")) == len(rows)
        # raw coal and natural gas: parameters and a standard-coal coefficient of the same fuel
        library = FactorLibrary.of_lake(lake, 2026)
        assert {"raw_coal", "natural_gas", "diesel"} <= set(library.fuels())
        ncv = library.fuel("natural_gas")[0]
        # GB/T 2589-2020 App. A: oil-field natural gas 38 931 kJ/m3 is 1.3300 kgce/m3 (38 931 / 29 307.6 = 1.3284)
        assert ncv.value == 389.31 and accounts.STANDARD_COAL["natural_gas"].kgce == 1.3300
        assert ncv.value * 1e3 / 1e4 / 29.3076 == pytest.approx(accounts.STANDARD_COAL["natural_gas"].kgce, rel=2e-3)


def test_a_second_row_for_the_same_key_and_years_is_refused(lake):
    with Lake.open(lake) as opened:
        before = len(opened.read("emission_factor"))
        twin = dict(factor_id="heat:twin", kind="heat", subject="heat_emission_factor", series="default",
                    data_year=None, value=0.12, unit="tCO2/GJ", source="x", verified=False, effective_year=None)
        with pytest.raises(SchemaViolation, match="second row for the same kind, subject, series"):
            opened.append("emission_factor", pd.DataFrame([twin]).astype({"data_year": "Int32",
                                                                          "effective_year": "Int32"}))
        with pytest.raises(SchemaViolation, match="is a share"):
            opened.append("emission_factor", pd.DataFrame([twin | dict(factor_id="ox:x", kind="waste_burnout",
                                                                       value=1.2, effective_year=2030)]).astype(
                {"data_year": "Int32", "effective_year": "Int32"}))
        assert len(opened.read("emission_factor")) == before


# ----------------------------------------------------------------------------- a changed factor moves the figures
def test_a_new_factor_row_changes_the_figures_from_its_year_and_the_report_names_it(lake, people):
    security, p = people
    _approved(security, p, lake)
    old = _figures(lake)
    assert old.loc["scope2_purchased_heat", "value"] == pytest.approx(110.0)  # 1000 GJ x 0.11 tCO2/GJ
    assert "ef=heat:heat_emission_factor" in old.loc["scope2_purchased_heat", "basis"]
    december = _figures(lake, period="2025-12")

    with pytest.raises(PermissionDenied):  # a data officer cannot change the factors
        factor_library.add_factor(security, p["t-officer"], lake, kind="heat", subject="heat_emission_factor",
                                  series="default", value=0.12, unit="tCO2/GJ", source="x", effective_year=2026)
    row = factor_library.add_factor(security, p["t-reviewer"], lake, kind="heat", subject="heat_emission_factor",
                                    series="default", value=0.12, unit="tCO2/GJ", effective_year=2026,
                                    source="Provincial notice 2026 No. 1 (test): heat factor 0.12 tCO2/GJ")
    assert row.factor_id == "heat:heat_emission_factor:default:y2026"
    new = _figures(lake)
    assert new.loc["scope2_purchased_heat", "value"] == pytest.approx(120.0)  # 1000 GJ x 0.12
    assert f"ef={row.factor_id}" in new.loc["scope2_purchased_heat", "basis"]
    assert new.loc["emissions_total", "value"] - old.loc["emissions_total", "value"] == pytest.approx(10.0)
    assert _figures(lake, period="2025-12")["value"].to_dict() == december["value"].to_dict()  # 2025 keeps 0.11

    with Lake.open(lake, read_only=True) as opened:
        data = reports.collect(opened, ENTERPRISE, MONTH)
    used = data.notes["factors"].set_index("factor_id")
    assert used.loc[row.factor_id, "value"] == 0.12 and "Provincial notice 2026" in used.loc[row.factor_id, "source"]
    assert "heat:heat_emission_factor" not in used.index  # the superseded row is not named any more
    notes = reports.notes_markdown(data, "en")
    assert f"`{row.factor_id}`: 0.12 tCO2/GJ" in notes
    assert "ef=" not in notes.split("factor and method bases")[1]
    assert reports.report_tables(data)["factors"].factor_id.tolist() == sorted(used.index)
    with Security.open(lake) as audit_view:
        done = audit_view.audit.entries(actor="t-reviewer", action="manage_factors", outcome="ok")
        denied = audit_view.audit.entries(actor="t-officer", action="manage_factors", outcome="denied")
    assert done and row.factor_id in done[0].object and denied


def test_factors_cli_lists_the_rows_in_force(lake):
    result = CliRunner().invoke(app, ["factors", "list", "--lake", str(lake.lake), "--year", "2026", "--kind", "heat"])
    assert result.exit_code == 0, result.output
    assert "heat:heat_emission_factor  0.11 tCO2/GJ" in result.output and "4 rows" in result.output


# ----------------------------------------------------------------------------- waste incineration
def test_waste_incineration_hand_calculated():
    # NDRC 2011 provincial inventory guidelines ch. 5 (MSW: carbon 20 % wet, fossil 39 %, burnout 95 %) and IPCC 2006
    # Vol. 5 Tables 5.3 and 5.6 (0.2 kg CH4/Gg, 50 g N2O/t), GWP AR5 28 and 265:
    # CO2 = 1000 x 0.20 x 0.39 x 0.95 x 44/12 = 271.7; N2O = 1000 x 50e-6 x 265 = 13.25; CH4 = 1000 x 2e-7 x 28 = 0.0056
    value = emissions.waste_incineration(1000.0, carbon_content=0.20, fossil_fraction=0.39, burnout=0.95,
                                         ch4_per_t=2e-7, n2o_per_t=5e-5, gwp_ch4=28.0, gwp_n2o=265.0)
    assert value == pytest.approx(271.7 + 13.25 + 0.0056)
    with pytest.raises(ValueError, match="fossil_fraction must be a share"):
        emissions.waste_incineration(1.0, carbon_content=0.2, fossil_fraction=39, burnout=0.95)


def test_a_waste_entry_is_accounted_with_the_lake_factors(lake, people):
    security, p = people
    before = _figures(lake)
    _approved(security, p, lake, category="waste", activity_type="msw", amount=1000.0, unit="t", evidence_ref="WB-7")
    after = _figures(lake)
    assert after.loc["scope1_waste_incineration", "value"] == pytest.approx(284.9556)  # hand calculation above
    total_before = before.loc["emissions_total", "value"] if "emissions_total" in before.index else 0.0
    assert after.loc["emissions_total", "value"] - total_before == pytest.approx(284.9556)
    basis = after.loc["scope1_waste_incineration", "basis"]
    for factor_id in ("waste_carbon_content:msw:provincial_inventory_2011", "waste_fossil_fraction:msw:"
                      "provincial_inventory_2011", "waste_burnout:msw:provincial_inventory_2011",
                      "waste_ch4:msw:ipcc2006", "waste_n2o:msw:ipcc2006", "gwp:CH4:AR5", "gwp:N2O:AR5"):
        assert f"ef={factor_id}" in basis
    with Lake.open(lake, read_only=True) as opened:
        preview = service.preview(opened, service.NewEntry(
            ENTERPRISE, date(2026, 2, 1), date(2026, 2, 28), "waste", "hazardous_waste", 10.0, "t", "WB-8"))
    # 10 t x 0.01 x 0.90 x 0.97 x 44/12 + 10 x 1e-4 x 265 + 10 x 2e-7 x 28 = 0.3201 + 0.265 + 0.000056
    assert preview.set_index("item").loc["scope1_waste_incineration", "value"] == pytest.approx(0.585156)


def test_accounting_a_lake_without_any_factor_row_seeds_the_packaged_ones_first(empty_lake):
    with Lake.open(empty_lake) as lake:
        assert lake.read("emission_factor").empty  # Lake.create, unlike carbon lake init, seeds nothing
        with pytest.raises(ValueError, match="nothing to account"):
            accounts.build_accounts(lake)
        assert "grid:national:mee_enterprise_reporting:2022" in set(lake.read("emission_factor").factor_id)
