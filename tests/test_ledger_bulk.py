"""Bulk ledger entry (issue 12): the template with pick-lists, and an import that takes the whole file or nothing,
reporting every bad row with its spreadsheet line and field."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.lake import Lake
from carbonlib.ledger import bulk, service
from carbonlib.security import Security
from conftest import TEST_PASSWORD, copy_lake

ENTERPRISE = "E430121-01"


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def officer(lake):
    with Security.open(lake) as security:
        yield security, security.sessions.login("t-officer", TEST_PASSWORD).principal


def _csv(path, rows: list[list[str]], header=bulk.COLUMNS):
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False)
    return path


def _good(period="2026-01", category="purchased_heat", activity_type="steam", amount="1000", unit="GJ",
          evidence="INV-1", comment="", org=ENTERPRISE) -> list[str]:
    return [org, period, category, activity_type, amount, unit, evidence, comment]


def _counts(settings) -> tuple[int, int]:
    with Lake.open(settings, read_only=True) as opened:
        return (int(opened.query("SELECT count(*) AS n FROM lake.activity").n[0]),
                int(opened.query("SELECT count(*) AS n FROM lake.activity_review").n[0]))


def test_the_xlsx_template_has_pick_lists_from_what_the_accounts_compute(lake, officer, tmp_path):
    _security, principal = officer
    orgs = bulk.template_orgs(principal, lake)
    assert orgs == [ENTERPRISE]
    with Lake.open(lake, read_only=True) as opened:
        path = bulk.write_template(opened, orgs, tmp_path / "t.xlsx")
    book = load_workbook(path)
    assert [c.value for c in book["ledger"][1]] == list(bulk.COLUMNS)
    lists = {col[0].value: [c.value for c in col[1:] if c.value] for col in book["lists"].iter_cols()}
    assert lists["org_id"] == [ENTERPRISE]
    assert {"waste", "purchased_heat"} <= set(lists["category"])
    assert {"diesel", "raw_coal", "natural_gas", "grid", "steam", "SF6", "clinker", "msw",
            "hazardous_waste"} <= set(lists["activity_type"])
    formulas = {str(v.sqref): v.formula1 for v in book["ledger"].data_validations.dataValidation}
    assert formulas["A2:A5001"] == "=lists!$A$2:$A$2" and formulas["E2:E5001"] == "0"
    assert (tmp_path / "t.csv").exists() is False
    with Lake.open(lake, read_only=True) as opened:
        csv = bulk.write_template(opened, orgs, tmp_path / "t.csv")
    assert csv.read_text(encoding="utf-8-sig") == ",".join(bulk.COLUMNS) + "\n"


def test_a_good_file_is_imported_whole_and_submitted(lake, officer, tmp_path):
    security, principal = officer
    path = _csv(tmp_path / "ok.csv", [_good(), _good(category="purchased_electricity", activity_type="grid",
                                                     amount="1,200.5", unit="MWh", comment="two meters"),
                                      _good(period="2026", category="fugitive", activity_type="SF6", amount="3",
                                            unit="kg")])
    result = bulk.import_file(security, principal, lake, path)
    assert result.entries == 3 and result.per_org == {ENTERPRISE: 3}
    listed = service.listing(security, principal, lake, year=2026)
    assert sorted(listed.status) == ["submitted"] * 3 and set(listed.author) == {"t-officer"}
    assert sorted(listed.amount) == [3.0, 1000.0, 1200.5]
    annual = listed[listed.category == "fugitive"].iloc[0]
    assert (pd.Timestamp(annual.period_start).date(), pd.Timestamp(annual.period_end).date()) == (
        date(2026, 1, 1), date(2026, 12, 31))
    logged = security.audit.entries(actor="t-officer", action="enter_ledger", outcome="ok")
    assert "imported and submitted 3 entries" in logged[0].detail
    with pytest.raises(bulk.ImportRefused, match="already stands for this source and period"):
        bulk.import_file(security, principal, lake, path)  # importing again adds nothing


def test_every_bad_row_is_reported_with_line_and_field_and_nothing_is_written(lake, officer, tmp_path):
    security, principal = officer
    future = (date.today() + timedelta(days=70)).strftime("%Y-%m")
    rows = {
        2: (_good(), None),  # good, but the file as a whole is refused
        3: (_good(org="E999999-99"), ("org_id", "is not an org of the lake")),
        4: (_good(org="E430121-02"), ("org_id", "you do not enter the ledger of E430121-02")),
        5: (_good(period="2026-13"), ("period", "is not a month")),
        6: (_good(period="Jan 2026"), ("period", "is not a month")),
        7: (_good(period=future), ("period", "lies in the future")),
        8: (_good(category="heat"), ("category", "is not one of")),
        9: (_good(category="waste", activity_type="tyres", unit="t"), ("activity_type", "is not an activity type of its")),
        10: (_good(activity_type="diesel"), ("activity_type", "is not an activity type of its category")),
        11: (_good(unit="kWh"), ("unit", "is not a unit of its category")),
        12: (_good(amount="lots"), ("amount", "is not a number")),
        13: (_good(amount="-5"), ("amount", "is not above 0")),
        14: (_good(amount="0"), ("amount", "is not above 0")),
        15: (_good(amount="1e12"), ("amount", "implausibly large")),
        16: (_good(evidence=""), ("evidence_ref", "is empty")),
        17: (_good(period="2026-02", comment="x" * 2001), ("comment", "longer than 2000")),
        18: (_good(), ("period", "repeats an earlier row")),
        19: (_good(period="2025-12", category="purchased_electricity", activity_type="grid", unit="MWh"),
             ("period", "already stands for this source and period")),
        20: (_good(period="2026-03", category="stationary_combustion", activity_type="anthracite", unit="t"),
             ("activity_type", "is not an activity type of its category")),
    }
    path = _csv(tmp_path / "bad.csv", [row for row, _ in rows.values()])
    before = _counts(lake)
    with pytest.raises(bulk.ImportRefused) as caught:
        bulk.import_file(security, principal, lake, path)
    found = {(p.line, p.field): p.problem for p in caught.value.problems}
    for line, (_row, expected) in rows.items():
        if expected is None:
            assert not any(l == line for l, _ in found), found
            continue
        field, words = expected
        assert (line, field) in found and words in found[(line, field)], (line, field, found.get((line, field)))
    assert "line 4, org_id: you do not enter the ledger of E430121-02" in str(caught.value)
    assert _counts(lake) == before
    denied = security.audit.entries(actor="t-officer", action="enter_ledger", outcome="denied")
    assert denied and denied[0].org_id == "E430121-02"


@pytest.mark.parametrize("header, words", [
    (["period", "org_id", *bulk.COLUMNS[2:]], "out of place period, org_id"),
    (["org", *bulk.COLUMNS[1:]], "missing org_id; unknown 'org'"),
    (list(bulk.COLUMNS[:-1]), "missing comment"),
    ([*bulk.COLUMNS, "extra"], "unknown 'extra'"),
])
def test_a_template_with_moved_renamed_or_missing_columns_is_refused(lake, officer, tmp_path, header, words):
    security, principal = officer
    path = tmp_path / "moved.csv"
    path.write_text(",".join(header) + "\n" + ",".join(_good()[:len(header)]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="the header is not the template's") as caught:
        bulk.import_file(security, principal, lake, path)
    assert words in str(caught.value)


def test_a_filled_xlsx_template_round_trips_through_the_command_line(lake, tmp_path, monkeypatch):
    env, cli, where = {"CARBON_LANG": "en"}, CliRunner(), ["--lake", str(lake.lake)]
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    login = cli.invoke(app, ["login", *where, "--user", "t-officer"], input=f"{TEST_PASSWORD}\n", env=env)
    assert login.exit_code == 0, login.output
    template = tmp_path / "ledger.xlsx"
    made = cli.invoke(app, ["ledger", "template", str(template), *where], env=env)
    assert made.exit_code == 0 and ENTERPRISE in made.output, made.output
    book = load_workbook(template)
    book["ledger"].append(_good())
    book["ledger"].append(_good(period="2026-02", amount="abc"))
    book.save(template)
    refused = cli.invoke(app, ["ledger", "import", str(template), *where], env=env)
    assert refused.exit_code == 1 and "line 3, amount: 'abc' is not a number" in refused.output, refused.output
    assert "Traceback" not in refused.output
    book["ledger"].delete_rows(3)
    book.save(template)
    done = cli.invoke(app, ["ledger", "import", str(template), *where], env=env)
    assert done.exit_code == 0 and "imported and submitted 1 entries" in done.output, done.output
