"""Dashboard speed in headless Chromium: time to first render and filter-change latency; prints JSON.

Starts ``panel serve`` (monitor, explorer) and Voila (preheated kernels) like
``carbon dashboards`` does, against ``--lake`` (default ./lake, e.g. built by ``make demo``),
then measures with Playwright driving /usr/bin/chromium:

- first render: navigation start → headline figure visible (overview KPI, monitor header,
  explorer selection line), ``--repeats`` times each;
- filter change: choose another org in the selector → page shows that org's figures
  (Voila overview header / Panel explorer selection line), p50 and p95 over ``--changes``.

    .venv/bin/python benchmarks/dashboards.py --lake lake --changes 20
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

from playwright.sync_api import sync_playwright

from carbonlib.cli_dashboards import DEFAULT_DASHBOARDS, panel_command, voila_command

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


def _first_render(browser, url: str, selector: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        start = time.perf_counter()
        page.goto(url, timeout=120_000)
        page.locator(selector).first.wait_for(timeout=120_000)
        times.append(time.perf_counter() - start)
        page.close()
    return times


def _changes(page, orgs: list[str], done_selector: str, n: int) -> list[float]:
    """Select org labels ending in '(ORG_ID)' in turn; time until ``done_selector`` (formatted) shows it."""
    select = page.locator("select").first
    labels = {o: next(t for t in select.locator("option").all_inner_texts() if t.endswith(f"({o})")) for o in orgs}
    times = []
    for i in range(n):
        org = orgs[i % len(orgs)]
        start = time.perf_counter()
        select.select_option(label=labels[org])
        page.locator(done_selector.format(org=org)).first.wait_for(timeout=60_000)
        times.append(time.perf_counter() - start)
    return times


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "p50_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, default=Path("lake"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    lake = args.lake.resolve()
    panel_port, voila_port = _port(), _port()
    servers = [_start(panel_command(DEFAULT_DASHBOARDS, panel_port), lake, f"http://127.0.0.1:{panel_port}/explorer?viewer=analyst"),
               _start(voila_command(DEFAULT_DASHBOARDS, voila_port, pool_size=2), lake, f"http://127.0.0.1:{voila_port}/")]
    panel, voila = f"http://127.0.0.1:{panel_port}", f"http://127.0.0.1:{voila_port}/voila/render"
    result: dict = {"lake": str(lake)}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            result["first_render_s"] = {
                "overview (voila)": _summary(_first_render(browser, f"{voila}/overview.ipynb?viewer=province-admin&lang=en",
                                                           "[data-item=emissions_total] .kpi-number", args.repeats)),
                "monitor (panel)": _summary(_first_render(browser, f"{panel}/monitor?viewer=province-admin&lang=en",
                                                          "[data-newest]", args.repeats)),
                "explorer (panel)": _summary(_first_render(browser, f"{panel}/explorer?viewer=analyst&lang=en",
                                                           "[data-testid=selected]", args.repeats)),
            }
            counties = ["D430121", "D430181", "D430223", "D430281"]
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{panel}/explorer?viewer=analyst&lang=en")
            page.locator("[data-testid=selected]").first.wait_for(timeout=120_000)
            result["filter_change_s"] = {"explorer org (panel)": _summary(_changes(
                page, counties, "[data-testid=selected][data-scope='{org}']", args.changes))}
            page.goto(f"{voila}/overview.ipynb?viewer=province-admin&lang=en")
            page.locator("[data-org]").first.wait_for(timeout=120_000)
            result["filter_change_s"]["overview org (voila)"] = _summary(_changes(
                page, counties, "[data-org='{org}']", args.changes))
            browser.close()
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
