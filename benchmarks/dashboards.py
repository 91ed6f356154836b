"""Dashboard speed in headless Chromium: time to first render and filter-change latency; prints JSON.

Starts ``panel serve`` (monitor, explorer, overview, province screen) and Voila (preheated
kernels) like ``carbon dashboards`` does, against ``--lake`` (the issue asks for the large demo
lake: ``carbon demo build --scale large``), provisions a viewer account for the run (a
manager and analyst of the province, named ``bench-…``, in the lake's security store; the
browser logs in before each timed load, untimed), then measures with Playwright driving
/usr/bin/chromium:

- first render (warm server: one untimed load first): navigation start → the headline figure
  is laid out in the page (overview KPI, monitor header, explorer selection line), seen by a
  script injected into the page that checks every animation frame (page clock).  ``cold_browser``: a new browser context per load
  (empty HTTP cache, a first-time visitor); ``warm_browser``: one context (a returning visitor,
  JavaScript cached).  Voila loads are ``--voila-refill`` seconds apart so the kernel pool is
  preheated again, as on a server that is not saturated.  Timing starts once both servers are
  idle (``servers_settled_s``: Voila preheats its kernel pool at start);
- filter change: choose another org in the selector → the page shows that org's figures, timed
  in the page from the select's ``change`` event to the animation frame after the new header
  is in the DOM (Playwright's own round trips excluded), p50 and p95 over ``--changes``; the next
  change follows once the page has settled.  The overview draws its headline (header and KPI
  cards) first and its tables, charts and map a moment later, the explorer its selected
  line first and its table and charts next: each is timed to both, and settled means everything
  drawn (``.carbon-drawn``);
- province screen rotation step: the screen changes focus on a server timer, not on a browser
  event, so the step is timed on the server side: ``ProvinceScreen.advance()`` (roll-ups,
  device status, map, KPIs, ranking, ticker), p50 and p95 over ``--changes`` steps.

    .venv/bin/python benchmarks/dashboards.py --lake /tmp/large --changes 40
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from carbonlib.cli.dashboards import DEFAULT_DASHBOARDS, panel_command, voila_command
from carbonlib.settings import load_settings

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv: list[str], lake: Path, ready: str) -> subprocess.Popen:
    process = subprocess.Popen(argv, env=dict(os.environ, CARBON_LAKE=str(lake)), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            with urllib.request.urlopen(ready, timeout=5):
                return process
        except OSError:
            time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError(f"{argv[2]} did not start")


#: In-page search that also looks inside (nested) shadow roots, where Panel renders.
_DEEP_JS = """const deep = (root, sel) => {
    if (root.querySelector(sel)) return true;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot && deep(el.shadowRoot, sel)) return true;
    return false;
};"""
#: The same, for an element that is laid out (has a box), not just present.
_DEEP_BOX_JS = """const deepBox = (root, sel) => {
    const found = root.querySelector(sel);
    if (found && found.getBoundingClientRect().width > 0) return true;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot && deepBox(el.shadowRoot, sel)) return true;
    return false;
};"""
#: Injected before the page's own scripts: from navigation start, check every animation frame
#: for the headline element with a layout box, and keep the time it first appears.
_WATCH_HEADLINE_JS = "(() => {" + _DEEP_BOX_JS + """
    const poll = () => {
        if (!document.body || !deepBox(document, SELECTOR)) return requestAnimationFrame(poll);
        window.__headline_ms = performance.now();
    };
    requestAnimationFrame(poll);
})();"""


def _first_render(new_page, url: str, selector: str, repeats: int, pause_s: float = 0.0) -> list[float]:
    """Seconds from navigation start until ``selector`` is laid out in the page (page clock, shadow roots searched).

    Playwright's own wait polls at growing intervals (up to 500 ms) and would overstate the
    time; the in-page watcher sees the first animation frame with the element.
    """
    times = []
    for _ in range(repeats):
        time.sleep(pause_s)
        page = new_page()
        page.add_init_script(_WATCH_HEADLINE_JS.replace("SELECTOR", json.dumps(selector)))
        page.goto(url, timeout=120_000, wait_until="commit")
        page.wait_for_function("() => window.__headline_ms !== undefined", timeout=120_000, polling=200)
        times.append(page.evaluate("window.__headline_ms") / 1000)
        page.close()
    return times


_ARM_JS = "([select, selectors]) => {\n" + _DEEP_JS + """
    window.__change_ms = new Promise(resolve => {
        select.addEventListener('change', () => {
            const start = performance.now();
            const seen = selectors.map(selector => new Promise(done => {
                const poll = () => deep(document, selector) ? requestAnimationFrame(() => done(performance.now() - start))
                                                            : requestAnimationFrame(poll);
                poll();
            }));
            Promise.all(seen).then(resolve);
        }, {once: true});
    });
}"""


def _changes(page, orgs: list[str], done_selectors: list[str], n: int, think_s: float) -> tuple[list[list[float]], int]:
    """Select org labels ending in '(ORG_ID)' in turn; per change, seconds from the change event until each of
    ``done_selectors`` (formatted with the org) is in the page and painted.  The next change is made
    ``think_s`` after the last of them is there (a settled page, and a person reading it before choosing again).

    Returns the latencies per selector and the number of changes that never showed within 15 s (lost
    updates, counted rather than hidden; the next change goes on).
    """
    select = page.locator("select").first
    labels = {o: next(t for t in select.locator("option").all_inner_texts() if t.endswith(f"({o})")) for o in orgs}
    handle = select.element_handle()
    times: list[list[float]] = [[] for _ in done_selectors]
    lost = 0
    for i in range(n):
        org = orgs[i % len(orgs)]
        time.sleep(think_s)
        page.evaluate(_ARM_JS, [handle, [selector.format(org=org) for selector in done_selectors]])
        select.select_option(label=labels[org])
        try:
            page.locator(done_selectors[-1].format(org=org)).first.wait_for(state="attached", timeout=15_000)
        except PlaywrightTimeout:
            lost += 1
            continue
        for kept, ms in zip(times, page.evaluate("window.__change_ms")):
            kept.append(ms / 1000)
    return times, lost


def _viewer(lake: Path) -> tuple[str, str]:
    """A new account of this run (manager and analyst of the province): (username, password)."""
    import secrets

    from carbonlib.security import Security

    username, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(18) + "Aa1!"  # 3 kinds, as the policy asks
    with Security.open(load_settings(lake=lake)) as security:
        security.provision(username, "benchmark viewer", grants=[("manager", "P43"), ("analyst", "P43")],
                           password=password, must_change=False)
    return username, password


def _logged_in(context, base: str, user: tuple[str, str]):
    """``context`` after logging in at ``base`` (untimed)."""
    page = context.new_page()
    page.goto(f"{base}/login?lang=en", timeout=120_000)
    page.fill("input[name=username]", user[0])
    page.fill("input[name=password]", user[1])
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    page.close()
    return context


def _rotation_steps(lake: Path, n: int) -> list[float]:
    """Seconds per ``ProvinceScreen.advance()`` on ``lake`` for a province manager, ``n`` steps (one warm-up first)."""
    from carbonlib.lake import Lake
    from carbonlib.security import Grant, Principal
    from carbonlib.viz import data, screen, theme
    from carbonlib.viz.scope import Scope

    theme.init_panel()
    with Lake.open(load_settings(lake=lake), read_only=True) as opened:
        rollups = data.rollups(opened)
        viewer = Principal(0, "bench", "bench", grants=(Grant("manager", "P43"),))
        view = screen.ProvinceScreen(opened, Scope(viewer, rollups.tree, "view_figures"), lang="en", rollups=rollups)
        view.layout().get_root()
        view.advance()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            view.advance()
            times.append(time.perf_counter() - start)
    return times


def _quiet(servers: list[subprocess.Popen], busy_share: float = 0.1, timeout_s: float = 300.0) -> float:
    """Wait until the servers (with their kernels) use less than ``busy_share`` of one core over a second, so
    the timings do not include Voila preheating its kernel pool; returns the seconds waited."""
    import psutil

    def cpu_seconds() -> float:
        total = 0.0
        for server in servers:
            parent = psutil.Process(server.pid)
            for process in (parent, *parent.children(recursive=True)):
                try:
                    times = process.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
        return total

    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        before = cpu_seconds()
        time.sleep(1.0)
        if cpu_seconds() - before < busy_share:
            break
    return round(time.monotonic() - start, 1)


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "p50_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=Path("lake"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--voila-refill", type=float, default=15.0, help="seconds between Voila page loads")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds between a page settling and the next change (a person reading it)")
    parser.add_argument("--first-changes", type=int, default=20,
                        help="changes timed apart, right after each page opens (the page and browser still warming up)")
    parser.add_argument("--changes-only", action="store_true", help="measure the filter changes only")
    args = parser.parse_args()
    lake = args.lake.resolve()
    panel_port, voila_port = _port(), _port()
    user = _viewer(lake)
    servers = [_start(panel_command(DEFAULT_DASHBOARDS, panel_port), lake, f"http://127.0.0.1:{panel_port}/login"),
               _start(voila_command(DEFAULT_DASHBOARDS, voila_port, pool_size=2), lake, f"http://127.0.0.1:{voila_port}/")]
    panel, voila_server = f"http://127.0.0.1:{panel_port}", f"http://127.0.0.1:{voila_port}"
    voila = f"{voila_server}/voila/render"
    pages = {"overview (voila)": (f"{voila}/overview.ipynb?lang=en", "[data-item=emissions_total] .kpi-number",
                                  args.voila_refill),
             "monitor (panel)": (f"{panel}/monitor?lang=en", "[data-newest]", 0.0),
             "overview (panel)": (f"{panel}/overview?lang=en", "[data-item=emissions_total] .kpi-number", 0.0),
             "explorer (panel)": (f"{panel}/explorer?lang=en", "[data-testid=selected]", 0.0),
             "province screen (panel)": (f"{panel}/screen?lang=en&rotate=0", "[data-item=emissions_total] .kpi-number", 0.0)}
    result: dict = {"lake": str(lake), "think_s": args.think, "servers_settled_s": _quiet(servers),
                    "first_render_s": {}, "filter_change_s": {}}
    viewport = {"width": 1400, "height": 1000}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            def visitor():
                """A new browser context (empty cache) logged in to both servers."""
                return _logged_in(_logged_in(browser.new_context(viewport=viewport), panel, user), voila_server, user)

            returning = visitor()

            def first_visit():
                return visitor().new_page()

            for name, (url, selector, pause) in ({} if args.changes_only else pages).items():
                _quiet(servers)  # Voila refills its kernel pool after the last Voila load
                _first_render(returning.new_page, url, selector, 1, pause)  # warm the server and the browser cache
                result["first_render_s"][name] = {
                    "cold_browser": _summary(_first_render(first_visit, url, selector, args.repeats, pause)),
                    "warm_browser": _summary(_first_render(returning.new_page, url, selector, args.repeats, pause))}
            counties = ["D430121", "D430181", "D430223", "D430281"]
            page = returning.new_page()
            timed = (("explorer org (panel)", "table and charts", pages["explorer (panel)"][0], "[data-testid=selected]",
                      "[data-testid=selected][data-scope='{org}']"),
                     ("overview org (panel)", "tables and charts", pages["overview (panel)"][0], ".carbon-header[data-org]",
                      ".carbon-header[data-org='{org}']"),
                     ("overview org (voila)", "tables and charts", pages["overview (voila)"][0], ".carbon-header[data-org]",
                      ".carbon-header[data-org='{org}']"))
            for name, details, url, loaded, headline_selector in timed:
                _quiet(servers)
                if "voila" in name:
                    time.sleep(args.voila_refill)
                page.goto(url)
                page.locator(loaded).first.wait_for(timeout=120_000)
                selectors = [headline_selector, ".carbon-drawn[data-org='{org}']"]
                (first, _), lost_first = _changes(page, counties, selectors, args.first_changes, args.think)
                (headline, drawn), lost = _changes(page, counties, selectors, args.changes, args.think)
                kind = name.replace(" org (", " org, " + details + " drawn (")
                result["filter_change_s"][name] = {**_summary(headline), "lost_updates": lost}
                result["filter_change_s"][kind] = _summary(drawn)
                result["filter_change_s"][name.replace(" org (", " org, first changes after opening (")] = {
                    **_summary(first), "lost_updates": lost_first}
            browser.close()
        result["filter_change_s"]["province screen rotation step (server)"] = _summary(_rotation_steps(lake, args.changes))
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
