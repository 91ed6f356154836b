"""Timing of carbonlib.flux on one site-year (DE-Tha 1998, 17,520 half-hours).

Prints JSON: seconds for MDS gap filling of NEE (first call including numba
JIT compilation or cache loading, then the best of several warm calls, by
default with an SD for every record and with ``fill_all=False``), for the
u* threshold estimate, the u* bootstrap (100 samples, REddyProc ``sEstimateUstarScenarios``)
and the annual NEE under each u* scenario, for night-time partitioning and for daytime partitioning
(Lasslop et al. 2010, with its default 30 bootstrap refits per window for the parameter SDs, and
without them), with both methods' annual GPP and Reco (gC m-2) side by side.

In the same run it times hesseflux's MDS (``hesseflux.gapfill``, the Python
reference of Cuntz's FR-Hes processing; ``pip install .[bench]``) on the same
data with the same settings: tolerances 50 W m-2, 2.5 degC and 5 hPa (both
packages' defaults), records with ``qcNEE > 1`` and missing values treated as
gaps, gaps longer than 60 days left alone. Two figures:

* gaps only: ``hesseflux.gapfill(...)`` vs ``gapfill_mds(fill_all=False)``;
* every record with an SD (our default, ``fill_all=True``): hesseflux needs
  two calls for what one call of ours returns, ``gapfill(...)`` for the filled
  gaps and ``gapfill(..., err=True, errmean=True)`` for the SD (and mean) of
  every record. ``hesseflux_over_ours_default`` compares their sum with our
  default call; ``hesseflux_err_only_over_ours_default`` compares the ``err``
  call alone, which only does the first two look-up steps.

A sanity check compares the filled values on the gaps. They cannot agree
everywhere: hesseflux's windows reach +-335 half-hours around a gap where
REddyProc's (and ours) reach +-336 (7 days), its mean diurnal course steps
differ from REddyProc's, and its Rg-only look-up asks the donors for all three
drivers. The check therefore also recomputes the +-7-day look-up (Rg, VPD,
Tair) with hesseflux's windows for the gaps we fill by it: those must agree
with hesseflux, which shows that the two do the same work.

hesseflux 5.0 predates pandas 3, whose copy-on-write hands out read-only
arrays that hesseflux writes its results into; during its calls
``pandas.Series.to_numpy`` returns writable copies (it writes its results back
into its frames itself, so the outcome is the one pandas 2 gives; the copies
of a few columns cost well under a millisecond).

Run from the repository root: ``.venv/bin/python benchmarks/flux_mds.py``
(``--hesseflux-repeats 1`` for a quicker run, ``--no-hesseflux`` to skip it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package

from carbonlib import flux as fx  # noqa: E402

DATA = ROOT / "tests" / "data" / "DE-Tha_1998_hh.tsv"
WARM_REPEATS = 20
BOOTSTRAP_SAMPLES = 100
QC_MAX = 1  # qcNEE: 1 good, 2 bad
UNDEF = -9999.0  # hesseflux's missing value (it cannot work with NaN)
AGREE = 1e-6
#: hesseflux's first look-up windows reach i - 335 .. i + 335 (one week of half-hours:
#: ``j - np.arange(1, week + 1) + 1`` and ``j + np.arange(1, week)``), then +-671 (two weeks).
HESSEFLUX_LUT_REACH = (7 * 48 - 1, 14 * 48 - 1)


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


def best_of(repeats: int, func, *args, **kwargs) -> tuple[float, object]:
    """Shortest of ``repeats`` timed calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        took, result = seconds(func, *args, **kwargs)
        times.append(took)
    return min(times), result


@contextlib.contextmanager
def writable_pandas_arrays():
    """``Series.to_numpy`` returns a writable copy (hesseflux 5.0 writes into them; see the module docstring)."""
    original = pd.Series.to_numpy

    def to_numpy(self, *args, **kwargs):
        return np.array(original(self, *args, **kwargs))

    pd.Series.to_numpy = to_numpy
    try:
        yield
    finally:
        pd.Series.to_numpy = original


def hesseflux_inputs(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """hesseflux's frame (FC, SW_IN, TA, VPD; missing = -9999) and flags (non-zero = not to be used)."""
    frame = df[["NEE", "Rg", "Tair", "VPD"]].rename(columns={"NEE": "FC", "Rg": "SW_IN", "Tair": "TA"})
    flag = frame.isna().astype(int)
    flag.loc[(df["qcNEE"] > QC_MAX).to_numpy(), "FC"] = 2
    return frame.fillna(UNDEF), flag


def first_lut_hesseflux_windows(df: pd.DataFrame, records: np.ndarray) -> np.ndarray:
    """hesseflux's first look-up (Rg, VPD, Tair) at ``records`` written out in numpy; NaN below two donors.

    REddyProc's rule (|dRg| < Rg clamped to [20, 50], |dVPD| < 5, |dTair| < 2.5, strict) over
    hesseflux's windows, +-335 records and then +-671: the same computation as our first
    step but for the window, to show where the filled values differ and why.
    """
    y = df["NEE"].to_numpy(dtype=float, copy=True)
    y[df["qcNEE"].to_numpy() > QC_MAX] = np.nan
    rg, vpd, tair = (df[name].to_numpy(dtype=float) for name in ("Rg", "VPD", "Tair"))
    out = np.full(records.size, np.nan)
    for n, i in enumerate(records):
        for reach in HESSEFLUX_LUT_REACH:
            window = slice(max(0, i - reach), i + reach + 1)
            similar = (~np.isnan(y[window])
                       & (np.abs(rg[window] - rg[i]) < max(20.0, min(rg[i], 50.0)))
                       & (np.abs(vpd[window] - vpd[i]) < 5.0)
                       & (np.abs(tair[window] - tair[i]) < 2.5))
            if similar.sum() >= 2:
                out[n] = y[window][similar].mean()
                break
    return out


def compare_with_hesseflux(df: pd.DataFrame, repeats: int, ours_default: pd.DataFrame) -> dict:
    """Time hesseflux on the same data; compare its filled gaps and SDs with ours."""
    try:
        import hesseflux
    except ImportError:
        return {"hesseflux": "not installed: pip install .[bench]"}
    frame, flag = hesseflux_inputs(df)
    with writable_pandas_arrays():
        gaps_s, (filled, _) = best_of(repeats, hesseflux.gapfill, frame, flag=flag, undef=UNDEF)
        err_s, (sd, _) = best_of(repeats, hesseflux.gapfill, frame, flag=flag, undef=UNDEF,
                                 err=True, errmean=True)

    is_gap = df["NEE"].isna().to_numpy() | (df["qcNEE"].to_numpy() > QC_MAX)
    theirs = filled["FC"].to_numpy()[is_gap]
    theirs = np.where(theirs == UNDEF, np.nan, theirs)
    ours = ours_default["NEE_f"].to_numpy()[is_gap]
    both = ~np.isnan(theirs) & ~np.isnan(ours)
    diff = np.abs(theirs - ours)
    agree = (diff <= AGREE) | (np.isnan(theirs) & np.isnan(ours))

    # The gaps we fill from the +-7-day look-up (Rg, VPD, Tair): recomputed with hesseflux's window.
    lut7 = (ours_default["NEE_fmeth"].to_numpy() == 1) & (ours_default["NEE_fwin"].to_numpy() == 14)
    lut7_gaps = np.flatnonzero(is_gap & lut7)
    recomputed = first_lut_hesseflux_windows(df, lut7_gaps)
    at_lut7 = np.isin(np.flatnonzero(is_gap), lut7_gaps)

    # hesseflux's err=True: the SD of the +-7 (else +-14) day look-up for every record it finds donors for.
    sd_theirs = sd["FC"].to_numpy()
    first_steps = (ours_default["NEE_fmeth"].to_numpy() == 1) & (ours_default["NEE_fwin"].to_numpy() <= 28)
    with_sd = (sd_theirs != UNDEF) & first_steps
    sd_diff = np.abs(sd_theirs[with_sd] - ours_default["NEE_fsd"].to_numpy()[with_sd])
    return {
        "hesseflux": {
            "version": metadata.version("hesseflux"),
            "repeats": repeats,
            "gaps_only_s": round(gaps_s, 3),
            "err_every_record_s": round(err_s, 3),
            "every_record_with_sd_s": round(gaps_s + err_s, 3),
        },
        "sanity_check": {
            "gaps": int(is_gap.sum()),
            "gaps_filled_by_both": int(both.sum()),
            "gap_fill_max_abs_diff": round(float(diff[both].max()), 6),
            "gap_fill_share_within_1e-6": round(float(agree.mean()), 4),
            "gaps_lut7_ours": int(lut7_gaps.size),
            "gaps_lut7_share_within_1e-6_of_ours": round(float(agree[at_lut7].mean()), 4),
            "gaps_lut7_share_within_1e-6_recomputed_with_hesseflux_windows":
                round(float((np.abs(recomputed - theirs[at_lut7]) <= AGREE).mean()), 4),
            "sd_records_compared": int(with_sd.sum()),
            "sd_share_within_1e-6": round(float((sd_diff <= AGREE).mean()), 4),
        },
        "_gaps_s": gaps_s,
        "_every_record_s": gaps_s + err_s,
        "_err_s": err_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hesseflux-repeats", type=int, default=2, help="best of this many hesseflux runs")
    parser.add_argument("--no-hesseflux", action="store_true", help="do not time hesseflux")
    args = parser.parse_args()

    df = load_de_tha()
    first, _ = seconds(fx.gapfill_mds, df, qc="qcNEE", qc_max=QC_MAX)
    warm, ours_default = best_of(WARM_REPEATS, fx.gapfill_mds, df, qc="qcNEE", qc_max=QC_MAX)
    warm_gaps, _ = best_of(WARM_REPEATS, fx.gapfill_mds, df, qc="qcNEE", qc_max=QC_MAX, fill_all=False)
    ustar_s, ustar = seconds(fx.ustar_threshold, df)
    filled = fx.gapfill_mds(fx.filter_ustar(df, ustar), qc="qcNEE", qc_max=QC_MAX)
    filled = fx.gapfill_mds(filled, "Tair")
    partition_s, _ = seconds(fx.partition_nighttime, filled, tair="Tair_f", tair_qc="Tair_fqc")
    filled = fx.gapfill_mds(filled, "VPD")
    daytime_s, _ = seconds(fx.partition_daytime, filled)
    daytime_no_boot_s, _ = seconds(fx.partition_daytime, filled, n_boot=0)
    both = fx.compare_partitioning(filled, tair_qc="Tair_fqc")
    bootstrap_s, scenarios = seconds(fx.ustar_scenarios, df, n_samples=BOOTSTRAP_SAMPLES)
    scenario_nee_s, _ = seconds(fx.nee_under_ustar_scenarios, df, scenarios)
    report = {
        "site_year": "DE-Tha 1998",
        "records": len(df),
        "gapfill_mds_first_call_s": round(first, 4),
        "gapfill_mds_warm_s": round(warm, 4),
        "gapfill_mds_gaps_only_warm_s": round(warm_gaps, 4),
        "ustar_threshold_s": round(ustar_s, 4),
        "partition_nighttime_s": round(partition_s, 4),
        "partition_daytime_s": round(daytime_s, 3),
        "partition_daytime_without_bootstrap_s": round(daytime_no_boot_s, 3),
        "daytime_over_one_mds_ratio": round(daytime_s / warm, 1),
        "partitioning_gc_m2": {method: {"GPP": round(row.GPP_gC_m2, 1), "Reco": round(row.Reco_gC_m2, 1)}
                               for method, row in both.iterrows()},
        f"ustar_bootstrap_{BOOTSTRAP_SAMPLES}_samples_s": round(bootstrap_s, 3),
        "nee_under_4_ustar_scenarios_s": round(scenario_nee_s, 3),
        "bootstrap_over_one_mds_ratio": round(bootstrap_s / warm, 1),
    }
    if args.no_hesseflux:
        report["hesseflux"] = "skipped (--no-hesseflux)"
    else:
        compared = compare_with_hesseflux(df, max(1, args.hesseflux_repeats), ours_default)
        if "_gaps_s" in compared:
            report["hesseflux_over_ours_default"] = round(compared.pop("_every_record_s") / warm, 1)
            report["hesseflux_over_ours_gaps_only"] = round(compared.pop("_gaps_s") / warm_gaps, 1)
            report["hesseflux_err_only_over_ours_default"] = round(compared.pop("_err_s") / warm, 1)
        report.update(compared)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
