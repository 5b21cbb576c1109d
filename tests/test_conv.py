"""conv2d and conv_transpose2d (npgan/functions/conv.py) and the layers Conv2d, ConvTranspose2d.

* against PyTorch (when installed): values and first derivatives (input, weight, bias) to
  1e-10 relative in float64 on drawn configurations (odd sizes, inputs not divisible by the
  stride, padding, dilation, groups, output_padding, no bias), the layers' shapes, bounds, repr;
* without it: a nested-loop reference written from the formula, conv_transpose2d as the
  exact adjoint of conv2d, gradient checks to second order (third for conv2d), float32 kept,
  every error message, and the gpusim backend giving numpy's numbers.
"""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import npgan
import npgan.functional as F
from conftest import check_gradients
from npgan import backend, nn

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


# --- drawn configurations -----------------------------------------------------------------

@st.composite
def conv_case(draw, max_side=6, max_channels=2):
    """A conv2d configuration with any geometry the arguments allow (None bias sometimes)."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = (groups * draw(st.integers(1, max_channels)) for _ in range(2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # each side at least the dilated kernel's span less the padding, so the output is not empty
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, max_side - 1))
               for d, k, p in zip(dilation, kernel, padding))
    n = draw(st.integers(1, 2))
    return dict(x=(n, c_in) + hw, w=(c_out, c_in // groups) + kernel,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)),
                kw=dict(stride=stride, padding=padding, dilation=dilation, groups=groups))


@st.composite
def conv_transpose_case(draw, max_side=4, max_channels=2):
    """A conv_transpose2d configuration, output_padding < max(stride, dilation) included."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = (groups * draw(st.integers(1, max_channels)) for _ in range(2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    hw = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    # padding small enough that the output is not empty
    padding = tuple(draw(st.integers(0, max(0, min(2, ((h - 1) * s + d * (k - 1) + op) // 2))))
                    for h, s, d, k, op in zip(hw, stride, dilation, kernel, output_padding))
    n = draw(st.integers(1, 2))
    return dict(x=(n, c_in) + hw, w=(c_in, c_out // groups) + kernel,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2 ** 16)),
                kw=dict(stride=stride, padding=padding, output_padding=output_padding,
                        dilation=dilation, groups=groups))


def draw_arrays(case, transposed):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal(case["x"])
    w = rng.standard_normal(case["w"])
    c_out = case["w"][1] * case["kw"]["groups"] if transposed else case["w"][0]
    b = rng.standard_normal(c_out) if case["bias"] else None
    return x, w, b


# --- the nested-loop references, written from the formulas --------------------------------

def conv2d_loops(x, w, b, stride, padding, dilation, groups):
    """y[n, o, a, b] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[n, g c, a s + i d, b s + j d]."""
    n, c_in, h, wd = x.shape
    c_out, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, c_out, oh, ow))
    for o in range(c_out):
        first = (o // (c_out // groups)) * per_group  # the first input channel of o's group
        for a in range(oh):
            for bb in range(ow):
                for c in range(per_group):
                    for i in range(kh):
                        for j in range(kw):
                            column = xp[:, first + c, a * sh + i * dh, bb * sw + j * dw]
                            y[:, o, a, bb] += w[o, c, i, j] * column
        if b is not None:
            y[:, o] += b[o]
    return y


def conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    """y[n, g o, a s + i d - p, b s + j d - p] += W[c, o, i, j] x[n, c, a, b] (c in group g)."""
    n, c_in, h, wd = x.shape
    _, per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw), (oph, opw) = stride, padding, dilation, output_padding
    hout = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wout = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = np.zeros((n, per_group * groups, hout, wout))
    for c in range(c_in):
        first = (c // (c_in // groups)) * per_group  # the first output channel of c's group
        for a in range(h):
            for bb in range(wd):
                for o in range(per_group):
                    for i in range(kh):
                        for j in range(kw):
                            r, q = a * sh + i * dh - ph, bb * sw + j * dw - pw
                            if 0 <= r < hout and 0 <= q < wout:
                                y[:, first + o, r, q] += w[c, o, i, j] * x[:, c, a, bb]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def pairs(kw):
    """The keyword arguments with every int made a pair (the references take pairs)."""
    return {k: (v if k == "groups" or isinstance(v, tuple) else (v, v)) for k, v in kw.items()}


# --- (a) PyTorch's numbers ------------------------------------------------------------------

def compare_with_torch(torch, ours, theirs, x, w, b, kw):
    """Values and first derivatives (input, weight, bias) to 1e-10 relative."""
    tensors = [t64(x), t64(w)] + ([t64(b)] if b is not None else [])
    y = ours(*tensors[:2], tensors[2] if b is not None else None, **kw)
    tt = [torch.tensor(a, dtype=torch.float64, requires_grad=True)
          for a in ([x, w] + ([b] if b is not None else []))]
    ty = theirs(*tt[:2], tt[2] if b is not None else None, **kw)
    assert y.shape == tuple(ty.shape)
    scale = np.abs(ty.detach().numpy()).max() + 1e-300
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12 * scale)
    r = np.random.default_rng(1).standard_normal(y.shape)
    grads = npgan.grad((y * t64(r, False)).sum(), tensors)
    tgrads = torch.autograd.grad((ty * torch.tensor(r)).sum(), tt)
    for name, g, tg in zip(("input", "weight", "bias"), grads, tgrads):
        tg = tg.numpy()
        np.testing.assert_allclose(g.numpy(), tg, rtol=1e-10, atol=1e-12 * (np.abs(tg).max() + 1),
                                   err_msg=f"d/d{name}")


@SETTINGS
@given(case=conv_case())
def test_conv2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, F.conv2d, torch.nn.functional.conv2d,
                       *draw_arrays(case, False), case["kw"])


@SETTINGS
@given(case=conv_transpose_case())
def test_conv_transpose2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    compare_with_torch(torch, F.conv_transpose2d, torch.nn.functional.conv_transpose2d,
                       *draw_arrays(case, True), case["kw"])


def test_int_arguments_mean_pairs_as_in_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3)), None
    compare_with_torch(torch, F.conv2d, torch.nn.functional.conv2d, x, w, b,
                       dict(stride=2, padding=1, dilation=2, groups=2))
    w = rng.standard_normal((4, 3, 4, 4))
    compare_with_torch(torch, F.conv_transpose2d, torch.nn.functional.conv_transpose2d, x, w, b,
                       dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1))


# --- (b) without PyTorch: the loop reference, the adjoint, gradient checks --------------

@settings(max_examples=12, deadline=None, derandomize=True)
@given(case=conv_case(max_side=4))
def test_conv2d_equals_the_loop_reference(case):
    x, w, b = draw_arrays(case, False)
    y = F.conv2d(t64(x), t64(w), None if b is None else t64(b), **case["kw"])
    np.testing.assert_allclose(y.numpy(), conv2d_loops(x, w, b, **case["kw"]),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(case=conv_transpose_case(max_side=3))
def test_conv_transpose2d_equals_the_loop_reference(case):
    x, w, b = draw_arrays(case, True)
    y = F.conv_transpose2d(t64(x), t64(w), None if b is None else t64(b), **case["kw"])
    np.testing.assert_allclose(y.numpy(), conv_transpose2d_loops(x, w, b, **case["kw"]),
                               rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=conv_case())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case):
    """<conv2d(x, W), u> = <x, conv_transpose2d(u, W)>, output_padding sizing the result to x."""
    x, w, _ = draw_arrays(case, False)
    geo = pairs(case["kw"])
    y = F.conv2d(t64(x), t64(w), **case["kw"]).numpy()
    u = np.random.default_rng(case["seed"] + 1).standard_normal(y.shape)
    output_padding = tuple(
        n - ((o - 1) * s - 2 * p + d * (k - 1) + 1) for n, o, s, p, d, k in
        zip(x.shape[2:], y.shape[2:], geo["stride"], geo["padding"], geo["dilation"], w.shape[2:]))
    back = F.conv_transpose2d(t64(u), t64(w), output_padding=output_padding, **case["kw"])
    assert back.shape == x.shape
    assert float((y * u).sum()) == pytest.approx(float((x * back.numpy()).sum()),
                                                 rel=1e-12, abs=1e-12)


GRAD_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)


@GRAD_SETTINGS
@given(case=conv_case(max_side=3, max_channels=1))
def test_conv2d_gradients_to_second_order(case):
    x, w, b = draw_arrays(case, False)
    inputs = [t64(x), t64(w)] + ([t64(b)] if b is not None else [])
    check_gradients(lambda *a: F.conv2d(*a, **case["kw"]), inputs, second_order=True)


@GRAD_SETTINGS
@given(case=conv_transpose_case(max_side=2, max_channels=1))
def test_conv_transpose2d_gradients_to_second_order(case):
    x, w, b = draw_arrays(case, True)
    inputs = [t64(x), t64(w)] + ([t64(b)] if b is not None else [])
    check_gradients(lambda *a: F.conv_transpose2d(*a, **case["kw"]), inputs, second_order=True)


@pytest.mark.parametrize("wrt", [0, 1])
def test_conv2d_third_order(wrt):
    """The gradient (of x, or of W) of sum(conv2d(x, W)^3), itself differentiated twice: through
    all three ops (Conv2dWeightGrad's own backward included)."""
    rng = np.random.default_rng(3)
    x, w = t64(rng.standard_normal((1, 2, 5, 4))), t64(rng.standard_normal((2, 1, 3, 2)))

    def gradient(x, w):
        y = F.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
        return npgan.grad((y * y * y).sum(), [x, w][wrt], create_graph=True)[0]

    assert npgan.gradgradcheck(gradient, [x, w])


def test_conv_layers_gradients_through_parameters():
    """A Conv2d then a ConvTranspose2d: every parameter's gradient to second order."""
    npgan.set_default_dtype("float64")
    conv, up = nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.ConvTranspose2d(3, 2, 2, stride=2)
    x = t64(np.random.default_rng(4).standard_normal((1, 2, 4, 4)))
    params = [conv.weight, conv.bias, up.weight, up.bias]
    check_gradients(lambda x, *p: up(conv(x)), [x] + params, second_order=True)


@pytest.mark.parametrize("fn, w_shape",
                         [(F.conv2d, (6, 2, 3, 3)), (F.conv_transpose2d, (4, 3, 3, 3))])
def test_one_gradient_wanted_equals_both_and_a_second_backward(fn, w_shape):
    """Asking for dx or dW alone (pruned rules: ConvTranspose2d then makes gy's columns for one
    op only) gives the numbers of asking for both; a retained graph gives them again (Conv2d
    keeps the columns of x for dW)."""
    rng = np.random.default_rng(8)
    x, w = t64(rng.standard_normal((2, 4, 5, 6))), t64(rng.standard_normal(w_shape))
    y = fn(x, w, stride=2, padding=1, groups=2)
    loss = (y * t64(rng.standard_normal(y.shape), False)).sum()
    both = npgan.grad(loss, [x, w], retain_graph=True)
    alone = [npgan.grad(loss, [v], retain_graph=True)[0] for v in (x, w)]
    again = npgan.grad(loss, [x, w])
    for b, a, g in zip(both, alone, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(g.numpy(), b.numpy())


# --- (c) float32 stays float32 ----------------------------------------------------------

@pytest.mark.parametrize("transposed", [False, True])
def test_float32_in_float32_out_and_gradients(transposed):
    rng = np.random.default_rng(5)
    x = npgan.tensor(rng.standard_normal((2, 4, 5, 5)).astype(np.float32), requires_grad=True)
    shape = (4, 3, 3, 3) if transposed else (6, 2, 3, 3)
    w = npgan.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    b = npgan.tensor(rng.standard_normal(6).astype(np.float32),
                     requires_grad=True)
    fn = F.conv_transpose2d if transposed else F.conv2d
    y = fn(x, w, b, stride=2, padding=1, groups=2)
    assert y.dtype == np.float32
    (y * y).sum().backward(retain_graph=True)
    assert [p.grad.dtype for p in (x, w, b)] == [np.float32] * 3
    grads = npgan.grad((y * y).sum(), [x, w, b], create_graph=True)
    assert [g.dtype for g in grads] == [np.float32] * 3
    second = npgan.grad(sum((g * g).sum() for g in grads), [x, w, b])
    assert [g.dtype for g in second] == [np.float32] * 3


def test_mixed_dtypes_are_refused():
    x = npgan.tensor(np.ones((1, 1, 3, 3), np.float32))
    with pytest.raises(TypeError, match="cannot mix float32 and float64"):
        F.conv2d(x, t64(np.ones((1, 1, 2, 2))))


# --- (d) every error message -----------------------------------------------------------

X = np.zeros((2, 4, 9, 9))
W_CONV = np.zeros((8, 2, 3, 3))   # groups=2: (out, in/groups, kh, kw)
W_T = np.zeros((4, 3, 3, 3))      # (in, out/groups, kh, kw)

CONV_ERRORS = [
    (dict(x=np.zeros((4, 9, 9))),
     "conv2d: expected a 4-D input (N, C, H, W), got shape (4, 9, 9)"),
    (dict(w=np.zeros((8, 2, 3))),
     "conv2d: expected a 4-D weight (out_channels, in_channels/groups, kH, kW), "
     "got shape (8, 2, 3)"),
    (dict(groups=1),
     "conv2d: expected input with 2 channels (weight of shape (8, 2, 3, 3), groups=1), "
     "got shape (2, 4, 9, 9)"),
    (dict(groups=3, w=np.zeros((8, 1, 3, 3)), x=np.zeros((2, 3, 9, 9))),
     "conv2d: groups=3 must divide out_channels=8 (weight of shape (8, 1, 3, 3))"),
    (dict(groups=0), "conv2d: groups must be a positive int, got 0"),
    (dict(w=np.zeros((8, 2, 11, 3))),
     "conv2d: the kernel (11, 3) with dilation (1, 1) spans (11, 3), larger than the padded "
     "input (9, 9) (input of shape (2, 4, 9, 9), padding (0, 0)); use a smaller kernel or "
     "dilation, or more padding"),
    (dict(dilation=(5, 1), padding=(0, 1)),
     "conv2d: the kernel (3, 3) with dilation (5, 1) spans (11, 3), larger than the padded "
     "input (9, 11) (input of shape (2, 4, 9, 9), padding (0, 1)); use a smaller kernel or "
     "dilation, or more padding"),
    (dict(stride=0), "conv2d: stride must be a positive int or a pair of them, got 0"),
    (dict(stride=(1, 2, 3)),
     "conv2d: stride must be a positive int or a pair of them, got (1, 2, 3)"),
    (dict(dilation=(1, 0)),
     "conv2d: dilation must be a positive int or a pair of them, got (1, 0)"),
    (dict(padding=-1), "conv2d: padding must be a non-negative int or a pair of them, got -1"),
    (dict(padding=1.5), "conv2d: padding must be a non-negative int or a pair of them, got 1.5"),
    (dict(b=np.zeros(4)), "conv2d: expected a bias of shape (8,), got shape (4,)"),
]


@pytest.mark.parametrize("change, message", CONV_ERRORS)
def test_conv2d_errors(change, message):
    args = dict(x=X, w=W_CONV, b=None, groups=2)
    args.update(change)
    x, w, b = (args.pop(k) for k in ("x", "w", "b"))
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        F.conv2d(t64(x), t64(w), None if b is None else t64(b), **args)


T_ERRORS = [
    (dict(x=np.zeros((2, 4, 9))),
     "conv_transpose2d: expected a 4-D input (N, C, H, W), got shape (2, 4, 9)"),
    (dict(w=np.zeros((4, 3))),
     "conv_transpose2d: expected a 4-D weight (in_channels, out_channels/groups, kH, kW), "
     "got shape (4, 3)"),
    (dict(x=np.zeros((2, 5, 9, 9))),
     "conv_transpose2d: expected input with 4 channels (weight of shape (4, 3, 3, 3)), "
     "got shape (2, 5, 9, 9)"),
    (dict(groups=3),
     "conv_transpose2d: groups=3 must divide in_channels=4 (weight of shape (4, 3, 3, 3))"),
    (dict(stride=2, output_padding=2),
     "conv_transpose2d: output_padding (2, 2) must be smaller than either the stride (2, 2) "
     "or the dilation (1, 1), in each dimension"),
    (dict(stride=(2, 1), output_padding=(0, 1)),
     "conv_transpose2d: output_padding (0, 1) must be smaller than either the stride (2, 1) "
     "or the dilation (1, 1), in each dimension"),
    (dict(output_padding=-1),
     "conv_transpose2d: output_padding must be a non-negative int or a pair of them, got -1"),
    (dict(x=np.zeros((2, 4, 1, 1)), padding=2),
     "conv_transpose2d: the output would be (-1, -1) for input of shape (2, 4, 1, 1) and weight "
     "of shape (4, 3, 3, 3) ((H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1, "
     "with padding (2, 2)); use less padding"),
    (dict(b=np.zeros(3)), "conv_transpose2d: expected a bias of shape (6,), got shape (3,)"),
]


@pytest.mark.parametrize("change, message", T_ERRORS)
def test_conv_transpose2d_errors(change, message):
    args = dict(x=X, w=W_T, b=None, groups=2)
    args.update(change)
    x, w, b = (args.pop(k) for k in ("x", "w", "b"))
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        F.conv_transpose2d(t64(x), t64(w), None if b is None else t64(b), **args)


def test_output_padding_may_reach_the_stride_when_dilation_is_larger():
    """PyTorch's rule: smaller than the stride *or* the dilation (here 1 >= stride 1, < 2)."""
    y = F.conv_transpose2d(t64(np.ones((1, 1, 2, 2))), t64(np.ones((1, 1, 2, 2))),
                           output_padding=1, dilation=2)
    assert y.shape == (1, 1, 5, 5)


def test_layer_errors_name_the_layer():
    npgan.set_default_dtype("float64")
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match="^" + re.escape(
            "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): expected input with 3 channels, "
            "got shape (2, 4, 9, 9)") + "$"):
        layer(t64(np.zeros((2, 4, 9, 9))))
    with pytest.raises(ValueError, match="^" + re.escape(
            "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1)): expected a 4-D input "
            "(N, 3, H, W), got shape (3, 9, 9)") + "$"):
        layer(t64(np.zeros((3, 9, 9))))
    with pytest.raises(ValueError, match="^" + re.escape(
            "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1), padding=(1, 1)): the kernel (5, 5) "
            "with dilation (1, 1) spans (5, 5), larger than the padded input (4, 4)")):
        nn.Conv2d(3, 8, 5, padding=1)(t64(np.zeros((1, 3, 2, 2))))
    up = nn.ConvTranspose2d(4, 2, 3, stride=2)
    with pytest.raises(ValueError, match="^" + re.escape(
            "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2)): expected input with 4 "
            "channels, got shape (1, 2, 5, 5)") + "$"):
        up(t64(np.zeros((1, 2, 5, 5))))
    with pytest.raises(ValueError, match="^" + re.escape(
            "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
            "output_padding=(2, 2)): output_padding (2, 2) must be smaller than either the "
            "stride (2, 2) or the dilation (1, 1), in each dimension") + "$"):
        nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=2)
    with pytest.raises(ValueError, match=r"^Conv2d: groups=2 must divide in_channels=3$"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match=r"^ConvTranspose2d: groups=4 must divide out_channels=6$"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match=r"^Conv2d: in_channels must be a positive int, got 0$"):
        nn.Conv2d(0, 8, 3)
    with pytest.raises(ValueError, match=re.escape(
            "Conv2d: kernel_size must be a positive int or a pair of them, got (3, 0)")):
        nn.Conv2d(3, 8, (3, 0))


# --- (e) the gpusim backend gives numpy's numbers ---------------------------------------

def _conv_numbers():
    """Values, first and second derivatives of a conv2d then a conv_transpose2d, as numpy."""
    rng = np.random.default_rng(6)
    x = t64(rng.standard_normal((2, 4, 7, 6)))
    w1, b1 = t64(rng.standard_normal((6, 2, 3, 2))), t64(rng.standard_normal(6))
    w2, b2 = t64(rng.standard_normal((6, 1, 3, 3))), t64(rng.standard_normal(3))
    h = F.conv2d(x, w1, b1, stride=2, padding=(1, 0), dilation=(1, 2), groups=2)
    y = F.conv_transpose2d(h, w2, b2, stride=2, padding=1, output_padding=(1, 0), groups=3)
    grads = npgan.grad((y * y).sum(), [x, w1, b1, w2, b2], create_graph=True)
    second = npgan.grad(sum((g * g).sum() for g in grads), [x, w1, w2])
    return [t.numpy() for t in (y,) + grads + second]


def test_backends_give_numpys_numbers(backend_name):
    got = _conv_numbers()
    previous = backend.get_backend()
    backend.set_backend("numpy")
    try:
        expected = _conv_numbers()
    finally:
        backend.set_backend(previous)
    for a, e in zip(got, expected):
        np.testing.assert_allclose(a, e, rtol=1e-13, atol=1e-13)


# --- (f) the layers: shapes, initialisation bounds, repr (PyTorch's) ------------------------

LAYERS = [
    (nn.Conv2d, (16, 32, 3), {}),
    (nn.Conv2d, (6, 4, (3, 2)), dict(stride=(2, 1), padding=1, dilation=2, groups=2, bias=False)),
    (nn.ConvTranspose2d, (32, 16, 4), dict(stride=2, padding=1)),
    (nn.ConvTranspose2d, (6, 9, (2, 3)),
     dict(stride=2, padding=(0, 1), output_padding=1, groups=3, dilation=(1, 2))),
]


@pytest.mark.parametrize("layer, args, kw", LAYERS)
def test_layer_shapes_bounds_repr(layer, args, kw):
    in_c, out_c, k = args
    k = (k, k) if isinstance(k, int) else k
    g = kw.get("groups", 1)
    m = layer(*args, **kw)
    transposed = layer is nn.ConvTranspose2d
    shape = (in_c, out_c // g) + k if transposed else (out_c, in_c // g) + k
    assert m.weight.shape == shape and m.weight.dtype == np.float32
    assert (m.bias is None) == (kw.get("bias", True) is False)
    bound = 1 / math.sqrt(shape[1] * k[0] * k[1])  # 1 / sqrt(fan_in)
    for p in m.parameters():
        a = p.numpy()
        assert a.min() >= -bound and a.max() <= bound
        if a.size >= 1000:  # the draws reach the bounds: uniform on the whole interval
            assert a.min() < -0.95 * bound and a.max() > 0.95 * bound
    assert [name for name, _ in m.named_parameters()] == (
        ["weight", "bias"] if m.bias is not None else ["weight"])
    torch = pytest.importorskip("torch")
    tm = getattr(torch.nn, layer.__name__)(*args, **kw)
    assert m.weight.shape == tuple(tm.weight.shape)
    assert repr(m) == repr(tm)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(tm.weight)
    assert bound == pytest.approx(1 / math.sqrt(fan_in), rel=1e-15)
    assert np.abs(tm.weight.detach().numpy()).max() <= bound  # torch draws within it too


def test_layer_forward_is_the_function_and_dtype_follows():
    npgan.manual_seed(0)
    m = nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype="float64")
    assert m.weight.dtype == np.float64 and m.bias.dtype == np.float64
    x = t64(np.random.default_rng(7).standard_normal((3, 2, 6, 5)))
    np.testing.assert_array_equal(
        m(x).numpy(), F.conv2d(x, m.weight, m.bias, stride=2, padding=1).numpy())
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, dtype="float64")
    assert up(m(x)).shape == (3, 2, 6, 6)
    npgan.manual_seed(0)
    again = nn.Conv2d(2, 4, 3, stride=2, padding=1, dtype="float64")
    np.testing.assert_array_equal(again.weight.numpy(), m.weight.numpy())  # seeded
