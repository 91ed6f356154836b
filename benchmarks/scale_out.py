"""The lake on a PostgreSQL catalog with S3-compatible storage against the embedded default (issue 14).

Starts Debian's PostgreSQL and moto's S3-compatible server on loopback (``tests/servers.py``,
as the tests do), builds the same demo lake (``--scale``, default small) on both backends
without accounts, then measures on each:

1. ``build``: the demo build (telemetry written through the validated writer);
2. ``scan``: a monthly per-device/metric roll-up of all telemetry (median of 3);
3. ``accounts``: :func:`carbonlib.accounting.accounts.build_accounts` of every year with data.

Prints JSON: seconds per backend and the ratio PostgreSQL+S3 / embedded.  moto keeps objects in
memory in this process and answers over loopback HTTP: a real object store adds network time.
Run from the repository root: ``.venv/bin/python benchmarks/scale_out.py --scale small``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(ROOT / "tests"))  # the servers the tests start

import servers  # noqa: E402

from carbonlib.accounting import accounts  # noqa: E402
from carbonlib.demo import build_demo  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402

SCAN = ("SELECT device_id, metric, date_trunc('month', ts) AS month, avg(value) AS mean, count(*) AS n "
        "FROM telemetry GROUP BY ALL")


def measure(settings, scale: str) -> dict[str, float]:
    start = time.perf_counter()
    build_demo(settings, scale, progress=False, with_accounts=False)
    figures = {"build": time.perf_counter() - start}
    with Lake.open(settings) as lake:
        scans = []
        for _ in range(3):
            start = time.perf_counter()
            lake.query(SCAN)
            scans.append(time.perf_counter() - start)
        figures["scan"] = statistics.median(scans)
        start = time.perf_counter()
        accounts.build_accounts(lake)
        figures["accounts"] = time.perf_counter() - start
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "medium"], default="small")
    args = parser.parse_args()
    with (tempfile.TemporaryDirectory(prefix="carbon-bench-scale-") as scratch, servers.postgres() as dsn,
          servers.object_store("bench-lake") as (_, variables)):
        os.environ.update(variables)
        embedded = measure(load_settings(lake=Path(scratch) / "embedded"), args.scale)
        remote = measure(load_settings(lake=Path(scratch) / "pg", data_path="s3://bench-lake/data/",
                                       catalog="postgres:" + servers.create_database(dsn, "bench_lake")), args.scale)
    out: dict = {"scale": args.scale}
    for step in embedded:
        out[f"{step}_embedded_s"] = round(embedded[step], 2)
        out[f"{step}_postgres_s3_s"] = round(remote[step], 2)
        out[f"{step}_ratio"] = round(remote[step] / embedded[step], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
