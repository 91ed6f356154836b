"""Property tests (Hypothesis) of the science layer's invariants, on drawn inputs rather than chosen ones.

* units: a conversion and its inverse give the amount back; a unit to itself is the identity;
* MDS gap filling: measured values pass through unchanged, and every filled value is an average
  of measured donors, so it lies within the measured range (Reichstein et al. 2005: the LUT and
  MDC steps average similar records);
* night-time partitioning: GPP = Reco - NEE for every record (Reichstein et al. 2005, eq. 1;
  REddyProc ``sMRFluxPartition``), on drawn windows of DE-Tharandt 1998 that it partitions (a
  window with fewer than 3 valid E0 estimates is refused with that message, and not drawn again);
* daytime partitioning: GPP >= 0 and the modelled NEE (Reco - GPP) is, record by record, the
  light-response curve of a fitted window or an interpolation between two (Lasslop et al. 2010;
  REddyProc ``partitionNEEGL``), on drawn windows of DE-Tharandt 1998.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from carbonlib import _lasslop, flux, units
from test_flux import load_de_tha

PAIRS = [(a, b) for names in units.known_units().values() for a in names for b in names]


@given(pair=st.sampled_from(PAIRS), amount=st.floats(min_value=1e-6, max_value=1e12, allow_nan=False))
def test_a_conversion_and_its_inverse_give_the_amount_back(pair, amount):
    there = units.convert(amount, pair[0], pair[1])
    assert units.convert(there, pair[1], pair[0]) == pytest.approx(amount, rel=1e-12)
    assert units.convert(amount, pair[0], pair[0]) == pytest.approx(amount, rel=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), gap_share=st.floats(0.05, 0.6), days=st.integers(10, 40))
def test_mds_keeps_measurements_and_fills_within_the_measured_range(seed, gap_share, days):
    rng = np.random.default_rng(seed)
    n = days * 48
    index = pd.date_range("2001-05-01 00:15", periods=n, freq="30min")
    hour = np.asarray(index.hour + index.minute / 60.0)
    rg = np.clip(900 * np.sin((hour - 6) / 12 * np.pi), 0, None) * rng.uniform(0.3, 1.0, n)
    nee = 3.0 - 0.02 * rg + rng.normal(0, 2.0, n)
    nee[rng.random(n) < gap_share] = np.nan
    frame = pd.DataFrame({"NEE": nee, "Rg": rg, "Tair": 15 + 0.01 * rg + rng.normal(0, 1, n),
                          "VPD": 8 + 0.01 * rg}, index=index)
    filled = flux.gapfill_mds(frame)
    measured = np.isfinite(nee)
    np.testing.assert_array_equal(filled["NEE_f"].to_numpy()[measured], nee[measured])
    gaps = filled["NEE_f"].to_numpy()[~measured]
    gaps = gaps[np.isfinite(gaps)]
    assert ((gaps >= nee[measured].min() - 1e-9) & (gaps <= nee[measured].max() + 1e-9)).all()


@pytest.fixture(scope="module")
def tharandt_filled():
    frame = load_de_tha()
    filled = flux.gapfill_mds(flux.filter_ustar(frame, flux.ustar_threshold(frame)), qc="qcNEE", qc_max=1)
    return flux.gapfill_mds(filled, "Tair")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 200), length=st.integers(60, 165))
def test_partitioning_gives_gpp_as_reco_minus_nee_on_any_window(tharandt_filled, start, length):
    window = tharandt_filled.iloc[start * 48:(start + length) * 48]
    try:
        parts = flux.partition_nighttime(window, tair="Tair_f", tair_qc="Tair_fqc")
    except ValueError as refused:  # a window too short or too even in temperature for E0: refused, as REddyProc does
        assert "valid E0 estimates" in str(refused)
        reject()
    both = parts[["GPP_f", "Reco", "NEE_f"]].dropna()
    assert len(both) > 0.5 * len(window)
    np.testing.assert_allclose(both.GPP_f, both.Reco - both.NEE_f, rtol=0, atol=1e-12)
    assert (parts.Reco.dropna() > 0).all()  # Lloyd & Taylor respiration is positive


@pytest.fixture(scope="module")
def tharandt_daytime_drivers(tharandt_filled):
    filled = flux.gapfill_mds(tharandt_filled, "VPD", fill_all=False)
    return flux.gapfill_mds(filled, "Rg", fill_all=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.integers(0, 330), length=st.integers(5, 35))
def test_daytime_partitioning_gives_nonnegative_gpp_and_the_model_nee_on_any_window(
        tharandt_daytime_drivers, start, length):
    window = tharandt_daytime_drivers.iloc[start * 48:(start + length) * 48]
    try:
        parts = flux.partition_daytime(window, rg="Rg_f")
    except ValueError as refused:  # too few night-time E0 or RRef estimates, or no window fitted: as REddyProc
        reasons = ("temperature sensitivity", "RRef", "could not fit a single window")
        assert any(reason in str(refused) for reason in reasons)
        reject()
    gpp, reco = parts.GPP_DT.to_numpy(), parts.Reco_DT.to_numpy()
    assert np.isfinite(gpp).all() and (gpp >= 0).all()
    # model NEE of each fitted window's light-response curve (parameters at its central record)
    params = parts.loc[parts.FP_beta.notna(), [f"FP_{name}" for name in _lasslop.PARAMETERS]]
    drivers = (window.Rg_f.to_numpy(), window.VPD_f.to_numpy(), window.Tair_f.to_numpy())

    def window_nee(theta: np.ndarray) -> np.ndarray:
        window_gpp, window_reco = _lasslop.light_response(theta, *drivers)
        return window_reco - window_gpp

    per_window = np.array([window_nee(theta) for theta in params.to_numpy()])
    model_nee = reco - gpp
    # every record: a weighted mean of two windows' predictions, so within their range
    assert (model_nee >= per_window.min(axis=0) - 1e-9).all() and (model_nee <= per_window.max(axis=0) + 1e-9).all()
    # records up to the first window's anchor take that window's curve alone; the last record one window's
    np.testing.assert_allclose(model_nee[0], per_window[0, 0], rtol=0, atol=1e-9)
    assert np.isclose(per_window[:, -1], model_nee[-1], rtol=0, atol=1e-9).any()
