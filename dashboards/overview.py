"""Managers' overview as a Panel app: the same view as ``overview.ipynb``, served by ``panel serve``.

Voila renders the notebook in its own kernel per visitor (the notebook is the published,
reproducible artefact); this app serves the identical :class:`carbonlib.viz.components.Overview`
from one ``panel serve`` process that shares the in-memory roll-ups across sessions, for
managers who want the fastest page.  Serve with ``carbon dashboards panel``; URL parameters
as the notebook: ``viewer``, ``org``, ``period``, ``lang``.
"""

from carbonlib.viz import components

components.serve_view(components.overview_page, "Carbon overview")
