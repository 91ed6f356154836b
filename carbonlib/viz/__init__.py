"""Faces: charts and Panel components shared by report notebooks and dashboards.

Submodules import their plotting libraries themselves, so ``import carbonlib.viz`` stays
light: ``theme`` (colours, number formats, offline Panel set-up), ``charts`` (static
matplotlib charts of the report notebooks), ``data`` (the dashboards' in-memory roll-ups per
lake snapshot), ``figures`` (Bokeh figures updated in place, the region map among them),
``components`` (KPI cards, tables and the dashboard views) and ``screen`` (the province
screen).  Every text in zh and en comes from :mod:`carbonlib.i18n`.
"""
