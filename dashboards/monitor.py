"""Real-time telemetry monitor (Panel app, clause 7.1): device status, latest values, live charts.

Serve with ``carbon dashboards panel`` (or ``panel serve dashboards/monitor.py``); the lake
comes from ``CARBON_LAKE``.  URL parameters: ``viewer`` (see access.yaml; or the
``X-Carbon-Viewer`` header — the security issue replaces both with real accounts), ``org``
(clamped to the viewer's subtree), ``lang`` (zh | en), ``refresh`` (seconds, default 5).
The page refreshes itself on a periodic callback: no reload needed.
"""

from pathlib import Path

import panel as pn

from carbonlib.viz import components


def monitor(lake, access, viewer, args, rollups) -> components.Monitor:
    refresh_s = float(args.get("refresh", 5))
    if refresh_s < 1:
        raise ValueError(f"refresh={refresh_s} s is too fast; use 1 s or more")
    view = components.Monitor(lake, access, viewer, args.get("org"), args.get("lang", "zh"), rollups)
    pn.state.add_periodic_callback(view.refresh, period=int(refresh_s * 1000))
    return view


components.serve_view(monitor, Path(__file__).with_name("access.yaml"), "Carbon monitor")
