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
