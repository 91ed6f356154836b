"""Tests of carbonlib.flux (u* filter, MDS gap filling, night-time partitioning).

Expected numbers come either from REddyProc's own regression tests
(github.com/bgctw/REddyProc, tests/testthat/test_gapfilling.R and
tests/testthat/test_UStarFilter.R) run on the same DE-Tha 1998 example data,
or from arithmetic shown next to the assertion.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonlib import flux as fx
from carbonlib import sinks, units

DATA = Path(__file__).parent / "data" / "DE-Tha_1998_hh.tsv"
HALF_HOURS_PER_DAY = 48


def load_de_tha(path: Path = DATA) -> pd.DataFrame:
    """Read the DE-Tha 1998 half-hourly file into a frame indexed by half-hour midpoints.

    Row 2 holds units and is skipped; -9999 marks missing values. ``Hour``
    (0.5 ... 24) is the END of the half-hour, so the midpoint is
    1998-01-01 + (Day - 1) days + Hour hours - 15 minutes.
    """
    df = pd.read_csv(path, sep="\t", skiprows=[1], na_values=[-9999])
    midpoint = (
        pd.Timestamp("1998-01-01")
        + pd.to_timedelta(df["Day"] - 1, unit="D")
        + pd.to_timedelta(df["Hour"], unit="h")
        - pd.Timedelta(minutes=15)
    )
    df.index = pd.DatetimeIndex(midpoint)
    return df


@pytest.fixture(scope="module")
def de_tha() -> pd.DataFrame:
    return load_de_tha()


@pytest.fixture(scope="module")
def de_tha_pipeline(de_tha):
    """u* threshold -> u* filter -> MDS of NEE and Tair -> night-time partitioning."""
    ustar = fx.ustar_threshold(de_tha)
    filtered = fx.filter_ustar(de_tha, ustar)
    filled = fx.gapfill_mds(filtered, qc="qcNEE", qc_max=1)
    filled = fx.gapfill_mds(filled, "Tair")
    parts = fx.partition_nighttime(filled, tair="Tair_f", tair_qc="Tair_fqc")
    return ustar, filled, parts


def synthetic_frame(n_days: int, **columns) -> pd.DataFrame:
    """Half-hourly frame starting 2000-01-01 00:15 with constant default drivers."""
    n = n_days * HALF_HOURS_PER_DAY
    index = pd.date_range("2000-01-01 00:15", periods=n, freq="30min")
    data = {"NEE": np.full(n, np.nan), "Rg": np.zeros(n), "Tair": np.full(n, 10.0),
            "VPD": np.full(n, 1.0)}
    data.update(columns)
    return pd.DataFrame(data, index=index)


# --- data loader ---------------------------------------------------------------


def test_loader_reads_full_year_with_midpoints(de_tha):
    assert len(de_tha) == 17520  # 365 days * 48 half-hours
    assert de_tha.index[0] == pd.Timestamp("1998-01-01 00:15")
    assert de_tha.index[-1] == pd.Timestamp("1998-12-31 23:45")
    # first data row of the file: 1  0.5  -1.21 ...; third row has NEE -9999, qcNEE 2
    assert de_tha["NEE"].iloc[0] == -1.21
    assert np.isnan(de_tha["NEE"].iloc[2]) and de_tha["qcNEE"].iloc[2] == 2


# --- MDS gap filling: REddyProc regression values ----------------------------------


def test_mds_reddyproc_regression_nee_first_90_days(de_tha):
    # REddyProc test_gapfilling.R "sMDSGapFill": Example_DETha98 %>% filterLongRuns("NEE"),
    # first 48*3*30 records, sMDSGapFill('NEE') ->
    #   ans[1, 'NEE_fnum'] == 54 ; ans[3, 'NEE_f'] == 1.006569 (tolerance 1e-6)
    first90 = de_tha.iloc[: 48 * 3 * 30].copy()
    first90["NEE"] = fx.filter_long_runs(first90["NEE"])
    out = fx.gapfill_mds(first90, qc="qcNEE", qc_max=1)
    assert out["NEE_fnum"].iloc[0] == 54
    assert out["NEE_f"].iloc[2] == pytest.approx(1.006569, abs=1e-6)
    # record 1 is original data: kept, but its statistics come from LUT(Rg, VPD, Tair) +-7 days
    assert out["NEE_f"].iloc[0] == -1.21
    assert out["NEE_fqc"].iloc[0] == 0
    assert out["NEE_fmeth"].iloc[0] == 1 and out["NEE_fwin"].iloc[0] == 14
    # record 3 is a gap filled by the same step: quality flag 1 (fwin 14 <= 14)
    assert out["NEE_fqc"].iloc[2] == 1


def test_mds_reddyproc_regression_tair_with_quality_flag(de_tha):
    # REddyProc test_gapfilling.R: QF = c(1,0,1,0,1,0,0,0,0,0) recycled, first 90 days,
    # sMDSGapFill('Tair', 'QF', 0) -> ans[1, 'Tair_fnum'] == 173.
    # Tair is the filled variable, so only LUT(Rg) and MDC are available.
    first90 = de_tha.iloc[: 48 * 3 * 30].copy()
    first90["QF"] = np.resize([1, 0, 1, 0, 1, 0, 0, 0, 0, 0], len(first90))
    out = fx.gapfill_mds(first90, "Tair", qc="QF", qc_max=0)
    assert out["Tair_fnum"].iloc[0] == 173
    assert out["Tair_fmeth"].iloc[0] == 2


def test_mds_reddyproc_regression_hourly(de_tha):
    # REddyProc test_gapfilling.R "Shorter version for hourly": every second record
    # (EddyDataWithPosix2[c(F,T),]), first 24*3*30 records, DTS = 24, Tair filled with QF == 0
    # -> ans[1, 'Tair_fnum'] == 124. The recycled QF at even positions is all 0.
    hourly = de_tha.iloc[1::2].iloc[: 24 * 3 * 30].copy()
    hourly["QF"] = np.resize([1, 0, 1, 0, 1, 0, 0, 0, 0, 0], len(de_tha))[1::2][: len(hourly)]
    out = fx.gapfill_mds(hourly, "Tair", qc="QF", qc_max=0)
    assert out["Tair_fnum"].iloc[0] == 124


# --- MDS gap filling: rules on hand-made series ------------------------------------


def test_mds_lut_rg_tolerance_is_clamped_by_gap_rg():
    # Gap at record 72 with Rg = 30 W m-2: tolerance = max(min(50, 30), 20) = 30, strict "<".
    # Donors (Rg, NEE): (0, 1) |0-30| = 30 no; (10, 2) 20 yes; (59, 4) 29 yes; (60, 8) 30 no;
    # (100, 16) 70 no.  -> mean (2 + 4) / 2 = 3, n = 2, sd = sqrt(((2-3)^2 + (4-3)^2) / 1) = sqrt(2)
    df = synthetic_frame(3, Rg=np.full(144, 1000.0))
    for i, rg, nee in [(10, 0, 1), (20, 10, 2), (30, 59, 4), (40, 60, 8), (50, 100, 16)]:
        df.iloc[i, df.columns.get_loc("Rg")] = rg
        df.iloc[i, df.columns.get_loc("NEE")] = nee
    df.iloc[72, df.columns.get_loc("Rg")] = 30.0
    out = fx.gapfill_mds(df).iloc[72]
    assert out["NEE_f"] == 3.0
    assert out["NEE_fnum"] == 2
    assert out["NEE_fsd"] == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert (out["NEE_fmeth"], out["NEE_fwin"], out["NEE_fqc"]) == (1, 14, 1)


def test_mds_lut_night_tolerance_floor_and_vpd_tair_tolerances():
    # Gap at record 72 with Rg = 5: tolerance max(min(50, 5), 20) = 20, so Rg 24 is similar.
    # Tair tolerance 2.5 degC and VPD tolerance 5 hPa are strict: Tair 12.5 (diff 2.5) and
    # VPD 6 (diff 5) are excluded, Tair 12.4 and VPD 5.9 included.
    # Included NEE: 1 (Rg 24), 3 (Tair 12.4), 5 (VPD 5.9) -> mean 3, n 3
    df = synthetic_frame(3, Rg=np.full(144, 1000.0))
    donors = [  # (index, Rg, Tair, VPD, NEE)
        (10, 24.0, 10.0, 1.0, 1.0), (20, 25.0, 10.0, 1.0, 100.0), (30, 5.0, 12.4, 1.0, 3.0),
        (40, 5.0, 12.5, 1.0, 100.0), (50, 5.0, 10.0, 5.9, 5.0), (60, 5.0, 10.0, 6.0, 100.0),
    ]
    for i, rg, tair, vpd, nee in donors:
        df.iloc[i, [df.columns.get_loc(c) for c in ("Rg", "Tair", "VPD", "NEE")]] = [rg, tair, vpd, nee]
    df.iloc[72, df.columns.get_loc("Rg")] = 5.0
    out = fx.gapfill_mds(df).iloc[72]
    assert (out["NEE_f"], out["NEE_fnum"], out["NEE_fmeth"]) == (3.0, 3, 1)


def test_mds_missing_driver_falls_back_to_mean_diurnal_course():
    # Gap at 72 with Rg missing: no LUT record is similar, so MDC with a 0-day window applies:
    # records 70..74 minus the gap -> NEE 70, 71, 73, 74 (value = index) -> mean 72, n 4,
    # fwin = 2*0 + 1 = 1 -> fqc 1 (REddyProc: MDC quality 1 if fwin <= 1)
    nee = np.full(144, np.nan)
    nee[[70, 71, 73, 74]] = [70.0, 71.0, 73.0, 74.0]
    rg = np.full(144, 1000.0)
    rg[72] = np.nan
    out = fx.gapfill_mds(synthetic_frame(3, NEE=nee, Rg=rg)).iloc[72]
    assert (out["NEE_f"], out["NEE_fnum"], out["NEE_fmeth"], out["NEE_fwin"], out["NEE_fqc"]) == (
        72.0, 4, 3, 1, 1)


def test_mds_without_vpd_uses_rg_only_lookup():
    # All records similar in Rg (= 0); gap at 72 -> LUT(Rg) +-7 days over the whole 3-day series:
    # NEE = index, all others present -> mean = (0 + 1 + ... + 143 - 72) / 143 = (10296 - 72)/143
    nee = np.arange(144, dtype=float)
    nee[72] = np.nan
    out = fx.gapfill_mds(synthetic_frame(3, NEE=nee), vpd=None).iloc[72]
    assert out["NEE_f"] == pytest.approx((10296 - 72) / 143, rel=1e-12)
    assert (out["NEE_fnum"], out["NEE_fmeth"], out["NEE_fwin"], out["NEE_fqc"]) == (143, 2, 14, 1)


def test_mds_gaps_longer_than_60_days_stay_unfilled():
    # 200 days, Rg = 0 everywhere. Gap 1: 61 days (2928 records > 60*48 = 2880) -> NaN.
    # Gap 2: 10 records -> filled.
    n_days = 200
    nee = np.sin(np.arange(n_days * 48))
    nee[1000:1000 + 61 * 48] = np.nan
    nee[5000:5010] = np.nan
    out = fx.gapfill_mds(synthetic_frame(n_days, NEE=nee))
    assert out["NEE_f"].iloc[1000:1000 + 61 * 48].isna().all()
    assert out["NEE_fqc"].iloc[1000:1000 + 61 * 48].isna().all()
    assert out["NEE_f"].iloc[5000:5010].notna().all()
    assert not out["NEE_f"].drop(out.index[1000:1000 + 61 * 48]).isna().any()


def test_mds_fill_all_false_fills_only_gaps_with_same_values(de_tha):
    first90 = de_tha.iloc[: 48 * 90]
    full = fx.gapfill_mds(first90, qc="qcNEE", qc_max=1)
    gaps_only = fx.gapfill_mds(first90, qc="qcNEE", qc_max=1, fill_all=False)
    pd.testing.assert_series_equal(full["NEE_f"], gaps_only["NEE_f"])
    pd.testing.assert_series_equal(full["NEE_fqc"], gaps_only["NEE_fqc"])
    good = first90["NEE"].notna().to_numpy()
    assert gaps_only["NEE_fnum"][good].isna().all()
    assert full["NEE_fnum"].notna().all()
    np.testing.assert_array_equal(gaps_only["NEE_fall"][good], first90["NEE"][good])


def test_mds_results_do_not_depend_on_chunking(de_tha):
    # Each step uses only original values inside the record's window, so a record whose
    # windows lie inside a chunk gets identical results when the chunk is filled alone.
    # Records filled within fwin <= 28 days used windows of at most +-14 days (+2 records for MDC);
    # compare those at least 14 days + 2 records away from the split at day 182.
    full = fx.gapfill_mds(de_tha, qc="qcNEE", qc_max=1)
    split = 182 * HALF_HOURS_PER_DAY
    chunks = pd.concat([
        fx.gapfill_mds(de_tha.iloc[:split], qc="qcNEE", qc_max=1),
        fx.gapfill_mds(de_tha.iloc[split:], qc="qcNEE", qc_max=1),
    ])
    margin = 14 * HALF_HOURS_PER_DAY + 2
    position = np.arange(len(de_tha))
    comparable = (full["NEE_fwin"].to_numpy() <= 28) & (np.abs(position - split) > margin)
    assert comparable.sum() > 0.9 * len(de_tha)
    columns = [f"NEE_{s}" for s in ("f", "fqc", "fall", "fnum", "fsd", "fmeth", "fwin")]
    pd.testing.assert_frame_equal(full.loc[comparable, columns], chunks.loc[comparable, columns])


def test_mds_independent_of_index_resolution(de_tha):
    # pandas indexes may use ns, us or s resolution; the step must be read as 30 minutes in each
    first30 = de_tha.iloc[: 48 * 30]
    expected = fx.gapfill_mds(first30, qc="qcNEE", qc_max=1)
    for unit in ("s", "us"):
        coarse = first30.set_axis(first30.index.as_unit(unit))
        result = fx.gapfill_mds(coarse, qc="qcNEE", qc_max=1)
        np.testing.assert_array_equal(result["NEE_fnum"], expected["NEE_fnum"])
        np.testing.assert_array_equal(result["NEE_f"], expected["NEE_f"])


def test_mds_rejects_irregular_index():
    df = synthetic_frame(1, NEE=np.ones(48))
    with pytest.raises(ValueError):
        fx.gapfill_mds(df.drop(df.index[5]))


def test_filter_long_runs_reddyproc_cases():
    # REddyProc test_gapfilling.R "filterLongRunsInVector": x <- rep(6:10, 1:5);
    # filterLongRunsInVector(x, 2): only x[1] kept
    x = np.repeat(np.arange(6, 11), np.arange(1, 6)).astype(float)
    ans = fx.filter_long_runs(x, 2)
    assert ans[0] == 6 and np.isnan(ans[1:]).all()
    # x[2] <- NA; x[13] <- NA; x[15] <- 11; NAs do not interrupt runs ->
    # only positions 1, 3, 15 (1-based) keep their values
    x[1] = np.nan
    x[12] = np.nan
    x[14] = 11
    ans = fx.filter_long_runs(x, 2)
    kept = [0, 2, 14]
    np.testing.assert_array_equal(ans[kept], x[kept])
    assert np.isnan(np.delete(ans, kept)).all()


# --- u* threshold ------------------------------------------------------------------


def test_ustar_threshold_de_tha_reddyproc_regression(de_tha):
    # REddyProc test_UStarFilter.R "sEstUstarThold: standard case" on Example_DETha98:
    # expect_equal(res$uStar[1], 0.42, tolerance = 0.01, scale = 1), i.e. |u* - 0.42| <= 0.01
    result = fx.ustar_threshold(de_tha)
    print(f"\nDE-Tha 1998 u* threshold (annual): {result.annual:.6f} m s-1")
    print(result.seasons)
    assert result.annual == pytest.approx(0.42, abs=0.01)
    # same test: tempInSeason has taClasses x number of seasons (DJF split: Jan-Feb, MAM, JJA,
    # SON, Dec)
    assert result.temp_classes.shape == (5, 7)
    assert list(result.seasons.index) == [1998001, 1998003, 1998006, 1998009, 1998012]
    # the annual value is the maximum of the seasonal estimates (single year)
    assert result.annual == result.seasons["estimate"].max()


def test_ustar_fw2_binned_reddyproc_regression():
    # REddyProc test_UStarFilter.R "usEstUstarThresholdSingleFw2Binned": these 20 bins -> 0.46
    # (tolerance 0.01)
    ust = np.array([0.276666666666667, 0.326666666666667, 0.341111111111111, 0.363333333333333,
                    0.384444444444444, 0.401111111111111, 0.417777777777778, 0.434444444444444,
                    0.462222222222222, 0.495555555555556, 0.521111111111111, 0.553333333333333,
                    0.587777777777778, 0.602222222222222, 0.624444444444444, 0.654444444444444,
                    0.693333333333333, 0.77, 0.936666666666667, 2.11])
    nee = np.array([1.105, 1.26888888888889, 1.22444444444444, 0.908888888888889,
                    0.888888888888889, 1.13333333333333, 1.85888888888889, 1.46777777777778,
                    2.30222222222222, 1.95, 0.948888888888889, 1.09888888888889, 2.36666666666667,
                    0.985555555555556, 1.30777777777778, 1.63555555555556, 1.75777777777778,
                    1.84222222222222, 1.59, -0.316666666666667])
    assert fx._threshold_fw2(ust, nee) == pytest.approx(0.46, abs=0.01)


def test_filter_ustar_flags():
    # records: night low u* -> 1; day low u* -> kept (0); night u* missing -> 4;
    # night high u* -> kept; night with no threshold -> 3 (per-record thresholds)
    df = pd.DataFrame({"NEE": [1.0, 2.0, 3.0, 4.0, 5.0], "Rg": [0.0, 500.0, 0.0, 0.0, 0.0],
                       "Ustar": [0.1, 0.1, np.nan, 0.5, 0.5]})
    out = fx.filter_ustar(df, [0.3, 0.3, 0.3, 0.3, np.nan])
    np.testing.assert_array_equal(out["Ustar_fqc"], [1, 0, 4, 0, 3])
    np.testing.assert_array_equal(out["NEE"], [np.nan, 2.0, np.nan, 4.0, np.nan])
    assert df["NEE"].iloc[0] == 1.0  # input untouched


# --- Lloyd & Taylor, units, aggregation ----------------------------------------------


def test_lloyd_taylor_hand_values():
    # at the reference temperature the exponent is 0 -> R = r_ref
    assert fx.lloyd_taylor(15.0, 2.0, 250.0) == 2.0
    # T = 25 degC, E0 = 308.56 K (Lloyd & Taylor 1994 value):
    # 1/61.02 - 1/71.02 = 10 / (61.02 * 71.02) = 10 / 4333.6404; * 308.56 = 0.7120111
    # exp(0.7120111) = 2.0380859
    assert fx.lloyd_taylor(25.0, 1.0, 308.56) == pytest.approx(2.0380859, rel=1e-7)
    # T = 0 degC, E0 = 200, r_ref = 3: 200 * (1/61.02 - 1/46.02) = 200 * (-15) / (61.02 * 46.02)
    # = -1.0683227 -> 3 * exp(-1.0683227) = 3 * 0.3435843 = 1.0307530
    assert fx.lloyd_taylor(0.0, 3.0, 200.0) == pytest.approx(1.0307530, rel=1e-7)
    # other reference temperature: R(t_ref) = r_ref
    np.testing.assert_allclose(fx.lloyd_taylor(np.array([10.0]), 1.5, 150.0, t_ref=10.0), [1.5])


def test_unit_conversions_hand_values():
    # 1 umol m-2 s-1 over 1800 s: 1e-6 mol * 1800 * 12.011 g/mol = 0.0216198 gC m-2
    assert fx.to_gc_m2(1.0) == pytest.approx(0.0216198, rel=1e-12)
    # hourly step: 3600 s -> 0.0432396
    assert fx.to_gc_m2(1.0, seconds=3600) == pytest.approx(0.0432396, rel=1e-12)
    # 100 gC m-2 * 1e4 m2/ha * 1e-6 t/g = 1 tC/ha; * 44/12 (IPCC 2006 Vol.4 Ch.2, eq. 2.16: the same ratio as the
    # inventory removals and the emissions) = 3.6666667 tCO2/ha (the molar-mass ratio 44.009/12.011 gave 3.6640580)
    assert fx.gc_m2_to_tco2_ha(100.0) == pytest.approx(11.0 / 3.0, rel=1e-12)
    # one carbon-to-CO2 ratio in the library: a tonne of carbon per hectare is the same CO2 from a tower or a survey
    assert fx.gc_m2_to_tco2_ha(100.0) == sinks.to_co2(1.0) == 1.0 * units.CO2_PER_C
    # a full year of a constant -1 umol m-2 s-1: 17520 * -0.0216198 = -378.778896 gC m-2
    assert fx.to_gc_m2(np.full(17520, -1.0)).sum() == pytest.approx(-378.778896, rel=1e-12)


def test_annual_sum_uncertainty_hand_values():
    # NEE_f = [1, 2], fsd = [3, 4]: sum = 3 * 0.0216198 = 0.0648594 gC m-2;
    # independent errors: sd = 0.0216198 * sqrt(3^2 + 4^2) = 0.0216198 * 5 = 0.108099
    df = pd.DataFrame({"NEE_f": [1.0, 2.0, np.nan], "NEE_fsd": [3.0, 4.0, 1.0]})
    res = fx.annual_sum_uncertainty(df)
    assert res["sum_gc_m2"] == pytest.approx(0.0648594, rel=1e-12)
    assert res["sd_gc_m2"] == pytest.approx(0.108099, rel=1e-12)
    assert (res["n_records"], res["n_without_sd"]) == (2, 0)


# --- night-time partitioning ----------------------------------------------------------


def test_partition_recovers_synthetic_parameters():
    # 120 days of half-hours. Night (Rg = 0) when the hour is < 6 or >= 18.
    # Tair = 10 + 8 sin(2 pi day / 30) + 3 sin(2 pi hour / 24); Reco from Lloyd-Taylor with
    # E0 = 180 K and R_ref = 2.5; GPP = 0.02 * Rg; NEE = Reco - GPP. Noise-free, so every
    # window fit is exact: E0 must come back as 180.00 (rounded to 0.01 as REddyProc),
    # R_ref = 2.5 everywhere and GPP_f = 0.02 * Rg.
    n = 120 * HALF_HOURS_PER_DAY
    t = np.arange(n) / HALF_HOURS_PER_DAY  # days
    hour = (t % 1.0) * 24
    tair = 10 + 8 * np.sin(2 * np.pi * t / 30) + 3 * np.sin(2 * np.pi * hour / 24)
    rg = np.where((hour >= 6) & (hour < 18), 600 * np.sin(np.pi * (hour - 6) / 12), 0.0)
    reco = fx.lloyd_taylor(tair, 2.5, 180.0)
    gpp = 0.02 * rg
    df = synthetic_frame(120, NEE_f=reco - gpp, Tair=tair, Rg=rg)
    out = fx.partition_nighttime(df, nee_qc=None)
    assert out["E_0"].iloc[0] == pytest.approx(180.0, abs=0.005)
    np.testing.assert_allclose(out["R_ref"], 2.5, rtol=1e-6)
    np.testing.assert_allclose(out["Reco"], reco, rtol=1e-6)
    np.testing.assert_allclose(out["GPP_f"], gpp, atol=1e-5)


def test_partition_uses_only_original_night_records():
    # Same synthetic data, but every gap-filled record (fqc 1) has NEE corrupted by +100:
    # they must not enter the regressions, so the parameters are unchanged.
    n = 60 * HALF_HOURS_PER_DAY
    t = np.arange(n) / HALF_HOURS_PER_DAY
    hour = (t % 1.0) * 24
    tair = 10 + 8 * np.sin(2 * np.pi * t / 30) + 3 * np.sin(2 * np.pi * hour / 24)
    rg = np.where((hour >= 6) & (hour < 18), 500.0, 0.0)
    nee = fx.lloyd_taylor(tair, 2.5, 180.0)
    fqc = np.where(np.arange(n) % 3 == 0, 1.0, 0.0)
    nee = np.where(fqc == 1, nee + 100.0, nee)
    out = fx.partition_nighttime(synthetic_frame(60, NEE_f=nee, NEE_fqc=fqc, Tair=tair, Rg=rg))
    assert out["E_0"].iloc[0] == pytest.approx(180.0, abs=0.005)
    np.testing.assert_allclose(out["R_ref"], 2.5, rtol=1e-6)


def test_partition_fails_without_temperature_range():
    # constant temperature: no window reaches the 5 K range -> no E0 estimate
    df = synthetic_frame(30, NEE_f=np.ones(30 * 48))
    with pytest.raises(ValueError):
        fx.partition_nighttime(df, nee_qc=None)


# --- DE-Tha 1998 annual budget -----------------------------------------------------------


def test_de_tha_1998_annual_budget(de_tha_pipeline):
    ustar, filled, parts = de_tha_pipeline
    nee = fx.annual_sum_uncertainty(filled)
    reco = fx.to_gc_m2(parts["Reco"]).sum()
    gpp = fx.to_gc_m2(parts["GPP_f"]).sum()
    print(
        f"\nDE-Tha 1998 after u* filter ({ustar.annual:.5f} m s-1) and MDS: "
        f"NEE {nee['sum_gc_m2']:.3f} +- {nee['sd_gc_m2']:.3f} gC m-2 yr-1, "
        f"GPP {gpp:.3f}, Reco {reco:.3f} gC m-2 yr-1, E0 {parts['E_0'].iloc[0]:.2f} K"
    )
    # every record filled (no gap > 60 days in 1998)
    assert nee["n_records"] == 17520 and nee["n_without_sd"] == 0
    # Tharandt is a strong sink; window from the project brief (roughly -400 to -700 gC m-2 yr-1
    # for Tharandt 1998) and inside the 1996-1998 European forest range of Valentini et al.
    # (2000, Nature 404:861): net uptake up to 6.6 tC ha-1 yr-1 = 660 gC m-2 yr-1.
    assert -700 < nee["sum_gc_m2"] < -400
    # budget closes by construction: NEE = Reco - GPP
    assert reco - gpp == pytest.approx(nee["sum_gc_m2"], rel=1e-9)
    # generous plausibility windows for a productive temperate spruce forest (not literature
    # values for this site); Reco must exceed |NEE| and GPP must exceed Reco for a sink.
    assert 1000 < gpp < 2500
    assert 600 < reco < 2000
    assert 30 < parts["E_0"].iloc[0] < 350


def test_de_tha_1998_monthly_sums(de_tha_pipeline):
    """Monthly NEE sums add up to the annual sum and follow the spruce forest's season.

    Expected pattern for Tharandt (evergreen spruce, 50.96 N; Grünwald & Bernhofer 2007,
    Tellus B 59:387): net release in mid-winter when GPP is near zero (December, January)
    and net uptake through the growing season (May to August).
    """
    _, filled, _ = de_tha_pipeline
    monthly = pd.Series(fx.to_gc_m2(filled["NEE_f"].to_numpy()), index=filled.index).groupby(filled.index.month).sum()
    print("\nDE-Tha 1998 monthly NEE (gC m-2): " + ", ".join(f"{m}: {v:.1f}" for m, v in monthly.items()))
    assert len(monthly) == 12
    assert monthly.sum() == pytest.approx(fx.annual_sum_uncertainty(filled)["sum_gc_m2"], rel=1e-12)
    assert monthly[[1, 12]].gt(0).all()
    assert monthly[[5, 6, 7, 8]].lt(0).all()
    assert monthly.idxmin() in (5, 6, 7)


_FIRST_GAP_FILL = """
import json, sys
sys.path.insert(0, {tests!r})
from carbonlib import _mds, flux
from test_flux import load_de_tha
flux.gapfill_mds(load_de_tha(), qc="qcNEE", qc_max=1)
print(json.dumps({{"hits": sum(_mds.run_mds.stats.cache_hits.values()),
                  "misses": sum(_mds.run_mds.stats.cache_misses.values())}}))
"""


def test_warm_up_leaves_compiled_kernels_for_the_first_real_gap_fill(tmp_path):
    """A new installation runs flux.warm_up() once (make install); a later process's first gap fill of real data
    (DE-Tha 1998) then loads the compiled MDS kernel from numba's cache instead of compiling it (~3 s).  Checked
    by numba's own counters in fresh processes with an empty cache folder of their own, not by timing."""
    import json
    import subprocess
    import sys

    def first_gap_fill(cache: Path, warm: bool) -> dict:
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
        if warm:
            subprocess.run([sys.executable, "-c", "from carbonlib import flux; flux.warm_up()"], env=env, check=True)
        script = _FIRST_GAP_FILL.format(tests=str(Path(__file__).parent))
        done = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert first_gap_fill(tmp_path / "cold", warm=False) == {"hits": 0, "misses": 1}  # it would compile
    assert first_gap_fill(tmp_path / "warm", warm=True) == {"hits": 1, "misses": 0}  # it loads what warm_up made


def test_ustar_scenarios_de_tha_agree_with_reddyproc_published_bootstrap(de_tha):
    """REddyProc vignette uStarCases.md (DE-Tha 1998, ``sEstimateUstarScenarios(nSample = 100L)``):
    single 0.41625 with 5 % 0.378475, 50 % 0.4524588, 95 % 0.6209465; season 1998006 0.352 with 0.3318286,
    0.3864683, 0.44835.  The unresampled estimate is exact; the quantiles come from a random resampling
    (R's generator there, numpy's here), so they agree within the bootstrap's own spread: across seeds 0 and 1
    with 100 samples our 5 %/50 %/95 % of the single level move by 0.006/0.013/0.018 m s-1."""
    scenarios = fx.ustar_scenarios(de_tha, n_samples=100, seed=0)
    single = scenarios.loc[("single", 0)]
    assert single.estimate == pytest.approx(0.41625, abs=1e-9)
    assert single.U05 == pytest.approx(0.378475, abs=0.03)
    assert single.U50 == pytest.approx(0.4524588, abs=0.03)
    assert single.U95 == pytest.approx(0.6209465, abs=0.06)
    summer = scenarios.loc[("season", 1998006)]
    assert summer.estimate == pytest.approx(0.352, abs=1e-9)
    assert (summer.U05, summer.U50, summer.U95) == pytest.approx((0.3318286, 0.3864683, 0.44835), abs=0.03)
    assert (scenarios.U05 <= scenarios.U50).all() and (scenarios.U50 <= scenarios.U95).all()
    assert list(scenarios.index.get_level_values("key")) == [0, 1998, 1998001, 1998003, 1998006, 1998009, 1998012]
    again = fx.ustar_scenarios(de_tha, n_samples=100, seed=0)
    pd.testing.assert_frame_equal(scenarios, again)  # a seed gives the same scenarios


def test_nee_under_each_ustar_scenario_is_the_filter_and_gap_fill_at_that_threshold(de_tha):
    scenarios = fx.ustar_scenarios(de_tha, n_samples=20, seed=3)
    sums = fx.nee_under_ustar_scenarios(de_tha, scenarios)
    assert list(sums.index) == ["estimate", "U05", "U50", "U95"]
    for column in sums.index:
        threshold = scenarios.loc[("single", 0), column]
        filled = fx.gapfill_mds(fx.filter_ustar(de_tha, threshold), "NEE")
        assert sums[column] == pytest.approx(fx.to_gc_m2(filled["NEE_f"].to_numpy()).sum(), rel=1e-12)
    # DE-Tharandt, an evergreen spruce forest, takes up some 600 gC m-2 a year (Grünwald & Bernhofer 2007, Tellus
    # 59B: 387); the u* spread moves that by a few percent
    assert -700 < sums["estimate"] < -500 and (sums.max() - sums.min()) < 0.1 * abs(sums["estimate"])
