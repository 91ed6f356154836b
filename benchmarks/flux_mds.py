"""Timing of carbonlib.flux on one site-year (DE-Tha 1998, 17,520 half-hours).

Prints JSON: seconds for MDS gap filling of NEE (first call including numba
JIT compilation or cache loading, then the best of several warm calls), for the
u* threshold estimate, the u* bootstrap (100 samples, REddyProc ``sEstimateUstarScenarios``)
and the annual NEE under each u* scenario, and for night-time partitioning.

Run from the repository root: ``.venv/bin/python benchmarks/flux_mds.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib import flux as fx  # noqa: E402

DATA = ROOT / "tests" / "data" / "DE-Tha_1998_hh.tsv"
WARM_REPEATS = 5
BOOTSTRAP_SAMPLES = 100


def load_de_tha() -> pd.DataFrame:
    """DE-Tha 1998 indexed by half-hour midpoints (``Hour`` is the end of the half-hour)."""
    df = pd.read_csv(DATA, sep="\t", skiprows=[1], na_values=[-9999])
    df.index = pd.DatetimeIndex(
        pd.Timestamp("1998-01-01")
        + pd.to_timedelta(df["Day"] - 1, unit="D")
        + pd.to_timedelta(df["Hour"], unit="h")
        - pd.Timedelta(minutes=15)
    )
    return df


def seconds(func, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    df = load_de_tha()
    first, _ = seconds(fx.gapfill_mds, df, qc="qcNEE", qc_max=1)
    warm = min(seconds(fx.gapfill_mds, df, qc="qcNEE", qc_max=1)[0] for _ in range(WARM_REPEATS))
    ustar_s, ustar = seconds(fx.ustar_threshold, df)
    filled = fx.gapfill_mds(fx.filter_ustar(df, ustar), qc="qcNEE", qc_max=1)
    filled = fx.gapfill_mds(filled, "Tair")
    partition_s, _ = seconds(fx.partition_nighttime, filled, tair="Tair_f", tair_qc="Tair_fqc")
    bootstrap_s, scenarios = seconds(fx.ustar_scenarios, df, n_samples=BOOTSTRAP_SAMPLES)
    scenario_nee_s, _ = seconds(fx.nee_under_ustar_scenarios, df, scenarios)
    print(json.dumps({
        "site_year": "DE-Tha 1998",
        "records": len(df),
        "gapfill_mds_first_call_s": round(first, 4),
        "gapfill_mds_warm_s": round(warm, 4),
        "ustar_threshold_s": round(ustar_s, 4),
        "partition_nighttime_s": round(partition_s, 4),
        f"ustar_bootstrap_{BOOTSTRAP_SAMPLES}_samples_s": round(bootstrap_s, 3),
        "nee_under_4_ustar_scenarios_s": round(scenario_nee_s, 3),
        "bootstrap_over_one_mds_ratio": round(bootstrap_s / warm, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
