"""Faces: charts and Panel components shared by report notebooks and dashboards.

Submodules import their plotting libraries themselves, so ``import carbonlib.viz`` stays
light: ``labels`` (zh/en names of account items and org levels), ``theme`` (colours, number
formats, offline Panel set-up), ``charts`` (HoloViews charts of the report notebooks),
``data`` (the dashboards' in-memory roll-ups per lake snapshot), ``figures`` (Bokeh figures
updated in place) and ``components`` (KPI cards, tables and the four dashboard views).
"""
