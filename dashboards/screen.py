"""Province screen (大屏, clause 7.1): the full-screen Panel page for a bureau's wall.

Serve with ``carbon dashboards panel``; the lake comes from ``CARBON_LAKE``.  URL parameters:
``org`` (clamped to the logged-in user's scope), ``period``, ``lang`` (zh | en), ``look``
(dark | light), ``rotate`` (seconds per stop, 0 = hold; default 20), ``refresh`` (seconds,
default 30).  The screen rotates through the regions and re-reads the lake by itself.
"""

from carbonlib.viz import components, screen

components.serve_view(screen.screen_page, "Carbon province screen")
