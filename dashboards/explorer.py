"""Analyst explorer (Panel app): account figures of enterprises and sites with linked selections.

Serve with ``carbon dashboards panel`` (or ``panel serve dashboards/explorer.py``); the lake
comes from ``CARBON_LAKE``.  URL parameters: ``org`` (clamped to the
subtrees the logged-in user's roles cover), ``period`` (year), ``lang`` (zh | en).  Reads the
``account`` and ``telemetry_daily`` roll-ups only.
"""

from carbonlib.viz import components

components.serve_view(components.explorer_page, "Carbon explorer")
