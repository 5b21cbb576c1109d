"""Property tests (hypothesis) for the op families beyond tests/test_ops.py: activations,
losses, softmax / log-softmax / softmax cross-entropy, and layers.

Every example is checked three ways, with expected values computed here, independently of
npgan: the forward value against numpy, the first and second derivatives against central
differences, and the first derivative under ``create_graph=True`` against the plain one
(:func:`conftest.check_gradients`). Shapes include empty arrays where the op allows them;
values take both signs and come near, never onto, each kink (|x| >= 1e-3 around 0, where
the finite-difference step is 1e-6); the stable losses also get magnitudes up to 1e4, where
the value must be finite and the gradient equal its closed form.

``derandomize=True``: the same examples on every run, so CI is deterministic.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npgan
from conftest import check_gradients
from npgan import activations as A
from npgan import losses as L
from npgan import nn

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# each dim 0..4: empty arrays included
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def near_kink(shape, low=1e-3, high=3.0):
    """Arrays of both signs with |x| in [low, high]: hypothesis draws the ends, +-1e-3 around
    the kink at 0 and +-3, as readily as the middle."""
    magnitude = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np.float64, shape,
                      elements=st.one_of(magnitude, magnitude.map(lambda v: -v)))


def uniform(shape, low, high):
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False))


def np_sigmoid(x):
    """1 / (1 + e^-x) as 0.5 (1 + tanh(x / 2)): another formula than npgan's, finite for any x."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def close(tensor, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


# --- activations ---------------------------------------------------------------------------

ACTIVATIONS = {
    # name: (npgan fn, independent numpy fn); kinks at 0 for the piecewise ones
    "relu": (A.relu, lambda x: np.where(x > 0, x, 0.0)),
    "leaky_relu_0.01": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    "leaky_relu_0.2": (lambda x: A.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "leaky_relu_1.5": (lambda x: A.leaky_relu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * x)),
    "leaky_relu_-0.3": (lambda x: A.leaky_relu(x, -0.3), lambda x: np.where(x > 0, x, -0.3 * x)),
    "elu_1": (A.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
    "elu_0.7": (lambda x: A.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1.0))),
    "elu_2.5": (lambda x: A.elu(x, 2.5), lambda x: np.where(x > 0, x, 2.5 * (np.exp(x) - 1.0))),
    "sigmoid": (A.sigmoid, np_sigmoid),
    "tanh": (A.tanh, np.tanh),
    "softplus": (A.softplus, lambda x: np.logaddexp(0.0, x)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_activation(backend_name, name, data, shape):
    fn, np_fn = ACTIVATIONS[name]
    x_np = data.draw(near_kink(shape))
    x = t64(x_np)
    y = fn(x)
    close(y, np_fn(x_np), rtol=1e-13, atol=1e-15)
    with npgan.no_grad():  # the no_grad forward (its own code path for some) gives the same
        y0 = fn(x)
    assert not y0.requires_grad
    np.testing.assert_array_equal(y0.numpy(), y.numpy())
    check_gradients(fn, [x])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus"])
@SETTINGS
@given(data=st.data(), shape=NONEMPTY)
def test_smooth_activation_large_inputs(backend_name, name, data, shape):
    """Far into the flat tails (|x| up to 40): values and derivatives still right."""
    fn, np_fn = ACTIVATIONS[name]
    x_np = data.draw(near_kink(shape, 3.0, 40.0))
    x = t64(x_np)
    close(fn(x), np_fn(x_np), rtol=1e-13, atol=1e-15)
    check_gradients(fn, [x])


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2, 1.0, 1.5, 3.0, -0.3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_leaky_relu_no_grad_forward_equals_recorded(backend_name, slope, dtype, data, shape):
    """LeakyReLU has a separate forward without a graph (max or min of x and s x): both
    equal x where x > 0 and s x elsewhere, for slopes in [0, 1], above 1 and below 0."""
    # |x| >= 2^-100 or 0: neither x nor s x is subnormal (a GPU flushes those in float32)
    magnitude = st.floats(2.0 ** -100, 1024.0, width=32)
    x_np = data.draw(hnp.arrays(dtype, shape, elements=st.one_of(
        st.just(0.0), magnitude, magnitude.map(lambda v: -v))))
    s = np.dtype(dtype).type(slope)
    expected = np.where(x_np > 0, x_np, x_np * s)
    x = npgan.tensor(x_np, requires_grad=True)
    recorded = A.leaky_relu(x, slope)
    with npgan.no_grad():
        plain = A.leaky_relu(x, slope)
    assert recorded.requires_grad and not plain.requires_grad
    np.testing.assert_array_equal(plain.numpy(), expected)
    np.testing.assert_array_equal(recorded.numpy(), expected)
    assert plain.dtype == recorded.dtype == np.dtype(dtype)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_dropout(backend_name, p, data, shape):
    """The same seed gives the same mask with and without a graph; kept elements are
    x / (1 - p), the others 0; eval mode is the identity; and the gradients check out."""
    x_np = data.draw(near_kink(shape))
    x = t64(x_np)

    def fn(a):
        npgan.manual_seed(11)  # one mask for every evaluation
        return A.dropout(a, p=p)

    y = fn(x)
    with npgan.no_grad():
        y0 = fn(x)
    np.testing.assert_array_equal(y0.numpy(), y.numpy())
    kept = y.numpy() != 0  # x is never 0, so a 0 is a dropped element
    if p == 1.0:
        assert not kept.any()
    else:
        np.testing.assert_allclose(y.numpy()[kept], x_np[kept] / (1 - p), rtol=1e-15)
    if p == 0.0:
        assert kept.all()
    np.testing.assert_array_equal(A.dropout(x, p=p, training=False).numpy(), x_np)
    layer = nn.Dropout(p).eval()
    np.testing.assert_array_equal(layer(x).numpy(), x_np)
    check_gradients(fn, [x])


# --- binary cross-entropy, MSE and the GAN objectives -------------------------------------------

@st.composite
def loss_case(draw, low=-6.0, high=6.0):
    """(logits, targets, reduction): one shape (empty allowed, not for 'mean'), soft targets."""
    shape = draw(SHAPES)
    reduction = draw(st.sampled_from(REDUCTIONS if int(np.prod(shape)) else ["sum", "none"]))
    x = draw(near_kink(shape, 1e-3, high) if low < 0 else uniform(shape, low, high))
    t = draw(uniform(shape, 0.0, 1.0))
    return x, t, reduction


@SETTINGS
@given(case=loss_case())
def test_bce_with_logits(backend_name, case):
    x_np, t_np, reduction = case
    x, t = t64(x_np), t64(t_np)
    loss = L.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    close(loss, reduce_np(np.logaddexp(0.0, x_np) - x_np * t_np, reduction), rtol=1e-12)
    check_gradients(lambda x, t: L.binary_cross_entropy_with_logits(x, t, reduction=reduction),
                    [x, t])


@SETTINGS
@given(data=st.data(), shape=NONEMPTY, reduction=st.sampled_from(REDUCTIONS),
       hard=st.booleans())
def test_bce_with_logits_large_logits(backend_name, data, shape, reduction, hard):
    """|x| up to 1e4: a finite loss softplus(x) - x t, and the gradient sigmoid(x) - t, both
    from numpy's logaddexp and tanh; under create_graph the same gradient."""
    x_np = data.draw(near_kink(shape, 1.0, 1e4))
    t_np = data.draw(hnp.arrays(np.float64, shape, elements=(
        st.sampled_from([0.0, 1.0]) if hard else st.floats(0.0, 1.0))))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = t64(x_np)
        loss = L.binary_cross_entropy_with_logits(x, t64(t_np, False), reduction=reduction)
        g, = npgan.grad(loss.sum(), [x])
        gg, = npgan.grad(
            L.binary_cross_entropy_with_logits(x, t64(t_np, False), reduction=reduction).sum(),
            [x], create_graph=True)
    scale = 1.0 / x_np.size if reduction == "mean" else 1.0
    expected = reduce_np(np.logaddexp(0.0, x_np) - x_np * t_np, reduction)
    assert np.all(np.isfinite(loss.numpy()))
    close(loss, expected, rtol=1e-12, atol=1e-12)
    close(g, (np_sigmoid(x_np) - t_np) * scale, rtol=1e-12, atol=1e-15)
    close(gg, g.numpy(), rtol=1e-12, atol=1e-15)


@SETTINGS
@given(case=loss_case(0.01, 0.99))
def test_bce_on_probabilities(backend_name, case):
    p_np, t_np, reduction = case
    p, t = t64(p_np), t64(t_np)
    loss = L.binary_cross_entropy(p, t, reduction=reduction)
    close(loss, reduce_np(-(t_np * np.log(p_np) + (1 - t_np) * np.log1p(-p_np)), reduction),
          rtol=1e-12)
    check_gradients(lambda p, t: L.binary_cross_entropy(p, t, reduction=reduction), [p, t])


@pytest.mark.parametrize("magnitude", [10.0, 1e4])
@SETTINGS
@given(data=st.data())
def test_mse(backend_name, magnitude, data):
    """(x - t)^2 and its gradient 2 (x - t) in closed form; finite differences for moderate x
    (at |x| = 1e4 their rounding error, |loss| 1e-16 / eps, exceeds the tolerance)."""
    x_np, t_np, reduction = data.draw(loss_case(-magnitude, magnitude))
    x, t = t64(x_np), t64(t_np)
    loss = L.mse_loss(x, t, reduction=reduction)
    close(loss, reduce_np((x_np - t_np) ** 2, reduction), rtol=1e-12)
    scale = 1.0 / x_np.size if reduction == "mean" else 1.0
    gx, gt = npgan.grad(loss.sum(), [x, t])
    close(gx, 2 * (x_np - t_np) * scale, rtol=1e-12)
    close(gt, -2 * (x_np - t_np) * scale, rtol=1e-12)
    if magnitude <= 10:
        check_gradients(lambda x, t: L.mse_loss(x, t, reduction=reduction), [x, t])


@SETTINGS
@given(data=st.data(), n_real=st.integers(1, 5), n_fake=st.integers(1, 5),
       magnitude=st.sampled_from([6.0, 1e4]))
def test_gan_objectives(backend_name, data, n_real, n_fake, magnitude):
    """L_D = mean softplus(-a) + mean softplus(b); minimax -mean softplus(b); non-saturating
    mean softplus(-b): values and gradients in closed form, to |logit| = 1e4."""
    a_np = data.draw(near_kink((n_real, 1), 1e-3, magnitude))
    b_np = data.draw(near_kink((n_fake, 1), 1e-3, magnitude))
    a, b = t64(a_np), t64(b_np)
    sp = lambda v: np.logaddexp(0.0, v)  # noqa: E731
    d = L.discriminator_loss(a, b)
    close(d, sp(-a_np).mean() + sp(b_np).mean(), rtol=1e-12)
    ga, gb = npgan.grad(d, [a, b])
    close(ga, (np_sigmoid(a_np) - 1) / n_real, atol=1e-15)
    close(gb, np_sigmoid(b_np) / n_fake, atol=1e-15)
    mm, ns = L.minimax_generator_loss(b), L.nonsaturating_generator_loss(b)
    close(mm, -sp(b_np).mean(), rtol=1e-12)
    close(ns, sp(-b_np).mean(), rtol=1e-12)
    close(npgan.grad(mm, [b])[0], -np_sigmoid(b_np) / n_fake, atol=1e-15)
    close(npgan.grad(ns, [b])[0], (np_sigmoid(b_np) - 1) / n_fake, atol=1e-15)
    if magnitude < 10:  # finite differences need moderate logits
        check_gradients(L.discriminator_loss, [a, b])
        check_gradients(L.minimax_generator_loss, [b])
        check_gradients(L.nonsaturating_generator_loss, [b])


# --- softmax, log-softmax, softmax cross-entropy -------------------------------------------------

@st.composite
def shape_and_axis(draw):
    """A shape with at least one dim and an axis of size >= 1 (other dims may be 0)."""
    shape = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    shape[axis] = max(shape[axis], 1)
    return tuple(shape), axis


def ulp_scale(x):
    """The spacing of float64 near the largest |x|: the rounding of any value computed from x."""
    return np.spacing(np.abs(x).max()) if x.size else 0.0


def np_log_softmax(x, axis):
    return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@SETTINGS
@given(data=st.data(), case=shape_and_axis())
def test_softmax(backend_name, name, data, case):
    shape, axis = case
    fn = getattr(L, name)
    x_np = data.draw(uniform(shape, -5.0, 5.0))
    x = t64(x_np)
    ls = np_log_softmax(x_np, axis)
    close(fn(x, axis=axis), np.exp(ls) if name == "softmax" else ls, rtol=1e-12, atol=1e-15)
    check_gradients(lambda x: fn(x, axis=axis), [x])


@SETTINGS
@given(data=st.data(), case=shape_and_axis())
def test_softmax_large_logits(backend_name, data, case):
    """Logits up to 1e4 apart: finite, and the gradient of sum(log_softmax(x) * r) is
    r - softmax(x) sum(r), of sum(softmax(x) * r) is p (r - sum(p r))."""
    shape, axis = case
    x_np = data.draw(near_kink(shape, 1.0, 1e4))
    r_np = np.random.default_rng(0).standard_normal(shape)
    p = np.exp(np_log_softmax(x_np, axis))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x = t64(x_np)
        ls = L.log_softmax(x, axis=axis)
        g_ls, = npgan.grad((ls * t64(r_np, False)).sum(), [x])
        g_s, = npgan.grad((L.softmax(x, axis=axis) * t64(r_np, False)).sum(), [x],
                          create_graph=True)
    atol = 8 * ulp_scale(x_np)  # numpy's x - logsumexp(x) is rounded to the ulp of |x|
    close(ls, np_log_softmax(x_np, axis), rtol=1e-12, atol=atol)
    close(g_ls, r_np - p * r_np.sum(axis=axis, keepdims=True), rtol=1e-10, atol=atol)
    close(g_s, p * (r_np - (p * r_np).sum(axis=axis, keepdims=True)), rtol=1e-10, atol=atol)


@st.composite
def ce_case(draw, low=1e-3, high=5.0):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    x = draw(near_kink((n, c), low, high))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return x, y, draw(st.sampled_from(REDUCTIONS))


def np_ce(x, y, reduction):
    """logsumexp(x_i) - x_{i, y_i} with numpy's logaddexp, and its gradient softmax - onehot."""
    loss = np.logaddexp.reduce(x, axis=1) - x[np.arange(len(y)), y]
    grad = np.exp(np_log_softmax(x, 1)) - np.eye(x.shape[1])[y]
    if reduction == "mean":
        grad = grad / len(y)
    return reduce_np(loss, reduction), grad


@SETTINGS
@given(case=ce_case())
def test_softmax_cross_entropy(backend_name, case):
    x_np, y_np, reduction = case
    x, y = t64(x_np), npgan.tensor(y_np)
    loss = L.softmax_cross_entropy(x, y, reduction=reduction)
    expected, _ = np_ce(x_np, y_np, reduction)
    close(loss, expected, rtol=1e-12, atol=1e-14)
    check_gradients(lambda x: L.softmax_cross_entropy(x, y, reduction=reduction), [x])


@SETTINGS
@given(case=ce_case(1.0, 1e4))
def test_softmax_cross_entropy_large_logits(backend_name, case):
    x_np, y_np, reduction = case
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        x, y = t64(x_np), npgan.tensor(y_np)
        loss = L.softmax_cross_entropy(x, y, reduction=reduction)
        g, = npgan.grad(loss.sum(), [x])
        gg, = npgan.grad(L.softmax_cross_entropy(x, y, reduction=reduction).sum(), [x],
                         create_graph=True)
    expected, expected_grad = np_ce(x_np, y_np, reduction)
    assert np.all(np.isfinite(loss.numpy()))
    atol = 8 * ulp_scale(x_np)  # numpy's logsumexp(x) - x_y is rounded to the ulp of |x|
    close(loss, expected, rtol=1e-12, atol=atol)
    close(g, expected_grad, rtol=1e-10, atol=atol)
    close(gg, g.numpy(), rtol=1e-12, atol=1e-15)


# --- layers -------------------------------------------------------------------------------

SEEDS = st.integers(0, 2**32 - 1)
LAYER_ACTIVATIONS = {
    "ReLU": nn.ReLU, "LeakyReLU(0.2)": lambda: nn.LeakyReLU(0.2), "ELU(0.7)": lambda: nn.ELU(0.7),
    "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
}


@SETTINGS
@given(lead=st.sampled_from([(), (2,), (1, 3)]), n=st.integers(0, 4), fin=st.integers(1, 4),
       fout=st.integers(1, 4), bias=st.booleans(), seed=SEEDS)
def test_linear_layer(backend_name, lead, n, fin, fout, bias, seed):
    """nn.Linear (its direct path for a batch (N, in), ops.linear for more dims; N = 0 too):
    x W^T + b, first and second derivatives in x, W and b."""
    npgan.manual_seed(seed % 1000)
    layer = nn.Linear(fin, fout, bias=bias, dtype="float64")
    x_np = np.random.default_rng(seed).uniform(-2, 2, size=lead + (n, fin))
    x = t64(x_np)
    W = layer.weight.numpy()
    expected = x_np @ W.T + (layer.bias.numpy() if bias else 0.0)
    y = layer(x)
    assert y.shape == lead + (n, fout)
    close(y, expected, rtol=1e-12, atol=1e-14)
    params = list(layer.parameters())
    check_gradients(lambda x, *ps: layer(x), [x, *params])


@pytest.mark.parametrize("act", list(LAYER_ACTIVATIONS))
@SETTINGS
@given(n=st.integers(1, 4), widths=st.lists(st.integers(1, 4), min_size=3, max_size=3),
       seed=SEEDS)
def test_mlp(backend_name, act, n, widths, seed):
    """Linear -> activation -> Linear: the shape of a GAN's D and G, checked to second order
    in the input and every parameter (what a gradient penalty differentiates)."""
    npgan.manual_seed(seed % 1000)
    fin, hidden, fout = widths
    model = nn.Sequential(nn.Linear(fin, hidden, dtype="float64"), LAYER_ACTIVATIONS[act](),
                          nn.Linear(hidden, fout, dtype="float64"))
    x_np = np.random.default_rng(seed).uniform(-2, 2, size=(n, fin))
    x = t64(x_np)
    W1, b1, W2, b2 = (p.numpy() for p in model.parameters())
    h = x_np @ W1.T + b1
    np_act = {"ReLU": ACTIVATIONS["relu"][1], "LeakyReLU(0.2)": ACTIVATIONS["leaky_relu_0.2"][1],
              "ELU(0.7)": ACTIVATIONS["elu_0.7"][1], "Sigmoid": np_sigmoid, "Tanh": np.tanh}[act]
    close(model(x), np_act(h) @ W2.T + b2, rtol=1e-12, atol=1e-13)
    if np.abs(h).min() < 1e-4:  # a pre-activation at a kink: finite differences mean nothing
        return
    check_gradients(lambda x, *ps: model(x), [x, *model.parameters()])
