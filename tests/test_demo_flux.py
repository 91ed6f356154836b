"""carbonlib.flux on the demo towers: methods recover what the generator put in.

The demo generator (carbonlib/demo/signals.py, ``tower_month``) damps night-time NEE by
sqrt(u*/0.2) when u* < 0.2 m s-1: the true u* threshold of the synthetic towers is
0.2 m s-1.  The moving-point method (Papale et al. 2006) must find it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from carbonlib import flux
from carbonlib.lake import Lake

GENERATOR_USTAR_THRESHOLD = 0.2  # m s-1, carbonlib/demo/signals.py


@pytest.fixture(scope="module")
def tower_year(small_demo_lake) -> pd.DataFrame:
    with Lake.open(small_demo_lake, read_only=True) as lake:
        tower = lake.query("SELECT device_id FROM device WHERE kind = 'flux_tower' ORDER BY device_id").device_id[0]
        raw = lake.read("telemetry", columns=["metric", "ts", "value"], where="device_id = ?", params=[tower])
    wide = raw.pivot_table(index="ts", columns="metric", values="value")
    wide = wide.reindex(pd.date_range("2025-01-01", periods=17520, freq="30min"))
    wide.index = wide.index + pd.Timedelta(minutes=15)  # interval start -> half-hour midpoint
    return wide


def test_ustar_threshold_recovers_the_generator_threshold(tower_year):
    result = flux.ustar_threshold(tower_year)
    # 20 u* classes per temperature class resolve the threshold to a class mean; one
    # class width at night is about 0.05 m s-1 for the generator's lognormal u*.
    assert result.annual == pytest.approx(GENERATOR_USTAR_THRESHOLD, abs=0.05)


def test_gap_filling_fills_every_gap_shorter_than_60_days(tower_year):
    filled = flux.gapfill_mds(tower_year)
    assert tower_year.NEE.isna().mean() > 0.2, "the demo must have realistic gaps"
    assert filled.NEE_f.notna().all()
    kept = tower_year.NEE.notna()
    pd.testing.assert_series_equal(filled.NEE_f[kept], tower_year.NEE[kept], check_names=False)
    annual = flux.to_gc_m2(filled.NEE_f).sum()
    assert -1000 < annual < -200, "an evergreen subtropical plantation is a net sink of a few hundred gC m-2 yr-1"
