"""Emission ledger (Panel app): data officers enter and submit entries with evidence, reviewers approve, return,
reject or reverse them (four-eyes), and everyone with figures of the subtree reads each entry's history (clause 5.1).

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``org`` (clamped to the subtrees the logged-in user sees figures of), ``lang`` (zh | en).
Every button goes through the same service as ``carbon ledger`` (authorised and audited).
"""

from carbonlib.viz import components, ledger_pages

components.serve_view(ledger_pages.ledger_page, "Carbon ledger")
