"""Report batches on a Dask cluster: a real ``dask scheduler`` and ``dask worker`` processes on loopback.

The reports made on the cluster have the same figures as those made locally; a worker killed
in the middle of a batch has its reports run again on the other worker, and every org still
ends with exactly one run, one set of outputs and one ``report_run`` row.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonlib.cli import app
from carbonlib.lake import Lake
from conftest import copy_lake

pytestmark = pytest.mark.slow
DASK = str(Path(sys.executable).with_name("dask"))
ORGS = ["E430121-02", "E430181-01", "E430121-03", "S430121-01"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers, each its own process; yields (address, worker processes)."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [_start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                        tmp_path / "scheduler.log")]
    workers = [_start([DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                       "--host", "127.0.0.1", "--name", f"w{n}"], tmp_path / f"worker{n}.log") for n in (1, 2)]
    processes += workers
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def lake(small_demo_lake, tmp_path):
    return copy_lake(small_demo_lake, tmp_path / "lake")


def _figures(batch) -> dict[str, bytes]:
    return {r.org_id: (Path(r.html_path).parent / "figures.csv").read_bytes() for r in batch.records}


def test_a_report_batch_on_a_dask_cluster_survives_a_killed_worker(lake, cluster, tmp_path):
    from carbonlib.reporting import reports

    address, workers = cluster
    with Lake.open(lake, read_only=True) as opened:
        snapshot = reports.data_snapshot(opened)
        runs_before = len(opened.read("report_run"))
    local = reports.run_batch(lake, "annual", "2025", orgs=ORGS[:2], out_dir=tmp_path / "local", snapshot=snapshot,
                              workers=2, progress=False)

    out = tmp_path / "cluster"
    # kill one worker once the first report of the batch is under way
    import threading

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not any((out / "annual" / "2025").glob("*/report.ipynb")):
            time.sleep(0.2)
        os.killpg(workers[0].pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    batch = reports.run_batch(lake, "annual", "2025", orgs=ORGS, out_dir=out, snapshot=snapshot, cluster=address,
                              progress=False)
    killer.join(timeout=5)
    assert workers[0].poll() is not None  # the worker was killed during the batch
    assert sorted(r.org_id for r in batch.records) == sorted(ORGS) and all(r.status == "ok" for r in batch.records)
    cluster_figures = _figures(batch)
    assert {org: cluster_figures[org] for org in ORGS[:2]} == _figures(local)  # the same figures as made locally
    for org in ORGS:  # one set of outputs per org
        assert sorted(p.name for p in (out / "annual" / "2025" / org).glob("report*")) == \
            ["report.html", "report.ipynb"]
    with Lake.open(lake, read_only=True) as opened:
        runs = opened.read("report_run")
    assert len(runs) == runs_before + 2 + len(ORGS)  # one row per run: none doubled by the rerun
    manifest = json.loads(batch.manifest_path.read_text())
    assert manifest["cluster"] == address and manifest["counts"]["ok"] == len(ORGS)


def test_the_command_line_runs_reports_on_the_cluster(lake, cluster, tmp_path):
    address, _ = cluster
    result = CliRunner().invoke(app, ["reports", "run", "--kind", "annual", "--period", "2025", "--org", ORGS[0],
                                      "--lake", str(lake.lake), "--out", str(tmp_path / "r"), "--cluster", address,
                                      "--no-progress"], env={"CARBON_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "annual" / "2025" / ORGS[0] / "figures.csv").is_file()


def test_the_accounts_of_each_year_are_computed_on_the_cluster_as_locally(lake, cluster):
    from distributed import Client, get_task_stream

    from carbonlib.accounting import accounts

    address, _ = cluster
    figures = "SELECT org_id, period, item, value, basis FROM lake.account WHERE method_version = ? ORDER BY ALL"
    with Lake.open(lake) as opened:
        local = opened.query(figures, [accounts.METHOD_VERSION])  # built locally by the demo
        opened._con.execute("DELETE FROM lake.account")  # start from nothing: every figure must come back
        with Client(address, timeout="60s") as client, get_task_stream(client) as stream:
            written = accounts.build_accounts(opened, cluster=client)
        rebuilt = opened.query(figures, [accounts.METHOD_VERSION])
    assert written.inserted == len(local) > 0
    pd.testing.assert_frame_equal(rebuilt, local)
    assert {t["key"].rsplit("-", 2)[0] for t in stream.data} == {f"carbon-accounts-{y}" for y in
                                                               sorted(set(local.period.str[:4]))}
    result = CliRunner().invoke(app, ["accounts", "build", "--lake", str(lake.lake), "--cluster", address],
                                env={"CARBON_LANG": "en"})
    assert result.exit_code == 0, result.output
    assert ": 0 figures written" in result.output  # nothing changed since: the cluster computes the same
