"""File ingestion as a service: who may ingest, the audit record of each file, the roll-ups that follow.

A device operator (or the scheduler, for an inbox) ingests files for devices inside their org
subtree (action ``ingest_telemetry``).  Each file is one audited operation whose record names the
file and its counts; afterwards the daily roll-up (``telemetry_daily``, what the monitor reads) is
refreshed from the first day the file touched.  The accounts follow with the next
``carbon accounts refresh`` (or the scheduler's ``accounts`` job).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..accounting import views
from ..lake import Lake
from ..security import Principal, Security
from ..settings import Settings
from . import files
from .mapping import Mapping, load_mapping


def _device_orgs(lake: Lake, device_ids: Iterable[str]) -> dict[str, str]:
    named = sorted(set(device_ids))
    if not named:
        return {}
    found = lake.query(f"SELECT device_id, org_id FROM {lake.relation('device')} WHERE device_id IN "
                       f"({', '.join('?' for _ in named)})", named)
    return dict(zip(found.device_id, found.org_id))


def ingest_files(security: Security, principal: Principal, settings: Settings, paths: Iterable[str | Path], *,
                 file_format: str | None = None, device_id: str | None = None, mapping: str | Path | None = None,
                 utc_offset: float | None = None, progress: bool = False) -> list[files.FileSummary]:
    """:func:`carbonlib.ingest.files.ingest_file` for each path, authorised and audited, then the roll-up.

    Raises :class:`carbonlib.security.PermissionDenied` before reading a file whose devices lie
    outside the principal's subtree; a file that fails stops the run (files before it stay in).
    """
    from tqdm.auto import tqdm

    plan: Mapping | None = load_mapping(mapping) if mapping is not None else None
    summaries = []
    with Lake.open(settings) as lake:
        paths_of = views.org_paths(lake)
        named = [device_id] if device_id else [t.device_id for t in plan.targets] if plan else []
        if not named:
            raise ValueError("name the registered flux tower a tower file belongs to (--device), or give the mapping "
                             "file of a logger or meter file (--mapping); nothing was ingested")
        orgs = _device_orgs(lake, named)
        unknown = sorted(set(named) - set(orgs))
        if unknown:
            raise ValueError(f"device {', '.join(unknown)} is not registered; nothing was ingested. Fix: register the "
                             "device first (table device), or name the right one")
        for org in sorted(set(orgs.values()))[1:]:
            security.require(principal, "ingest_telemetry", org, paths=paths_of)
        first_org = min(orgs.values()) if orgs else None
        for path in paths:
            with security.operation(principal, "ingest_telemetry", first_org, paths=paths_of,
                                    object=f"file {Path(path).name}") as operation, \
                    tqdm(desc=Path(path).name, unit=" rows", disable=not progress, leave=True) as bar:
                summary = files.ingest_file(lake, path, file_format=file_format, device_id=device_id, mapping=plan,
                                            utc_offset=utc_offset, on_chunk=bar.update)
                operation.detail = (f"{summary.format}: {summary.rows} rows, {summary.inserted} readings in, "
                                    f"{summary.skipped} already there, {summary.rejected} quarantined, "
                                    f"{summary.missing} missing")
            summaries.append(summary)
        firsts = [s.first for s in summaries if s.first is not None and s.inserted]
        if firsts:
            views.refresh_telemetry_daily(lake, since=str(min(firsts).date()))
    return summaries


def watch_inbox(security: Security, principal: Principal, settings: Settings, folder: str | Path, *,
                device_id: str | None = None, mapping: str | Path | None = None, utc_offset: float | None = None,
                settle_s: float = 2.0, stop=None, on_outcome=None) -> None:
    """Ingest every file dropped into ``folder`` (:func:`carbonlib.ingest.inbox.watch`) as ``principal``, each file
    authorised and audited as in :func:`ingest_files`, until ``stop`` (a ``threading.Event``) is set."""
    from .inbox import watch

    def ingest(path: Path) -> files.FileSummary:
        return ingest_files(security, principal, settings, [path], device_id=device_id, mapping=mapping,
                            utc_offset=utc_offset)[0]

    watch(folder, ingest, settle_s=settle_s, stop=stop, on_outcome=on_outcome)
