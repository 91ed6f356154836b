"""Carbon-credit registry (Panel app): registry operators issue, transfer (request and accept), retire, pledge,
release and cancel credits and report reversals, and follow each project's lifecycle (clauses 5.2, 5.3).

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``org`` (clamped to the subtrees the logged-in user operates the registry in), ``lang`` (zh | en).
Every button goes through the same service as ``carbon registry`` (authorised and audited).
"""

from carbonlib.viz import components, registry_pages

components.serve_view(registry_pages.registry_page, "Carbon registry")
