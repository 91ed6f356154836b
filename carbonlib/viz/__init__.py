"""Faces: HoloViews/Panel components shared by report notebooks and dashboards.

Submodules import their plotting libraries themselves, so ``import carbonlib.viz`` stays
light: ``labels`` (zh/en names of account items and org levels), ``charts`` (HoloViews
charts), ``components`` (Panel KPI cards, theme).
"""
