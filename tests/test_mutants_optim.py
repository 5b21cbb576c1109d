"""Optimizer tests added for the mutation score (tests/MUTATION.md): the defaults against
PyTorch's documented ones, the exact words of each argument check, the boundaries PyTorch
accepts, momentum 1, and a steady-state step that allocates no array of a block's size.
"""
import tracemalloc

import numpy as np
import pytest

import npgan
from npgan import optim


def _param(values):
    return npgan.nn.Parameter(np.array(values, dtype=np.float64))


def _grad(p, values):
    p.grad = npgan.Tensor(np.array(values, dtype=np.float64))


# --- defaults: torch.optim's (SGD momentum=0; RMSprop lr=1e-2, alpha=0.99, eps=1e-8) ----------

def test_sgd_default_momentum_is_zero_so_two_steps_are_plain_gradient_steps():
    p = _param([1.0, -2.0])
    opt = optim.SGD([p], lr=0.5)
    assert opt.momentum == 0
    _grad(p, [1.0, 2.0])
    opt.step()
    _grad(p, [4.0, -2.0])
    opt.step()  # with momentum 1 the second step would be 0.5 * (g1 + g2)
    np.testing.assert_array_equal(p.data, [1.0 - 0.5 - 2.0, -2.0 - 1.0 + 1.0])


def test_sgd_momentum_one_accumulates_every_gradient():
    """mu = 1 is accepted (PyTorch checks only momentum >= 0): b1 = g1, b2 = b1 + g2."""
    p = _param([0.0, 0.0])
    opt = optim.SGD([p], lr=0.25, momentum=1.0)
    _grad(p, [1.0, 2.0])
    opt.step()
    np.testing.assert_array_equal(p.data, [-0.25, -0.5])
    _grad(p, [3.0, -4.0])
    opt.step()  # b = (4, -2): p -= 0.25 b
    np.testing.assert_array_equal(p.data, [-1.25, 0.0])


# --- the argument checks: their exact words, and the ends PyTorch accepts ----------------------

@pytest.mark.parametrize("make, message", [
    (lambda ps: optim.SGD(ps, lr=-0.5), r"^SGD: lr must be >= 0, got -0\.5$"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.25), r"^SGD: momentum must be >= 0, got -0\.25$"),
    (lambda ps: optim.Adam(ps, lr=-0.5), r"^Adam: lr must be >= 0, got -0\.5$"),
    (lambda ps: optim.Adam(ps, betas=(0.9, 1.0)),
     r"^Adam: betas must be two numbers in \[0, 1\), got \(0\.9, 1\.0\)$"),
    (lambda ps: optim.Adam(ps, eps=-0.5), r"^Adam: eps must be >= 0, got -0\.5$"),
    (lambda ps: optim.RMSprop(ps, lr=-0.5), r"^RMSprop: lr must be >= 0, got -0\.5$"),
    (lambda ps: optim.RMSprop(ps, alpha=1.5), r"^RMSprop: alpha must be in \[0, 1\], got 1\.5$"),
    (lambda ps: optim.RMSprop(ps, eps=-0.5), r"^RMSprop: eps must be >= 0, got -0\.5$"),
])
def test_argument_checks_say_what_and_what_was_given(make, message):
    with pytest.raises(ValueError, match=message):
        make([_param([1.0])])


def test_rmsprop_accepts_zero_lr_and_zero_eps_as_pytorch_does():
    p = _param([1.0, -1.0])
    opt = optim.RMSprop([p], lr=0.0, eps=0.0)
    assert (opt.lr, opt.eps) == (0.0, 0.0)
    _grad(p, [2.0, -3.0])
    opt.step()  # lr 0: nothing moves (v > 0, so no 0/0)
    np.testing.assert_array_equal(p.data, [1.0, -1.0])
    p2 = _param([1.0, -1.0])
    opt2 = optim.RMSprop([p2], lr=0.5, alpha=0.75, eps=0.0)
    _grad(p2, [2.0, -3.0])
    opt2.step()  # v = 0.25 g^2, so the step is lr g / (|g| / 2) = 2 lr sign(g)
    np.testing.assert_allclose(p2.data, [0.0, 0.0], atol=1e-15)


def test_rmsprop_defaults_follow_the_rule_for_three_steps():
    """Defaults lr=1e-2, alpha=0.99, eps=1e-8 (torch.optim.RMSprop), checked by their effect."""
    p = _param([0.5, -1.5, 2.0])
    opt = optim.RMSprop([p])
    expect, v = np.array([0.5, -1.5, 2.0]), np.zeros(3)
    for g in ([1.0, -2.0, 0.5], [0.25, 3.0, -1.0], [-2.0, 0.0, 4.0]):
        g = np.array(g)
        _grad(p, g)
        opt.step()
        v = 0.99 * v + 0.01 * g * g
        expect = expect - 1e-2 * g / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(p.data, expect, rtol=1e-14)


# --- a steady-state step reuses its work arrays -------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.01),
    lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, lr=0.01),
], ids=["sgd", "sgd-momentum", "adam", "rmsprop"])
def test_a_steady_state_step_allocates_no_block_sized_array(make):
    """After the first steps, an update writes its temporaries into a reused work array (the
    optimizer module's docstring: the update runs over the flat buffer in cache-sized blocks): a
    step of a 2.4 MB model allocates less than one 1 MB block. An update rule that allocates a
    temporary per pass (out= dropped) shows here, as the memory it costs every step."""
    rng = np.random.default_rng(0)
    params = [npgan.nn.Parameter(rng.standard_normal((300, 1000))) for _ in range(1)]
    opt = make(params)
    grads = [npgan.Tensor(rng.standard_normal(p.shape)) for p in params]
    for _ in range(3):
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    before = params[0].data.copy()
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"a step allocated {peak} bytes"
    assert not np.array_equal(params[0].data, before)  # the step did update the parameters


# --- load_state_dict: its message, JSON's lists, fresh state, dtypes -------------------------

def test_load_state_dict_with_other_state_names_says_which():
    p = _param([0.0, 0.0])
    state = optim.SGD([p], lr=0.1, momentum=0.5).state_dict()
    state["state"][0]["extra"] = None
    with pytest.raises(ValueError, match=r"^SGD\.load_state_dict: parameter 0 has state "
                                         r"\['extra', 'momentum_buffer', 'step'\], expected "
                                         r"\['momentum_buffer', 'step'\]$"):
        optim.SGD([_param([0.0, 0.0])], lr=0.1).load_state_dict(state)


def test_betas_through_a_checkpoint_come_back_as_a_tuple(tmp_path):
    """A checkpoint's JSON turns the betas tuple into a list; loading makes it a tuple again."""
    opt = optim.Adam([_param([1.0])], lr=0.1, betas=(0.5, 0.75))
    npgan.checkpoint.save(tmp_path / "opt.npz", opt.state_dict())
    saved = npgan.checkpoint.load(tmp_path / "opt.npz")
    assert saved["hyper"]["betas"] == [0.5, 0.75]
    other = optim.Adam([_param([1.0])])
    other.load_state_dict(saved)
    assert other.betas == (0.5, 0.75)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.1),
], ids=["sgd", "adam", "rmsprop"])
def test_the_state_of_an_optimizer_that_never_stepped_loads_as_empty(make):
    """Loading a fresh optimizer's state leaves every state array unset (None), so the next steps
    are those of a fresh optimizer."""
    fresh, loaded = make([_param([1.0, -2.0])]), make([_param([1.0, -2.0])])
    loaded.load_state_dict(fresh.state_dict())
    assert all(a is None for st in loaded.state for n, a in st.items() if n != "step")
    for g in ([0.5, -1.0], [2.0, 0.25]):
        for opt in (fresh, loaded):
            _grad(opt.params[0], g)
            opt.step()
    np.testing.assert_array_equal(loaded.params[0].data, fresh.params[0].data)


def test_loaded_state_takes_the_parameters_dtype():
    """State saved from a float64 run loads into a float32 optimizer as float32 (as
    Module.load_state_dict casts to each parameter's dtype), and stays float32."""
    p64 = _param([1.0, -2.0, 3.0])
    src = optim.Adam([p64], lr=0.1)
    _grad(p64, [0.5, -1.0, 2.0])
    src.step()
    p32 = npgan.nn.Parameter(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    dst = optim.Adam([p32], lr=0.1)
    dst.load_state_dict(src.state_dict())
    p32.grad = npgan.Tensor(np.array([0.5, -1.0, 2.0], dtype=np.float32))
    dst.step()
    state = dst.state_dict()["state"][0]
    assert state["exp_avg"].dtype == np.float32 and state["exp_avg_sq"].dtype == np.float32
    assert p32.dtype == np.float32
