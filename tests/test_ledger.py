"""The emission ledger's review workflow (issue 12, part 1): immutable entries, review as an event stream,
derived status, four-eyes, pending periods in the accounts, corrections and reversals with their history."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import accounts, views
from carbonlib.cli import app
from carbonlib.lake import Lake, OwnedTableError
from carbonlib.lake.errors import SchemaViolation
from carbonlib.alerts import checks
from carbonlib.ledger import evidence, service, supervision, workflow
from carbonlib.ledger.workflow import ReviewRefused
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake_with_people

ENTERPRISE = "E430121-01"  # a demo enterprise of county D430121 (city C4301)
MONTH = "2026-01"  # after the demo's data (which ends 2025-12-31), before today
#: People of these tests besides conftest's t-officer, t-reviewer and t-officer-reviewer.
PEOPLE = {"t-officer-2": [("data_officer", ENTERPRISE)], "t-far-reviewer": [("reviewer", "D430181")]}
EVERYONE = ("t-officer", "t-reviewer", "t-officer-reviewer", *PEOPLE)


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake_with_people(small_demo_lake, tmp_path / "lake", PEOPLE)


@pytest.fixture
def people(lake):
    with Security.open(lake) as security:
        yield security, {name: security.sessions.login(name, TEST_PASSWORD).principal for name in EVERYONE}


def _heat(amount: float = 1000.0, **kw) -> service.NewEntry:
    """Purchased heat in January 2026: hand-derived figure 0.11 tCO2/GJ x amount GJ (GB/T 32150 default)."""
    fields = dict(org_id=ENTERPRISE, period_start=date(2026, 1, 1), period_end=date(2026, 1, 31),
                  category="purchased_heat", activity_type="steam", amount=amount, unit="GJ", evidence_ref="INV-H-1")
    return service.NewEntry(**{**fields, **kw})


def _figures(settings, org: str = ENTERPRISE, period: str = MONTH) -> dict[str, float]:
    """Refresh the accounts and return ``org``'s figures of ``period`` (item -> value)."""
    with Lake.open(settings) as lake:
        accounts.refresh_accounts(lake)
        rows = lake.query("SELECT item, value FROM lake.account WHERE org_id = ? AND period = ? AND method_version = ?",
                          [org, period, accounts.METHOD_VERSION])
    return dict(zip(rows.item, rows.value))


def _counts(settings) -> tuple[int, int]:
    with Lake.open(settings, read_only=True) as lake:
        return (int(lake.query("SELECT count(*) AS n FROM lake.activity").n[0]),
                int(lake.query("SELECT count(*) AS n FROM lake.activity_review").n[0]))


# ----------------------------------------------------------------------------- the workflow rules
@pytest.mark.parametrize("status, step", [
    ("draft", "submitted"), ("submitted", "approved"), ("submitted", "returned"), ("submitted", "rejected"),
    ("returned", "submitted"), ("returned", "corrected"), ("approved", "reversed"), ("approved", "corrected"),
])
def test_allowed_steps(status, step):
    workflow.check_step("E1", status, step, actor="rev", author="off", submitter="off", comment="why")


@pytest.mark.parametrize("status, step", [
    ("draft", "approved"), ("submitted", "reversed"), ("approved", "approved"), ("approved", "returned"),
    ("rejected", "submitted"), ("reversed", "approved"), ("corrected", "reversed"), ("returned", "approved"),
])
def test_refused_steps_say_what_is_possible(status, step):
    with pytest.raises(ReviewRefused, match=f"entry E1 is {status}: it cannot be {step}"):
        workflow.check_step("E1", status, step, actor="rev", author="off", submitter="off", comment="why")


@pytest.mark.parametrize("actor", ["off", "sub"])
def test_four_eyes_refuses_the_author_and_the_submitter(actor):
    with pytest.raises(ReviewRefused, match="four-eyes"):
        workflow.check_step("E1", "submitted", "approved", actor=actor, author="off", submitter="sub", comment=None)


@pytest.mark.parametrize("step", ["returned", "rejected"])
def test_returning_and_rejecting_need_a_comment(step):
    with pytest.raises(ReviewRefused, match="needs a comment"):
        workflow.check_step("E1", "submitted", step, actor="rev", author="off", submitter="off", comment="  ")


# ----------------------------------------------------------------------------- the service on a real lake
def test_pending_then_approved_then_reversed_moves_the_figures(lake, people):
    security, p = people
    before = _figures(lake)
    entry = service.enter(security, p["t-officer"], lake, _heat())
    assert entry.status == "submitted" and entry.author == "t-officer" and entry.entered_status == "draft"
    pending = _figures(lake)
    assert pending.get("pending_entry_months") == 1.0  # shown as pending, not as zero
    assert pending.get("scope2_purchased_heat", 0.0) == before.get("scope2_purchased_heat", 0.0)
    for parent in ("D430121", "C4301", "P43"):  # pending rolls up the tree, and into the quarter and the year
        assert _figures(lake, parent).get("pending_entry_months") >= 1.0
    assert _figures(lake, period="2026Q1").get("pending_entry_months") == 1.0

    approved = service.approve(security, p["t-reviewer"], lake, entry.entry_id)
    assert approved.status == "approved" and approved.last_step_by == "t-reviewer"
    listed = service.listing(security, p["t-reviewer"], lake).set_index("entry_id").loc[entry.entry_id]
    assert (listed.status, listed.last_step_by, listed.amount) == (approved.status, approved.last_step_by,
                                                                   approved.amount)  # what the lake derives
    assert abs(pd.Timestamp(listed.last_step_at) - pd.Timestamp(approved.last_step_at)) < pd.Timedelta(seconds=1)
    after = _figures(lake)
    assert "pending_entry_months" not in after
    assert after["scope2_purchased_heat"] - before.get("scope2_purchased_heat", 0.0) == pytest.approx(110.0)  # 0.11 x 1000
    assert after["emissions_total"] - before.get("emissions_total", 0.0) == pytest.approx(110.0)

    reversed_ = service.reverse(security, p["t-reviewer"], lake, entry.entry_id, comment="meter belongs to the neighbour")
    assert reversed_.status == "reversed"
    restored = _figures(lake)
    assert restored.get("scope2_purchased_heat", 0.0) == pytest.approx(before.get("scope2_purchased_heat", 0.0))
    with pytest.raises(ReviewRefused, match="is reversed: it cannot be approved"):
        service.approve(security, p["t-reviewer"], lake, entry.entry_id)

    found, steps, _files = service.history(security, p["t-officer"], lake, entry.entry_id)
    assert steps.event.tolist() == ["submitted", "approved", "reversed"]
    assert steps.actor.tolist() == ["t-officer", "t-reviewer", "t-reviewer"]
    assert steps.comment.iloc[-1] == "meter belongs to the neighbour"
    logged = [(e.actor, e.action, e.outcome) for e in reversed(security.audit.entries(org_id=ENTERPRISE))]
    for expected in [("t-officer", "enter_ledger", "ok"), ("t-reviewer", "review_ledger", "ok")]:
        assert expected in logged
    assert security.audit.verify().ok


def test_nobody_approves_their_own_entry(lake, people):
    security, p = people
    entry = service.enter(security, p["t-officer-reviewer"], lake, _heat())
    counts = _counts(lake)
    with pytest.raises(ReviewRefused, match="four-eyes"):
        service.approve(security, p["t-officer-reviewer"], lake, entry.entry_id)
    assert _counts(lake) == counts  # the ledger unchanged
    failed = security.audit.entries(actor="t-officer-reviewer", action="review_ledger", outcome="failed")
    assert failed and "four-eyes" in failed[0].detail
    # the submitter is one of the four eyes too: a second officer's resubmission cannot be approved by them
    service.return_entry(security, p["t-reviewer"], lake, entry.entry_id, comment="attach the invoice")
    service.submit(security, p["t-officer-2"], lake, entry.entry_id)
    with pytest.raises(ReviewRefused, match="four-eyes"):
        service.approve(security, p["t-officer-reviewer"], lake, entry.entry_id)
    assert service.approve(security, p["t-reviewer"], lake, entry.entry_id).status == "approved"


def test_roles_and_scopes_are_enforced(lake, people):
    security, p = people
    entry = service.enter(security, p["t-officer"], lake, _heat())
    counts = _counts(lake)
    with pytest.raises(PermissionDenied):  # a data officer does not review
        service.approve(security, p["t-officer-2"], lake, entry.entry_id)
    with pytest.raises(PermissionDenied):  # a reviewer of another county
        service.approve(security, p["t-far-reviewer"], lake, entry.entry_id)
    with pytest.raises(PermissionDenied):  # an officer enters only for their enterprise
        service.enter(security, p["t-officer"], lake, _heat(org_id="E430121-02"))
    with pytest.raises(PermissionDenied):  # a reviewer does not enter
        service.enter(security, p["t-reviewer"], lake, _heat())
    assert _counts(lake) == counts
    seen = service.listing(security, p["t-far-reviewer"], lake)
    assert ENTERPRISE not in set(seen.org_id) and set(seen.org_id) <= {o for o in seen.org_id if o.startswith(("E430181", "S430181"))}


def test_returned_entry_is_pending_until_resubmitted_and_approved(lake, people):
    security, p = people
    entry = service.enter(security, p["t-officer"], lake, _heat())
    returned = service.return_entry(security, p["t-reviewer"], lake, entry.entry_id, comment="which meter?")
    assert returned.status == "returned"
    assert _figures(lake).get("pending_entry_months") == 1.0
    service.submit(security, p["t-officer"], lake, entry.entry_id, comment="meter H-7")
    assert service.approve(security, p["t-reviewer"], lake, entry.entry_id).status == "approved"
    rejected = service.enter(security, p["t-officer"], lake, _heat(activity_type="hot_water"))
    assert service.reject(security, p["t-reviewer"], lake, rejected.entry_id, comment="not ours").status == "rejected"
    assert "pending_entry_months" not in _figures(lake)


def test_a_correction_replaces_the_entry_only_once_approved(lake, people):
    security, p = people
    first = service.enter(security, p["t-officer"], lake, _heat(1000.0))
    service.approve(security, p["t-reviewer"], lake, first.entry_id)
    base = _figures(lake)["scope2_purchased_heat"]
    fix = service.enter(security, p["t-officer"], lake, _heat(1200.0, evidence_ref="INV-H-1-COR"), corrects=first.entry_id)
    assert _figures(lake)["scope2_purchased_heat"] == pytest.approx(base)  # the approved entry stands meanwhile
    with pytest.raises(ReviewRefused, match="already corrects"):
        service.enter(security, p["t-officer-2"], lake, _heat(1300.0), corrects=first.entry_id)
    service.approve(security, p["t-reviewer"], lake, fix.entry_id)
    assert _figures(lake)["scope2_purchased_heat"] == pytest.approx(base + 0.11 * 200.0)
    original, steps, _files = service.history(security, p["t-officer"], lake, first.entry_id)
    assert original.status == "corrected"
    assert steps.event.tolist() == ["submitted", "approved", "corrected"]
    assert steps.related_entry_id.iloc[-1] == fix.entry_id
    with pytest.raises(ReviewRefused, match="is corrected"):
        service.reverse(security, p["t-reviewer"], lake, first.entry_id, comment="x")


# ----------------------------------------------------------------------------- bad input: refused, nothing written
@pytest.mark.parametrize("change, field, words", [
    (dict(unit="kWh"), "unit", "is not a unit of purchased_heat"),
    (dict(amount=-5.0), "amount", "is negative"),
    (dict(amount=1e12), "amount", "implausibly large"),
    (dict(period_start=date.today() + timedelta(days=40), period_end=date.today() + timedelta(days=60)),
     "period_start", "lies in the future"),
    (dict(period_end=date(2025, 12, 1)), "period_end", "is before period_start"),
    (dict(category="stationary_combustion", activity_type="unobtainium", unit="t"), "activity_type",
     "cannot use this entry"),
    (dict(category="waste", activity_type="municipal_solid_waste", unit="t"), "activity_type",
     "no waste_carbon_content factor for waste 'municipal_solid_waste'"),
])
def test_bad_entries_are_refused_naming_the_field(lake, people, change, field, words):
    security, p = people
    counts = _counts(lake)
    with pytest.raises((SchemaViolation, ValueError)) as caught:
        service.enter(security, p["t-officer"], lake, _heat(**change))
    assert field in str(caught.value) and words in str(caught.value)
    assert _counts(lake) == counts


def test_a_second_entry_for_the_same_source_and_period_is_refused(lake, people):
    security, p = people
    entry = service.enter(security, p["t-officer"], lake, _heat())
    counts = _counts(lake)
    with pytest.raises(ValueError, match=f"entry {entry.entry_id} already stands .*--corrects"):
        service.enter(security, p["t-officer-2"], lake, _heat(amount=999.0))
    assert _counts(lake) == counts
    service.reject(security, p["t-reviewer"], lake, entry.entry_id, comment="duplicate of the paper form")
    assert service.enter(security, p["t-officer-2"], lake, _heat(amount=999.0)).status == "submitted"


def test_measured_fuel_parameters_override_the_defaults_with_their_lab_report(lake, people):
    """Diesel, 10 t, measured NCV 43.0 GJ/t, carbon content 20.0 tC/TJ, oxidation 0.99 (GB/T 32150 B.1):
    10 x 43.0 x 20.0e-3 x 0.99 x 44/12 = 31.218 tCO2, against the defaults (GB/T 2589 NCV 42.652 GJ/t,
    20.2 tC/TJ, 0.98): 10 x 42.652 x 20.2e-3 x 0.98 x 44/12 = 30.9571... tCO2."""
    security, p = people
    diesel = dict(category="mobile_combustion", activity_type="diesel", amount=10.0, unit="t")
    with Lake.open(lake, read_only=True) as opened:
        default = service.preview(opened, _heat(**diesel))
        measured = service.preview(opened, _heat(**diesel, ncv=43.0, carbon_content=20.0, oxidation=0.99))
    co2 = lambda f: float(f.set_index("item").value["scope1_mobile_combustion"])  # noqa: E731
    assert co2(default) == pytest.approx(10 * 42.652 * 20.2e-3 * 0.98 * 44 / 12, rel=1e-9)
    assert co2(measured) == pytest.approx(10 * 43.0 * 20.0e-3 * 0.99 * 44 / 12, rel=1e-9)
    assert "measured" in measured.set_index("item").basis["scope1_mobile_combustion"]
    with pytest.raises(ValueError, match="ncv: measured ncv, carbon_content, oxidation need their evidence"):
        service.enter(security, p["t-officer"], lake, _heat(**diesel, ncv=43.0, carbon_content=20.0, oxidation=0.99))
    with pytest.raises(SchemaViolation, match="carbon_content"):
        service.enter(security, p["t-officer"], lake, _heat(**diesel, carbon_content=99.0),
                      attachments=(service.Attachment("lab.pdf", PDF, "lab_report"),))
    with pytest.raises(SchemaViolation, match="only combustion entries carry one"):
        service.enter(security, p["t-officer"], lake, _heat(ncv=40.0),
                      attachments=(service.Attachment("lab.pdf", PDF, "lab_report"),))
    entry = service.enter(security, p["t-officer"], lake, _heat(**diesel, ncv=43.0, carbon_content=20.0, oxidation=0.99),
                          attachments=(service.Attachment("lab.pdf", PDF, "lab_report"),))
    base = _figures(lake).get("scope1_mobile_combustion", 0.0)
    service.approve(security, p["t-reviewer"], lake, entry.entry_id)
    assert _figures(lake)["scope1_mobile_combustion"] - base == pytest.approx(31.218, abs=1e-9)


# ----------------------------------------------------------------------------- evidence
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


def _zip_bomb() -> bytes:
    """An XLSX-looking zip whose one sheet unpacks 150 MiB of zeros from about 150 kB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(150):
                sheet.write(b"0" * (1 << 20))
    return out.getvalue()


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("invoice.txt", "hello")
    return out.getvalue()


def test_evidence_is_stored_by_its_hash_and_listed_with_the_entry(lake, people):
    security, p = people
    entry = service.enter(security, p["t-officer"], lake, _heat(), attachments=(
        service.Attachment("invoice-2026-01.pdf", PDF), service.Attachment("meter.png", _png(), "meter_reading")))
    _entry, _steps, files = service.history(security, p["t-reviewer"], lake, entry.entry_id)
    assert sorted(files.media_type) == ["application/pdf", "image/png"]
    assert set(files.attached_by) == {"t-officer"}
    pdf = files[files.media_type == "application/pdf"].iloc[0]
    assert pdf.sha256 == hashlib.sha256(PDF).hexdigest() and pdf.size_bytes == len(PDF)
    stored = evidence.path_of(lake, pdf.sha256)
    assert stored.read_bytes() == PDF and stored.stat().st_mode & 0o077 == 0  # owner only
    row, content = service.evidence_file(security, p["t-reviewer"], lake, entry.entry_id, pdf.sha256)
    assert content == PDF and row.filename == "invoice-2026-01.pdf"
    stored.write_bytes(PDF + b"tampered")
    with pytest.raises(evidence.EvidenceRefused, match="no longer matches"):
        service.evidence_file(security, p["t-reviewer"], lake, entry.entry_id, pdf.sha256)
    # returned for a missing photo: the officer attaches it, the same file twice counts once
    service.return_entry(security, p["t-reviewer"], lake, entry.entry_id, comment="add the lab report")
    listed = service.attach(security, p["t-officer"], lake, entry.entry_id,
                            (service.Attachment("lab.csv", "NCV,GJ/t\n20.9\n".encode(), "lab_report"),
                             service.Attachment("meter.png", _png(), "meter_reading")))
    assert sorted(listed.filename) == ["invoice-2026-01.pdf", "lab.csv", "meter.png"]
    service.submit(security, p["t-officer"], lake, entry.entry_id)
    service.approve(security, p["t-reviewer"], lake, entry.entry_id)
    with pytest.raises(ReviewRefused, match="is approved: evidence is attached while"):
        service.attach(security, p["t-officer"], lake, entry.entry_id, (service.Attachment("late.pdf", PDF),))


@pytest.mark.parametrize("name, content, words", [
    ("invoice.pdf", lambda: _png(), "named .pdf but its content is image/png"),
    ("photo.png", lambda: PDF, "named .png but its content is application/pdf"),
    ("ledger.xlsx", _zip_bomb, "zip bomb"),
    ("archive.zip", _plain_zip, "application/zip, not one of PDF"),
    ("setup.pdf", lambda: b"MZ\x90\x00\x03" + bytes(200), "not one of PDF"),
    ("scan.pdf", lambda: b"%PDF-1.4\n" + bytes(evidence.MAX_BYTES), "more than the"),
    ("empty.csv", lambda: b"", "is empty"),
    ("noise.csv", lambda: bytes(range(128, 256)) * 4, "unknown binary data"),
])
def test_bad_evidence_is_refused_by_content_and_nothing_is_written(lake, people, name, content, words):
    security, p = people
    counts = _counts(lake)
    with pytest.raises(evidence.EvidenceRefused, match=words) as caught:
        service.enter(security, p["t-officer"], lake, _heat(), attachments=(service.Attachment(name, content()),))
    assert repr(name) in str(caught.value)
    assert _counts(lake) == counts
    assert not evidence.store_root(lake).exists()


def test_review_steps_are_written_only_by_the_ledger_service(lake):
    with Lake.open(lake) as opened, pytest.raises(OwnedTableError, match="ledger service"):
        opened.append("activity_review", pd.DataFrame([dict(
            review_id="X:r001", entry_id="X", event="approved", actor="me", event_time=pd.Timestamp("2026-01-01"),
            comment=None, related_entry_id=None)]))


def test_the_demos_unapproved_entries_show_as_pending(small_demo_lake):
    with Lake.open(small_demo_lake, read_only=True) as lake:
        entries = lake.query(views.activity_status_sql(lake))
        pending = lake.query("SELECT org_id, period FROM lake.account WHERE item = 'pending_entry_months' "
                             "AND method_version = ? AND period LIKE '____-__'", [accounts.METHOD_VERSION])
    assert set(entries.entered_status) == {"draft"}  # the demo enters drafts and reviews them as steps
    waiting = entries[entries.status.isin(["submitted", "returned"])]
    assert (entries.status == "returned").sum() == 1 and len(waiting) > 1
    expected = {(r.org_id, f"{m.year}-{m.month:02d}") for r in waiting.itertuples()
                for m in pd.period_range(r.period_start, r.period_end, freq="M")}
    own = pending[pending.org_id.isin(set(entries.org_id))]  # the reporting orgs (their parents roll it up)
    assert set(zip(own.org_id, own.period)) == expected
    assert (entries[entries.status == "approved"].last_step_by.str.startswith("reviewer-")).all()


def test_the_command_line_enters_reviews_and_shows_history(lake, tmp_path, monkeypatch):
    env, cli = {"CARBON_LANG": "en"}, CliRunner()
    where = ["--lake", str(lake.lake)]

    def as_user(name: str) -> None:
        monkeypatch.setenv("CARBON_SESSION_FILE", str(tmp_path / f"session-{name}"))
        login = cli.invoke(app, ["login", *where, "--user", name], input=f"{TEST_PASSWORD}\n", env=env)
        assert login.exit_code == 0, login.output

    as_user("t-officer")
    invoice = tmp_path / "INV-H-9.pdf"
    invoice.write_bytes(PDF)
    entered = cli.invoke(app, ["ledger", "enter", "--org", ENTERPRISE, "--start", "2026-01-01", "--end", "2026-01-31",
                               "--category", "purchased_heat", "--type", "steam", "--amount", "1000", "--unit", "GJ",
                               "--evidence", "INV-H-9", "--attach", str(invoice), *where], env=env)
    assert entered.exit_code == 0 and "Awaiting review" in entered.output, entered.output
    entry_id = entered.output.split()[0]
    own = cli.invoke(app, ["ledger", "approve", entry_id, *where], env=env)
    assert own.exit_code == 1 and "may not" in own.output and "Traceback" not in own.output
    as_user("t-reviewer")
    bare = cli.invoke(app, ["ledger", "return", entry_id, *where], env=env)
    assert bare.exit_code == 1 and "needs a comment" in bare.output
    approved = cli.invoke(app, ["ledger", "approve", entry_id, "--comment", "checked against INV-H-9", *where], env=env)
    assert approved.exit_code == 0 and "Approved" in approved.output, approved.output
    listed = cli.invoke(app, ["ledger", "list", "--org", ENTERPRISE, "--year", "2026", "--json", *where], env=env)
    assert [e["status"] for e in json.loads(listed.output)] == ["approved"]
    history = cli.invoke(app, ["ledger", "history", entry_id, *where], env={"CARBON_LANG": "zh"})
    assert history.exit_code == 0 and "待审核" in history.output and "已批准" in history.output
    assert "t-officer" in history.output and "checked against INV-H-9" in history.output
    assert "INV-H-9.pdf" in history.output and hashlib.sha256(PDF).hexdigest()[:16] in history.output
    supervised = cli.invoke(app, ["ledger", "overdue", "--org", "D430121", "--today", "2026-02-20", *where], env=env)
    assert supervised.exit_code == 0, supervised.output
    assert "missing  E430121-02  2026-01 (due 2026-02-15, 5 days overdue)" in supervised.output
    assert f"missing  {ENTERPRISE}" not in supervised.output  # its January entry is in
    found = json.loads(cli.invoke(app, ["ledger", "overdue", "--json", "--today", "2026-02-20", *where], env=env).output)
    assert set(found) == {"missing", "late", "waiting"} and found["late"]


# ----------------------------------------------------------------------------- deadlines and supervision
@pytest.mark.parametrize("end, day, due", [
    (date(2025, 1, 31), 15, date(2025, 2, 15)), (date(2025, 12, 31), 15, date(2026, 1, 15)),
    (date(2025, 1, 31), 31, date(2025, 2, 28)), (date(2024, 1, 31), 30, date(2024, 2, 29)),
])
def test_the_deadline_is_a_day_of_the_following_month(end, day, due):
    assert supervision.deadline(end, day) == due


def test_the_demos_late_submissions_are_exactly_its_annual_entries_and_corrections(small_demo_lake):
    # The demo enters a month's entries on the 5th of the next month (before the 15th), its annual entries on
    # 20 January (after the 15th) and its corrections 20 days after the corrected entry (the 25th): late.
    with Lake.open(small_demo_lake, read_only=True) as opened:
        found = supervision.submissions(opened, date(2026, 2, 1))
    annual = found.entry_id.str.fullmatch(r"A-[^-]+-\d\d-\d{4}-.+") & ~found.entry_id.str.contains(r"-\d{6}-")
    corrections = found.entry_id.str.endswith(("-R", "-C"))
    assert set(found.entry_id[found.late]) == set(found.entry_id[annual | corrections])
    assert found.late.sum() > 0 and (~found.late).sum() > 0
    waiting = found[found.waiting_days.notna()]
    assert set(waiting.status) == {"submitted", "returned"}
    assert (waiting.waiting_days > 0).all()


def test_missing_months_are_named_until_entered_and_remind_through_the_alerts(lake, people):
    security, p = people
    with Lake.open(lake, read_only=True) as opened:
        before = supervision.missing(opened, date(2026, 2, 20), months=3)
    assert set(before.month) == {date(2026, 1, 1)}  # the demo reported up to 2025-12; January was due 15 February
    assert ENTERPRISE in set(before.org_id) and (before.days_overdue == 5).all()
    service.enter(security, p["t-officer"], lake, _heat())
    with Lake.open(lake, read_only=True) as opened:
        after = supervision.missing(opened, date(2026, 2, 20), months=3)
        context = checks.Context(opened, datetime(2026, 2, 20, 8), pd.DataFrame(columns=["status"]), "P43")
        reminders = checks.ledger_overdue(context, deadline_day=15, months=3)
    assert set(before.org_id) - set(after.org_id) == {ENTERPRISE}
    assert {f.subject for f in reminders} == set(after.org_id)
    assert all(f.facts["months"] == "2026-01" and f.facts["days"] == 5 for f in reminders)
    view = service.supervision_view(security, p["t-reviewer"], lake, org="D430121", today=date(2026, 2, 20))
    assert set(view["missing"].org_id) == {o for o in after.org_id if o.startswith("E430121")}
    assert set(view["waiting"].org_id) <= {o for o in view["waiting"].org_id if "430121" in o}
