"""Backups and lake maintenance as services: who may run them, and the audit record of each (over :mod:`.backup`
and :mod:`.maintenance`).

The system administrator (``operate_system``) or the scheduler (``maintain_lake`` on the root
of the org tree) creates, lists, verifies and prunes backups and maintains the lake; each run
is an audited operation.
A restore needs no account: it rebuilds a lake (and its security store) where there is none,
and whoever holds the backup key may do it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..security import Principal, Security
from ..settings import Settings
from . import backup, maintenance

#: Environment variables naming the repository and the key file (the command line's defaults).
REPOSITORY_ENV, KEY_ENV = "CARBON_BACKUP_REPOSITORY", "CARBON_BACKUP_KEY_FILE"


def default_repository(settings: Settings) -> str:
    """``$CARBON_BACKUP_REPOSITORY`` (a folder or ``s3://bucket/prefix``), else ``<lake>-backups`` next to the
    lake folder."""
    lake = Path(settings.lake).resolve()
    return os.environ.get(REPOSITORY_ENV) or str(lake.parent / f"{lake.name}-backups")


def default_key_file() -> Path:
    """``$CARBON_BACKUP_KEY_FILE``, else ``~/.config/carbon/backup.key`` (owner-only; keep a copy elsewhere)."""
    configured = os.environ.get(KEY_ENV)
    return Path(configured) if configured else Path.home() / ".config" / "carbon" / "backup.key"


def _authorised(security: Security, principal: Principal, settings: Settings, what: str, detail: str = ""):
    """An audited operation of ``principal`` on the backups: as system administrator, or as the scheduler."""
    from ..accounting import views
    from ..lake import Lake

    if principal.may("operate_system"):
        return security.operation(principal, "operate_system", object=what, detail=detail)
    with Lake.open(settings, read_only=True) as lake:
        paths = views.org_paths(lake)
    return security.operation(principal, "maintain_lake", next(iter(paths), None), paths=paths, object=what,
                              detail=detail)


def create(security: Security, principal: Principal, settings: Settings, repository: backup.Location, key_file: Path, *,
           progress: bool = False) -> backup.Manifest:
    """:func:`.backup.create`, authorised and audited."""
    key = backup.load_key(key_file)
    with _authorised(security, principal, settings, f"backup {repository}") as operation:
        manifest = backup.create(settings, repository, key, progress=progress)
        operation.detail = (f"backup {manifest.backup_id}: snapshot {manifest.snapshot_id}, {len(manifest.entries)} files, "
                            f"{manifest.size:,} bytes, {manifest.new_bytes:,} new")
    return manifest


def listing(security: Security, principal: Principal, settings: Settings, repository: backup.Location,
            key_file: Path) -> list[backup.Manifest]:
    """The backups in ``repository`` (oldest first), authorised and audited."""
    key = backup.load_key(key_file)
    with _authorised(security, principal, settings, f"backup {repository}", "list"):
        return backup.Repository(repository, key).manifests()


def verify(security: Security, principal: Principal, settings: Settings, repository: backup.Location, key_file: Path,
           backup_id: str | None = None) -> backup.VerifyResult:
    """:func:`.backup.verify`, authorised and audited (a damaged backup is audited as ``failed``)."""
    key = backup.load_key(key_file)
    with _authorised(security, principal, settings, f"backup {repository}", "verify") as operation:
        result = backup.verify(repository, key, backup_id)
        operation.outcome = "ok" if result.ok else "failed"
        operation.detail = (f"verify {len(result.backups)} backup(s), {result.objects} objects: "
                            + ("intact" if result.ok else f"{len(result.problems)} damaged file(s)"))
    return result


def prune(security: Security, principal: Principal, settings: Settings, repository: backup.Location, key_file: Path, *,
          daily: int = 7, weekly: int = 4, monthly: int = 12) -> backup.PruneResult:
    """:func:`.backup.prune`, authorised and audited."""
    key = backup.load_key(key_file)
    with _authorised(security, principal, settings, f"backup {repository}",
                     f"prune: keep {daily} daily, {weekly} weekly, {monthly} monthly") as operation:
        result = backup.prune(repository, key, daily, weekly, monthly)
        operation.detail = (f"prune: {len(result.kept)} kept, {len(result.removed)} removed, "
                            f"{result.objects_deleted} objects ({result.bytes_freed:,} bytes) deleted")
    return result


def maintain(security: Security, principal: Principal, settings: Settings, *, keep_days: float = maintenance.KEEP_DAYS,
             grace_hours: float = maintenance.GRACE_HOURS, dry_run: bool = False) -> maintenance.MaintenanceResult:
    """:func:`.maintenance.maintain`, authorised and audited."""
    with _authorised(security, principal, settings, "lake maintenance",
                     f"keep {keep_days:g} days, grace {grace_hours:g} h{', dry run' if dry_run else ''}") as operation:
        result = maintenance.maintain(settings, keep_days=keep_days, grace_hours=grace_hours, dry_run=dry_run)
        operation.detail = (f"merged {len(result.merged_tables)} table(s): {result.files_before} -> {result.files_after} "
                            f"data files; {len(result.expired)} snapshot(s) expired, {len(result.kept_pinned)} old ones "
                            f"kept (pinned); {len(result.deleted_files) + len(result.deleted_orphans)} file(s) deleted"
                            + (" (dry run)" if dry_run else ""))
    return result

