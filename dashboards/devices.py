"""Device registry (Panel app) for device operators: the devices of their subtree with state, instrument and
calibration (overdue flagged), registering a device, recording lifecycle events, a device's history, and
acknowledging alerts (clause 8.2).

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``org`` (clamped to the subtrees the logged-in user operates devices in), ``lang`` (zh | en).
Every button goes through the same services as ``carbon devices`` and ``carbon alerts`` (authorised and audited).
"""

from carbonlib.viz import components, device_pages

components.serve_view(device_pages.devices_page, "Carbon devices")
