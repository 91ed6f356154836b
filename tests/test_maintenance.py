"""Lake maintenance (carbonlib.ops.maintenance, ``carbon lake maintain``): small files merged, unpinned old snapshots
expired, unused files deleted; every pinned snapshot reads the same rows, a recorded report re-runs to byte-identical
figures, incremental accounts and backups stay right across expired snapshots."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.accounting import accounts
from carbonlib.cli import app
from carbonlib.lake import Lake, LakeError
from carbonlib.ops import health, maintenance, service
from carbonlib.security import Security
from conftest import copy_lake

APPENDS = 12


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


def _small_appends(settings, count: int = APPENDS) -> int:
    """Append the last six hours of readings ``count`` times, six hours later each time: ``count`` small files and
    snapshots, as a lake fed every few minutes gets.  Returns the rows of one append."""
    with Lake.open(settings) as opened:
        newest = opened.query(f"SELECT max(ts) AS ts FROM {opened.relation('telemetry')}").ts[0]
        batch = opened.read("telemetry", where="ts > ?", params=[newest - pd.Timedelta(hours=6)])
        for k in range(1, count + 1):
            opened.append("telemetry", batch.assign(ts=batch.ts + pd.Timedelta(hours=6 * k)))
    return len(batch)


def _files(settings) -> set[str]:
    return {p.name for p in Path(settings.data_uri).rglob("*.parquet")}


def test_maintenance_merges_expires_deletes_and_every_pinned_report_stays_reproducible(lake, tmp_path):
    from carbonlib.reporting import reports

    with Lake.open(lake, read_only=True) as opened:
        reported = opened.snapshot_id()
    first = reports.run_batch(lake, "annual", "2025", orgs=["E430121-02"], out_dir=tmp_path / "r1", snapshot=reported,
                              workers=1, progress=False)
    figures = (Path(first.records[0].html_path).parent / "figures.csv").read_bytes()
    rows = _small_appends(lake)
    with Lake.open(lake, read_only=True) as opened:
        unpinned = opened.snapshot_id() - 3  # one of the appends: nothing records it
        current = opened.snapshot_id()
        pins = maintenance.pinned_snapshots(opened)
        read_before = {s: opened.checksums(s) for s in (reported, current)}
        files_before, small_before = opened.data_file_counts(maintenance.SMALL_FILE_BYTES)
    assert rows > 0 and reported in pins and current in pins and unpinned not in pins
    on_disk = _files(lake)

    later = datetime.now(timezone.utc) + timedelta(days=31)  # every snapshot is older than 30 days by then
    dry = maintenance.maintain(lake, now=later, dry_run=True)
    assert dry.dry_run and unpinned in dry.expired and reported in dry.kept_pinned and not dry.merged_tables
    assert _files(lake) == on_disk  # a dry run changes nothing

    result = maintenance.maintain(lake, now=later, grace_hours=0)
    assert result.merged_tables == ["telemetry"]
    # the appends all fell into one month's partition: merged into one file
    assert result.files_after == files_before - APPENDS + 1 and result.small_files_after == small_before - APPENDS + 1
    # the merge is a snapshot of its own and the lake's current one; the one before it is old and pinned by nothing
    assert set(result.expired) == set(dry.expired) | {current}
    assert set(result.kept_pinned) - {current + 1} == set(dry.kept_pinned) - {current} and reported in dry.kept_pinned
    assert not set(result.expired) & (pins - {current})  # the current one was pinned only while it was current
    deleted = {Path(p).name for p in result.deleted_files}
    assert len(deleted) >= APPENDS and deleted == on_disk - _files(lake)  # the merged-away files left the disk

    with Lake.open(lake, read_only=True) as opened:
        assert opened.checksums(reported) == read_before[reported]  # the pinned snapshot reads the same rows
        assert opened.checksums() == read_before[current]  # and the lake holds the same rows
        kept = set(opened.snapshots().snapshot_id)
        assert reported in kept and unpinned not in kept and result.snapshots_left == len(kept)
        checked = opened.verify("full")
        assert checked.ok and checked.unrecorded == 0 and checked.orphans == [], checked.problems
    with pytest.raises(LakeError, match=f"snapshot {unpinned} was expired by lake maintenance"):
        Lake.open(lake, snapshot=unpinned, read_only=True)
    again = reports.run_batch(lake, "annual", "2025", orgs=["E430121-02"], out_dir=tmp_path / "r2", snapshot=reported,
                              workers=1, progress=False, force=True)
    assert (Path(again.records[0].html_path).parent / "figures.csv").read_bytes() == figures
    small = {c.name: c for c in health.check_health(lake).checks}["small_files"]
    assert small.figures["small_files"] == result.small_files_after


def test_incremental_accounts_and_backups_stay_right_across_expired_snapshots(lake, tmp_path):
    """The change summaries and feeds of expired snapshots are gone: the accounts' refresh then rebuilds, and a
    backup's checksums are recomputed in full, instead of trusting a partial feed."""
    from carbonlib.ops import backup

    key_file = tmp_path / "key"
    backup.generate_key(key_file)
    key = backup.load_key(key_file)
    with Lake.open(lake) as opened:
        accounts.refresh_accounts(opened)
    first = backup.create(lake, tmp_path / "backups", key)
    _small_appends(lake, 4)
    with Lake.open(lake, read_only=True) as opened:
        marker = int(opened.meta(accounts.MARKER_KEY))
        assert opened.history_complete(marker, opened.snapshot_id())
    maintenance.maintain(lake, now=datetime.now(timezone.utc) + timedelta(days=31), grace_hours=0)
    with Lake.open(lake) as opened:
        assert not opened.history_complete(marker, opened.snapshot_id())
        assert opened.tables_changed(marker, opened.snapshot_id(), ("org", "cap")) == ["org", "cap"]
        refreshed = accounts.refresh_accounts(opened)
        assert refreshed.reason == "snapshots since the marker were expired" and refreshed.full
        full = opened.checksums()
        assert opened.checksums_since(first.checksums, first.snapshot_id) == full
    second = backup.create(lake, tmp_path / "backups", key)
    assert second.checksums == full
    assert backup.restore(tmp_path / "backups", key, tmp_path / "restored").snapshot_id == second.snapshot_id


def test_only_the_system_administrator_or_the_scheduler_maintains_and_it_is_audited(lake):
    from conftest import TEST_PASSWORD
    from carbonlib.security import PermissionDenied

    with Security.open(lake) as security:
        manager = security.sessions.login("t-province", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied):
            service.maintain(security, manager, lake)
        scheduler = security.service_login().principal
        service.maintain(security, scheduler, lake, dry_run=True)
        done = security.audit.entries(actor="scheduler", action="maintain_lake", limit=1)[0]
    assert done.outcome == "ok" and done.object == "lake maintenance" and "dry run" in done.detail

    _small_appends(lake, 3)
    result = CliRunner().invoke(app, ["lake", "maintain", "--lake", str(lake.lake), "--grace-hours", "0"],
                                env={"CARBON_LANG": "en"})  # as the scheduler: its key file is next to the lake
    assert result.exit_code == 0, result.output
    assert "merged the small files of 1 table(s)" in result.output and "deleted 3 file(s)" in result.output
    shown = CliRunner().invoke(app, ["lake", "maintain", "--lake", str(lake.lake), "--dry-run", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output)["dry_run"] is True
