"""Tests of the daytime flux partitioning (carbonlib.flux.partition_daytime, engine carbonlib._lasslop).

Reference implementation: REddyProc (github.com/bgctw/REddyProc, commit 43eea8d, 2024-05-03),
``R/PartitioningLasslop10*.R``, ``R/LRC_base.R``, ``R/LRC_rectangular.R``; its tests
``tests/testthat/test_partGL.R`` and ``tests/testthat/test_LightResponseCurveFitter.R``.
Method: Lasslop et al. (2010), Global Change Biology 16:187-208.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonlib import _lasslop
from carbonlib import flux as fx
from test_flux import load_de_tha

# --- (a) light-response curve: hand-derived values ---------------------------------------


def test_light_response_curve_hand_values():
    # Lasslop et al. (2010), eq. 3 (rectangular hyperbola, Falge et al. 2001) with the VPD
    # limitation of eq. 4 (equation numbers as recalled, not re-checked against the paper here;
    # the formulas are those of REddyProc LRC_base.R predictLRC and LRC_rectangular.R predictGPP)
    # and Lloyd & Taylor (1994, eq. 11) respiration at Tref = 15 degC, T0 = 227.13 K:
    #   GPP  = alpha beta' Rg / (alpha Rg + beta'),  beta' = beta exp(-k (VPD - 10)) if VPD > 10 hPa
    #   Reco = RRef exp(E0 (1/(288.15 - 227.13) - 1/(Tair + 273.15 - 227.13)))
    # theta = (k 0.05, beta 30, alpha 0.1, RRef 2, E0 100), Rg 500 W m-2:
    # VPD 20 hPa: beta' = 30 exp(-0.05 * 10) = 30 * 0.6065307 = 18.195920;
    #             GPP = 18.195920 * 0.1 * 500 / (0.1 * 500 + 18.195920) = 909.79599 / 68.19592 = 13.340915
    # Tair 25 degC: 1/61.02 - 1/71.02 = 0.016388069 - 0.014080541 = 0.0023075288 K-1;
    #             Reco = 2 exp(100 * 0.0023075288) = 2 * 1.2595479 = 2.5190959
    # VPD 8 hPa (not limiting): GPP = 30 * 50 / (50 + 30) = 18.75; Tair 15 degC: Reco = RRef = 2
    # Tair 5 degC: 1/61.02 - 1/51.02 = -0.0032120873 K-1, Reco = 2 exp(-0.32120873) = 1.4505437
    theta = np.array([0.05, 30.0, 0.1, 2.0, 100.0])
    gpp, reco = _lasslop.light_response(theta, 500.0, 20.0, 25.0)
    assert gpp == pytest.approx(13.340915, abs=1e-6)
    assert reco == pytest.approx(2.5190959, abs=1e-6)
    gpp, reco = _lasslop.light_response(theta, 500.0, 8.0, 15.0)
    assert (gpp, reco) == pytest.approx((18.75, 2.0), abs=1e-12)
    assert _lasslop.light_response(theta, 500.0, 8.0, 5.0)[1] == pytest.approx(1.4505437, abs=1e-6)
    # no light, no GPP; saturating light approaches beta'
    assert _lasslop.light_response(theta, 0.0, 20.0, 25.0)[0] == 0.0
    assert _lasslop.light_response(theta, 1e9, 20.0, 25.0)[0] == pytest.approx(18.195920, abs=1e-4)
    # REddyProc predictLRC (test_LightResponseCurveFitter.R "predictLRC vector form"): with k = 0 VPD
    # is not used, so a missing VPD still gives GPP; with k != 0 it gives NaN
    without_k = np.array([0.0, 30.0, 0.1, 2.0, 100.0])
    assert _lasslop.light_response(without_k, 500.0, np.nan, 15.0)[0] == 18.75
    assert np.isnan(_lasslop.light_response(theta, 500.0, np.nan, 15.0)[0])


def test_gradients_match_finite_differences():
    # REddyProc test_LightResponseCurveFitter.R "computeLRCGradient matches numerical estimates":
    # analytic gradients of GPP (k, beta, alpha) and Reco (RRef, E0) against central differences
    rg = np.array([20.0, 300.0, 900.0, 600.0])
    vpd = np.array([4.0, 12.0, 25.0, 10.0])
    tair = np.array([2.0, 15.0, 28.0, 20.0])
    for k in (0.05, 0.0):
        theta = np.array([k, 27.3, 0.16, 2.6, 185.0])
        d_gpp, d_reco = _lasslop._gradients(theta, rg, vpd, tair)
        numeric = np.empty((rg.size, 5))
        for i in range(5):
            step = np.zeros(5)
            step[i] = 1e-6 * max(abs(theta[i]), 1.0)
            plus = _lasslop.light_response(theta + step, rg, vpd, tair)
            minus = _lasslop.light_response(theta - step, rg, vpd, tair)
            output = 0 if i < 3 else 1  # GPP depends on k, beta, alpha; Reco on RRef, E0
            numeric[:, i] = (plus[output] - minus[output]) / (2 * step[i])
        # at k = 0 VPD is ignored (REddyProc fixVPD), so d/dk is 0 by convention and not compared;
        # d/dbeta is dGPP/dAmax there (REddyProc's computeLRCGradient returns 0)
        columns = range(3) if k else range(1, 3)
        np.testing.assert_allclose(d_gpp[:, list(columns)], numeric[:, list(columns)], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(d_reco, numeric[:, 3:], rtol=1e-6)


def test_interpolation_weights_follow_reddyproc_special_rows():
    # REddyProc test_partGL.R lines 530-557 (.partGPAssociateSpecialRows): parameter rows 3, 6, 7, 9
    # of 12 (here 0-based 2, 5, 6, 8). Rows 4:5 take wBefore (2/3, 1/3) and wAfter (1/3, 2/3);
    # rows up to the first and from the last parameter row take that window alone.
    # Windows differ in RRef only, k = 0 and Tair = 15 degC, so Reco_DT = weighted mean of RRef.
    rref = np.array([1.0, 4.0, 7.0, 10.0])
    theta = np.column_stack([np.zeros(4), np.full(4, 20.0), np.full(4, 0.05), rref, np.full(4, 100.0)])
    cov = np.zeros((4, 5, 5))
    cov[:, 3, 3] = 0.25  # var(RRef)
    fits = _lasslop.WindowFits(
        central=np.array([2, 5, 6, 8]), mean_record=np.array([2.0, 5.0, 6.0, 8.0]), n_valid=np.full(4, 20),
        code=np.zeros(4, dtype=int), theta=theta, sd=np.zeros((4, 5)), cov=cov, fixed_any=np.ones(4),
        rref_night=rref, gpp2000=np.full(4, 10.0))
    pred = _lasslop.interpolate(fits, rg=np.zeros(12), vpd=np.full(12, np.nan), tair=np.full(12, 15.0))
    expected = [1, 1, 1, 2, 3, 4, 7, 8.5, 10, 10, 10, 10]  # row 3: 2/3 * 1 + 1/3 * 4 = 2; row 7: (7 + 10) / 2
    np.testing.assert_allclose(pred.reco, expected, rtol=1e-12)
    np.testing.assert_array_equal(pred.gpp, 0.0)
    # SD: sqrt(wB^2 var + wA^2 var), var = 0.25 (dReco/dRRef = 1 at 15 degC); at a parameter row
    # both neighbours are that window with weights 1/2: sqrt(0.5 * 0.25)
    assert pred.sd_reco[2] == pytest.approx(np.sqrt(0.5 * 0.25), rel=1e-12)
    assert pred.sd_reco[3] == pytest.approx(np.sqrt(((2 / 3) ** 2 + (1 / 3) ** 2) * 0.25), rel=1e-12)
    # records to the nearest parameter row, before on ties (REddyProc dRecNextEstimate)
    np.testing.assert_array_equal(pred.d_record, [2, 1, 0, -1, 1, 0, 0, -1, 0, -1, -2, -3])


# --- (b) synthetic data with known parameters ---------------------------------------------

TRUE_THETA = np.array([0.04, 30.0, 0.05, 3.0, 150.0])  # k hPa-1, beta, alpha, RRef, E0 K


def synthetic_site(n_days: int = 60, noise: float = 0.3, seed: int = 1) -> pd.DataFrame:
    """Half-hourly series from May 2001 with NEE = Reco - GPP of TRUE_THETA plus N(0, noise) errors.

    Rg: half sine from 05:00 to 20:00 peaking at 900 W m-2, scaled per day by a cloudiness factor
    in [0.4, 1]; Tair: 14 degC + 6 K 20-day cycle + 6 K diurnal cycle (max 15:00); VPD: 8 hPa
    + 5 hPa 20-day cycle + 9 hPa diurnal cycle (>= 0.5), so that VPD exceeds 10 hPa on most
    afternoons. NEE_fsd = noise, every record original (NEE_fqc = 0).
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range("2001-05-01 00:15", periods=n_days * 48, freq="30min")
    day = np.arange(index.size) / 48.0
    hour = (day % 1.0) * 24.0
    cloud = np.repeat(rng.uniform(0.4, 1.0, n_days), 48)
    rg = np.clip(900.0 * np.sin(np.pi * (hour - 5.0) / 15.0), 0.0, None) * cloud
    tair = 14.0 + 6.0 * np.sin(2 * np.pi * day / 20) + 6.0 * np.sin(np.pi * (hour - 9.0) / 12.0)
    vpd = np.clip(8.0 + 5.0 * np.sin(2 * np.pi * day / 20) + 9.0 * np.sin(np.pi * (hour - 9.0) / 12.0), 0.5, None)
    gpp, reco = _lasslop.light_response(TRUE_THETA, rg, vpd, tair)
    return pd.DataFrame({"NEE_f": reco - gpp + rng.normal(0.0, noise, index.size), "NEE_fqc": 0.0,
                         "NEE_fsd": noise, "Rg": rg, "Tair_f": tair, "VPD_f": vpd, "GPP": gpp, "Reco": reco},
                        index=index)


def window_parameters(out: pd.DataFrame) -> pd.DataFrame:
    return out.loc[out["FP_beta"].notna(), [f"FP_{name}" for name in _lasslop.PARAMETERS]]


def test_noise_free_synthetic_data_give_back_the_parameters():
    # NEE is exactly the model (errors of 1e-9); SD 0.3 only weights the records. Every window
    # must fit, and every parameter and flux come back to numerical precision.
    df = synthetic_site(noise=1e-9)
    df["NEE_fsd"] = 0.3
    out = fx.partition_daytime(df, n_boot=0)
    params = window_parameters(out)
    assert len(params) == 29 and (out["FP_errorcode"].dropna() == 0).all()  # 60 days: windows on days 1, 3, ..., 57
    np.testing.assert_allclose(params.to_numpy(), np.broadcast_to(TRUE_THETA, params.shape), rtol=1e-5)
    np.testing.assert_allclose(out["GPP_DT"], df["GPP"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(out["Reco_DT"], df["Reco"], rtol=1e-5)
    assert (out["FP_qc"] == 0).all()  # k and alpha fitted everywhere


def test_noisy_synthetic_data_recover_the_parameters_within_their_uncertainty():
    # With N(0, 0.3) errors (a tenth of Reco), default settings (30 bootstrap samples). Tolerances
    # about 1.5 times the largest deviation across the 29 windows of this design (k 0.014 hPa-1,
    # beta 2.4, alpha 0.005, RRef 0.33, E0 8.3 K): k within 0.02 hPa-1, beta within 10 %, alpha
    # within 15 %, RRef within 20 %, E0 within 10 %; sums of GPP within 2 % and of Reco within 3 %
    # (found: -0.5 % and -1.8 %).
    df = synthetic_site()
    out = fx.partition_daytime(df)
    params = window_parameters(out)
    assert len(params) == 29
    tolerance = np.array([0.02, 0.10 * 30.0, 0.15 * 0.05, 0.20 * 3.0, 0.10 * 150.0])
    assert (np.abs(params.to_numpy() - TRUE_THETA) <= tolerance).all()
    assert out["GPP_DT"].sum() == pytest.approx(df["GPP"].sum(), rel=0.02)
    assert out["Reco_DT"].sum() == pytest.approx(df["Reco"].sum(), rel=0.03)
    # the reported uncertainty covers the truth: each parameter within 3 SDs in most windows
    for name, true in zip(_lasslop.PARAMETERS, TRUE_THETA):
        z = (out[f"FP_{name}"] - true).abs() / out[f"FP_{name}_sd"]
        assert (z.dropna() < 3).mean() >= 0.9, name
    assert (out["GPP_DT_SD"] >= 0).all() and (out["Reco_DT_SD"] > 0).all()
    # the same seed gives the same bootstrap
    pd.testing.assert_frame_equal(out, fx.partition_daytime(df))


def test_records_flagged_as_filled_do_not_enter_the_fits():
    # every third record corrupted by +50 and flagged as gap-filled (fqc 1): same parameters as
    # without the corruption but fitted on the same reduced set of records
    df = synthetic_site(noise=1e-9)
    df["NEE_fsd"] = 0.3
    flagged = np.arange(len(df)) % 3 == 0
    df["NEE_fqc"] = np.where(flagged, 1.0, 0.0)
    clean = fx.partition_daytime(df, n_boot=0)
    df.loc[flagged, "NEE_f"] += 50.0
    corrupted = fx.partition_daytime(df, n_boot=0)
    np.testing.assert_allclose(window_parameters(corrupted), window_parameters(clean), rtol=1e-9)
    np.testing.assert_allclose(window_parameters(corrupted).to_numpy(),
                               np.broadcast_to(TRUE_THETA, window_parameters(clean).shape), rtol=1e-5)


def test_refuses_series_without_night_time_temperature_response():
    # constant temperature: Lloyd-Taylor fits of E0 have no information -> no valid window
    df = synthetic_site(n_days=20)
    df["Tair_f"] = 10.0
    with pytest.raises(ValueError, match="temperature sensitivity"):
        fx.partition_daytime(df)


# --- (c) DE-Tharandt 1998 -------------------------------------------------------------------


def potential_radiation(index: pd.DatetimeIndex, lat: float = 51.0, lon: float = 13.6,
                        tz_hours: float = 1.0) -> np.ndarray:
    """Top-of-atmosphere radiation on a horizontal plane, W m-2: REddyProc ``fCalcPotRadiation``.

    Solar elevation from the R package solartime ``computeSunPositionDoyHour`` (local winter time
    corrected to solar time with the equation of time), extraterrestrial radiation from REddyProc
    ``fCalcExtRadiation``; DE-Tha location as REddyProc's ``getFilledExampleDETha98Data``
    (``sSetLocationInfo(LatDeg = 51.0, LongDeg = 13.6, TimeZoneHour = 1)``). Test helper: the
    library separates day and night by Rg unless given such a column.
    """
    doy = index.day_of_year.to_numpy()
    hour = (index.hour + index.minute / 60.0).to_numpy()
    year = 2 * np.pi * (doy - 1) / 365.24
    equation_of_time = (0.0072 * np.cos(year) - 0.0528 * np.cos(2 * year) - 0.0012 * np.cos(3 * year)
                        - 0.1229 * np.sin(year) - 0.1565 * np.sin(2 * year) - 0.0041 * np.sin(3 * year))
    hour_angle = (hour + lon / 15.0 - tz_hours + equation_of_time - 12.0) * np.pi / 12.0
    declination = np.radians(0.33281 - 22.984 * np.cos(year) - 0.34990 * np.cos(2 * year)
                             - 0.13980 * np.cos(3 * year) + 3.7872 * np.sin(year) + 0.03205 * np.sin(2 * year)
                             + 0.07187 * np.sin(3 * year))
    elevation = np.arcsin(np.sin(declination) * np.sin(np.radians(lat))
                          + np.cos(declination) * np.cos(np.radians(lat)) * np.cos(hour_angle))
    extraterrestrial = 1366.1 * (1.00011 + 0.034221 * np.cos(year) + 0.00128 * np.sin(year)
                                 + 0.000719 * np.cos(2 * year) + 0.000077 * np.sin(2 * year))
    return np.where(elevation <= 0, 0.0, extraterrestrial * np.sin(elevation))


@pytest.fixture(scope="module")
def de_tha_reddyproc_filled() -> pd.DataFrame:
    """REddyProc ``getFilledExampleDETha98Data`` (R/Example.R): NEE with long runs removed, MDS of
    NEE (FillAll) and of Rg, Tair, VPD (gaps only), no u* filter; plus PotRad."""
    df = load_de_tha()
    df["NEE"] = fx.filter_long_runs(df["NEE"])
    filled = fx.gapfill_mds(df, qc="qcNEE", qc_max=1)
    for driver in ("Rg", "Tair", "VPD"):
        filled = fx.gapfill_mds(filled, driver, fill_all=False)
    filled["PotRad"] = potential_radiation(filled.index)
    return filled


#: REddyProc test_partGL.R, ``resLRCEx1`` (regression result on 1998-06-01 00:15 ... 06-09 21:45).
REDDYPROC_JUNE = {
    "iRecStart": [1, 97, 193, 289], "iRecEnd": [192, 288, 384, 428],  # lines 60-61
    "iCentralRec": [97, 193, 289, 385], "nValidRec": [98, 98, 75, 56], "iMeanRec": [97, 194, 283, 385],  # 61-62
    "E0": 62.633343296311,  # lines 72-74 (all four windows)
    "E0_sd": [4.25106879296635, 4.22511397480583, 4.22511362599932, 4.46593783063789],  # lines 83-85
    "RRef_night": [5.17329116845493, 5.14770049230269, 5.14770049230269, 5.21501814931109],  # 183-184
    # lines 64-71: k, beta, alpha, RRef of the four windows
    "theta": [[0.15556543911127, 34.2363908612952, 0.0408287988682114, 1.30588274435898],
              [0.100336071150363, 28.7053014210465, 0.0317164138158062, 2.30342378833466],
              [0.0292272454449355, 11.965007963525, 0.12184364495971, 4.39970416578445],
              [0.110909241852741, 35.6061046130658, 0.0565989757582912, 3.02347421699605]],
}


def reddyproc_cost(theta: np.ndarray, nee: np.ndarray, sd: np.ndarray, rg: np.ndarray, vpd: np.ndarray,
                   tair: np.ndarray, prior: np.ndarray) -> float:
    """REddyProc's cost of a daytime window (LRC_base.R ``optimLRCOnAdjustedPrior`` and
    ``computeCost``): sum(((NEP_mod - (-NEE)) / max(sd, q30(sd)))^2) + sum(((theta - prior) / c(50,
    600, 10, 80))^2) over k, beta, alpha, RRef, written out independently of the engine."""
    k, beta, alpha, rref, e0 = theta
    amax = np.where(vpd > 10.0, beta * np.exp(-k * (vpd - 10.0)), beta)
    gpp = amax * alpha * rg / (alpha * rg + amax)
    reco = rref * np.exp(e0 * (1 / (288.15 - 227.13) - 1 / (tair + 273.15 - 227.13)))
    weight = np.maximum(sd, np.quantile(sd, 0.3))
    misfit = ((gpp - reco + nee) / weight) ** 2
    return float(misfit.sum() + (((theta[:4] - prior) / [50, 600, 10, 80]) ** 2).sum())


def test_de_tha_june_reproduces_reddyproc_windows_and_night_time_estimates(de_tha_reddyproc_filled):
    """DE-Tha 1998-06-01 00:15 ... 06-09 21:45 (428 records), REddyProc test_partGL.R ``resLRCEx1``.

    Reproduced: the window layout, the valid daytime records of each window and their mean
    position (``nValidRec``, ``iMeanRec``), the smoothed night-time E0 and its SD (Gaussian-process
    smoothing, mlegp in REddyProc) and RRef at 15 degC from night-time data.

    Not reproduced: ``resLRCEx1``'s k, beta, alpha, RRef, a regression result stored in 2017 that
    REddyProc's tests no longer compare (the comparison is commented out there). Evaluated with
    REddyProc's current cost function on the same records, those parameters cost 125, 162, 138
    and 40; our fits reach 79, 84, 65 and 30 (an emulation of R's BFGS on that cost ends near
    ours too). The test therefore requires our fits to cost less than the stored ones.
    """
    june = de_tha_reddyproc_filled.loc["1998-06-01 00:15":"1998-06-09 21:45"]
    assert len(june) == 428
    nee = june["NEE_f"].where(june["NEE_fqc"] == 0).to_numpy()
    sd, rg = june["NEE_fsd"].to_numpy(), june["Rg_f"].to_numpy()
    vpd, tair, pot_rad = june["VPD_f"].to_numpy(), june["Tair_f"].to_numpy(), june["PotRad"].to_numpy()

    win = _lasslop.windows(len(june), 48, 4)
    np.testing.assert_array_equal(win.start + 1, REDDYPROC_JUNE["iRecStart"])
    np.testing.assert_array_equal(win.stop, REDDYPROC_JUNE["iRecEnd"])
    np.testing.assert_array_equal(win.central + 1, REDDYPROC_JUNE["iCentralRec"])

    sensitivity = _lasslop.temperature_sensitivity(nee, tair, (rg <= 4) & (pot_rad <= 0), 48)
    np.testing.assert_allclose(sensitivity.e0, REDDYPROC_JUNE["E0"], rtol=1e-5)
    np.testing.assert_allclose(sensitivity.sd_e0, REDDYPROC_JUNE["E0_sd"], rtol=1e-3)
    np.testing.assert_allclose(sensitivity.rref, REDDYPROC_JUNE["RRef_night"], rtol=1e-6)

    fits = _lasslop.fit_windows(nee, sd, tair, vpd, rg, (rg > 4) & (pot_rad > 0), 48, sensitivity, n_boot=0,
                                rng=np.random.default_rng(0))
    np.testing.assert_array_equal(fits.n_valid, REDDYPROC_JUNE["nValidRec"])
    np.testing.assert_array_equal(fits.mean_record + 1, REDDYPROC_JUNE["iMeanRec"])
    np.testing.assert_array_equal(fits.code, 0)
    for i, (start, stop) in enumerate(zip(win.start, win.stop)):
        sl = slice(start, stop)
        day = (rg[sl] > 4) & (pot_rad[sl] > 0) & np.isfinite(nee[sl])
        records = (nee[sl][day], sd[sl][day], rg[sl][day], vpd[sl][day], tair[sl][day])
        low, high = np.quantile(records[0], [0.03, 0.97])
        prior = np.array([0.05, abs(low - high), 0.1, sensitivity.rref[i]])
        stored = np.append(REDDYPROC_JUNE["theta"][i], sensitivity.e0[i])
        assert reddyproc_cost(fits.theta[i], *records, prior) < reddyproc_cost(stored, *records, prior)


@pytest.fixture(scope="module")
def de_tha_year() -> pd.DataFrame:
    """The u* -> MDS pipeline of tests/test_flux.py (``de_tha_pipeline``), plus MDS of VPD and Rg
    (gaps only) and PotRad."""
    df = load_de_tha()
    filled = fx.gapfill_mds(fx.filter_ustar(df, fx.ustar_threshold(df)), qc="qcNEE", qc_max=1)
    for driver in ("Tair", "VPD", "Rg"):
        filled = fx.gapfill_mds(filled, driver, fill_all=False)
    filled["PotRad"] = potential_radiation(filled.index)
    return filled


def test_de_tha_1998_daytime_against_night_time_partitioning(de_tha_year):
    """Plausibility bounds, not reference values: REddyProc publishes no daytime sums for DE-Tha 1998.

    The two methods estimate the same gross fluxes from different data (day vs night), so for a
    well-measured forest their annual sums should agree closely (Lasslop et al. 2010 report
    annual GPP of both within about 10 % at most sites): GPP within 15 % and Reco within 25 % of
    the night-time method, the modelled NEE within 15 % of the gap-filled NEE sum. The window
    parameters obey Lasslop et al. (2010) Table A1 as REddyProc test_partGL.R lines 492-500
    checks them: E0 in [50, 400] K, RRef >= 0, 0 <= alpha <= 0.22, 0 <= beta < 250, k >= 0.
    """
    table = fx.compare_partitioning(de_tha_year, rg="Rg_f", tair_qc="Tair_fqc", pot_rad="PotRad")
    print("\nDE-Tha 1998, u*-filtered, gC m-2 yr-1:\n" + table.round(1).to_string())
    night, day = table.loc["nighttime"], table.loc["daytime"]
    assert list(table.index) == ["nighttime", "daytime"]
    assert (night.n_records, day.n_records) == (17520, 17520)
    assert day.GPP_gC_m2 == pytest.approx(night.GPP_gC_m2, rel=0.15)
    assert day.Reco_gC_m2 == pytest.approx(night.Reco_gC_m2, rel=0.25)
    measured_nee = fx.to_gc_m2(de_tha_year["NEE_f"].to_numpy()).sum()
    assert night.NEE_gC_m2 == pytest.approx(measured_nee, rel=1e-9)  # night-time: Reco - GPP = NEE by construction
    assert day.NEE_gC_m2 == pytest.approx(measured_nee, rel=0.15)
    assert 1000 < day.GPP_gC_m2 < 2500 and 600 < day.Reco_gC_m2 < 2000  # windows of test_flux.py

    out = fx.partition_daytime(de_tha_year, rg="Rg_f", pot_rad="PotRad")
    assert day.GPP_gC_m2 == pytest.approx(fx.to_gc_m2(out["GPP_DT"].to_numpy()).sum(), rel=1e-12)
    assert (out["GPP_DT"] >= 0).all() and (out["Reco_DT"] > 0).all()
    assert (out.loc[de_tha_year["Rg_f"] == 0, "GPP_DT"] == 0).all()
    windows = out.dropna(subset=["FP_errorcode"])
    assert len(windows) == 182  # 365 days: windows starting on days 1, 3, ..., 363
    fitted = windows.dropna(subset=["FP_beta"])
    assert len(fitted) > 0.7 * len(windows)
    assert windows["FP_E0"].between(50, 400).all()
    assert (fitted["FP_RRef"] >= 0).all() and (fitted["FP_k"] >= 0).all()
    assert fitted["FP_alpha"].between(0, 0.22).all() and fitted["FP_beta"].between(0, 250, inclusive="left").all()
    assert set(windows["FP_errorcode"].unique()) <= {0, 1, 1001, 1002, 1005, 1006, 1011}


def test_e0_equal_to_its_predecessor_counts_as_missing_in_the_smoothing():
    # REddyProc partGLSmoothTempSens: E0Win$E0[c(FALSE, diff(E0Win$E0) == 0)] <- NA (a window
    # extension can give the neighbour's estimate again); the repeated 130 K is treated as a gap
    central = np.arange(8) * 96 + 96
    e0 = np.array([100.0, 120.0, 130.0, 130.0, 110.0, 140.0, 125.0, 105.0])
    sd = np.array([10.0, 12.0, 9.0, 9.0, 15.0, 11.0, 10.0, 13.0])
    year = np.ones(8)
    with_gap = e0.copy()
    with_gap[3] = np.nan
    smoothed, smoothed_sd = _lasslop._smooth_e0(e0, sd, central, year)
    expected, expected_sd = _lasslop._smooth_e0(with_gap, sd, central, year)
    np.testing.assert_allclose(smoothed, expected, rtol=1e-12)
    np.testing.assert_allclose(smoothed_sd, expected_sd, rtol=1e-12)
    assert np.isfinite(smoothed).all() and (smoothed_sd > 0).all()
