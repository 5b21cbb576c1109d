"""First- and second-order gradient checks of every primitive in npgan.ops.

Every op is checked in float64 with ``npgan.gradcheck`` (central differences,
element by element) and ``npgan.gradgradcheck`` (the same on the first
derivatives, computed with ``create_graph=True``). Shapes are drawn by
hypothesis, small (each dim 1..4, up to 3 dims) so per-element differences stay
cheap; values come from a numpy generator seeded by a hypothesis-drawn seed and
are kept away from the points where an op is not smooth. The forward value of
each op is also compared with numpy computing the same thing independently.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import npgan
from conftest import check_gradients
from npgan import ops

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
NONEMPTY_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
TWO_SHAPES = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                               min_side=1, max_side=4)
SEEDS = st.integers(0, 2**32 - 1)
DIM = st.integers(1, 4)


# --- helpers ---------------------------------------------------------------------

def t64(a, requires_grad=True):
    """A float64 tensor on the current backend."""
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def values(rng, shape, kind="any"):
    """Seeded float64 values: 'any' in [-2, 2]; 'pos' in [0.6, 2]; 'nonzero' |x| in [0.5, 2]."""
    if kind == "pos":
        return rng.uniform(0.6, 2.0, size=shape)
    if kind == "nonzero":
        return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return rng.uniform(-2.0, 2.0, size=shape)


def check(fn, inputs, **kw):
    """Both the first and the second derivatives of fn agree with finite differences, and
    the first derivative recorded under create_graph equals the plain one."""
    check_gradients(fn, inputs, **kw)


def close(tensor, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


def on_backend(index):
    """An index array on the current backend (a Tensor; getitem unwraps it), for cupy too."""
    return npgan.tensor(np.asarray(index))


# --- elementwise binary ops, with broadcasting -------------------------------------

BINARY = {
    # name: (npgan fn, numpy fn, kind of a's values, kind of b's values)
    "add": (lambda a, b: a + b, np.add, "any", "any"),
    "sub": (lambda a, b: a - b, np.subtract, "any", "any"),
    "mul": (lambda a, b: a * b, np.multiply, "any", "any"),
    "div": (lambda a, b: a / b, np.divide, "any", "nonzero"),
    "pow": (lambda a, b: a ** b, np.power, "pos", "any"),  # tensor exponent, positive base
    "ops.add": (ops.add, np.add, "any", "any"),
    "ops.sub": (ops.sub, np.subtract, "any", "any"),
    "ops.mul": (ops.mul, np.multiply, "any", "any"),
    "ops.div": (ops.div, np.divide, "any", "nonzero"),
    "ops.pow": (ops.pow, np.power, "pos", "any"),
}


@pytest.mark.parametrize("name", list(BINARY))
@SETTINGS
@given(shapes=TWO_SHAPES, seed=SEEDS)
def test_binary_op_broadcast(backend_name, name, shapes, seed):
    check_binary(name, *shapes.input_shapes, seed, shapes.result_shape)


def check_binary(name, sa, sb, seed, result_shape=None):
    """BINARY[name] on drawn operands of shapes sa and sb: numpy's values (and result shape,
    when given) forward, and both derivatives by finite differences."""
    fn, np_fn, kind_a, kind_b = BINARY[name]
    rng = np.random.default_rng(seed)
    a_np, b_np = values(rng, sa, kind_a), values(rng, sb, kind_b)
    a, b = t64(a_np), t64(b_np)
    out = fn(a, b)
    if result_shape is not None:
        assert out.shape == result_shape
    close(out, np_fn(a_np, b_np))
    check(fn, [a, b])


@st.composite
def stretched_on_both_sides(draw):
    """Two shapes where each operand has a size-1 dim the other stretches (and maybe fewer
    dims, stretched too): (2, 1, 4) with (3, 1), say, rather than one side alone."""
    full = draw(st.lists(st.integers(2, 4), min_size=2, max_size=4))
    i, j = draw(st.permutations(range(len(full))))[:2]
    a, b = list(full), list(full)
    a[i], b[j] = 1, 1
    for k in range(len(full)):
        if k not in (i, j) and draw(st.booleans()):
            (a if draw(st.booleans()) else b)[k] = 1
    drop = draw(st.integers(0, min(i, j)))  # leading dims one operand lacks
    if draw(st.booleans()):
        a = a[drop:]
    else:
        b = b[drop:]
    return tuple(a), tuple(b)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@SETTINGS
@given(shapes=stretched_on_both_sides(), seed=SEEDS)
def test_binary_op_stretched_on_both_sides(backend_name, name, shapes, seed):
    check_binary(name, *shapes, seed)


EMPTY_TWO_SHAPES = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3,
                                                     min_side=0, max_side=3)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@SETTINGS
@given(shapes=EMPTY_TWO_SHAPES, seed=SEEDS)
def test_binary_op_empty_operands(backend_name, name, shapes, seed):
    """Dims of size 0 (broadcast against 1 too): an empty result, gradients of each shape."""
    check_binary(name, *shapes.input_shapes, seed, shapes.result_shape)


UNARY_EMPTY = {
    "neg": (lambda a: -a, np.negative, "any"),
    "exp": (ops.exp, np.exp, "any"),
    "log": (ops.log, np.log, "pos"),
    "pow3": (lambda a: a ** 3, lambda a: a ** 3, "any"),
    "sum0": (lambda a: a.sum(axis=0), lambda a: a.sum(axis=0), "any"),
    "transpose": (lambda a: a.T, lambda a: a.T, "any"),
    "reshape": (lambda a: a.reshape(-1), lambda a: a.reshape(-1), "any"),
}


@pytest.mark.parametrize("name", list(UNARY_EMPTY))
@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), seed=SEEDS)
def test_unary_ops_allow_empty_arrays(backend_name, name, shape, seed):
    fn, np_fn, kind = UNARY_EMPTY[name]
    x_np = values(np.random.default_rng(seed), shape, kind)
    x = t64(x_np)
    close(fn(x), np_fn(x_np))
    check(fn, [x])


BROADCAST_CASES = [((3, 1, 4), (5, 4)), ((5, 4), (3, 1, 4)), ((), (3, 4)), ((3, 4), ()),
                   ((4,), (3, 1)), ((2, 1), (1, 3))]


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("sa,sb", BROADCAST_CASES)
def test_binary_op_fixed_broadcast_cases(backend_name, name, sa, sb):
    fn, np_fn, kind_a, kind_b = BINARY[name]
    rng = np.random.default_rng(1)
    a_np, b_np = values(rng, sa, kind_a), values(rng, sb, kind_b)
    a, b = t64(a_np), t64(b_np)
    close(fn(a, b), np_fn(a_np, b_np))
    check(fn, [a, b])


def test_broadcast_gradient_closed_form(backend_name):
    """d/da sum(a * b) sums b over the broadcast axis, d/db sums a: both have their operand's shape."""
    rng = np.random.default_rng(2)
    a_np, b_np = values(rng, (3, 1, 4)), values(rng, (5, 4))
    a, b = t64(a_np), t64(b_np)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1, 4) and b.grad.shape == (5, 4)
    close(a.grad, np.broadcast_to(b_np.sum(axis=0), (3, 1, 4)))
    close(b.grad, np.broadcast_to(a_np.sum(axis=(0, 1)), (5, 4)))


def test_scalar_with_matrix_gradient_closed_form(backend_name):
    rng = np.random.default_rng(3)
    m_np = values(rng, (3, 4))
    s, m = t64(1.5), t64(m_np)
    (s * m).sum().backward()
    assert s.grad.shape == () and s.grad.dtype == np.float64
    close(s.grad, m_np.sum())
    close(m.grad, np.full((3, 4), 1.5))


# --- unary: neg, pow with a number exponent, exp, log --------------------------------

@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_neg(backend_name, shape, seed):
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(-x, -x_np)
    close(ops.neg(x), -x_np)
    check(lambda a: -a, [x])


@pytest.mark.parametrize("exponent", [2, 3.0, 0.5, -1.5, 1])
@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_pow_number_exponent(backend_name, exponent, shape, seed):
    x_np = values(np.random.default_rng(seed), shape, "pos")
    x = t64(x_np)
    close(x ** exponent, x_np ** exponent)
    check(lambda a: a ** exponent, [x])


@pytest.mark.parametrize("exponent", [2, 3])
def test_pow_integer_exponent_negative_base(backend_name, exponent):
    """With a constant exponent the rule never takes log(a): negative bases are fine."""
    x_np = values(np.random.default_rng(4), (3, 4), "nonzero")
    x = t64(x_np)
    close(x ** exponent, x_np ** exponent)
    check(lambda a: a ** exponent, [x])
    (x ** exponent).sum().backward()
    close(x.grad, exponent * x_np ** (exponent - 1))


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_reflected_pow_number_base(backend_name, shape, seed):
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(2.0 ** x, 2.0 ** x_np)
    check(lambda a: 2.0 ** a, [x])


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_exp(backend_name, shape, seed):
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(ops.exp(x), np.exp(x_np))
    check(ops.exp, [x])


@SETTINGS
@given(shape=SHAPES, seed=SEEDS)
def test_log(backend_name, shape, seed):
    x_np = values(np.random.default_rng(seed), shape, "pos")
    x = t64(x_np)
    close(ops.log(x), np.log(x_np))
    check(ops.log, [x])


def test_exp_log_gradient_closed_form(backend_name):
    x_np = np.array([0.6, 1.0, 2.5])
    x = t64(x_np)
    (ops.exp(x) + ops.log(x)).sum().backward()
    close(x.grad, np.exp(x_np) + 1 / x_np)


# --- matmul -----------------------------------------------------------------------

def _matmul_check(a_shape, b_shape, seed):
    rng = np.random.default_rng(seed)
    a_np, b_np = values(rng, a_shape), values(rng, b_shape)
    a, b = t64(a_np), t64(b_np)
    out = a @ b
    expected = np.matmul(a_np, b_np)
    assert out.shape == expected.shape
    close(out, expected)
    close(ops.matmul(a, b), expected)
    check(lambda x, y: x @ y, [a, b])


@SETTINGS
@given(m=DIM, k=DIM, n=DIM, seed=SEEDS)
def test_matmul_2d(backend_name, m, k, n, seed):
    _matmul_check((m, k), (k, n), seed)


@SETTINGS
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=1,
                                                min_side=1, max_side=3),
       m=DIM, k=DIM, n=DIM, seed=SEEDS)
def test_matmul_batched_broadcast(backend_name, batch, m, k, n, seed):
    ba, bb = batch.input_shapes
    _matmul_check(ba + (m, k), bb + (k, n), seed)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((2, 1, 3, 4), (5, 4, 2)),   # 4-D with 3-D, batch dims broadcast both ways
    ((3, 2, 4), (1, 4, 3)),
    ((2, 3), (4, 3, 2)),         # 2-D against a batch
])
def test_matmul_batched_fixed(backend_name, a_shape, b_shape):
    _matmul_check(a_shape, b_shape, 5)


@pytest.mark.parametrize("a_shape,b_shape", [
    ((3,), (3, 4)),      # vector @ matrix
    ((4, 3), (3,)),      # matrix @ vector
    ((3,), (2, 3, 4)),   # vector @ batch
    ((2, 4, 3), (3,)),   # batch @ vector
    ((3,), (3,)),        # inner product: a scalar
    ((1,), (1,)),
])
def test_matmul_1d_operands(backend_name, a_shape, b_shape):
    _matmul_check(a_shape, b_shape, 6)


# --- linear -----------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@SETTINGS
@given(lead=st.sampled_from([(), (2,), (3,)]), n=DIM, fin=DIM, fout=DIM, seed=SEEDS)
def test_linear(backend_name, bias, lead, n, fin, fout, seed):
    rng = np.random.default_rng(seed)
    x_np = values(rng, lead + (n, fin))
    w_np, b_np = values(rng, (fout, fin)), values(rng, (fout,))
    x, w, b = t64(x_np), t64(w_np), t64(b_np)
    expected = x_np @ w_np.T + (b_np if bias else 0.0)
    inputs = [x, w, b] if bias else [x, w]
    out = ops.linear(*inputs)
    assert out.shape == lead + (n, fout)
    close(out, expected)
    check(ops.linear, inputs)


def test_linear_gradient_closed_form(backend_name):
    rng = np.random.default_rng(7)
    x_np, w_np, b_np = values(rng, (5, 3)), values(rng, (4, 3)), values(rng, (4,))
    gy_np = values(rng, (5, 4))
    x, w, b = t64(x_np), t64(w_np), t64(b_np)
    ops.linear(x, w, b).backward(gy_np)
    close(x.grad, gy_np @ w_np)
    close(w.grad, gy_np.T @ x_np)
    close(b.grad, gy_np.sum(axis=0))


@pytest.mark.parametrize("bias", [True, False])
def test_linear_large_direction_mode(backend_name, bias):
    """A layer too big for per-element differences: one random direction per input."""
    rng = np.random.default_rng(8)
    x = t64(values(rng, (2, 16, 32)))
    w = t64(values(rng, (24, 32)) / 8)
    b = t64(values(rng, (24,)))
    inputs = [x, w, b] if bias else [x, w]
    check(ops.linear, inputs, mode="direction")


def test_mlp_direction_mode(backend_name):
    """linear -> tanh -> linear -> softplus, second order included (the WGAN-GP path)."""
    from npgan.functions.activations import softplus, tanh
    rng = np.random.default_rng(9)
    x = t64(values(rng, (8, 12)))
    w1, b1 = t64(values(rng, (16, 12)) / 4), t64(values(rng, (16,)))
    w2, b2 = t64(values(rng, (3, 16)) / 4), t64(values(rng, (3,)))

    def mlp(x, w1, b1, w2, b2):
        return softplus(ops.linear(tanh(ops.linear(x, w1, b1)), w2, b2))

    for seed in (0, 1):
        check(mlp, [x, w1, b1, w2, b2], mode="direction", seed=seed)


# --- reductions ---------------------------------------------------------------------

@st.composite
def shape_axis_keepdims(draw):
    shape = draw(SHAPES)
    nd = len(shape)
    options = [st.none(), hnp.valid_tuple_axes(nd, min_size=0)]
    if nd:
        options.append(st.integers(-nd, nd - 1))
    return shape, draw(st.one_of(*options)), draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@SETTINGS
@given(case=shape_axis_keepdims(), seed=SEEDS)
def test_sum_mean(backend_name, name, case, seed):
    shape, axis, keepdims = case
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    expected = getattr(np, name)(x_np, axis=axis, keepdims=keepdims)
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    close(out, expected)
    close(getattr(ops, name)(x, axis, keepdims), expected)
    check(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (1, False),
                                           (-1, True), ((0, 2), False), ((0, 2), True)])
def test_sum_mean_fixed_axes(backend_name, axis, keepdims):
    x_np = values(np.random.default_rng(10), (2, 3, 4))
    x = t64(x_np)
    for name in ("sum", "mean"):
        close(getattr(x, name)(axis=axis, keepdims=keepdims),
              getattr(np, name)(x_np, axis=axis, keepdims=keepdims))
        check(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), [x])


def test_mean_gradient_closed_form(backend_name):
    x = t64(np.ones((2, 3, 4)))
    x.mean(axis=(0, 2)).sum().backward()
    close(x.grad, np.full((2, 3, 4), 1 / 8))


# --- shapes: reshape, transpose, .T ------------------------------------------------------

@st.composite
def shape_and_new_shape(draw):
    shape = draw(SHAPES)
    size = int(np.prod(shape))
    # every new shape of the same size: the factors of size in some order, some -1
    factors = []
    n = size
    for p in (2, 3):
        while n % p == 0:
            factors.append(p)
            n //= p
    factors = draw(st.permutations(factors))
    cut = draw(st.lists(st.integers(0, len(factors)), max_size=3)) if factors else []
    dims, start = [], 0
    for c in sorted(set(cut)) + [len(factors)]:
        dims.append(int(np.prod(factors[start:c])))
        start = c
    dims += [1] * draw(st.integers(0, 1))
    dims = draw(st.permutations(dims))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return shape, tuple(dims)


@SETTINGS
@given(case=shape_and_new_shape(), seed=SEEDS)
def test_reshape(backend_name, case, seed):
    shape, new_shape = case
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(x.reshape(new_shape), x_np.reshape(new_shape))
    close(x.reshape(*new_shape), x_np.reshape(new_shape))
    check(lambda a: ops.reshape(a, new_shape), [x])


@SETTINGS
@given(data=st.data(), shape=SHAPES, seed=SEEDS)
def test_transpose(backend_name, data, shape, seed):
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(ops.transpose(x), x_np.transpose())
    close(x.T, x_np.T)
    check(lambda a: ops.transpose(a), [x])
    check(lambda a: a.T, [x])
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    if axes and data.draw(st.booleans()):
        axes = tuple(a - len(shape) for a in axes)  # negative axes mean the same
    close(x.permute(axes), x_np.transpose(axes))  # permute is numpy's transpose(axes)
    close(x.permute(*axes), x_np.transpose(axes))
    check(lambda a: ops.transpose(a, axes), [x])
    if shape:  # PyTorch's transpose(dim0, dim1): two dimensions swapped
        d0, d1 = (data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(2))
        close(x.transpose(d0, d1), np.swapaxes(x_np, d0, d1))
        check(lambda a: a.transpose(d0, d1), [x])


def test_transpose_gradient_is_inverse_permutation(backend_name):
    x_np = values(np.random.default_rng(11), (2, 3, 4))
    gy_np = values(np.random.default_rng(12), (3, 4, 2))
    x = t64(x_np)
    x.permute(1, 2, 0).backward(gy_np)
    close(x.grad, gy_np.transpose(2, 0, 1))


@SETTINGS
@given(data=st.data(), shape=NONEMPTY_SHAPES, seed=SEEDS)
def test_concatenate(backend_name, data, shape, seed):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(DIM, min_size=1, max_size=3))
    parts_np = []
    for k in sizes:
        part = list(shape)
        part[axis] = k
        parts_np.append(values(rng, tuple(part)))
    parts = [t64(a) for a in parts_np]
    close(ops.concatenate(parts, axis=axis), np.concatenate(parts_np, axis=axis))
    check(lambda *ts: ops.concatenate(ts, axis=axis), parts)


def test_concatenate_gradient_is_each_inputs_slice(backend_name):
    a, b = t64(np.ones((2, 3))), t64(np.ones((1, 3)), requires_grad=False)
    gy_np = np.arange(9.0).reshape(3, 3)
    ops.concatenate([a, b]).backward(gy_np)
    close(a.grad, gy_np[:2])
    assert b.grad is None


def test_concatenate_errors_say_what_does_not_fit(backend_name):
    with pytest.raises(ValueError, match="no tensors"):
        ops.concatenate([])
    with pytest.raises(ValueError, match=r"tensor 1 has shape \(2, 4\).*\(2, 3\) outside axis 0"):
        ops.concatenate([t64(np.ones((2, 3))), t64(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="zero-dimensional"):
        ops.concatenate([t64(1.0), t64(2.0)])
    with pytest.raises(ValueError, match="out of range"):
        ops.concatenate([t64(np.ones(2))], axis=1)


# --- indexing -----------------------------------------------------------------------

@SETTINGS
@given(data=st.data(), shape=SHAPES, seed=SEEDS)
def test_getitem_basic(backend_name, data, shape, seed):
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    close(x[index], x_np[index])
    check(lambda a: a[index], [x])


@SETTINGS
@given(data=st.data(), shape=NONEMPTY_SHAPES, seed=SEEDS)
def test_getitem_integer_array_repeats(backend_name, data, shape, seed):
    n0 = shape[0]
    idx = data.draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6))
    idx = np.array(idx + idx[:1])  # at least one index repeated
    x_np = values(np.random.default_rng(seed), shape)
    x = t64(x_np)
    i0 = on_backend(idx)
    close(x[i0], x_np[idx])
    check(lambda a: a[i0], [x])
    if len(shape) >= 2:
        n1 = shape[1]
        idx1 = np.array(data.draw(st.lists(st.integers(0, n1 - 1), min_size=1, max_size=4)) * 2)
        i1 = on_backend(idx1)
        close(x[:, i1], x_np[:, idx1])
        check(lambda a: a[:, i1], [x])
        col = idx % n1  # pairs (idx[k], col[k]): repeated elements again
        i2 = (i0, on_backend(col))
        close(x[i2], x_np[idx, col])
        check(lambda a: a[i2], [x])


def test_getitem_repeated_indices_gradient_counts(backend_name):
    """Repeated indices add up in the gradient (counted here with np.bincount)."""
    idx = np.array([0, 0, 2, 0, -1, 3])
    x = t64(np.arange(4.0))
    x[on_backend(idx)].sum().backward()
    close(x.grad, np.bincount(idx % 4, minlength=4).astype(np.float64))
    y = t64(np.arange(12.0).reshape(3, 4))
    (y[on_backend([1, 1]), on_backend([2, 2])] * 3.0).sum().backward()
    expected = np.zeros((3, 4))
    expected[1, 2] = 6.0
    close(y.grad, expected)


@SETTINGS
@given(shape=NONEMPTY_SHAPES, seed=SEEDS)
def test_getitem_boolean_mask(backend_name, shape, seed):
    rng = np.random.default_rng(seed)
    x_np = values(rng, shape)
    mask = rng.random(shape) > 0.5
    mask.flat[0] = True
    x = t64(x_np)
    m = on_backend(mask)
    assert m.dtype == np.bool_
    close(x[m], x_np[mask])
    check(lambda a: a[m], [x])
    row_mask = rng.random(shape[0]) > 0.5  # a mask over the first axis only
    row_mask[-1] = True
    rm = on_backend(row_mask)
    close(x[rm], x_np[row_mask])
    check(lambda a: a[rm], [x])


def test_getitem_boolean_mask_gradient(backend_name):
    x_np = np.array([[-1.0, 2.0, -3.0], [4.0, -5.0, 6.0]])
    x = t64(x_np)
    x[on_backend(x_np > 0)].sum().backward()
    close(x.grad, (x_np > 0).astype(np.float64))


# --- astype -----------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", [("float32", "float64"), ("float64", "float32")])
def test_astype_casts_gradient_back(backend_name, src, dst):
    x_np = np.array([[0.5, -1.25], [2.0, 3.0]], dtype=src)
    c_np = np.array([[1.5, 2.0], [-0.5, 4.0]], dtype=dst)
    x = npgan.tensor(x_np, requires_grad=True)
    assert x.dtype == np.dtype(src)
    y = x.astype(dst)
    assert y.dtype == np.dtype(dst)
    close(y, x_np.astype(dst))
    (y * npgan.tensor(c_np)).sum().backward()
    assert x.grad.dtype == np.dtype(src)
    close(x.grad, c_np.astype(src))


def test_astype_float32_in_float64_out_second_order(backend_name):
    x = npgan.tensor(np.array([0.5, -1.5, 2.0], dtype=np.float32), requires_grad=True)
    y = x.astype("float64")
    g, = npgan.grad((y * y * y).sum(), [x], create_graph=True)  # 3 x^2
    assert g.dtype == np.float32
    close(g, 3 * np.array([0.5, -1.5, 2.0]) ** 2, rtol=1e-6)
    gg, = npgan.grad(g.sum(), [x])  # 6 x
    assert gg.dtype == np.float32
    close(gg, 6 * np.array([0.5, -1.5, 2.0]), rtol=1e-6)


# --- third order: the Functions that only run inside other ops' backward passes ---------
# BroadcastTo (Sum's backward), SumTo (undoing broadcasting), GetItemGrad (indexing's
# backward) and Where (elu's backward) are linear in the incoming gradient, so a rule of
# theirs that detached it would only show up one order higher: check gradgradcheck of a
# first derivative.

def _first_derivative(f):
    def g(*xs):
        grads = npgan.grad(f(*xs), list(xs), create_graph=True)
        total = grads[0] * grads[0]
        out = total.sum()
        for h in grads[1:]:
            out = out + (h * h).sum()
        return out
    return g


THIRD_ORDER = {
    "sum": (lambda x: (x.sum(axis=0) ** 3).sum(), [(3, 2)]),
    "mean_keepdims": (lambda x: (x.mean(axis=1, keepdims=True) ** 3).sum(), [(2, 3)]),
    "broadcast_mul": (lambda a, b: ((a * b) ** 3).sum(), [(3, 1), (4,)]),
    "broadcast_add": (lambda a, b: ((a + b) ** 3).sum(), [(2, 1, 3), (3,)]),
    "getitem_repeats": (lambda x: (x[on_backend([0, 2, 0, 1, 0])] ** 3).sum(), [(3, 2)]),
    "getitem_basic": (lambda x: (x[1:, ::-1] ** 3).sum(), [(3, 2)]),
    "matmul": (lambda a, b: ((a @ b) ** 3).sum(), [(2, 3), (3, 2)]),
}


@pytest.mark.parametrize("name", list(THIRD_ORDER))
def test_third_order(backend_name, name):
    f, shapes = THIRD_ORDER[name]
    rng = np.random.default_rng(13)
    inputs = [t64(values(rng, s, "nonzero")) for s in shapes]
    check(_first_derivative(f), inputs)


def test_third_order_where(backend_name):
    from npgan.functions.activations import elu
    x = t64(np.array([[-1.5, 0.4], [-0.3, 1.2]]))
    check(_first_derivative(lambda a: (elu(a, 0.7) ** 3).sum()), [x])
