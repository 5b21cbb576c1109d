"""PyTorch's semantics where npgan uses PyTorch's names: the eight mismatches of issue 18.

Each test checks values computed by hand (or closed forms) first, so it runs in CI without
PyTorch; where PyTorch is installed, the same cases are compared with it too
(``torch = pytest.importorskip("torch")`` guards only that part, in a test of its own).
"""
import math
import warnings

import numpy as np
import pytest

import npgan
import npgan.functional as F
from conftest import check_gradients


def t64(a, requires_grad=False):
    return npgan.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                        requires_grad=requires_grad)


def values(x):
    return None if x is None else np.asarray(x.numpy(), dtype=np.float64)


# --- 3. float32 BCE on a subnormal probability: a finite gradient -------------------------

def _bce_sigmoid_grads(x_np, create_graph):
    x = npgan.tensor(x_np, requires_grad=True)
    t = npgan.tensor(np.ones_like(x_np))
    loss = F.binary_cross_entropy(F.sigmoid(x), t, reduction="sum")
    return npgan.grad(loss, [x], create_graph=create_graph)[0], x


@pytest.mark.parametrize("create_graph", [False, True])
def test_3_float32_bce_of_sigmoid_is_finite_where_p_is_subnormal(create_graph):
    # sigmoid(x) for x in [-99, -88] is subnormal in float32 (below 2^-126 = 1.18e-38):
    # -1/p overflows there, PyTorch's (p - t) / max(p (1 - p), 1e-12) does not.
    x_np = np.linspace(-105, -80, 251).astype(np.float32)
    p = (1 / (1 + np.exp(-x_np.astype(np.float64)))).astype(np.float32)
    assert (p[(x_np > -99) & (x_np < -88)] < np.finfo(np.float32).tiny).all()
    g, x = _bce_sigmoid_grads(x_np, create_graph)
    assert g.dtype == np.float32 and np.isfinite(g.numpy()).all()
    # By hand: dl/dx = dl/dp * p (1 - p), dl/dp = (p - 1) / max(p (1 - p), 1e-12); where
    # p (1 - p) < 1e-12 (every x here) that is (p - 1) p (1 - p) / 1e-12, tiny and <= 0.
    p64 = p.astype(np.float64)
    expected = (p64 - 1) * p64 * (1 - p64) / 1e-12
    np.testing.assert_allclose(values(g), expected, rtol=1e-5, atol=1e-40)
    if create_graph:  # the second derivative through the same rule is finite too
        gg, = npgan.grad(g.sum(), [x])
        assert np.isfinite(gg.numpy()).all()


def test_3_float32_bce_gradient_in_p_at_subnormal_p_is_minus_1e12():
    p_np = np.array([1e-40, 1e-45, 1e-38, 0.0], dtype=np.float32)  # subnormals and 0
    for create_graph in (False, True):
        p = npgan.tensor(p_np, requires_grad=True)
        loss = F.binary_cross_entropy(p, npgan.tensor(np.ones(4, np.float32)), reduction="sum")
        g, = npgan.grad(loss, [p], create_graph=create_graph)
        np.testing.assert_allclose(values(g), (p_np.astype(np.float64) - 1) / 1e-12, rtol=1e-6)
        assert np.isfinite(values(loss)).all() and values(loss) == pytest.approx(400, rel=1e-6)


def test_3_float32_bce_matches_pytorch():
    torch = pytest.importorskip("torch")
    p_np = np.array([1e-40, 1e-45, 1e-38, 0.0, 0.3, 1.0], dtype=np.float32)
    t_np = np.array([1, 1, 1, 1, 1, 0], dtype=np.float32)
    p = npgan.tensor(p_np, requires_grad=True)
    F.binary_cross_entropy(p, npgan.tensor(t_np), reduction="sum").backward()
    pt = torch.tensor(p_np, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(pt, torch.tensor(t_np), reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-6)
    x_np = np.linspace(-99, -88, 23).astype(np.float32)
    g, _ = _bce_sigmoid_grads(x_np, False)
    xt = torch.tensor(x_np, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(torch.sigmoid(xt), torch.ones(23),
                                             reduction="sum").backward()
    assert np.isfinite(xt.grad.numpy()).all() and np.isfinite(g.numpy()).all()
    # both vanish: PyTorch's sigmoid flushes these to 0 (gradient -0), ours keeps the subnormal
    assert np.abs(g.numpy()).max() < 1e-20 and np.abs(xt.grad.numpy()).max() < 1e-20


# --- 4. ELU with alpha < 0: d/dx = alpha e^x for x < 0 -------------------------------------

def test_4_elu_negative_alpha_derivatives_by_hand():
    a = -0.5
    x = t64([-1.0, -2.0, 0.5, 3.0], requires_grad=True)
    g, = npgan.grad(F.elu(x, alpha=a).sum(), [x], create_graph=True)
    xs = np.array([-1.0, -2.0, 0.5, 3.0])
    d1 = np.where(xs > 0, 1.0, a * np.exp(xs))
    np.testing.assert_allclose(values(g), d1, rtol=1e-14)
    assert values(g)[0] == pytest.approx(-0.18393972058572117, rel=1e-14)  # -0.5 / e
    gg, = npgan.grad(g.sum(), [x])
    np.testing.assert_allclose(values(gg), np.where(xs > 0, 0.0, a * np.exp(xs)), rtol=1e-14)


@pytest.mark.parametrize("alpha", [-0.5, -2.0, 0.0, 0.3, 1.0, 1.7])
def test_4_elu_gradgradcheck_any_alpha(alpha):
    rng = np.random.default_rng(4)
    x = rng.uniform(-3, 3, size=(3, 4))
    x[np.abs(x) < 0.05] = 0.5  # away from the kink at 0
    check_gradients(lambda v: F.elu(v, alpha=alpha), [t64(x, requires_grad=True)])


def test_4_elu_negative_alpha_matches_pytorch():
    torch = pytest.importorskip("torch")
    xs = np.array([-1.0, -2.0, -0.1, 0.5, 3.0])
    for a in (-0.5, -2.0):
        x = t64(xs, requires_grad=True)
        g, = npgan.grad(F.elu(x, alpha=a).sum(), [x], create_graph=True)
        gg, = npgan.grad(g.sum(), [x])
        xt = torch.tensor(xs, requires_grad=True)
        gt, = torch.autograd.grad(torch.nn.functional.elu(xt, alpha=a).sum(), [xt],
                                  create_graph=True)
        ggt, = torch.autograd.grad(gt.sum(), [xt])
        np.testing.assert_allclose(values(g), gt.detach().numpy(), rtol=1e-14)
        np.testing.assert_allclose(values(gg), ggt.numpy(), rtol=1e-14)


# --- 5. pow at exact zeros ----------------------------------------------------------------

def _pow_derivatives(a, b, lib="npgan"):
    """First and second derivatives of a ** b at the point (a, b), both variables."""
    if lib == "npgan":
        ts = [t64(a, requires_grad=True), t64(b, requires_grad=True)]
        grad = npgan.grad
    else:
        import torch
        ts = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in (a, b)]
        grad = torch.autograd.grad
    g = grad(ts[0] ** ts[1], ts, create_graph=True)
    first = [float(v.item()) for v in g]
    second = [[float(h.item()) for h in grad(gi, ts, retain_graph=True)] for gi in g]
    return first, second


# By hand: a^b at a = 0. d/da = b a^(b-1): 0 at b = 0 (a^0 = 1 is flat), 1 at b = 1, 0 at b = 2;
# d/db = a^b log a: 0 at a = 0 for b >= 0 (0^b is flat there, PyTorch's convention).
# d2/da2 = b (b-1) a^(b-2): 0 at b = 0 and b = 1, 2 at b = 2, 0 at b = 3 (a = 0).
POW_BY_HAND = [
    # (a, b, first derivatives (da, db), d2/da2)
    (0.0, 0.0, (0.0, 0.0), 0.0),
    (0.0, 1.0, (1.0, 0.0), 0.0),
    (0.0, 2.0, (0.0, 0.0), 2.0),
    (0.0, 3.0, (0.0, 0.0), 0.0),
    (2.0, 0.0, (0.0, math.log(2.0)), 0.0),
]


@pytest.mark.parametrize("a,b,first,d2a", POW_BY_HAND)
def test_5_pow_at_zero_by_hand(a, b, first, d2a):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 0 * inf computed anywhere on the way
        got_first, got_second = _pow_derivatives(a, b)
    assert got_first == list(first)
    assert got_second[0][0] == d2a
    assert not np.isnan(got_second).any()


def test_5_pow_constant_exponent_and_constant_base_at_zero():
    x = t64([0.0, 0.0, 1.5], requires_grad=True)
    g, = npgan.grad((x ** 0).sum(), [x], create_graph=True)   # d(x^0)/dx = 0
    assert values(g).tolist() == [0.0, 0.0, 0.0]
    g, = npgan.grad((x ** 1).sum(), [x], create_graph=True)   # d(x^1)/dx = 1, d2 = 0
    assert values(g).tolist() == [1.0, 1.0, 1.0]
    gg, = npgan.grad(g.sum(), [x])
    assert values(gg).tolist() == [0.0, 0.0, 0.0]
    e = t64([0.0, 1.0, 2.5], requires_grad=True)
    g, = npgan.grad((0.0 ** e).sum(), [e], create_graph=True)  # d(0^e)/de = 0 for e >= 0
    assert values(g).tolist() == [0.0, 0.0, 0.0]
    gg, = npgan.grad(g.sum(), [e])
    assert not np.isnan(values(gg)).any()
    # away from 0 nothing changes: d(2^e)/de = 2^e log 2, d/dx x^2.5 = 2.5 x^1.5
    e2 = t64([0.0, 1.0], requires_grad=True)
    g, = npgan.grad((2.0 ** e2).sum(), [e2])
    np.testing.assert_allclose(values(g), [math.log(2), 2 * math.log(2)], rtol=1e-15)
    # a negative exponent at 0 stays infinite, as it should (and as in PyTorch)
    with np.errstate(divide="ignore", invalid="ignore"):
        first, _ = _pow_derivatives(0.0, -1.0)
    assert first == [-math.inf, -math.inf]


def test_5_pow_mixed_derivative_at_b_zero_stays_exact():
    # d2(a^b)/da db = a^(b-1) (1 + b log a) = 1/a at b = 0: 0.5 at a = 2 (PyTorch's
    # where(b == 0, 0, ...) gives 0 here; npgan keeps the exact value).
    _, second = _pow_derivatives(2.0, 0.0)
    assert second[0][1] == 0.5 and second[1][0] == 0.5


POW_POINTS = [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (0.0, -1.0), (0.0, 0.5),
              (2.0, 0.0), (3.0, 2.0), (0.5, -1.5)]


def test_5_pow_matches_pytorch_wherever_pytorch_gives_a_number():
    torch = pytest.importorskip("torch")  # noqa: F841
    for a, b in POW_POINTS:
        with np.errstate(divide="ignore", invalid="ignore"):
            ours = _pow_derivatives(a, b)
        theirs = _pow_derivatives(a, b, lib="torch")
        for o, t in zip(ours[0], theirs[0]):
            assert o == pytest.approx(t, rel=1e-14) or o == t, (a, b, ours, theirs)
        for i in range(2):
            for j in range(2):
                o, t = ours[1][i][j], theirs[1][i][j]
                if math.isnan(t) or (a, b, i, j) in {(2.0, 0.0, 0, 1)}:
                    continue  # NaN in PyTorch; (2, 0) mixed: PyTorch's 0 vs the exact 0.5
                assert o == pytest.approx(t, rel=1e-14) or o == t, (a, b, i, j, ours, theirs)


# --- 6. bool(t) -------------------------------------------------------------------------

def test_6_bool_of_one_element_and_ambiguous_otherwise():
    assert bool(npgan.tensor([0.0])) is False
    assert bool(npgan.tensor([[2.5]])) is True
    assert bool(npgan.tensor(0.0)) is False
    assert bool(npgan.tensor(np.array([True]))) is True
    assert not npgan.tensor([0.0])
    with pytest.raises(RuntimeError, match=r"^Boolean value of Tensor with more than one value "
                                           r"is ambiguous \(shape \(2,\)\)"):
        bool(npgan.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match=r"^Boolean value of Tensor with no values is "
                                           r"ambiguous \(shape \(0,\)\)"):
        bool(npgan.tensor(np.zeros(0)))


def test_6_bool_matches_pytorch():
    torch = pytest.importorskip("torch")
    for v in ([0.0], [3.0], [[0.0]], 0.0, 1.0):
        assert bool(npgan.tensor(v)) == bool(torch.tensor(v))
    for v in ([0.0, 1.0], []):
        with pytest.raises(RuntimeError, match="is ambiguous"):
            bool(torch.tensor(v))
        with pytest.raises(RuntimeError, match="is ambiguous"):
            bool(npgan.tensor(np.asarray(v, dtype=np.float32)))


# --- 8. grad_outputs keep their graph under create_graph -----------------------------------

def _f(u):
    """f(a, b) = (a b, e^a, a b^2): R^2 -> R^3."""
    a, b = u[0], u[1]
    return npgan.ops.concatenate([(a * b).reshape(1), npgan.ops.exp(a).reshape(1),
                                  (a * b * b).reshape(1)])


def _jacobian(a, b):
    return np.array([[b, a], [math.exp(a), 0.0], [b * b, 2 * a * b]])


def test_8_double_backward_through_grad_outputs_gives_jacobian_vector_products():
    a, b = 0.3, -0.7
    u = t64([a, b], requires_grad=True)
    v = t64([1.0, 2.0, -1.0], requires_grad=True)
    g, = npgan.grad(_f(u), [u], grad_outputs=v, create_graph=True)   # J^T v
    J = _jacobian(a, b)
    np.testing.assert_allclose(values(g), J.T @ [1.0, 2.0, -1.0], rtol=1e-14)
    w = np.array([0.5, -1.5])
    jw, = npgan.grad(g, [v], grad_outputs=t64(w))                     # d(J^T v . w)/dv = J w
    np.testing.assert_allclose(values(jw), J @ w, rtol=1e-14)
    # and through u as well: d(J^T v . w)/du, by hand from the second derivatives of f
    g, = npgan.grad(_f(u), [u], grad_outputs=v, create_graph=True)
    hu, = npgan.grad(g, [u], grad_outputs=t64(w))
    v_ = np.array([1.0, 2.0, -1.0])
    hess = [np.array([[0, 1], [1, 0]]), np.array([[math.exp(a), 0], [0, 0]]),
            np.array([[0, 2 * b], [2 * b, 2 * a]])]
    np.testing.assert_allclose(values(hu), sum(vi * h for vi, h in zip(v_, hess)) @ w,
                               rtol=1e-14)


def test_8_grad_outputs_without_create_graph_and_shape_error():
    u = t64([0.3, -0.7], requires_grad=True)
    v = t64([1.0, 2.0, -1.0], requires_grad=True)
    g, = npgan.grad(_f(u), [u], grad_outputs=v)       # plain: no graph kept
    assert not g.requires_grad
    with pytest.raises(ValueError, match=r"grad has shape \(2,\) but the output has shape \(3,\)"):
        npgan.grad(_f(u), [u], grad_outputs=t64([1.0, 2.0], requires_grad=True),
                   create_graph=True)


def test_8_matches_pytorch():
    torch = pytest.importorskip("torch")
    u = t64([0.3, -0.7], requires_grad=True)
    v = t64([1.0, 2.0, -1.0], requires_grad=True)
    g, = npgan.grad(_f(u), [u], grad_outputs=v, create_graph=True)
    jw, = npgan.grad(g, [v], grad_outputs=t64([0.5, -1.5]))
    ut = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    vt = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64, requires_grad=True)
    yt = torch.stack([ut[0] * ut[1], ut[0].exp(), ut[0] * ut[1] ** 2])
    gt, = torch.autograd.grad(yt, [ut], grad_outputs=vt, create_graph=True)
    jwt, = torch.autograd.grad(gt, [vt], grad_outputs=torch.tensor([0.5, -1.5],
                                                                   dtype=torch.float64))
    np.testing.assert_allclose(values(jw), jwt.numpy(), rtol=1e-14)


# --- 1. transpose(dim0, dim1) swaps two dims; permute(*dims) permutes; .T reverses ----------

def test_1_transpose_swaps_two_dims_by_hand():
    m = npgan.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.transpose(0, 1).numpy().tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert m.transpose(-1, 0).numpy().tolist() == [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    assert m.transpose(1, 1).numpy().tolist() == m.numpy().tolist()
    x_np = np.arange(24.0).reshape(2, 3, 4)
    x = t64(x_np, requires_grad=True)
    y = x.transpose(0, 2)                     # (4, 3, 2): y[k, j, i] = x[i, j, k]
    assert y.shape == (4, 3, 2) and y.numpy()[3, 1, 0] == x_np[0, 1, 3]
    assert x.transpose(-1, -2).shape == (2, 4, 3)
    gy = np.arange(24.0).reshape(4, 3, 2)
    y.backward(gy)
    np.testing.assert_array_equal(x.grad.numpy(), gy.transpose(2, 1, 0))
    check_gradients(lambda a: a.transpose(1, -1), [t64(np.random.default_rng(1).normal(
        size=(2, 3, 4)), requires_grad=True)])
    assert npgan.tensor(5.0).transpose(0, -1).item() == 5.0  # a 0-d tensor takes dims 0 and -1


def test_1_permute_and_T():
    x_np = np.arange(24.0).reshape(2, 3, 4)
    x = t64(x_np)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), x_np.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.permute((1, 2, 0)).numpy(), x_np.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.permute(-1, 0, -2).numpy(), x_np.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.T.numpy(), x_np.transpose(2, 1, 0))  # every axis reversed
    assert "deprecates" in type(x).T.__doc__
    np.testing.assert_array_equal(npgan.ops.transpose(x, (1, 0, 2)).numpy(),
                                  x_np.transpose(1, 0, 2))  # the function keeps numpy's meaning
    assert "numpy's meaning" in npgan.ops.transpose.__doc__
    check_gradients(lambda a: a.permute(2, 0, 1), [t64(x_np, requires_grad=True)])


def test_1_transpose_and_permute_errors():
    x = npgan.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match=r"^transpose: dimension 2 is out of range for a tensor "
                                         r"of 2 dimensions \(expected one in \[-2, 1\]\)$"):
        x.transpose(0, 2)
    with pytest.raises(IndexError, match=r"dimension -3 is out of range"):
        x.transpose(-3, 0)
    with pytest.raises(TypeError, match=r"^transpose\(dim0, dim1\) swaps two dimensions "
                                        r"\(PyTorch's meaning\), got 1 arguments \(\(1, 0\),\); "
                                        r"for a whole permutation use permute\(\*dims\)"):
        x.transpose((1, 0))
    with pytest.raises(TypeError, match=r"got 0 arguments"):
        x.transpose()
    with pytest.raises(TypeError, match=r"a dimension must be an int, got 0.5"):
        x.transpose(0.5, 1)
    with pytest.raises(ValueError, match=r"^permute: got 1 dims \(0,\) for a tensor of 2 "
                                         r"dimensions; name each dimension once \(e.g. "
                                         r"permute\(1, 0\)\)$"):
        x.permute(0)
    with pytest.raises(ValueError, match=r"^permute: dims \(0, -2\) repeat a dimension"):
        x.permute(0, -2)
    with pytest.raises(IndexError, match=r"^permute: dimension 2 is out of range"):
        x.permute(2, 0)
    with pytest.raises(ValueError, match=r"transpose: axes \(5, 0\) are not a permutation"):
        npgan.ops.transpose(x, (5, 0))  # no longer wrapped around to (1, 0)


def test_1_batched_matmul_second_order_uses_the_swap():
    # MatMul's rule transposes the last two axes of a batch (matrix._swap_last); under
    # create_graph that runs on Tensors, where .transpose now means two dims.
    rng = np.random.default_rng(2)
    a = t64(rng.normal(size=(2, 3, 4)), requires_grad=True)
    b = t64(rng.normal(size=(2, 4, 5)), requires_grad=True)
    check_gradients(lambda p, q: p @ q, [a, b])


def test_1_transpose_matches_pytorch():
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(3).normal(size=(2, 3, 4, 5))
    x, xt = t64(x_np), torch.tensor(x_np)
    for d0, d1 in [(0, 1), (1, 3), (-1, 0), (2, 2), (-2, -3)]:
        np.testing.assert_array_equal(x.transpose(d0, d1).numpy(), xt.transpose(d0, d1).numpy())
    for dims in [(3, 1, 0, 2), (-1, -2, 0, 1)]:
        np.testing.assert_array_equal(x.permute(*dims).numpy(), xt.permute(*dims).numpy())
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(t64(m).T.numpy(), torch.tensor(m).T.numpy())
    with pytest.raises(IndexError):
        xt.transpose(0, 4)
    with pytest.raises(IndexError):
        x.transpose(0, 4)


# --- 7. type promotion: PyTorch's categories and priorities --------------------------------

def _operand(dtype, zero_d):
    v = np.array(True if dtype == "bool" else 1, dtype=dtype)
    return npgan.tensor(v if zero_d else np.array([v, v, v], dtype=dtype))


# (left dtype, left 0-d?, right dtype or Python number, right 0-d?, op, expected dtype by hand)
PROMOTIONS = [
    ("float32", False, "float64", True, "add", "float32"),   # a 0-d tensor keeps float32
    ("float64", True, "float32", False, "mul", "float32"),   # on either side
    ("float32", False, "int64", False, "mul", "float32"),    # integer with float: the float's
    ("int64", False, "float32", False, "sub", "float32"),
    ("int64", False, "float64", True, "add", "float64"),     # 0-d of a higher category decides
    ("int32", False, "int64", True, "add", "int32"),         # 0-d of the same category does not
    ("int32", False, "int64", False, "add", "int64"),        # dimensioned integers: the wider
    ("uint8", False, "int8", False, "add", "int16"),
    ("bool", False, "int32", False, "add", "int32"),
    ("bool", False, "int32", True, "mul", "int32"),
    ("bool", False, "float64", False, "mul", "float64"),
    ("float32", True, "float64", True, "add", "float64"),    # two 0-d floats: the wider
    ("int64", False, 0.5, None, "mul", "float32"),           # int with a Python float: default
    ("int64", False, 2, None, "mul", "int64"),
    ("int32", False, 2, None, "add", "int32"),
    ("bool", False, 2, None, "add", "int64"),                # bool with a Python int: int64
    ("bool", False, True, None, "add", "bool"),
    ("float32", False, 2, None, "mul", "float32"),
    ("float64", False, 0.5, None, "mul", "float64"),
    ("int64", False, "int64", False, "div", "float32"),      # true division: default float
    ("bool", False, "int32", False, "div", "float32"),
    ("int64", False, 2, None, "div", "float32"),
    ("int64", False, 0.5, None, "pow", "float32"),
    ("int64", False, 2, None, "pow", "int64"),
]


def _promotion_case(case):
    left, lzero, right, rzero, op, _ = case
    a = _operand(left, lzero)
    b = _operand(right, rzero) if isinstance(right, str) else right
    return a, b, op


@pytest.mark.parametrize("case", PROMOTIONS, ids=lambda c: f"{c[0]}-{c[4]}-{c[2]}")
def test_7_result_dtypes_by_hand(backend_name, case):
    a, b, op = _promotion_case(case)
    assert str(getattr(npgan.ops, op)(a, b).dtype) == case[5]
    symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[op]
    assert str(eval(f"a {symbol} b").dtype) == case[5]           # the operators too
    if not isinstance(b, npgan.Tensor) and op != "pow":
        assert str(eval(f"b {symbol} a").dtype) == case[5]        # the number on the left


def test_7_default_dtype_follows_set_default_dtype():
    npgan.set_default_dtype("float64")
    a = _operand("int64", False)
    assert (a * 0.5).dtype == np.float64 and (a / a).dtype == np.float64
    assert (_operand("float32", False) * 0.5).dtype == np.float32  # a float tensor keeps its own


def test_7_float32_and_float64_with_dimensions_are_still_refused():
    with pytest.raises(TypeError, match="Add: cannot mix float32 and float64 operands"):
        _operand("float32", False) + _operand("float64", False)
    with pytest.raises(TypeError, match="got int64 data with float32 weights"):
        npgan.ops.matmul(npgan.tensor(np.ones((2, 2), dtype=np.int64)),
                         npgan.tensor(np.ones((2, 2), dtype=np.float32)))


def test_7_promoted_operand_gets_its_gradient_in_its_own_dtype(backend_name):
    w = npgan.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    s = npgan.tensor(np.array(2.0), dtype="float64", requires_grad=True)   # 0-d float64
    y = (w * s).sum()
    assert y.dtype == np.float32
    y.backward()
    assert w.grad.dtype == np.float32 and w.grad.numpy().tolist() == [2.0, 2.0, 2.0]
    assert s.grad.dtype == np.float64 and s.grad.item() == 6.0            # sum of w
    n = npgan.tensor(np.array([1, 2, 3], dtype=np.int64))
    z = (w * n).sum()
    z.backward()
    assert z.dtype == np.float32 and w.grad.numpy().tolist() == [3.0, 4.0, 5.0]


def test_7_result_dtypes_match_pytorch():
    torch = pytest.importorskip("torch")
    dtypes = ["bool", "uint8", "int32", "int64", "float32", "float64"]
    ops = {"add": torch.add, "mul": torch.mul, "div": torch.div}
    checked = 0
    for left in dtypes:
        for right in dtypes + [2, 0.5, True]:
            for lzero in (False, True):
                for rzero in ((False, True) if isinstance(right, str) else (None,)):
                    a = _operand(left, lzero)
                    b = _operand(right, rzero) if isinstance(right, str) else right
                    ta = torch.tensor(a.numpy())
                    tb = torch.tensor(b.numpy()) if isinstance(b, npgan.Tensor) else b
                    floats = {str(t.dtype) for t in (a, b) if isinstance(t, npgan.Tensor)
                              and t.ndim and t.dtype.kind == "f"}
                    for op, torch_op in ops.items():
                        expected = str(torch_op(ta, tb).dtype).replace("torch.", "")
                        if len(floats) == 2:  # float32 with float64, both with dimensions
                            with pytest.raises(TypeError, match="cannot mix"):
                                getattr(npgan.ops, op)(a, b)
                            continue
                        assert str(getattr(npgan.ops, op)(a, b).dtype) == expected, \
                            (left, lzero, right, rzero, op)
                        checked += 1
    assert checked > 300


# --- 2. in-place updates and the version counter -------------------------------------------

def test_2_inplace_operators_change_the_array_itself(backend_name):
    a = npgan.tensor([1.0, 2.0, 4.0])
    b, array = a, a.data
    a += 1
    assert a is b and a.data is array and values(b).tolist() == [2.0, 3.0, 5.0]
    a -= npgan.tensor([1.0, 1.0, 1.0])
    a *= 2
    a /= npgan.tensor([2.0, 4.0, 8.0])
    assert a is b and values(b).tolist() == [1.0, 1.0, 1.0] and a._version == 4
    assert a.dtype == np.float32                     # a Python number keeps the dtype
    n = npgan.tensor(np.array([1, 2, 3]))
    n += 2
    n *= npgan.tensor(np.array([2, 2, 2], dtype=np.int32))
    assert n.dtype == np.int64 and values(n).tolist() == [6.0, 8.0, 10.0]


def test_2_index_assignment_in_place(backend_name):
    t = npgan.tensor([1.0, 2.0, 3.0, 4.0])
    alias = t
    t[0] = 5.0
    t[t.data > 3.5] = 0                              # a mask
    t[1:3] = npgan.tensor([7.0, 8.0])                # a slice from a tensor
    assert alias is t and values(t).tolist() == [0.0, 7.0, 8.0, 0.0] and t._version == 3
    m = npgan.tensor(np.arange(6.0).reshape(2, 3))
    m[:, 1] = npgan.tensor([-1.0, -2.0])             # broadcast along a column
    m[npgan.tensor(np.array([1, 0]) == 1)] = 9.0     # a boolean Tensor picks row 0
    assert values(m).tolist() == [[9.0, 9.0, 9.0], [3.0, -2.0, 5.0]]


def test_2_hand_written_sgd_updates_the_parameters():
    # minimise (w - 3)^2 with w -= lr * grad under no_grad: w_{k+1} = w_k - 0.2 (w_k - 3)
    w = npgan.tensor(np.array([0.0], dtype=np.float64), dtype="float64", requires_grad=True)
    params = [w]
    for _ in range(20):
        w.grad = None
        ((w - 3.0) ** 2).sum().backward()
        with npgan.no_grad():
            for p in params:
                p -= 0.1 * p.grad
    assert params[0] is w and w.is_leaf and w.requires_grad
    assert values(w)[0] == pytest.approx(3.0 - 3.0 * 0.8 ** 20, rel=1e-12)
    # an EMA of parameters by hand: avg = 0.5 avg + 0.5 w, in place
    avg = npgan.tensor(np.array([1.0]), dtype="float64")
    with npgan.no_grad():
        avg *= 0.5
        avg += 0.5 * w
    assert values(avg)[0] == pytest.approx(0.5 + 0.5 * values(w)[0], rel=1e-15)


def test_2_leaf_that_requires_grad_is_refused_outside_no_grad():
    w = npgan.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__iadd__(1.0), lambda: w.__imul__(2.0),
                   lambda: w.__setitem__(0, 3.0)):
        with pytest.raises(RuntimeError, match=r"^a leaf Variable that requires grad is being "
                                               r"used in an in-place operation\. "):
            change()
    assert values(w).tolist() == [1.0, 2.0] and w._version == 0  # nothing changed
    with pytest.raises(RuntimeError, match=r"Change parameters under `with npgan.no_grad\(\):`"):
        w += 1
    with npgan.no_grad():
        w += 1
        w[1] = 0.0
    assert values(w).tolist() == [2.0, 0.0] and w._version == 2 and w.is_leaf


def test_2_recorded_on_a_non_leaf_gradients_by_hand(backend_name):
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    h += x * x            # h = 2x + x^2
    h *= 3                # h = 6x + 3x^2
    h -= x                # h = 5x + 3x^2
    h /= 2                # h = (5x + 3x^2) / 2
    assert not h.is_leaf and h._version == 4
    np.testing.assert_allclose(values(h), (5 * np.array([1, 2, 3.0]) + 3 * np.array([1, 4, 9.0])) / 2)
    h.sum().backward()
    np.testing.assert_allclose(values(x.grad), (5 + 6 * np.array([1.0, 2.0, 3.0])) / 2)
    # index assignment: overwritten entries get no gradient, the value gets theirs
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    s = t64([10.0], requires_grad=True)
    h = x * 2
    h[1] = s[0] * 5       # h = (2 x0, 5 s, 2 x2)
    h[h.data > 5] = x[0] * 7   # h = (2 x0, 7 x0, 7 x0) since 5 s = 50 and 2 x2 = 6 exceed 5
    (h * t64([1.0, 10.0, 100.0])).sum().backward()
    assert values(x.grad).tolist() == [2.0 + 7 * 10 + 7 * 100, 0.0, 0.0]
    assert values(s.grad).tolist() == [0.0]           # its value was overwritten in turn
    # a tensor that does not require grad takes part once a value that does is written in
    buf = npgan.tensor(np.zeros(3), dtype="float64")
    buf[1:] = x[1:] * 2
    buf += x
    assert buf.requires_grad and not buf.is_leaf
    x.grad = None
    buf.sum().backward()
    assert values(x.grad).tolist() == [1.0, 3.0, 3.0]


def _with_inplace(x):
    h = x * x
    h += x                 # x^2 + x
    h[..., 0] = x[..., 1] * 3
    h *= x                 # (x^2 + x) x, and 3 x1 x0 in column 0
    h /= 2
    return h


def test_2_recorded_inplace_first_and_second_derivatives():
    x = t64(np.random.default_rng(5).normal(size=(3, 2)), requires_grad=True)
    check_gradients(_with_inplace, [x])


def _self_referencing(x):
    h = x * 1.5
    h[:, 0] = h[:, 1] * 2      # the value is computed from h itself
    h += h.exp()               # and the operand
    return h


def test_2_inplace_reading_itself_by_hand_and_second_order():
    x = t64([[0.1, 0.2], [0.3, -0.4]], requires_grad=True)
    h = _self_referencing(x)
    # h0 = (3 x1, 1.5 x1) per row, then h = h0 + e^h0: dh/dx1 = (3 (1 + e^h0[0]), 1.5 (1 + e^h0[1]))
    x1 = np.array([0.2, -0.4])
    h0 = np.stack([3 * x1, 1.5 * x1], axis=1)
    np.testing.assert_allclose(values(h), h0 + np.exp(h0), rtol=1e-15)
    h.sum().backward()
    d1 = 3 * (1 + np.exp(h0[:, 0])) + 1.5 * (1 + np.exp(h0[:, 1]))
    np.testing.assert_allclose(values(x.grad), np.stack([np.zeros(2), d1], axis=1), rtol=1e-14)
    check_gradients(_self_referencing, [t64(np.random.default_rng(8).normal(size=(3, 2)),
                                            requires_grad=True)])


def test_2_version_counter_refuses_a_value_changed_after_it_was_saved(backend_name):
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    y = h * h                                        # Mul saved h (version 0)
    with npgan.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match=r"^one of the variables needed for gradient "
                       r"computation has been modified by an inplace operation: the input 0 of "
                       r"Mul, a float64 tensor of shape \(3,\), is at version 1; expected "
                       r"version 0 instead\."):
        y.sum().backward()
    assert x.grad is None                            # nothing accumulated
    # changed twice, and in grad mode: the op that used the old value still refuses
    x = t64([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    y = h.exp()                                      # Exp saved its output... and h
    h += 1
    h += 1
    with pytest.raises(RuntimeError, match=r"the input 0 of Exp, a float64 tensor of shape "
                                           r"\(3,\), is at version 2; expected version 0"):
        y.sum().backward()
    # an output the rule uses, changed under no_grad
    x = t64([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with npgan.no_grad():
        y *= 2
    with pytest.raises(RuntimeError, match=r"the output of Exp, a float64 tensor of shape \(2,\), "
                                           r"is at version 1; expected version 0 instead"):
        y.sum().backward()


def test_2_optimizer_step_bumps_versions_and_stale_graphs_refuse():
    w = t64([1.0, -1.0], requires_grad=True)
    opt = npgan.optim.SGD([w], lr=0.1)
    loss_a = (w * w).sum()
    loss_b = (w * 3).sum()           # recorded before the step (refused even though the
    #                                  rule of w * 3 needs only the 3: stricter than PyTorch)
    loss_a.backward()
    opt.step()
    assert w._version == 1 and values(w).tolist() == [0.8, -0.8]
    with pytest.raises(RuntimeError, match=r"the input 0 of Mul, a float64 tensor of shape "
                                           r"\(2,\), is at version 1; expected version 0"):
        loss_b.backward()
    opt.zero_grad()
    (w * 3).sum().backward()                         # recorded after the step: fine
    assert values(w.grad).tolist() == [3.0, 3.0]


def test_2_errors_are_checked_before_any_change():
    t = npgan.tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match=r"^/=: the result is float, which cannot be stored in "
                                        r"place in a tensor of dtype int64"):
        t /= 2
    with pytest.raises(TypeError, match=r"^\+=: the result is float"):
        t += 0.5
    with pytest.raises(ValueError, match=r"^\+=: an operand of shape \(2, 3\) does not broadcast "
                                         r"to the tensor's shape \(3,\)"):
        t += npgan.tensor(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"cannot combine a Tensor with a str"):
        t += "a"
    with pytest.raises(ValueError, match=r"^t\[index\] = value: could not broadcast"):
        t[0:2] = npgan.tensor(np.array([1, 2, 3]))
    assert values(t).tolist() == [1.0, 2.0, 3.0] and t._version == 0
    x = t64([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    v = (x * 2).reshape(2, 2)                        # a view of the product's array
    with pytest.raises(RuntimeError, match=r"^\+=: this tensor's array is a view of another "
                                           r"tensor's .*write t = t \+ x"):
        v += 1
    with npgan.no_grad():
        v += 1                                       # allowed where nothing is recorded


def test_2_grad_arrays_are_not_shared_between_leaves(backend_name):
    a = t64([1.0, 2.0], requires_grad=True)
    b = t64([3.0, 4.0], requires_grad=True)
    gy = np.array([1.0, 1.0])
    (a.reshape(2) + b).backward(gy)                  # Add hands one gy to both
    with npgan.no_grad():
        a.grad *= 0.5                                # clipping one gradient by hand
    assert values(a.grad).tolist() == [0.5, 0.5] and values(b.grad).tolist() == [1.0, 1.0]
    assert gy.tolist() == [1.0, 1.0]                 # nor with the caller's array


def test_2_inplace_matches_pytorch():
    torch = pytest.importorskip("torch")
    x_np = np.random.default_rng(6).normal(size=(3, 2))
    x = t64(x_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)

    def torch_version(x):
        h = x * x
        h += x
        h[..., 0] = x[..., 1] * 3
        h *= x
        h /= 2
        return h
    for ours, theirs in [(_self_referencing, _self_referencing), (_with_inplace, torch_version)]:
        xs, xst = t64(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
        ours(xs).sum().backward()
        theirs(xst).sum().backward()
        np.testing.assert_allclose(values(xs.grad), xst.grad.numpy(), rtol=1e-14)
    y, yt = _with_inplace(x), torch_version(xt)
    np.testing.assert_allclose(values(y), yt.detach().numpy(), rtol=1e-15)
    r = np.random.default_rng(7).normal(size=(3, 2))
    (y * t64(r)).sum().backward()
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(values(x.grad), xt.grad.numpy(), rtol=1e-14)
    # the same refusals: a leaf, and a value changed after an op saved it
    wt = torch.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^a leaf Variable that requires grad is being used "
                                           r"in an in-place operation\.$"):
        wt += 1
    ht = xt * 2
    zt = ht * ht
    with torch.no_grad():
        ht += 1
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*is at version 1; "
                                           r"expected version 0 instead"):
        zt.sum().backward()
    # an optimizer step between the forward pass and backward, in PyTorch too
    pt = torch.tensor([1.0, -1.0], requires_grad=True)
    opt = torch.optim.SGD([pt], lr=0.1)
    (pt * pt).sum().backward()
    stale = (pt * pt).sum()          # saves pt (pt * 3 would not, in PyTorch; npgan refuses both)
    opt.step()
    assert pt._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


# --- where npgan keeps numpy's meaning on purpose (the README's semantics list) --------------

def test_numpy_meaning_kept_for_split_advanced_indexing_and_sum_over_no_axis():
    x_np = np.arange(24.0).reshape(2, 3, 4)
    x = t64(x_np, requires_grad=True)
    y = x[0, :, [1, 2]]          # the advanced indices (0 and [1, 2]) are split by a slice
    assert y.shape == (2, 3) and values(y).tolist() == x_np[0, :, [1, 2]].tolist()
    s = x.sum(axis=())
    assert s.shape == (2, 3, 4) and values(s).tolist() == x_np.tolist()


def test_numpy_meaning_kept_differs_from_pytorch_as_the_readme_says():
    torch = pytest.importorskip("torch")
    xt = torch.arange(24.0).reshape(2, 3, 4)
    assert tuple(xt[0, :, [1, 2]].shape) == (3, 2)
    assert tuple(xt.sum(dim=()).shape) == ()
