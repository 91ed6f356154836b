"""The lake on a PostgreSQL catalog and S3-compatible object storage, through the ordinary settings.

Real servers on loopback, started by fixtures: Debian's PostgreSQL (``postgres_server``) and
moto in server mode as the S3-compatible store, reached by DuckDB's httpfs extension from the
pinned extension package.  The marked subset that runs here: the demo lake built on this
backend holds the same rows as on the embedded default; accounts, an incremental refresh and a
report give the same figures; many writers at once commit without the SQLite lock retries; health
and maintenance work on it; the backup command names pg_dump instead of copying half of it; a PostgreSQL
restart in the middle of a write and a stopped object store lose and double nothing.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from carbonlib.accounting import accounts
from carbonlib.lake import Lake
from carbonlib.ops import health, maintenance
from carbonlib.settings import load_settings
import servers

pytestmark = pytest.mark.slow
BUCKET = "province-lake"
ORG = "E430121-02"


@pytest.fixture(scope="module")
def object_store():
    """moto's S3-compatible server with one bucket; the AWS variables point at it; yields an S3 client."""
    import boto3

    with servers.object_store(BUCKET) as (_, variables), pytest.MonkeyPatch.context() as env:
        for name, value in variables.items():
            env.setenv(name, value)
        yield boto3.client("s3")


@pytest.fixture(scope="module")
def pg_lake(postgres_server, object_store, tmp_path_factory):
    """The small demo lake built on PostgreSQL + S3 (same seed as the embedded ``small_demo_lake``)."""
    from carbonlib.demo import build_demo

    settings = load_settings(lake=tmp_path_factory.mktemp("pg") / "lake", catalog=f"postgres:{servers.create_database(postgres_server, 'carbon_lake')}",
                             data_path=f"s3://{BUCKET}/province/")
    build_demo(settings, "small", progress=False)
    return settings


def test_the_demo_on_postgres_and_s3_holds_the_same_rows_as_on_the_embedded_default(pg_lake, small_demo_lake,
                                                                                     object_store):
    with Lake.open(pg_lake, read_only=True) as on_pg, Lake.open(small_demo_lake, read_only=True) as embedded:
        assert on_pg.settings.catalog_display.startswith("postgres:") and "pg-Secret" not in on_pg.settings.catalog_display
        pg_sums, embedded_sums = on_pg.checksums(), embedded.checksums()
        files = on_pg.referenced_files()
    differ = {t for t in embedded_sums if pg_sums[t] != embedded_sums[t]}
    assert differ <= {"account"}, differ  # account rows record the snapshot they were computed from
    assert pg_sums["telemetry"].split(":")[0] == embedded_sums["telemetry"].split(":")[0] != "0"
    stored = {item["Key"] for page in object_store.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for item in page.get("Contents", [])}
    assert len(files) and all(p.startswith(f"s3://{BUCKET}/province/") for p in files.path)
    assert {p.removeprefix(f"s3://{BUCKET}/") for p in files.path} <= stored
    assert not (Path(pg_lake.lake) / "data").exists()  # nothing went to the local disk


def test_accounts_and_an_incremental_refresh_give_the_same_figures(pg_lake, small_demo_lake):
    def figures(settings):
        with Lake.open(settings, read_only=True) as opened:
            frame = accounts.account_figures(opened, "P43", "2025")
        return frame.set_index("item").value.sort_index()

    pd.testing.assert_series_equal(figures(pg_lake), figures(small_demo_lake), rtol=1e-12)
    with Lake.open(pg_lake) as opened:
        assert accounts.refresh_accounts(opened).reason == "no new data"  # the change feed read from PostgreSQL


def test_a_report_on_postgres_and_s3_has_the_same_figures(pg_lake, small_demo_lake, tmp_path):
    from carbonlib.reporting import reports

    def figures(settings, out):
        with Lake.open(settings, read_only=True) as opened:
            snapshot = reports.data_snapshot(opened)
        batch = reports.run_batch(settings, "annual", "2025", orgs=[ORG], out_dir=out, snapshot=snapshot, workers=1,
                                  progress=False)
        assert batch.records[0].status == "ok", batch.records[0].error
        return (Path(batch.records[0].html_path).parent / "figures.csv").read_bytes(), batch.records[0]

    on_pg, record = figures(pg_lake, tmp_path / "pg")
    embedded, _ = figures(small_demo_lake, tmp_path / "embedded")
    assert on_pg == embedded
    notebook = Path(record.notebook_path).read_text()
    assert "pg-Secret" not in notebook and "postgres:" not in notebook  # the catalog travels in the environment


def _append_rows(settings_json: str, device: str, batches: int) -> int:
    """One writer process: ``batches`` appends of one hour of new readings of ``device``."""
    from carbonlib.settings import load_settings as load

    settings = load(**json.loads(settings_json))
    written = 0
    with Lake.open(settings) as opened:
        last = opened.query(f"SELECT max(ts) AS ts FROM {opened.relation('telemetry')} WHERE device_id = ?", [device]).ts[0]
        hour = opened.read("telemetry", where="device_id = ? AND ts > ?", params=[device, last - pd.Timedelta(hours=1)])
        for k in range(1, batches + 1):
            opened.append("telemetry", hour.assign(ts=hour.ts + pd.Timedelta(days=k)))
            written += len(hour)
    return written


def test_many_writers_at_once_on_the_postgres_catalog(pg_lake):
    with Lake.open(pg_lake, read_only=True) as opened:
        devices = list(opened.query(f"SELECT DISTINCT device_id FROM {opened.relation('telemetry')} "
                                    "ORDER BY device_id LIMIT 4").device_id)
        before = int(opened.query(f"SELECT count(*) AS n FROM {opened.relation('telemetry')}").n[0])
        first_snapshot = opened.snapshot_id()
    assert len(devices) == 4
    arguments = json.dumps({"lake": str(pg_lake.lake), "catalog": pg_lake.catalog, "data_path": pg_lake.data_path})
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        written = pool.starmap(_append_rows, [(arguments, device, 3) for device in devices])
    with Lake.open(pg_lake, read_only=True) as opened:
        after = int(opened.query(f"SELECT count(*) AS n FROM {opened.relation('telemetry')}").n[0])
        assert after == before + sum(written) and all(written)
        assert opened.snapshot_id() == first_snapshot + 12  # every append committed once, none lost or doubled


def test_health_and_maintenance_on_postgres_and_s3(pg_lake):
    report = health.check_health(pg_lake)
    checks = {c.name: c for c in report.checks}
    assert checks["catalog"].status == "ok" and checks["ingest"].status == "ok"
    assert checks["small_files"].figures["data_files"] > 0
    result = maintenance.maintain(pg_lake, keep_days=0, grace_hours=0, dry_run=True)
    assert result.dry_run and result.snapshots_left > 0
    with Lake.open(pg_lake, read_only=True) as opened:
        assert maintenance.pinned_snapshots(opened) >= {opened.snapshot_id()}


def test_the_backup_of_a_postgres_lake_names_pg_dump(pg_lake, tmp_path):
    from carbonlib.ops import backup

    key_file = tmp_path / "key"
    backup.generate_key(key_file)
    with pytest.raises(backup.BackupError, match="pg_dump"):
        backup.create(pg_lake, tmp_path / "backups", backup.load_key(key_file))


def test_a_stopped_object_store_is_named_not_called_damage_and_nothing_is_half_written(tmp_path, monkeypatch):
    """moto stopped under a lake on S3: reading and writing fail naming the object store and the fix (before, a read
    said the lake was damaged and to restore a backup); started again, the lake holds what it held."""
    from carbonlib.lake import StorageUnreachableError

    prices = pd.DataFrame({"market": "CEA", "day": pd.date_range("2020-01-01", periods=1500), "close_cny": 90.0,
                           "volume_t": 1000.0})  # enough rows for a Parquet file (not inlined in the catalog)
    with servers.object_store("lake-down") as (server, variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        endpoint = variables["AWS_ENDPOINT_URL"].removeprefix("http://")
        settings = load_settings(lake=tmp_path / "lake", data_path="s3://lake-down/data/")
        with Lake.create(settings) as lake:
            lake.append("carbon_price", prices)
            before = (lake.checksums(), lake.snapshot_id())
        server.stop()
        try:
            with pytest.raises(StorageUnreachableError, match=rf"object store of s3://lake-down/data/ \({endpoint}\) "
                                                              "does not answer.*not damaged.*Fix: start the object"):
                with Lake.open(settings, read_only=True) as lake:
                    lake.read("carbon_price")
            with pytest.raises(StorageUnreachableError, match="Nothing was written"):
                with Lake.open(settings) as lake:
                    lake.append("carbon_price", prices.assign(market="CCER"))
        finally:
            server.start()
        with Lake.open(settings, read_only=True) as lake:
            assert (lake.checksums(), lake.snapshot_id()) == before


def test_a_postgres_restart_during_a_write_is_survived_once_and_a_stopped_one_is_named(tmp_path, monkeypatch):
    """PostgreSQL restarted between a write's data files and its COMMIT (the commit is cut off): the write attaches
    the catalog anew and is done again, and its rows are in the lake once. A stopped server: the write waits the lock
    timeout, then names the catalog and the fix, with nothing written; reads and opens say the same at once (before,
    the write's error told the user to `carbon lake init`, and the Lake object stayed closed after the server was
    back). Started again, the same Lake object reads and writes."""
    from carbonlib.lake import CatalogUnreachableError, NotALakeError, writer
    from carbonlib.lake.transaction import transaction

    prices = pd.DataFrame({"market": "CEA", "day": pd.date_range("2020-01-01", periods=1500), "close_cny": 90.0,
                           "volume_t": 1000.0})
    with servers.postgres_server() as server:
        settings = dataclasses.replace(
            load_settings(lake=tmp_path / "lake", catalog=f"postgres:{servers.create_database(server.dsn, 'cut')}"),
            lock_timeout_s=3)
        restarts = []

        @contextmanager
        def restart_before_commit(con):
            with transaction(con):
                yield
                if not restarts:  # the first attempt only: the data files are written, the commit is not
                    server.restart()
                    restarts.append(True)

        with Lake.create(settings) as lake:
            lake.append("carbon_price", prices)
            before = lake.snapshot_id()
            monkeypatch.setattr(writer, "transaction", restart_before_commit)
            result = lake.append("carbon_price", prices.assign(market="HBEA"))
            monkeypatch.undo()
            assert restarts and result.inserted == 1500 and result.retried
            assert lake.snapshot_id() == before + 1  # one commit, not two
            counts = lake.query(f"SELECT market, count(*) AS n FROM {lake.relation('carbon_price')} GROUP BY market")
            assert dict(zip(counts.market, counts.n)) == {"CEA": 1500, "HBEA": 1500}

            server.stop()
            try:
                with pytest.raises(CatalogUnreachableError, match=r"\(PostgreSQL\) did not answer for 3 s \(Connection "
                                                                   r"refused\)\. Nothing was written.*Fix: start PostgreSQL"):
                    lake.append("carbon_price", prices.assign(market="GDEA"))
                with pytest.raises(CatalogUnreachableError, match=r"did not answer \(Connection refused\)\. The lake is "
                                                                   "not damaged"):
                    lake.query(f"SELECT count(*) FROM {lake.relation('carbon_price')}")
                with pytest.raises(CatalogUnreachableError, match="Fix: start PostgreSQL"):
                    Lake.open(settings, read_only=True)
            finally:
                server.start()
            lake.require_intact()  # every method of the same Lake attaches the catalog again
            lake.append("carbon_price", prices.assign(market="GDEA"))
            assert lake.snapshot_id() == before + 2
            assert lake.verify().problems.empty  # the files of the write done again have their checksums
        with Lake.open(settings, read_only=True) as reopened:
            counts = reopened.query(f"SELECT market, count(*) AS n FROM {reopened.relation('carbon_price')} "
                                    "GROUP BY market")
            assert dict(zip(counts.market, counts.n)) == {"CEA": 1500, "HBEA": 1500, "GDEA": 1500}
        # a server that answers but refuses (no such database) is a setting to fix, not an outage to wait for
        wrong = dataclasses.replace(settings, catalog=settings.catalog.replace("dbname=cut", "dbname=nosuchdb"))
        with pytest.raises(NotALakeError, match="nosuchdb.*does not exist"):
            Lake.open(wrong, read_only=True)
