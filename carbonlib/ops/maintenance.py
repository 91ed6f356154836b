"""Lake maintenance (clause 8.3 software O&M): merge small files, expire old snapshots nothing pins, delete the files
nothing reads any more.  Scheduled nightly (``pipelines/schedule.yaml``, job ``maintenance``) and run by hand with
``carbon lake maintain``.

Each insert writes a Parquet file of its own and a snapshot, so a lake fed every few minutes
piles up thousands of small files (slow scans) and snapshots (a growing catalog).  The
policy, in :func:`maintain`:

* **merge** adjacent small files of each table (DuckLake's ``merge_adjacent_files``): every
  snapshot still reads exactly its rows, so this is safe at any time;
* **keep** every snapshot younger than ``keep_days`` (analysts' time travel), every snapshot
  a report run or an account figure records (:func:`pinned_snapshots`: a recorded report
  re-runs to the same figures) and the current one; **expire** the others;
* **delete** the files DuckLake queued for deletion (merged away, or read only by expired
  snapshots) once they have waited ``grace_hours`` (a reader that started before may still
  scan them), and orphan files (left by killed writes) as old.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pandas as pd

from ..settings import Settings

#: Defaults of the policy: a month of time travel; a day before a file leaves the disk.
KEEP_DAYS = 30
GRACE_HOURS = 24.0
#: What counts as a small data file in the before/after figures (as ``carbon health``).
SMALL_FILE_BYTES = 2**20


@dataclass
class MaintenanceResult:
    """What one maintenance run did (or, with ``dry_run``, would expire): files before and after the merge,
    the snapshots expired and those kept only because something pins them, the files deleted."""

    merged_tables: list[str]
    files_before: int
    small_files_before: int
    files_after: int
    small_files_after: int
    expired: list[int]
    kept_pinned: list[int]
    snapshots_left: int
    deleted_files: list[str] = field(default_factory=list)
    deleted_orphans: list[str] = field(default_factory=list)
    dry_run: bool = False


def pinned_snapshots(lake) -> set[int]:
    """Snapshots that must stay readable: those every report run and every account figure records, the accounts'
    refresh marker, and the current snapshot."""
    from ..accounting import accounts

    pins = {lake.snapshot_id()}
    for name in ("report_run", "account"):
        found = lake.query(f"SELECT DISTINCT snapshot_id FROM {lake.relation(name)} WHERE snapshot_id IS NOT NULL")
        pins |= {int(s) for s in found.snapshot_id}
    marker = lake.meta(accounts.MARKER_KEY)
    if marker:
        pins.add(int(marker))
    return pins


def maintain(settings: Settings, *, keep_days: float = KEEP_DAYS, grace_hours: float = GRACE_HOURS,
             now: datetime | None = None, dry_run: bool = False) -> MaintenanceResult:
    """Run the maintenance policy (module doc) on the lake of ``settings``; ``dry_run`` only reports which snapshots
    would expire (nothing is merged, expired or deleted)."""
    from ..lake import Lake

    if not keep_days >= 0 or not grace_hours >= 0:
        raise ValueError(f"keep_days and grace_hours must be >= 0, not {keep_days!r} and {grace_hours!r}")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with Lake.open(settings) as lake:
        files_before, small_before = lake.data_file_counts(SMALL_FILE_BYTES)
        merged = [] if dry_run else lake.merge_small_files()
        snapshots = lake.snapshots()
        pins = pinned_snapshots(lake)
        cutoff = pd.Timestamp(now - timedelta(days=keep_days))
        times = pd.to_datetime(snapshots.snapshot_time, utc=True)
        old = [int(s) for s, t in zip(snapshots.snapshot_id, times) if t < cutoff]
        expiring = [s for s in old if s not in pins]
        expired = expiring if dry_run else lake.expire_snapshots(expiring)
        deleted, orphans = [], []
        if not dry_run:
            deleted = lake.delete_expired_files(now - timedelta(hours=grace_hours))
            orphans = lake.delete_orphans(grace_hours)
        files_after, small_after = lake.data_file_counts(SMALL_FILE_BYTES)
        left = len(snapshots) - (0 if dry_run else len(expired))
    return MaintenanceResult(merged, files_before, small_before, files_after, small_after, expired,
                             sorted(s for s in old if s in pins), left, deleted, orphans, dry_run)
