"""Toy 2-D mixtures (npgan.datasets) and the mode-coverage metrics, by closed forms."""
import math

import pytest

import npgan
from npgan import backend, datasets, metrics

np = backend.numpy


def test_ring_centres_are_eight_distinct_unit_vectors():
    c = datasets.mode_centres("ring")
    assert c.shape == (8, 2)
    for k in range(8):
        assert c[k] == pytest.approx([math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)])
    # no repeated mode (linspace(0, 2 pi, 8) would repeat (1, 0)); neighbours 2 sin(pi/8) apart
    d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1)) + np.eye(8) * 9
    assert d.min() == pytest.approx(2 * math.sin(math.pi / 8))


def test_grid_centres():
    c = datasets.mode_centres("grid")
    assert c.shape == (25, 2)
    assert sorted(map(tuple, c.tolist())) == [(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]
    assert datasets.sigma("grid") == 0.05 and datasets.sigma("ring") == 0.01


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_lie_near_their_modes_and_cover_them(backend_name, name):
    x = datasets.sample(name, 20_000)
    assert x.shape == (20_000, 2) and x.dtype == npgan.float32
    assert backend.backend_name(x.data) == backend_name
    host = x.numpy()
    c, s = datasets.mode_centres(name), datasets.sigma(name)
    d2 = ((host[:, None] - c[None]) ** 2).sum(-1)
    near = np.argmin(d2, axis=1)
    r = np.sqrt(d2.min(axis=1))
    # the distance to the centre is Rayleigh(sigma): P(r > 3 sigma) = exp(-4.5) = 1.1%
    assert abs((r > 3 * s).mean() - math.exp(-4.5)) < 0.004
    counts = np.bincount(near, minlength=len(c))
    assert counts.min() > 0.8 * 20_000 / len(c) and counts.max() < 1.2 * 20_000 / len(c)
    # seeded: the same seed gives the same samples
    npgan.manual_seed(5)
    a = datasets.sample(name, 10).numpy()
    npgan.manual_seed(5)
    assert (datasets.sample(name, 10).numpy() == a).all()


def test_dataset_errors():
    with pytest.raises(ValueError, match="dataset must be one of \\['grid', 'ring'\\], got 'spiral'"):
        datasets.sample("spiral", 10)
    with pytest.raises(ValueError, match="n must be a positive int"):
        datasets.ring(0)


# --- metrics ------------------------------------------------------------------------

@pytest.mark.parametrize("name, k", [("ring", 8), ("grid", 25)])
def test_exact_centres_cover_every_mode_uniformly(name, k):
    c = datasets.mode_centres(name)
    out = metrics.mode_coverage(np.repeat(c, 3, axis=0), c, datasets.sigma(name))
    assert out["modes"] == k and out["hq"] == 100.0 and out["reverse_kl"] == pytest.approx(0, abs=1e-15)
    assert out["counts"] == [3] * k


def test_one_mode_gives_kl_log_k():
    c = datasets.mode_centres("ring")
    out = metrics.mode_coverage(np.tile(c[3], (100, 1)), c, 0.01)
    assert out["modes"] == 1 and out["hq"] == 100.0
    assert out["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)


def test_two_modes_three_to_one():
    c = datasets.mode_centres("ring")
    x = np.concatenate([np.tile(c[0], (3, 1)), np.tile(c[5], (1, 1))])
    q = np.array([0.75, 0.25])
    out = metrics.mode_coverage(x, c, 0.01)
    assert out["modes"] == 2 and out["reverse_kl"] == pytest.approx(float((q * np.log(8 * q)).sum()))


def test_high_quality_is_within_three_sigma():
    c = datasets.mode_centres("grid")
    s = 0.05
    direction = np.array([0.6, 0.8])
    x = np.stack([c[0] + 2.9 * s * direction, c[1] + 4 * s * direction,
                  c[2] + 4 * s * direction, c[3] - 2.0 * s * direction])
    out = metrics.mode_coverage(x, c, s)
    assert out["hq"] == 50.0 and out["modes"] == 2
    assert [i for i, n in enumerate(out["counts"]) if n] == [0, 3]
    assert out["reverse_kl"] == pytest.approx(math.log(25 / 2))   # q = (1/2, 1/2)
    # no high-quality sample at all: nothing covered, KL infinite
    far = metrics.mode_coverage(c[:2] + 4 * s, c, s)
    assert far["modes"] == 0 and far["hq"] == 0.0 and far["reverse_kl"] == math.inf


def test_mode_coverage_errors():
    c = datasets.mode_centres("ring")
    with pytest.raises(ValueError, match="sigma must be > 0"):
        metrics.mode_coverage(c, c, 0)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        metrics.mode_coverage(c, c, 0.01, threshold=0)
    with pytest.raises(ValueError, match="same d"):
        metrics.mode_coverage(np.zeros((4, 3)), c, 0.01)
    with pytest.raises(ValueError, match="finite"):
        metrics.mode_coverage(np.array([[np.nan, 0.0]]), c, 0.01)
