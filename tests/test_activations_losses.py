"""Activations and losses: derivatives to second order, closed-form values, stability.

Expected values are computed independently here with numpy and math, never
taken from npgan's own output.
"""
import math

import numpy as np
import pytest

import npgan
from conftest import check_gradients
from npgan import activations as A
from npgan import losses as L

REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def check(fn, inputs, **kw):
    """First and second derivatives against finite differences; the create_graph first
    derivative against the plain one (conftest.check_gradients)."""
    check_gradients(fn, inputs, **kw)


def close(tensor, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Values with |x| in [low, high] and random signs: no kink of relu/leaky/elu nearby."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


# --- activations: derivatives and forward values ---------------------------------------

ACTIVATIONS = {
    # name: (npgan fn, independent numpy fn)
    "relu": (A.relu, lambda x: np.maximum(x, 0.0)),
    "leaky_relu_0.2": (lambda x: A.leaky_relu(x, negative_slope=0.2),
                       lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_relu_default": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    "leaky_relu_1.5": (lambda x: A.leaky_relu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * x)),
    "leaky_relu_-0.3": (lambda x: A.leaky_relu(x, -0.3), lambda x: np.where(x > 0, x, -0.3 * x)),
    "elu_1": (A.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
    "elu_0.7": (lambda x: A.elu(x, alpha=0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1.0))),
    "sigmoid": (A.sigmoid, np_sigmoid),
    "tanh": (A.tanh, np.tanh),
    "softplus": (A.softplus, lambda x: np.log1p(np.exp(x))),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)])
def test_activation_derivatives(backend_name, name, shape):
    fn, np_fn = ACTIVATIONS[name]
    x_np = away_from_zero(np.random.default_rng(len(shape)), shape)
    x = t64(x_np)
    close(fn(x), np_fn(x_np), rtol=1e-10)
    check(fn, [x])


ACTIVATION_DERIVATIVES = {
    # name: (npgan fn, first derivative, second derivative), all in closed form
    "relu": (A.relu, lambda x: (x > 0) * 1.0, lambda x: 0 * x),
    "leaky_relu_0.2": (lambda x: A.leaky_relu(x, 0.2), lambda x: np.where(x > 0, 1.0, 0.2),
                       lambda x: 0 * x),
    "elu_0.7": (lambda x: A.elu(x, 0.7), lambda x: np.where(x > 0, 1.0, 0.7 * np.exp(x)),
                lambda x: np.where(x > 0, 0.0, 0.7 * np.exp(x))),
    "sigmoid": (A.sigmoid, lambda x: np_sigmoid(x) * (1 - np_sigmoid(x)),
                lambda x: np_sigmoid(x) * (1 - np_sigmoid(x)) * (1 - 2 * np_sigmoid(x))),
    "tanh": (A.tanh, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "softplus": (A.softplus, np_sigmoid, lambda x: np_sigmoid(x) * (1 - np_sigmoid(x))),
}


@pytest.mark.parametrize("name", list(ACTIVATION_DERIVATIVES))
def test_activation_derivatives_closed_form(backend_name, name):
    fn, d1, d2 = ACTIVATION_DERIVATIVES[name]
    x_np = np.array([-2.0, -0.5, -0.15, 0.2, 1.0, 3.0])
    x = t64(x_np)
    g, = npgan.grad(fn(x).sum(), [x], create_graph=True)
    close(g, d1(x_np), rtol=1e-10)
    if g.requires_grad:
        gg, = npgan.grad(g.sum(), [x])
        close(gg, d2(x_np), rtol=1e-10)
    else:  # piecewise linear: the first derivative is constant, no graph to differentiate
        np.testing.assert_array_equal(d2(x_np), 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("slope", [0.2, 0.01, 0.3, 0.001])
def test_leaky_relu_is_exact_in_both_directions(backend_name, dtype, slope):
    """y is x or exactly (slope x rounded), and dx is gy or exactly (gy slope rounded): the
    arithmetic form of the slope, [x > 0] (1 - s) + s, lands exactly on 1 and s."""
    rng = np.random.default_rng(5)
    x_np = rng.normal(size=(64, 33)).astype(dtype)
    x_np[0, :3] = 0.0
    gy_np = rng.normal(size=x_np.shape).astype(dtype)
    s = np.dtype(dtype).type(slope)
    x = npgan.tensor(x_np, requires_grad=True)
    y = A.leaky_relu(x, slope)
    y.backward(npgan.tensor(gy_np))
    np.testing.assert_array_equal(y.numpy(), np.where(x_np > 0, x_np, x_np * s))
    np.testing.assert_array_equal(x.grad.numpy(), np.where(x_np > 0, gy_np, gy_np * s))


def test_activation_values_closed_form(backend_name):
    x = npgan.tensor(np.array([0.0]), dtype="float64")
    assert A.sigmoid(x).item() == 0.5
    assert A.tanh(x).item() == 0.0
    assert math.isclose(A.softplus(x).item(), math.log(2.0), rel_tol=1e-15)
    assert A.relu(x).item() == 0.0
    assert A.elu(npgan.tensor(np.array([-1.0]))).item() == pytest.approx(math.exp(-1) - 1, rel=1e-6)
    assert A.leaky_relu(npgan.tensor(np.array([-3.0])), 0.1).item() == pytest.approx(-0.3)


def test_relu_gradient_is_zero_at_zero(backend_name):
    x = t64([0.0, -1.0, 1.0])
    A.relu(x).sum().backward()
    close(x.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_keep_dtype(backend_name, dtype):
    x = npgan.tensor(np.array([-1.0, 0.5, 2.0], dtype=dtype), requires_grad=True)
    for fn in (A.relu, A.leaky_relu, A.elu, A.sigmoid, A.tanh, A.softplus):
        y = fn(x)
        assert y.dtype == np.dtype(dtype), fn
        g, = npgan.grad(y.sum(), [x])
        assert g.dtype == np.dtype(dtype), fn


# --- numerical stability at huge inputs --------------------------------------------------

def _no_fp_warnings():
    return np.errstate(over="raise", invalid="raise", divide="raise")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("magnitude", [1e4, 1e30])
def test_sigmoid_softplus_stable_at_huge_inputs(backend_name, dtype, magnitude):
    x_np = np.array([-magnitude, magnitude], dtype=dtype)
    with _no_fp_warnings():
        x = npgan.tensor(x_np, requires_grad=True)
        s = A.sigmoid(x)
        sp = A.softplus(x)
        np.testing.assert_array_equal(s.numpy(), [0.0, 1.0])
        np.testing.assert_array_equal(sp.numpy(), np.array([0.0, magnitude], dtype=dtype))
        gs, = npgan.grad(s.sum(), [x])
        gsp, = npgan.grad(sp.sum(), [x])
    assert s.dtype == sp.dtype == gs.dtype == gsp.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(gs.numpy(), [0.0, 0.0])      # sigmoid' = s (1 - s)
    np.testing.assert_array_equal(gsp.numpy(), [0.0, 1.0])     # softplus' = sigmoid


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("magnitude", [1e4, 1e30])
def test_bce_with_logits_stable_at_huge_inputs(backend_name, dtype, magnitude):
    x_np = np.array([-magnitude, -magnitude, magnitude, magnitude], dtype=dtype)
    t_np = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    with _no_fp_warnings():
        x = npgan.tensor(x_np, requires_grad=True)
        loss = L.binary_cross_entropy_with_logits(x, npgan.tensor(t_np), reduction="none")
        loss.sum().backward()
    # wrong-side logits cost |x|, right-side ones cost 0; gradient sigmoid(x) - t
    np.testing.assert_array_equal(loss.numpy(), np.array([magnitude, 0, 0, magnitude], dtype=dtype))
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 0.0, 1.0])
    assert x.grad.dtype == np.dtype(dtype)


def test_bce_with_logits_named_values(backend_name):
    x = npgan.tensor(np.array([-1e4]), requires_grad=True, dtype="float64")
    loss = L.binary_cross_entropy_with_logits(x, npgan.tensor(np.array([1.0])))
    assert loss.item() == 1e4
    loss.backward()
    assert x.grad.numpy().tolist() == [-1.0]
    zero = npgan.tensor(np.zeros(3), dtype="float64")
    for target in (0.0, 1.0, 0.3):
        v = L.binary_cross_entropy_with_logits(zero, npgan.tensor(np.full(3, target)))
        assert math.isclose(v.item(), math.log(2.0), rel_tol=1e-15)


# --- losses: derivatives -----------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_derivatives(backend_name, reduction):
    rng = np.random.default_rng(20)
    p = t64(rng.uniform(0.05, 0.95, size=(3, 4)))
    t = t64(rng.uniform(0.0, 1.0, size=(3, 4)))  # soft labels: the target is differentiable too
    check(lambda p, t: L.binary_cross_entropy(p, t, reduction=reduction), [p, t])
    hard = t64((rng.random((3, 4)) > 0.5) * 1.0, requires_grad=False)
    check(lambda p: L.binary_cross_entropy(p, hard, reduction=reduction), [p])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_derivatives(backend_name, reduction):
    rng = np.random.default_rng(21)
    x = t64(rng.uniform(-4.0, 4.0, size=(3, 4)))
    t = t64(rng.uniform(0.0, 1.0, size=(3, 4)))
    check(lambda x, t: L.binary_cross_entropy_with_logits(x, t, reduction=reduction), [x, t])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_derivatives(backend_name, reduction):
    rng = np.random.default_rng(22)
    x, t = t64(rng.normal(size=(3, 4))), t64(rng.normal(size=(3, 4)))
    check(lambda x, t: L.mse_loss(x, t, reduction=reduction), [x, t])


# --- losses: closed-form values --------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_closed_form(backend_name, reduction):
    rng = np.random.default_rng(23)
    p_np = rng.uniform(0.05, 0.95, size=(2, 5))
    t_np = rng.uniform(0.0, 1.0, size=(2, 5))
    loss = L.binary_cross_entropy(t64(p_np), t64(t_np), reduction=reduction)
    expected = -(t_np * np.log(p_np) + (1 - t_np) * np.log(1 - p_np))
    close(loss, reduce_np(expected, reduction), rtol=1e-12)
    # one element with math, independent of numpy
    single = L.binary_cross_entropy(t64([0.3]), t64([1.0]))
    assert math.isclose(single.item(), -math.log(0.3), rel_tol=1e-14)


def test_bce_gradient_closed_form(backend_name):
    p_np, t_np = np.array([0.2, 0.5, 0.9]), np.array([1.0, 0.0, 0.25])
    p = t64(p_np)
    L.binary_cross_entropy(p, t64(t_np, requires_grad=False), reduction="sum").backward()
    close(p.grad, -(t_np / p_np - (1 - t_np) / (1 - p_np)), rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_closed_form(backend_name, reduction):
    rng = np.random.default_rng(24)
    x_np = rng.uniform(-5.0, 5.0, size=(2, 5))
    t_np = rng.uniform(0.0, 1.0, size=(2, 5))
    x = t64(x_np)
    loss = L.binary_cross_entropy_with_logits(x, t64(t_np, requires_grad=False), reduction=reduction)
    s = np_sigmoid(x_np)
    expected = -(t_np * np.log(s) + (1 - t_np) * np.log(1 - s))
    close(loss, reduce_np(expected, reduction), rtol=1e-10)
    loss.sum().backward()
    scale = 1.0 / x_np.size if reduction == "mean" else 1.0
    close(x.grad, (s - t_np) * scale, rtol=1e-10)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_closed_form(backend_name, reduction):
    rng = np.random.default_rng(25)
    x_np, t_np = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    x = t64(x_np)
    loss = L.mse_loss(x, t64(t_np, requires_grad=False), reduction=reduction)
    close(loss, reduce_np((x_np - t_np) ** 2, reduction), rtol=1e-12)
    loss.sum().backward()
    scale = 1.0 / x_np.size if reduction == "mean" else 1.0
    close(x.grad, 2 * (x_np - t_np) * scale, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_saturated_probabilities_are_clamped(backend_name, dtype):
    """p = 0 with t = 1 and p = 1 with t = 0 cost 100 (log clamped at -100, as PyTorch)."""
    p_np = np.array([0.0, 1.0, 0.0, 1.0], dtype=dtype)
    t_np = np.array([1.0, 0.0, 0.0, 1.0], dtype=dtype)
    with _no_fp_warnings():
        p = npgan.tensor(p_np, requires_grad=True)
        loss = L.binary_cross_entropy(p, npgan.tensor(t_np), reduction="none")
        loss.sum().backward()
    np.testing.assert_array_equal(loss.numpy(), np.array([100.0, 100.0, 0.0, 0.0], dtype=dtype))
    assert np.all(np.isfinite(p.grad.numpy()))
    assert p.grad.dtype == np.dtype(dtype)
    mean = L.binary_cross_entropy(npgan.tensor(p_np[:2]), npgan.tensor(t_np[:2]))
    assert mean.item() == 100.0


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_bce_rejects_values_outside_unit_interval(backend_name, bad):
    p = npgan.tensor(np.array([0.5, bad]), dtype="float64")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        L.binary_cross_entropy(p, npgan.tensor(np.array([1.0, 0.0])))


@pytest.mark.parametrize("loss_fn", [L.binary_cross_entropy, L.binary_cross_entropy_with_logits,
                                     L.mse_loss])
def test_losses_reject_bad_reduction_and_shape(backend_name, loss_fn):
    p = npgan.tensor(np.array([0.5, 0.25]))
    with pytest.raises(ValueError, match="reduction"):
        loss_fn(p, npgan.tensor(np.array([1.0, 0.0])), reduction="avg")
    if loss_fn is L.mse_loss:  # PyTorch's rule: broadcast, with a warning (README semantics)
        with pytest.warns(UserWarning, match=r"target of shape \(2, 1\).*input's shape \(2,\)"):
            loss_fn(p, npgan.tensor(np.array([[1.0], [0.0]])))
        return
    with pytest.raises(ValueError, match=r"\(2,\).*\(2, 1\)"):
        loss_fn(p, npgan.tensor(np.array([[1.0], [0.0]])))


# --- dropout -------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout_derivatives_with_fixed_mask(backend_name, p):
    x = t64(np.random.default_rng(30).normal(size=(4, 5)))

    def fn(x):
        npgan.manual_seed(123)  # the same mask at every evaluation
        return A.dropout(x, p=p)

    out = fn(x)
    kept = out.numpy() != 0
    assert 0 < kept.sum() < kept.size  # the mask does something
    check(fn, [x])
    x.grad = None
    fn(x).sum().backward()
    close(x.grad, kept / (1 - p))


def test_dropout_identity_cases(backend_name):
    x_np = np.random.default_rng(31).normal(size=(3, 4))
    x = t64(x_np)
    np.testing.assert_array_equal(A.dropout(x, p=0.5, training=False).numpy(), x_np)
    np.testing.assert_array_equal(A.dropout(x, p=0.0).numpy(), x_np)
    np.testing.assert_array_equal(A.dropout(x, p=1.0).numpy(), np.zeros((3, 4)))
    check(lambda a: A.dropout(a, p=0.5, training=False), [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.8])
def test_dropout_statistics(backend_name, dtype, p):
    n = 200_000
    x = npgan.tensor(np.ones(n, dtype=dtype))
    y = A.dropout(x, p=p).numpy()
    assert y.dtype == np.dtype(dtype)
    kept = y != 0
    # kept fraction within 6 standard deviations of 1 - p
    assert abs(kept.mean() - (1 - p)) < 6 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1.0 / (1 - p), rtol=1e-6)


def test_dropout_masks_differ_between_calls_and_repeat_with_seed(backend_name):
    x = npgan.tensor(np.ones(64))
    npgan.manual_seed(7)
    a, b = A.dropout(x).numpy(), A.dropout(x).numpy()
    npgan.manual_seed(7)
    c = A.dropout(x).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("n", [1, 7, (1 << 14) - 1, 1 << 14, 3 * (1 << 14) + 5])
def test_keep_mask_is_one_draw_of_32_bit_integers_against_a_threshold(n):
    """numpy's keep mask, drawn in pieces, equals [u >= round(p 2^32)] for one draw of n
    32-bit integers u (the halves of the generator's raw 64-bit outputs, low half first)."""
    p, seed = 0.3, 11
    keep = npgan.speed.keep_mask(npgan.backend.Generator(seed, "numpy"), (n,), p)
    raw = np.random.Generator(np.random.PCG64(seed)).bit_generator.random_raw((n + 1) // 2)
    halves = np.stack([raw & 0xFFFFFFFF, raw >> 32], axis=1).reshape(-1)[:n]
    np.testing.assert_array_equal(keep, halves >= round(p * 2 ** 32))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_rejects_bad_p(backend_name, p):
    with pytest.raises(ValueError, match="p must be in"):
        A.dropout(npgan.tensor(np.ones(3)), p=p)


# --- GAN objectives ----------------------------------------------------------------

def _gan_logits():
    rng = np.random.default_rng(40)
    return rng.uniform(-3.0, 3.0, size=(6, 1)), rng.uniform(-3.0, 3.0, size=(4, 1))


def test_discriminator_loss_closed_form(backend_name):
    a_np, b_np = _gan_logits()
    a, b = t64(a_np), t64(b_np)
    loss = L.discriminator_loss(a, b)
    expected = -np.mean(np.log(np_sigmoid(a_np))) - np.mean(np.log(1 - np_sigmoid(b_np)))
    assert math.isclose(loss.item(), expected, rel_tol=1e-12)
    loss.backward()
    close(a.grad, (np_sigmoid(a_np) - 1) / a_np.size, rtol=1e-10)
    close(b.grad, np_sigmoid(b_np) / b_np.size, rtol=1e-10)
    check(L.discriminator_loss, [a, b])


def test_minimax_generator_loss_closed_form(backend_name):
    _, b_np = _gan_logits()
    b = t64(b_np)
    loss = L.minimax_generator_loss(b)
    assert math.isclose(loss.item(), np.mean(np.log(1 - np_sigmoid(b_np))), rel_tol=1e-12)
    loss.backward()
    close(b.grad, -np_sigmoid(b_np) / b_np.size, rtol=1e-10)
    check(L.minimax_generator_loss, [b])


def test_nonsaturating_generator_loss_closed_form(backend_name):
    _, b_np = _gan_logits()
    b = t64(b_np)
    loss = L.nonsaturating_generator_loss(b)
    assert math.isclose(loss.item(), -np.mean(np.log(np_sigmoid(b_np))), rel_tol=1e-12)
    loss.backward()
    close(b.grad, (np_sigmoid(b_np) - 1) / b_np.size, rtol=1e-10)
    check(L.nonsaturating_generator_loss, [b])


def test_generator_losses_saturation(backend_name):
    """When D rejects fakes confidently (b << 0) minimax's gradient vanishes, non-saturating's does not."""
    b = t64(np.full((4, 1), -30.0))
    L.minimax_generator_loss(b).backward()
    mm = b.grad.numpy()
    b.grad = None
    L.nonsaturating_generator_loss(b).backward()
    ns = b.grad.numpy()
    np.testing.assert_allclose(mm, -np_sigmoid(-30.0) / 4, rtol=1e-10)
    np.testing.assert_allclose(ns, (np_sigmoid(-30.0) - 1) / 4, rtol=1e-10)
    assert L.GENERATOR_LOSSES["minimax"] is L.minimax_generator_loss
    assert L.GENERATOR_LOSSES["non-saturating"] is L.nonsaturating_generator_loss
