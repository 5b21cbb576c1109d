"""Optimizers against plain-Python reimplementations of PyTorch's documented update rules.

Every reference below works on Python floats with ``math`` only, one scalar
at a time, following the torch.optim documentation:

* SGD:      b = g (first step), b = mu b + g (later);   p -= lr b   (b = g when mu = 0)
* Adam:     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
            p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
* RMSprop:  v = a v + (1 - a) g^2;  p -= lr g / (sqrt(v) + eps)

Gradients are set by hand (float64, different at every step), so the
comparison isolates the optimizer from autograd.
"""
import math

import numpy as np
import pytest

import npgan
from npgan import optim
from npgan.nn import Parameter

REL = 1e-12

SHAPES = [(2, 3), (3,)]


# --- inputs ---------------------------------------------------------------------

def initial_values(shape, offset):
    """Deterministic starting values, all of magnitude >= 1 (so a relative tolerance is fair)."""
    n = int(np.prod(shape))
    return [(1.0 + 0.37 * i + offset) * (-1.0 if i % 2 else 1.0) for i in range(n)]


def grad_values(step, shape, offset, scale=1.0):
    """The gradient of every element at ``step`` (1-based); a few exact zeros included."""
    n = int(np.prod(shape))
    out = []
    for i in range(n):
        if (i + step) % 5 == 0:
            out.append(0.0)
        else:
            out.append(scale * math.sin(0.9 * i + 1.7 * step + offset) * (1.0 + 0.25 * step))
    return out


def make_params(shapes=SHAPES):
    return [Parameter(np.array(initial_values(s, k), dtype=np.float64).reshape(s))
            for k, s in enumerate(shapes)]


def set_grads(params, step, scale=1.0, skip=()):
    for k, p in enumerate(params):
        if k in skip:
            p.grad = None
        else:
            p.grad = npgan.Tensor(
                np.array(grad_values(step, p.shape, k, scale), dtype=np.float64).reshape(p.shape))


# --- plain-math references (one scalar each) -------------------------------------

def ref_sgd(p0, grads, lrs, momentum):
    p, buf = p0, None
    for g, lr in zip(grads, lrs):
        if momentum != 0:
            buf = g if buf is None else momentum * buf + g
            d = buf
        else:
            d = g
        p = p - lr * d
    return p


def ref_adam(p0, grads, lrs, betas, eps):
    b1, b2 = betas
    p, m, v = p0, 0.0, 0.0
    for t, (g, lr) in enumerate(zip(grads, lrs), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr / (1 - b1 ** t) * m / (math.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
    return p


def ref_rmsprop(p0, grads, lrs, alpha, eps):
    p, v = p0, 0.0
    for g, lr in zip(grads, lrs):
        v = alpha * v + (1 - alpha) * g * g
        p = p - lr * g / (math.sqrt(v) + eps)
    return p


def expected_params(ref, steps, lrs, scale=1.0, **hyper):
    """The reference applied element by element to every parameter of SHAPES."""
    out = []
    for k, shape in enumerate(SHAPES):
        p0 = initial_values(shape, k)
        per_step = [grad_values(t, shape, k, scale) for t in range(1, steps + 1)]
        out.append([ref(p0[i], [gs[i] for gs in per_step], lrs, **hyper)
                    for i in range(len(p0))])
    return out


def assert_params_match(params, expected):
    for p, exp in zip(params, expected):
        got = p.data.reshape(-1).tolist()
        assert p.dtype == np.float64
        assert len(got) == len(exp)
        for i, (a, b) in enumerate(zip(got, exp)):
            assert math.isclose(a, b, rel_tol=REL, abs_tol=0.0), (
                f"element {i}: optimizer {a!r}, reference {b!r}, rel diff {abs(a - b) / abs(b):.3g}")


def run(opt, params, steps, scale=1.0, lrs=None):
    for t in range(1, steps + 1):
        if lrs is not None:
            opt.lr = lrs[t - 1]
        set_grads(params, t, scale)
        opt.step()


# --- the update rules ---------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("steps", [1, 4])
def test_sgd_matches_reference(momentum, steps):
    params = make_params()
    opt = optim.SGD(params, lr=0.05, momentum=momentum)
    run(opt, params, steps)
    assert_params_match(params, expected_params(ref_sgd, steps, [0.05] * steps, momentum=momentum))


@pytest.mark.parametrize("kwargs, scale", [
    ({}, 1.0),                                                 # defaults: lr 1e-3, (0.9, 0.999), 1e-8
    ({"lr": 0.01, "betas": (0.5, 0.999)}, 1.0),                # the DCGAN betas
    ({"lr": 0.02, "betas": (0.5, 0.999), "eps": 1e-3}, 1e-3),  # eps comparable to sqrt(v_hat)
    ({"lr": 0.02, "eps": 0.1}, 1.0),                           # eps large: its placement matters
])
@pytest.mark.parametrize("steps", [1, 4])
def test_adam_matches_reference(kwargs, scale, steps):
    params = make_params()
    opt = optim.Adam(params, **kwargs)
    run(opt, params, steps, scale)
    lr = kwargs.get("lr", 1e-3)
    exp = expected_params(ref_adam, steps, [lr] * steps, scale,
                          betas=kwargs.get("betas", (0.9, 0.999)), eps=kwargs.get("eps", 1e-8))
    assert_params_match(params, exp)


def test_adam_defaults_are_pytorchs():
    opt = optim.Adam(make_params())
    assert (opt.lr, tuple(opt.betas), opt.eps) == (1e-3, (0.9, 0.999), 1e-8)


@pytest.mark.parametrize("alpha", [0.99, 0.9])
@pytest.mark.parametrize("eps, scale", [(1e-8, 1.0), (1e-2, 1e-2)])
def test_rmsprop_matches_reference(alpha, eps, scale):
    params = make_params()
    opt = optim.RMSprop(params, lr=0.01, alpha=alpha, eps=eps)
    run(opt, params, 4, scale)
    assert_params_match(params, expected_params(ref_rmsprop, 4, [0.01] * 4, scale,
                                                alpha=alpha, eps=eps))


def test_rmsprop_defaults_are_pytorchs():
    opt = optim.RMSprop(make_params())
    assert (opt.lr, opt.alpha, opt.eps) == (1e-2, 0.99, 1e-8)


def test_quadratic_loss_through_autograd():
    """Gradients from backward: loss = sum(c * (p - q)^2) has gradient 2 c (p - q)."""
    c = [0.5, 2.0, 1.5]
    q = [0.25, -1.0, 3.0]
    p0 = [2.0, 1.0, -2.0]
    p = Parameter(np.array(p0, dtype=np.float64))
    cq, qq = npgan.tensor(np.array(c)), npgan.tensor(np.array(q))
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.999))
    for _ in range(4):
        opt.zero_grad()
        ((p - qq) ** 2 * cq).sum().backward()
        opt.step()
    b1, b2, lr, eps = 0.5, 0.999, 0.1, 1e-8
    for i in range(3):
        x, m, v = p0[i], 0.0, 0.0
        for t in range(1, 5):
            g = 2 * c[i] * (x - q[i])
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            x = x - lr / (1 - b1 ** t) * m / (math.sqrt(v) / math.sqrt(1 - b2 ** t) + eps)
        assert math.isclose(float(p.data[i]), x, rel_tol=1e-11)


# --- hyperparameters changed after construction --------------------------------------

@pytest.mark.parametrize("name, make, ref, hyper", [
    ("sgd", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), ref_sgd, {"momentum": 0.9}),
    ("adam", lambda ps: optim.Adam(ps, lr=0.1, betas=(0.5, 0.999)), ref_adam,
     {"betas": (0.5, 0.999), "eps": 1e-8}),
    ("rmsprop", lambda ps: optim.RMSprop(ps, lr=0.1, alpha=0.9), ref_rmsprop,
     {"alpha": 0.9, "eps": 1e-8}),
])
def test_changing_lr_takes_effect(name, make, ref, hyper):
    lrs = [0.1, 0.1, 0.01, 0.003]
    params = make_params()
    opt = make(params)
    run(opt, params, 4, lrs=lrs)
    assert_params_match(params, expected_params(ref, 4, lrs, **hyper))


def test_setting_lr_to_zero_freezes_sgd():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    before = [p.data.copy() for p in params]
    opt.lr = 0.0
    run(opt, params, 2)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


# --- parameters without gradients, zero_grad ------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.1),
], ids=["sgd", "sgd-momentum", "adam", "rmsprop"])
def test_parameters_without_grad_are_not_changed(make):
    params = make_params()
    opt = make(params)
    frozen = params[1].data.copy()
    start = params[0].data.copy()
    for t in range(1, 4):
        set_grads(params, t, skip=(1,))
        opt.step()
    np.testing.assert_array_equal(params[1].data, frozen)
    assert not np.array_equal(params[0].data, start)
    assert opt.state[1]["step"] == 0, "a never-updated parameter has made no step"
    assert all(opt.state[1][n] is None for n in opt.state_names), "no state for a never-updated parameter"
    assert opt.state[0]["step"] == 3


def test_sgd_momentum_buffer_starts_at_first_gradient_of_that_parameter():
    """A parameter first updated at step 3 starts its buffer there (b = g), as in PyTorch."""
    params = make_params()
    opt = optim.SGD(params, lr=0.05, momentum=0.9)
    for t in range(1, 5):
        set_grads(params, t, skip=(1,) if t < 3 else ())
        opt.step()
    shape = SHAPES[1]
    p0 = initial_values(shape, 1)
    gs = [grad_values(t, shape, 1) for t in (3, 4)]
    exp = [ref_sgd(p0[i], [g[i] for g in gs], [0.05, 0.05], 0.9) for i in range(len(p0))]
    for a, b in zip(params[1].data.tolist(), exp):
        assert math.isclose(a, b, rel_tol=REL)


def test_adam_bias_correction_counts_steps_per_parameter():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    for t in range(1, 5):
        set_grads(params, t, skip=(1,) if t < 3 else ())
        opt.step()
    shape = SHAPES[1]
    p0 = initial_values(shape, 1)
    gs = [grad_values(t, shape, 1) for t in (3, 4)]
    exp = [ref_adam(p0[i], [g[i] for g in gs], [0.01, 0.01], (0.9, 0.999), 1e-8)
           for i in range(len(p0))]
    for a, b in zip(params[1].data.tolist(), exp):
        assert math.isclose(a, b, rel_tol=REL)


def test_zero_grad_clears_grads():
    params = make_params()
    opt = optim.Adam(params)
    set_grads(params, 1)
    assert all(p.grad is not None for p in params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)
    before = [p.data.copy() for p in params]
    opt.step()  # nothing has a gradient: nothing moves
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_zero_grad_lets_backward_start_fresh():
    p = Parameter(np.array([3.0], dtype=np.float64))
    opt = optim.SGD([p], lr=0.1)
    for _ in range(2):
        (p * 2.0).sum().backward()
    assert p.grad.data.tolist() == [4.0]  # accumulated twice
    opt.zero_grad()
    (p * 2.0).sum().backward()
    assert p.grad.data.tolist() == [2.0]


# --- state_dict / load_state_dict ------------------------------------------------------

OPTIMIZERS = {
    "sgd": (lambda ps, **kw: optim.SGD(ps, **{"lr": 0.05, **kw}), {"lr": 0.7}),
    "sgd-momentum": (lambda ps, **kw: optim.SGD(ps, **{"lr": 0.05, "momentum": 0.9, **kw}),
                     {"lr": 0.7, "momentum": 0.1}),
    "adam": (lambda ps, **kw: optim.Adam(ps, **{"lr": 0.01, "betas": (0.5, 0.999), **kw}),
             {"lr": 0.7, "betas": (0.9, 0.9)}),
    "rmsprop": (lambda ps, **kw: optim.RMSprop(ps, **{"lr": 0.01, "alpha": 0.9, **kw}),
                {"lr": 0.7, "alpha": 0.5}),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_state_dict_round_trip_continues_bit_identically(name):
    make, other_hyper = OPTIMIZERS[name]

    straight = make_params()
    opt_straight = make(straight)
    run(opt_straight, straight, 5)

    params = make_params()
    opt = make(params)
    run(opt, params, 3)
    saved = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    for st in saved["state"]:
        assert st["step"] == 3
        for n in opt.state_names:
            assert st[n] is None or isinstance(st[n], np.ndarray)
    # keep training the original: the saved snapshot must not follow it
    for t in (4, 5):
        set_grads(params, t)
        opt.step()

    resumed = [Parameter(a.copy()) for a in saved_params]
    fresh = make(resumed, **other_hyper)  # different hyperparameters: load must restore them
    fresh.load_state_dict(saved)
    for t in (4, 5):
        set_grads(resumed, t)
        fresh.step()

    for a, b, c in zip(straight, params, resumed):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.data, c.data)
    assert fresh.steps == opt_straight.steps == 5
    for st_a, st_b in zip(opt_straight.state, fresh.state):
        assert st_a.keys() == st_b.keys()
        for k in st_a:
            if st_a[k] is None:
                assert st_b[k] is None
            else:
                np.testing.assert_array_equal(st_a[k], st_b[k])


@pytest.mark.parametrize("restore", ["replace", "in_place"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_load_state_dict_into_an_optimizer_that_has_stepped(name, restore):
    """Roll an optimizer that has already stepped back to a saved state and replay the same
    steps: it must end where the uninterrupted run ended. The parameters are restored by
    assigning new arrays (as Module.load_state_dict does) or by writing into p.data in place,
    which leaves the optimizer's flat buffer views intact: the loaded state must win anyway."""
    make, _ = OPTIMIZERS[name]
    straight = make_params()
    opt_straight = make(straight)
    run(opt_straight, straight, 5)

    params = make_params()
    opt = make(params)
    run(opt, params, 3)
    saved, saved_params = opt.state_dict(), [p.data.copy() for p in params]
    for t in (4, 5, 6):  # wander off: three more steps with other gradients
        set_grads(params, t, scale=3.0)
        opt.step()
    opt.load_state_dict(saved)
    for p, a in zip(params, saved_params):
        if restore == "replace":
            p.data = a.copy()
        else:
            p.data[...] = a
    for t in (4, 5):
        set_grads(params, t)
        opt.step()
    for a, b in zip(straight, params):
        np.testing.assert_array_equal(b.data, a.data)
    assert opt.steps == 5


def test_loaded_state_is_a_copy():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, 2)
    saved = opt.state_dict()
    fresh = optim.Adam([Parameter(p.data.copy()) for p in params], lr=0.01)
    fresh.load_state_dict(saved)
    expect = fresh.state[0]["exp_avg"].copy()
    saved["state"][0]["exp_avg"][...] = 123.0
    np.testing.assert_array_equal(fresh.state[0]["exp_avg"], expect)


def _assert_unchanged(opt, steps, state):
    assert opt.steps == steps
    for st, ref in zip(opt.state, state):
        for k in st:
            np.testing.assert_array_equal(st[k], ref[k])


def _snapshot(opt):
    return opt.steps, [{k: (a if k == "step" else a.copy()) for k, a in st.items()} for st in opt.state]


def test_load_state_dict_from_another_optimizer_type_is_an_error():
    params = make_params()
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    run(sgd, params, 2)
    adam = optim.Adam(make_params(), lr=0.01)
    run(adam, adam.params, 1)
    snap = _snapshot(adam)
    with pytest.raises(ValueError, match="SGD"):
        adam.load_state_dict(sgd.state_dict())
    _assert_unchanged(adam, *snap)


def test_load_state_dict_with_another_parameter_count_is_an_error():
    params = make_params()
    opt = optim.Adam(params, lr=0.01)
    run(opt, params, 2)
    one = optim.Adam([Parameter(np.ones((2, 3)))], lr=0.01)
    one.params[0].grad = npgan.Tensor(np.ones((2, 3)))
    one.step()
    snap = _snapshot(one)
    with pytest.raises(ValueError, match=r"2 parameters.*1"):
        one.load_state_dict(opt.state_dict())
    _assert_unchanged(one, *snap)


def test_load_state_dict_with_another_shape_is_an_error():
    params = make_params()
    opt = optim.RMSprop(params)
    run(opt, params, 2)
    other = optim.RMSprop([Parameter(np.ones((2, 3))), Parameter(np.ones((4,)))])
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(4,\)"):
        other.load_state_dict(opt.state_dict())
    assert other.steps == 0
    assert all(st["step"] == 0 for st in other.state)
    assert all(st[n] is None for st in other.state for n in other.state_names)


# --- argument checks -----------------------------------------------------------------

@pytest.mark.parametrize("make, argument", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "lr"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), "momentum"),
    (lambda ps: optim.Adam(ps, lr=-1e-3), "lr"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "betas"),
    (lambda ps: optim.Adam(ps, betas=(0.9, 1.0)), "betas"),
    (lambda ps: optim.Adam(ps, betas=(-0.1, 0.999)), "betas"),
    (lambda ps: optim.Adam(ps, betas=(0.9, 1.5)), "betas"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "eps"),
    (lambda ps: optim.RMSprop(ps, lr=-0.01), "lr"),
    (lambda ps: optim.RMSprop(ps, alpha=1.01), "alpha"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.1), "alpha"),
    (lambda ps: optim.RMSprop(ps, eps=-1.0), "eps"),
])
def test_invalid_hyperparameters_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        make(make_params())


def test_boundary_hyperparameters_are_accepted():
    """The ends of each range are accepted, kept, and do what the rule says at that end."""
    sgd = optim.SGD(make_params(), lr=0.0, momentum=0.0)
    adam = optim.Adam(make_params(), lr=0.0, betas=(0.0, 0.0), eps=0.0)
    assert (sgd.lr, sgd.momentum) == (0.0, 0.0)
    assert (adam.lr, adam.betas, adam.eps) == (0.0, (0.0, 0.0), 0.0)
    lr0_adam = optim.Adam(make_params(), lr=0.0, betas=(0.0, 0.0))  # eps 0 would give 0/0 at g = 0
    for opt in (sgd, lr0_adam):  # lr = 0: a step changes nothing
        before = [p.data.copy() for p in opt.params]
        set_grads(opt.params, 1)
        opt.step()
        for p, b in zip(opt.params, before):
            np.testing.assert_array_equal(p.data, b)
    # betas (0, 0): m = g, v = g^2, so each step moves by lr sign(g) (0 where g = 0)
    params = make_params()
    adam = optim.Adam(params, lr=0.5, betas=(0.0, 0.0), eps=0.0)
    before = [p.data.copy() for p in params]
    set_grads(params, 2)
    grads = [p.grad.data.copy() for p in params]
    with np.errstate(invalid="ignore"):  # g = 0: 0 / 0, as PyTorch with eps = 0
        adam.step()
    for p, b, g in zip(params, before, grads):
        moved = g != 0
        np.testing.assert_allclose(p.data[moved], (b - 0.5 * np.sign(g))[moved], rtol=1e-15)
    # alpha = 1: v stays 0, so the step is lr g / eps; alpha = 0: v = g^2, the step lr sign(g)
    for alpha, expected in ((1.0, lambda b, g: b - 0.1 * g / 1e-8),
                            (0.0, lambda b, g: b - 0.1 * g / (np.abs(g) + 1e-8))):
        params = make_params()
        rms = optim.RMSprop(params, lr=0.1, alpha=alpha)
        assert rms.alpha == alpha
        before = [p.data.copy() for p in params]
        set_grads(params, 1)
        grads = [p.grad.data.copy() for p in params]
        rms.step()
        for p, b, g in zip(params, before, grads):
            np.testing.assert_allclose(p.data, expected(b, g), rtol=1e-12)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_empty_parameter_list_is_an_error(cls):
    with pytest.raises(ValueError, match="empty"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        cls(iter([]), lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_tensor_without_requires_grad_is_an_error(cls):
    ok = Parameter(np.ones(2))
    plain = npgan.tensor(np.ones(3))
    with pytest.raises(ValueError, match="parameter 1 does not require grad"):
        cls([ok, plain], lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_a_single_tensor_instead_of_a_list_is_an_error(cls):
    """list(tensor) would give its rows: non-leaf slices that never get a gradient."""
    p = Parameter(np.ones(3))
    with pytest.raises(TypeError, match="single Tensor"):
        cls(p, lr=0.1)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.RMSprop])
def test_non_leaf_tensor_is_an_error(cls):
    """A computed tensor keeps no .grad after backward, so optimizing it would do nothing."""
    leaf = Parameter(np.ones(3))
    computed = leaf * 2.0
    assert computed.requires_grad and not computed.is_leaf
    with pytest.raises(ValueError, match="parameter 1 is not a leaf tensor"):
        cls([leaf, computed], lr=0.1)


def test_model_parameters_generator_is_accepted():
    npgan.set_default_dtype("float64")
    model = npgan.nn.Sequential(npgan.nn.Linear(3, 2), npgan.nn.Tanh(), npgan.nn.Linear(2, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.params) == 4
    x = npgan.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    model(x).sum().backward()
    grads = [p.grad.data.copy() for p in model.parameters()]
    before = [p.data.copy() for p in model.parameters()]
    opt.step()
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.data, b - 0.1 * g, rtol=0, atol=1e-15)


@pytest.mark.parametrize("path", ["flat", "per-parameter"])
@pytest.mark.parametrize("name", ["sgd-momentum", "adam", "rmsprop"])
def test_large_parameters_updated_block_by_block_match_the_rule(name, path):
    """Parameters bigger than one update block (and a ragged last block) follow the rule exactly,
    on the flat buffer and one parameter at a time (taken when some parameter has no gradient)."""
    from npgan.speed import BLOCK
    rng = np.random.default_rng(7)
    shapes = [(3, BLOCK + 11), (BLOCK + 3,)]
    values = [rng.standard_normal(s) for s in shapes]
    params = [Parameter(v.copy()) for v in values]
    idle = [Parameter(np.ones(4))] if path == "per-parameter" else []  # never gets a gradient
    lr = 0.01
    opt = {"sgd-momentum": lambda: optim.SGD(params + idle, lr=lr, momentum=0.9),
           "adam": lambda: optim.Adam(params + idle, lr=lr, betas=(0.9, 0.999), eps=1e-8),
           "rmsprop": lambda: optim.RMSprop(params + idle, lr=lr, alpha=0.99, eps=1e-8)}[name]()
    expect = [v.copy() for v in values]
    state = [dict(m=np.zeros(s), v=np.zeros(s), b=None) for s in shapes]
    for t in range(1, 4):
        grads = [rng.standard_normal(s) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = npgan.Tensor(g.copy())
        opt.step()
        for e, g, st in zip(expect, grads, state):  # PyTorch's documented rules, vectorised
            if name == "sgd-momentum":
                st["b"] = g.copy() if st["b"] is None else 0.9 * st["b"] + g
                e -= lr * st["b"]
            elif name == "adam":
                st["m"] = 0.9 * st["m"] + 0.1 * g
                st["v"] = 0.999 * st["v"] + 0.001 * g * g
                e -= lr / (1 - 0.9 ** t) * st["m"] / (np.sqrt(st["v"]) / np.sqrt(1 - 0.999 ** t) + 1e-8)
            else:
                st["v"] = 0.99 * st["v"] + 0.01 * g * g
                e -= lr * g / (np.sqrt(st["v"]) + 1e-8)
    for p, e in zip(params, expect):
        np.testing.assert_allclose(p.data, e, rtol=1e-12, atol=1e-15)
    for p in idle:
        np.testing.assert_array_equal(p.data, np.ones(4))
