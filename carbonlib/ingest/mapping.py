"""Mapping files: what each column of a logger or meter file is (device, metric, unit) and how its time reads.

A mapping is a small YAML file kept next to the inbox it serves, e.g. for a Campbell logger::

    format: toa5                 # toa5, csv or xlsx
    time_column: TIMESTAMP
    time_format: "%Y-%m-%d %H:%M:%S"   # strftime codes; omitted: ISO 8601
    time_marks: end              # the stamp marks the END of each interval (Campbell loggers), or start
    interval_s: 1800             # length of each interval (s)
    utc_offset: 8                # hours from UTC of the logger's clock (local standard time)
    columns:
      Fc_wpl:  {device: T-S430102, metric: NEE, unit: "mg m-2 s-1", qc_column: Fc_qc}
      Rs_Avg:  {device: T-S430102, metric: Rg}           # unit from the TOA5 units line
      kWh_tot: {device: EM-E1, metric: electricity_import, unit: kWh}

``unit`` may be left out where the file states units (TOA5) or the column is already in the
metric's canonical unit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from ..lake.schema import METRICS


@dataclass(frozen=True)
class Target:
    """One column of a file: the device and metric it feeds, its unit (None: the file's or canonical), its flag."""

    column: str
    device_id: str
    metric: str
    unit: str | None = None
    qc_column: str | None = None


@dataclass(frozen=True)
class Mapping:
    """How to read a file's time and which column feeds which device and metric."""

    format: str
    targets: list[Target]
    utc_offset: float
    time_marks: str = "start"
    interval_s: int = 1800
    time_column: str = "TIMESTAMP"
    time_format: str | None = None

    def with_offset(self, hours: float) -> "Mapping":
        return replace(self, utc_offset=hours)


_FORMATS = ("toa5", "csv", "xlsx")


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; ValueError names the file and the entry at fault."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"mapping {path}: cannot be read ({error})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"mapping {path}: expected keys format, time_column, utc_offset, columns")

    def need(key: str, kind, allowed=None):
        value = spec.get(key)
        if value is None or not isinstance(value, kind) or (allowed and value not in allowed):
            hint = f" (one of {', '.join(allowed)})" if allowed else ""
            raise ValueError(f"mapping {path}: {key!r} is missing or wrong{hint}; got {value!r}")
        return value

    file_format = need("format", str, _FORMATS)
    columns = need("columns", dict)
    targets = []
    for column, entry in columns.items():
        if not isinstance(entry, dict) or not entry.get("device") or entry.get("metric") not in METRICS:
            raise ValueError(f"mapping {path}: column {column!r} needs a device and a metric (one of "
                             f"{', '.join(METRICS)}); got {entry!r}")
        targets.append(Target(str(column), str(entry["device"]), entry["metric"], entry.get("unit"),
                              entry.get("qc_column")))
    marks = spec.get("time_marks", "end" if file_format == "toa5" else "start")
    if marks not in ("start", "end"):
        raise ValueError(f"mapping {path}: time_marks must be start or end, not {marks!r}")
    offset = spec.get("utc_offset")
    if not isinstance(offset, (int, float)) or not -12 <= offset <= 14:
        raise ValueError(f"mapping {path}: utc_offset (hours from UTC of the time stamps, -12 to 14) is missing "
                         f"or wrong; got {offset!r}")
    interval = spec.get("interval_s", 1800)
    if not isinstance(interval, int) or interval <= 0:
        raise ValueError(f"mapping {path}: interval_s must be a whole number of seconds; got {interval!r}")
    return Mapping(file_format, targets, float(offset), marks, interval, str(spec.get("time_column", "TIMESTAMP")),
                   spec.get("time_format"))
