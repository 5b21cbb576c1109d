"""npgan.metrics against closed forms: normal cdf values, KS of exact quantile samples, W1 of shifts."""
import math

import numpy as np
import pytest

from npgan import metrics


def test_normal_cdf_known_values():
    assert metrics.normal_cdf(0.0) == pytest.approx(0.5, abs=1e-12)
    assert metrics.normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-6)
    assert metrics.normal_cdf(-1.959964) == pytest.approx(0.025, abs=1e-6)
    assert metrics.normal_cdf(1.0) == pytest.approx(0.8413447460685429, abs=1e-12)
    # location and scale: the cdf of N(4, 1.25^2) at 4 + 1.25 z is Phi(z)
    assert metrics.normal_cdf(4 + 1.25 * 1.959964, 4, 1.25) == pytest.approx(0.975, abs=1e-6)


def test_normal_cdf_is_vectorised_and_matches_math_erf():
    x = np.linspace(-8, 8, 161)
    expected = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    got = metrics.normal_cdf(x)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    # the left tail keeps its relative accuracy (erfc, not 1 - erf)
    assert metrics.normal_cdf(-10.0) == pytest.approx(7.619853024160527e-24, rel=1e-12)


def test_normal_ppf_inverts_the_cdf():
    p = np.array([1e-9, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999999])
    x = metrics.normal_ppf(p, 4.0, 1.25)
    np.testing.assert_allclose(metrics.normal_cdf(x, 4.0, 1.25), p, rtol=1e-9, atol=0)
    assert metrics.normal_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-12)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        metrics.normal_ppf([0.0, 0.5])


@pytest.mark.parametrize("n", [1, 7, 1000])
def test_ks_of_exact_uniform_quantiles_is_half_over_n(n):
    x = (np.arange(1, n + 1) - 0.5) / n
    rng = np.random.default_rng(0)
    ks = metrics.ks_statistic(rng.permutation(x), lambda v: np.clip(v, 0, 1))
    assert ks == pytest.approx(0.5 / n, abs=1e-12)


def test_ks_of_exact_normal_quantiles_is_half_over_n():
    n = 500
    x = metrics.normal_ppf((np.arange(1, n + 1) - 0.5) / n, 4.0, 1.25)
    ks = metrics.ks_statistic(x, lambda v: metrics.normal_cdf(v, 4.0, 1.25))
    assert ks == pytest.approx(0.5 / n, abs=1e-9)


def test_ks_is_reached_on_either_side_of_a_jump():
    # one sample at the median: F_n jumps 0 -> 1 there, and F = 1/2 on both sides
    assert metrics.ks_statistic([0.0], metrics.normal_cdf) == pytest.approx(0.5)
    # two samples far right: F_n = 0 where F is already ~1
    assert metrics.ks_statistic([50.0, 60.0], metrics.normal_cdf) == pytest.approx(1.0)


@pytest.mark.parametrize("d", [-0.5, 0.25, 1.0])
def test_w1_of_shifted_quantile_sample_is_the_shift(d):
    m, s, n = 4.0, 1.25, 4000
    x = metrics.normal_ppf((np.arange(1, n + 1) - 0.5) / n, m + d, s)
    assert metrics.wasserstein1_normal(x, m, s) == pytest.approx(abs(d), abs=2e-3)


def test_w1_of_exact_quantile_sample_is_small_and_shrinks_with_n():
    w = [metrics.wasserstein1_normal(metrics.normal_ppf((np.arange(1, n + 1) - 0.5) / n), 0, 1)
         for n in (100, 1000, 10000)]
    assert w[0] > w[1] > w[2] and w[2] < 1e-3


def test_w1_of_a_point_mass_is_the_mean_absolute_deviation():
    # W1(delta_c, N(m, s^2)) = E|X - c|; at c = m it is s sqrt(2 / pi)
    assert metrics.wasserstein1_normal([4.0], 4.0, 1.25) == pytest.approx(
        1.25 * math.sqrt(2 / math.pi), rel=1e-12)
    assert metrics.wasserstein1_normal([4.0, 4.0, 4.0], 4.0, 1.25) == pytest.approx(
        1.25 * math.sqrt(2 / math.pi), rel=1e-12)


def test_w1_matches_brute_force_integration():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, 300)
    grid = np.linspace(3.0 - 2.0 * 12, 3.0 + 2.0 * 12, 2_000_001)
    f_n = np.searchsorted(np.sort(x), grid, side="right") / x.size
    gap = np.abs(f_n - metrics.normal_cdf(grid, 3.0, 2.0))
    brute = np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(grid))
    assert metrics.wasserstein1_normal(x, 3.0, 2.0) == pytest.approx(brute, abs=1e-4)


def test_real_samples_score_like_a_perfect_sampler():
    x = np.random.default_rng(0).normal(4.0, 1.25, 10_000)
    summary = metrics.sample_summary(x, 4.0, 1.25)
    assert summary["w1"] < 0.03
    assert summary["ks"] < 0.02
    assert abs(summary["mean"] - 4.0) < 0.05 and abs(summary["std"] - 1.25) < 0.05


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="no samples"):
        metrics.wasserstein1_normal([], 0, 1)
    with pytest.raises(ValueError, match="finite"):
        metrics.ks_statistic([0.0, float("nan")], metrics.normal_cdf)
    with pytest.raises(ValueError, match="std must be > 0"):
        metrics.wasserstein1_normal([0.0], 0, 0)
