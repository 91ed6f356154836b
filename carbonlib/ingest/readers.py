"""Readers of the files field data comes in, streamed in chunks of rows (a 2 GB file is never loaded whole).

Formats (``FORMATS``):

``fluxnet``
    AmeriFlux BASE and FLUXNET2015/FLUXNET-CH4 half-hourly or hourly CSV, and ICOS ETC L2 files
    that follow the same conventions (AmeriFlux "Data Variables" and FLUXNET2015 variable list:
    ``TIMESTAMP_START``/``TIMESTAMP_END`` as ``YYYYMMDDHHMM`` in local *standard* time, ``-9999``
    missing, optional ``# key: value`` lines before the header as in BASE files).
``eddypro``
    LI-COR EddyPro "full output" CSV: a group-name line, the variable names, the units in
    brackets, then data; ``date`` + ``time`` mark the END of each averaging period in the time of
    the raw files; ``-9999`` missing (EddyPro 7 manual, "Output files").
``toa5``
    Campbell Scientific TOA5 logger files: an environment line starting ``"TOA5"``, the field
    names, units, processing; ``TIMESTAMP`` marks the end of each interval in logger time;
    ``"NAN"`` missing (CRBasic manual, "TOA5 file format").
``csv`` / ``xlsx``
    Meter exports: a header line, then data; the time column and what each column is come from a
    mapping file (:mod:`carbonlib.ingest.mapping`).

Every reader yields :class:`Chunk` objects: the text of each cell (nothing is converted yet, so a
bad cell can be quarantined with what the file really said), the file line of each row and the
interval start of each row as written in the file (local, naive).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .sites import utc_offset_of

FORMATS = ("fluxnet", "eddypro", "toa5", "csv", "xlsx")
#: Cell texts that mean "no value" in the formats above (AmeriFlux/EddyPro -9999, Campbell NAN and -7999).
MISSING = frozenset({"", "-9999", "-9999.0", "-9999.00", "-9999.000", "-9999.0000", "-9999.00000", "NAN", "NaN",
                     "nan", "NA", "-7999", "-99999", "INF", "-INF"})
#: Rows per chunk when streaming a file.
CHUNK_ROWS = 100_000


class FormatError(ValueError):
    """The file is not in the format it was read as (the message names the file, line and the fix)."""


@dataclass(frozen=True)
class Chunk:
    """Rows of a field data file as text.

    ``cells``: one text column per variable; ``lines``: 1-based file line of each row;
    ``start``: start of each row's interval in the file's own (local, naive) time, NaT where the
    time stamp cannot be read; ``raw_time``: the time stamp text; ``units``: variable -> unit.
    """

    cells: pd.DataFrame
    lines: np.ndarray
    start: pd.Series
    raw_time: pd.Series
    units: dict[str, str]


@dataclass(frozen=True)
class Layout:
    """Where a file's header is and what its time columns mean."""

    header_line: int          # 1-based line of the variable names
    data_line: int            # 1-based line of the first data row
    names: list[str]
    units: dict[str, str]
    site_id: str | None = None


def _first_lines(path: Path, count: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if head.startswith(b"PK\x03\x04") or b"\x00" in head:
            raise FormatError(f"{path}: is a binary file (an Excel workbook or an archive?), not text. Fix: give "
                              "--format xlsx for a workbook, or unpack the archive")
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            return [line.rstrip("\r\n") for _, line in zip(range(count), handle)]
    except OSError as error:
        raise FormatError(f"{path}: cannot be read ({error.strerror})") from None


def _split(line: str) -> list[str]:
    return next(csv.reader([line]))


def _refuse_delimiter(path: Path, line_no: int, line: str, expected: str) -> None:
    for other, name in ((";", "semicolons"), ("\t", "tabs")):
        if "," not in line and other in line:
            raise FormatError(f"{path}, line {line_no}: the header is separated by {name}; {expected} files are "
                              "comma-separated. Fix: export the file as CSV with commas, or read it with the right "
                              "--format")


# ------------------------------------------------------------------------------- layouts
_SITE_IN_NAME = re.compile(r"^(?:AMF|FLX|ICOSETC|ICOS)_([A-Z]{2}-[A-Za-z0-9]{3})_")


def fluxnet_layout(path: Path) -> Layout:
    """Header of an AmeriFlux BASE / FLUXNET / ICOS file: metadata lines, then ``TIMESTAMP_START,...``."""
    lines = _first_lines(path, 50)
    if not lines:
        raise FormatError(f"{path}: the file is empty; nothing was ingested")
    site = None
    match = _SITE_IN_NAME.match(path.name)
    if match:
        site = match.group(1)
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            key, _, value = line.lstrip("# ").partition(":")
            if key.strip().lower() == "site" and value.strip():
                site = value.strip()
            continue
        if not line.strip():
            continue
        _refuse_delimiter(path, number, line, "AmeriFlux/FLUXNET")
        names = [n.strip() for n in _split(line)]
        if "TIMESTAMP_START" not in names:
            raise FormatError(f"{path}, line {number}: no TIMESTAMP_START column (the header starts "
                              f"{line[:60]!r}); this is not an AmeriFlux/FLUXNET/ICOS file. Fix: give the "
                              f"right --format ({', '.join(FORMATS)})")
        return Layout(number, number + 1, names, dict(FLUXNET_UNITS), site)
    raise FormatError(f"{path}: no header line in the first 50 lines; this is not an AmeriFlux/FLUXNET/ICOS file")


#: Units of the FLUXNET/AmeriFlux variables this workbench reads (AmeriFlux "Data Variables" list).
FLUXNET_UNITS = {"FC": "umol m-2 s-1", "NEE": "umol m-2 s-1", "NEE_PI": "umol m-2 s-1", "NEE_VUT_REF": "umol m-2 s-1",
                 "SW_IN": "W m-2", "SW_IN_F": "W m-2", "TA": "degC", "TA_F": "degC", "VPD": "hPa", "VPD_PI": "hPa",
                 "VPD_F": "hPa", "USTAR": "m s-1"}


def eddypro_layout(path: Path) -> Layout:
    """Header of an EddyPro full output file: group line, names, units."""
    lines = _first_lines(path, 3)
    if not lines:
        raise FormatError(f"{path}: the file is empty; nothing was ingested")
    if len(lines) < 3 or "date" not in _split(lines[1]) or "time" not in _split(lines[1]):
        raise FormatError(f"{path}, line 2: no 'date' and 'time' columns; this is not an EddyPro full output file "
                          f"(the file starts {lines[0][:60]!r}). Fix: give the right --format ({', '.join(FORMATS)})")
    _refuse_delimiter(path, 2, lines[1], "EddyPro")
    names = [n.strip() for n in _split(lines[1])]
    units = [u.strip().strip("[]") for u in _split(lines[2])]
    return Layout(2, 4, names, dict(zip(names, units)))


def toa5_layout(path: Path) -> Layout:
    """Header of a Campbell Scientific TOA5 file: environment, names, units, processing."""
    lines = _first_lines(path, 4)
    if not lines:
        raise FormatError(f"{path}: the file is empty; nothing was ingested")
    if not lines[0].startswith('"TOA5"') and not lines[0].startswith("TOA5"):
        raise FormatError(f"{path}, line 1: does not start with \"TOA5\" (it starts {lines[0][:60]!r}); this is not "
                          f"a Campbell TOA5 file. Fix: give the right --format ({', '.join(FORMATS)})")
    if len(lines) < 4:
        raise FormatError(f"{path}: the TOA5 header is cut short (4 header lines expected, {len(lines)} found)")
    names = [n.strip() for n in _split(lines[1])]
    units = [u.strip() for u in _split(lines[2])]
    return Layout(2, 5, names, dict(zip(names, units)))


def table_layout(path: Path) -> Layout:
    """Header of a plain CSV export: one line of names."""
    lines = _first_lines(path, 1)
    if not lines or not lines[0].strip():
        raise FormatError(f"{path}: the file is empty; nothing was ingested")
    _refuse_delimiter(path, 1, lines[0], "CSV")
    return Layout(1, 2, [n.strip() for n in _split(lines[0])], {})


# ------------------------------------------------------------------------------- chunks
def _read_text(path: Path, layout: Layout, columns: list[str], chunk_rows: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """The file's data rows as text, ``columns`` only, with their line numbers; blank lines skipped."""
    missing = [c for c in columns if c not in layout.names]
    if missing:
        raise FormatError(f"{path}, line {layout.header_line}: no column {', '.join(map(repr, missing))} "
                          f"(columns: {', '.join(layout.names[:30])}{' ...' if len(layout.names) > 30 else ''})")
    try:
        reader = pd.read_csv(path, skiprows=layout.data_line - 1, header=None, names=layout.names, usecols=columns,
                             dtype=str, keep_default_na=False, skip_blank_lines=False, chunksize=chunk_rows,
                             encoding="utf-8-sig", encoding_errors="replace", on_bad_lines="error")
    except ValueError as error:  # pandas checks the first data row against the header here
        raise FormatError(f"{path}, line {layout.data_line}: {str(error).splitlines()[0]} (the header on line "
                          f"{layout.header_line} has {len(layout.names)} fields); nothing was ingested. Fix: repair "
                          "the line, or read the file with the right --format") from None
    first = layout.data_line
    try:
        for frame in reader:
            lines = np.arange(first, first + len(frame), dtype=np.int64)
            first += len(frame)
            frame = frame.fillna("").apply(lambda c: c.str.strip())
            keep = (frame != "").any(axis=1).to_numpy()
            yield frame.loc[keep].reset_index(drop=True), lines[keep]
    except pd.errors.ParserError as error:
        found = re.search(r"line (\d+)", str(error))
        where = f"line {int(found.group(1)) + layout.data_line - 1}" if found else "a data line"
        raise FormatError(f"{path}, {where}: {str(error).splitlines()[0]} (cut or mixed lines?); the rows before it "
                          "were kept, nothing of the bad chunk. Fix: repair the line and ingest the file again") from None


def fluxnet_chunks(path: Path, variables: list[str], chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    layout = fluxnet_layout(path)
    for frame, lines in _read_text(path, layout, ["TIMESTAMP_START", *variables], chunk_rows):
        raw = frame.pop("TIMESTAMP_START")
        start = pd.to_datetime(raw, format="%Y%m%d%H%M", errors="coerce")
        yield Chunk(frame, lines, start, raw, layout.units)


def eddypro_chunks(path: Path, variables: list[str], interval_s: int = 1800,
                   chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    layout = eddypro_layout(path)
    for frame, lines in _read_text(path, layout, ["date", "time", *variables], chunk_rows):
        raw = frame.pop("date") + " " + frame.pop("time")
        end = pd.to_datetime(raw, format="%Y-%m-%d %H:%M", errors="coerce")
        yield Chunk(frame, lines, end - pd.Timedelta(seconds=interval_s), raw, layout.units)


def _xlsx_frame(path: Path) -> pd.DataFrame:
    try:
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError) as error:
        raise FormatError(f"{path}: cannot be read as an Excel workbook ({error}). Fix: give the right --format") from None


def mapped_chunks(path: Path, file_format: str, time_column: str, time_format: str | None, time_marks: str,
                  interval_s: int, variables: list[str], chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Chunks of a TOA5, CSV or XLSX file whose meaning a mapping file gives."""
    if file_format == "xlsx":
        whole = _xlsx_frame(path)
        layout = Layout(1, 2, [str(c).strip() for c in whole.columns], {})
        whole.columns = layout.names
        absent = [c for c in [time_column, *variables] if c not in layout.names]
        if absent:
            raise FormatError(f"{path}, line 1: no column {', '.join(map(repr, absent))} (columns: {', '.join(layout.names)})")
        whole = whole[[time_column, *variables]].astype(str).apply(lambda c: c.str.strip())
        lines = np.arange(2, 2 + len(whole), dtype=np.int64)
        keep = (whole != "").any(axis=1).to_numpy()
        pieces = [(whole.loc[keep].reset_index(drop=True), lines[keep])]
    else:
        layout = toa5_layout(path) if file_format == "toa5" else table_layout(path)
        pieces = _read_text(path, layout, [time_column, *variables], chunk_rows)
    for frame, lines in pieces:
        raw = frame.pop(time_column)
        stamp = pd.to_datetime(raw, format=time_format or "ISO8601", errors="coerce")
        if time_marks == "end":
            stamp = stamp - pd.Timedelta(seconds=interval_s)
        yield Chunk(frame, lines, stamp, raw, layout.units)


# ------------------------------------------------------------------------------- analysts' reader
def numeric(cells: pd.DataFrame) -> pd.DataFrame:
    """Text cells as numbers: the formats' missing markers and unreadable text become NaN."""
    return cells.apply(lambda c: pd.to_numeric(c.where(~c.isin(MISSING)), errors="coerce"))


def read_ameriflux(path: str | Path, utc_offset: float | None = None) -> pd.DataFrame:
    """Read an AmeriFlux BASE (or FLUXNET2015 / ICOS ETC) half-hourly or hourly CSV file.

    Parameters
    ----------
    path : str or Path
        The file, e.g. ``AMF_US-Tw3_BASE_HH_5-5.csv``.
    utc_offset : float, optional
        Hours from UTC of the file's local *standard* time (AmeriFlux BASE files are in local
        standard time all year), e.g. ``-8`` for California.  When None it is looked up by the
        file's site id in the site table shipped with the package (``carbonlib/data/flux_sites.csv``);
        an unknown site is refused with an error naming this parameter.

    Returns
    -------
    pandas.DataFrame
        One column per variable of the file with its own name (``FC``, ``TA``, ``SW_IN`` ... in
        the file's units), ``-9999`` as NaN, indexed by the UTC MIDPOINT of each interval
        (``TIMESTAMP_START`` + half the interval − ``utc_offset``), index name ``time``.
        ``TIMESTAMP_START`` and ``TIMESTAMP_END`` become the index and are not columns.
    """
    path = Path(path)
    layout = fluxnet_layout(path)
    offset = utc_offset if utc_offset is not None else utc_offset_of(layout.site_id, path)
    variables = [n for n in layout.names if n not in ("TIMESTAMP_START", "TIMESTAMP_END")]
    parts = []
    for frame, _ in _read_text(path, layout, ["TIMESTAMP_START", "TIMESTAMP_END", *variables], CHUNK_ROWS):
        start = pd.to_datetime(frame.pop("TIMESTAMP_START"), format="%Y%m%d%H%M", errors="coerce")
        end = pd.to_datetime(frame.pop("TIMESTAMP_END"), format="%Y%m%d%H%M", errors="coerce")
        values = numeric(frame)
        values.index = pd.DatetimeIndex(start + (end - start) / 2 - pd.Timedelta(hours=offset), name="time")
        parts.append(values)
    if not parts:
        raise FormatError(f"{path}: no data rows after the header on line {layout.header_line}")
    return pd.concat(parts)
