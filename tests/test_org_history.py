"""Organisation master data with history (issue 12, item 5; clause 4.2.1): create, rename, move, close with
effective dates; a year's accounts roll up under that year's tree; reports of a past period keep the old names."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import accounts, views
from carbonlib.cli import app
from carbonlib.lake import Lake, OwnedTableError
from carbonlib.lake.errors import SchemaViolation
from carbonlib.ledger import orgs
from carbonlib.ledger.orgs import NewOrg, OrgChangeRefused
from carbonlib.reporting import reports
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake_with_people

MOVED = "E430121-02"  # Changsha Power Plant No.2, under county D430121 (city C4301) in the demo
PEOPLE = {"t-county-reviewer": [("reviewer", "D430121")]}


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake_with_people(small_demo_lake, tmp_path / "lake", PEOPLE)


@pytest.fixture
def people(lake):
    with Security.open(lake) as security:
        yield security, {n: security.sessions.login(n, TEST_PASSWORD).principal
                         for n in ("t-officer", "t-reviewer", *PEOPLE)}


def _totals(settings, period: str = "2025") -> dict[str, float]:
    with Lake.open(settings, read_only=True) as opened:
        rows = opened.query("SELECT org_id, value FROM lake.account WHERE item = 'emissions_total' AND period = ? "
                            "AND method_version = ?", [period, accounts.METHOD_VERSION])
    return dict(zip(rows.org_id, rows.value))


def _refresh(settings) -> accounts.RefreshResult:
    with Lake.open(settings) as opened:
        return accounts.refresh_accounts(opened)


def test_a_move_rolls_the_year_up_under_the_new_parent_and_a_later_move_leaves_the_year(lake, people):
    from carbonlib.viz.data import Rollups

    security, p = people
    before = _totals(lake)
    plant = before[MOVED]

    def regional_caps() -> pd.DataFrame:  # what the dashboards show as the regions' cap utilisation of 2025
        with Lake.open(lake, read_only=True) as opened:
            rows = Rollups.load(opened, opened.snapshot_id()).accounts
        return rows[(rows.item == "cap_utilisation") & (rows.period == "2025")].set_index("org_id").value

    regions_before = regional_caps()
    assert {"D430121", "D430223"} <= set(regions_before.index)
    orgs.move(security, p["t-reviewer"], lake, MOVED, parent_id="D430223", effective_from="2026-01-01",
              reason="regional restructuring, decision HN-2025-17")
    assert _refresh(lake).full  # a tree change rebuilds every account
    assert _totals(lake) == pytest.approx(before)  # effective after 2025: the 2025 accounts keep the old tree
    pd.testing.assert_series_equal(regional_caps().sort_index(), regions_before.sort_index())  # and the dashboards
    with Lake.open(lake, read_only=True) as opened:
        assert views.org_tree(opened, as_of="2025-12-31").set_index("org_id").parent_id[MOVED] == "D430121"
        assert views.org_paths(opened)[MOVED] == "P43/C4302/D430223/" + MOVED  # scopes follow today's tree
    orgs.move(security, p["t-reviewer"], lake, MOVED, parent_id="D430223", effective_from="2025-06-01",
              reason="the decision took effect in June 2025 (correction of the recorded date)")
    _refresh(lake)
    after = _totals(lake)
    # hand check: the plant's whole 2025 figure leaves county D430121 and city C4301 and joins D430223 / C4302
    assert after[MOVED] == pytest.approx(plant)
    assert after["D430121"] == pytest.approx(before["D430121"] - plant)
    assert after["C4301"] == pytest.approx(before["C4301"] - plant)
    assert after["D430223"] == pytest.approx(before["D430223"] + plant)
    assert after["C4302"] == pytest.approx(before["C4302"] + plant)
    assert after["P43"] == pytest.approx(before["P43"])  # the province is the same sum
    with Lake.open(lake, read_only=True) as opened:  # every parent is the sum of its children in the new tree
        tree = accounts.year_tree(opened, 2025)
    for county in ("D430121", "D430223"):
        children = tree[tree.parent_id == county].org_id
        assert after[county] == pytest.approx(sum(after.get(c, 0.0) for c in children))
    log = security.audit.entries(action="manage_orgs", actor="t-reviewer")
    assert [e.outcome for e in log].count("ok") == 2


def test_a_rename_holds_from_its_day_and_reports_of_earlier_years_keep_the_old_name(lake, people):
    security, p = people
    with Lake.open(lake, read_only=True) as opened:
        old = views.org_tree(opened).set_index("org_id").loc["D430121"]
    changed = orgs.rename(security, p["t-county-reviewer"], lake, "D430121", name_zh="长沙县（星沙）",
                          name_en="Changsha County (Xingsha)", effective_from="2026-01-01", reason="renamed by decree 12")
    assert changed.change == "rename" and changed.changed_by == "t-county-reviewer"
    _refresh(lake)
    with Lake.open(lake, read_only=True) as opened:
        assert views.org_tree(opened, as_of="2025-12-31").set_index("org_id").name_en["D430121"] == old.name_en
        assert views.org_tree(opened, as_of="2026-01-01").set_index("org_id").name_zh["D430121"] == "长沙县（星沙）"
        report_2025 = reports.collect(opened, "D430121", "2025")
        parent_report = reports.collect(opened, "C4301", "2025")
        history = views.org_history(opened, "D430121")
    assert report_2025.name("en") == old.name_en and report_2025.name("zh") == old.name_zh
    assert old.name_en in set(parent_report.children.name_en)
    assert list(history.change) == ["rename"] and history.reason[0] == "renamed by decree 12"
    with pytest.raises(OrgChangeRefused, match="already called"):
        orgs.rename(security, p["t-county-reviewer"], lake, "D430121", name_zh="长沙县（星沙）",
                    name_en="Changsha County (Xingsha)", effective_from="2026-02-01", reason="again")


def _close_county_later_then_move(security, reviewer, lake) -> None:
    """Empty county D430181 (its orgs move to D430121 from 2026-01-01), close it from 2026-10-01, then try to move
    an enterprise back under it from 2026-02-01."""
    with Lake.open(lake, read_only=True) as opened:
        tree = views.org_tree(opened, as_of="2026-01-01")
    for child in tree[tree.parent_id == "D430181"].org_id:
        orgs.move(security, reviewer, lake, child, parent_id="D430121", effective_from="2026-01-01", reason="merger")
    orgs.close(security, reviewer, lake, "D430181", effective_from="2026-10-01", reason="merged into D430121")
    orgs.move(security, reviewer, lake, "E430181-01", parent_id="D430181", effective_from="2026-02-01", reason="x")


def test_close_is_refused_with_open_children_and_is_final(lake, people, tmp_path):
    security, p = people
    reviewer = p["t-reviewer"]
    with pytest.raises(OrgChangeRefused, match=r"open children \(E430121-01"):
        orgs.close(security, reviewer, lake, "D430121", effective_from="2025-10-01", reason="merged")
    with pytest.raises(OrgChangeRefused, match="root of the tree"):
        orgs.close(security, reviewer, lake, "P43", effective_from="2025-10-01", reason="no")
    orgs.close(security, reviewer, lake, "E430121-01", effective_from="2025-07-01", reason="business licence revoked")
    with pytest.raises(OrgChangeRefused, match="closed on 2025-07-01"):
        orgs.rename(security, reviewer, lake, "E430121-01", name_zh="新", name_en="New", effective_from="2025-08-01",
                    reason="x")
    with pytest.raises(OrgChangeRefused, match="closed on 2025-07-01"):  # nothing moves under a closed org
        orgs.move(security, reviewer, lake, "S430121-01", parent_id="E430121-01", effective_from="2025-09-01",
                  reason="x")
    before = _totals(lake)
    _refresh(lake)
    assert _totals(lake) == pytest.approx(before)  # closed during 2025: its 2025 figures stay
    with Lake.open(lake, read_only=True) as opened:
        assert "E430121-01" in set(accounts.year_tree(opened, 2025).org_id)
        assert "E430121-01" not in set(accounts.year_tree(opened, 2026).org_id)  # closed before 2026 began
        assert "E430121-01" not in reports.default_orgs(opened, "supervision", opened.snapshot_id(), "2026-01")
        assert "E430121-01" in set(reports.subtree(opened, "D430121", period="2025").org_id)
        assert "E430121-01" not in set(reports.subtree(opened, "D430121", period="2026-03").org_id)
        with pytest.raises(ValueError, match="not in the org tree of 2026"):
            reports.resolve_org(opened, "E430121-01", period="2026")
    with pytest.raises(ValueError, match=r"E430121-01 did not exist in 2026"):
        reports.run_batch(lake, "annual", "2026", orgs=["E430121-01"], out_dir=tmp_path / "reports", progress=False)
    # a closure recorded for a later day: nothing may be put under that org from an earlier day
    with pytest.raises(OrgChangeRefused, match="D430181 closes on 2026-10-01"):
        _close_county_later_then_move(security, reviewer, lake)
    with pytest.raises(OrgChangeRefused, match="D430181 closes on 2026-10-01"):
        orgs.create(security, reviewer, lake, NewOrg("S430181-09", "D430181", "site", "forest", "林", "Wood", "430181",
                                                     date(2026, 2, 1)), reason="x")


def test_a_created_org_exists_from_its_opening_day(lake, people):
    security, p = people
    new = NewOrg("E430121-04", "D430121", "enterprise", "enterprise", "长沙新材料4号有限公司",
                 "Changsha New Materials No.4 Co., Ltd.", "430121", date(2026, 1, 1), industry="cement")
    created = orgs.create(security, p["t-county-reviewer"], lake, new, reason="licence 4301-2026-004")
    assert created.parent_id == "D430121" and pd.Timestamp(created.opened_on).date() == date(2026, 1, 1)
    with Lake.open(lake, read_only=True) as opened:
        assert "E430121-04" not in set(views.org_tree(opened, as_of="2025-12-31").org_id)
        assert "E430121-04" not in set(accounts.year_tree(opened, 2025).org_id)
        assert "E430121-04" in set(views.org_tree(opened, as_of="2026-01-01").org_id)
    with pytest.raises(OrgChangeRefused, match="exists already"):
        orgs.create(security, p["t-county-reviewer"], lake, new, reason="again")
    with pytest.raises(OrgChangeRefused, match="does not exist on 2025-12-31"):  # opened later
        orgs.rename(security, p["t-county-reviewer"], lake, "E430121-04", name_zh="甲", name_en="A",
                    effective_from="2025-12-31", reason="x")
    city_below_county = NewOrg("C4399", "D430121", "city", "government", "某市", "Some City", "439900", date(2026, 1, 1))
    with pytest.raises(SchemaViolation, match="parent_id"):  # the lake's org rules: parents rank above children
        orgs.create(security, p["t-county-reviewer"], lake, city_below_county, reason="x")
    assert _refresh(lake).full


def test_bad_changes_are_refused_and_leave_the_tree(lake, people):
    security, p = people
    reviewer = p["t-reviewer"]
    far = (datetime.now(timezone.utc) + timedelta(days=800)).date()
    cases = [
        (lambda: orgs.rename(security, reviewer, lake, MOVED, name_zh="甲", name_en="A", effective_from=far,
                             reason="x"), OrgChangeRefused, "more than a year ahead"),
        (lambda: orgs.rename(security, reviewer, lake, MOVED, name_zh="甲", name_en="A", effective_from="2025-13-01",
                             reason="x"), OrgChangeRefused, "not a date"),
        (lambda: orgs.rename(security, reviewer, lake, MOVED, name_zh="甲", name_en=" ", effective_from="2025-06-01",
                             reason="x"), OrgChangeRefused, "both the Chinese and the English name"),
        (lambda: orgs.rename(security, reviewer, lake, MOVED, name_zh="甲", name_en="A", effective_from="2025-06-01",
                             reason="  "), OrgChangeRefused, "reason"),
        (lambda: orgs.rename(security, reviewer, lake, "E999", name_zh="甲", name_en="A", effective_from="2025-06-01",
                             reason="x"), OrgChangeRefused, "'E999' does not exist"),
        (lambda: orgs.move(security, reviewer, lake, MOVED, parent_id="D430121", effective_from="2025-06-01",
                           reason="x"), OrgChangeRefused, "already under D430121"),
        (lambda: orgs.move(security, reviewer, lake, MOVED, parent_id="E430121-01", effective_from="2025-06-01",
                           reason="x"), OrgChangeRefused, "is not above"),
        (lambda: orgs.move(security, reviewer, lake, "D430121", parent_id="C4399", effective_from="2025-06-01",
                           reason="x"), OrgChangeRefused, "'C4399' does not exist"),
        (lambda: orgs.move(security, reviewer, lake, "P43", parent_id="C4301", effective_from="2025-06-01",
                           reason="x"), OrgChangeRefused, "root of the tree"),
        # least privilege: a county reviewer cannot move an org out of its county, an officer changes nothing
        (lambda: orgs.move(security, p["t-county-reviewer"], lake, MOVED, parent_id="D430223",
                           effective_from="2025-06-01", reason="x"), PermissionDenied, "D430223"),
        (lambda: orgs.rename(security, p["t-officer"], lake, "E430121-01", name_zh="甲", name_en="A",
                             effective_from="2025-06-01", reason="x"), PermissionDenied, "manage orgs"),
    ]
    with Lake.open(lake, read_only=True) as opened:
        tree, changes = views.org_tree(opened), opened.query("SELECT count(*) AS n FROM lake.org_change").n[0]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    with Lake.open(lake) as opened:
        pd.testing.assert_frame_equal(views.org_tree(opened), tree)
        assert opened.query("SELECT count(*) AS n FROM lake.org_change").n[0] == changes
        with pytest.raises(OwnedTableError):  # only the master-data service writes the history
            opened.append("org_change", pd.DataFrame([dict(
                change_id="X", org_id=MOVED, change="rename", effective_from=date(2025, 1, 1), name_zh="甲",
                name_en="A", parent_id=None, reason="x", changed_by="me", recorded_at=datetime(2025, 1, 1))]))
    denied = security.audit.entries(action="manage_orgs", outcome="denied")
    assert {e.actor for e in denied} == {"t-county-reviewer", "t-officer"}


def test_the_command_line_changes_and_lists_the_tree(lake, tmp_path, monkeypatch):
    env, cli = {"CARBON_LANG": "en"}, CliRunner()
    monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / "session"))
    where = ["--lake", str(lake.lake)]
    login = cli.invoke(app, ["login", *where, "--user", "t-county-reviewer"], input=f"{TEST_PASSWORD}\n", env=env)
    assert login.exit_code == 0, login.output
    renamed = cli.invoke(app, ["orgs", "rename", "S430121-02", "--name-zh", "星沙林场", "--name-en", "Xingsha Forest Farm",
                               "--from", "2026-03-01", "--reason", "decision 7", *where], env=env)
    assert renamed.exit_code == 0 and "rename of S430121-02 recorded, in force from 2026-03-01" in renamed.output
    bad_day = cli.invoke(app, ["orgs", "close", "S430121-02", "--from", "2026-02-30", "--reason", "x", *where], env=env)
    assert bad_day.exit_code == 2 and "YYYY-MM-DD" in bad_day.output
    outside = cli.invoke(app, ["orgs", "move", "S430121-02", "--parent", "D430181", "--from", "2026-03-01",
                               "--reason", "x", *where], env=env)
    assert outside.exit_code == 1 and "may not manage orgs on D430181" in outside.output
    assert "Traceback" not in outside.output
    then = cli.invoke(app, ["orgs", "list", "--as-of", "2026-02-28", *where], env=env)
    now = cli.invoke(app, ["orgs", "list", "--as-of", "2026-03-01", "--json", *where], env=env)
    assert "Changsha Forest Farm No.2" in then.output and "Xingsha" not in then.output
    before_2021 = cli.invoke(app, ["orgs", "list", "--as-of", "2020-12-31", *where], env=env)
    assert "Changsha County State Forest Farm" in before_2021.output  # the demo's own history: renamed in 2021
    assert {o["org_id"]: o["name_en"] for o in json.loads(now.output)}["S430121-02"] == "Xingsha Forest Farm"
    history = cli.invoke(app, ["orgs", "history", "S430121-02", *where], env=env)
    assert "from 2026-03-01  rename  星沙林场 / Xingsha Forest Farm  by t-county-reviewer: decision 7" in history.output


def test_the_ledger_of_a_closed_or_not_yet_opened_org_is_refused(lake, people, tmp_path):
    from carbonlib.ledger import bulk, service

    security, p = people
    orgs.close(security, p["t-reviewer"], lake, "E430121-01", effective_from="2026-02-01", reason="licence revoked")
    heat = dict(org_id="E430121-01", category="purchased_heat", activity_type="steam", amount=1000.0, unit="GJ",
                evidence_ref="INV-H-1")
    with pytest.raises(ValueError, match=r"org_id: E430121-01 closed on 2026-02-01, before the period 2026-02-01"):
        service.enter(security, p["t-officer"], lake, service.NewEntry(
            period_start=date(2026, 2, 1), period_end=date(2026, 2, 28), **heat))
    january = service.enter(security, p["t-officer"], lake, service.NewEntry(
        period_start=date(2026, 1, 1), period_end=date(2026, 1, 31), **heat))  # before the closure: its ledger stands
    assert january.status == "submitted"
    path = tmp_path / "ledger.csv"
    pd.DataFrame([["E430121-01", month, "purchased_heat", "steam", "10", "GJ", "INV-9", ""] for month in
                  ("2025-12", "2026-03", "2026-04")], columns=list(bulk.COLUMNS)).to_csv(path, index=False)
    with pytest.raises(bulk.ImportRefused) as refused:
        bulk.import_file(security, p["t-officer"], lake, path)
    assert [(b.line, b.field) for b in refused.value.problems] == [(3, "org_id"), (4, "org_id")]
    assert "closed on 2026-02-01, before the period 2026-03-01..2026-03-31" in str(refused.value)
