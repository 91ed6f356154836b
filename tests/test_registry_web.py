"""The registry operators' page in a real browser (issue 13): a province operator requests a transfer and may not
accept it himself (four-eyes); the recipient's county operator accepts it and retires part of it; an over-retirement
is refused on the page; every step reaches the registry and the audit log.

A real ``panel serve`` (as ``carbon dashboards panel`` starts it) on its own copy of the small demo lake, Debian's
Chromium.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from conftest import TEST_PASSWORD, copy_lake
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

from carbonlib.cli.dashboards import DEFAULT_DASHBOARDS, panel_command
from carbonlib.lake import Lake
from carbonlib.registry import Registry
from carbonlib.security import Security

pytestmark = pytest.mark.slow

SITE, BUYER = "S430121-02", "E430121-01"  # the demo project's site, and an enterprise of the same county
OPERATORS = {"t-registry-province": "P43", "t-registry-county": "D430121"}


@pytest.fixture(scope="module")
def registry_lake(small_demo_lake, tmp_path_factory):
    copied = copy_lake(small_demo_lake, tmp_path_factory.mktemp("registry_web") / "lake")
    with Security.open(copied) as security:
        for username, root in OPERATORS.items():
            security.provision(username, username, grants=[("registry_operator", root)], password=TEST_PASSWORD,
                               must_change=False)
    return copied


@pytest.fixture(scope="module")
def panel_url(registry_lake):
    port = _free_port()
    process, handle = _serve(panel_command(DEFAULT_DASHBOARDS, port), registry_lake,
                             f"http://127.0.0.1:{port}/login", ARTIFACTS / "panel-registry.log")
    yield f"http://127.0.0.1:{port}"
    _stop(process, handle)


def _name(settings, org_id: str) -> str:
    with Lake.open(settings, read_only=True) as lake:
        return lake.read("org", where="org_id = ?", params=[org_id]).name_en.iloc[0]


def _held(settings, org_id: str) -> int:
    with Registry.open(settings, create=False) as registry:
        found = registry.balances(org_id)
    return int(found[found.state == "held"].quantity.sum())


def test_a_transfer_is_requested_and_its_requester_may_not_accept_it(page, panel_url, registry_lake):
    before = _held(registry_lake, SITE)
    _login(page, panel_url, "t-registry-province", f"/registry?org={BUYER}&lang=en")
    page.get_by_role("button", name="Open the holder's accounts").click()  # the buyer has no account yet
    expect(page.locator("[data-testid=done]").first).to_contain_text(f"ACC-{BUYER}", timeout=30_000)
    page.goto(f"{panel_url}/registry?org={SITE}&lang=en", timeout=FIRST_PAINT_MS)
    page.get_by_label("Quantity (tCO2e)", exact=True).fill("300")
    page.get_by_label("Quantity (tCO2e)", exact=True).press("Tab")
    page.get_by_label("Recipient", exact=True).select_option(label=f"{_name(registry_lake, BUYER)} ({BUYER})")
    page.get_by_label("Price (CNY/tCO2e)", exact=True).fill("55.5")
    page.get_by_label("Price (CNY/tCO2e)", exact=True).press("Tab")
    page.get_by_role("button", name="Request transfer").click()
    expect(page.locator("[data-testid=done]").first).to_contain_text("transfer requested", timeout=30_000)
    page.locator(".tabulator-cell", has_text=f"ACC-{BUYER}").first.wait_for(timeout=30_000)  # the pending transfer
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("[data-testid=refused]").first).to_contain_text("four-eyes", timeout=30_000)
    _shot(page, "registry_operator_request")
    assert _held(registry_lake, SITE) == before  # reserved, not moved: still held by the site


def test_the_recipient_accepts_retires_and_an_over_retirement_is_refused(page, panel_url, registry_lake):
    _login(page, panel_url, "t-registry-county", f"/registry?org={BUYER}&lang=en")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("[data-testid=done]").first).to_contain_text("transferred", timeout=30_000)
    assert _held(registry_lake, BUYER) == 300
    page.get_by_label("Quantity (tCO2e)", exact=True).fill("120")
    page.get_by_label("Quantity (tCO2e)", exact=True).press("Tab")
    page.get_by_label("Beneficiary", exact=True).fill("Changsha Metro Group")
    page.get_by_label("Beneficiary", exact=True).press("Tab")
    page.get_by_label("Purpose", exact=True).select_option(label="voluntary")
    page.get_by_role("button", name="Retire", exact=True).click()
    expect(page.locator("[data-testid=done]").first).to_contain_text("retired", timeout=30_000)
    page.locator(".tabulator-cell", has_text=f"RET-{BUYER}").first.wait_for(timeout=30_000)
    page.get_by_label("Quantity (tCO2e)", exact=True).fill("1000000")
    page.get_by_label("Quantity (tCO2e)", exact=True).press("Tab")
    page.get_by_role("button", name="Retire", exact=True).click()
    expect(page.locator("[data-testid=refused]").first).to_contain_text("free to move", timeout=30_000)
    _shot(page, "registry_operator_retire")
    with Registry.open(registry_lake, create=False) as registry:
        retired = registry.retirements()
        assert registry.verify().ok and registry.reconcile().ok.all()
    assert retired.beneficiary.iloc[-1] == "Changsha Metro Group" and retired.quantity.iloc[-1] == 120
    with Security.open(registry_lake) as security:
        steps = security.audit.entries(action="operate_registry", limit=50)
    assert {("t-registry-county", "ok"), ("t-registry-province", "failed"), ("t-registry-county", "failed")} <= {
        (e.actor, e.outcome) for e in steps}


def test_the_page_in_chinese_and_refused_to_a_manager(page, panel_url):
    _login(page, panel_url, "t-registry-province", "/registry?lang=zh")
    page.locator(".tabulator-cell", has_text="PRJ-430121-02").first.wait_for(timeout=FIRST_PAINT_MS)
    page.get_by_role("button", name="申请转让").wait_for(timeout=30_000)
    _shot(page, "registry_operator_zh")
    _login(page, panel_url, "t-province", "/registry?lang=en")  # a manager is no registry operator
    page.locator("[data-testid=refused]").first.wait_for(timeout=FIRST_PAINT_MS)


def test_a_lifecycle_step_is_recorded_on_the_page_and_the_claims_are_shown(page, panel_url, registry_lake):
    """The registered demo project's 2025 monitoring report is recorded from the page; its verification the same
    day is refused (one step a day); the double-claim checks of the demo find nothing."""
    project, site = "PRJ-430281-02", "S430281-02"
    _login(page, panel_url, "t-registry-province", f"/registry?org={site}&lang=en")
    page.locator(".tabulator-cell", has_text="No double claim found").first.wait_for(timeout=FIRST_PAINT_MS)
    expect(page.get_by_label("Next step", exact=True)).to_have_value("monitoring report", timeout=30_000)
    page.get_by_label("Body", exact=True).fill(site)
    page.get_by_label("Body", exact=True).press("Tab")
    page.get_by_role("button", name="Record step").click()
    expect(page.locator("[data-testid=done]").first).to_contain_text(f"{project}-M2025", timeout=30_000)
    expect(page.get_by_label("Next step", exact=True)).to_have_value("verified", timeout=30_000)
    page.get_by_label("Body", exact=True).fill("VB-07")
    page.get_by_label("Body", exact=True).press("Tab")
    page.get_by_role("button", name="Record step").click()
    expect(page.locator("[data-testid=refused]").first).to_contain_text("one step per day", timeout=30_000)
    _shot(page, "registry_operator_lifecycle")
    with Lake.open(registry_lake, read_only=True) as lake:
        steps = lake.read("project_event", where="project_id = ?", params=[project])
    assert steps.sort_values("event_date").event_type.iloc[-1] == "monitoring_report"
