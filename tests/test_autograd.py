"""Engine semantics: accumulation, freeing, the walk, npgan.grad, higher order, errors, the Tensor API."""
import math

import numpy as np
import pytest

import npgan
from npgan import activations as A
from npgan import ops
from npgan.autograd import Function


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def close(tensor, expected, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=rtol, atol=atol)


# --- accumulation and graph freeing ------------------------------------------------------

def test_grad_accumulates_until_cleared(backend_name):
    x_np = np.array([1.0, -2.0, 3.0])
    x = t64(x_np)
    (x * x).sum().backward()
    close(x.grad, 2 * x_np)
    (x * x).sum().backward()                 # a new graph: adds to .grad
    close(x.grad, 4 * x_np)
    (3.0 * x).sum().backward()
    close(x.grad, 4 * x_np + 3)
    x.grad = None
    (x * x).sum().backward()
    close(x.grad, 2 * x_np)


def test_summed_gradients_of_a_large_tensor_are_not_overwritten_later(backend_name):
    # Gradients from several uses are summed into reused arrays (large enough here for the
    # engine's array cache); a .grad kept from one backward must survive the next ones.
    x_np = np.linspace(-1.0, 1.0, 128 * 128).reshape(128, 128)
    x = t64(x_np)
    (x * 2.0 + x * 3.0 + x * x).sum().backward()
    first = x.grad
    close(first, 5 + 2 * x_np)
    for _ in range(3):
        x.grad = None
        (x * 7.0 + x).sum().backward()
        close(x.grad, np.full_like(x_np, 8.0))
        assert x.grad.data is not first.data
    close(first, 5 + 2 * x_np)


def test_module_zero_grad_clears_accumulated_grads(backend_name):
    npgan.set_default_dtype("float64")
    layer = npgan.nn.Linear(3, 2)
    x = t64(np.ones((4, 3)), requires_grad=False)
    layer(x).sum().backward()
    first = layer.bias.grad.numpy().copy()
    np.testing.assert_allclose(first, [4.0, 4.0])        # d sum(x W^T + b) / db = N
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.bias.grad.numpy(), 2 * first)
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.bias.grad.numpy(), first)


def test_second_backward_through_freed_graph_raises(backend_name):
    x = t64([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(npgan.FreedGraphError, match="retain_graph"):
        loss.backward()
    assert issubclass(npgan.FreedGraphError, RuntimeError)


def test_retain_graph_allows_second_backward(backend_name):
    x_np = np.array([1.0, 2.0])
    x = t64(x_np)
    loss = (x * x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    close(x.grad, 2 * 3 * x_np ** 2)
    loss.backward()                          # the last one may free
    close(x.grad, 3 * 3 * x_np ** 2)
    with pytest.raises(npgan.FreedGraphError):
        loss.backward()


def test_grad_frees_graph_unless_retained(backend_name):
    x = t64([1.0, 2.0])
    y = (x * x).sum()
    npgan.grad(y, [x], retain_graph=True)
    g, = npgan.grad(y, [x])
    close(g, [2.0, 4.0])
    with pytest.raises(npgan.FreedGraphError):
        npgan.grad(y, [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_long_chain_backpropagates_iteratively(backend_name, dtype):
    """10,000 ops deep: no recursion limit; the gradient of x * c^n is c^n."""
    n, c = 10_000, 1.0001
    x = npgan.tensor(np.array(2.0, dtype=dtype), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert x.grad.dtype == np.dtype(dtype)
    rtol = 1e-10 if dtype == "float64" else 1e-3
    assert math.isclose(x.grad.item(), c ** n, rel_tol=rtol)
    assert math.isclose(y.item(), 2.0 * c ** n, rel_tol=rtol)


def test_long_additive_chain(backend_name):
    x = t64(np.array([0.5, -1.0]))
    y = x
    for _ in range(10_000):
        y = y + x          # y = 10001 x, x used 10,001 times
    (y * y).sum().backward()
    close(x.grad, 2 * 10001 ** 2 * np.array([0.5, -1.0]), rtol=1e-12)


def test_scalar_leaf_gradient_keeps_float64(backend_name):
    """0-d arithmetic gives numpy scalars; the gradient must stay float64 (default dtype is float32)."""
    x = t64(np.float64(1.0) / 3)
    (x * x).backward()
    assert x.grad.dtype == np.float64
    assert x.grad.item() == 2 * (1 / 3)
    (x * x).backward()
    assert x.grad.dtype == np.float64
    g, = npgan.grad(x * x * x, [x])
    assert g.dtype == np.float64
    assert math.isclose(g.item(), 3 * (1 / 3) ** 2, rel_tol=1e-15)


# --- backward arguments ------------------------------------------------------------------

def test_backward_on_non_scalar_without_grad_names_shape(backend_name):
    x = t64(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        (x * 2.0).backward()


def test_backward_with_explicit_grad(backend_name):
    x_np = np.array([[1.0, 2.0], [3.0, -4.0]])
    g_np = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = t64(x_np)
    (x * x).backward(g_np)
    close(x.grad, 2 * x_np * g_np)
    x.grad = None
    (x * x).backward(npgan.tensor(g_np))
    close(x.grad, 2 * x_np * g_np)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 2\)"):
        (x * x).backward(np.ones(3))


def test_backward_of_tensor_without_graph_raises(backend_name):
    x = t64([1.0], requires_grad=False)
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2.0).backward()


def test_diamond_graph_sums_both_paths(backend_name):
    x_np = np.array([0.5, -1.5, 2.0])
    x = t64(x_np)
    z = x * 3.0
    y = z * z + z           # z feeds two paths
    y.sum().backward()
    close(x.grad, (2 * 3 * x_np + 1) * 3)


def test_tensor_used_twice_in_one_op(backend_name):
    x_np = np.array([0.5, -1.5])
    x = t64(x_np)
    (x * x).sum().backward()
    close(x.grad, 2 * x_np)
    x.grad = None
    (x / x).sum().backward()
    close(x.grad, [0.0, 0.0])


def test_backward_inputs_only_fills_those(backend_name):
    a_np, b_np = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    a, b = t64(a_np), t64(b_np)
    c = t64([0.5, 0.5])
    (a * b + c).sum().backward(inputs=[a])
    close(a.grad, b_np)
    assert b.grad is None and c.grad is None
    (a * b + c).sum().backward(inputs=[b, c])
    close(a.grad, b_np)                       # untouched by the second call
    close(b.grad, a_np)
    close(c.grad, [1.0, 1.0])


def test_intermediate_tensors_get_no_grad(backend_name):
    x = t64([1.0, 2.0])
    h = x * 2.0
    (h * h).sum().backward()
    assert h.grad is None
    close(x.grad, [8.0, 16.0])


def test_broadcast_operand_gradients_have_operand_shape(backend_name):
    shapes = [((3, 1, 4), (5, 4)), ((), (2, 3)), ((2, 3), (3,)), ((1, 1), (2, 1, 3))]
    for sa, sb in shapes:
        for op in (ops.add, ops.sub, ops.mul, ops.div):
            a, b = t64(np.full(sa, 1.5)), t64(np.full(sb, 0.5))
            op(a, b).sum().backward()
            assert a.grad.shape == sa and b.grad.shape == sb, (op, sa, sb)
    a, b = t64(np.ones((3, 1, 4))), t64(np.ones((5, 4)))
    (a - b).sum().backward()
    close(a.grad, np.full((3, 1, 4), 5.0))
    close(b.grad, np.full((5, 4), -3.0))


# --- npgan.grad -----------------------------------------------------------------------

def test_grad_returns_tuple_and_leaves_dot_grad_alone(backend_name):
    x_np, y_np = np.array([1.0, 2.0]), np.array([-3.0, 0.5])
    x, y = t64(x_np), t64(y_np)
    result = npgan.grad((x * y).sum(), [x, y])
    assert isinstance(result, tuple) and len(result) == 2
    close(result[0], y_np)
    close(result[1], x_np)
    assert x.grad is None and y.grad is None
    single = npgan.grad((x * y).sum(), x)
    assert isinstance(single, tuple) and len(single) == 1
    close(single[0], y_np)


def test_grad_with_respect_to_non_leaf(backend_name):
    x_np = np.array([1.0, -2.0])
    x = t64(x_np)
    h = x * 3.0
    out = (h * h).sum()
    gh, gx = npgan.grad(out, [h, x])
    close(gh, 2 * 3 * x_np)
    close(gx, 2 * 9 * x_np)
    assert h.grad is None and x.grad is None


def test_grad_unused_input(backend_name):
    x, unused = t64([1.0, 2.0]), t64([5.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        npgan.grad((x * x).sum(), [x, unused], retain_graph=True)
    gx, gu = npgan.grad((x * x).sum(), [x, unused], allow_unused=True)
    close(gx, [2.0, 4.0])
    assert gu is None


def test_grad_input_must_require_grad(backend_name):
    x, c = t64([1.0]), t64([2.0], requires_grad=False)
    with pytest.raises(RuntimeError, match="input 1"):
        npgan.grad((x * c).sum(), [x, c])


def test_grad_with_grad_outputs(backend_name):
    x_np, v_np = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    x = t64(x_np)
    g, = npgan.grad(x * x, [x], grad_outputs=[npgan.tensor(v_np)])
    close(g, 2 * x_np * v_np)


def test_create_graph_second_derivative_of_cube(backend_name):
    x_np = np.array([-1.5, 0.5, 2.0])
    x = t64(x_np)
    g, = npgan.grad((x ** 3).sum(), [x], create_graph=True)
    close(g, 3 * x_np ** 2)
    assert g.requires_grad
    gg, = npgan.grad(g.sum(), [x])
    close(gg, 6 * x_np)
    # the same through backward(create_graph=True): .grad is differentiable
    y = t64(x_np)
    (y ** 3).sum().backward(create_graph=True)
    ggy, = npgan.grad(y.grad.sum(), [y])
    close(ggy, 6 * x_np)


def test_grad_accumulates_over_several_create_graph_backward_calls(backend_name):
    """.grad adds up over backward(create_graph=True) calls, mixed with plain ones, and the
    sum stays differentiable: d/dx of .grad is the sum of each call's second derivative."""
    x_np = np.array([-1.5, 0.5, 2.0])
    x = t64(x_np)
    (x ** 3).sum().backward(create_graph=True)           # 3 x^2
    (x ** 2).sum().backward(create_graph=True)           # + 2 x
    close(x.grad, 3 * x_np ** 2 + 2 * x_np)
    (x * 5.0).sum().backward()                           # + 5, a plain call in between
    (x ** 4).sum().backward(create_graph=True)           # + 4 x^3
    close(x.grad, 3 * x_np ** 2 + 2 * x_np + 5 + 4 * x_np ** 3)
    assert x.grad.requires_grad
    gg, = npgan.grad(x.grad.sum(), [x])                  # 6 x + 2 + 0 + 12 x^2
    close(gg, 6 * x_np + 2 + 12 * x_np ** 2)
    # plain first, then create_graph: the plain gradient is kept, not overwritten
    y = t64(x_np)
    (y * 7.0).sum().backward()
    (y ** 3).sum().backward(create_graph=True)
    close(y.grad, 7 + 3 * x_np ** 2)
    gg, = npgan.grad(y.grad.sum(), [y])
    close(gg, 6 * x_np)


def test_third_derivative(backend_name):
    x_np = np.array([0.7, 1.3])
    x = t64(x_np)
    g1, = npgan.grad((x ** 4).sum(), [x], create_graph=True)
    g2, = npgan.grad(g1.sum(), [x], create_graph=True)
    g3, = npgan.grad(g2.sum(), [x])
    close(g3, 24 * x_np, rtol=1e-12)


def test_wgan_gp_penalty_matches_finite_differences(backend_name):
    """Gradient penalty: d/dW of ((||dD/dx_hat||_2 - 1)^2).mean() against central differences."""
    npgan.set_default_dtype("float64")
    npgan.manual_seed(3)
    rng = np.random.default_rng(3)
    fc1, fc2 = npgan.nn.Linear(3, 5), npgan.nn.Linear(5, 1)
    x_hat_np = rng.normal(size=(4, 3))

    def penalty():
        x_hat = t64(x_hat_np)
        d = fc2(A.tanh(fc1(x_hat)))
        g, = npgan.grad(d.sum(), [x_hat], create_graph=True)
        norm = (g * g).sum(axis=1) ** 0.5
        return ((norm - 1) ** 2).mean()

    fc1.zero_grad()
    fc2.zero_grad()
    p = penalty()
    p.backward()
    assert p.item() > 0
    eps = 1e-6
    for param in (fc1.weight, fc1.bias, fc2.weight):
        analytic = param.grad.numpy()
        numeric = np.zeros(param.shape)
        for k in range(param.numel()):
            idx = np.unravel_index(k, param.shape)
            orig = float(param.data[idx])
            param.data[idx] = orig + eps
            plus = penalty().item()
            param.data[idx] = orig - eps
            minus = penalty().item()
            param.data[idx] = orig
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    # fc2.bias does not change dD/dx: its penalty gradient is zero (or absent)
    assert fc2.bias.grad is None or np.allclose(fc2.bias.grad.numpy(), 0.0)


def test_wgan_gp_penalty_gradcheck(backend_name):
    """The same penalty as a function of (x_hat, W1, W2), with gradcheck and gradgradcheck."""
    rng = np.random.default_rng(4)
    x_hat = t64(rng.normal(size=(3, 2)))
    w1, w2 = t64(rng.normal(size=(4, 2))), t64(rng.normal(size=(1, 4)))

    def penalty(x_hat, w1, w2):
        d = ops.linear(A.softplus(ops.linear(x_hat, w1)), w2)
        g, = npgan.grad(d.sum(), [x_hat], create_graph=True)
        return (((g * g).sum(axis=1) ** 0.5 - 1) ** 2).mean()

    assert npgan.gradcheck(penalty, [x_hat, w1, w2])
    assert npgan.gradgradcheck(penalty, [x_hat, w1, w2], mode="direction")


# --- no_grad -----------------------------------------------------------------------

def test_no_grad_records_nothing(backend_name):
    x = t64([1.0, 2.0])
    with npgan.no_grad():
        assert not npgan.is_grad_enabled()
        y = x * 2.0 + 1.0
        with npgan.enable_grad():
            z = x * 2.0
    assert npgan.is_grad_enabled()
    assert y.requires_grad is False and y.creator is None and y.is_leaf
    close(y, [3.0, 5.0])
    assert z.requires_grad and z.creator is not None
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_restores_state_after_exception(backend_name):
    with pytest.raises(KeyError):
        with npgan.no_grad():
            raise KeyError("boom")
    assert npgan.is_grad_enabled()


def test_detach_cuts_the_graph(backend_name):
    x = t64([1.0, 2.0])
    d = (x * 3.0).detach()
    assert d.requires_grad is False and d.creator is None
    y = (x * d).sum()
    y.backward()
    close(x.grad, [3.0, 6.0])        # d is a constant: no second path


# --- errors -----------------------------------------------------------------------------

class WrongShapeGrad(Function):
    """y = 2x with a backward that (wrongly) returns a reduced gradient."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy, x, y):
        return (2 * gy).sum(axis=0)


def test_wrongly_shaped_function_gradient_names_the_op(backend_name):
    x = t64(np.ones((2, 3)))
    y = WrongShapeGrad()(x)
    with pytest.raises(RuntimeError, match=r"WrongShapeGrad.*\(3,\).*\(2, 3\)"):
        y.sum().backward()


def test_matmul_shape_mismatch_names_both_shapes(backend_name):
    a, b = t64(np.ones((2, 3))), t64(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        ops.matmul(t64(np.ones(3)), t64(np.ones(2)))


def test_linear_layer_wrong_width_names_in_features_and_shape(backend_name):
    layer = npgan.nn.Linear(3, 4)
    with pytest.raises(ValueError, match=r"in_features=3.*\(2, 5\)"):
        layer(npgan.tensor(np.ones((2, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"\(2, 5\).*in_features=3"):
        ops.linear(t64(np.ones((2, 5))), t64(np.ones((4, 3))))


def test_reshape_impossible_names_both_shapes(backend_name):
    x = t64(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        x.reshape(4, 2)


def test_unsupported_operand_type_raises_type_error(backend_name):
    x = t64([1.0, 2.0])
    for bad in ("a", [1.0, 2.0], None, {"a": 1}):
        with pytest.raises(TypeError):
            x + bad
        with pytest.raises(TypeError):
            bad * x
    with pytest.raises(TypeError, match="str"):
        x * "a"


def test_integer_tensor_requires_grad_refused(backend_name):
    with pytest.raises(TypeError, match="floating"):
        npgan.tensor(np.array([1, 2]), requires_grad=True)


# --- npgan.tensor dtype rules -----------------------------------------------------------

def test_python_floats_get_default_dtype(backend_name):
    assert npgan.tensor(1.5).dtype == np.float32
    assert npgan.tensor([1.0, 2.5]).dtype == np.float32
    npgan.set_default_dtype("float64")
    assert npgan.get_default_dtype() == np.float64
    assert npgan.tensor(1.5).dtype == np.float64
    assert npgan.tensor([[1.0], [2.5]]).dtype == np.float64
    npgan.set_default_dtype("float32")
    assert npgan.tensor(1.5).dtype == np.float32


def test_arrays_keep_dtype_and_dtype_overrides(backend_name):
    assert npgan.tensor(np.ones(2, dtype=np.float64)).dtype == np.float64
    assert npgan.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    npgan.set_default_dtype("float64")
    assert npgan.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert npgan.tensor(1.5, dtype="float32").dtype == np.float32
    npgan.set_default_dtype("float32")
    assert npgan.tensor(1.5, dtype="float64").dtype == np.float64
    assert npgan.tensor(np.ones(2, dtype=np.float32), dtype="float64").dtype == np.float64
    assert npgan.tensor(np.ones(2, dtype=np.float64), dtype=np.float32).dtype == np.float32
    t = npgan.tensor(np.array([1.25, 2.5]), dtype="float64")
    np.testing.assert_array_equal(npgan.tensor(t).numpy(), [1.25, 2.5])


def test_python_number_keeps_float32_tensor_float32(backend_name):
    x = npgan.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    for y in (x * 0.5, 0.5 * x, x + 1, 2 - x, 2 / x, x ** 2, x / 3.0):
        assert y.dtype == np.float32
    (x * 0.5).sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_tensor_with_python_float_is_not_truncated(backend_name):
    t = npgan.tensor(np.array([1, 2, 3]))
    np.testing.assert_allclose((t * 0.5).numpy(), [0.5, 1.0, 1.5])
    np.testing.assert_allclose((t + 0.25).numpy(), [1.25, 2.25, 3.25])
    np.testing.assert_allclose((t ** 0.5).numpy(), np.sqrt([1.0, 2.0, 3.0]), rtol=1e-6)
    np.testing.assert_array_equal((t * 2).numpy(), [2, 4, 6])


def test_set_default_dtype_rejects_others(backend_name):
    with pytest.raises(ValueError):
        npgan.set_default_dtype("float16")


# --- Tensor API ------------------------------------------------------------------------

def test_tensor_properties(backend_name):
    x = npgan.tensor(np.arange(6.0).reshape(2, 3), dtype="float64")
    assert x.shape == (2, 3) and x.dtype == np.float64
    assert x.ndim == 2 and x.numel() == 6 and x.size() == (2, 3) and len(x) == 2
    assert x.is_leaf and x.creator is None and x.grad is None and not x.requires_grad
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.T.numpy(), np.arange(6.0).reshape(2, 3).T)
    assert "tensor(" in repr(x) and "float64" in repr(x)


def test_numpy_returns_a_copy(backend_name):
    x = npgan.tensor(np.array([1.0, 2.0]), dtype="float64")
    a = x.numpy()
    assert isinstance(a, np.ndarray)
    a[0] = 100.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_item(backend_name):
    assert npgan.tensor(np.array([[2.5]])).item() == 2.5
    assert isinstance(npgan.tensor(2.5).item(), float)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        npgan.tensor(np.array([1.0, 2.0])).item()


def test_detach_shares_data_but_not_graph(backend_name):
    x = t64([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert d.is_leaf and not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), [2.0, 4.0])


def test_unary_minus_and_reflected_operators(backend_name):
    x_np = np.array([0.5, 2.0, -4.0])
    x = t64(x_np)
    close(-x, -x_np)
    close(2 - x, 2 - x_np)
    close(2 / x, 2 / x_np)
    close(2 + x, 2 + x_np)
    close(2 * x, 2 * x_np)
    close(2 ** x, 2 ** x_np)
    h = np.array([1.0, -1.0, 3.0])
    arr = npgan.backend.asarray(h)  # an array of this backend: a host array beside cupy's would mix
    for res, expected in ((arr * x, h * x_np), (arr - x, h - x_np), (arr / x, h / x_np),
                          (arr + x, h + x_np)):
        assert isinstance(res, npgan.Tensor)
        close(res, expected)
    m = np.eye(3) * 2.0
    res = npgan.backend.asarray(m) @ x
    assert isinstance(res, npgan.Tensor)
    close(res, m @ x_np)
    # reflected operators are differentiable too
    (2 / x + arr * x + (2 - x)).sum().backward()
    close(x.grad, -2 / x_np ** 2 + h - 1)


def test_tensor_copies_its_data(backend_name):
    """npgan.tensor copies, as torch.tensor does: changing the source leaves the tensor alone."""
    source = np.array([1.0, 2.0, 3.0])
    t = npgan.tensor(source)
    source[0] = 100.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])
    u = npgan.tensor(t)
    u.data[1] = -5.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])
