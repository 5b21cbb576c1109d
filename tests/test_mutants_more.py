"""More tests for the mutation score (tests/MUTATION.md), from the second run on the split
package: layer defaults against PyTorch's, BCE's gradient sign where p(1-p) is floored, the keep
mask near p = 1 and on the device generator, optimizer argument checks on objects that are not
tensors, the CuPy check done once, concatenate of one tensor, reshape to an int, register_buffer's
names, check_config, and softmax cross-entropy's second-order path on the device stand-in."""
import types

import numpy as np
import pytest

import npgan
from npgan import backend, checkpoint, functional as F, nn, ops, optim


def _on_device(fn):
    """Run ``fn`` on the gpusim stand-in (CuPy's rules on NumPy), then restore the backend."""
    previous = backend.get_backend()
    backend.set_backend("gpusim")
    try:
        npgan.manual_seed(0)
        return fn()
    finally:
        backend.set_backend(previous)


def test_layer_defaults_are_pytorchs():
    """torch.nn.LeakyReLU(negative_slope=0.01), torch.nn.Dropout(p=0.5)."""
    assert nn.LeakyReLU().negative_slope == 0.01
    np.testing.assert_allclose(nn.LeakyReLU()(npgan.tensor([-2.0, 3.0])).numpy(), [-0.02, 3.0],
                               rtol=1e-6)
    assert nn.Dropout().p == 0.5


def test_bce_gradient_at_saturated_probabilities_keeps_its_sign():
    """dl/dp = (p - t) / max(p (1 - p), 1e-12) (PyTorch's): -1e12 at p = 0 with t = 1 (push p up),
    +1e12 at p = 1 with t = 0."""
    p = npgan.tensor(np.array([0.0, 1.0, 0.5]), requires_grad=True)
    t = npgan.tensor(np.array([1.0, 0.0, 1.0]))
    F.binary_cross_entropy(p, t, reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), [-1e12, 1e12, -2.0], rtol=1e-12)


def test_keep_mask_near_p_one_keeps_almost_nothing_and_does_not_overflow():
    """p = 1 - 1e-12: round(p 2^32) = 2^32, clamped to the largest uint32 threshold."""
    x = npgan.tensor(np.ones(50_000))
    y = F.dropout(x, p=1 - 1e-12)
    assert y.shape == (50_000,)
    assert np.count_nonzero(y.numpy()) <= 2


def test_dropout_on_the_device_generator_keeps_about_one_minus_p_scaled():
    def run():
        y = F.dropout(npgan.tensor(np.ones(20_000, dtype=np.float32)), p=0.25)
        return y.numpy()
    y = _on_device(run)
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_optimizer_refuses_objects_without_requires_grad_and_accepts_duck_typed_leaves():
    """An array has no requires_grad: refused like a tensor without it. An object that requires
    grad and says nothing of is_leaf is taken as a leaf (getattr's defaults)."""
    with pytest.raises(ValueError, match=r"^SGD: parameter 0 does not require grad"):
        optim.SGD([np.ones(2)], lr=0.1)
    duck = types.SimpleNamespace(requires_grad=True, data=np.zeros(2), dtype=np.dtype("float64"),
                                 size=2, shape=(2,), grad=None)
    assert optim.SGD([duck], lr=0.1).params == [duck]


def _counting_cupy_stub():
    calls = []

    class RandomState:
        def __init__(self, seed):
            calls.append(seed)

        def random_sample(self, size, dtype):
            return np.zeros(size, dtype=dtype)
    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    stub.ndarray = type("FakeGPUArray", (), {})
    stub.random = types.SimpleNamespace(RandomState=RandomState)
    stub.exp, stub.arange, stub.ones = np.exp, np.arange, np.ones
    return stub, calls


def test_cupy_check_runs_its_probes_once_per_process(monkeypatch):
    stub, calls = _counting_cupy_stub()
    monkeypatch.setattr(backend, "cupy", stub)
    assert backend.cupy_available() and backend.cupy_available()
    assert calls == [0]


def test_cupy_unavailable_reason_is_the_error_message(monkeypatch):
    stub, _ = _counting_cupy_stub()
    stub.cuda.runtime.getDeviceCount = lambda: 0
    monkeypatch.setattr(backend, "cupy", stub)
    assert backend.cupy_unavailable_reason() == (
        "backend 'cupy' requested but no NVIDIA GPU is visible "
        "(cupy.cuda.runtime.getDeviceCount() == 0); use --backend numpy.")


def test_concatenate_of_one_tensor_passes_its_gradient_through():
    x = npgan.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = ops.concatenate([x])
    (y * npgan.tensor(np.array([2.0, 3.0, 4.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 3.0, 4.0])


def test_reshape_to_an_int_is_one_axis():
    y = ops.reshape(npgan.tensor(np.ones((2, 3))), 6)
    assert y.shape == (6,)


@pytest.mark.parametrize("name", [3, "", "a.b"])
def test_register_buffer_names_must_be_plain_strings(name):
    with pytest.raises(ValueError, match=r"^register_buffer: name must be a non-empty str "
                                         r"without '\.', got "):
        nn.Module().register_buffer(name, np.zeros(2))


def test_check_config_compares_each_key_and_lists_the_differences(tmp_path):
    path = str(tmp_path / "ck.npz")
    checkpoint.check_config(path, {"a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 9}, ["a", "b"])
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"ck\.npz: the checkpoint was made with other settings: "
                             r"b: checkpoint 'x', this run 'y'$"):
        checkpoint.check_config(path, {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, ["a", "b"])


def test_softmax_cross_entropy_second_order_on_the_device():
    """The create_graph path builds its one-hot on the logits' backend (a host array there would
    be refused beside device logits)."""
    def run():
        x = npgan.tensor(np.array([[0.5, -1.0, 2.0], [0.0, 0.25, -0.5]]), requires_grad=True)
        labels = npgan.tensor(np.array([2, 0]))  # on the device, as the logits
        g, = npgan.grad(F.softmax_cross_entropy(x, labels), [x], create_graph=True)
        (g * g).sum().backward()
        return g.numpy(), x.grad.numpy()
    g, _ = _on_device(run)
    x_np = np.array([[0.5, -1.0, 2.0], [0.0, 0.25, -0.5]])
    soft = np.exp(x_np) / np.exp(x_np).sum(axis=1, keepdims=True)
    onehot = np.array([[0, 0, 1.0], [1.0, 0, 0]])
    np.testing.assert_allclose(g, (soft - onehot) / 2, rtol=1e-12)


def test_backward_into_a_wanted_intermediate_fills_its_grad_only():
    """backward(inputs=[y]) for a non-leaf y: y.grad is d(out)/dy (as PyTorch), x.grad untouched."""
    x = npgan.tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = x * 3.0
    (y * y).sum().backward(inputs=[y])
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, -12.0])
    assert x.grad is None


@pytest.mark.parametrize("alpha", [1.0, 2.0, 0.5])
def test_elu_values_for_alphas_other_than_one(alpha):
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    y = F.elu(npgan.tensor(x), alpha=alpha).numpy()
    np.testing.assert_allclose(y, np.where(x > 0, x, alpha * np.expm1(x)), rtol=1e-14)


def test_matmul_message_for_a_batched_b_names_its_second_to_last_dim():
    with pytest.raises(ValueError, match=r"^matmul: shapes \(2, 3\) and \(5, 4, 6\) are not "
                                         r"aligned: 3 \(last dim of a\) != 4 \(second-to-last "
                                         r"dim of b\)$"):
        ops.matmul(npgan.tensor(np.ones((2, 3))), npgan.tensor(np.ones((5, 4, 6))))


def test_a_generator_never_seeded_is_seeded_with_zero():
    """Switching backends drops the generator; the next draw seeds a new one with 0."""
    npgan.manual_seed(0)
    expected = npgan.random.randn(4).numpy()
    npgan.manual_seed(5)
    backend.set_backend("gpusim")
    backend.set_backend("numpy")  # another backend and back: no generator now
    np.testing.assert_array_equal(npgan.random.randn(4).numpy(), expected)


def test_device_uniforms_have_the_asked_shape_and_dtype():
    def run():
        u = npgan.random.rand(2, 3)
        return u.shape, u.dtype, u.numpy()
    shape, dtype, values = _on_device(run)
    assert shape == (2, 3) and dtype == np.float32
    assert ((values >= 0) & (values < 1)).all()
