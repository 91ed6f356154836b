"""Cap requests (issue 12, item 5; clause 6.2.2): apply -> review -> grant or refuse, four-eyes, and the cap the
accounts use moves by the amount granted."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import accounts, cap_requests
from carbonlib.accounting.cap_requests import CapRequest, CapRequestRefused
from carbonlib.cli import app
from carbonlib.lake import Lake, OwnedTableError
from carbonlib.lake.errors import SchemaViolation
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake_with_people

CAPPED = "E430121-02"  # a capped demo enterprise (cap for 2025)
PEOPLE = {"t-officer-02": [("data_officer", CAPPED)], "t-reviewer-2": [("reviewer", "D430121")]}


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake_with_people(small_demo_lake, tmp_path / "lake", PEOPLE)


@pytest.fixture
def people(lake):
    with Security.open(lake) as security:
        yield security, {n: security.sessions.login(n, TEST_PASSWORD).principal
                         for n in ("t-officer", "t-reviewer", *PEOPLE)}


def _cap(settings, org: str = CAPPED) -> tuple[float, str, float]:
    with Lake.open(settings, read_only=True) as opened:
        rows = opened.query("SELECT item, value, basis FROM lake.account WHERE org_id = ? AND period = '2025' "
                            "AND method_version = ?", [org, accounts.METHOD_VERSION]).set_index("item")
    return rows.loc["cap", "value"], rows.loc["cap", "basis"], rows.loc["cap_utilisation", "value"]


def test_extra_allowance_applied_reviewed_and_granted_moves_the_cap(lake, people):
    security, p = people
    cap, _, utilisation = _cap(lake)
    filed = cap_requests.request(security, p["t-officer-02"], lake, CapRequest(
        CAPPED, 2025, "extra_allowance", 1000.0, "second kiln line commissioned in June", "DRC-2025-118"))
    assert filed.requested_by == "t-officer-02" and pd.isna(filed.decision)
    with pytest.raises(CapRequestRefused, match="four-eyes"):  # the requester cannot decide, even as a reviewer
        security.provision("t-officer-02b", "x", grants=[("data_officer", CAPPED), ("reviewer", "D430121")],
                           password=TEST_PASSWORD, must_change=False)
        both = security.sessions.login("t-officer-02b", TEST_PASSWORD).principal
        own = cap_requests.request(security, both, lake, CapRequest(CAPPED, 2025, "offset", 50.0, "CCER", "R-1"))
        cap_requests.decide(security, both, lake, own.name, grant=True, comment="fine")
    with pytest.raises(PermissionDenied):  # an officer of another enterprise cannot decide
        cap_requests.decide(security, p["t-officer"], lake, filed.name, grant=True, comment="ok")
    with pytest.raises(CapRequestRefused, match="not between 0 and"):
        cap_requests.decide(security, p["t-reviewer-2"], lake, filed.name, grant=True, comment="x", amount_tco2e=1500)
    decided = cap_requests.decide(security, p["t-reviewer-2"], lake, filed.name, grant=True, amount_tco2e=800.0,
                                  comment="granted 800 t: the line ran from July")
    assert decided.decision == "granted" and decided.granted_tco2e == 800.0
    new_cap, basis, new_utilisation = _cap(lake)
    assert new_cap == pytest.approx(cap + 800.0)  # allocation + amount granted
    assert filed.name in basis
    assert new_utilisation == pytest.approx(utilisation * cap / (cap + 800.0))
    with pytest.raises(CapRequestRefused, match="already granted"):  # a decision is final
        cap_requests.decide(security, p["t-reviewer"], lake, filed.name, grant=False, comment="no")
    log = security.audit.entries(action="review_ledger", actor="t-reviewer-2")
    assert any(filed.name in e.object and e.outcome == "ok" for e in log)


def test_refused_and_offset_requests_leave_the_cap(lake, people):
    security, p = people
    cap, _, _ = _cap(lake)
    refused = cap_requests.request(security, p["t-officer-02"], lake, CapRequest(
        CAPPED, 2025, "extra_allowance", 5000.0, "more orders", "ORD-1"))
    cap_requests.decide(security, p["t-reviewer"], lake, refused.name, grant=False, comment="orders are no ground")
    offset = cap_requests.request(security, p["t-officer-02"], lake, CapRequest(
        CAPPED, 2025, "offset", 300.0, "retire 300 CCER", "RETIRE-9"))
    cap_requests.decide(security, p["t-reviewer"], lake, offset.name, grant=True, comment="within the 5 % limit")
    assert _cap(lake)[0] == pytest.approx(cap)
    cut = cap_requests.request(security, p["t-reviewer"], lake, CapRequest(
        CAPPED, 2025, "allocation_adjustment", -200.0, "production data corrected", "DRC-2025-200"))
    cap_requests.decide(security, p["t-reviewer-2"], lake, cut.name, grant=True, comment="checked")
    assert _cap(lake)[0] == pytest.approx(cap - 200.0)


@pytest.mark.parametrize("who, new, words", [
    ("t-officer-02", CapRequest(CAPPED, 2031, "extra_allowance", 10.0, "x", "y"), "has no cap for 2031"),
    ("t-officer-02", CapRequest(CAPPED, 2025, "extra_allowance", -10.0, "x", "y"), "only an allocation adjustment"),
    ("t-officer-02", CapRequest(CAPPED, 2025, "extra_allowance", 0.0, "x", "y"), "is zero"),
    ("t-officer-02", CapRequest(CAPPED, 2025, "extra_allowance", 10.0, " ", "y"), "reason"),
    ("t-officer-02", CapRequest(CAPPED, 2025, "bonus", 10.0, "x", "y"), "is not one of"),
    ("t-officer-02", CapRequest(CAPPED, 2025, "allocation_adjustment", 10.0, "x", "y"), "may not review ledger"),
    ("t-officer", CapRequest(CAPPED, 2025, "extra_allowance", 10.0, "x", "y"), "may not enter ledger"),
])
def test_bad_requests_are_refused_and_nothing_is_written(lake, people, who, new, words):
    security, p = people
    with pytest.raises((CapRequestRefused, PermissionDenied, SchemaViolation)) as caught:
        cap_requests.request(security, p[who], lake, new)
    assert words in str(caught.value)
    with Lake.open(lake, read_only=True) as opened:
        assert cap_requests.requests(opened).empty
        with pytest.raises(OwnedTableError):
            opened.append("cap_request", pd.DataFrame())


def test_cap_request_cli(lake):
    runner = CliRunner()
    result = runner.invoke(app, ["accounts", "cap-requests", "--lake", str(lake.lake)])
    assert result.exit_code == 0 and result.output == ""
    result = runner.invoke(app, ["accounts", "cap-request", "--lake", str(lake.lake), "--org", CAPPED, "--year", "2025",
                                 "--kind", "bonus", "--amount", "1", "--reason", "x", "--evidence", "y"])
    assert result.exit_code == 2 and "--kind" in result.output
