"""Every speed idiom of npgan.speed gives the numbers of the plain idiom it replaces.

Bit for bit wherever the engine relies on it (the Gaussian example's metrics.json, the
MNIST resume identity, the walkthrough's printed gradients); the dropout mask, which
compares integers where the plain idiom compares floats, on the same random bits.
"""
import math

import numpy as np
import pytest

import npgan
from npgan import backend, nn, optim, speed
from npgan.autograd import Tensor
from npgan.functions import matrix

DTYPES = [np.float32, np.float64]
SLOPES = [0.0, 0.01, 0.1, 0.2, 0.3, 1 / 3, 0.5, 0.7, 1.0, 1.5, -0.3]


def same_bits(a, b):
    """Equal arrays, bit for bit (so -0.0 differs from 0.0 and NaNs must match)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes(), f"max difference {np.max(np.abs(a - b))}"


def inputs(dtype, n=1000, seed=0):
    """Values of both signs and many scales, with the kinks 0.0 and -0.0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * np.exp(rng.uniform(-20, 5, n))
    x[:4] = [0.0, -0.0, 1e-30, -1e-30]
    return x.astype(dtype)


# --- 1. the array cache ---------------------------------------------------------

def test_cache_hands_out_an_array_only_when_nothing_else_holds_it():
    cache = speed.ArrayCache(min_bytes=0)
    a = cache.empty(np, (4, 4), np.float32)
    b = cache.empty(np, (4, 4), np.float32)
    assert a is not b  # a is held here, so it is not handed out again
    del a
    c = cache.empty(np, (4, 4), np.float32)
    assert c is not b and c.shape == (4, 4)


def train_steps(cache_on, steps=3):
    """Parameters after a few GAN steps at a batch large enough for the cache (64 KiB arrays)."""
    saved = speed._cache.max_bytes
    speed.empty_cache()
    speed._cache.max_bytes = saved if cache_on else 0  # 0: nothing kept, plain numpy.empty
    try:
        npgan.manual_seed(3)
        G = nn.Sequential(nn.Linear(8, 64), nn.LeakyReLU(0.2), nn.Linear(64, 32), nn.Tanh())
        D = nn.Sequential(nn.Linear(32, 64), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                          nn.Linear(64, 64), nn.ELU(), nn.Linear(64, 1))
        trainer = npgan.gan.GANTrainer(
            G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=1e-3),
            lambda n: npgan.random.uniform(-1, 1, (n, 32)), lambda n: npgan.random.rand(n, 8),
            batch_size=512)
        for _ in range(steps):
            trainer.step()
        return [p.numpy() for p in list(G.parameters()) + list(D.parameters())]
    finally:
        speed.empty_cache()
        speed._cache.max_bytes = saved


def test_training_with_the_cache_equals_training_without_it():
    for a, b in zip(train_steps(True), train_steps(False)):
        same_bits(a, b)


# --- 2. dropout masks from raw bits -----------------------------------------------

@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("n", [1, 7, (1 << 14) + 3])
def test_keep_mask_from_bits_is_the_plain_comparison_of_the_same_bits(p, n):
    """On the same 32-bit words u, [u >= p 2^32] is the plain u / 2^32 >= p (exact where
    p 2^32 is an integer, as here)."""
    keep = speed.keep_mask(backend.Generator(5, "numpy"), (n,), p)
    raw = np.random.Generator(np.random.PCG64(5)).bit_generator.random_raw((n + 1) // 2)
    u = np.stack([raw & 0xFFFFFFFF, raw >> 32], axis=1).reshape(-1)[:n]
    np.testing.assert_array_equal(keep, u.astype(np.float64) * 2.0 ** -32 >= p)


def test_keep_mask_and_the_plain_mask_keep_one_minus_p():
    rng = backend.Generator(0, "numpy")
    for mask in (speed.keep_mask(rng, (200_000,), 0.3), speed.keep_mask_plain(rng, (200_000,), 0.3)):
        assert mask.dtype == np.bool_
        assert abs(mask.mean() - 0.7) < 0.005


# --- 3. LeakyReLU without where ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s", SLOPES)
def test_leaky_relu_slope_and_output_are_the_where_forms(dtype, s):
    x = inputs(dtype)
    same_bits(speed.leaky_relu_slope(x, s), speed.leaky_relu_slope_plain(x, s))
    same_bits(speed.leaky_relu_no_graph(x, s), speed.leaky_relu_no_graph_plain(x, s))


# --- 4 to 7: products, matrix products, the sigmoid pair, gradient sums --------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_times_and_add_grads_are_the_operators(dtype):
    a, b = inputs(dtype, seed=1), inputs(dtype, seed=2)
    same_bits(speed.times(a, b), speed.times_plain(a, b))
    same_bits(speed.add_grads(a, b), speed.add_grads_plain(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k,m", [(512, 1, 16), (256, 16, 16), (64, 784, 128), (7, 3, 1)])
def test_matmul_2d_is_the_matmul_operator(dtype, n, k, m):
    """The three products of a Linear layer: x W^T (forward), gy W and gy^T x (backward)."""
    rng = np.random.default_rng(n + k + m)
    x = rng.standard_normal((n, k)).astype(dtype)
    W = rng.standard_normal((m, k)).astype(dtype)
    gy = rng.standard_normal((n, m)).astype(dtype)
    for a, b in ((x, W.T), (gy, W), (gy.T, x)):
        same_bits(speed.matmul_2d(a, b), speed.matmul_2d_plain(a, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_pair_is_two_sigmoids(dtype):
    x = np.concatenate([inputs(dtype), np.array([40, -40, 1e4, -1e4], dtype=dtype)])
    for fast, plain in zip(speed.sigmoid_pair(x), speed.sigmoid_pair_plain(x)):
        same_bits(fast, plain)


def test_tensors_get_the_recorded_plain_forms():
    x = npgan.tensor([[0.5, -2.0]], dtype="float64", requires_grad=True)
    for out in (speed.times(x, np.array([[2.0, 3.0]])), speed.add_grads(x, x),
                speed.matmul_2d(x, x.T), *speed.sigmoid_pair(x)):
        assert isinstance(out, Tensor) and out.requires_grad


# --- 8. a rule told which gradients to skip ------------------------------------------

def test_backward_with_needs_gives_the_wanted_gradients_and_restores_needs():
    rng = np.random.default_rng(0)
    x, W, b = (Tensor(rng.standard_normal(s), requires_grad=True) for s in ((5, 3), (2, 3), (2,)))
    fn = matrix.Linear()
    y = fn(x, W, b)
    gy = rng.standard_normal((5, 2))
    args = [x.data, W.data, b.data, y.data]
    recorded = fn.needs
    needs = (True, False, False)
    fast = speed.backward_with_needs(fn, needs, gy, args)
    assert fn.needs is recorded
    plain = speed.backward_with_needs_plain(fn, needs, gy, args)
    assert fast[1] is None and fast[2] is None and plain[1] is None and plain[2] is None
    same_bits(fast[0], plain[0])


# --- 9. optimizer rules over a flat buffer, in blocks ----------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [10, speed.BLOCK, 2 * speed.BLOCK + 5])
def test_optimizer_updates_are_their_formulas(dtype, n):
    """speed's blocked, in-place updates against optim's rules written as formulas, for three
    steps, on a buffer of one block, exactly one, and several."""
    rng = np.random.default_rng(n)
    p0 = rng.standard_normal(n).astype(dtype)
    grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
    fast = [p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)]
    plain = [p0.copy(), np.zeros(n, dtype), np.zeros(n, dtype)]
    b1, b2, eps, lr = 0.5, 0.999, 1e-8, 2e-4
    for t, g in enumerate(grads, start=1):
        step_size, bc2 = lr / (1 - b1 ** t), math.sqrt(1 - b2 ** t)
        speed.adam_update(fast[0], g, fast[1], fast[2], b1, b2, eps, step_size, bc2)
        optim.adam_rule(plain[0], g, plain[1], plain[2], b1, b2, eps, step_size, bc2)
    for a, b in zip(fast, plain):
        same_bits(a, b)

    fast, plain = [p0.copy(), np.zeros(n, dtype)], [p0.copy(), np.zeros(n, dtype)]
    for g in grads:
        speed.rmsprop_update(fast[0], g, fast[1], 0.99, 1e-2, 1e-8)
        optim.rmsprop_rule(plain[0], g, plain[1], 0.99, 1e-2, 1e-8)
    for a, b in zip(fast, plain):
        same_bits(a, b)

    fast, plain = p0.copy(), p0.copy()
    for g in grads:
        speed.sgd_update(fast, g, 0.1)
        optim.sgd_rule(plain, g, 0.1)
    same_bits(fast, plain)


# --- 10. normalization in fewer passes -----------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axes", [((5, 3), (0,)), ((4, 3, 5), (0, 2)),
                                        ((3, 4, 2, 5), (0, 2, 3)), ((3, 4, 5), (1, 2)),
                                        ((6,), (0,))])
def test_normalize_and_its_gradient_are_the_plain_formulas(dtype, shape, axes):
    """Sums in another order (einsum): equal to rounding, not bit for bit."""
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    fast, plain = speed.normalize(x, axes, 1e-5), speed.normalize_plain(x, axes, 1e-5)
    for a, b in zip(fast, plain):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)
    y, inv_std = plain[0], plain[3]
    a = speed.normalize_grad(gy, y, inv_std, axes)
    b = speed.normalize_grad_plain(gy, y, inv_std, axes)
    assert a.dtype == b.dtype == dtype
    np.testing.assert_allclose(a, b, **tol)
    t = speed.normalize_grad(Tensor(gy), Tensor(y), Tensor(inv_std), axes)
    assert isinstance(t, Tensor)
    np.testing.assert_array_equal(t.data, b)  # a Tensor gets the plain formula itself
    for a, b in ((speed.sums(gy, axes), speed.sums_plain(gy, axes)),
                 (speed.sums_of_products(gy, x, axes), speed.sums_of_products_plain(gy, x, axes))):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)
    for f in (speed.sums(Tensor(gy), axes), speed.sums_of_products(Tensor(gy), x, axes)):
        assert isinstance(f, Tensor)
    w, b = plain[1] + 1, plain[2]  # (keepdims) per-feature factors
    same_bits(speed.affine(x, w, b), speed.affine_plain(x, w, b))
