"""The last survivors of mutation run 2 (tests/MUTATION.md): each test pins a behaviour a mutant
changed and no other test checked.

Every assertion is what PyTorch does where PyTorch has the feature (a root listed twice, a leaf
as a root, a rule that returns None, grad mode inside a rule, a frozen leaf, gradient dtypes), or
what the docstring of the speed code promises (the keep mask's bits, the array cache's
boundaries, the plain twins). Device cases run on the gpusim stand-in inside the test body (no
fixture id naming it), so mutmut's ``-k "not gpusim"`` keeps them.
"""
import numpy as np
import pytest

import npgan
import npgan.gpusim as gpusim
from npgan import activations, backend, functional as F, nn, speed
from npgan.autograd import Function

F32 = np.dtype("float32")


def _on_device(fn):
    """Run ``fn`` on the gpusim stand-in (CuPy's rules on NumPy), then restore the backend."""
    previous = backend.get_backend()
    backend.set_backend("gpusim")
    try:
        npgan.manual_seed(0)
        return fn()
    finally:
        backend.set_backend(previous)


def _scalar_grad(outputs, x, **kwargs):
    g, = npgan.grad(outputs, [x], **kwargs)
    return g.item()


# --- tensors, backend names, dtypes ------------------------------------------------------------

def test_a_tensor_keeps_its_name():
    assert npgan.Tensor(np.zeros(2), name="w").name == "w"
    assert npgan.Tensor(np.zeros(2)).name is None


def test_backend_name_says_gpusim_for_a_stand_in_array_and_in_the_mixing_message():
    device = _on_device(lambda: npgan.tensor([1.0, 2.0]))
    host = npgan.tensor([1.0, 2.0])
    assert backend.backend_name(device.data) == "gpusim"
    assert backend.backend_name(host.data) == "numpy"
    assert backend.backend_name(2.5) == "float"
    with pytest.raises(TypeError, match="^Add: cannot mix a numpy array and a gpusim array in one op"):
        host + device


def test_tensor_of_python_ints_or_bools_keeps_an_integer_or_bool_dtype():
    """torch.tensor([1, 2]) is int64 and torch.tensor(True) bool; only float data takes the
    default float dtype."""
    assert npgan.tensor([1, 2]).dtype == np.int64
    assert npgan.tensor(3).dtype == np.int64
    assert npgan.tensor([True, False]).dtype == np.bool_
    assert npgan.tensor([1.5]).dtype == np.float32
    npgan.set_default_dtype("float64")
    assert npgan.tensor([1, 2]).dtype == np.int64
    assert npgan.tensor([1.5]).dtype == np.float64


def test_the_device_generator_honours_its_seed():
    def draws():
        out = []
        for seed in (3, 3, 4):
            npgan.manual_seed(seed)
            out.append(npgan.random.rand(64).numpy())
        return out
    a, b, c = _on_device(draws)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_a_0d_float_array_beside_a_tensor_takes_the_tensors_float_dtype():
    """As a Python number or a 0-d tensor in PyTorch: it does not raise the tensor's precision."""
    t = npgan.tensor([1.0, 2.0])  # float32
    for y, expected in [(t + np.array(0.5), [1.5, 2.5]), (np.array(0.5) + t, [1.5, 2.5]),
                        (t * np.array(2.0), [2.0, 4.0]), (np.array(2.0) - t, [1.0, 0.0])]:
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y.numpy(), expected)
    t64 = npgan.tensor(np.array([1.0, 2.0]))
    y = t64 + np.array(0.25, np.float32)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy(), [1.25, 2.25])
    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    (x * np.array(3.0)).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_a_0d_float_array_beside_an_integer_tensor_is_not_truncated():
    """torch.tensor([1, 2]) + torch.tensor(0.5, dtype=torch.float64) is [1.5, 2.5] (a float)."""
    y = npgan.tensor([1, 2]) + np.array(0.5)
    assert backend.is_floating(y.dtype)
    np.testing.assert_array_equal(y.numpy(), [1.5, 2.5])


def test_the_gradient_of_a_float32_tensor_times_an_integer_tensor_is_float32():
    """A gradient always has its tensor's dtype (PyTorch), whatever dtype the product took."""
    x = npgan.tensor([1.5, -2.0], requires_grad=True)
    k = npgan.tensor(np.array([3, 4]))  # int64
    (x * k).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    x.grad = None
    (x * npgan.tensor(np.array([[1], [2], [5]]))).sum().backward()  # broadcast: (3, 1) with (2,)
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 8.0])


def test_elu_layer_alpha_defaults_to_one():
    """torch.nn.ELU(alpha=1.0)."""
    assert nn.ELU().alpha == 1.0
    y = nn.ELU()(npgan.tensor(np.array([-1.0, 2.0])))
    np.testing.assert_allclose(y.numpy(), [np.expm1(-1.0), 2.0], rtol=1e-15)


# --- backward(gradient), grad(grad_outputs) and several roots -------------------------------------

def test_backward_with_an_array_or_number_gradient_gives_the_root_dtype():
    x = npgan.tensor([1.0, 2.0], requires_grad=True)  # float32 leaf as the root: no op to cast
    x.backward(np.array([0.5, 3.0]))  # float64 array
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 3.0])
    z = npgan.tensor([0.5, -1.0], requires_grad=True)
    activations.tanh(z).backward(np.array([1.0, 2.0]))  # tanh's rule: gy (1 - y^2), no cast
    assert z.grad.dtype == np.float32
    np.testing.assert_allclose(z.grad.numpy(), [1 - np.tanh(0.5) ** 2, 2 * (1 - np.tanh(1.0) ** 2)],
                               rtol=1e-6)
    s = npgan.tensor(0.5, requires_grad=True)
    activations.tanh(s).backward(2.0)  # a number for a one-element root
    assert s.grad.dtype == np.float32
    np.testing.assert_allclose(s.grad.item(), 2 * (1 - np.tanh(0.5) ** 2), rtol=1e-6)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_grad_outputs_may_be_one_array_or_tensor_for_one_output(as_tensor):
    """torch.autograd.grad(y, x, grad_outputs=v) with v a single tensor."""
    x = npgan.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = np.array([1.0, 10.0, 100.0], np.float32)
    g, = npgan.grad(x * x, [x], grad_outputs=npgan.tensor(v) if as_tensor else v)
    np.testing.assert_array_equal(g.numpy(), [2.0, 40.0, 600.0])


def test_the_same_tensor_twice_among_the_roots_sums_its_two_seed_gradients():
    """torch.autograd.grad([y, y], x, [g1, g2]) is (g1 + g2) dy/dx."""
    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    g, = npgan.grad([y, y], [x], grad_outputs=[np.ones(2, np.float32), np.full(2, 3.0, np.float32)])
    np.testing.assert_array_equal(g.numpy(), [8.0, 16.0])


def test_a_leaf_as_the_root_gets_gradient_one():
    """x.backward() on a one-element leaf sets x.grad = 1, as in PyTorch."""
    x = npgan.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    y = x * 3
    assert _scalar_grad([x, y], x) == 4.0  # d(x)/dx + d(3x)/dx


def test_roots_that_are_intermediates_of_other_roots_and_roots_after_them():
    """grad([z, y, w], x) with y = 3x, z = y^2, w = 5x: 2 y 3 + 3 + 5 = 44 at x = 2; a root
    computed inside another root's graph must still wait for the gradient from that root."""
    x = npgan.tensor(2.0, requires_grad=True)
    y = x * 3
    z = y * y
    w = x * 5
    assert _scalar_grad([z, y, w], x) == 44.0
    for retain in (False, True):
        y = x * 3
        assert _scalar_grad([y * y, y], x, retain_graph=retain) == 39.0


# --- the walk: pruning, rules that return None, grad mode ----------------------------------------

def test_grad_with_respect_to_one_input_skips_the_other_branch_and_finishes_the_walk():
    """d/dx of sum((3x) * (2w)) is 6w; the branch of w gets no gradient and is passed over."""
    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    w = npgan.tensor([5.0, 7.0], requires_grad=True)
    u, h = x * 3, w * 2
    gx, = npgan.grad((u * h).sum(), [x])  # the walk meets w's branch before x's
    np.testing.assert_array_equal(gx.numpy(), [30.0, 42.0])


def test_grad_of_an_intermediate_and_a_leaf_skips_what_lies_below_the_intermediate():
    """d/du and d/dw of sum((2w) * u) with u = 3x: 2w and 2u; nothing below u is wanted."""
    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    w = npgan.tensor([5.0, 7.0], requires_grad=True)
    u, h = x * 3, w * 2
    gu, gw = npgan.grad((h * u).sum(), [u, w])  # the walk meets u's creator before w's branch
    np.testing.assert_array_equal(gu.numpy(), [10.0, 14.0])
    np.testing.assert_array_equal(gw.numpy(), [6.0, 12.0])


class _ProductKeepingOneGradient(Function):
    """y = a b; its rule returns None for b: PyTorch reads None as "no gradient" (zero)."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy, a, b, y):
        return gy * b, None


class _ProductIgnoringNeeds(Function):
    """y = a b; its rule computes both gradients even when one is not wanted."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy, a, b, y):
        return gy * b, gy * a


def test_a_rule_returning_none_for_an_input_gives_it_no_gradient():
    a = npgan.tensor([1.0, 2.0], requires_grad=True)
    b = npgan.tensor([3.0, 4.0], requires_grad=True)
    _ProductKeepingOneGradient()(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_backward_inputs_ignores_a_gradient_the_rule_computed_for_another_input():
    """backward(inputs=[a]) leaves b.grad alone, whatever the rule returns for b."""
    a = npgan.tensor([1.0, 2.0], requires_grad=True)
    b = npgan.tensor([3.0, 4.0], requires_grad=True)
    _ProductIgnoringNeeds()(a, b).sum().backward(inputs=[a])
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_a_rule_runs_without_grad_mode_unless_create_graph():
    """PyTorch runs a backward rule with grad mode off unless create_graph=True."""
    seen = []

    class Double(Function):
        def forward(self, x):
            return x * 2

        def backward(self, gy, x, y):
            seen.append(npgan.is_grad_enabled())
            return gy * 2

    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    Double()(x).sum().backward()
    Double()(x).sum().backward(create_graph=True)
    assert seen == [False, True]
    assert npgan.is_grad_enabled()


@pytest.mark.parametrize("frozen", [0, 1])
def test_a_leaf_frozen_after_the_forward_pass_gets_no_grad_and_the_others_still_do(frozen):
    """PyTorch: requires_grad_(False) after the forward pass, then backward: that leaf's .grad
    stays None, the other leaves get theirs."""
    a = npgan.tensor([1.0, 2.0], requires_grad=True)
    b = npgan.tensor([3.0, 4.0], requires_grad=True)
    loss = (a * 2 + b * 3).sum()
    (a, b)[frozen].requires_grad_(False)
    loss.backward()
    other, factor = ((b, 3.0), (a, 2.0))[frozen]
    assert (a, b)[frozen].grad is None
    np.testing.assert_array_equal(other.grad.numpy(), [factor, factor])


class _ConstantScalar(Function):
    """Returns a NumPy scalar, as 0-d NumPy results and ``dtype.type(c)`` (also under CuPy) are."""

    def forward(self, x):
        return x.dtype.type(2.5)

    def backward(self, gy, x, y):
        return gy * 0


def test_an_op_whose_forward_gives_a_numpy_scalar_outputs_an_array_on_its_inputs_backend():
    def run():
        y = _ConstantScalar()(npgan.tensor([1.0, 2.0]))
        return backend.backend_name(y.data), y.dtype, y.shape, y.item()
    assert run() == ("numpy", F32, (), 2.5)
    assert _on_device(run) == ("gpusim", F32, (), 2.5)


def test_indexing_gradients_on_the_device():
    def run():
        x = npgan.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        x[1:].sum().backward()
        basic = (backend.backend_name(x.grad.data), x.grad.dtype, x.grad.numpy())
        x.grad = None
        (x[npgan.tensor([1, 1, 2])] * npgan.tensor([1.0, 2.0, 4.0])).sum().backward()
        return basic, (backend.backend_name(x.grad.data), x.grad.dtype, x.grad.numpy())
    basic, advanced = _on_device(run)
    assert basic[:2] == ("gpusim", F32) and advanced[:2] == ("gpusim", F32)
    np.testing.assert_array_equal(basic[2], [0.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(advanced[2], [0.0, 3.0, 4.0, 0.0])


def test_linear_layer_gradients_on_the_device():
    """y = x W^T + b summed: dW = column sums of x (one row per output), dx = rows of sum_j W_j."""
    xs = np.arange(12, dtype=np.float32).reshape(4, 3) / 10

    def run():
        layer = nn.Linear(3, 2)
        x = npgan.tensor(xs, requires_grad=True)
        layer(x).sum().backward()
        return (backend.backend_name(x.grad.data), layer.weight.numpy(), x.grad.numpy(),
                layer.weight.grad.numpy(), layer.bias.grad.numpy())
    name, w, gx, gw, gb = _on_device(run)
    assert name == "gpusim"
    np.testing.assert_allclose(gx, np.tile(w.sum(axis=0), (4, 1)), rtol=1e-6)
    np.testing.assert_allclose(gw, np.tile(xs.sum(axis=0), (2, 1)), rtol=1e-6)
    np.testing.assert_array_equal(gb, [4.0, 4.0])


# --- speed.py: the plain twins, the keep mask's bits, the array cache ---------------------------

def test_backward_with_needs_plain_for_a_one_input_rule():
    """The plain twin gives the rule's gradient array when it is needed, None when not; the fast
    version gives the same array."""
    x = npgan.tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = activations.tanh(x)
    fn, gy, args = y.creator, np.array([1.0, 2.0]), [x.data, y.data]
    expected = (1 - np.tanh([0.5, -1.0]) ** 2) * [1.0, 2.0]
    plain = speed.backward_with_needs_plain(fn, (True,), gy, args)
    assert backend.is_array(plain)
    np.testing.assert_allclose(plain, expected, rtol=1e-15)
    np.testing.assert_array_equal(speed.backward_with_needs(fn, (True,), gy, args), plain)
    assert speed.backward_with_needs_plain(fn, (False,), gy, args) is None


class _Bits:
    """A generator stand-in whose raw 64-bit words are the given 32-bit halves."""
    device = False

    def __init__(self, halves):
        self.words = np.asarray(halves, np.uint32).view(np.uint64)

    def raw_bits(self, n):
        return self.words[:n]


def test_keep_mask_is_u_over_2_32_at_least_p_at_the_top_of_the_range():
    """p = 1 - 2^-32 (p 2^32 an integer, so the raw-bits mask is exactly u / 2^32 >= p):
    u = 2^32 - 2 is dropped, u = 2^32 - 1 kept."""
    p = 1 - 2.0 ** -32
    u = np.array([2 ** 32 - 2, 2 ** 32 - 1, 0, 2 ** 31], np.uint64)
    keep = speed.keep_mask(_Bits(u), (4,), p)
    np.testing.assert_array_equal(keep, u / 2.0 ** 32 >= p)
    np.testing.assert_array_equal(keep, [False, True, False, False])


class _Uniforms:
    """A device-generator stand-in handing out the given uniforms."""
    device = True

    def __init__(self, u):
        self.u = u

    def random(self, shape, dtype):
        return np.asarray(self.u, dtype).reshape(shape)


def test_device_keep_mask_keeps_a_uniform_equal_to_p():
    """keep = u >= p: a uniform of exactly p is kept (so P(keep) = 1 - p on the float grid)."""
    keep = speed.keep_mask(_Uniforms([0.25, 0.5, 0.75]), (3,), 0.5)
    np.testing.assert_array_equal(keep, [False, True, True])


def test_device_keep_mask_is_the_seeded_generators_float32_uniforms_at_least_p():
    def run():
        mask = speed.keep_mask(backend.Generator(11, "gpusim"), (2000,), 0.3)
        u = backend.Generator(11, "gpusim").random((2000,), F32)
        return backend.to_numpy(mask), backend.to_numpy(u)
    mask, u = _on_device(run)
    assert u.dtype == F32
    np.testing.assert_array_equal(mask, u >= 0.3)


def test_array_cache_keeps_an_array_of_exactly_min_bytes():
    cache = speed.ArrayCache(min_bytes=64, max_bytes=1 << 20)
    a = cache.empty(np, (16,), F32)  # 64 bytes
    assert cache.bytes == 64
    cache.empty(np, (15,), F32)  # 60 bytes: handed out, not kept
    assert cache.bytes == 64
    ident = id(a)
    del a
    assert id(cache.empty(np, (16,), F32)) == ident  # reused once free


def test_array_cache_makes_room_only_when_max_bytes_would_be_exceeded():
    cache = speed.ArrayCache(min_bytes=64, max_bytes=128)
    a = cache.empty(np, (16,), F32)
    ident = id(a)
    del a  # kept and free
    b = cache.empty(np, (4, 4), F32)  # 64 + 64 = 128 bytes: exactly max_bytes, nothing dropped
    assert cache.bytes == 128
    assert id(cache.empty(np, (16,), F32)) == ident
    c = cache.empty(np, (2, 8), F32)  # would exceed: the free (16,) array makes room
    assert cache.bytes == 128 and b.shape == (4, 4) and c.shape == (2, 8)


def test_the_cache_hands_out_device_arrays_of_the_asked_dtype():
    def run():
        x = npgan.tensor(np.ones(3, np.float32))
        e = speed.empty_like(x.data)
        y = F.tanh(x)
        return backend.backend_name(e), e.dtype, e.shape, backend.backend_name(y.data), y.dtype
    assert _on_device(run) == ("gpusim", F32, (3,), "gpusim", F32)


@pytest.mark.parametrize("module", ["numpy", "device"])
def test_empty_plain_gives_what_its_fast_twin_gives(module):
    xp = gpusim if module == "device" else np
    for shape, dtype in [((2, 3), F32), ((70_000,), F32), ((4,), np.dtype("float64"))]:
        plain, fast = speed.empty_plain(xp, shape, dtype), speed.empty(xp, shape, dtype)
        assert type(plain) is type(fast)
        assert (plain.shape, plain.dtype) == (fast.shape, fast.dtype) == (shape, dtype)
