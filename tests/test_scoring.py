"""Frechet distance and class histograms against closed forms; the scoring classifier end to end.

The classifier is trained on a synthetic, separable stand-in for MNIST: ten
well-separated clusters in 784-d, a few hundred points, well under a second.
"""
import functools
import math

import numpy as np
import pytest

import npgan
from npgan import metrics, scoring


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def random_covariance(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# --- gaussian_statistics ------------------------------------------------------------------

def test_gaussian_statistics_match_numpy():
    f = np.random.default_rng(0).normal(size=(50, 4)) * [1.0, 2.0, 0.5, 3.0] + [1, -2, 0, 5]
    mu, sigma = metrics.gaussian_statistics(f.astype(np.float32))
    np.testing.assert_allclose(mu, f.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(f, rowvar=False, ddof=1), rtol=1e-5)
    assert mu.dtype == sigma.dtype == np.float64
    # the unbiased estimate by hand for two points: variance (a - b)^2 / 2
    _, s = metrics.gaussian_statistics([[1.0], [4.0]])
    assert s.tolist() == [[4.5]]


def test_gaussian_statistics_errors():
    with pytest.raises(ValueError, match=r"2-D \(N, d\), got shape \(5,\)"):
        metrics.gaussian_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.gaussian_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="finite"):
        metrics.gaussian_statistics([[0.0], [np.nan]])


# --- frechet_distance ---------------------------------------------------------------------

def test_frechet_equal_gaussians_is_zero():
    rng = np.random.default_rng(1)
    mu, s = rng.normal(size=6), random_covariance(rng, 6)
    d = metrics.frechet_distance(mu, s, mu, s)
    assert 0.0 <= d < 1e-10
    assert isinstance(d, float)


@pytest.mark.parametrize("m1,s1,m2,s2", [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5),
                                         (3.0, 0.1, 3.0, 4.0), (0.0, 0.0, 2.0, 1.5)])
def test_frechet_one_dimensional(m1, s1, m2, s2):
    d = metrics.frechet_distance([m1], [[s1 ** 2]], [m2], [[s2 ** 2]])
    assert math.isclose(d, (m1 - m2) ** 2 + (s1 - s2) ** 2, rel_tol=1e-12, abs_tol=1e-12)


def test_frechet_diagonal_covariances():
    rng = np.random.default_rng(2)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    a, b = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
    expected = np.sum((m1 - m2) ** 2 + (np.sqrt(a) - np.sqrt(b)) ** 2)
    assert math.isclose(metrics.frechet_distance(m1, np.diag(a), m2, np.diag(b)), expected,
                        rel_tol=1e-12)


def test_frechet_commuting_covariances():
    """Same eigenvectors Q: d = ||m1 - m2||^2 + sum_k (sqrt(a_k) - sqrt(b_k))^2."""
    rng = np.random.default_rng(3)
    q = random_rotation(rng, 6)
    a, b = rng.uniform(0.05, 4.0, size=6), rng.uniform(0.05, 4.0, size=6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert math.isclose(metrics.frechet_distance(m1, s1, m2, s2), expected, rel_tol=1e-10)


def test_frechet_two_dimensional_non_commuting_closed_form():
    """For 2x2 PSD M, Tr M^1/2 = sqrt(Tr M + 2 sqrt(det M)), and M = S1^1/2 S2 S1^1/2 has
    Tr M = Tr(S1 S2), det M = det S1 det S2."""
    rng = np.random.default_rng(4)
    for _ in range(5):
        s1, s2 = random_covariance(rng, 2), random_covariance(rng, 2)
        assert not np.allclose(s1 @ s2, s2 @ s1)
        m1, m2 = rng.normal(size=2), rng.normal(size=2)
        tr_sqrt = math.sqrt(np.trace(s1 @ s2) + 2 * math.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
        expected = np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
        assert math.isclose(metrics.frechet_distance(m1, s1, m2, s2), expected, rel_tol=1e-10)


def test_frechet_symmetric_for_non_commuting_covariances():
    rng = np.random.default_rng(5)
    for d in (3, 8, 20):
        m1, m2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = random_covariance(rng, d), random_covariance(rng, d)
        assert not np.allclose(s1 @ s2, s2 @ s1)
        ab, ba = metrics.frechet_distance(m1, s1, m2, s2), metrics.frechet_distance(m2, s2, m1, s1)
        assert ab > 0
        assert math.isclose(ab, ba, rel_tol=1e-10)


def test_frechet_singular_covariance():
    """S1 = 0 (a point mass): d = ||m1 - m2||^2 + Tr S2; rank-deficient S1 stays finite."""
    rng = np.random.default_rng(6)
    s2 = random_covariance(rng, 4)
    m = rng.normal(size=4)
    assert math.isclose(metrics.frechet_distance(m, np.zeros((4, 4)), np.zeros(4), s2),
                        m @ m + np.trace(s2), rel_tol=1e-12)
    v = rng.normal(size=(4, 1))
    low_rank = v @ v.T   # rank 1: eigenvalues 0 up to rounding, clipped
    d = metrics.frechet_distance(np.zeros(4), low_rank, np.zeros(4), low_rank)
    assert 0.0 <= d < 1e-7


def test_frechet_errors():
    with pytest.raises(ValueError, match="same length"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(2, 2\)"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="sigma1 must be finite"):
        metrics.frechet_distance(np.zeros(1), [[np.inf]], np.zeros(1), [[1.0]])


# --- class_histogram_metrics --------------------------------------------------------------

def one_hot_probs(classes, c, confidence=1.0):
    p = np.full((len(classes), c), (1 - confidence) / (c - 1))
    p[np.arange(len(classes)), classes] = confidence
    return p


def test_class_histogram_balanced():
    r = metrics.class_histogram_metrics(one_hot_probs([0, 1, 2, 3, 3, 2, 1, 0], 4, 0.7))
    assert r["classes_covered"] == 4
    assert r["class_fractions"] == [0.25] * 4
    assert r["kl_from_uniform"] == 0.0
    assert math.isclose(r["mean_top_confidence"], 0.7, rel_tol=1e-15)


@pytest.mark.parametrize("c", [2, 10])
def test_class_histogram_all_one_class(c):
    r = metrics.class_histogram_metrics(one_hot_probs([1] * 5, c))
    assert r["classes_covered"] == 1
    assert r["class_fractions"] == [0.0, 1.0] + [0.0] * (c - 2)
    assert math.isclose(r["kl_from_uniform"], math.log(c), rel_tol=1e-15)
    assert r["mean_top_confidence"] == 1.0


def test_class_histogram_partial():
    """Two of four classes, evenly: KL = log 4 - H = log 4 - log 2 = log 2."""
    p = np.array([[0.6, 0.4, 0.0, 0.0], [0.1, 0.9, 0.0, 0.0],
                  [0.5, 0.2, 0.2, 0.1], [0.0, 0.3, 0.3, 0.4]])
    r = metrics.class_histogram_metrics(p)
    # argmax: 0, 1, 0, 3
    assert r["classes_covered"] == 3
    assert r["class_fractions"] == [0.5, 0.25, 0.0, 0.25]
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert math.isclose(r["kl_from_uniform"], math.log(4) - h, rel_tol=1e-14)
    assert math.isclose(r["mean_top_confidence"], (0.6 + 0.9 + 0.5 + 0.4) / 4, rel_tol=1e-15)
    r2 = metrics.class_histogram_metrics(one_hot_probs([0, 1, 0, 1], 4))
    assert math.isclose(r2["kl_from_uniform"], math.log(2), rel_tol=1e-15)


def test_class_histogram_errors():
    with pytest.raises(ValueError, match="2-D"):
        metrics.class_histogram_metrics(np.ones(3) / 3)
    with pytest.raises(ValueError, match="not logits"):
        metrics.class_histogram_metrics([[2.0, -1.0], [0.5, 0.1]])
    with pytest.raises(ValueError, match="finite"):
        metrics.class_histogram_metrics([[np.nan, 1.0]])


# --- the scoring classifier on a synthetic separable problem ----------------------------

def clusters(n_per_class, seed, only=None):
    """Points of ten well-separated clusters in [-1, 1]^784 and their labels (host arrays).

    Centres are fixed (seed 100); points are centre + 0.25 noise, clipped to [-1, 1]."""
    centres = np.random.default_rng(100).uniform(-0.8, 0.8, size=(10, 784))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10) if only is None else [only], n_per_class)
    x = centres[labels] + 0.25 * rng.normal(size=(labels.size, 784))
    return np.clip(x, -1, 1).astype(np.float32), labels


@functools.lru_cache(maxsize=None)
def trained(backend_name):
    """A classifier trained once per backend (the backend is the active one)."""
    npgan.manual_seed(0)
    train_x, train_y = clusters(30, seed=1)
    held_x, held_y = clusters(20, seed=2)
    lines = []
    model, acc = scoring.train_classifier(train_x, train_y, held_x, held_y, epochs=10,
                                          batch_size=100, log=lines.append)
    return model, acc, lines


def test_classifier_learns_separable_clusters(backend_name):
    model, acc, lines = trained(backend_name)
    held_x, held_y = clusters(20, seed=2)
    other_x, other_y = clusters(20, seed=3)
    assert acc == 1.0
    assert scoring.accuracy(model, held_x, held_y) == 1.0
    assert scoring.accuracy(model, npgan.tensor(other_x), npgan.tensor(other_y)) == 1.0
    assert not model.training
    assert len(lines) == 10 and lines[-1].startswith("classifier epoch 10/10: train loss ")
    assert lines[-1].endswith("held-out accuracy 1.0000")


def test_probabilities_and_features(backend_name):
    model, _, _ = trained(backend_name)
    x, y = clusters(5, seed=4)
    model.train()  # the helpers evaluate in eval mode and restore the mode
    p = scoring.predict_probabilities(model, x, batch_size=7)
    f = scoring.extract_features(model, x, batch_size=7)
    assert model.training
    model.eval()
    assert isinstance(p, np.ndarray) and isinstance(f, np.ndarray)
    assert p.shape == (50, 10) and f.shape == (50, 128)
    assert p.dtype == f.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(p.argmax(axis=1), y)
    # batching changes only BLAS rounding
    np.testing.assert_allclose(f, scoring.extract_features(model, x), rtol=1e-4, atol=1e-5)
    assert np.all(f >= 0)  # ReLU activations


def test_score_generated_real_against_real(backend_name):
    model, _, _ = trained(backend_name)
    held_x, _ = clusters(20, seed=2)
    ref_x, _ = clusters(20, seed=5)
    gen_x, _ = clusters(20, seed=6)
    s = scoring.score_generated(model, ref_x, held_x, ref_x)
    assert s["fid"] == s["fid_real_floor"] > 0   # the reference itself scores the floor
    s = scoring.score_generated(model, gen_x, held_x, ref_x)   # a perfect generator
    assert s["fid"] < 1.5 * s["fid_real_floor"]
    assert s["classes_covered"] == 10
    assert s["class_fractions"] == [0.1] * 10
    assert s["kl_from_uniform"] == 0.0
    assert s["mean_top_confidence"] > 0.9
    assert s["n_generated"] == 200


def test_score_generated_collapsed(backend_name):
    model, _, _ = trained(backend_name)
    held_x, _ = clusters(20, seed=2)
    ref_x, _ = clusters(20, seed=5)
    one_x, _ = clusters(200, seed=7, only=3)
    s = scoring.score_generated(model, npgan.tensor(one_x), held_x, ref_x)
    assert s["classes_covered"] == 1
    assert s["class_fractions"][3] == 1.0
    assert math.isclose(s["kl_from_uniform"], math.log(10), rel_tol=1e-12)
    assert s["fid"] > 5 * s["fid_real_floor"]
    assert s["n_generated"] == 200


def test_training_is_repeatable_with_a_seed(backend_name):
    x, y = clusters(3, seed=8)
    states = []
    for _ in range(2):
        npgan.manual_seed(11)
        model, _ = scoring.train_classifier(x, y, x, y, epochs=1, batch_size=10, log=None)
        states.append(model.state_dict())
    for k in states[0]:
        np.testing.assert_array_equal(states[0][k], states[1][k])


def test_scoring_errors(backend_name):
    model, _, _ = trained(backend_name)
    with pytest.raises(ValueError, match=r"shape \(N, 784\).*got shape \(2, 28, 28\)"):
        scoring.extract_features(model, np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        scoring.predict_probabilities(model, np.zeros((2, 784)), batch_size=0)
    x, y = clusters(1, seed=9)
    with pytest.raises(TypeError, match="labels must be integers"):
        scoring.accuracy(model, x, y.astype(np.float32))
    with pytest.raises(ValueError, match=r"expected 10 labels"):
        scoring.train_classifier(x, y[:5], x, y, log=None)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        scoring.train_classifier(x, y, x, y, epochs=0, log=None)
