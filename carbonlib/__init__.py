"""Carbon Sink Workbench library: lakehouse, science, ledgers and access rules.

Layers (arrows point down only, see ARCHITECTURE.md):

* faces: :mod:`carbonlib.cli`, :mod:`carbonlib.viz`, :mod:`carbonlib.catalog_readers`
* services, one package per capability: :mod:`carbonlib.accounting` (accounts, caps,
  tower sinks, views), :mod:`carbonlib.reporting` (report notebooks, pipelines),
  :mod:`carbonlib.demo`
* science: :mod:`carbonlib.units`, :mod:`carbonlib.factors`, :mod:`carbonlib.emissions`,
  :mod:`carbonlib.sinks`, :mod:`carbonlib.flux`, :mod:`carbonlib.uncertainty`
* lake: :mod:`carbonlib.lake`

Heavy modules are imported lazily so that ``import carbonlib`` stays fast.  The services
analysts call most keep short names: ``from carbonlib import views, accounts, caps, reports``.
"""

import importlib

__version__ = "0.1.0"

#: Short names of service modules that moved into capability packages (documented calls).
_SHORT_NAMES = {
    "accounts": "carbonlib.accounting.accounts",
    "caps": "carbonlib.accounting.caps",
    "views": "carbonlib.accounting.views",
    "reports": "carbonlib.reporting.reports",
}


def __getattr__(name: str):
    if name in _SHORT_NAMES:
        return importlib.import_module(_SHORT_NAMES[name])
    raise AttributeError(f"module 'carbonlib' has no attribute {name!r}")
