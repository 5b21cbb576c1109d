"""Layers and modules: Linear's shape, init, dtype, forward and gradients; naming; modes; state dicts."""
import math

import numpy as np
import pytest

import npgan
from conftest import check_gradients
from npgan import nn


def host(x):
    return x.numpy() if isinstance(x, npgan.Tensor) else np.asarray(x)


# --- Linear: shapes, initialisation, dtype -------------------------------------------

def test_linear_parameter_shapes():
    layer = nn.Linear(5, 3)
    assert layer.weight.shape == (3, 5)
    assert layer.bias.shape == (3,)
    assert (layer.in_features, layer.out_features) == (5, 3)
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert isinstance(layer.weight, nn.Parameter)


def test_linear_without_bias():
    layer = nn.Linear(4, 2, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_linear_init_is_uniform_within_pytorch_bounds():
    fan_in, fan_out = 400, 300
    layer = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)  # 0.05
    w = host(layer.weight).astype(np.float64).ravel()
    b = host(layer.bias).astype(np.float64)
    for arr in (w, b):
        assert arr.min() >= -bound and arr.max() <= bound
        # the extremes reach the bounds: not a narrower (or normal) distribution
        assert arr.min() < -0.95 * bound and arr.max() > 0.95 * bound
    # uniform on [-bound, bound]: mean 0, std bound / sqrt(3), flat histogram
    assert abs(w.mean()) < 0.01 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    counts, _ = np.histogram(w, bins=10, range=(-bound, bound))
    expected = w.size / 10
    assert np.all(np.abs(counts - expected) < 0.05 * expected), counts


def test_linear_init_bound_depends_on_in_features_only():
    narrow = host(nn.Linear(4, 2000).weight)
    bound = 0.5
    assert np.abs(narrow).max() <= bound
    assert np.abs(narrow).max() > 0.99 * bound


def test_linear_init_is_seeded():
    npgan.manual_seed(7)
    a = host(nn.Linear(6, 4).weight)
    npgan.manual_seed(7)
    b = host(nn.Linear(6, 4).weight)
    npgan.manual_seed(8)
    c = host(nn.Linear(6, 4).weight)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_linear_default_dtype_float32_then_float64():
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    npgan.set_default_dtype("float64")
    layer = nn.Linear(3, 2)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64


def test_linear_explicit_dtype():
    layer = nn.Linear(3, 2, dtype="float64")
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert npgan.get_default_dtype() == np.float32


# --- Linear: forward and gradients -------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_forward_matches_numpy(dtype):
    npgan.set_default_dtype(dtype)
    layer = nn.Linear(4, 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(dtype)
    y = layer(npgan.tensor(x))
    W, b = host(layer.weight), host(layer.bias)
    expected = x @ W.T + b
    assert y.dtype == np.dtype(dtype)
    assert y.shape == (5, 3)
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(host(y), expected, rtol=tol, atol=tol)
    # the same product written out as sums, independent of numpy's matmul
    x64, W64, b64 = x.astype(float), W.astype(float), b.astype(float)
    for n in range(5):
        for o in range(3):
            ref = math.fsum([x64[n, i] * W64[o, i] for i in range(4)]) + b64[o]
            assert float(host(y)[n, o]) == pytest.approx(ref, rel=10 * tol, abs=10 * tol)


def test_linear_forward_leading_dimensions_and_no_bias():
    npgan.set_default_dtype("float64")
    layer = nn.Linear(4, 2, bias=False)
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    y = layer(npgan.tensor(x))
    assert y.shape == (2, 3, 2)
    np.testing.assert_allclose(host(y), x @ host(layer.weight).T, rtol=1e-14, atol=1e-14)


def test_linear_gradcheck_float64():
    npgan.set_default_dtype("float64")
    layer = nn.Linear(4, 3)
    x = npgan.tensor(np.random.default_rng(2).standard_normal((5, 4)), requires_grad=True)
    assert layer.weight.dtype == np.float64
    check_gradients(lambda x, W, b: layer(x), [x, layer.weight, layer.bias])
    x3 = npgan.tensor(np.random.default_rng(5).standard_normal((2, 3, 4)), requires_grad=True)
    check_gradients(lambda x, W, b: layer(x), [x3, layer.weight, layer.bias])  # ops.linear


def test_sequential_gradcheck_float64():
    npgan.set_default_dtype("float64")
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.ELU())
    x = npgan.tensor(np.random.default_rng(3).standard_normal((4, 3)), requires_grad=True)
    check_gradients(lambda x, *params: model(x), [x, *model.parameters()])


@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.2), nn.LeakyReLU(1.5), nn.ELU(0.7),
                                 nn.Sigmoid(), nn.Tanh()], ids=repr)
def test_activation_layers_gradcheck_float64(act):
    """Each activation module between two layers, to second order, and its forward equal to
    the function it wraps, with and without a graph."""
    npgan.set_default_dtype("float64")
    model = nn.Sequential(nn.Linear(3, 5), act, nn.Linear(5, 2))
    x = npgan.tensor(np.random.default_rng(6).standard_normal((4, 3)), requires_grad=True)
    check_gradients(lambda x, *params: model(x), [x, *model.parameters()])
    h = npgan.tensor(np.random.default_rng(7).uniform(-2, 2, size=(4, 5)))
    with npgan.no_grad():
        plain = act(h).numpy()
    np.testing.assert_array_equal(act(h).numpy(), plain)


def test_linear_gradients_closed_form():
    """For s = sum(y * r): dW = r^T x, db = sum_n r, dx = r W."""
    npgan.set_default_dtype("float64")
    layer = nn.Linear(4, 3)
    rng = np.random.default_rng(4)
    x = npgan.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    r = rng.standard_normal((6, 3))
    (layer(x) * npgan.tensor(r)).sum().backward()
    W = host(layer.weight)
    np.testing.assert_allclose(host(layer.weight.grad), r.T @ host(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(host(layer.bias.grad), r.sum(axis=0), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(host(x.grad), r @ W, rtol=1e-13, atol=1e-13)


# --- Linear: argument errors ------------------------------------------------------------

@pytest.mark.parametrize("args, what", [
    ((0, 3), "in_features"),
    ((3, 0), "out_features"),
    ((-2, 3), "in_features"),
    ((2.0, 3), "in_features"),
    ((3, 2.5), "out_features"),
    (("3", 2), "in_features"),
    ((None, 2), "in_features"),
])
def test_linear_bad_sizes(args, what):
    with pytest.raises(ValueError, match=what):
        nn.Linear(*args)


@pytest.mark.parametrize("shape", [(4, 5), (5,), (2, 3, 2)])
def test_linear_wrong_width_names_in_features(shape):
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2\).* 3, got shape"):
        layer(npgan.tensor(np.ones(shape, dtype=np.float32)))


def test_linear_scalar_input_is_an_error():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"in_features=3"):
        layer(npgan.tensor(1.0))


# --- naming and parameters ----------------------------------------------------------------

def test_sequential_names_and_count():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    params = list(model.parameters())
    assert len(params) == 4
    assert sum(p.numel() for p in params) == 2 * 3 + 3 + 3 * 1 + 1
    assert params[0] is model[0].weight and params[3] is model[2].bias
    assert len(model) == 3
    assert isinstance(model[1], nn.ReLU)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.Linear(2, 2), lambda x: x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 4))
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))
        self.head = nn.Linear(4, 1)
        self.not_a_param = npgan.tensor([1.0, 2.0])  # a plain tensor is not registered

    def forward(self, x):
        return self.head(self.body(x) * self.scale)


def test_nested_named_parameters():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.3.weight", "body.3.bias",
                     "head.weight", "head.bias"]
    assert dict(net.named_parameters())["body.3.weight"] is net.body[3].weight
    assert len(list(net.parameters())) == 7
    assert len(list(net.modules())) == 7  # net, body, 4 layers in body, head


def test_reassigning_an_attribute_unregisters_it():
    net = Net()
    net.head = None
    net.scale = npgan.tensor(np.ones(4))
    assert [n for n, _ in net.named_parameters()] == [
        "body.0.weight", "body.0.bias", "body.3.weight", "body.3.bias"]


def test_module_zero_grad():
    net = Net()
    net(npgan.tensor(np.ones((3, 2), dtype=np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# --- train / eval --------------------------------------------------------------------------

def test_train_eval_propagate_to_children():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.body.eval()
    assert net.training and not net.body[2].training and net.head.training


def test_dropout_masks_in_training_and_is_identity_in_eval():
    p = 0.25
    model = nn.Sequential(nn.Dropout(p))
    x = np.random.default_rng(5).uniform(1.0, 2.0, size=(200, 50)).astype(np.float32)
    y = host(model(npgan.tensor(x)))
    dropped = y == 0
    # each element: either zeroed or scaled by 1 / (1 - p)
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-6)
    assert dropped.mean() == pytest.approx(p, abs=0.02)
    assert y.dtype == np.float32
    y2 = host(model(npgan.tensor(x)))
    assert not np.array_equal(y2 == 0, dropped), "a new mask every call"

    model.eval()
    np.testing.assert_array_equal(host(model(npgan.tensor(x))), x)
    model.train()
    assert (host(model(npgan.tensor(x))) == 0).any()


def test_dropout_gradient_uses_the_same_mask():
    model = nn.Dropout(0.5)
    x = npgan.tensor(np.ones((40, 40), dtype=np.float32), requires_grad=True)
    y = model(x)
    y.sum().backward()
    np.testing.assert_array_equal(host(x.grad), host(y))  # d/dx (x * m / (1 - p)) = m / (1 - p)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(p)


# --- state_dict ----------------------------------------------------------------------------

def make_mlp():
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))


def test_state_dict_is_host_copies():
    model = make_mlp()
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    before = {n: host(p).copy() for n, p in model.named_parameters()}
    for n, a in sd.items():
        assert type(a) is np.ndarray
        np.testing.assert_array_equal(a, before[n])
        a[...] = 42.0
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(host(p), before[n])


def test_load_state_dict_round_trip():
    npgan.manual_seed(1)
    src = make_mlp()
    npgan.manual_seed(2)
    dst = make_mlp()
    assert not np.array_equal(host(src[0].weight), host(dst[0].weight))
    params_before = list(dst.parameters())
    sd = src.state_dict()
    dst.load_state_dict(sd)
    for (n, a), (m, b) in zip(src.named_parameters(), dst.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(host(a), host(b))
        assert b.dtype == a.dtype
    assert all(a is b for a, b in zip(params_before, dst.parameters())), "same Parameter objects"
    sd["0.weight"][...] = 9.0  # the model copied, it does not alias the dict
    assert not (host(dst[0].weight) == 9.0).any()
    x = npgan.tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32))
    np.testing.assert_array_equal(host(src(x)), host(dst(x)))


def test_load_state_dict_casts_to_parameter_dtype():
    model = make_mlp()
    sd = {n: a.astype(np.float64) for n, a in make_mlp().state_dict().items()}
    model.load_state_dict(sd)
    assert all(p.dtype == np.float32 for p in model.parameters())
    np.testing.assert_array_equal(host(model[0].weight), sd["0.weight"].astype(np.float32))


def _other_values():
    npgan.manual_seed(123)
    return make_mlp().state_dict()


@pytest.mark.parametrize("edit, words", [
    (lambda sd: sd.pop("2.bias"), ["missing", "2.bias"]),
    (lambda sd: sd.__setitem__("3.weight", np.zeros((1, 3), np.float32)), ["unexpected", "3.weight"]),
    (lambda sd: sd.__setitem__("0.weight", np.zeros((4, 2), np.float32)),
     ["shape", "0.weight", "(4, 2)", "(3, 2)"]),
])
def test_load_state_dict_mismatch_lists_differences_and_changes_nothing(edit, words):
    model = make_mlp()
    before = {n: host(p).copy() for n, p in model.named_parameters()}
    sd = _other_values()  # valid entries with different values: a partial load would show
    edit(sd)
    with pytest.raises(ValueError) as info:
        model.load_state_dict(sd)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(host(p), before[n])


def test_load_state_dict_reports_every_difference():
    model = make_mlp()
    other = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1), nn.Linear(1, 1))
    with pytest.raises(ValueError) as info:
        model.load_state_dict(other.state_dict())
    msg = str(info.value)
    for w in ["unexpected", "3.weight", "3.bias", "0.weight", "(5, 2)", "2.weight"]:
        assert w in msg, (w, msg)


# --- construction errors and repr -------------------------------------------------------

def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()

    with pytest.raises(RuntimeError, match=r"Bad: call super\(\).__init__\(\) before assigning"):
        Bad()


def test_forward_not_defined():
    class Empty(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        Empty()(npgan.tensor([1.0]))


def test_sequential_repr_shows_layers():
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Dropout(0.25),
                          nn.Linear(3, 1, bias=False), nn.Sigmoid())
    text = repr(model)
    assert text.startswith("Sequential(")
    for line in ["(0): Linear(in_features=2, out_features=3, bias=True)",
                 "(1): LeakyReLU(negative_slope=0.2)",
                 "(2): Dropout(p=0.25)",
                 "(3): Linear(in_features=3, out_features=1, bias=False)",
                 "(4): Sigmoid()"]:
        assert line in text, text
    assert text.index("(0)") < text.index("(1)") < text.index("(4)")


def test_nested_repr_indents_children():
    text = repr(Net())
    assert "(body): Sequential(" in text
    assert "    (0): Linear(in_features=2, out_features=4, bias=True)" in text
    assert "(head): Linear(in_features=4, out_features=1, bias=True)" in text


# --- buffers: state saved with a module, not trained ----------------------------------

class RunningMean(nn.Module):
    """A layer with a buffer, as batch norm's running mean will be."""

    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.register_buffer("mean", np.zeros(n, dtype=np.float32))

    def forward(self, x):
        with npgan.no_grad():
            self.mean = 0.9 * self.mean.data + 0.1 * x.data.mean(axis=0)
        return self.fc(x)


def test_buffers_are_in_state_dict_and_not_in_parameters():
    net = nn.Sequential(RunningMean(3), nn.Tanh())
    assert [n for n, _ in net.named_buffers()] == ["0.mean"]
    assert "0.mean" not in dict(net.named_parameters())
    assert len(list(net.parameters())) == 2 and len(list(net.buffers())) == 1
    assert list(net.state_dict()) == ["0.fc.weight", "0.fc.bias", "0.mean"]
    assert isinstance(net[0].mean, npgan.Tensor) and not net[0].mean.requires_grad


def test_assigning_a_buffer_keeps_it_a_buffer_and_load_state_dict_restores_it():
    npgan.manual_seed(0)
    net = RunningMean(3)
    net(npgan.tensor(np.ones((4, 3), dtype=np.float32)))
    saved = net.state_dict()
    np.testing.assert_allclose(saved["mean"], np.full(3, 0.1, dtype=np.float32))
    other = RunningMean(3)
    other.load_state_dict(saved)
    np.testing.assert_array_equal(other.mean.numpy(), saved["mean"])
    assert other.mean.dtype == np.float32
    del saved["mean"]
    with pytest.raises(ValueError, match="missing keys \\['mean'\\]"):
        other.load_state_dict(saved)


def test_register_buffer_refuses_a_taken_or_dotted_name():
    net = RunningMean(2)
    with pytest.raises(ValueError, match="already a parameter"):
        net.register_buffer("fc", np.zeros(2))
    with pytest.raises(ValueError, match="without '.'"):
        net.register_buffer("a.b", np.zeros(2))
