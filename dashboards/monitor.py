"""Real-time telemetry monitor (Panel app, clause 7.1): device status, latest values, live charts.

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``org`` (clamped to the subtrees the logged-in user's roles cover), ``lang`` (zh | en),
``refresh`` (seconds, 1 to 3600, default 5).  The page refreshes itself on a periodic
callback: no reload needed.
"""

from carbonlib.viz import components

components.serve_view(components.monitor_page, "Carbon monitor")
