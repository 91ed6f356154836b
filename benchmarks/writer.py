"""Writer benchmark: validated telemetry appends through ``Lake.append`` against a bare INSERT.

Two ways of putting the same ``--rows`` telemetry rows (400 meters, 15-minute readings,
batches of ``--batch-rows``) into a new lake:

1. ``carbonlib`` - :meth:`carbonlib.lake.Lake.append` (every check of the schema, the
   plausibility rules, duplicate and conflict look-up, one transaction per batch)
2. ``raw_insert`` - ``INSERT INTO lake.telemetry SELECT * FROM batch`` on the same
   connection, one transaction per batch: no validation at all, the floor

Each measurement runs in a fresh process on a fresh lake (so peak RSS is its own); the
methods are interleaved round by round and the median over ``--repeat`` rounds is
reported with rows/s, peak RSS MiB and the ratio carbonlib / raw_insert.  Prints one JSON
document.

    python benchmarks/writer.py --rows 10000000 [--batch-rows 1000000] [--repeat 3]

The hardening issue allows the validated writer to lose at most 10 % of its throughput:
compare the ``carbonlib.rows_per_s`` (and the ratio, which cancels machine speed) of two
commits measured on the same machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METHODS = ("carbonlib", "raw_insert")
DEVICES = 400
START = "2024-01-01"


def _setup(lake_dir: Path):
    import pandas as pd

    from carbonlib.lake import Lake
    from carbonlib.settings import load_settings

    lake = Lake.create(load_settings(lake=lake_dir))
    lake.append("org", pd.DataFrame([dict(org_id="P43", parent_id=None, level="province", kind="government",
                                          name_zh="湖南省", name_en="Hunan", region_code="430000", industry=None,
                                          area_ha=None, latitude=None, longitude=None)]))
    lake.append("device", pd.DataFrame([dict(device_id=f"M{i:04d}", org_id="P43", kind="electricity_meter",
                                             model="X", serial_no=str(i), interval_s=900,
                                             installed_on=pd.Timestamp("2023-01-01").date()) for i in range(DEVICES)]))
    return lake


def _batch(first_step: int, steps: int):
    """``steps`` 15-minute readings of every device, starting ``first_step`` steps after START (pyarrow)."""
    import numpy as np
    import pyarrow as pa

    step = np.arange(first_step, first_step + steps, dtype=np.int64)
    ts = np.datetime64(START, "us") + np.repeat(step, DEVICES) * np.timedelta64(900_000_000, "us")
    device = np.tile(np.arange(DEVICES), steps)
    ids = np.array([f"M{i:04d}" for i in range(DEVICES)], dtype=object)[device]
    value = 100 + 50 * np.sin(np.repeat(step, DEVICES) / 15.0) + device % 7
    qc = ((np.repeat(step, DEVICES) * 7 + device) % 11 == 0).astype(np.uint8)
    return pa.table({"device_id": pa.array(ids, pa.string()), "metric": pa.array(["electricity_import"] * len(ts)),
                     "ts": pa.array(ts), "value": pa.array(np.round(value, 3)), "qc": pa.array(qc)})


def run_method(method: str, rows: int, batch_rows: int) -> dict:
    """Write ``rows`` rows with ``method`` into a new lake; seconds of the writes and peak RSS."""
    from carbonlib.lake import CATALOG

    steps_per_batch = max(1, batch_rows // DEVICES)
    total_steps = rows // DEVICES
    folder = Path(tempfile.mkdtemp(prefix="carbon-writer-bench-"))
    try:
        lake = _setup(folder / "lake")
        seconds, written, step = 0.0, 0, 0
        while step < total_steps:
            batch = _batch(step, min(steps_per_batch, total_steps - step))
            t0 = time.perf_counter()
            if method == "carbonlib":
                written += lake.append("telemetry", batch, source="benchmark").inserted
            else:
                # the floor bypasses the writer on purpose: the lake's private connection (``con`` before 0.2)
                con = (lake._con if hasattr(lake, "_con") else lake.con).cursor()
                con.register("bench_batch", batch)
                con.execute("BEGIN TRANSACTION")
                written += con.execute(f"INSERT INTO {CATALOG}.telemetry SELECT * FROM bench_batch").fetchone()[0]
                con.execute("COMMIT")
                con.close()
            seconds += time.perf_counter() - t0
            step += steps_per_batch
        lake.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "rows": written, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run_method(args.method, args.rows, args.batch_rows)))
        return
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for round_ in range(args.repeat):
        for method in METHODS:
            out = subprocess.run([sys.executable, __file__, "--method", method, "--rows", str(args.rows),
                                  "--batch-rows", str(args.batch_rows)], check=True, capture_output=True, text=True)
            runs[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}/{args.repeat} {method}: {runs[method][-1]['seconds']:.2f} s", file=sys.stderr)
    result = {"rows": args.rows, "batch_rows": args.batch_rows, "repeat": args.repeat}
    for method, measured in runs.items():
        seconds = statistics.median(r["seconds"] for r in measured)
        result[method] = {"seconds": round(seconds, 3), "rows_per_s": round(args.rows / seconds),
                          "peak_rss_mib": round(max(r["peak_rss_mib"] for r in measured), 1),
                          "rows_written": measured[0]["rows"], "all_seconds": [round(r["seconds"], 3) for r in measured]}
    result["ratio_carbonlib_to_raw_insert"] = round(result["carbonlib"]["seconds"] / result["raw_insert"]["seconds"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
