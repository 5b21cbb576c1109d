"""Dtype discipline: float32 in, float32 throughout (and float64 likewise), on every backend.

A float64 array anywhere in a float32 model (a Python scalar promoted by
numpy, a float64 noise sample, a float64 optimizer buffer) doubles memory
traffic and silently changes results; these tests look at every array a
short GAN run touches.
"""
import numpy as np
import pytest

import npgan
from npgan import activations, backend, losses, nn, optim
from npgan.gan import GANTrainer

DTYPES = ["float32", "float64"]


def _on(backend_name, t):
    """The array behind ``t`` lives on ``backend_name``."""
    return backend.backend_name(t.data if isinstance(t, npgan.Tensor) else t) == backend_name


def make_nets():
    G = nn.Sequential(nn.Linear(1, 8), nn.ELU(), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 1))
    D = nn.Sequential(nn.Linear(1, 8), nn.ELU(), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 1))
    return G, D


def layer_by_layer(model, x):
    """Every activation of a forward pass through a Sequential, input first."""
    acts = [x]
    for layer in model:
        acts.append(layer(acts[-1]))
    return acts


@pytest.mark.parametrize("dtype", DTYPES)
def test_gan_training_stays_in_default_dtype(backend_name, dtype, monkeypatch):
    npgan.set_default_dtype(dtype)
    npgan.manual_seed(0)
    want = np.dtype(dtype)
    G, D = make_nets()
    g_opt = optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))

    seen = []  # (what, dtype, backend) of every tensor handed across the trainer's seams

    def record(what, t):
        seen.append((what, t.dtype, backend.backend_name(t.data)))
        return t

    def sample_real(n):
        return record("real", npgan.random.normal(4.0, 1.25, (n, 1)))

    def sample_noise(n):
        return record("noise", npgan.random.rand(n, 1))

    d_loss_fn = npgan.gan.objectives.discriminator_loss

    def d_loss(real_logits, fake_logits):
        record("real_logits", real_logits)
        record("fake_logits", fake_logits)
        return record("d_loss", d_loss_fn(real_logits, fake_logits))

    monkeypatch.setattr(npgan.gan.objectives, "discriminator_loss", d_loss)
    trainer = GANTrainer(G, D, g_opt, d_opt, sample_real, sample_noise, batch_size=32)
    g_loss_fn = trainer.g_loss_fn
    trainer.g_loss_fn = lambda logits: record("g_loss", g_loss_fn(record("g_logits", logits)))

    for _ in range(3):
        stats = trainer.step()
    assert all(isinstance(stats[k], float) and np.isfinite(stats[k])
               for k in ("d_loss", "g_loss", "d_real", "d_fake"))

    kinds = {what for what, _, _ in seen}
    assert kinds == {"real", "noise", "real_logits", "fake_logits", "d_loss", "g_loss", "g_logits"}
    bad = [(w, d, b) for w, d, b in seen if d != want or b != backend_name]
    assert not bad, bad

    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.dtype == want, name
            assert _on(backend_name, p), name
            assert p.grad is not None, f"{name} has no gradient after a training step"
            assert p.grad.dtype == want, name
            assert _on(backend_name, p.grad), name
    for opt in (g_opt, d_opt):
        assert opt.steps == 3
        for st, p in zip(opt.state, opt.params):
            for k, a in ((n, st[n]) for n in opt.state_names):
                assert a is not None, k
                assert a.dtype == want, k
                assert a.shape == p.shape, k
                assert _on(backend_name, a), k

    # a fresh forward and backward: every activation and its gradient
    z = npgan.random.rand(16, 1)
    g_acts = layer_by_layer(G, z)
    d_acts = layer_by_layer(D, g_acts[-1])
    loss = losses.nonsaturating_generator_loss(d_acts[-1])
    assert loss.dtype == want
    for a in g_acts + d_acts:
        assert a.dtype == want and _on(backend_name, a)
    intermediates = g_acts[1:] + d_acts[1:]
    for g in npgan.grad(loss, intermediates):
        assert g.dtype == want and _on(backend_name, g)
    for loss in (losses.discriminator_loss(D(sample_real(8)), D(G(z))),
                 losses.minimax_generator_loss(D(G(z)))):
        assert loss.dtype == want

    with npgan.no_grad():
        samples = G(npgan.random.rand(64, 1))
    assert samples.dtype == want and samples.shape == (64, 1)
    assert _on(backend_name, samples)


def test_trainer_run_keeps_float32_after_float64_default_elsewhere(backend_name):
    """A float32 model stays float32 even when the default changes after it is built."""
    G, D = make_nets()
    npgan.set_default_dtype("float64")
    # the data and noise samplers ask for float32 explicitly, the model is float32
    trainer = GANTrainer(G, D, optim.RMSprop(G.parameters(), lr=1e-3),
                         optim.SGD(D.parameters(), lr=1e-3, momentum=0.9),
                         lambda n: npgan.random.normal(4.0, 1.25, (n, 1), dtype="float32"),
                         lambda n: npgan.random.rand(n, 1, dtype="float32"), batch_size=16)
    for _ in range(2):
        trainer.step()
    for p in list(G.parameters()) + list(D.parameters()):
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    for opt in (trainer.g_optimizer, trainer.d_optimizer):
        for st in opt.state:
            assert all(st[n].dtype == np.float32 for n in opt.state_names)


# --- single ops with Python scalars, reductions and activations ----------------------------

UNARY = {
    "t * 0.5": lambda t: t * 0.5,
    "0.5 * t": lambda t: 0.5 * t,
    "0.5 - t": lambda t: 0.5 - t,
    "t - 0.5": lambda t: t - 0.5,
    "t + 1": lambda t: t + 1,
    "t / 3": lambda t: t / 3,
    "2.0 / (t + 3)": lambda t: 2.0 / (t + 3),
    "t ** 2": lambda t: t ** 2,
    "t ** 0.5": lambda t: (t + 3) ** 0.5,
    "-t": lambda t: -t,
    "mean": lambda t: t.mean(),
    "mean axis 0": lambda t: t.mean(axis=0),
    "sum": lambda t: t.sum(),
    "exp": lambda t: npgan.ops.exp(t),
    "log": lambda t: npgan.ops.log(t + 3),
    "sigmoid": activations.sigmoid,
    "tanh": activations.tanh,
    "relu": activations.relu,
    "leaky_relu": lambda t: activations.leaky_relu(t, 0.2),
    "elu": activations.elu,
    "softplus": activations.softplus,
    "dropout": lambda t: activations.dropout(t, 0.3, True),
    "nn.ELU": lambda t: nn.ELU(0.5)(t),
    "nn.LeakyReLU": lambda t: nn.LeakyReLU(0.1)(t),
    "nn.Sigmoid": lambda t: nn.Sigmoid()(t),
    "nn.Tanh": lambda t: nn.Tanh()(t),
    "nn.ReLU": lambda t: nn.ReLU()(t),
    "nn.Dropout": lambda t: nn.Dropout(0.5)(t),
    "transpose @": lambda t: t.T @ t,
    "bce_with_logits": lambda t: losses.binary_cross_entropy_with_logits(t, t * 0.0 + 1.0),
    "bce": lambda t: losses.binary_cross_entropy(activations.sigmoid(t), t * 0.0 + 0.25),
    "mse": lambda t: losses.mse_loss(t, t * 0.5),
}

COMBOS = [("float32", "float32"), ("float32", "float64"), ("float64", "float64"),
          ("float64", "float32")]


def _input(dtype, requires_grad=False):
    x = np.linspace(-2.0, 2.0, 12).reshape(4, 3) + 0.05  # no exact zeros (relu kink)
    return npgan.tensor(x.astype(dtype), requires_grad=requires_grad)


@pytest.mark.parametrize("tensor_dtype, default_dtype", COMBOS)
@pytest.mark.parametrize("name", list(UNARY))
def test_op_keeps_tensor_dtype_forward_and_backward(backend_name, name, tensor_dtype, default_dtype):
    """The tensor's dtype wins over Python scalars and over the default dtype."""
    npgan.set_default_dtype(default_dtype)
    want = np.dtype(tensor_dtype)
    x = _input(tensor_dtype, requires_grad=True)
    assert x.dtype == want and _on(backend_name, x)
    y = UNARY[name](x)
    assert y.dtype == want, f"{name}: {y.dtype}"
    assert _on(backend_name, y)
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == want, f"{name}: grad {x.grad.dtype}"
    assert _on(backend_name, x.grad)


def test_scalar_ops_compute_the_right_values(backend_name):
    """Keeping the dtype must not change the arithmetic (checked against numpy in float64)."""
    x = _input("float32")
    ref = x.numpy().astype(np.float64)
    cases = {
        "t * 0.5": ref * 0.5, "0.5 - t": 0.5 - ref, "t ** 2": ref ** 2,
        "mean": ref.mean(), "sigmoid": 1 / (1 + np.exp(-ref)),
        "elu": np.where(ref > 0, ref, np.expm1(np.minimum(ref, 0))),
        "softplus": np.log1p(np.exp(ref)), "2.0 / (t + 3)": 2.0 / (ref + 3),
    }
    for name, expected in cases.items():
        got = UNARY[name](x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=2e-6, atol=2e-7, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_through_a_chain_of_ops_keeps_dtype(backend_name, dtype):
    npgan.set_default_dtype("float64" if dtype == "float32" else "float32")  # the other one
    want = np.dtype(dtype)
    x = _input(dtype, requires_grad=True)
    w = npgan.tensor(np.full((3, 2), 0.3, dtype=dtype), requires_grad=True)
    h = activations.elu(x @ w * 0.5 + 0.1)
    h = activations.leaky_relu(0.5 - h, 0.2) ** 2
    loss = activations.softplus(h).mean() + (activations.sigmoid(x) * 2.0).sum() / 7
    assert loss.dtype == want
    loss.backward()
    assert x.grad.dtype == want and w.grad.dtype == want
    assert _on(backend_name, x.grad) and _on(backend_name, w.grad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_layer_and_optimizer_keep_dtype(backend_name, dtype):
    npgan.set_default_dtype(dtype)
    want = np.dtype(dtype)
    layer = nn.Linear(3, 2)
    opts = [optim.SGD(layer.parameters(), lr=0.1, momentum=0.9),
            optim.Adam(layer.parameters(), lr=0.1),
            optim.RMSprop(layer.parameters(), lr=0.1)]
    for opt in opts:
        opt.zero_grad()
        losses.mse_loss(layer(_input(dtype)), npgan.tensor(np.zeros((4, 2), dtype=dtype))).backward()
        opt.step()
        for p in layer.parameters():
            assert p.dtype == want and p.grad.dtype == want
        for st in opt.state:
            for a in (st[n] for n in opt.state_names):
                assert a.dtype == want and _on(backend_name, a)
