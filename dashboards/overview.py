"""Managers' overview as a Panel app: the same view as ``overview.ipynb``, served by ``panel serve``.

Voila renders the notebook in its own kernel per visitor (the notebook is the published,
reproducible artefact); this app serves the identical :class:`carbonlib.viz.components.Overview`
from one ``panel serve`` process that shares the in-memory roll-ups across sessions, for
managers who want the fastest page.  Serve with ``carbon dashboards panel``; URL parameters
as the notebook: ``viewer``, ``org``, ``period``, ``lang``.
"""

from pathlib import Path

import panel as pn

from carbonlib.access import Access, requested_viewer
from carbonlib.viz import components

args, lake, rollups = components.panel_session()
try:
    access = Access.load(Path(__file__).with_name("access.yaml"), lake, rollups.tree)
    viewer = requested_viewer(args, pn.state.headers)
    page = components.Overview(lake, access, viewer, args.get("org"), args.get("period"), args.get("lang", "zh"),
                               rollups).layout()
except (PermissionError, ValueError) as refused:
    page = components.error_page(str(refused))
page.servable(title="Carbon overview")
