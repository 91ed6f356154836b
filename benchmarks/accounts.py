"""Timing of the accounting service on a demo province lake.

Builds (or reuses, ``--lake``) a demo lake of ``--scale`` small|medium|large (default
medium; building it takes about 40 s on 2 cores, large takes much longer and ~100 M rows,
so build it once with ``carbon demo build --scale large --lake DIR`` and pass ``--lake DIR``),
then measures

1. ``full_build``: :func:`carbonlib.accounting.accounts.build_accounts` for every year with data
   (years, quarters, months, every org; sets the refresh marker);
2. ``annual_compute``: :func:`carbonlib.accounting.accounts.compute_accounts` of the last demo year
   (every org, year + quarters + months), without writing;
3. ``incremental``: :func:`carbonlib.accounting.accounts.refresh_accounts` after appending ONE new day
   of telemetry for every device (the last day's readings shifted by one day).

NOTE: step 3 appends to the lake; point ``--lake`` at a scratch copy.  Prints JSON: seconds
per step, rows, peak RSS (MiB).  Run from the repository root:
``.venv/bin/python benchmarks/accounts.py --scale medium``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib.accounting import accounts  # noqa: E402
from carbonlib.demo import build_demo  # noqa: E402
from carbonlib.demo.province import scale as demo_scale  # noqa: E402
from carbonlib.lake import Lake  # noqa: E402
from carbonlib.settings import load_settings  # noqa: E402


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return round(time.perf_counter() - start, 3), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "medium", "large"], default="medium")
    parser.add_argument("--lake", type=Path, help="lake folder to reuse (built there if absent); default /tmp/carbon-bench-<scale>")
    args = parser.parse_args()
    settings = load_settings(lake=args.lake or Path(f"/tmp/carbon-bench-{args.scale}"))
    out: dict = {"scale": args.scale, "lake": str(settings.lake)}
    if not (Path(settings.lake) / "catalog.sqlite").exists():
        out["demo_build_s"], report = timed(build_demo, settings, args.scale, progress=False, with_accounts=False)
        out["telemetry_rows"] = report.telemetry_rows
    year = demo_scale(args.scale).years[-1]
    with Lake.open(settings) as lake:
        out["telemetry_rows"] = int(lake.query("SELECT count(*) AS n FROM telemetry").n[0])
        out["full_build_s"], written = timed(accounts.build_accounts, lake)
        out["full_build_rows_written"] = written.inserted
        out["annual_compute_s"], rows = timed(accounts.compute_accounts, lake, year)
        out["annual_compute_rows"] = len(rows)
        out["annual_compute_orgs"] = int(rows.org_id.nunique())
        last = lake.query("SELECT max(ts) AS t FROM telemetry").t[0]
        day = lake.query(
            "SELECT device_id, metric, ts + INTERVAL 1 DAY AS ts, value, qc FROM telemetry "
            "WHERE ts > ?::TIMESTAMP - INTERVAL 1 DAY", [last])
        out["new_day_rows"] = len(day)
        out["append_day_s"], _ = timed(lake.append, "telemetry", day, source="benchmark/new-day")
        out["incremental_s"], refreshed = timed(accounts.refresh_accounts, lake)
        out["incremental_org_periods"] = len(refreshed.recomputed)
        out["incremental_rows_written"] = refreshed.rows_written
        out["noop_refresh_s"], _ = timed(accounts.refresh_accounts, lake)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
