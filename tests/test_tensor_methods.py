"""The methods and functions a PyTorch user expects (issue 18): Tensor methods, reductions with
indices, var/std/norm, comparisons, creation functions, cat/stack/where/maximum/minimum/clamp,
the dim=/keepdim= spellings, and the error function behind GELU.

Expected values come from numpy and closed forms, so everything runs without PyTorch; the
tests named ``*_against_pytorch`` compare with PyTorch where it is installed (and skip
cleanly where not). Every differentiable op is checked to second order by central
differences (:func:`conftest.check_gradients`) on shapes drawn by hypothesis.
"""
import math
import operator
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npgan
import npgan.functional as F
from conftest import check_gradients
from npgan import backend

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


def t64(a, requires_grad=False):
    return npgan.tensor(np.asarray(a, dtype=np.float64), dtype="float64",
                        requires_grad=requires_grad)


def distinct(shape, low=-3.0, high=3.0, gap=1e-3):
    """Values in [low, high] at least ``gap`` apart (no ties, so max/min, clamp and
    maximum are smooth at the drawn point), with both signs."""
    n = math.prod(shape)
    return hnp.arrays(np.float64, (n,), elements=st.integers(int(low / gap), int(high / gap)),
                      unique=True).map(lambda a: (a * gap).reshape(shape))


def away_from_zero(shape, low=0.05, high=3.0):
    magnitude = st.floats(low, high, allow_nan=False)
    return hnp.arrays(np.float64, shape, elements=st.one_of(magnitude, magnitude.map(lambda v: -v)))


# --- the error function (backend.erf / backend.erfc) ---------------------------------------

ERF_POINTS = np.concatenate([np.linspace(-6, 6, 2401), np.linspace(-1e-3, 1e-3, 41),
                             np.random.default_rng(5).uniform(-26, 26, 2000),
                             [0.0, 0.5, -0.5, 0.4999999999999999, 1e-300, -1e-300]])


def test_erf_and_erfc_match_math_to_1e_14():
    got_erf = backend.erf(ERF_POINTS)
    got_erfc = backend.erfc(ERF_POINTS)
    want_erf = np.array([math.erf(v) for v in ERF_POINTS])
    want_erfc = np.array([math.erfc(v) for v in ERF_POINTS])
    np.testing.assert_allclose(got_erf, want_erf, rtol=1e-14, atol=0)
    np.testing.assert_allclose(got_erfc, want_erfc, rtol=1e-14, atol=0)  # relative, down to 1e-296
    assert got_erfc.min() < 1e-290  # the far tail was really checked, in relative terms


def test_erf_ends_nan_and_dtypes(backend_name):
    xp = backend.get_xp()
    x = xp.asarray(np.array([np.inf, -np.inf, np.nan, 30.0, -30.0]))
    e, c = backend.to_numpy(backend.erf(x)), backend.to_numpy(backend.erfc(x))
    np.testing.assert_array_equal(e[[0, 1, 3, 4]], [1, -1, 1, -1])
    np.testing.assert_array_equal(c[[0, 1, 3, 4]], [0, 2, 0, 2])
    assert np.isnan(e[2]) and np.isnan(c[2])
    x32 = xp.asarray(np.float32([0.3, -2.0]))
    assert backend.erf(x32).dtype == np.float32 and backend.erfc(x32).dtype == np.float32
    # every backend gives the numpy backend's numbers
    y = xp.asarray(ERF_POINTS[::7])
    np.testing.assert_array_equal(backend.to_numpy(backend.erf(y)), backend.erf(ERF_POINTS[::7]))


def test_erfc_tail_against_mpmath():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    x = np.concatenate([np.linspace(0.4, 26.4, 131), -np.linspace(0.4, 6, 29)])
    want = np.array([float(mpmath.erfc(mpmath.mpf(float(v)))) for v in x])
    np.testing.assert_allclose(backend.erfc(x), want, rtol=5e-15, atol=0)


# --- size() and the small methods -------------------------------------------------------------

def test_size_is_pytorchs_method_and_numel_counts():
    t = npgan.zeros(2, 3, 4)
    assert t.size() == (2, 3, 4) and t.size(0) == 2 and t.size(-1) == 4
    assert t.numel() == 24 and t.dim() == 3 and npgan.tensor(5.0).size() == ()
    assert callable(t.size)  # not numpy's element count: that is numel()
    with pytest.raises(IndexError, match=r"^size: dimension 3 is out of range for a tensor of "
                                         r"3 dimensions \(expected one in \[-3, 2\]\)$"):
        t.size(3)


def test_float_double_to_and_the_gradient_through_a_cast():
    x = npgan.tensor([1.5, -2.0], requires_grad=True)
    assert x.float() is x and x.to("float32") is x and x.to(x) is x
    d = x.double()
    assert d.dtype == np.float64 and x.to(npgan.float64).dtype == np.float64
    g, = npgan.grad((d * d).sum(), [x])
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g.numpy(), [3.0, -4.0])
    assert npgan.tensor([1, 2]).float().dtype == np.float32
    with pytest.raises(TypeError, match=r"^to: expected a dtype .*got 'cuda'; npgan has no "
                                        r"devices to move to"):
        x.to("cuda")


def test_clone_copies_the_data_and_passes_the_gradient():
    x = t64([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and not np.shares_memory(c.data, x.data)
    c.data[0] = 9.0
    assert x.numpy()[0] == 1.0
    check_gradients(lambda x: x.clone() * x, [x])


def test_tolist_float_int():
    t = npgan.tensor([[1.5, -2.0]])
    assert t.tolist() == [[1.5, -2.0]]
    assert float(npgan.tensor([2.5])) == 2.5 and int(npgan.tensor(-2.7)) == -2
    assert int(npgan.tensor([[7]])) == 7 and isinstance(float(npgan.tensor(3)), float)
    for convert in (float, int):
        with pytest.raises(ValueError, match=rf"^{convert.__name__}\(\): only one element "
                                             r"tensors can be converted to Python scalars, got "
                                             r"shape \(1, 2\)$"):
            convert(t)


# --- comparisons ------------------------------------------------------------------------------

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
       "==": operator.eq, "!=": operator.ne}


@pytest.mark.parametrize("op", list(OPS))
def test_comparisons_are_boolean_and_outside_the_graph(backend_name, op):
    cmp = OPS[op]
    a_np = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b_np = np.array([2.0, 2.0, 2.0])
    a = npgan.tensor(a_np, requires_grad=True)
    b = npgan.tensor(b_np)
    for out, want in ((cmp(a, b), cmp(a_np, b_np)),
                      (cmp(a, 2.0), cmp(a_np, 2.0)),
                      (cmp(2.0, a), cmp(2.0, a_np)),                   # reflected
                      (cmp(backend.asarray(b_np), a), cmp(b_np, a_np))):  # an array first
        assert isinstance(out, npgan.Tensor) and out.dtype == np.bool_
        assert not out.requires_grad and out.creator is None
        np.testing.assert_array_equal(out.numpy(), want)


def test_tensors_stay_hashable_by_identity():
    a, b = npgan.tensor([1.0]), npgan.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1, b: 2}[b] == 2
    assert (a == None) is False and (a != None) is True  # noqa: E711 (PyTorch's answer)
    assert bool(a == b)  # elementwise, one element: its truth


def test_the_engine_never_compares_tensors_by_value():
    """Tensors of equal values are different tensors everywhere the engine keeps them:
    a backward with inputs=, optimizers, modules' parameter lists."""
    w1 = npgan.tensor([1.0], requires_grad=True)
    w2 = npgan.tensor([1.0], requires_grad=True)
    (w1 * 2 + w2 * 3).sum().backward(inputs=[w2])
    assert w1.grad is None and w2.grad.numpy()[0] == 3.0
    opt = npgan.optim.SGD([w1, w2], lr=1.0)
    w1.grad = npgan.tensor([1.0])
    opt.step()
    assert w1.numpy()[0] == 0.0 and w2.numpy()[0] == -2.0


# --- shapes: view, unsqueeze, squeeze, flatten, t ------------------------------------------

def test_shape_methods_follow_pytorch():
    x = npgan.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.view(6, 4).shape == (6, 4) and x.view((4, -1)).shape == (4, 6)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.unsqueeze(3).shape == (2, 3, 4, 1) and x.unsqueeze(-4).shape == (1, 2, 3, 4)
    y = npgan.zeros(2, 1, 3, 1)
    assert y.squeeze().shape == (2, 3) and y.squeeze(1).shape == (2, 3, 1)
    assert y.squeeze(0).shape == (2, 1, 3, 1)  # not of size 1: left as it is, as PyTorch
    assert y.squeeze((1, 3)).shape == (2, 3) and npgan.tensor(3.0).squeeze(0).shape == ()
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4) and npgan.tensor(3.0).flatten().shape == (1,)
    m = npgan.tensor([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(m.t().numpy(), [[1.0], [2.0], [3.0]])
    assert npgan.tensor([1.0, 2.0]).t().shape == (2,) and npgan.tensor(1.0).t().shape == ()
    with pytest.raises(ValueError, match=r"^t\(\) expects a tensor with <= 2 dimensions, but "
                                         r"this one has 3 \(shape \(2, 3, 4\)\)"):
        x.t()
    with pytest.raises(IndexError, match=r"^unsqueeze: dimension 4 is out of range"):
        x.unsqueeze(4)
    with pytest.raises(ValueError, match=r"^flatten: start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)


@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_shape_methods_gradients(data, shape):
    x = t64(data.draw(away_from_zero(shape)), requires_grad=True)
    w = t64(np.arange(1.0, math.prod(shape) + 1.0))
    check_gradients(lambda x: x.view(-1) * w, [x])
    check_gradients(lambda x: x.unsqueeze(1).squeeze(1) * x, [x])
    check_gradients(lambda x: x.flatten(0, -1) * w * x.flatten(), [x])
    if x.ndim <= 2:
        check_gradients(lambda x: x.t() * x.t(), [x])


# --- elementwise methods ----------------------------------------------------------------------

ELEMENTWISE = {
    "exp": (lambda x: x.exp(), np.exp, False),
    "log": (lambda x: x.log(), np.log, True),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, True),
    "abs": (lambda x: x.abs(), np.abs, False),
    "abs()": (lambda x: abs(x), np.abs, False),
    "pow": (lambda x: x.pow(3), lambda v: v ** 3, False),
    "sigmoid": (lambda x: x.sigmoid(), lambda v: 0.5 * (1 + np.tanh(v / 2)), False),
    "tanh": (lambda x: x.tanh(), np.tanh, False),
    "relu": (lambda x: x.relu(), lambda v: np.maximum(v, 0), False),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_elementwise_methods(name, data, shape):
    fn, np_fn, positive = ELEMENTWISE[name]
    v = data.draw(away_from_zero(shape))
    v = np.abs(v) if positive else v
    x = t64(v, requires_grad=True)
    np.testing.assert_allclose(fn(x).numpy(), np_fn(v), rtol=1e-14, atol=1e-15)
    check_gradients(fn, [x])


def test_abs_and_sqrt_at_zero_as_pytorch():
    x = t64([0.0, -2.0, 3.0], requires_grad=True)
    g, = npgan.grad(x.abs().sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, -1.0, 1.0])  # sign(0) = 0
    z = t64([0.0, 4.0], True)
    with np.errstate(divide="ignore"):
        g, = npgan.grad(z.sqrt().sum(), [z])
    np.testing.assert_array_equal(g.numpy(), [np.inf, 0.25])  # PyTorch: inf at 0


# --- clamp, maximum, minimum, where -----------------------------------------------------------

def test_clamp_values_and_gradient_include_the_bounds(backend_name):
    x = npgan.tensor([0.0, 1.0, 1.5, 2.0, 3.0], requires_grad=True)
    y = x.clamp(1.0, 2.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0, 1.5, 2.0, 2.0])
    g, = npgan.grad(y.sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])  # PyTorch: bounds pass
    np.testing.assert_array_equal(npgan.clamp(x, min=1.5).numpy(), [1.5, 1.5, 1.5, 2.0, 3.0])
    np.testing.assert_array_equal(x.clamp(max=0.5).numpy(), [0.0, 0.5, 0.5, 0.5, 0.5])
    assert y.dtype == np.float32
    with pytest.raises(ValueError, match=r"^clamp: at least one of min and max must be given"):
        x.clamp()


def test_clamp_with_tensor_bounds_routes_the_gradient():
    x = t64([0.0, 1.0, 2.0, 3.0], True)
    lo, hi = t64([1.0] * 4, True), t64([2.0] * 4, True)
    gx, glo, ghi = npgan.grad(x.clamp(lo, hi).sum(), [x, lo, hi])
    np.testing.assert_array_equal(gx.numpy(), [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(glo.numpy(), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ghi.numpy(), [0.0, 0.0, 0.0, 1.0])


@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_clamp_maximum_minimum_gradients(data, shape):
    v = data.draw(distinct((2,) + shape))
    a, b = t64(v[0], True), t64(v[1], True)
    lo, hi = -1.0005, 1.0005  # never equal to a drawn value (a multiple of 1e-3)
    np.testing.assert_array_equal(a.clamp(lo, hi).numpy(), np.clip(v[0], lo, hi))
    np.testing.assert_array_equal(npgan.maximum(a, b).numpy(), np.maximum(v[0], v[1]))
    np.testing.assert_array_equal(npgan.minimum(a, b[..., :1]).numpy(),
                                  np.minimum(v[0], v[1][..., :1]))
    check_gradients(lambda a: a.clamp(lo, hi) * a, [a])
    check_gradients(lambda a, b: npgan.maximum(a, b) * a, [a, b])
    check_gradients(lambda a, b: npgan.minimum(a, b[..., :1]) * b[..., :1], [a, b])


def test_maximum_minimum_share_the_gradient_at_ties():
    a, b = t64([1.0, 2.0, 3.0], True), t64([1.0, 1.0, 4.0], True)
    ga, gb = npgan.grad(npgan.maximum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gb.numpy(), [0.5, 0.0, 1.0])
    ga, gb = npgan.grad(npgan.minimum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gb.numpy(), [0.5, 1.0, 0.0])
    assert npgan.maximum(npgan.tensor([1.0]), 2.0).dtype == np.float32  # a number is pinned


def test_where_with_a_tensor_condition(backend_name):
    x = npgan.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    y = npgan.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0, 0.0])
    g, = npgan.grad((y * 3).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 3.0, 0.0])
    z = npgan.where(x > 0, 1.0, -1.0)  # numbers only: a Tensor of the default dtype
    assert isinstance(z, npgan.Tensor) and z.dtype == np.float32
    np.testing.assert_array_equal(z.numpy(), [-1.0, 1.0, -1.0])
    with pytest.raises(TypeError, match=r"^where: the condition must be a boolean tensor or "
                                        r"array, got float32; compare first"):
        npgan.where(x, x, 0.0)


@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_where_gradients(data, shape):
    v = data.draw(away_from_zero((2,) + shape))
    a, b = t64(v[0], True), t64(v[1], True)
    cond = a > b
    np.testing.assert_array_equal(npgan.where(cond, a, b).numpy(), np.where(v[0] > v[1], *v))
    check_gradients(lambda a, b: npgan.where(cond, a * b, b[..., :1]), [a, b])


# --- max, min, argmax, amax -------------------------------------------------------------------

def test_max_min_of_the_whole_tensor_share_ties():
    x = t64([1.0, 3.0, 3.0, 0.0], True)
    m = x.max()
    assert m.shape == () and m.item() == 3.0
    g, = npgan.grad(m, [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.5, 0.5, 0.0])  # PyTorch's max()
    g, = npgan.grad(x.min() * 2, [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0, 2.0])
    g, = npgan.grad(x.amax(0), [x])
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.5, 0.5, 0.0])


def test_max_along_a_dim_returns_values_and_indices():
    v = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    x = t64(v, True)
    r = x.max(1)
    assert type(r).__name__ == "max" and r._fields == ("values", "indices")
    values, indices = r
    np.testing.assert_array_equal(values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])  # the first of ties
    assert indices.dtype == np.int64 and not indices.requires_grad
    g, = npgan.grad(values.sum(), [x])  # all of it to the returned index (PyTorch's max(dim))
    np.testing.assert_array_equal(g.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    lo = x.min(dim=1, keepdim=True)
    assert type(lo).__name__ == "min" and lo.values.shape == (2, 1)
    np.testing.assert_array_equal(lo.indices.numpy(), [[0], [2]])
    assert x.max(axis=0).values.shape == (3,) and x.max(-2, True).indices.shape == (1, 3)
    c = npgan.tensor(3.0).max(0)
    assert c.values.item() == 3.0 and c.indices.item() == 0
    other = t64([[2.0, 2.0, 2.0]])
    np.testing.assert_array_equal(x.max(other).numpy(), np.maximum(v, 2.0))  # torch.max(a, b)
    with pytest.raises(TypeError, match=r"^max: dim must be an int"):
        x.max((0, 1))
    with pytest.raises(ValueError, match=r"^max: cannot reduce a tensor with no elements"):
        npgan.zeros(0, 3).max()


@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_max_min_argmax_against_numpy_with_gradients(data, shape):
    v = data.draw(distinct(shape))
    x = t64(v, True)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    keep = data.draw(st.booleans())
    for method, np_val, np_arg in (("max", np.max, np.argmax), ("min", np.min, np.argmin)):
        values, indices = getattr(x, method)(d, keep)
        np.testing.assert_array_equal(values.numpy(), np_val(v, axis=d, keepdims=keep))
        want = np_arg(v, axis=d)
        np.testing.assert_array_equal(indices.numpy(), np.expand_dims(want, d) if keep else want)
        arg = getattr(x, "arg" + method)
        np.testing.assert_array_equal(arg(dim=d).numpy(), want)
        assert arg().item() == np_arg(v) and arg().shape == ()
        assert getattr(x, method)().item() == np_val(v)
        check_gradients(lambda x: getattr(x, method)(d, keep).values * 2, [x])
        check_gradients(lambda x: getattr(x, method)() * x, [x])


# --- var, std, norm ---------------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
def test_var_std_corrections_against_numpy(data, shape):
    v = data.draw(distinct(shape, gap=1e-2))  # distinct: std > 0 in every slice
    x = t64(v, True)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    np.testing.assert_allclose(x.var().item(), np.var(v, ddof=1), rtol=1e-13)  # unbiased default
    np.testing.assert_allclose(x.std(d).numpy(), np.std(v, axis=d, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(x.var(d, False).numpy(), np.var(v, axis=d), rtol=1e-13)
    np.testing.assert_allclose(x.var(dim=d, unbiased=False, keepdim=True).numpy(),
                               np.var(v, axis=d, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(x.std(axis=d, correction=0, keepdims=True).numpy(),
                               np.std(v, axis=d, keepdims=True), rtol=1e-13)
    np.testing.assert_allclose(npgan.functions.reductions.var(x, correction=1.5).item(),
                               np.var(v, ddof=1.5), rtol=1e-13)
    check_gradients(lambda x: x.var(d), [x])
    check_gradients(lambda x: x.std(d, keepdim=True) * x, [x])


def test_var_std_errors_and_the_std_gradient_at_zero():
    x = t64([1.0], True)
    with pytest.raises(ValueError, match=r"^var: correction=1 leaves 1 - 1 <= 0 degrees of "
                                         r"freedom for 1 element\(s\) per reduction"):
        x.var()
    assert x.var(unbiased=False).item() == 0.0
    with pytest.raises(TypeError, match=r"^std: got both unbiased=True and correction=0; give one"):
        x.std(unbiased=True, correction=0)
    with pytest.raises(TypeError, match=r"^var: needs a floating tensor, got dtype int64"):
        npgan.tensor([1, 2, 3]).var()
    c = t64([2.0, 2.0, 2.0], True)
    g, = npgan.grad(c.std(), [c])
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0])  # PyTorch: 0, not 0/0


NORMS = {2: lambda v, ax, k: np.sqrt((v * v).sum(axis=ax, keepdims=k)),
         1: lambda v, ax, k: np.abs(v).sum(axis=ax, keepdims=k),
         3: lambda v, ax, k: (np.abs(v) ** 3).sum(axis=ax, keepdims=k) ** (1 / 3),
         math.inf: lambda v, ax, k: np.abs(v).max(axis=ax, keepdims=k),
         -math.inf: lambda v, ax, k: np.abs(v).min(axis=ax, keepdims=k)}


@pytest.mark.parametrize("p", list(NORMS))
@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_norm_against_numpy_with_gradients(p, data, shape):
    v = data.draw(distinct(shape, gap=1e-2)) + 1e-3  # distinct |v| too: no ties, no zero
    x = t64(v, True)
    d = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keep = data.draw(st.booleans())
    np.testing.assert_allclose(x.norm(p, d, keep).numpy(), NORMS[p](v, d, keep), rtol=1e-13)
    check_gradients(lambda x: x.norm(p, dim=d, keepdim=keep), [x])


def test_norm_gradient_at_zero_is_zero_to_second_order():
    """WGAN-GP's ||g||: at an exact zero vector the gradient is 0 (PyTorch's subgradient), and
    so is the second derivative (PyTorch gives NaN there; npgan the limit along the mask)."""
    z = t64(np.zeros((2, 3)), True)
    n = z.norm(dim=1)
    g, = npgan.grad(n.sum(), [z], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), np.zeros((2, 3)))
    gg, = npgan.grad((g * g).sum() + g.sum(), [z], allow_unused=True)
    assert gg is None or np.all(gg.numpy() == 0)
    for p in (1, 3, math.inf):
        w = t64(np.zeros(3), True)
        g, = npgan.grad(w.norm(p), [w])
        assert np.all(g.numpy() == 0)
    x = t64([[0.0, 0.0], [3.0, 4.0]], True)
    g, = npgan.grad(((x.norm(dim=1) - 1) ** 2).sum(), [x])  # the penalty on a batch with a zero row
    np.testing.assert_allclose(g.numpy(), [[0.0, 0.0], [8 * 0.6 / 1, 8 * 0.8]], rtol=1e-15)


def test_norm_errors():
    with pytest.raises(ValueError, match=r"^norm: p must be a positive number, inf, -inf or "
                                         r"'fro', got 0$"):
        t64([1.0]).norm(0)
    assert t64([3.0, 4.0]).norm("fro").item() == 5.0


# --- dim= and keepdim= wherever axis= and keepdims= are ---------------------------------------

ALIASED = ["sum", "mean", "var", "std", "amax", "amin", "norm"]


@pytest.mark.parametrize("name", ALIASED)
def test_dim_and_keepdim_spell_axis_and_keepdims(name):
    x = t64(np.arange(24.0).reshape(2, 3, 4) % 7)
    a = getattr(x, name)(axis=1, keepdims=True).numpy()
    np.testing.assert_array_equal(getattr(x, name)(dim=1, keepdim=True).numpy(), a)
    np.testing.assert_array_equal(getattr(x, name)(axis=1, keepdim=True).numpy(), a)
    assert getattr(x, name)(dim=(0, 2)).shape == (3,)
    with pytest.raises(TypeError, match=rf"^{name}: got both axis=1 and dim=1, two names of one "
                                        r"argument \(dim is PyTorch's, axis numpy's\); give one"):
        getattr(x, name)(axis=1, dim=1)
    with pytest.raises(TypeError, match=rf"^{name}: got both keepdims=True and keepdim=False"):
        getattr(x, name)(keepdims=True, keepdim=False)


def test_dim_aliases_of_max_min_softmax_and_the_functions():
    x = t64(np.arange(6.0).reshape(2, 3))
    assert x.max(dim=0).indices.tolist() == x.max(axis=0).indices.tolist() == [1, 1, 1]
    assert x.min(dim=1, keepdims=True).values.shape == (2, 1)
    for fn in (F.softmax, F.log_softmax):
        np.testing.assert_array_equal(fn(x, dim=0).numpy(), fn(x, axis=0).numpy())
        np.testing.assert_array_equal(fn(x, 0).numpy(), fn(x, axis=0).numpy())
    np.testing.assert_array_equal(x.softmax(0).numpy(), F.softmax(x, dim=0).numpy())
    np.testing.assert_array_equal(x.log_softmax().numpy(), F.log_softmax(x, -1).numpy())
    np.testing.assert_array_equal(npgan.ops.sum(x, dim=0, keepdim=True).numpy(), [[3.0, 5.0, 7.0]])
    with pytest.raises(TypeError, match=r"^softmax: got both axis=0 and dim=1"):
        F.softmax(x, 0, dim=1)


# --- creation, cat, stack ---------------------------------------------------------------------

def test_creation_functions(backend_name):
    assert npgan.zeros(2, 3).shape == npgan.ones((2, 3)).shape == npgan.empty([2, 3]).shape
    assert npgan.zeros(2).dtype == np.float32 and npgan.ones(1, dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(npgan.ones(2, 2).numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(npgan.zeros(()).numpy(), 0.0)
    f = npgan.full((2, 2), 1.5)
    assert f.dtype == np.float32 and np.all(f.numpy() == 1.5)
    assert npgan.full((2,), 3).dtype == np.int64 and npgan.full(2, True).dtype == np.bool_
    assert npgan.full((2,), 3, dtype="float64").dtype == np.float64
    w = npgan.zeros(3, requires_grad=True)
    assert w.requires_grad and w.is_leaf
    like = npgan.tensor(np.ones((2, 1), dtype=np.float64))
    z = npgan.zeros_like(like)
    assert z.shape == (2, 1) and z.dtype == np.float64 and backend.backend_name(z.data) == \
        backend.backend_name(like.data)
    assert npgan.ones_like(like, dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(npgan.ones_like(like).numpy(), [[1.0], [1.0]])
    npgan.set_default_dtype("float64")
    assert npgan.ones(1).dtype == np.float64 and npgan.full((1,), 0.5).dtype == np.float64
    with pytest.raises(ValueError, match=r"^zeros: the shape must be non-negative ints"):
        npgan.zeros(2, -1)
    with pytest.raises(TypeError, match="only floating tensors can require gradients"):
        npgan.zeros(2, dtype="int64", requires_grad=True)


@SETTINGS
@given(data=st.data(), shape=SHAPES)
def test_cat_and_stack_against_numpy_with_gradients(data, shape):
    v = data.draw(away_from_zero((3,) + shape))
    a, b, c = (t64(x, True) for x in v)
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    np.testing.assert_array_equal(npgan.cat([a, b], d).numpy(), np.concatenate(v[:2], axis=d))
    s = data.draw(st.integers(-len(shape) - 1, len(shape)))
    np.testing.assert_array_equal(npgan.stack([a, b, c], dim=s).numpy(), np.stack(v, axis=s))
    check_gradients(lambda a, b: npgan.cat([a, b * a], dim=d), [a, b])
    check_gradients(lambda a, b, c: npgan.stack([a, b, c * a], s), [a, b, c])


def test_stack_errors():
    with pytest.raises(ValueError, match=r"^stack: expects tensors of one shape, but got \(2,\) "
                                         r"at entry 0 and \(3,\) at entry 1$"):
        npgan.stack([npgan.ones(2), npgan.ones(3)])
    with pytest.raises(ValueError, match="^stack: got no tensors to stack$"):
        npgan.stack([])
    assert npgan.stack([npgan.tensor(1.0), npgan.tensor(2.0)]).shape == (2,)


# --- against PyTorch --------------------------------------------------------------------------

def test_methods_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    v = np.round(rng.standard_normal((3, 4)), 1)  # rounded: ties for max/min and clamp bounds
    v[0, :2] = 0.5

    def both(fn, tfn=None):
        x = t64(v, True)
        tx = torch.tensor(v, requires_grad=True)
        y, ty = fn(x), (tfn or fn)(tx)
        r = np.random.default_rng(1).standard_normal(y.shape)
        g, = npgan.grad((y * t64(r)).sum(), [x])
        (ty * torch.tensor(r)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(g.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)

    both(lambda x: x.max())
    both(lambda x: x.min(1).values, lambda x: x.min(1).values)
    both(lambda x: x.amax(0, keepdim=True))
    both(lambda x: x.clamp(-0.5, 0.5))
    both(lambda x: x.var(1), lambda x: x.var(1))
    both(lambda x: x.std(0, keepdim=True, correction=0),
         lambda x: x.std(0, keepdim=True, correction=0))
    both(lambda x: x.norm(dim=1), lambda x: x.norm(dim=1))
    both(lambda x: x.norm(3), lambda x: x.norm(3))
    both(lambda x: x.norm(math.inf, dim=0), lambda x: x.norm(math.inf, dim=0))
    both(lambda x: x.abs().sqrt().flatten(), lambda x: x.abs().sqrt().flatten())
    both(lambda x: x.t().unsqueeze(0).squeeze(), lambda x: x.t().unsqueeze(0).squeeze())
    both(lambda x: npgan.maximum(x, x[0]) + npgan.minimum(x, 0.5),
         lambda x: torch.maximum(x, x[0]) + torch.minimum(x, torch.tensor(0.5, dtype=x.dtype)))
    both(lambda x: npgan.where(x > 0, x * x, -x), lambda x: torch.where(x > 0, x * x, -x))
    both(lambda x: npgan.stack([x, x * 2], 1).sum(2), lambda x: torch.stack([x, x * 2], 1).sum(2))
    x = t64(v)
    for name in ("argmax", "argmin"):
        assert getattr(x, name)().item() == getattr(torch.tensor(v), name)().item()
        np.testing.assert_array_equal(getattr(x, name)(1, keepdim=True).numpy(),
                                      getattr(torch.tensor(v), name)(1, keepdim=True).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's warning for its NaN: npgan raises instead
        assert math.isnan(torch.tensor([1.0]).var().item())


def test_cat_and_stack_are_also_in_the_functional_namespace():
    import npgan.functional as F
    a, b = npgan.tensor([[1.0, 2.0]]), npgan.tensor([[3.0, 4.0]])
    assert F.cat([a, b], dim=0).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert F.stack([a, b], dim=0).shape == (2, 1, 2)
    assert F.cat is npgan.cat and F.stack is npgan.stack
