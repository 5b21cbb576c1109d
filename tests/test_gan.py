"""GANTrainer's optional aids: the learning-rate schedule and the moving average of G's weights."""
import numpy as np
import pytest

import npgan
from npgan import nn, optim
from npgan import random as nprandom
from npgan.gan import ExponentialMovingAverage, GANTrainer, Packed, linear_decay


def make_trainer(**kwargs):
    G = nn.Sequential(nn.Linear(1, 8), nn.ELU(), nn.Linear(8, 1))
    D = nn.Sequential(nn.Linear(1, 8), nn.ELU(), nn.Linear(8, 1))
    return GANTrainer(G, D, optim.Adam(G.parameters(), lr=1e-3), optim.Adam(D.parameters(), lr=4e-3),
                      sample_real=lambda n: nprandom.normal(4.0, 1.25, (n, 1)),
                      sample_noise=lambda n: nprandom.rand(n, 1), batch_size=16, **kwargs)


def params(module):
    return [p.numpy() for p in module.parameters()]


def test_linear_decay_goes_from_one_to_final():
    s = linear_decay(0.1)
    assert s(0, 11) == pytest.approx(1.0)
    assert s(5, 11) == pytest.approx(0.55)
    assert s(10, 11) == pytest.approx(0.1)
    assert linear_decay()(0, 1) == 1.0  # a one-step run keeps the initial rate
    with pytest.raises(ValueError, match="final"):
        linear_decay(1.5)


def test_ema_without_warmup_is_the_exponential_average():
    model = nn.Linear(2, 3)
    ema = ExponentialMovingAverage(model, decay=0.9, warmup=False)
    start = params(model)
    assert all(not p.requires_grad for p in ema.module.parameters())
    for p in model.parameters():
        p.data += 1.0
    ema.update()
    for avg, s0 in zip(params(ema.module), start):
        np.testing.assert_allclose(avg, s0 + 0.1, rtol=1e-6, atol=1e-6)
    # the average is a separate copy: changing the source again does not alias it
    for p in model.parameters():
        p.data += 1.0
    for avg, s0 in zip(params(ema.module), start):
        np.testing.assert_allclose(avg, s0 + 0.1, rtol=1e-6, atol=1e-6)


def test_ema_warmup_forgets_the_start_quickly():
    model = nn.Linear(1, 1)
    ema = ExponentialMovingAverage(model, decay=0.999)
    start = params(model)
    for p in model.parameters():
        p.data += 1.0
    ema.update()  # beta = min(0.999, 2 / 11)
    for avg, s0 in zip(params(ema.module), start):
        np.testing.assert_allclose(avg, s0 + 9 / 11, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(model, decay=1.0)


def _set(module, w, b):
    module.weight.data[...] = w
    module.bias.data[...] = b


@pytest.mark.parametrize("decay, warmup", [(0.9, True), (0.5, False), (0.2, True)])
def test_ema_is_the_closed_form_average_of_a_known_sequence(decay, warmup):
    """After updates t = 1..n with parameters theta_t (theta_0 the start), the docstring's rule
    avg_t = beta_t avg_(t-1) + (1 - beta_t) theta_t, beta_t = min(decay, (1 + t) / (10 + t))
    (decay alone without warmup), unrolls to
    avg_n = (prod_t beta_t) theta_0 + sum_k (1 - beta_k) (prod_(t > k) beta_t) theta_k."""
    from fractions import Fraction as Fr
    model = nn.Linear(1, 1, dtype="float64")
    seq = [(2.0, -1.0), (3.0, 0.5), (-1.0, 4.0), (0.25, 0.0), (5.0, -2.0)]  # theta_0 .. theta_4
    _set(model, *seq[0])
    ema = ExponentialMovingAverage(model, decay=decay, warmup=warmup)
    for theta in seq[1:]:
        _set(model, *theta)
        ema.update()
    n = len(seq) - 1
    d = Fr(decay)
    betas = {t: min(d, Fr(1 + t, 10 + t)) if warmup else d for t in range(1, n + 1)}

    def prod(ts):
        out = Fr(1)
        for t in ts:
            out *= betas[t]
        return out

    for j, name in enumerate(["weight", "bias"]):
        expected = prod(range(1, n + 1)) * Fr(seq[0][j]) + sum(
            (1 - betas[k]) * prod(range(k + 1, n + 1)) * Fr(seq[k][j]) for k in range(1, n + 1))
        got = getattr(ema.module, name).numpy().item()
        assert got == pytest.approx(float(expected), rel=1e-13, abs=1e-15), name
    assert ema.updates == n
    # the live module is untouched by the average
    assert model.weight.numpy().item() == seq[-1][0] and model.bias.numpy().item() == seq[-1][1]


def test_trainer_defaults_are_unchanged():
    trainer = make_trainer()
    assert trainer.g_ema is None and trainer.lr_schedule is None
    trainer.train(3)
    assert trainer.g_optimizer.lr == 1e-3 and trainer.d_optimizer.lr == 4e-3


def test_trainer_schedule_scales_both_initial_rates():
    seen = []
    trainer = make_trainer(lr_schedule=lambda t, total: (seen.append((t, total)), 0.5 ** t)[1])
    trainer.train(4)
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert trainer.g_optimizer.lr == pytest.approx(1e-3 / 8)
    assert trainer.d_optimizer.lr == pytest.approx(4e-3 / 8)


def test_trainer_keeps_an_average_generator():
    npgan.manual_seed(3)
    trainer = make_trainer(g_ema_decay=0.5)
    seq = [params(trainer.G)]  # G's parameters at the start and after every step
    trainer.train(5, callback=lambda stats: seq.append(params(trainer.G)))
    assert trainer.g_ema.updates == 5
    live, avg = params(trainer.G), params(trainer.g_ema.module)
    assert any(not np.array_equal(a, b) for a, b in zip(live, avg))
    # the average is the warmed-up exponential average of that sequence (float64 here)
    expected = [a.astype(np.float64) for a in seq[0]]
    for t in range(1, 6):
        beta = min(0.5, (1 + t) / (10 + t))
        expected = [beta * e + (1 - beta) * p.astype(np.float64) for e, p in zip(expected, seq[t])]
    for a, e in zip(avg, expected):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    out = trainer.g_ema.module(nprandom.rand(4, 1))
    assert out.shape == (4, 1) and not out.requires_grad


def test_packed_discriminator_sees_m_samples_side_by_side():
    """Pack m = 3: row k of D's input is samples 3k, 3k+1, 3k+2 concatenated, in order."""
    npgan.set_default_dtype("float64")
    D = nn.Sequential(nn.Linear(6, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1))
    x = npgan.tensor(np.random.default_rng(0).standard_normal((9, 2)), requires_grad=True)
    out = Packed(D, 3)(x)
    assert out.shape == (3, 1)
    rows = x.numpy().reshape(3, 6)
    w1, b1 = D[0].weight.numpy(), D[0].bias.numpy()
    h = rows @ w1.T + b1
    h = np.where(h > 0, h, 0.2 * h)
    expected = h @ D[2].weight.numpy().T + D[2].bias.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert npgan.gradcheck(lambda t: Packed(D, 3)(t), [x])


def test_packed_discriminator_errors():
    D = nn.Sequential(nn.Linear(4, 1))
    with pytest.raises(ValueError, match="multiple of the pack size 2"):
        Packed(D, 2)(npgan.tensor(np.zeros((3, 2))))
    with pytest.raises(ValueError, match="positive int"):
        Packed(D, 0)
