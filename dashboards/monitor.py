"""Real-time telemetry monitor (Panel app, clause 7.1): device status, latest values, live charts.

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``viewer`` (see access.yaml; or the ``X-Carbon-Viewer`` header — the security issue replaces
both with real accounts), ``org`` (clamped to the viewer's subtree), ``lang`` (zh | en),
``refresh`` (seconds, 1 to 3600, default 5).  The page refreshes itself on a periodic
callback: no reload needed.
"""

from pathlib import Path

from carbonlib.viz import components

components.serve_view(components.monitor_page, Path(__file__).with_name("access.yaml"), "Carbon monitor")
