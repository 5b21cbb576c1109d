"""Normalization: F.batch_norm, F.layer_norm, nn.BatchNorm1d/2d, nn.LayerNorm, and the
reshaping layers nn.Flatten and nn.Unflatten.

* against PyTorch (when installed), float64 to 1e-10: batch_norm in training and eval mode
  (values, gradients for input, weight and bias, running statistics after several steps),
  the modules' outputs and buffers through train steps and eval, momentum=None, layer_norm
  on several normalized shapes, and second derivatives of a gradient-penalty-like function
  through BatchNorm2d (training mode) and LayerNorm against ``autograd.grad(create_graph=True)``;
* without it: closed forms (batch statistics, the unbiased running variance, the cumulative
  average), gradient checks to second order on drawn shapes and to third order, the modules'
  modes and buffers, Flatten/Unflatten against reshape, float32 kept, every error message, and
  the gpusim backend giving numpy's numbers.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npgan
import npgan.functional as F
from conftest import check_gradients
from npgan import backend, nn

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def close(a, b, rtol=1e-10, atol=1e-12):
    a = a.numpy() if isinstance(a, npgan.Tensor) else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


SHAPES = [(7, 3), (5, 4, 3), (3, 2, 5, 4)]


# --- against PyTorch ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch(shape, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    ours_rm, ours_rv = rm.copy(), t64(rv, requires_grad=False)  # an array and a Tensor
    their_rm, their_rv = torch.tensor(rm), torch.tensor(rv)
    W, B = (t64(w), t64(b)) if affine else (None, None)
    tw, tb = ((torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
              if affine else (None, None))
    for step in range(3):  # running statistics move with momentum 0.3 over three batches
        x = rng.standard_normal(shape) * (step + 1) + step
        g = rng.standard_normal(shape)
        X, tx = t64(x), torch.tensor(x, requires_grad=True)
        y = F.batch_norm(X, ours_rm, ours_rv, W, B, training=True, momentum=0.3, eps=1e-3)
        ty = torch.nn.functional.batch_norm(tx, their_rm, their_rv, tw, tb, training=True,
                                            momentum=0.3, eps=1e-3)
        close(y, ty)
        wanted = [X] + ([W, B] if affine else [])
        grads = npgan.grad((y * t64(g, False)).sum(), wanted)
        theirs = torch.autograd.grad((ty * torch.tensor(g)).sum(),
                                     [tx] + ([tw, tb] if affine else []))
        for a, t in zip(grads, theirs):
            close(a, t)
        close(ours_rm, their_rm)
        close(ours_rv, their_rv)


@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_eval_matches_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10 + len(shape))
    c = shape[1]
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    X, W, B = t64(x), t64(w), t64(b)
    y = F.batch_norm(X, rm, rv, W, B, training=False)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.batch_norm(tx, torch.tensor(rm), torch.tensor(rv), tw, tb,
                                        training=False)
    close(y, ty)
    for a, t in zip(npgan.grad((y * t64(g, False)).sum(), [X, W, B]),
                    torch.autograd.grad((ty * torch.tensor(g)).sum(), [tx, tw, tb])):
        close(a, t)
    close(F.batch_norm(X, rm, rv, training=False),  # no affine
          torch.nn.functional.batch_norm(tx, torch.tensor(rm), torch.tensor(rv)))


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("dims", [1, 2])
def test_batch_norm_modules_match_torch_through_train_steps_and_eval(dims, momentum):
    torch = pytest.importorskip("torch")
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(dims)
    shape = (6, 4) if dims == 1 else (3, 4, 3, 2)
    ours = (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(4, momentum=momentum)
    theirs = (torch.nn.BatchNorm1d if dims == 1 else torch.nn.BatchNorm2d)(
        4, momentum=momentum).double()
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    ours.weight.data[...] = w
    ours.bias.data[...] = b
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    for step in range(4):
        x = rng.standard_normal(shape) * (1 + step) - step
        close(ours(t64(x)), theirs(torch.tensor(x)))
    for name in ("running_mean", "running_var"):
        close(getattr(ours, name), getattr(theirs, name))
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked) == 4
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    close(ours(t64(x)), theirs(torch.tensor(x)))
    assert int(ours.num_batches_tracked.item()) == 4  # eval updates nothing


@pytest.mark.parametrize("shape,normalized", [((4, 5), 5), ((3, 4, 5), (4, 5)),
                                              ((2, 3, 2, 3), (3, 2, 3)), ((6,), [6])])
def test_layer_norm_matches_torch(shape, normalized):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape))
    ns = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    x, g = rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape)
    w, b = rng.standard_normal(ns), rng.standard_normal(ns)
    X, W, B = t64(x), t64(w), t64(b)
    y = F.layer_norm(X, normalized, W, B, eps=1e-4)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, ns, tw, tb, eps=1e-4)
    close(y, ty)
    for a, t in zip(npgan.grad((y * t64(g, False)).sum(), [X, W, B]),
                    torch.autograd.grad((ty * torch.tensor(g)).sum(), [tx, tw, tb])):
        close(a, t)
    close(F.layer_norm(X, normalized), torch.nn.functional.layer_norm(tx, ns))


def _gp_case(torch, make_ours, make_theirs, shape, seed):
    """A WGAN-GP-like penalty, mean over samples of (||dD/dx|| - 1)^2 with
    D(x) = sum(tanh(layer(x)) v), and its gradients for x, weight and bias, by npgan and
    by PyTorch's autograd.grad(create_graph=True) path."""
    rng = np.random.default_rng(seed)
    x, v = rng.standard_normal(shape), rng.standard_normal(shape)
    ours, theirs = make_ours(), make_theirs().double()
    w, b = rng.standard_normal(ours.weight.shape), rng.standard_normal(ours.bias.shape)
    ours.weight.data[...] = w
    ours.bias.data[...] = b
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    n = shape[0]

    X = t64(x)
    out = (npgan.functions.activations.tanh(ours(X)) * t64(v, False)).sum()
    g, = npgan.grad(out, [X], create_graph=True)
    penalty = ((((g * g).reshape(n, -1).sum(axis=1)) ** 0.5 - 1) ** 2).mean()
    mine = npgan.grad(penalty, [X, ours.weight, ours.bias])

    tx = torch.tensor(x, requires_grad=True)
    tout = (torch.tanh(theirs(tx)) * torch.tensor(v)).sum()
    tg, = torch.autograd.grad(tout, [tx], create_graph=True)
    tpen = ((tg.reshape(n, -1).norm(dim=1) - 1) ** 2).mean()
    return mine, torch.autograd.grad(tpen, [tx, theirs.weight, theirs.bias])


def test_second_derivatives_through_batchnorm2d_training_match_torch():
    torch = pytest.importorskip("torch")
    npgan.set_default_dtype("float64")
    mine, theirs = _gp_case(torch, lambda: nn.BatchNorm2d(3),
                            lambda: torch.nn.BatchNorm2d(3), (4, 3, 3, 2), seed=1)
    for a, t in zip(mine, theirs):
        close(a, t, rtol=1e-9)
    assert np.abs(mine[0].numpy()).max() > 1e-3  # not trivially zero


def test_second_derivatives_through_layernorm_match_torch():
    torch = pytest.importorskip("torch")
    npgan.set_default_dtype("float64")
    mine, theirs = _gp_case(torch, lambda: nn.LayerNorm((3, 4)),
                            lambda: torch.nn.LayerNorm((3, 4)), (5, 3, 4), seed=2)
    for a, t in zip(mine, theirs):
        close(a, t, rtol=1e-9)
    assert np.abs(mine[0].numpy()).max() > 1e-3


# --- closed forms -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_training_output_is_standardised_per_channel_and_running_var_is_unbiased(shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 4 + 2
    c = shape[1]
    axes = (0,) + tuple(range(2, len(shape)))
    n = x.size // c
    rm, rv = np.zeros(c), np.ones(c)
    y = F.batch_norm(t64(x, False), rm, rv, training=True, momentum=0.25, eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), 1, rtol=1e-12)  # biased variance: exactly 1
    np.testing.assert_allclose(rm, 0.25 * x.mean(axis=axes), rtol=1e-12)
    unbiased = x.var(axis=axes) * n / (n - 1)
    np.testing.assert_allclose(unbiased, x.var(axis=axes, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(rv, 0.75 + 0.25 * unbiased, rtol=1e-12)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    z = F.batch_norm(t64(x, False), None, None, t64(w, False), t64(b, False), training=True,
                     eps=0.5).numpy()
    bshape = (1, c) + (1,) * (len(shape) - 2)
    expected = ((x - x.mean(axis=axes, keepdims=True))
                / np.sqrt(x.var(axis=axes, keepdims=True) + 0.5) * w.reshape(bshape)
                + b.reshape(bshape))
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)


def test_eval_is_the_affine_map_of_the_running_statistics():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 2))
    rm, rv, w, b = rng.standard_normal(3), rng.uniform(1, 2, 3), rng.standard_normal(3), \
        rng.standard_normal(3)
    before = rm.copy(), rv.copy()
    y = F.batch_norm(t64(x, False), rm, rv, t64(w, False), t64(b, False), eps=0.1).numpy()
    expected = ((x - rm[:, None]) / np.sqrt(rv[:, None] + 0.1) * w[:, None] + b[:, None])
    np.testing.assert_allclose(y, expected, rtol=1e-13)
    np.testing.assert_array_equal(rm, before[0])  # eval leaves the statistics alone
    np.testing.assert_array_equal(rv, before[1])


def test_momentum_none_keeps_the_cumulative_average():
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(5)
    bn = nn.BatchNorm1d(3, momentum=None, affine=False)
    means, variances = [], []
    for _ in range(5):
        x = rng.standard_normal((4, 3)) * rng.uniform(0.5, 3) + rng.standard_normal()
        bn(t64(x, False))
        means.append(x.mean(axis=0))
        variances.append(x.var(axis=0, ddof=1))
    # the running stats start at (0, 1) and the first batch has weight 1: the plain averages
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean(variances, axis=0), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 5


def test_layer_norm_standardises_each_sample_over_the_last_dims():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 4)) * 5 - 1
    y = F.layer_norm(t64(x, False), (2, 4), eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1, rtol=1e-12)
    y = F.layer_norm(t64(x, False), 4, eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=2), 1, rtol=1e-12)


# --- gradient checks (first and second order on drawn shapes, third order) ----------------

@st.composite
def bn_case(draw):
    n = draw(st.integers(2, 3))
    c = draw(st.integers(1, 3))
    rest = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    return (n, c) + rest, draw(st.integers(0, 2 ** 16)), draw(st.booleans())


@SETTINGS
@given(bn_case())
def test_batch_norm_training_gradients_to_second_order(case):
    shape, seed, affine = case
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = t64(rng.standard_normal(shape) * 2 + 1)
    w, b = t64(rng.standard_normal(c)), t64(rng.standard_normal(c))
    if affine:
        check_gradients(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True,
                                                     eps=0.1), [x, w, b])
    else:
        check_gradients(lambda x: F.batch_norm(x, None, None, training=True, eps=0.1), [x])


@SETTINGS
@given(bn_case())
def test_batch_norm_eval_gradients_to_second_order(case):
    shape, seed, _ = case
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = t64(rng.standard_normal(shape))
    w, b = t64(rng.standard_normal(c)), t64(rng.standard_normal(c))
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)
    check_gradients(lambda x, w, b: F.batch_norm(x, rm, rv, w, b), [x, w, b])


@SETTINGS
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(1, 3),
       st.integers(0, 2 ** 16))
def test_layer_norm_gradients_to_second_order(shape, k, seed):
    k = min(k, len(shape))
    if np.prod(shape[len(shape) - k:]) < 2:
        shape = shape + [2]  # one value per sample normalises to 0: nothing to check
    rng = np.random.default_rng(seed)
    ns = tuple(shape[len(shape) - k:])
    x = t64(rng.standard_normal(shape) * 2)
    w, b = t64(rng.standard_normal(ns)), t64(rng.standard_normal(ns))
    check_gradients(lambda x, w, b: F.layer_norm(x, ns, w, b, eps=0.1), [x, w, b])


def third_order(fn, inputs, seed=3):
    """gradgradcheck of the first derivative of sum(fn * r): the third derivatives of fn."""
    out = fn(*inputs)
    r = t64(np.random.default_rng(seed).standard_normal(out.shape), False)

    def first(*xs):
        gs = npgan.grad((fn(*xs) * r).sum(), list(xs), create_graph=True)
        return sum((g * g).sum() for g in gs)  # nonlinear in the gradients
    assert npgan.gradgradcheck(first, inputs)


def test_batch_norm_training_third_order():
    rng = np.random.default_rng(7)
    x = t64(rng.standard_normal((3, 2, 2)) * 2)
    w, b = t64(rng.standard_normal(2)), t64(rng.standard_normal(2))
    third_order(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=0.1),
                [x, w, b])


def test_layer_norm_third_order():
    rng = np.random.default_rng(8)
    x = t64(rng.standard_normal((2, 3, 2)) * 2)
    w, b = t64(rng.standard_normal((3, 2))), t64(rng.standard_normal((3, 2)))
    third_order(lambda x, w, b: F.layer_norm(x, (3, 2), w, b, eps=0.1), [x, w, b])


def test_second_derivative_needs_the_statistics_dependence():
    """The Hessian of sum(bn(x)^3) has terms through mean and inv_std: with them treated as
    constants (a cached array in the rule) the second derivative would differ; central
    differences of the exact first derivative check it element by element."""
    rng = np.random.default_rng(9)
    x = t64(rng.standard_normal((4, 2)))
    f = lambda x: (F.batch_norm(x, None, None, training=True) ** 3).sum()  # noqa: E731
    g, = npgan.grad(f(x), [x], create_graph=True)
    u = rng.standard_normal(x.shape)
    hu, = npgan.grad((g * t64(u, False)).sum(), [x])
    eps = 1e-6

    def grad_at(a):
        a = t64(a)
        return npgan.grad(f(a), [a])[0].numpy()
    numeric = (grad_at(x.numpy() + eps * u) - grad_at(x.numpy() - eps * u)) / (2 * eps)
    np.testing.assert_allclose(hu.numpy(), numeric, rtol=1e-6, atol=1e-7)
    assert np.abs(numeric).max() > 0.1


# --- the modules ----------------------------------------------------------------------------

def test_batchnorm_train_and_eval_modes_and_buffers():
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(11)
    bn = nn.BatchNorm2d(2, momentum=0.5)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    np.testing.assert_array_equal(bn.weight.numpy(), [1, 1])  # PyTorch's initialisation
    np.testing.assert_array_equal(bn.bias.numpy(), [0, 0])
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0, 0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [1, 1])
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 0
    assert all(not b.requires_grad for b in bn.buffers())
    x = rng.standard_normal((3, 2, 2, 2)) * 3 + 5
    y = bn(t64(x, False)).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)  # batch statistics
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.5 * x.mean(axis=(0, 2, 3)))
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    assert not bn.training
    state = {k: v.copy() for k, v in bn.state_dict().items()}
    z = bn(t64(x, False)).numpy()  # the running statistics, nothing updated
    rm, rv = state["running_mean"], state["running_var"]
    np.testing.assert_allclose(
        z, (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5), rtol=1e-12)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    bn.train()
    bn(t64(x, False))
    assert bn.num_batches_tracked.item() == 2


def test_batchnorm_state_dict_round_trip_and_checkpoint(tmp_path):
    rng = np.random.default_rng(12)
    a = nn.BatchNorm1d(3)
    for _ in range(3):
        a(npgan.tensor(rng.standard_normal((5, 3, 2)).astype(np.float32)))
    a.weight.data[...] = np.float32(2)
    b = nn.BatchNorm1d(3)
    npgan.tools.checkpoint.save(tmp_path / "bn.npz", {"model": a.state_dict()})
    b.load_state_dict(npgan.tools.checkpoint.load(tmp_path / "bn.npz")["model"])
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert va.dtype == vb.dtype, k
        np.testing.assert_array_equal(va, vb)
    assert b.num_batches_tracked.item() == 3
    x = npgan.tensor(rng.standard_normal((4, 3, 2)).astype(np.float32))
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    b.train()
    b(x)  # a loaded buffer is still updated in place
    assert b.num_batches_tracked.item() == 4
    assert not np.array_equal(b.running_mean.numpy(), a.running_mean.numpy())


def test_batchnorm_without_running_stats_or_affine():
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(13)
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    assert bn.running_mean is None and bn.weight is None
    x = rng.standard_normal((4, 2)) + 3
    bn.eval()  # still the batch statistics
    y = bn(t64(x, False)).numpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-12)


def test_layernorm_module():
    npgan.set_default_dtype("float64")
    ln = nn.LayerNorm((2, 3))
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert ln.weight.shape == (2, 3) and list(ln.buffers()) == []
    np.testing.assert_array_equal(ln.weight.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ln.bias.numpy(), np.zeros((2, 3)))
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    x = np.random.default_rng(14).standard_normal((4, 2, 3))
    ln.weight.data[...] = 2.0
    ln.bias.data[...] = 0.5
    expected = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2), keepdims=True) + 1e-5) * 2 + 0.5
    np.testing.assert_allclose(ln(t64(x, False)).numpy(), expected, rtol=1e-12)
    ln.eval()
    np.testing.assert_allclose(ln(t64(x, False)).numpy(), expected, rtol=1e-12)
    assert repr(ln) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.BatchNorm2d(8)) == \
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"


# --- Flatten and Unflatten ------------------------------------------------------------------

@pytest.mark.parametrize("start,end,shape,expected", [
    (1, -1, (2, 3, 4, 5), (2, 60)), (0, -1, (2, 3, 4), (24,)), (1, 2, (2, 3, 4, 5), (2, 12, 5)),
    (-2, -1, (2, 3, 4), (2, 12)), (2, 2, (2, 3, 4), (2, 3, 4)), (0, 0, (), (1,))])
def test_flatten_is_a_reshape(start, end, shape, expected):
    x = t64(np.arange(np.prod(shape), dtype=float).reshape(shape))
    y = nn.Flatten(start, end)(x)
    assert y.shape == expected
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(expected))
    g, = npgan.grad((y * t64(np.arange(y.numel()).reshape(expected), False)).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), np.arange(y.numel()).reshape(shape))


@pytest.mark.parametrize("dim,size,shape,expected", [
    (1, (2, 4), (3, 8), (3, 2, 4)), (1, (2, -1), (3, 8), (3, 2, 4)),
    (-1, (4, 2, 1), (3, 8), (3, 4, 2, 1)), (0, [3, 1], (3, 8), (3, 1, 8)),
    (1, (128, 7, 7), (2, 6272), (2, 128, 7, 7))])
def test_unflatten_is_a_reshape(dim, size, shape, expected):
    x = t64(np.arange(np.prod(shape), dtype=float).reshape(shape))
    y = nn.Unflatten(dim, size)(x)
    assert y.shape == expected
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(expected))
    assert nn.Flatten(dim % len(shape), dim % len(shape) + len(size) - 1)(y).shape == shape


def test_flatten_and_unflatten_errors():
    x = t64(np.zeros((2, 8)), False)
    cases = [
        (lambda: nn.Flatten()(t64(np.zeros(5), False)), ValueError,
         "Flatten(start_dim=1, end_dim=-1): start_dim 1 is out of range for an input of shape "
         "(5,) (1 dimension: expected one in [-1, 0])"),
        (lambda: nn.Flatten(2, 1)(t64(np.zeros((2, 3, 4)), False)), ValueError,
         "Flatten(start_dim=2, end_dim=1): start_dim comes after end_dim for an input of shape "
         "(2, 3, 4) (dims 2 and 1); flatten needs start_dim <= end_dim"),
        (lambda: nn.Flatten(0, 3)(x), ValueError,
         "Flatten(start_dim=0, end_dim=3): end_dim 3 is out of range for an input of shape "
         "(2, 8) (2 dimensions: expected one in [-2, 1])"),
        (lambda: nn.Flatten(1.0), TypeError, "Flatten: start_dim must be an int, got 1.0"),
        (lambda: nn.Unflatten(1, (3, 3))(x), ValueError,
         "Unflatten(dim=1, unflattened_size=(3, 3)): dimension 1 of the input (shape (2, 8)) "
         "has size 8, which cannot be split into (3, 3) (product 9)"),
        (lambda: nn.Unflatten(1, (3, -1))(x), ValueError,
         "Unflatten(dim=1, unflattened_size=(3, -1)): dimension 1 of the input (shape (2, 8)) "
         "has size 8, which cannot be split into (3, -1) (product 3 times the inferred -1)"),
        (lambda: nn.Unflatten(2, (8,))(x), ValueError,
         "Unflatten(dim=2, unflattened_size=(8,)): dim 2 is out of range for an input of shape "
         "(2, 8) (2 dimensions: expected one in [-2, 1])"),
        (lambda: nn.Unflatten(1, (2, -1, -1)), ValueError,
         "Unflatten: unflattened_size must be a non-empty tuple of sizes >= 0 (at most one -1, "
         "inferred), got (2, -1, -1)"),
        (lambda: nn.Unflatten(1, 8), ValueError,
         "Unflatten: unflattened_size must be a non-empty tuple of sizes >= 0 (at most one -1, "
         "inferred), got 8"),
        (lambda: nn.Unflatten("1", (8,)), TypeError, "Unflatten: dim must be an int, got '1'"),
    ]
    for make, kind, message in cases:
        with pytest.raises(kind) as info:
            make()
        assert str(info.value) == message


# --- float32 throughout ---------------------------------------------------------------------

def test_float32_stays_float32_through_a_training_step_and_second_derivatives():
    npgan.set_default_dtype("float32")
    rng = np.random.default_rng(15)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.Unflatten(1, (3, 1)), nn.Flatten(),
                          nn.LayerNorm(3), nn.Tanh())
    opt = npgan.optim.Adam(model.parameters(), lr=1e-2)
    x = npgan.tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    out = model(x)
    assert out.dtype == np.float32
    g, = npgan.grad(out.sum() * 0 + (out * out).sum(), [x], create_graph=True)
    assert g.dtype == np.float32
    penalty = (g * g).sum()
    opt.zero_grad()
    penalty.backward()
    for p in model.parameters():
        assert p.grad.dtype == np.float32, p.name
    opt.step()
    for name, v in model.state_dict().items():
        assert v.dtype == (np.int64 if name.endswith("num_batches_tracked") else np.float32), name
    model.eval()
    assert model(x).dtype == np.float32
    eval_grad, = npgan.grad(model(x).sum(), [x])
    assert eval_grad.dtype == np.float32
    y = F.batch_norm(x.data, None, None, training=True)  # raw arrays in, a raw array out
    assert backend.is_array(y) and y.dtype == np.float32


# --- error messages ---------------------------------------------------------------------------

def test_error_messages():
    x = npgan.tensor(np.zeros((4, 3, 2), dtype=np.float32))
    one = npgan.tensor(np.zeros((1, 3), dtype=np.float32))
    cases = [
        (lambda: nn.BatchNorm2d(3)(x), ValueError,
         "BatchNorm2d(3): expected a 4-D (N, C, H, W) input, got shape (4, 3, 2) (3-D)"),
        (lambda: nn.BatchNorm1d(3)(npgan.tensor(np.zeros((2, 3, 2, 2), np.float32))), ValueError,
         "BatchNorm1d(3): expected a 2-D (N, C) or 3-D (N, C, L) input, got shape "
         "(2, 3, 2, 2) (4-D)"),
        (lambda: nn.BatchNorm1d(4)(x), ValueError,
         "BatchNorm1d(4): expected 4 channels (dim 1) in the input, got 3 (shape (4, 3, 2))"),
        (lambda: nn.BatchNorm1d(3)(one), ValueError,
         "BatchNorm1d(3): Expected more than 1 value per channel when training, got input "
         "size (1, 3)"),
        (lambda: nn.BatchNorm2d(3)(npgan.tensor(np.zeros((1, 3, 1, 1), np.float32))),
         ValueError, "BatchNorm2d(3): Expected more than 1 value per channel when training, "
         "got input size (1, 3, 1, 1)"),
        (lambda: nn.BatchNorm1d(0), ValueError,
         "BatchNorm1d: num_features must be a positive int, got 0"),
        (lambda: nn.BatchNorm1d(3, momentum=2), ValueError,
         "BatchNorm1d: momentum must be a number in [0, 1], or None for the cumulative "
         "average, got 2"),
        (lambda: nn.BatchNorm2d(3, eps=-1), ValueError,
         "BatchNorm2d: eps must be a number >= 0, got -1"),
        (lambda: nn.BatchNorm1d(3, dtype="int32"), TypeError,
         "BatchNorm1d: dtype must be a floating dtype, got int32"),
        (lambda: nn.LayerNorm(4)(x), ValueError,
         "LayerNorm((4,)): expected an input of shape (*, 4), got shape (4, 3, 2)"),
        (lambda: nn.LayerNorm((2, 0)), ValueError,
         "LayerNorm: normalized_shape must be a positive int or a non-empty tuple of positive "
         "ints, got (2, 0)"),
        (lambda: F.batch_norm(x, None, None), ValueError,
         "batch_norm: evaluation mode (training=False) normalises with running_mean and "
         "running_var, but running_mean is None; pass both, or training=True to use the batch "
         "statistics"),
        (lambda: F.batch_norm(x, np.zeros(4), None, training=True), ValueError,
         "batch_norm: running_mean must have shape (3,) for an input of shape (4, 3, 2), got "
         "shape (4,)"),
        (lambda: F.batch_norm(x, None, None, npgan.tensor(np.ones(2, np.float32)),
                              training=True), ValueError,
         "batch_norm: weight must have shape (3,) for an input of shape (4, 3, 2), got shape "
         "(2,)"),
        (lambda: F.batch_norm(one, None, None, training=True), ValueError,
         "batch_norm: Expected more than 1 value per channel when training, got input size "
         "(1, 3)"),
        (lambda: F.batch_norm(npgan.tensor(np.zeros(3)), None, None, training=True), ValueError,
         "batch_norm: expected an input with at least 2 dimensions, got shape (3,)"),
        (lambda: F.batch_norm(x, np.zeros(3, np.float32), None, training=True, momentum=1.5),
         ValueError, "batch_norm: momentum must be a number in [0, 1], got 1.5"),
        (lambda: F.batch_norm(x, npgan.tensor(np.zeros(3, np.float32), requires_grad=True),
                              None, training=True), ValueError,
         "batch_norm: running_mean is a Tensor that requires grad; running statistics are "
         "updated in place and take no gradient (pass a buffer or its .detach())"),
        (lambda: F.batch_norm(npgan.tensor(np.zeros((4, 3), np.int64)), None, None,
                              training=True), TypeError,
         "batch_norm: input must be floating point, got dtype int64"),
        (lambda: F.batch_norm([1.0, 2.0], None, None, training=True), TypeError,
         "batch_norm: input must be a Tensor or an array, got list"),
        (lambda: F.batch_norm(x, None, None, training=True, eps=-1), ValueError,
         "batch_norm: eps must be a number >= 0, got -1"),
        (lambda: F.layer_norm(x, (3, 3)), ValueError,
         "layer_norm: given normalized_shape=(3, 3), expected an input of shape (*, 3, 3), got "
         "shape (4, 3, 2)"),
        (lambda: F.layer_norm(x, ()), ValueError,
         "layer_norm: normalized_shape must name at least one dimension, got ()"),
        (lambda: F.layer_norm(x, "a"), TypeError,
         "layer_norm: normalized_shape must be an int or a tuple of ints, got 'a'"),
        (lambda: F.layer_norm(x, 2, npgan.tensor(np.ones(3, np.float32))), ValueError,
         "layer_norm: weight must have shape (2,) for an input of shape (4, 3, 2), got shape "
         "(3,)"),
    ]
    for make, kind, message in cases:
        with pytest.raises(kind) as info:
            make()
        assert str(info.value) == message


def test_a_refused_batch_changes_no_buffer():
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        bn(npgan.tensor(np.zeros((1, 3), np.float32)))
    assert bn.num_batches_tracked.item() == 0
    bn.eval()  # one sample is fine in eval mode: the running statistics normalise
    np.testing.assert_allclose(bn(npgan.tensor(np.ones((1, 3), np.float32))).numpy(),
                               np.full((1, 3), 1 / np.sqrt(1 + 1e-5)), rtol=1e-6)


# --- every backend ------------------------------------------------------------------------------

def _backend_run():
    """A BatchNorm2d/LayerNorm computation on the current backend, its numbers on the host."""
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(16)
    bn, ln = nn.BatchNorm2d(2), nn.LayerNorm((2, 3))
    out = {}
    for step in range(2):
        x = npgan.tensor(rng.standard_normal((3, 2, 2, 3)) + step, requires_grad=True)
        y = ln(bn(x).reshape(3, 2, 6)[..., :3])
        g, = npgan.grad((y * y * y).sum(), [x], create_graph=True)
        gg = npgan.grad((g * g).sum(), [x, bn.weight, ln.bias])
        out[f"y{step}"], out[f"g{step}"] = y.numpy(), g.numpy()
        out.update({f"gg{step}_{i}": t.numpy() for i, t in enumerate(gg)})
    bn.eval()
    out["eval"] = bn(npgan.tensor(rng.standard_normal((1, 2, 2, 3)))).numpy()
    out.update(bn.state_dict())
    out["layer_norm_raw"] = backend.to_numpy(F.layer_norm(backend.asarray(rng.random((2, 4))), 4))
    return out


def test_every_backend_gives_numpys_numbers(backend_name):
    backend.set_backend("numpy")
    expected = _backend_run()
    backend.set_backend(backend_name)
    got = _backend_run()
    assert list(got) == list(expected)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-12, atol=1e-14, err_msg=k)
