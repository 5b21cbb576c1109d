"""The activations and losses a PyTorch user expects (issue 18): F.logsigmoid, F.silu, F.gelu
(exact and tanh), F.softplus(beta, threshold), F.cross_entropy (class indices and class
probabilities, weight, ignore_index, label_smoothing), F.nll_loss, F.l1_loss, BCE's weight and
BCE-with-logits' pos_weight, and how each loss treats a target of another shape.

Expected values are closed forms computed here with numpy and math.erf, so the tests run
without PyTorch; the ``*_against_pytorch`` tests compare with PyTorch where it is installed.
Gradients are checked to second order by central differences on drawn shapes.
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npgan
import npgan.functional as F
from conftest import check_gradients

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=False):
    return npgan.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                        requires_grad=requires_grad)


def floats(shape, low=-4.0, high=4.0):
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False))


def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def np_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def np_softplus(x):
    return np.logaddexp(0.0, x)


NP_ERF = np.vectorize(math.erf)


# --- activations ------------------------------------------------------------------------------

ACTIVATIONS = {
    "logsigmoid": (F.logsigmoid, lambda x: -np_softplus(-x)),
    "silu": (F.silu, lambda x: x * np_sigmoid(x)),
    "gelu": (F.gelu, lambda x: x * 0.5 * (1 + NP_ERF(x / math.sqrt(2)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x ** 3)))),
    "softplus_beta2": (lambda x: F.softplus(x, beta=2.0), lambda x: np_softplus(2 * x) / 2),
    "softplus_beta0.5_threshold3": (lambda x: F.softplus(x, 0.5, 3.0),
                                    lambda x: np.where(0.5 * x > 3, x, np_softplus(0.5 * x) / 0.5)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_activation_values_and_gradients(name, data, shape):
    fn, np_fn = ACTIVATIONS[name]
    v = data.draw(floats(shape, -7.0, 7.0).filter(lambda a: np.all(np.abs(a - 6.0) > 1e-3)))
    x = t64(v, True)  # (away from softplus(0.5x, threshold 3)'s jump at x = 6)
    np.testing.assert_allclose(fn(x).numpy(), np_fn(v), rtol=1e-13, atol=1e-15)
    check_gradients(fn, [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activations_keep_the_dtype_and_are_finite_far_out(dtype):
    x = npgan.tensor(np.array([-1e4, -40.0, 0.0, 40.0, 1e4], dtype=dtype), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for fn in (F.logsigmoid, F.silu, F.gelu, lambda x: F.gelu(x, approximate="tanh"),
                   lambda x: F.softplus(x, beta=3.0), lambda x: F.softplus(x, threshold=20)):
            y = fn(x)
            g, = npgan.grad(y.sum(), [x])
            assert y.dtype == g.dtype == np.dtype(dtype)
            assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(g.numpy()))
    np.testing.assert_array_equal(F.logsigmoid(x).numpy()[[0, 2, 4]],
                                  np.array([-1e4, -math.log(2), 0.0], dtype=dtype))


def test_gelu_lower_tail_is_accurate_in_relative_terms():
    """x Phi(x) through erfc: at x = -10 the value is -7.6e-23, which 1 + erf(x / sqrt 2)
    (PyTorch's formula) rounds to 0."""
    x = t64([-10.0, -20.0], True)
    y = F.gelu(x).numpy()
    want = [-10 * 0.5 * math.erfc(10 / math.sqrt(2)), -20 * 0.5 * math.erfc(20 / math.sqrt(2))]
    np.testing.assert_allclose(y, want, rtol=1e-13)


def test_softplus_threshold_and_beta():
    x = t64([10.0, 25.0], True)
    np.testing.assert_array_equal(F.softplus(x, threshold=20).numpy()[1], 25.0)  # PyTorch's tail
    assert F.softplus(x).numpy()[1] == 25.0 + math.log1p(math.exp(-25.0))  # npgan's default: exact
    g, = npgan.grad(F.softplus(x, threshold=20).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [np_sigmoid(10.0), 1.0], rtol=1e-15)
    with pytest.raises(ValueError, match=r"^softplus: beta must be positive, got 0$"):
        F.softplus(x, beta=0)
    with pytest.raises(ValueError,
                       match=r"^gelu: approximate must be 'none' or 'tanh', got 'erf'$"):
        F.gelu(x, approximate="erf")


# --- cross_entropy and nll_loss ---------------------------------------------------------------

def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_cross_entropy(x, y, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's definition, written out for (N, C) logits and class indices."""
    n, c = x.shape
    lp = np_log_softmax(x, 1)
    w = np.ones(c) if weight is None else weight
    kept = y != ignore_index
    safe = np.where(kept, y, 0)
    wy = w[safe] * kept
    nll = -lp[np.arange(n), safe] * wy
    smooth = -(lp * w).sum(axis=1) * kept
    if reduction == "mean":
        nll, smooth = nll.sum() / wy.sum(), smooth.sum() / wy.sum()
    elif reduction == "sum":
        nll, smooth = nll.sum(), smooth.sum()
    return (1 - smoothing) * nll + smoothing / c * smooth


@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data(), n=st.integers(1, 4), c=st.integers(2, 4))
def test_cross_entropy_with_indices(reduction, data, n, c):
    v = data.draw(floats((n, c)))
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    weight = data.draw(st.one_of(st.none(), floats((c,), 0.5, 2.0)))
    smoothing = data.draw(st.sampled_from([0.0, 0.25]))
    ignore = int(y[0]) if data.draw(st.booleans()) and n > 1 and (y != y[0]).any() else -100
    kw = dict(weight=None if weight is None else t64(weight), ignore_index=ignore,
              reduction=reduction, label_smoothing=smoothing)
    x = t64(v, True)
    got = F.cross_entropy(x, y, **kw)
    want = np_cross_entropy(v, y, weight, ignore, reduction, smoothing)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    check_gradients(lambda x: F.cross_entropy(x, y, **kw), [x])
    if smoothing == 0:
        lp = F.log_softmax(x, dim=1)
        np.testing.assert_allclose(
            F.nll_loss(lp, npgan.tensor(y), kw["weight"], ignore, reduction).numpy(), want,
            rtol=1e-12, atol=1e-14)
        check_gradients(lambda x: F.nll_loss(x, y, kw["weight"], ignore, reduction), [x])


@SETTINGS
@given(data=st.data(), n=st.integers(1, 3), c=st.integers(2, 4))
def test_cross_entropy_with_probabilities(data, n, c):
    v = data.draw(floats((n, c)))
    p = data.draw(floats((n, c), 0.01, 1.0))
    p = p / p.sum(axis=1, keepdims=True)
    weight = data.draw(st.one_of(st.none(), floats((c,), 0.5, 2.0)))
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    x, pt = t64(v, True), t64(p, True)
    q = p * (1 - smoothing) + smoothing / c
    loss = -(np_log_softmax(v, 1) * q * (1 if weight is None else weight)).sum(axis=1)
    kw = dict(weight=None if weight is None else t64(weight), reduction=reduction,
              label_smoothing=smoothing)
    np.testing.assert_allclose(F.cross_entropy(x, pt, **kw).numpy(), reduce_np(loss, reduction),
                               rtol=1e-12, atol=1e-14)
    check_gradients(lambda x, pt: F.cross_entropy(x, pt, **kw), [x, pt])


def test_cross_entropy_shapes_beyond_two_dims_and_unbatched():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((2, 3, 4, 2))  # (N, C, d1, d2)
    y = rng.integers(0, 3, (2, 4, 2))
    x = t64(v, True)
    got = F.cross_entropy(x, y, reduction="none")
    lp = np_log_softmax(v, 1)
    want = -np.take_along_axis(lp, y[:, None], axis=1)[:, 0]
    assert got.shape == (2, 4, 2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(x, y).item(), want.mean(), rtol=1e-13)
    check_gradients(lambda x: F.cross_entropy(x, y, reduction="sum"), [x], second_order=False)
    one = F.cross_entropy(t64(v[0, :, 0, 0]), np.int64(1), reduction="none")
    assert one.shape == () and one.item() == pytest.approx(-lp[0, 1, 0, 0], rel=1e-13)


def test_cross_entropy_fast_path_is_the_softmax_cross_entropy():
    v = np.random.default_rng(3).standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    x = t64(v, True)
    loss = F.cross_entropy(x, y)
    assert type(loss.creator).__name__ == "SoftmaxCrossEntropy"
    assert loss.item() == F.softmax_cross_entropy(x, y).item()


def test_class_loss_errors():
    x = t64(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"^cross_entropy: target indices must lie in \[0, 3\) "
                                         r"for 3 classes \(or equal ignore_index=-100\); element "
                                         r"1 is 3$"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"^nll_loss: target of class indices must have shape "
                                         r"\(2,\) for an input of shape \(2, 3\), got \(2, 1\)$"):
        F.nll_loss(x, np.array([[0], [1]]))
    with pytest.raises(ValueError, match=r"^cross_entropy: weight must have one entry per class, "
                                         r"shape \(3,\), got shape \(2,\)$"):
        F.cross_entropy(x, np.array([0, 1]), weight=t64([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"^cross_entropy: a target of class probabilities must "
                                         r"have the input's shape \(2, 3\), got \(2,\)$"):
        F.cross_entropy(x, t64([0.5, 0.5]))
    with pytest.raises(ValueError, match=r"^nll_loss: reduction must be 'mean', 'sum' or 'none', "
                                         r"got 'avg'$"):
        F.nll_loss(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"^cross_entropy: label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, np.array([0, 1]), label_smoothing=1.5)


# --- l1_loss, mse_loss and broadcasting targets -----------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_l1_loss(reduction, data, shape):
    v = data.draw(hnp.arrays(np.float64, (2,) + shape, elements=st.integers(-300, 300),
                             unique=True)) / 100.0  # x != t: away from the kink
    x, t = t64(v[0], True), t64(v[1], True)
    np.testing.assert_allclose(F.l1_loss(x, t, reduction).numpy(),
                               reduce_np(np.abs(v[0] - v[1]), reduction), rtol=1e-14)
    check_gradients(lambda x, t: F.l1_loss(x, t, reduction), [x, t])


def test_l1_gradient_at_equality_is_zero_as_pytorch():
    x = t64([1.0, 2.0], True)
    g, = npgan.grad(F.l1_loss(x, t64([1.0, 0.0]), reduction="sum"), [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0])


@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss])
def test_mse_and_l1_broadcast_another_target_shape_with_a_warning(loss):
    x = t64([1.0, 2.0, 3.0], True)
    t = t64([[1.0], [0.0]])  # (2, 1) against (3,): broadcast to (2, 3), as PyTorch
    name = loss.__name__
    with pytest.warns(UserWarning, match=rf"^{name}: using a target of shape \(2, 1\) that "
                                         r"differs from the input's shape \(3,\); it is broadcast"):
        got = loss(x, t, reduction="none")
    assert got.shape == (2, 3)
    d = np.array([1.0, 2.0, 3.0]) - np.array([[1.0], [0.0]])
    np.testing.assert_array_equal(got.numpy(), d * d if loss is F.mse_loss else np.abs(d))
    with pytest.raises(ValueError, match=rf"^{name}: input of shape \(3,\) and target of shape "
                                         r"\(2,\) must have the same shape"):
        loss(x, t64([1.0, 2.0]))


def test_bce_refuses_another_target_shape():
    p = t64([0.5, 0.5])
    for loss in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match="must have the same shape"):
            loss(p, t64([[1.0], [0.0]]))


# --- BCE's weight and BCE-with-logits' pos_weight ---------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@SETTINGS
@given(data=st.data(), n=st.integers(1, 3), c=st.integers(1, 3))
def test_bce_weights(reduction, data, n, c):
    v = data.draw(floats((n, c)))
    t = data.draw(floats((n, c), 0.0, 1.0))
    w = data.draw(floats((c,), 0.2, 2.0))
    pw = data.draw(floats((c,), 0.2, 3.0))
    x, tt, wt, pwt = t64(v, True), t64(t, True), t64(w), t64(pw)
    lw = 1 + (pw - 1) * t
    want = w * ((1 - t) * v + lw * np_softplus(-v))
    got = F.binary_cross_entropy_with_logits(x, tt, weight=wt, reduction=reduction, pos_weight=pwt)
    np.testing.assert_allclose(got.numpy(), reduce_np(want, reduction), rtol=1e-12, atol=1e-14)
    check_gradients(lambda x, tt: F.binary_cross_entropy_with_logits(
        x, tt, wt, reduction, pwt), [x, tt])
    only_pos = F.binary_cross_entropy_with_logits(x, tt, reduction=reduction, pos_weight=pwt)
    np.testing.assert_allclose(only_pos.numpy(), reduce_np(want / w, reduction), rtol=1e-12,
                               atol=1e-14)
    p_np = np_sigmoid(v)
    p = t64(p_np, True)
    bce = -(t * np.log(p_np) + (1 - t) * np.log(1 - p_np))
    np.testing.assert_allclose(F.binary_cross_entropy(p, tt, wt, reduction).numpy(),
                               reduce_np(w * bce, reduction), rtol=1e-11, atol=1e-14)
    check_gradients(lambda p, tt: F.binary_cross_entropy(p, tt, wt, reduction), [p, tt])


def test_bce_weight_errors():
    p = t64([[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"^binary_cross_entropy: weight of shape \(3,\) does not "
                                         r"broadcast to the input's shape \(1, 2\)$"):
        F.binary_cross_entropy(p, p, weight=t64([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"^binary_cross_entropy: weight must be a Tensor \(or "
                                        r"None\), got str 'sum'; pass reduction= by keyword$"):
        F.binary_cross_entropy(p, p, "sum")
    with pytest.raises(ValueError, match=r"^binary_cross_entropy_with_logits: pos_weight of shape "
                                         r"\(3,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(p, p, pos_weight=t64([1.0, 2.0, 3.0]))


def test_bce_with_logits_pos_weight_is_exact_for_huge_logits():
    x = t64([-1e4, 1e4], True)
    t = t64([1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=t64([2.0]))
    np.testing.assert_array_equal(loss.numpy(), [2e4, 1e4])
    g, = npgan.grad(loss.sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [-2.0, 1.0])


# --- against PyTorch --------------------------------------------------------------------------

def test_new_functions_against_pytorch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(7)
    x_np = rng.standard_normal((4, 5)) * 3
    y_np = rng.integers(0, 5, 4)
    t_np = rng.uniform(0, 1, (4, 5))
    w_np = rng.uniform(0.5, 2.0, 5)

    def both(fn, tfn):
        x, tx = t64(x_np, True), torch.tensor(x_np, requires_grad=True)
        y, ty = fn(x), tfn(tx)
        r = rng.standard_normal(y.shape)
        g, = npgan.grad((y * t64(r)).sum(), [x])
        (ty * torch.tensor(r)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)

    w, tw = t64(w_np), torch.tensor(w_np)
    yt = torch.tensor(y_np)
    both(F.logsigmoid, tf.logsigmoid)
    both(F.silu, tf.silu)
    both(F.gelu, tf.gelu)
    both(lambda x: F.gelu(x, approximate="tanh"), lambda x: tf.gelu(x, approximate="tanh"))
    both(lambda x: F.softplus(x, 2.0, 5.0), lambda x: tf.softplus(x, 2.0, 5.0))
    for red in REDUCTIONS:
        both(lambda x: F.cross_entropy(x, y_np, w, reduction=red, label_smoothing=0.1),
             lambda x: tf.cross_entropy(x, yt, tw, reduction=red, label_smoothing=0.1))
        both(lambda x: F.cross_entropy(x, y_np, ignore_index=int(y_np[0]), reduction=red),
             lambda x: tf.cross_entropy(x, yt, ignore_index=int(y_np[0]), reduction=red))
        both(lambda x: F.cross_entropy(x, t64(t_np), reduction=red),
             lambda x: tf.cross_entropy(x, torch.tensor(t_np), reduction=red))
        both(lambda x: F.nll_loss(F.log_softmax(x, dim=1), y_np, w, reduction=red),
             lambda x: tf.nll_loss(tf.log_softmax(x, dim=1), yt, tw, reduction=red))
        both(lambda x: F.l1_loss(x, t64(t_np), reduction=red),
             lambda x: tf.l1_loss(x, torch.tensor(t_np), reduction=red))
        both(lambda x: F.binary_cross_entropy_with_logits(x, t64(t_np), w, red, pos_weight=w * 2),
             lambda x: tf.binary_cross_entropy_with_logits(x, torch.tensor(t_np), tw, reduction=red,
                                                           pos_weight=tw * 2))
        both(lambda x: F.binary_cross_entropy(F.sigmoid(x), t64(t_np), w, red),
             lambda x: tf.binary_cross_entropy(torch.sigmoid(x), torch.tensor(t_np), tw,
                                               reduction=red))
    with pytest.warns(UserWarning):  # PyTorch warns for the broadcast target too
        tf.mse_loss(torch.zeros(3), torch.zeros(2, 1))
    with pytest.raises(ValueError):  # and refuses it in BCE
        tf.binary_cross_entropy(torch.full((2,), 0.5), torch.zeros(2, 1))


# --- every backend: the same numbers as numpy, to second order --------------------------------

def _new_ops_program(x, w, y, t):
    """A scalar through every new op of issue 18, for the backend comparison below."""
    loss = (F.cross_entropy(x, y, weight=w, label_smoothing=0.1)
            + F.cross_entropy(x, F.softmax(t, dim=1))
            + F.nll_loss(F.log_softmax(x, dim=1), y, ignore_index=int(y[0]))
            + F.binary_cross_entropy_with_logits(x, F.sigmoid(t), pos_weight=w * 2)
            + F.binary_cross_entropy(F.sigmoid(x), F.sigmoid(t), w)
            + F.l1_loss(x, t) + (F.gelu(x) + F.gelu(x, approximate="tanh") + F.silu(x)
                                 + F.logsigmoid(x) + F.softplus(x, 2.0, 1.0)).sum())
    r = (x.max(dim=1).values.sum() + x.min() + x.amax(0).sum() + x.var(1).sum() + x.std()
         + x.norm(dim=1).sum() + x.norm(3) + x.clamp(-0.5, 0.5).sum()
         + npgan.maximum(x, t).sum() + npgan.minimum(x, 0.1).sum()
         + npgan.where(x > t, x * t, t).sum() + npgan.stack([x, t]).abs().sum()
         + npgan.cat([x, t], dim=1).abs().sqrt().sum() + (x.abs() + 1).sqrt().sum()
         + x.t().flatten().unsqueeze(0).squeeze(0).clone().sum())
    return loss + r


def test_new_ops_give_numpys_numbers_on_every_backend(backend_name):
    rng = np.random.default_rng(4)
    x_np, t_np = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w_np, y_np = rng.uniform(0.5, 2.0, 3), np.array([0, 2, 1, 2])

    def run():
        x = t64(x_np, True)
        w, t = t64(w_np), t64(t_np, True)
        y = npgan.tensor(y_np)
        out = _new_ops_program(x, w, y, t)
        gx, gt = npgan.grad(out, [x, t], create_graph=True)
        ggx, = npgan.grad((gx * gx).sum() + (gt * gx).sum(), [x])
        return [v.numpy() for v in (out, gx, gt, ggx)]

    got = run()
    npgan.set_backend("numpy")
    want = run()
    for a, b in zip(got, want):
        assert np.all(np.isfinite(a))
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
