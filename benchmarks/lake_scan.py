"""Lake scan benchmark: monthly per-device/metric telemetry roll-up, four ways.

1. ``carbonlib``  - :func:`carbonlib.accounting.views.telemetry_rollup` on a :class:`carbonlib.lake.Lake`
2. ``duckdb_sql`` - the same query hand-written against the DuckLake catalog
3. ``pandas``     - the lake's Parquet files read with pandas, then ``groupby``
4. ``floor``      - the bare scan, ``SELECT sum(value) FROM telemetry``

Each measurement runs in a fresh process (so peak RSS is its own) after one warm-up run;
the methods are interleaved round by round (A B C D A B C D ...) so that load from other
work on the machine hits them alike, and the median over ``--repeat`` rounds is reported.
Prints one JSON document with seconds, peak RSS MiB and the ratios.

    python benchmarks/lake_scan.py --rows 10000000 [--lake /tmp/bench-lake] [--repeat 3]

Run it on a quiet machine: the figures are wall-clock seconds.

Targets (foundation issue): carbonlib <= 1.1 x hand-written DuckDB, >= 5 x faster than
pandas, <= 1 GiB RSS at 100 M rows.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HAND_SQL = (
    "SELECT device_id, metric, date_trunc('month', ts) AS period, count(*) AS n, sum(value) AS total, "
    "avg(value) AS mean, min(value) AS minimum, max(value) AS maximum, "
    "avg(CASE WHEN qc = 0 THEN 1.0 ELSE 0.0 END) AS good_share FROM lake.telemetry GROUP BY ALL"
)
METHODS = ("carbonlib", "duckdb_sql", "pandas", "floor")


def generate(lake_dir: Path, rows: int) -> None:
    """A lake with ``rows`` telemetry rows: 400 meters, 15-min readings, written month by month."""
    import pandas as pd

    from carbonlib.lake import Lake
    from carbonlib.settings import load_settings

    settings = load_settings(lake=lake_dir)
    with Lake.create(settings) as lake:
        lake.append("org", pd.DataFrame([dict(org_id="P", parent_id=None, level="province", kind="government",
                                              name_zh="省", name_en="Province", region_code="430000", industry=None,
                                              area_ha=None, latitude=None, longitude=None)]))
        devices = 400
        lake.append("device", pd.DataFrame([dict(device_id=f"M{i:04d}", org_id="P", kind="electricity_meter",
                                                 model="X", serial_no=str(i), interval_s=900,
                                                 installed_on=pd.Timestamp("2020-01-01").date()) for i in range(devices)]))
        per_device = rows // devices
        chunk = 96 * 31  # one month of 15-min readings per device
        start = 0
        while start < per_device:
            n = min(chunk, per_device - start)
            lake.con.execute(
                f"INSERT INTO lake.telemetry SELECT printf('M%04d', d), 'electricity_import', "
                f"TIMESTAMP '2020-01-01' + INTERVAL 15 MINUTE * (i + {start}), "
                f"100 + 50 * sin((i + {start}) / 15.0) + d % 7, CASE WHEN (i * 7 + d) % 11 = 0 THEN 1 ELSE 0 END "
                f"FROM range({devices}) t(d), range({n}) s(i)"
            )
            start += n
            print(f"generated {start * devices:,} / {per_device * devices:,} rows", file=sys.stderr)
        lake.set_meta("benchmark_rows", str(per_device * devices))


def run_method(lake_dir: Path, method: str) -> dict:
    """Run one method twice in this process (warm-up, then timed); seconds and peak RSS."""
    from carbonlib.lake import Lake
    from carbonlib.settings import load_settings
    from carbonlib.accounting.views import telemetry_rollup

    lake = Lake.open(load_settings(lake=lake_dir), read_only=True)
    times, shape = [], None
    for _ in range(2):
        t0 = time.perf_counter()
        if method == "carbonlib":
            out = telemetry_rollup(lake, "month")
        elif method == "duckdb_sql":
            out = lake.con.execute(HAND_SQL).df()
        elif method == "floor":
            out = lake.con.execute("SELECT sum(value) FROM lake.telemetry").df()
        elif method == "pandas":
            import pandas as pd

            files = [r[0] for r in lake.con.execute("SELECT data_file FROM ducklake_list_files('lake', 'telemetry')").fetchall()]
            frame = pd.concat([pd.read_parquet(f, columns=["device_id", "metric", "ts", "value", "qc"]) for f in files],
                              ignore_index=True)
            frame["period"] = frame.ts.dt.to_period("M").dt.to_timestamp()
            frame["good"] = (frame.qc == 0).astype(float)
            out = frame.groupby(["device_id", "metric", "period"], observed=True).agg(
                n=("value", "size"), total=("value", "sum"), mean=("value", "mean"), minimum=("value", "min"),
                maximum=("value", "max"), good_share=("good", "mean")).reset_index()
            del frame
        else:
            raise ValueError(method)
        times.append(time.perf_counter() - t0)
        shape = list(out.shape)
    return {"seconds": times[-1], "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "result_shape": shape}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="telemetry rows to generate")
    parser.add_argument("--lake", type=Path, default=Path("/tmp/carbon-bench-lake"), help="benchmark lake folder")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--skip-pandas-above", type=int, default=150_000_000,
                        help="skip pandas above this many rows (it needs ~60 bytes/row of RAM)")
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.method:
        print(json.dumps(run_method(args.lake, args.method)))
        return
    if not (args.lake / "catalog.sqlite").exists():
        generate(args.lake, args.rows)
    methods = [m for m in METHODS if not (m == "pandas" and args.rows > args.skip_pandas_above)]
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for _ in range(args.repeat):
        for method in methods:
            child = subprocess.run([sys.executable, __file__, "--lake", str(args.lake), "--method", method],
                                   capture_output=True, text=True, check=True)
            runs[method].append(json.loads(child.stdout))
    results = {
        m: {"seconds": statistics.median(r["seconds"] for r in rs), "seconds_all": [r["seconds"] for r in rs],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in rs), "result_shape": rs[0]["result_shape"]}
        for m, rs in runs.items()
    }
    c = results["carbonlib"]["seconds"]
    report = {
        "benchmark": "lake_scan monthly roll-up", "rows": args.rows, "results": results,
        "ratio_carbonlib_vs_duckdb_sql": c / results["duckdb_sql"]["seconds"],
        "ratio_carbonlib_vs_floor": c / results["floor"]["seconds"],
    }
    if "pandas" in results:
        report["speedup_carbonlib_vs_pandas"] = results["pandas"]["seconds"] / c
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
