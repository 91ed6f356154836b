"""Devices: the registry of measurement points, their instruments, lifecycle and calibration (clause 8.2).

Read with :mod:`carbonlib.devices.registry`; register devices and record lifecycle events with
:mod:`carbonlib.devices.service` (``carbon devices …``), which checks who may and audits it.
"""

from .registry import LifecycleError, calibration_overdue, devices, history, instrument_periods, with_provenance

__all__ = ["LifecycleError", "calibration_overdue", "devices", "history", "instrument_periods", "with_provenance"]
