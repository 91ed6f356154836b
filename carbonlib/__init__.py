"""Carbon Sink Workbench library: lakehouse, science, ledgers and access rules.

Layers (arrows point down only, see ARCHITECTURE.md):

* faces: :mod:`carbonlib.cli`, :mod:`carbonlib.catalog_readers`
* services: :mod:`carbonlib.demo`
* science: :mod:`carbonlib.units`, :mod:`carbonlib.factors`, :mod:`carbonlib.emissions`,
  :mod:`carbonlib.sinks`, :mod:`carbonlib.flux`, :mod:`carbonlib.uncertainty`
* lake: :mod:`carbonlib.lake`

Heavy modules are imported lazily so that ``import carbonlib`` stays fast.
"""

__version__ = "0.1.0"
