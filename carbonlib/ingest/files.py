"""File ingestion: field data files -> table ``telemetry``, bad rows -> ``telemetry_reject``.

A file is read in chunks (:mod:`.readers`); for each chunk every mapped column (:class:`Target`)
becomes long rows ``device_id, metric, ts, value, qc``:

* time stamps are turned from the file's local standard time into UTC (``utc_offset`` hours;
  AmeriFlux/FLUXNET files look their site up in :mod:`.sites`), as the START of the interval;
* a cell holding a missing-value marker (``-9999``, ``NAN`` ...) is no reading and is only
  counted; a cell that is not a number, a time stamp that cannot be read, a value outside the
  metric's plausible range, a duplicate with another value, a reading before the device's
  installation or off its reporting grid go to ``telemetry_reject`` with the file, its line and
  the reason (the lake writer's checks, :mod:`carbonlib.lake.writer`);
* values are converted to the metric's canonical unit (:mod:`.measures`);
* the quality flag comes from the file's own test column where the format has one (AmeriFlux
  ``FC_SSITC_TEST``, EddyPro ``qc_co2_flux``: 0/1/2 of Mauder & Foken 2004); a reading whose flag
  cell is empty gets 1 (suspect).

Each chunk is one all-or-nothing write, and a row already in the lake with the same value is
skipped, so ingesting a file again adds nothing and an interrupted file can simply be ingested
again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..lake import Lake
from ..lake.schema import METRICS
from . import measures, readers
from .mapping import Mapping, Target, load_mapping
from .sites import utc_offset_of

#: Columns read from an AmeriFlux/FLUXNET/ICOS file for a flux tower, in order of preference per metric
#: (``_PI`` are the site team's own variables; ``_F`` are gap-filled and only used when nothing else is there).
FLUXNET_COLUMNS = {
    "NEE": (("NEE_PI", None), ("NEE", None), ("FC", "FC_SSITC_TEST"), ("NEE_VUT_REF", "NEE_VUT_REF_QC")),
    "Rg": (("SW_IN", None), ("SW_IN_F", "SW_IN_F_QC")),
    "Tair": (("TA", None), ("TA_F", "TA_F_QC")),
    "VPD": (("VPD_PI", None), ("VPD", None), ("VPD_F", "VPD_F_QC")),
    "Ustar": (("USTAR", None),),
}
#: EddyPro full output columns for a flux tower (radiation is in the biomet file: ingest it with a mapping).
EDDYPRO_COLUMNS = {"NEE": ("co2_flux", "qc_co2_flux"), "Tair": ("air_temperature", None), "VPD": ("VPD", None),
                   "Ustar": ("u*", None)}
_QUALIFIED = re.compile(r"^(?P<base>.+?)(_\d+_\d+_\d+)$")


@dataclass
class FileSummary:
    """What ingesting one file did (counts of readings, i.e. cells with a value)."""

    path: str
    format: str
    rows: int = 0
    readings: int = 0
    missing: int = 0
    inserted: int = 0
    skipped: int = 0
    rejected: int = 0
    retried: bool = False  # a write was done again after the PostgreSQL catalog went away (see WriteResult)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    devices: set[str] = field(default_factory=set)

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "rows": self.rows, "readings": self.readings,
                "missing": self.missing, "inserted": self.inserted, "skipped": self.skipped, "rejected": self.rejected,
                "first": None if self.first is None else str(self.first),
                "last": None if self.last is None else str(self.last), "devices": sorted(self.devices)}


def guess_format(path: Path) -> str:
    """The format of ``path`` from its name and first line (``--format`` overrides)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return "xlsx"
    first = readers._first_lines(path, 1)
    if not first:
        raise readers.FormatError(f"{path}: the file is empty; nothing was ingested")
    if first[0].lstrip('"').startswith("TOA5"):
        return "toa5"
    if first[0].startswith("file_info") or "_full_output_" in path.name:
        return "eddypro"
    if first[0].startswith("#") or first[0].startswith("TIMESTAMP_START") or readers._SITE_IN_NAME.match(path.name):
        return "fluxnet"
    return "csv"


def _pick(names: list[str], options) -> tuple[str, str | None] | None:
    """The first of ``options`` (column, qc column) the file has; ``FC_1_1_1`` stands for ``FC``."""
    by_base: dict[str, str] = {}
    for name in names:
        match = _QUALIFIED.match(name)
        by_base.setdefault(name, name)
        if match:
            by_base.setdefault(match.group("base"), name)
    for column, qc in options:
        if column in by_base:
            return by_base[column], (qc if qc in names else None)
    return None


def tower_mapping(path: Path, file_format: str, device_id: str, utc_offset: float | None) -> Mapping:
    """The mapping of an AmeriFlux/FLUXNET/ICOS or EddyPro file onto one flux tower."""
    if file_format == "fluxnet":
        layout = readers.fluxnet_layout(path)
        offset = utc_offset if utc_offset is not None else utc_offset_of(layout.site_id, path)
        targets = []
        for metric, options in FLUXNET_COLUMNS.items():
            picked = _pick(layout.names, options)
            if picked:
                base = _QUALIFIED.match(picked[0])
                unit = layout.units.get(base.group("base") if base else picked[0])
                targets.append(Target(picked[0], device_id, metric, unit, picked[1]))
        return Mapping("fluxnet", targets, utc_offset=offset, time_marks="start")
    layout = readers.eddypro_layout(path)
    if utc_offset is None:
        raise ValueError(f"{path}: EddyPro time stamps are in the time of the raw files; pass utc_offset (hours "
                         "from UTC, e.g. --utc-offset 8)")
    targets = [Target(column, device_id, metric, layout.units.get(column), qc if qc in layout.names else None)
               for metric, (column, qc) in EDDYPRO_COLUMNS.items() if column in layout.names]
    return Mapping("eddypro", targets, utc_offset=utc_offset, time_marks="end")


def _chunks(path: Path, mapping: Mapping, chunk_rows: int) -> Iterator[readers.Chunk]:
    columns = list(dict.fromkeys([c for t in mapping.targets for c in (t.column, t.qc_column) if c]))
    if mapping.format == "fluxnet":
        return readers.fluxnet_chunks(path, columns, chunk_rows)
    if mapping.format == "eddypro":
        return readers.eddypro_chunks(path, columns, mapping.interval_s, chunk_rows)
    return readers.mapped_chunks(path, mapping.format, mapping.time_column, mapping.time_format, mapping.time_marks,
                                 mapping.interval_s, columns, chunk_rows)


def _units_of(path: Path, mapping: Mapping, file_units: dict[str, str]) -> dict[str, Callable]:
    conversions = {}
    for target in mapping.targets:
        unit = target.unit or file_units.get(target.column) or METRICS[target.metric].unit
        try:
            conversions[target.column] = measures.conversion(target.metric, unit)
        except ValueError as error:
            raise readers.FormatError(f"{path}, column {target.column!r}: {error}") from None
    return conversions


def long_rows(chunk: readers.Chunk, mapping: Mapping, conversions: dict[str, Callable]) -> tuple[pd.DataFrame, int]:
    """The chunk's readings as telemetry rows with provenance (``src_line``, raw text where unreadable);
    also the number of cells holding a missing-value marker."""
    start = chunk.start - pd.Timedelta(hours=mapping.utc_offset)
    frames, missing_cells = [], 0
    for target in mapping.targets:
        text = chunk.cells[target.column]
        missing = text.isin(readers.MISSING).to_numpy()
        missing_cells += int(missing.sum())
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
        present = ~missing
        if not present.any():
            continue
        converted = np.asarray(conversions[target.column](numbers), dtype=float)
        unreadable = present & np.isnan(numbers)
        if target.qc_column:
            flag_text = chunk.cells[target.qc_column]
            flags = pd.to_numeric(flag_text.where(~flag_text.isin(readers.MISSING)), errors="coerce").fillna(1.0)
            qc = flags.to_numpy()
        else:
            qc = np.zeros(len(text))
        frame = pd.DataFrame({
            "device_id": target.device_id, "metric": target.metric, "ts": start.to_numpy(),
            "value": converted, "qc": qc, "unit": METRICS[target.metric].unit,
            "src_line": chunk.lines, "src_column": target.column,
        })
        if unreadable.any():  # keep what the file said: the writer refuses the text with its reason
            frame["value"] = pd.Series(converted).map(repr).where(~unreadable, text)
        if chunk.start.isna().any():
            frame["src_time"] = chunk.raw_time.to_numpy()
        frames.append(frame.loc[present])
    if not frames:
        return pd.DataFrame(), missing_cells
    rows = pd.concat(frames, ignore_index=True)
    if rows["value"].dtype == object:
        rows["value"] = rows["value"].astype(str)
    if "src_time" in rows:
        rows["src_time"] = rows["src_time"].fillna("")
    flags = rows["qc"].to_numpy(dtype=float)
    rows["qc"] = (flags if (np.mod(flags, 1) != 0).any() or (flags < 0).any() or (flags > 255).any()
                  else flags.astype(np.uint8))
    rows["ts"] = rows["ts"].astype("datetime64[us]")
    return rows, missing_cells


def ingest_file(lake: Lake, path: str | Path, *, file_format: str | None = None, device_id: str | None = None,
                mapping: Mapping | str | Path | None = None, utc_offset: float | None = None,
                chunk_rows: int = readers.CHUNK_ROWS, on_chunk: Callable[[int], None] | None = None) -> FileSummary:
    """Ingest one file into ``lake`` (see the module doc); returns what was done.

    ``file_format``: one of :data:`.readers.FORMATS` (default: guessed from the file).  Tower
    formats (``fluxnet``, ``eddypro``) need ``device_id``; ``toa5``, ``csv`` and ``xlsx`` need a
    ``mapping`` (a :class:`.mapping.Mapping` or the path of its YAML file), which names the device
    of each column.  ``on_chunk(rows)`` is called after each chunk with its number of rows (progress bars).
    """
    path = Path(path)
    if not path.is_file():
        raise readers.FormatError(f"{path}: no such file")
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    guessed = guess_format(path) if path.suffix.lower() in (".xlsx", ".xlsm") or mapping is None else mapping.format
    if mapping is None and device_id and guessed not in ("fluxnet", "eddypro"):
        guessed = "fluxnet"  # a file for one tower: read it as one, and say what its header lacks
    chosen = file_format or guessed
    if chosen not in readers.FORMATS:
        raise ValueError(f"unknown format {chosen!r}; formats: {', '.join(readers.FORMATS)}")
    if chosen in ("fluxnet", "eddypro"):
        if not device_id:
            raise ValueError(f"{path}: a {chosen} file holds one tower's data; name the registered flux tower it "
                             "belongs to (--device)")
        plan = tower_mapping(path, chosen, device_id, utc_offset)
    else:
        if mapping is None:
            raise ValueError(f"{path}: a {chosen} file needs a mapping file naming the device, metric and unit of "
                             "each column and the time column (--mapping; see docs/ingest.md)")
        plan = replace(mapping, format=chosen)  # one mapping serves a logger's CSV and XLSX exports alike
        if utc_offset is not None:
            plan = plan.with_offset(utc_offset)
    _require_devices(lake, path, plan)
    summary = FileSummary(str(path), chosen)
    conversions = None
    for chunk in _chunks(path, plan, chunk_rows):
        conversions = conversions or _units_of(path, plan, chunk.units)
        rows, missing = long_rows(chunk, plan, conversions)
        summary.rows += len(chunk.lines)
        summary.missing += missing
        if len(rows):
            result = lake.append("telemetry", rows, source=path.name, on_error="quarantine")
            summary.readings += len(rows)
            summary.inserted += result.inserted
            summary.skipped += result.skipped
            summary.rejected += result.rejected
            summary.retried = summary.retried or result.retried
            summary.devices.update(rows["device_id"].unique())
            stamps = rows["ts"].dropna()
            if len(stamps):
                summary.first = min(filter(None, [summary.first, stamps.min()]))
                summary.last = max(filter(None, [summary.last, stamps.max()]))
        if on_chunk:
            on_chunk(len(chunk.lines))
    return summary


def _require_devices(lake: Lake, path: Path, plan: Mapping) -> None:
    """Every device the mapping names is registered (else nothing is read).  Whether the device was installed and
    active is judged per reading, at its time, by the lake's telemetry rules: readings of a removed device from
    before its removal go in, later ones to telemetry_reject."""
    named = sorted({t.device_id for t in plan.targets})
    if not named:
        raise readers.FormatError(f"{path}: none of the columns this format reads is in the file; nothing was ingested")
    known = set(lake.query(f"SELECT device_id FROM {lake.relation('device')} WHERE device_id IN "
                           f"({', '.join('?' for _ in named)})", named)["device_id"])
    unknown = [d for d in named if d not in known]
    if unknown:
        raise ValueError(f"{path}: device {', '.join(unknown)} is not registered; nothing was ingested. Fix: register "
                         "the device first (carbon devices register), or name the right one")


def ingest_files(lake: Lake, paths: Iterable[str | Path], **options) -> list[FileSummary]:
    """:func:`ingest_file` for each path, in order."""
    return [ingest_file(lake, path, **options) for path in paths]
