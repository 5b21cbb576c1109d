"""WGAN / WGAN-GP objectives and R1: closed forms, clipping in place, and the penalties'
second-order gradients against central finite differences (float64) and PyTorch."""
import math

import numpy as np
import pytest

import npgan
from npgan import activations, backend, nn, objectives, optim, ops
from npgan.gan import GANTrainer
from npgan import random as nprandom


def t64(array, requires_grad=False):
    return npgan.tensor(array, requires_grad=requires_grad, dtype="float64")


# --- Wasserstein losses: closed forms ------------------------------------------

def test_wasserstein_losses_closed_form(backend_name):
    a = t64([[1.0], [2.0], [6.0]], requires_grad=True)      # mean 3
    b = t64([[-1.0], [0.5]], requires_grad=True)            # mean -0.25
    d = objectives.wasserstein_critic_loss(a, b)
    assert d.item() == pytest.approx(-0.25 - 3.0, abs=1e-15)
    d.backward()
    assert backend.to_numpy(a.grad.data).ravel().tolist() == pytest.approx([-1 / 3] * 3)
    assert backend.to_numpy(b.grad.data).ravel().tolist() == pytest.approx([0.5, 0.5])
    b.grad = None
    g = objectives.wasserstein_generator_loss(b)
    assert g.item() == pytest.approx(0.25, abs=1e-15)
    g.backward()
    assert backend.to_numpy(b.grad.data).ravel().tolist() == pytest.approx([-0.5, -0.5])


def test_get_objective_table_and_errors():
    gan, ns = objectives.get_objective("gan"), objectives.get_objective("ns")
    assert gan.g_loss is npgan.losses.minimax_generator_loss
    assert ns.g_loss is npgan.losses.nonsaturating_generator_loss
    assert gan.clip is None and gan.penalty_weight is None and gan.scores_are_logits
    w = objectives.get_objective("wgan")
    assert w.clip == 0.01 and w.penalty_weight is None and not w.scores_are_logits
    gp = objectives.get_objective("wgan-gp", penalty_weight=5.0)
    assert gp.penalty_weight == 5.0 and gp.clip is None
    nsgp = objectives.get_objective("ns-gp", penalty_weight=1.0)
    assert nsgp.g_loss is npgan.losses.nonsaturating_generator_loss
    assert nsgp.d_loss is npgan.losses.discriminator_loss
    assert nsgp.penalty_weight == 1.0 and nsgp.clip is None and nsgp.scores_are_logits
    with pytest.raises(ValueError, match="must be one of .*'wgan-gp'.*got 'lsgan'"):
        objectives.get_objective("lsgan")
    with pytest.raises(ValueError, match="clip must be > 0"):
        objectives.get_objective("wgan", clip=0)
    with pytest.raises(ValueError, match="penalty_weight must be >= 0"):
        objectives.get_objective("wgan-gp", penalty_weight=-1)
    r1 = objectives.get_objective("ns-r1", r1_weight=2.0, r1_every=4)
    assert r1.d_loss is npgan.losses.discriminator_loss
    assert r1.g_loss is npgan.losses.nonsaturating_generator_loss
    assert (r1.r1_weight, r1.r1_every, r1.penalty_weight, r1.clip) == (2.0, 4, None, None)
    assert objectives.get_objective("ns").r1_weight is None
    assert "r1_weight=2.0, r1_every=4" in repr(r1)
    with pytest.raises(ValueError, match="r1_weight must be >= 0"):
        objectives.get_objective("ns-r1", r1_weight=-0.5)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="r1_every must be a positive int"):
            objectives.get_objective("ns-r1", r1_every=bad)


# --- weight clipping -------------------------------------------------------------

def test_clip_weights_in_place_and_optimizer_keeps_working(backend_name):
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    opt = optim.RMSprop(D.parameters(), lr=5e-5)
    x = nprandom.randn(32, 2)
    for _ in range(2):
        opt.zero_grad()
        D(x).mean().backward()
        opt.step()
    params = list(D.parameters())
    arrays = [p.data for p in params]
    before = [backend.to_numpy(p.data).copy() for p in params]
    flat = opt._flat["param"]
    objectives.clip_weights_(params, 0.01)
    for p, arr, old in zip(params, arrays, before):
        assert p.data is arr                                  # same array: clipped in place
        new = backend.to_numpy(p.data)
        assert float(abs(new).max()) <= 0.01
        assert (new == old.clip(-0.01, 0.01)).all()
    # still views of the optimizer's flat buffer: one more step moves them, no rebuild
    assert float(abs(backend.to_numpy(flat)).max()) <= 0.01
    opt.zero_grad()
    D(x).mean().backward()
    opt.step()
    assert opt._flat["param"] is flat
    assert all(p.data is arr for p, arr in zip(params, arrays))
    moved = sum(float(abs(backend.to_numpy(p.data) - old.clip(-0.01, 0.01)).max())
                for p, old in zip(params, before))
    assert moved > 0


def test_clip_weights_errors():
    p = list(nn.Linear(2, 2).parameters())
    with pytest.raises(ValueError, match="clip must be > 0, got -0.1"):
        objectives.clip_weights_(p, -0.1)
    with pytest.raises(TypeError, match="expected Tensors"):
        objectives.clip_weights_([[1.0, 2.0]], 0.1)


# --- gradient penalty ------------------------------------------------------------

def test_penalty_of_a_linear_critic_is_closed_form(backend_name):
    """D(x) = w.x + b has gradient w everywhere: penalty = lambda (||w|| - 1)^2 exactly."""
    npgan.set_default_dtype("float64")
    D = nn.Linear(3, 1)
    w = backend.to_numpy(D.weight.data).ravel()
    real, fake = nprandom.randn(16, 3), nprandom.randn(16, 3)
    pen = objectives.gradient_penalty(D, real, fake, weight=10.0)
    norm = math.sqrt(float((w * w).sum()))
    assert pen.item() == pytest.approx(10 * (norm - 1) ** 2, rel=1e-10)  # NORM_EPS: ~1e-12
    # d/dw of lambda (||w|| - 1)^2 = 2 lambda (||w|| - 1) w / ||w||; the bias gets none
    pen.backward()
    expected = 2 * 10 * (norm - 1) * w / norm
    assert backend.to_numpy(D.weight.grad.data).ravel() == pytest.approx(expected, rel=1e-9)
    assert D.bias.grad is None or float(abs(backend.to_numpy(D.bias.grad.data)).max()) == 0.0


def test_penalty_of_a_packed_linear_critic_is_per_pack(backend_name):
    """Packed(m=2) over D(p) = w.p, p = two 2-D samples side by side: the gradient with respect
    to a pack is w (4 numbers), so penalty = lambda (||w|| - 1)^2, not a per-sample norm."""
    npgan.set_default_dtype("float64")
    D = nn.Linear(4, 1)
    w = backend.to_numpy(D.weight.data).ravel()
    real, fake = nprandom.randn(16, 2), nprandom.randn(16, 2)
    pen = objectives.gradient_penalty(npgan.gan.Packed(D, 2), real, fake, weight=3.0)
    norm = math.sqrt(float((w * w).sum()))
    assert pen.item() == pytest.approx(3 * (norm - 1) ** 2, rel=1e-10)


def test_penalty_interpolates_with_given_eps(backend_name):
    """With a quadratic critic D(x) = ||x||^2 / 2, grad = x_hat, so the penalty pins eps."""
    npgan.set_default_dtype("float64")
    real = t64([[3.0, 4.0], [0.0, 2.0]])
    fake = t64([[0.0, 0.0], [0.0, 0.0]])
    eps = t64([0.2, 1.0])
    # x_hat = (0.6, 0.8) -> norm 1 -> 0;  (0, 2) -> norm 2 -> 1;  mean 0.5
    pen = objectives.gradient_penalty(lambda x: 0.5 * (x * x).sum(axis=1), real, fake,
                                      weight=2.0, eps=eps)
    assert pen.item() == pytest.approx(2.0 * 0.5, rel=1e-10)
    x_hat = objectives.interpolate(real, fake, eps)
    assert backend.to_numpy(x_hat.data).ravel().tolist() == pytest.approx([0.6, 0.8, 0.0, 2.0])
    assert x_hat.requires_grad and x_hat.is_leaf


def test_penalty_gradient_is_finite_where_the_critic_is_flat(backend_name):
    npgan.set_default_dtype("float64")
    pen = objectives.gradient_penalty(lambda x: (x * 0.0).sum(axis=1), nprandom.randn(4, 2),
                                      nprandom.randn(4, 2), weight=1.0)
    assert pen.item() == pytest.approx(1.0, abs=1e-5)   # (0 - 1)^2 (up to sqrt(NORM_EPS))


ACTIVATIONS = {
    "leaky_relu": lambda h: activations.leaky_relu(h, 0.2),
    "elu": activations.elu,
    "tanh": activations.tanh,
    "sigmoid": activations.sigmoid,
    "softplus": activations.softplus,
}


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_penalty_gradient_wrt_critic_parameters_matches_finite_differences(backend_name, act):
    """Double backprop through Linear and the activation: d penalty / d theta by central differences."""
    npgan.set_default_dtype("float64")
    f = ACTIVATIONS[act]
    params = [t64(nprandom.randn(5, 2).data * 0.8, True), t64(nprandom.randn(5).data * 0.5, True),
              t64(nprandom.randn(1, 5).data * 0.8, True), t64(nprandom.randn(1).data, True)]
    real, fake = nprandom.randn(6, 2), nprandom.randn(6, 2) + 1.0
    eps = nprandom.rand(6, 1)
    if act == "leaky_relu":  # keep every pre-activation away from the kink at 0
        x_hat = objectives.interpolate(real, fake, eps).data
        pre = backend.to_numpy(x_hat @ params[0].data.T + params[1].data)
        assert float(abs(pre).min()) > 1e-3

    def penalty(W1, b1, W2, b2):
        critic = lambda x: ops.linear(f(ops.linear(x, W1, b1)), W2, b2)  # noqa: E731
        return objectives.gradient_penalty(critic, real, fake, weight=10.0, eps=eps)

    assert npgan.gradcheck(penalty, params, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_penalty_gradient_through_nn_modules_matches_finite_differences(backend_name):
    """The same check through nn.Linear / nn.LeakyReLU / nn.ELU modules (the fused Linear op)."""
    npgan.set_default_dtype("float64")
    D = nn.Sequential(nn.Linear(2, 6), nn.LeakyReLU(0.2), nn.Linear(6, 6), nn.ELU(), nn.Linear(6, 1))
    real, fake, eps = nprandom.randn(5, 2), nprandom.randn(5, 2), nprandom.rand(5, 1)
    params = list(D.parameters())  # gradcheck perturbs these very tensors in place
    assert npgan.gradcheck(lambda *ps: objectives.gradient_penalty(D, real, fake, eps=eps), params,
                           eps=1e-6, atol=1e-6, rtol=1e-5)
    objectives.gradient_penalty(D, real, fake, eps=eps).backward()
    assert float(abs(backend.to_numpy(params[0].grad.data)).max()) > 1e-3  # a non-trivial check


def test_penalty_errors():
    D = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="weight must be >= 0"):
        objectives.gradient_penalty(D, nprandom.randn(3, 2), nprandom.randn(3, 2), weight=-1)
    with pytest.raises(ValueError, match=r"real of shape \(3, 2\) and fake of shape \(4, 2\)"):
        objectives.gradient_penalty(D, nprandom.randn(3, 2), nprandom.randn(4, 2))
    with pytest.raises(ValueError, match="one value per sample"):
        objectives.interpolate(nprandom.randn(3, 2), nprandom.randn(3, 2), nprandom.rand(2, 1))


# --- R1 -------------------------------------------------------------------------------------

def test_r1_of_a_linear_critic_is_closed_form(backend_name):
    """D(x) = w.x + b has gradient w at every x: R1 = (gamma / 2) ||w||^2, d/dw = gamma w."""
    npgan.set_default_dtype("float64")
    D = nn.Linear(3, 1)
    w = backend.to_numpy(D.weight.data).ravel()
    pen = objectives.r1_penalty(D, nprandom.randn(8, 3), weight=3.0)
    assert pen.item() == pytest.approx(1.5 * float((w * w).sum()), rel=1e-12)
    pen.backward()
    assert backend.to_numpy(D.weight.grad.data).ravel() == pytest.approx(3.0 * w, rel=1e-12)


def test_r1_of_a_quadratic_critic_is_half_the_mean_squared_norm(backend_name):
    """D(x) = ||x||^2 / 2 has gradient x: R1 = (gamma / 2) mean_i ||x_i||^2, on the REAL rows."""
    npgan.set_default_dtype("float64")
    real = t64([[3.0, 4.0], [0.0, 2.0]])          # squared norms 25 and 4: mean 14.5
    pen = objectives.r1_penalty(lambda x: 0.5 * (x * x).sum(axis=1), real, weight=0.5)
    assert pen.item() == pytest.approx(0.25 * 14.5, rel=1e-14)
    assert not real.requires_grad                 # the caller's batch is left alone


def test_r1_gradient_through_nn_modules_matches_finite_differences(backend_name):
    npgan.set_default_dtype("float64")
    D = nn.Sequential(nn.Linear(2, 6), nn.ELU(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 1))
    real = nprandom.randn(5, 2)
    params = list(D.parameters())
    assert npgan.gradcheck(lambda *ps: objectives.r1_penalty(D, real, weight=2.0), params,
                           eps=1e-6, atol=1e-6, rtol=1e-5)


def test_r1_through_a_conv_batchnorm_critic_matches_torch():
    """The DCGAN D of examples/dcgan.py in miniature, batch norm in training mode: R1's
    value and its gradients for every parameter equal PyTorch's create_graph=True path."""
    torch = pytest.importorskip("torch")
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(4)

    def net(m):
        return m.Sequential(m.Conv2d(1, 3, 4, stride=2, padding=1), m.BatchNorm2d(3),
                            m.LeakyReLU(0.2), m.Flatten(), m.Linear(3 * 4 * 4, 1))
    ours, theirs = net(nn), net(torch.nn).double()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        value = rng.standard_normal(tuple(q.shape))
        p.data[...] = value
        with torch.no_grad():
            q.copy_(torch.tensor(value))
    x = rng.standard_normal((5, 1, 8, 8))
    mine = objectives.r1_penalty(ours, t64(x), weight=10.0)
    mine.backward()
    tx = torch.tensor(x, requires_grad=True)
    tg, = torch.autograd.grad(theirs(tx).sum(), [tx], create_graph=True)
    tpen = 5.0 * (tg.reshape(5, -1) ** 2).sum(1).mean()
    tpen.backward()
    assert mine.item() == pytest.approx(tpen.item(), rel=1e-10)
    # the last bias does not move any gradient: no grad in either (None), or zeros
    grads = [(np.zeros(p.shape) if p.grad is None else p.grad.numpy(),
              np.zeros(tuple(q.shape)) if q.grad is None else q.grad.numpy())
             for p, q in zip(ours.parameters(), theirs.parameters())]
    for a, t in grads:
        np.testing.assert_allclose(a, t, rtol=1e-9, atol=1e-12)
    assert sum(float(np.abs(a).max()) > 1e-3 for a, _ in grads) == 3  # conv, BN, Linear weights


def test_r1_errors():
    with pytest.raises(ValueError, match="r1_penalty: weight must be >= 0"):
        objectives.r1_penalty(nn.Linear(2, 1), nprandom.randn(3, 2), weight=-1)


def test_trainer_adds_lazy_r1_on_every_kth_step_k_times_as_strong(monkeypatch):
    """R1 stood in for by a constant 0.25 (no gradient: the training is the plain "ns" one):
    the reported D loss carries 4 x 0.25 on steps 0 and 4 of 8 and nothing elsewhere."""
    calls = []

    def constant_r1(D, real, weight):
        calls.append(weight)
        return npgan.tensor(0.25)
    monkeypatch.setattr(objectives, "r1_penalty", constant_r1)
    losses = {}
    for name in ("ns", "ns-r1"):
        npgan.manual_seed(0)
        tr = _trainer(objectives.get_objective(name, r1_weight=7.0, r1_every=4))
        tr.train(8)
        losses[name] = tr.history["d_loss"]
    assert calls == [7.0, 7.0]
    extra = [r1 - ns for ns, r1 in zip(losses["ns"], losses["ns-r1"])]
    assert extra == pytest.approx([1.0, 0, 0, 0, 1.0, 0, 0, 0], abs=1e-6)


# --- the trainer with these objectives --------------------------------------------

def _trainer(objective, **kw):
    G = nn.Sequential(nn.Linear(2, 8), nn.ELU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    return GANTrainer(G, D, optim.Adam(G.parameters(), 1e-3), optim.RMSprop(D.parameters(), 5e-5),
                      sample_real=lambda n: npgan.datasets.ring(n),
                      sample_noise=lambda n: nprandom.randn(n, 2),
                      objective=objective, batch_size=16, **kw)


@pytest.mark.parametrize("name", list(objectives.OBJECTIVE_NAMES))
def test_trainer_runs_every_objective(backend_name, name):
    tr = _trainer(name, d_steps=5)
    before_g, before_d = [p.numpy() for p in tr.G.parameters()], [p.numpy() for p in tr.D.parameters()]
    tr.train(3)
    assert tr.g_loss_name == name and len(tr.history["d_loss"]) == 3
    assert all(math.isfinite(v) for v in tr.history["d_loss"] + tr.history["g_loss"])
    # both networks were trained
    for before, net in ((before_g, tr.G), (before_d, tr.D)):
        assert any(not np.array_equal(b, p.numpy()) for b, p in zip(before, net.parameters()))
    h = tr.history
    if name in ("gan", "ns", "ns-gp", "ns-r1"):  # D's mean beliefs are probabilities; BCE losses
        assert all(0 < v < 1 for v in h["d_real"] + h["d_fake"])
        assert all(v > 0 for v in h["d_loss"])
        if name == "gan":  # minimax: mean log(1 - D(G(z))) < 0
            assert all(v < 0 for v in h["g_loss"])
        else:              # non-saturating: -mean log D(G(z)) > 0
            assert all(v > 0 for v in h["g_loss"])
    else:  # a critic: d_loss = mean D(G(z)) - mean D(x) (+ a penalty >= 0 for wgan-gp)
        for loss, real, fake in zip(h["d_loss"], h["d_real"], h["d_fake"]):
            if name == "wgan":
                assert loss == pytest.approx(fake - real, abs=1e-6)
            else:
                assert loss >= fake - real - 1e-6
    if name == "wgan":
        assert max(float(abs(backend.to_numpy(p.data)).max()) for p in tr.D.parameters()) <= 0.01


def test_trainer_wgan_critic_counts_and_reported_scores():
    tr = _trainer("wgan", d_steps=5)
    calls = []
    d_step = tr.d_step
    tr.d_step = lambda: calls.append(1) or d_step()
    stats = tr.step()
    assert len(calls) == 5
    # d_real / d_fake are the raw mean scores, and d_loss = d_fake - d_real
    assert stats["d_loss"] == pytest.approx(stats["d_fake"] - stats["d_real"], abs=1e-6)


def test_trainer_objective_errors():
    with pytest.raises(ValueError, match="must be one of"):
        _trainer("hinge")
    with pytest.raises(TypeError, match="objective must be a name"):
        _trainer(3)
