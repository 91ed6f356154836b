"""Timing of report batches on a demo province lake (issue 14: seconds per report, warm kernels, Dask).

On ``--lake`` (default: the small demo, built in a scratch folder when absent), for the first
``--orgs`` orgs of the annual batch:

1. ``cold``: each report in a kernel of its own (the baseline: how batches ran before), ``--workers`` at once;
2. ``warm``: :func:`carbonlib.reporting.reports.run_batch` as it runs now: each worker thread keeps one
   kernel up and runs its share of the reports in it;
3. ``dask``: the same batch as tasks of a local Dask cluster of ``--workers`` single-threaded worker
   processes (one kernel per report on the workers).

Prints JSON: seconds per batch and per report, ratios to the cold baseline measured in the same
run.  Run from the repository root: ``.venv/bin/python benchmarks/reports.py --orgs 20``; the target of
100 reports in 2 minutes: ``--lake LARGE_DEMO --orgs 100 --modes warm``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib.demo import build_demo  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.reporting import reports  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402


def cold_batch(settings, orgs: list[str], snapshot: int, out: Path, workers: int) -> float:
    """The baseline: every report starts its own kernel (what run_batch did before warm kernels)."""
    notebook = reports.NOTEBOOKS["annual"].resolve()
    source = reports.source_sha256(notebook, "zh")
    start = time.perf_counter()
    with (reports.kernels_read(settings), tempfile.TemporaryDirectory(prefix="carbon-kernels-") as sockets,
          ThreadPoolExecutor(max_workers=workers) as pool):
        records = list(pool.map(lambda org: reports._run_one(
            notebook=notebook, kind="annual", org_id=org, period="2025", snapshot=snapshot, source=source,
            lake_dir=str(Path(settings.lake).resolve()), lang="zh", run_dir=out / org, force=True, chromium=None,
            sockets=sockets, prepared_by=None, preparer=None), orgs))
    assert all(r.status == "ok" for r in records), [r.error for r in records if r.error]
    return time.perf_counter() - start


def timed_batch(settings, orgs, snapshot, out, workers, cluster=None) -> float:
    start = time.perf_counter()
    batch = reports.run_batch(settings, "annual", "2025", orgs=orgs, out_dir=out, snapshot=snapshot, workers=workers,
                              force=True, progress=False, cluster=cluster)
    assert not batch.failed, [r.error for r in batch.failed]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, default=Path("/tmp/carbon-bench-small"))
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="cold,warm,dask",
                        help="which batches to time, comma-separated (e.g. 'warm' for 100 reports on the large demo)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"cold", "warm", "dask"}
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; choose from cold, warm, dask")
    settings = load_settings(lake=args.lake)
    if not (args.lake / "catalog.sqlite").exists():
        build_demo(settings, "small", progress=False)
    with Lake.open(settings, read_only=True) as lake:
        snapshot = reports.data_snapshot(lake)
        orgs = reports.default_orgs(lake, "annual", snapshot, "2025")[:args.orgs]
    out: dict = {"lake": str(args.lake), "reports": len(orgs), "workers": args.workers}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="carbon-bench-reports-") as scratch:
        folder = Path(scratch)
        if "cold" in modes:
            seconds["cold"] = cold_batch(settings, orgs, snapshot, folder / "cold", args.workers)
        if "warm" in modes:
            seconds["warm"] = timed_batch(settings, orgs, snapshot, folder / "warm", args.workers)
        if "dask" in modes:
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                seconds["dask"] = timed_batch(settings, orgs, snapshot, folder / "dask", args.workers, cluster=client)
    for name, taken in seconds.items():
        out[f"{name}_batch_s"] = round(taken, 1)
        out[f"{name}_s_per_report"] = round(taken / len(orgs), 2)
    if {"warm", "cold"} <= seconds.keys():
        out["warm_to_cold"] = round(seconds["warm"] / seconds["cold"], 2)
    if {"warm", "dask"} <= seconds.keys():
        out["dask_to_warm"] = round(seconds["dask"] / seconds["warm"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
