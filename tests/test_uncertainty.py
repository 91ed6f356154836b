"""Tests for carbonlib.uncertainty (IPCC 2006 Vol.1 Ch.3). Hand-derived expectations."""

import math

import pytest

from carbonlib import uncertainty as unc


def test_propagate_product_eq_3_1():
    # Eq 3.1: sqrt(0.03² + 0.04²) = sqrt(0.0009 + 0.0016) = 0.05; product 10 × 2 = 20
    result = unc.propagate_product([10.0, 2.0], [0.03, 0.04])
    assert result.value == pytest.approx(20.0)
    assert result.rel_uncertainty == pytest.approx(0.05)
    assert result.half_width == pytest.approx(1.0)  # 20 × 0.05


def test_propagate_sum_eq_3_2_relative_and_absolute():
    # Eq 3.2: terms 100 (±10 %) and 50 (±20 %): half-widths 10 and 10;
    # sqrt(10² + 10²) = 14.1421356; / 150 = 0.0942809
    rel = unc.propagate_sum([100.0, 50.0], [0.10, 0.20])
    assert rel.value == pytest.approx(150.0)
    assert rel.rel_uncertainty == pytest.approx(math.sqrt(200.0) / 150.0)
    absolute = unc.propagate_sum([100.0, 50.0], [10.0, 10.0], relative=False)
    assert absolute.rel_uncertainty == pytest.approx(rel.rel_uncertainty)


def test_propagate_sum_with_removal():
    # emissions 100 (±5 %), removal −60 (±10 %): half-widths 5 and 6; sqrt(25 + 36) = 7.8102497;
    # net 40 -> 7.8102497 / 40 = 0.1952562
    result = unc.propagate_sum([100.0, -60.0], [0.05, 0.10])
    assert result.rel_uncertainty == pytest.approx(math.sqrt(61.0) / 40.0)


def test_input_errors():
    with pytest.raises(ValueError, match="2 values but 1 uncertainties"):
        unc.propagate_product([1.0, 2.0], [0.1])
    with pytest.raises(ValueError, match="non-negative"):
        unc.propagate_sum([1.0, 2.0], [0.1, -0.1])
    with pytest.raises(ValueError, match="sum is zero"):
        unc.propagate_sum([1.0, -1.0], [0.1, 0.1])


def test_approach_1_and_monte_carlo_agree_for_a_linear_case():
    # sum of two independent normals: Approach 1 gives 0.0942809 (see Eq 3.2 test above);
    # for a linear model Approach 2 must give the same 95 % half-width within sampling error
    expected = unc.propagate_sum([100.0, 50.0], [0.10, 0.20])
    result = unc.monte_carlo(
        lambda a, b: a + b,
        {"a": unc.normal_from_uncertainty(100.0, 0.10), "b": unc.normal_from_uncertainty(50.0, 0.20)},
        n=50_000, seed=42,
    )
    assert result.mean == pytest.approx(150.0, rel=0.002)
    assert result.rel_uncertainty == pytest.approx(expected.rel_uncertainty, rel=0.03)
    assert result.ci_low < 150.0 < result.ci_high


def test_monte_carlo_fixed_inputs_and_reproducibility():
    # a constant input passes through: 2 × x with x ~ N(10, ·) -> mean ≈ 20
    dists = {"x": unc.normal_from_uncertainty(10.0, 0.1), "k": 2.0}
    first = unc.monte_carlo(lambda x, k: k * x, dists, n=2_000, seed=1)
    second = unc.monte_carlo(lambda x, k: k * x, dists, n=2_000, seed=1)
    assert first == second
    assert first.mean == pytest.approx(20.0, rel=0.01)
    with pytest.raises(ValueError, match="at least 100"):
        unc.monte_carlo(lambda x: x, {"x": 1.0}, n=10)


def test_fuel_combustion_uncertainty():
    # value: 10 t diesel × 3.0959096 tCO2/t = 30.959096 tCO2 (see test_emissions);
    # Eq 3.1: sqrt(0.02² + 0.01² + 0.02² + 0.0²) = sqrt(0.0009) = 0.03
    result = unc.fuel_combustion_uncertainty(10.0, "t", "diesel", u_amount=0.02, u_ncv=0.01,
                                             u_carbon_content=0.02)
    assert result.value == pytest.approx(30.959096, rel=1e-7)
    assert result.rel_uncertainty == pytest.approx(0.03)


def test_stock_change_uncertainty_hand_derived():
    """Chinese fir parameters (WD 0.307, BEF 1.634, R 0.246, CF 0.520) and two surveys.

    ΔC = (1200 − 1000) m3 × 0.307 × 1.634 × 1.246 × 0.520 / 5 yr
       = 200 × 0.307 = 61.4; × 1.634 = 100.3276; × 1.246 = 125.00819; × 0.520 = 65.004259 tC; / 5 = 13.000852 tC/yr.
    U(ΔV) = sqrt((0.1·1000)² + (0.1·1200)²) / 200 = sqrt(10000 + 14400) / 200 = 156.2050 / 200 = 0.7810250.
    U(1+R) = 0.3 × 0.246 / 1.246 = 0.0592295.
    U = sqrt(0.7810250² + 0.1² + 0.2² + 0.0592295² + 0.02²)
      = sqrt(0.6099999 + 0.01 + 0.04 + 0.0035081 + 0.0004) = sqrt(0.6639080) = 0.8148055.
    """
    from carbonlib.uncertainty import stock_change_uncertainty

    result = stock_change_uncertainty(1000.0, 1200.0, 5.0, wood_density=0.307, bef=1.634, root_shoot=0.246,
                                      carbon_fraction=0.520, u_volume=0.1, u_wood_density=0.1, u_bef=0.2,
                                      u_root_shoot=0.3, u_carbon_fraction=0.02)
    assert result.value == pytest.approx(13.000852, rel=1e-6)
    assert result.rel_uncertainty == pytest.approx(0.8148055, rel=1e-6)


def test_stock_change_uncertainty_agrees_with_monte_carlo():
    """Approach 1 and Approach 2 agree when the uncertainties are moderate (IPCC Vol.1 3.2.3.1)."""
    from carbonlib.uncertainty import monte_carlo, normal_from_uncertainty, stock_change_uncertainty

    u = dict(u_volume=0.02, u_wood_density=0.05, u_bef=0.05, u_root_shoot=0.1, u_carbon_fraction=0.02)
    approach1 = stock_change_uncertainty(1000.0, 1500.0, 5.0, wood_density=0.307, bef=1.634, root_shoot=0.246,
                                         carbon_fraction=0.520, **u)
    result = monte_carlo(
        lambda v1, v2, wd, bef, r, cf: (v2 - v1) * wd * bef * (1 + r) * cf / 5.0,
        {"v1": normal_from_uncertainty(1000.0, 0.02), "v2": normal_from_uncertainty(1500.0, 0.02),
         "wd": normal_from_uncertainty(0.307, 0.05), "bef": normal_from_uncertainty(1.634, 0.05),
         "r": normal_from_uncertainty(0.246, 0.1), "cf": normal_from_uncertainty(0.520, 0.02)},
        n=50_000, seed=7,
    )
    assert result.mean == pytest.approx(approach1.value, rel=0.01)
    assert result.rel_uncertainty == pytest.approx(approach1.rel_uncertainty, rel=0.1)
    with pytest.raises(ValueError, match="same volume"):
        stock_change_uncertainty(1.0, 1.0, 5.0, wood_density=0.3, bef=1.5, root_shoot=0.2, carbon_fraction=0.5, **u)
