"""Op tests added for the mutation score (tests/MUTATION.md): concatenate's inputs (arrays, lists,
numbers beside a tensor) and its messages, the gradient of indexing keeping the input's dtype,
and the generator's integers honouring ``low``."""
import numpy as np
import pytest

import npgan
from npgan import backend, ops


def test_concatenate_of_host_arrays_and_lists_makes_a_tensor():
    """No Tensor among the inputs: each becomes one as npgan.tensor would (arrays keep their
    dtype, Python floats get the default one)."""
    y = ops.concatenate([np.ones(2), np.zeros(3)])
    assert isinstance(y, npgan.Tensor) and y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy(), [1, 1, 0, 0, 0])
    z = ops.concatenate([[1.0, 2.0], [3.0]])
    assert z.dtype == np.float32
    np.testing.assert_array_equal(z.numpy(), [1, 2, 3])


def test_concatenate_a_number_beside_a_tensor_is_a_shape_error():
    """A number becomes a 0-d tensor of the tensor's dtype, which cannot be joined to a 1-d one."""
    with pytest.raises(ValueError, match=r"^concatenate: tensor 1 has shape \(\), which does not "
                                         r"match tensor 0's \(2,\) outside axis 0$"):
        ops.concatenate([npgan.tensor([1.0, 2.0]), 3.0])


def test_concatenate_messages():
    with pytest.raises(ValueError, match=r"^concatenate: got no tensors to join$"):
        ops.concatenate([])
    with pytest.raises(ValueError, match=r"^concatenate: zero-dimensional tensors cannot be "
                                         r"joined; reshape them to \(1,\)$"):
        ops.concatenate([npgan.tensor(1.0), npgan.tensor(2.0)])


@pytest.mark.parametrize("index", [
    (slice(0, 2), 1),                   # basic: written in place
    (np.array([0, 0, 2]), slice(None)),  # advanced, a repeated row: added up
], ids=["basic", "advanced"])
def test_indexing_gradient_keeps_the_input_dtype(index):
    x = npgan.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    x[index].sum().backward()
    assert x.grad.dtype == np.float32
    expected = np.zeros((3, 4), dtype=np.float32)
    np.add.at(expected, index, 1.0)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("name", ["numpy", "device"])
def test_generator_integers_lie_in_low_to_high(name):
    """Integers in [low, high): low is honoured (not [0, high)), on the host generator and on
    the device one (the gpusim stand-in keeps CuPy's randint API)."""
    previous = backend.get_backend()
    backend.set_backend("numpy" if name == "numpy" else "gpusim")
    try:
        draws = backend.to_numpy(npgan.manual_seed(3).integers(5, 8, (400,)))
    finally:
        backend.set_backend(previous)
    assert draws.min() == 5 and draws.max() == 7
    assert set(np.unique(draws).tolist()) == {5, 6, 7}


@pytest.mark.parametrize("a, b, message", [
    ((), (2,), r"^matmul: operands must have at least one dimension, got shapes \(\) and \(2,\)$"),
    ((2,), (), r"^matmul: operands must have at least one dimension, got shapes \(2,\) and \(\)$"),
    ((2, 3), (4, 5), r"^matmul: shapes \(2, 3\) and \(4, 5\) are not aligned: 3 \(last dim of a\) "
                     r"!= 4 \(second-to-last dim of b\)$"),
    ((5, 2, 3), (4,), r"^matmul: shapes \(5, 2, 3\) and \(4,\) are not aligned: 3 \(last dim of "
                      r"a\) != 4 \(only dim of b\)$"),
    ((3,), (4, 2), r"^matmul: shapes \(3,\) and \(4, 2\) are not aligned: 3 \(last dim of a\) "
                   r"!= 4 \(second-to-last dim of b\)$"),
])
def test_matmul_shape_messages(a, b, message):
    with pytest.raises(ValueError, match=message):
        ops.matmul(npgan.tensor(np.ones(a)), npgan.tensor(np.ones(b)))


@pytest.mark.parametrize("a, b", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (4, 3, 2)),
                                  ((4, 2, 3), (3,)), ((2, 3), (4, 3, 5)), ((4, 1, 2, 3), (5, 3, 2))])
def test_matmul_values_shapes_and_gradients_follow_numpy(a, b):
    """numpy's rules for 1-D operands (promoted, then squeezed) and batch broadcasting; the
    product is linear in each operand, so the gradient of sum(r * (a @ b)) at element i of a is
    exactly sum(r * (e_i @ b)) with e_i the i-th unit array (and likewise for b)."""
    rng = np.random.default_rng(1)
    a_np, b_np = rng.standard_normal(a), rng.standard_normal(b)
    x, w = npgan.tensor(a_np, requires_grad=True), npgan.tensor(b_np, requires_grad=True)
    y = ops.matmul(x, w)
    expected = a_np @ b_np
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    r = rng.standard_normal(expected.shape)
    (y * npgan.tensor(np.asarray(r))).sum().backward()

    def unit_gradient(shape, product):
        g = np.zeros(shape)
        for i in np.ndindex(*shape):
            e = np.zeros(shape)
            e[i] = 1.0
            g[i] = np.sum(r * product(e))
        return g
    np.testing.assert_allclose(x.grad.numpy(), unit_gradient(a, lambda e: e @ b_np),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), unit_gradient(b, lambda e: a_np @ e),
                               rtol=1e-12, atol=1e-12)


def test_mixed_float_dtypes_message_suggests_the_first_dtype_in_order():
    a = npgan.tensor(np.ones(2, dtype=np.float32))
    b = npgan.tensor(np.ones(2, dtype=np.float64))
    message = (r"^Add: cannot mix float32 and float64 operands; cast one of them "
               r"\(x\.astype\('float32'\) or npgan\.tensor\(x, dtype=\.\.\.\)\), or create the "
               r"model and its data in one dtype \(npgan\.set_default_dtype\)$")
    for x, y in ((a, b), (b, a)):
        with pytest.raises(TypeError, match=message):
            x + y


def test_linear_messages():
    x = npgan.tensor(np.ones(3))
    W = npgan.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^linear: weight must be 2-D \(out, in\), got shape "
                                         r"\(3,\)$"):
        npgan.functional.linear(x, npgan.tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"^linear: bias of shape \(3,\) does not fit weight of "
                                         r"shape \(2, 3\); expected \(2,\)$"):
        npgan.functional.linear(x, W, npgan.tensor(np.ones(3)))
    with pytest.raises(ValueError, match=r"^linear: input of shape \(\) does not fit weight"):
        npgan.functional.linear(npgan.tensor(1.0), W)


@pytest.mark.parametrize("shape", [(3,), (2, 4, 3)])
def test_linear_takes_one_sample_or_any_leading_dimensions(shape):
    """x @ W^T + b for a single sample (1-D x) and for a batch with several leading dimensions."""
    rng = np.random.default_rng(2)
    x_np, W_np, b_np = rng.standard_normal(shape), rng.standard_normal((5, 3)), rng.standard_normal(5)
    y = npgan.functional.linear(npgan.tensor(x_np), npgan.tensor(W_np), npgan.tensor(b_np))
    assert y.shape == shape[:-1] + (5,)
    np.testing.assert_allclose(y.numpy(), x_np @ W_np.T + b_np, rtol=1e-12, atol=1e-12)


def test_mean_defaults_reduce_every_axis_without_keeping_them():
    x = npgan.tensor(np.arange(6.0).reshape(2, 3))
    assert ops.mean(x).shape == ()
    assert ops.mean(x).item() == 2.5
    assert ops.mean(x, axis=1).shape == (2,)
    np.testing.assert_array_equal(ops.mean(x, axis=1).numpy(), [1.0, 4.0])


def test_squaring_negative_values_backpropagates_without_warnings():
    """x ** 2 at negative x (a WGAN-GP penalty's (|g| - 1) ** 2): the gradient 2x needs no log,
    and the log of a negative base (the exponent's gradient, not wanted here) is never taken."""
    import warnings
    x = npgan.tensor(np.array([-1.5, -0.25, 2.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-3.0, -0.5, 4.0])


def test_a_constant_base_gives_only_the_exponents_gradient_without_warnings():
    """c ** x with a constant c: dy/dx = y log c. The base's gradient x c^(x-1), not wanted, is
    never computed (for c = 1e-300 and x = -0.5 it would overflow: c^-1.5 = 1e450)."""
    import warnings
    c = npgan.tensor(np.array([1e-300, 4.0]))
    x = npgan.tensor(np.array([-0.5, 0.5]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (c ** x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1e150 * np.log(1e-300), 2.0 * np.log(4.0)],
                               rtol=1e-12)


def test_dividing_by_a_tiny_constant_backpropagates_without_warnings():
    """x / c with a constant c = 1e-200: dx = gy / c = 1e200, finite. The divisor's gradient
    -gy x / c^2 (c^2 underflows to 0), not wanted, is never computed."""
    import warnings
    x = npgan.tensor(np.array([1.0, -2.0]), requires_grad=True)
    c = npgan.tensor(np.array([1e-200, 1e-200]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x / c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1e200, 1e200], rtol=1e-15)
