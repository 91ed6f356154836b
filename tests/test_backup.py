"""Backups (issue 14): encrypted, incremental, verifiable; a restore drill on a real lake; faults named.

Real lakes (a copy of the small demo), real files, real AES-GCM; the command line as a subprocess.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from carbonlib.lake import Lake, LakeError
from carbonlib.ops import backup, service
from carbonlib.registry import Registry
from carbonlib.registry.publish import mirror
from carbonlib.security import PermissionDenied, Security
from conftest import TEST_PASSWORD, copy_lake, lake_settings


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


@pytest.fixture
def key_file(tmp_path) -> Path:
    path = tmp_path / "keys" / "backup.key"
    backup.generate_key(path)
    return path


def _scheduler(settings):
    security = Security.open(settings)
    return security, security.service_login().principal


def _add_a_day_of_telemetry(settings) -> int:
    """Append the last day of readings again, one day later (new rows, a new data file); returns the rows."""
    with Lake.open(settings) as opened:
        newest = opened.query(f"SELECT max(ts) AS ts FROM {opened.relation('telemetry')}").ts[0]
        day = opened.read("telemetry", where="ts > ?", params=[newest - pd.Timedelta(days=1)])
        opened.append("telemetry", day.assign(ts=day.ts + pd.Timedelta(days=1)))
    return len(day)


def _objects(repository: Path) -> set[str]:
    return {p.name for p in (repository / "objects").glob("*/*")}


def test_restore_drill_back_up_destroy_restore_equal_checksums_and_the_same_pinned_report(lake, key_file, tmp_path):
    from carbonlib.reporting import reports

    repository = tmp_path / "backups"
    with Lake.open(lake, read_only=True) as opened:
        snapshot = opened.snapshot_id()
        before = opened.checksums(snapshot)
    first = reports.run_batch(lake, "annual", "2025", orgs=["E430121-02"], out_dir=tmp_path / "r1", snapshot=snapshot,
                              workers=1, progress=False)
    figures_before = (Path(first.records[0].html_path).parent / "figures.csv").read_bytes()
    security, scheduler = _scheduler(lake)
    with security:
        full = service.create(security, scheduler, lake, repository, key_file)
        objects_after_full = _objects(repository)
        rows = _add_a_day_of_telemetry(lake)
        incremental = service.create(security, scheduler, lake, repository, key_file)
    assert rows > 0 and incremental.snapshot_id > full.snapshot_id
    # incremental: unchanged Parquet files are not read again, their objects are shared
    old_data = {e.path: e.chunks for e in full.entries if e.role == "data"}
    new_data = {e.path: e.chunks for e in incremental.entries if e.role == "data"}
    assert set(old_data) < set(new_data) and all(new_data[p] == c for p, c in old_data.items())
    added = _objects(repository) - objects_after_full
    changed_files = [e for e in incremental.entries if not set(e.chunks) <= objects_after_full]
    assert len(added) == sum(len(e.chunks) for e in changed_files) and len(changed_files) < len(incremental.entries) / 3
    assert 0 < incremental.new_bytes < full.new_bytes / 3
    assert backup.verify(repository, backup.load_key(key_file)).ok

    with Registry.open(lake, create=False) as registry:
        units_before = registry.reconcile()
    shutil.rmtree(lake.lake)
    shutil.rmtree(lake.lake.with_name(lake.lake.name + "-security"))
    shutil.rmtree(lake.lake.with_name(lake.lake.name + "-registry"))
    restored = backup.restore(repository, backup.load_key(key_file), lake.lake, full.backup_id)
    assert restored.snapshot_id == full.snapshot_id and restored.set_aside == []
    # the newer backup's checksums moved on from the first by the rows changed; a restore recomputes them in full
    assert backup.restore(repository, backup.load_key(key_file), tmp_path / "newer").snapshot_id == incremental.snapshot_id
    with Lake.open(lake_settings(lake.lake), read_only=True) as opened:
        assert opened.checksums(snapshot) == before
        report = opened.verify("full")
        assert report.ok and report.unrecorded == 0, report.problems
    with Security.open(lake) as reopened:
        assert reopened.audit.verify().ok  # the audit log came back intact with its keys
    assert oct((lake.lake.with_name(lake.lake.name + "-security") / "audit.key").stat().st_mode & 0o777) == "0o600"
    with Registry.open(lake, create=False) as registry, Lake.open(lake) as opened:  # the credit registry too
        assert registry.verify().ok and registry.reconcile().equals(units_before)
        assert mirror(opened, registry) == 0  # the lake's mirror and the registry came back together
    again = reports.run_batch(lake, "annual", "2025", orgs=["E430121-02"], out_dir=tmp_path / "r2", snapshot=snapshot,
                              workers=1, progress=False, force=True)
    assert (Path(again.records[0].html_path).parent / "figures.csv").read_bytes() == figures_before


def test_a_new_lake_verifies_every_file_against_its_recorded_checksum(lake):
    """`lake verify` compared no file with its recorded SHA-256: the recorded table was looked up where DuckDB
    does not list it, so every file counted as 'written before checksums were recorded'."""
    with Lake.open(lake, read_only=True) as opened:
        report = opened.verify("full")
    assert report.ok and report.files > 0 and report.unrecorded == 0


def test_a_damaged_or_missing_object_is_named_and_restore_refuses(lake, key_file, tmp_path):
    repository = tmp_path / "backups"
    key = backup.load_key(key_file)
    manifest = backup.create(lake, repository, key)
    victim = next(e for e in manifest.entries if e.role == "data")
    path = repository / "objects" / victim.chunks[0][:2] / victim.chunks[0]
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0xFF
    path.write_bytes(bytes(body))
    checked = backup.verify(repository, key)
    assert not checked.ok and [(p[1], "damaged" in p[2]) for p in checked.problems] == [(f"data/{victim.path}", True)]
    target = tmp_path / "restored"
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.restore(repository, key, target)
    assert not target.exists() and not list(tmp_path.glob(".restored.restoring-*"))
    path.unlink()
    assert "missing" in backup.verify(repository, key).problems[0][2]


def test_a_damaged_lake_is_not_backed_up(lake, key_file, tmp_path):
    """A damaged data file is named and no backup is recorded."""
    with Lake.open(lake, read_only=True) as opened:
        victim = Path(opened.query("SELECT data_file FROM ducklake_list_files('lake', 'activity')").data_file[0])
    data = victim.read_bytes()
    victim.write_bytes(data[:-8] + bytes(8))  # same size, other content
    with pytest.raises((backup.BackupError, LakeError), match=victim.name):
        backup.create(lake, tmp_path / "backups", backup.load_key(key_file))
    assert not list((tmp_path / "backups" / "backups").glob("*"))


def test_wrong_key_foreign_files_and_no_repository_are_refused_clearly(lake, key_file, tmp_path):
    repository = tmp_path / "backups"
    backup.create(lake, repository, backup.load_key(key_file))
    other = tmp_path / "other.key"
    backup.generate_key(other)
    with pytest.raises(backup.BackupError, match="wrong key: .* made with key"):
        backup.verify(repository, backup.load_key(other))
    with pytest.raises(backup.BackupError, match="never overwritten"):
        backup.generate_key(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    (tmp_path / "junk.key").write_text("not a key\n")
    with pytest.raises(backup.BackupError, match="does not hold a backup key"):
        backup.load_key(tmp_path / "junk.key")
    with pytest.raises(backup.BackupError, match="not a backup repository"):
        backup.verify(tmp_path, backup.load_key(key_file))
    manifest_file = next((repository / "backups").iterdir())
    manifest_file.rename(manifest_file.with_name("20990101T000000Z-000000"))  # a manifest under another name
    with pytest.raises(backup.BackupError, match="damaged"):
        backup.Repository(repository, backup.load_key(key_file)).manifests()


def test_a_full_disk_mid_way_leaves_no_backup_reported_and_the_next_run_succeeds(lake, key_file, tmp_path, monkeypatch):
    repository = tmp_path / "backups"
    key = backup.load_key(key_file)
    good = backup.create(lake, repository, key)
    _add_a_day_of_telemetry(lake)
    writes = {"n": 0}
    real_open = open

    def filling_up(file, mode="r", *args, **kwargs):  # the disk fills up at the second object written
        if ".tmp-" in str(file) and "w" in mode:
            writes["n"] += 1
            if writes["n"] > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", filling_up)
    with pytest.raises(backup.BackupError, match="No space left on device. Fix: free space"):
        backup.create(lake, repository, key)
    monkeypatch.undo()
    assert [m.backup_id for m in backup.Repository(repository, key).manifests()] == [good.backup_id]
    assert not list(repository.rglob(".tmp-*"))
    assert backup.verify(repository, key).ok
    assert backup.create(lake, repository, key).new_bytes > 0


def test_restore_never_merges_and_force_sets_the_old_folders_aside(lake, key_file, tmp_path):
    repository = tmp_path / "backups"
    key = backup.load_key(key_file)
    backup.create(lake, repository, key)
    with pytest.raises(backup.BackupError, match="never merges"):
        backup.restore(repository, key, lake.lake)
    marker = lake.lake / "operator-notes.txt"
    marker.write_text("kept")
    result = backup.restore(repository, key, lake.lake, force=True)
    assert len(result.set_aside) == 3 and all(p.is_dir() for p in result.set_aside)  # lake, security, registry
    assert (result.set_aside[0] / "operator-notes.txt").read_text() == "kept"
    assert not (lake.lake / "operator-notes.txt").exists()
    with Lake.open(lake_settings(lake.lake), read_only=True) as opened:
        assert opened.verify("stat").ok


def _manifest(at: datetime) -> backup.Manifest:
    return backup.Manifest(at.strftime("%Y%m%dT%H%M%SZ"), at.isoformat(), 1, 1, "", "/", {}, [])


def test_retention_keeps_the_newest_of_each_recent_day_week_and_month():
    """Hand-derived: one backup at 01:00 and 13:00 every day from 2026-01-01 to 2026-03-31 (UTC).
    daily=3 keeps the 13:00 of 31, 30, 29 March; weekly=2 keeps the newest of ISO weeks 14 (31 Mar,
    already kept) and 13 (Sun 29 Mar, kept); monthly=3 keeps 31 Mar, 28 Feb and 31 Jan at 13:00."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    manifests = [_manifest(start + timedelta(days=d, hours=h)) for d in range(90) for h in (1, 13)]
    kept = backup.kept_backups(manifests, daily=3, weekly=2, monthly=3)
    assert sorted(kept) == ["20260131T130000Z", "20260228T130000Z", "20260329T130000Z", "20260330T130000Z",
                            "20260331T130000Z"]


def test_only_the_system_administrator_or_the_scheduler_may_back_up(lake, key_file, tmp_path):
    with Security.open(lake) as security:
        analyst = security.sessions.login("t-analyst", TEST_PASSWORD).principal
        with pytest.raises(PermissionDenied):
            service.create(security, analyst, lake, tmp_path / "backups", key_file)
        denied = security.audit.entries(actor="t-analyst", outcome="denied", limit=5)
        assert denied and denied[0].action in ("operate_system", "maintain_lake")
        scheduler = security.service_login().principal
        manifest = service.create(security, scheduler, lake, tmp_path / "backups", key_file)
        done = security.audit.entries(actor=scheduler.username, action="maintain_lake", outcome="ok", limit=1)
        assert manifest.backup_id in done[0].detail


def test_the_scheduled_job_backs_up_verifies_and_prunes(lake, key_file, tmp_path, monkeypatch):
    from carbonlib.reporting import pipelines

    monkeypatch.setenv(service.REPOSITORY_ENV, str(tmp_path / "nightly"))
    monkeypatch.setenv(service.KEY_ENV, str(key_file))
    assert "back_up_lake" in {job.run for job in pipelines.load_schedule().jobs.values()}
    outcome = pipelines.back_up_lake(lake, datetime.now(timezone.utc))
    assert "verified" in outcome
    assert len(backup.Repository(tmp_path / "nightly", backup.load_key(key_file)).manifests()) == 1


def test_the_command_line_backs_up_lists_verifies_and_restores(lake, key_file, tmp_path):
    env = {**os.environ, "CARBON_SESSION_FILE": str(tmp_path / "no-session"), service.KEY_ENV: str(key_file)}

    def carbon(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "carbonlib", "backup", *args, "--lake", str(lake.lake)],
                              capture_output=True, text=True, env=env, timeout=600)

    created = carbon("create", "--no-progress")
    assert created.returncode == 0 and "backup " in created.stdout, created.stderr
    assert (lake.lake.parent / f"{lake.lake.name}-backups" / "config.json").is_file()
    listed = carbon("list", "--json")
    assert listed.returncode == 0 and '"snapshot_id"' in listed.stdout
    assert carbon("verify").returncode == 0
    refused = carbon("restore", "--to", str(lake.lake), "--no-progress")
    assert refused.returncode == 1 and "never merges" in refused.stderr and "Traceback" not in refused.stderr
    restored = carbon("restore", "--to", str(tmp_path / "again"), "--no-progress")
    assert restored.returncode == 0 and "checksum matches" in restored.stdout, restored.stderr


@pytest.fixture
def s3(monkeypatch):
    """A real S3-compatible server (moto in server mode) on a free loopback port, with a bucket ``offsite``."""
    import servers

    with servers.object_store("offsite") as (server, variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        yield server


def test_off_site_copy_on_s3_compatible_storage_restores_and_stays_encrypted(lake, key_file, tmp_path, s3):
    import boto3

    key = backup.load_key(key_file)
    location = "s3://offsite/province/nightly"
    with Lake.open(lake, read_only=True) as opened:
        before = opened.checksums()
    full = backup.create(lake, location, key)
    _add_a_day_of_telemetry(lake)
    incremental = backup.create(lake, location, key)
    assert 0 < incremental.new_bytes < full.new_bytes / 3
    assert backup.verify(location, key).ok
    client = boto3.client("s3")
    stored = client.list_objects_v2(Bucket="offsite", Prefix="province/nightly/objects/")["Contents"]
    assert {item["Key"].rsplit("/", 1)[-1] for item in stored} == set(backup.Repository(location, key).object_names()) and \
        all(b"SQLite format 3" not in client.get_object(Bucket="offsite", Key=item["Key"])["Body"].read()
            for item in stored)  # the catalog and the security store are in there, encrypted
    restored = backup.restore(location, key, tmp_path / "from-s3", full.backup_id)
    with Lake.open(lake_settings(restored.lake), read_only=True) as opened:
        assert opened.checksums(full.snapshot_id) == before


def test_an_unreachable_object_store_is_named_and_no_backup_is_half_written(lake, key_file, s3):
    key = backup.load_key(key_file)
    location = "s3://offsite/province"
    backup.create(lake, location, key)
    s3.stop()
    with pytest.raises(backup.BackupError, match="failed after retries.*AWS_ENDPOINT_URL"):
        backup.create(lake, location, key)
    s3.start()
    assert len(backup.Repository(location, key).manifests()) == 1 and backup.verify(location, key).ok
    with pytest.raises(backup.BackupError, match="refused.*bucket exists"):
        backup.create(lake, "s3://no-such-bucket/x", key)


def test_checksums_move_on_by_the_rows_changed_and_never_across_another_history(lake, key_file, tmp_path):
    """Lake.checksums_since equals a full checksum after an append; a backup of a lake restored from an older backup
    and written differently does not build on the newer backup of the other history (its restore would refuse)."""
    key = backup.load_key(key_file)
    repository = tmp_path / "backups"
    first = backup.create(lake, repository, key)
    _add_a_day_of_telemetry(lake)
    with Lake.open(lake, read_only=True) as opened:
        assert opened.checksums_since(first.checksums, first.snapshot_id) == opened.checksums()
        assert opened.checksums_since(opened.checksums(), opened.snapshot_id()) == opened.checksums()
    backup.create(lake, repository, key)  # history A: snapshot first + 1 has a day of telemetry
    other = backup.restore(repository, key, tmp_path / "other", first.backup_id)
    with Lake.open(lake_settings(other.lake)) as opened:  # history B: the same snapshot number, other rows
        opened.append("carbon_price", opened.read("carbon_price").head(1).assign(
            day=lambda f: (pd.to_datetime(f.day) - pd.Timedelta(days=3650)).dt.date))
    diverged = backup.create(lake_settings(other.lake), repository, key)
    assert diverged.snapshot_id == first.snapshot_id + 1
    assert backup.restore(repository, key, tmp_path / "again", diverged.backup_id).snapshot_id == diverged.snapshot_id
