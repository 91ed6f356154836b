"""The ledger page in a real browser (issue 12 acceptance): a data officer enters and submits an entry with an
invoice attached; the overview shows the month as pending; a second person approves and the overview shows the
figure; a reversal restores it; a reviewer cannot approve their own entry; every step is in the audit log.

A real ``panel serve`` (started as ``carbon dashboards panel`` starts it) on its own copy of the small demo
lake, Debian's Chromium.  Expected figures are hand-derived: 1 000 GJ of purchased steam x 0.11 tCO2/GJ
(GB/T 32150 default heat factor) = 110 tCO2e.
"""

from __future__ import annotations

import pandas as pd
import pytest
from playwright.sync_api import expect
from conftest import copy_lake
from test_dashboards import (
    ARTIFACTS,
    FIRST_PAINT_MS,
    _free_port,
    _login,
    _serve,
    _shot,
    _stop,
    browser_context_args,  # noqa: F401 (pytest fixture)
    browser_type_launch_args,  # noqa: F401 (pytest fixture)
)

from carbonlib.accounting import accounts
from carbonlib.cli.dashboards import DEFAULT_DASHBOARDS, panel_command
from carbonlib.lake import Lake
from carbonlib.security import Security
from carbonlib.viz.theme import format_value

pytestmark = pytest.mark.slow

ENTERPRISE = "E430121-01"
MONTH = "2025-12"  # a month of the demo with approved entries of this enterprise (diesel, electricity)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def ledger_lake(small_demo_lake, tmp_path_factory):
    return copy_lake(small_demo_lake, tmp_path_factory.mktemp("ledger_web") / "lake")


@pytest.fixture(scope="module")
def panel_url(ledger_lake):
    port = _free_port()
    process, handle = _serve(panel_command(DEFAULT_DASHBOARDS, port), ledger_lake,
                             f"http://127.0.0.1:{port}/login", ARTIFACTS / "panel-ledger.log")
    yield f"http://127.0.0.1:{port}"
    _stop(process, handle)


def _done(page):
    return page.locator("[data-testid=done]").first


def _enter(page, period: str, amount: str, voucher: str, invoice=None) -> str:
    """Fill the entry form for purchased steam and submit it; the new entry's id."""
    page.get_by_label("Period", exact=True).fill(period)
    page.get_by_label("Period", exact=True).press("Tab")
    page.get_by_label("Category", exact=True).last.select_option(label="Purchased heat")
    page.get_by_label("Activity type", exact=True).select_option(label="Steam")
    page.get_by_label("Amount", exact=True).fill(amount)
    page.get_by_label("Amount", exact=True).press("Tab")
    page.get_by_label("Voucher no.", exact=True).fill(voucher)
    page.get_by_label("Voucher no.", exact=True).press("Tab")
    if invoice is not None:
        page.locator("input[type=file]").last.set_input_files(str(invoice))
    expect(page.locator("[data-testid=preview] [data-item=scope2_purchased_heat] .num")).to_have_text(
        f"{0.11 * float(amount):,.0f}", timeout=30_000)
    page.get_by_role("button", name="Enter and submit").click()
    expect(_done(page)).to_contain_text("Awaiting review", timeout=30_000)
    return _done(page).inner_text().split(": ", 1)[1].split(" · ")[0]


def _overview(page, base: str, period: str) -> None:
    page.goto(f"{base}/overview?org={ENTERPRISE}&period={period}&lang=en", timeout=FIRST_PAINT_MS)
    page.locator(f"[data-org='{ENTERPRISE}']").first.wait_for(timeout=FIRST_PAINT_MS)


def _choose(page, entry_id: str) -> None:
    page.get_by_label("Status", exact=True).select_option(label="All")
    page.get_by_label("Entry", exact=True).select_option(entry_id)
    expect(page.locator(f"[data-entry='{entry_id}']").first).to_be_visible(timeout=30_000)


def _total(page):
    return page.locator("[data-item=emissions_total] .kpi-number").first


def test_enter_review_approve_reverse_and_the_overview_follows(page, panel_url, ledger_lake, tmp_path):
    with Lake.open(ledger_lake, read_only=True) as lake:
        figures = accounts.account_figures(lake, ENTERPRISE, MONTH)
    before = float(figures.set_index("item").value["emissions_total"])
    invoice = tmp_path / "INV-WEB-1.pdf"
    invoice.write_bytes(PDF)
    _login(page, panel_url, "t-officer", f"/ledger?org={ENTERPRISE}&lang=en")
    page.get_by_role("button", name="Enter and submit").wait_for(timeout=FIRST_PAINT_MS)
    entry_id = _enter(page, MONTH, "1000", "INV-WEB-1", invoice)
    page.locator(".tabulator-cell", has_text="INV-WEB-1.pdf").first.wait_for(timeout=30_000)  # its evidence
    # the supervision section lists the entry as late (entered after 15 January for December) while December
    # lies in its window (the twelve months up to the last complete month); its table was drawn empty first and
    # shows the text that arrived, not NaN (a Tabulator keeps the column types of its first value)
    if pd.Period(MONTH, "M") > pd.Timestamp.now(tz="UTC").tz_localize(None).to_period("M") - 13:
        page.locator(".tabulator-cell", has_text="2026-01-15").first.wait_for(timeout=30_000)
    expect(page.locator(".tabulator-cell", has_text="NaN")).to_have_count(0)
    _shot(page, "ledger_officer_en")

    _overview(page, panel_url, MONTH)
    expect(page.locator("[data-pending]").first).to_have_attribute("data-pending", "1", timeout=30_000)
    expect(_total(page)).to_have_text(format_value(before, "tCO2e"))  # pending: shown as such, not counted

    page.context.clear_cookies()
    _login(page, panel_url, "t-reviewer", f"/ledger?org={ENTERPRISE}&lang=en")
    page.get_by_role("button", name="Approve").wait_for(timeout=FIRST_PAINT_MS)
    page.locator(".tabulator-cell", has_text=entry_id).first.wait_for(timeout=30_000)  # the review queue
    _choose(page, entry_id)
    page.get_by_role("button", name="Approve").click()
    expect(_done(page)).to_contain_text(f"{entry_id} · Approved", timeout=30_000)
    _overview(page, panel_url, MONTH)
    expect(_total(page)).to_have_text(format_value(before + 110.0, "tCO2e"), timeout=30_000)
    assert page.locator("[data-pending]").count() == 0

    page.goto(f"{panel_url}/ledger?org={ENTERPRISE}&lang=en", timeout=FIRST_PAINT_MS)
    page.get_by_role("button", name="Reverse").wait_for(timeout=FIRST_PAINT_MS)
    _choose(page, entry_id)
    page.get_by_role("button", name="Reverse").click()
    expect(page.locator("[data-testid=refused]").first).to_contain_text("needs a comment", timeout=30_000)
    page.get_by_label("Comment", exact=True).fill("the steam meter belongs to the neighbour")
    page.get_by_label("Comment", exact=True).press("Tab")
    page.get_by_role("button", name="Reverse").click()
    expect(_done(page)).to_contain_text(f"{entry_id} · Reversed", timeout=30_000)
    page.locator(".tabulator-cell", has_text="the steam meter belongs to the neighbour").first.wait_for(timeout=30_000)
    _overview(page, panel_url, MONTH)
    expect(_total(page)).to_have_text(format_value(before, "tCO2e"), timeout=30_000)  # the previous figure

    page.context.clear_cookies()  # four-eyes: an officer who is also a reviewer cannot approve their own entry
    _login(page, panel_url, "t-officer-reviewer", f"/ledger?org={ENTERPRISE}&lang=en")
    page.get_by_role("button", name="Enter and submit").wait_for(timeout=FIRST_PAINT_MS)
    own = _enter(page, "2026-03", "500", "INV-WEB-2")
    _choose(page, own)
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-testid=refused]").first).to_contain_text("four-eyes", timeout=30_000)
    expect(page.locator(f"[data-entry='{own}']").first).to_have_attribute("data-status", "submitted")
    _shot(page, "ledger_four_eyes_en")

    page.goto(f"{panel_url}/ledger?org={ENTERPRISE}&lang=zh", timeout=FIRST_PAINT_MS)
    page.get_by_role("button", name="录入并提交审核").wait_for(timeout=FIRST_PAINT_MS)
    page.locator(".tabulator-cell", has_text="待审核").first.wait_for(timeout=30_000)
    page.locator(".tabulator-cell", has_text="蒸汽").first.wait_for(timeout=30_000)  # activity types named in Chinese
    # the supervision section (clause 10.1): the findings counted for the selected enterprise
    expect(page.locator("[data-testid=supervision]").first).to_contain_text("逾期提交的条目", timeout=30_000)
    _shot(page, "ledger_zh")

    with Security.open(ledger_lake) as security:
        log = security.audit.entries(org_id=ENTERPRISE, limit=200)
        assert security.audit.verify().ok
    steps = {(e.actor, e.action, e.outcome) for e in log}
    assert {("t-officer", "enter_ledger", "ok"), ("t-reviewer", "review_ledger", "ok"),
            ("t-officer-reviewer", "enter_ledger", "ok"), ("t-officer-reviewer", "review_ledger", "failed")} <= steps
    details = " | ".join(e.detail for e in log)
    assert f"approved {entry_id}" in details and f"reversed {entry_id}" in details and "1 evidence file" in details
