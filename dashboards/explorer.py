"""Analyst explorer (Panel app): account figures of enterprises and sites with linked selections.

Serve with ``carbon dashboards panel`` (or ``panel serve dashboards/explorer.py``); the lake
comes from ``CARBON_LAKE``.  URL parameters: ``viewer`` (see access.yaml; or the
``X-Carbon-Viewer`` header — the security issue replaces both with real accounts), ``org``
(clamped to the viewer's subtree), ``period`` (year), ``lang`` (zh | en).  Reads the
``account`` and ``telemetry_daily`` roll-ups only.
"""

from pathlib import Path

from carbonlib.viz import components

components.serve_view(components.explorer_page, Path(__file__).with_name("access.yaml"), "Carbon explorer")
