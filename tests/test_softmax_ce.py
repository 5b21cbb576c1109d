"""Softmax, log-softmax and softmax cross-entropy: values, derivatives to second order, stability.

Expected values are computed independently here (naive numpy formulas for
moderate logits, Python's math for huge ones), never taken from npgan.
"""
import math

import numpy as np
import pytest

import npgan
from conftest import check_gradients
from npgan import losses as L

REDUCTIONS = ["mean", "sum", "none"]


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def labels_of(y):
    """Integer labels as a tensor on the current backend."""
    return npgan.tensor(np.asarray(y, dtype=np.int64))


def check(fn, inputs, **kw):
    """First and second derivatives against finite differences; the create_graph first
    derivative against the plain one (conftest.check_gradients)."""
    check_gradients(fn, inputs, **kw)


def naive_ce(x, y):
    """-log(e^(x_y) / sum_j e^(x_j)) per row, with no shift (fine for moderate logits)."""
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(y)), y])


def reduce_np(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


def stable_softmax_math(row):
    """softmax of one row with Python floats: e^(x_j - m) / fsum, m = max."""
    m = max(row)
    e = [math.exp(v - m) for v in row]
    s = math.fsum(e)
    return [v / s for v in e]


def stable_ce_math(row, label):
    """log sum_j e^(x_j - m) - (x_label - m) with Python floats."""
    m = max(row)
    return math.log(math.fsum(math.exp(v - m) for v in row)) - (row[label] - m)


def _problem(seed, n=6, c=5, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, size=(n, c)), rng.integers(0, c, size=n)


# --- values -------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_values_and_gradient_match_naive_numpy(backend_name, reduction):
    x_np, y_np = _problem(1)
    x = t64(x_np)
    loss = L.softmax_cross_entropy(x, labels_of(y_np), reduction=reduction)
    expected = naive_ce(x_np, y_np)
    np.testing.assert_allclose(loss.numpy(), reduce_np(expected, reduction), rtol=1e-12)
    loss.sum().backward()
    p = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    onehot = np.eye(5)[y_np]
    scale = 1.0 / len(y_np) if reduction == "mean" else 1.0
    np.testing.assert_allclose(x.grad.numpy(), (p - onehot) * scale, rtol=1e-12, atol=1e-15)


def test_values_match_math_row_by_row(backend_name):
    x_np, y_np = _problem(2, n=4, c=7, scale=20.0)
    loss = L.softmax_cross_entropy(t64(x_np), labels_of(y_np), reduction="none").numpy()
    for i in range(4):
        assert math.isclose(loss[i], stable_ce_math(list(x_np[i]), y_np[i]), rel_tol=1e-13)


@pytest.mark.parametrize("c", [1, 2, 3, 10])
@pytest.mark.parametrize("level", [0.0, -7.5, 1e4])
def test_equal_logits_cost_log_c_exactly(backend_name, c, level):
    x = t64(np.full((3, c), level))
    y = labels_of(np.arange(3) % c)
    loss = L.softmax_cross_entropy(x, y, reduction="none")
    assert loss.numpy().tolist() == [math.log(c)] * 3          # exactly: log(c) - 0
    mean = L.softmax_cross_entropy(x, y)
    assert math.isclose(mean.item(), math.log(c), rel_tol=1e-15, abs_tol=0.0)
    mean.backward()
    expected = (np.full((3, c), 1.0 / c) - np.eye(c)[np.arange(3) % c]) / 3
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-15, atol=1e-17)


def test_matches_log_softmax_and_accepts_label_kinds(backend_name):
    x_np, y_np = _problem(3)
    x = t64(x_np, requires_grad=False)
    via_log_softmax = -L.log_softmax(x).numpy()[np.arange(6), y_np]
    for y in (labels_of(y_np), labels_of(y_np).data, y_np.tolist(), y_np.astype(np.int32)):
        if npgan.get_backend() != "numpy" and isinstance(y, np.ndarray):
            continue  # a host array with cupy (or gpusim) logits: the mixing error is tested below
        loss = L.softmax_cross_entropy(x, y, reduction="none")
        np.testing.assert_allclose(loss.numpy(), via_log_softmax, rtol=1e-13)
    # a raw array of logits gives a Tensor
    assert isinstance(L.softmax_cross_entropy(x.data, labels_of(y_np)), npgan.Tensor)


# --- derivatives ------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_derivatives(backend_name, reduction):
    x_np, y_np = _problem(4, n=4, c=3)
    y = labels_of(y_np)
    check(lambda x: L.softmax_cross_entropy(x, y, reduction=reduction), [t64(x_np)])


def test_derivatives_through_a_layer(backend_name):
    """The loss after a linear layer, as in a classifier: W and x both checked to second order."""
    rng = np.random.default_rng(5)
    x, w = t64(rng.normal(size=(4, 3))), t64(rng.normal(size=(5, 3)))
    y = labels_of([0, 4, 2, 2])
    check(lambda x, w: L.softmax_cross_entropy(x @ w.T, y), [x, w])


def test_second_derivative_closed_form(backend_name):
    """d/dx sum(g * r) with g = softmax(x) - onehot is the softmax Jacobian times r:
    p * (r - sum(p r)), per row; here for reduction 'sum'."""
    x_np, y_np = _problem(6, n=3, c=4)
    r_np = np.random.default_rng(7).normal(size=(3, 4))
    x = t64(x_np)
    g, = npgan.grad(L.softmax_cross_entropy(x, labels_of(y_np), reduction="sum"), [x],
                    create_graph=True)
    gg, = npgan.grad((g * npgan.tensor(r_np, dtype="float64")).sum(), [x])
    p = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    expected = p * (r_np - (p * r_np).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(gg.numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [L.softmax, L.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1)])
def test_softmax_derivatives(backend_name, fn, shape, axis):
    x = t64(np.random.default_rng(8).normal(size=shape))
    check(lambda x: fn(x, axis=axis), [x])


def test_softmax_values(backend_name):
    x_np = np.random.default_rng(9).normal(size=(3, 4)) * 3
    x = t64(x_np, requires_grad=False)
    expected = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(L.softmax(x).numpy(), expected, rtol=1e-13)
    np.testing.assert_allclose(L.log_softmax(x).numpy(), np.log(expected), rtol=1e-13)
    along0 = np.exp(x_np) / np.exp(x_np).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(L.softmax(x, axis=0).numpy(), along0, rtol=1e-13)
    # raw arrays in, raw arrays out
    np.testing.assert_allclose(npgan.backend.to_numpy(L.softmax(x.data)), expected, rtol=1e-13)


# --- stability at huge logits -----------------------------------------------------------

HUGE = [[1e4, -1e4, 0.0, 5.0],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4, -1e4, 0.0],
        [-1e4, 3.0, 1e4, -2.5]]
HUGE_LABELS = [1, 2, 0, 2]


def _no_fp_warnings():
    return np.errstate(over="raise", invalid="raise", divide="raise")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huge_logits_finite_with_exact_gradient(backend_name, dtype, reduction):
    x_np = np.array(HUGE, dtype=dtype)
    rows = [list(map(float, r)) for r in x_np]  # the values actually held in this dtype
    expected_loss = np.array([stable_ce_math(r, y) for r, y in zip(rows, HUGE_LABELS)])
    scale = 0.25 if reduction == "mean" else 1.0   # N = 4: dividing by it is exact
    expected_grad = (np.array([stable_softmax_math(r) for r in rows]) - np.eye(4)[HUGE_LABELS]) * scale
    with _no_fp_warnings():
        x = npgan.tensor(x_np, requires_grad=True)
        loss = L.softmax_cross_entropy(x, labels_of(HUGE_LABELS), reduction=reduction)
        loss.sum().backward()
        g, = npgan.grad(L.softmax_cross_entropy(x, labels_of(HUGE_LABELS), reduction=reduction).sum(),
                        [x], create_graph=True)
    assert np.all(np.isfinite(loss.numpy()))
    tol = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(loss.numpy(), reduce_np(expected_loss, reduction), rtol=tol)
    assert np.all(np.isfinite(x.grad.numpy()))
    # row 0 puts 1 on class 0 (label 1): loss 2e4 and gradient (1, -1, 0, 0) exactly
    np.testing.assert_array_equal(x.grad.numpy(), expected_grad.astype(dtype))
    np.testing.assert_array_equal(g.numpy(), x.grad.numpy())   # the create_graph rule agrees
    assert loss.dtype == x.grad.dtype == g.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_and_log_softmax_stable_at_huge_logits(backend_name, dtype):
    with _no_fp_warnings():
        x = npgan.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype),
                         requires_grad=True)
        s, ls = L.softmax(x), L.log_softmax(x)
        g, = npgan.grad(ls.sum(), [x])
    third = np.float64(1.0) / 3
    np.testing.assert_allclose(s.numpy(), [[1.0, 0.0, 0.0], [third] * 3], rtol=1e-6)
    np.testing.assert_allclose(ls.numpy(), [[0.0, -2e4, -1e4], [-math.log(3)] * 3], rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), [[-2.0, 1.0, 1.0], [0.0] * 3], atol=1e-6)
    assert s.dtype == ls.dtype == g.dtype == np.dtype(dtype)


# --- dtypes ---------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_in_float32_out(backend_name, reduction):
    x_np, y_np = _problem(10)
    x = npgan.tensor(x_np.astype(np.float32), requires_grad=True)
    loss = L.softmax_cross_entropy(x, labels_of(y_np), reduction=reduction)
    assert loss.dtype == np.float32
    g, = npgan.grad(loss.sum(), [x], create_graph=True)
    assert g.dtype == np.float32
    gg, = npgan.grad((g * g).sum(), [x])
    assert gg.dtype == np.float32
    loss.sum().backward()
    assert x.grad.dtype == np.float32
    for fn in (L.softmax, L.log_softmax):
        assert fn(x).dtype == np.float32


# --- errors ---------------------------------------------------------------------------

def test_errors(backend_name):
    x = npgan.tensor(np.zeros((3, 4)))
    ce = L.softmax_cross_entropy
    with pytest.raises(TypeError, match="labels must be integer class indices in \\[0, 4\\).*float"):
        ce(x, npgan.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\).*\(3, 1\).*reshape\(-1\)"):
        ce(x, labels_of([[0], [1], [2]]))
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*one-hot.*argmax"):
        ce(x, labels_of(np.eye(4, dtype=np.int64)[[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\).*got shape \(2,\)"):
        ce(x, labels_of([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 4\) for 4 classes; labels\[1\] = 4 is out of range"):
        ce(x, labels_of([0, 4, 7]))
    with pytest.raises(ValueError, match=r"labels\[2\] = -1 is out of range"):
        ce(x, labels_of([0, 3, -1]))
    with pytest.raises(ValueError, match=r"logits must be 2-D \(N samples, C classes\), got shape \(4,\)"):
        ce(npgan.tensor(np.zeros(4)), labels_of([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 4\)"):
        ce(npgan.tensor(np.zeros((2, 3, 4))), labels_of([0, 1]))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        ce(x, labels_of([0, 1, 2]), reduction="avg")
    with pytest.raises(TypeError, match="logits must be floating point"):
        ce(npgan.tensor(np.zeros((3, 4), dtype=np.int64)), labels_of([0, 1, 2]))
    with pytest.raises(ValueError, match="at least one row and one class"):
        ce(npgan.tensor(np.zeros((0, 4))), labels_of(np.zeros(0, dtype=np.int64)))
    for fn in (L.softmax, L.log_softmax):
        with pytest.raises(ValueError, match=r"axis must be an int in \[-2, 2\).*got 2"):
            fn(x, axis=2)
        with pytest.raises(ValueError, match="at least one dimension, got a scalar"):
            fn(npgan.tensor(np.array(1.0)))


def test_mixing_backends_is_an_error(backend_name):
    if backend_name == "numpy":
        pytest.skip("mixing needs a device backend (cupy, or the gpusim stand-in)")
    x = npgan.tensor(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=f"cannot mix a {backend_name} array and a numpy array"):
        L.softmax_cross_entropy(x, np.array([0, 1]))
