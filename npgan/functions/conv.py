"""Convolution: ``conv2d`` and ``conv_transpose2d``, differentiable to any order.

Three ops, each written with the others (Chainer's and PyTorch's scheme):

* :class:`Conv2d` (x, W) -> y, the convolution (a correlation, as in PyTorch);
* :class:`ConvTranspose2d` (x, W) -> y, its adjoint in x: the input-gradient of a conv2d;
* :class:`Conv2dWeightGrad` (x, gy) -> gW, its adjoint in W: the weight-gradient of a conv2d.

With one geometry (stride s, padding p, dilation d, groups), for one group,

    y[n, o, a, b] = sum_{c, i, j} W[o, c, i, j] x_pad[n, c, a s + i d, b s + j d]

is bilinear in (x, W), so its three partners are the same sum read three ways:
<conv2d(x, W), g> = <x, conv_transpose2d(g, W)> = <W, weight_grad(x, g)>. Hence

    Conv2d:            dx = conv_transpose2d(gy, W),     dW = weight_grad(x, gy)
    ConvTranspose2d:   dx = conv2d(gy, W),               dW = weight_grad(gy, x)
    Conv2dWeightGrad:  dx = conv_transpose2d(gy, ggW),   dgy = conv2d(x, ggW)

and each rule calls the others through ``apply``: raw arrays in a plain backward,
recorded ops under ``create_graph``, so every order of derivative is exact.

The forwards on raw arrays are im2col (:func:`im2col`: one strided slice per kernel
position (i, j), kh kw copies) with one matrix product per group, and its adjoint
col2im (:func:`col2im`: kh kw strided slice adds into zeros; no ``add.at``).

Layout: the API is NCHW, but inside, images are (C, H, W, N) and columns
(C kh kw, OH OW N): channels first, so each product is one large matrix product on
contiguous operands, (O, C kh kw) @ (C kh kw, OH OW N); the batch last, so every
slice copy or add of im2col/col2im runs along N contiguous numbers (in NCHW a
slice's rows are OW numbers s apart: 3-4 times slower here at DCGAN's shapes).
"""
import numbers
from collections import namedtuple

from npgan import backend, speed
from npgan.autograd import Function, is_grad_enabled
from npgan.functions.helpers import apply, raw

Geometry = namedtuple("Geometry", "stride padding dilation groups")
Geometry.__doc__ = """A convolution's stride, padding and dilation (pairs of ints: height, width)
and groups, shared by the three ops of one convolution and by their gradients."""


# --- the raw-array kernels ---------------------------------------------------

def im2col(x, kernel, out_hw, geom):
    """The columns of ``x`` (N, C, H, W) for a kernel of size ``kernel`` (kh, kw):

        cols[c, i, j, a, b, n] = x_pad[n, c, a s + i d, b s + j d],

    returned as a (C kh kw, OH OW N) matrix, for an output of ``out_hw`` = (OH, OW).
    One strided slice of the zero-padded input per kernel position (i, j).
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    (kh, kw), (oh, ow) = kernel, out_hw
    (sh, sw), (ph, pw), (dh, dw) = geom.stride, geom.padding, geom.dilation
    x_chwn = x.transpose(1, 2, 3, 0)  # (C, H, W, N): the layout of the columns
    if ph or pw:
        padded = _zeros(xp, (c, h + 2 * ph, w + 2 * pw, n), x.dtype)
        padded[:, ph:ph + h, pw:pw + w] = x_chwn
    else:
        padded = x_chwn
    cols = speed.empty(xp, (c, kh, kw, oh, ow, n), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = padded[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                   j * dw:j * dw + sw * (ow - 1) + 1:sw]
    return cols.reshape(c * kh * kw, oh * ow * n)


def col2im(cols, shape, kernel, out_hw, geom):
    """The adjoint of :func:`im2col`: columns (C kh kw, OH OW N) summed back into an
    image of ``shape`` (N, C, H, W),

        y[n, c, a s + i d - p, b s + j d - p] += cols[c, i, j, a, b, n],

    as kh kw strided slice adds into a zero array, then the padding cut off.
    Returns the image in the columns' layout, (C, H, W, N).
    """
    xp = backend.get_array_module(cols)
    n, c, h, w = shape
    (kh, kw), (oh, ow) = kernel, out_hw
    (sh, sw), (ph, pw), (dh, dw) = geom.stride, geom.padding, geom.dilation
    # the padded image, tall enough for every slice (output_padding can ask for more)
    hp = max(h + 2 * ph, dh * (kh - 1) + sh * (oh - 1) + 1)
    wp = max(w + 2 * pw, dw * (kw - 1) + sw * (ow - 1) + 1)
    padded = _zeros(xp, (c, hp, wp, n), cols.dtype)
    cols = cols.reshape(c, kh, kw, oh, ow, n)
    for i in range(kh):
        for j in range(kw):
            padded[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                   j * dw:j * dw + sw * (ow - 1) + 1:sw] += cols[:, i, j]
    return padded[:, ph:ph + h, pw:pw + w]


def _zeros(xp, shape, dtype):
    """A zero array, reusing a large one of an earlier step (``speed.empty``: writing a fresh
    one pays a page fault per 4 KiB on the CPU)."""
    a = speed.empty(xp, shape, dtype)
    a.fill(0)
    return a


def _per_group(a, b, groups):
    """The product of each group's block: a (g A, K) and b (g K, M) give (g A, M), whose
    block k is a_k @ b_k (one matrix product when groups is 1)."""
    if groups == 1:
        return speed.matmul_2d(a, b)  # a @ b
    g = groups
    out = a.reshape(g, a.shape[0] // g, a.shape[1]) @ b.reshape(g, b.shape[0] // g, b.shape[1])
    return out.reshape(-1, out.shape[-1])


def _channels_first(x):
    """x (N, C, H, W) as the matrix (C, H W N), the columns' layout."""
    n, c, h, w = x.shape
    return x.transpose(1, 2, 3, 0).reshape(c, h * w * n)


def _to_nchw(y, n, hw):
    """A (C, H W N) or (C, H, W, N) result seen as (N, C, H, W): a strided view, no copy.

    The memory stays in the columns' layout, so the next convolution's
    :func:`_channels_first` and :func:`im2col` read it without a transpose, and the
    elementwise ops between (batch norm, ReLU) keep that layout (numpy's ufuncs
    write in the order of their input). Only a reshape to vectors (``Flatten``)
    copies. Plain idiom: ``ascontiguousarray`` of the view, one copy of every output
    (11% of a DCGAN step on the CPU).
    """
    return y.reshape((y.shape[0],) + tuple(hw) + (n,)).transpose(3, 0, 1, 2)


def _add_bias(y, b):
    """y += b over the channels (axis 1), in place."""
    y += b.reshape(1, -1, 1, 1)
    return y


# --- the three ops -------------------------------------------------------------

class Conv2d(Function):
    """y[n, o] = sum_c W[o, c] (*) x[n, c] (+ b[o]): a correlation, with W (O, C/g, kh, kw).

        dx = conv_transpose2d(gy, W)  (sized to x),
        dW = weight_grad(x, gy),      db = sum of gy over (N, H, W).
    """

    float_operands_only = True

    def __init__(self, geom, out_hw, cols=None):
        self.geom = geom
        self.out_hw = tuple(out_hw)  # (OH, OW); less than the natural size when a gradient asks
        self.cols = cols  # im2col(x), when the caller has it already

    def forward(self, x, W, b=None):
        o = W.shape[0]
        cols = self.cols
        if cols is None:
            cols = im2col(x, W.shape[2:], self.out_hw, self.geom)      # (C kh kw, OH OW N)
        # kept while a graph is recorded: dW needs the same columns (one im2col fewer)
        self.cols = cols if is_grad_enabled() else None
        y = _per_group(W.reshape(o, -1), cols, self.geom.groups)        # (O, OH OW N)
        y = _to_nchw(y, x.shape[0], self.out_hw)
        return y if b is None else _add_bias(y, b)

    def backward(self, gy, x, W, *rest):
        gx = apply(ConvTranspose2d(self.geom, x.shape[2:]), gy, W) if self.needs[0] else None
        gW = (apply(Conv2dWeightGrad(self.geom, W.shape[2:], self.cols), x, gy)
              if self.needs[1] else None)
        if len(rest) == 1:
            return gx, gW
        return gx, gW, gy.sum(axis=(0, 2, 3)) if self.needs[2] else None


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) (+ b), W (C_in, C_out/g, kh, kw): the adjoint in x of the
    conv2d with this geometry, <conv2d(u, W), x> = <u, y>; each x[n, c, a, b] spreads
    W[c] over y around (a s - p, b s - p):

        cols = W^T x (per group),  y = col2im(cols),
        dx = conv2d(gy, W),  dW = weight_grad(gy, x),  db = sum of gy over (N, H, W).
    """

    float_operands_only = True

    def __init__(self, geom, out_hw):
        self.geom = geom
        self.out_hw = tuple(out_hw)  # (H_out, W_out): output_padding decides it

    def forward(self, x, W, b=None):
        n, c_in, h, w = x.shape
        g = self.geom.groups
        c_out = W.shape[1] * g
        # each group's W^T, (C_out/g kh kw, C_in/g), stacked: (C_out kh kw, C_in/g) per group
        w_t = W.reshape(g, c_in // g, -1).transpose(0, 2, 1).reshape(-1, c_in // g)
        cols = _per_group(w_t, _channels_first(x), g)                  # (C_out kh kw, H W N)
        y = col2im(cols, (n, c_out) + self.out_hw, W.shape[2:], (h, w), self.geom)
        y = _to_nchw(y, n, self.out_hw)
        return y if b is None else _add_bias(y, b)

    def backward(self, gy, x, W, *rest):
        # dx and dW both need the columns of gy: made once when both are wanted
        cols = (im2col(raw(gy), W.shape[2:], x.shape[2:], self.geom)
                if self.needs[0] and self.needs[1] else None)
        gx = apply(Conv2d(self.geom, x.shape[2:], cols), gy, W) if self.needs[0] else None
        gW = (apply(Conv2dWeightGrad(self.geom, W.shape[2:], cols), gy, x)
              if self.needs[1] else None)
        if len(rest) == 1:
            return gx, gW
        return gx, gW, gy.sum(axis=(0, 2, 3)) if self.needs[2] else None


class Conv2dWeightGrad(Function):
    """gW = weight_grad(x, gy): the gradient of conv2d(x, W) in W, bilinear in (x, gy),

        gW[o, c, i, j] = sum_{n, a, b} gy[n, o, a, b] x_pad[n, c, a s + i d, b s + j d]
                       (one group: cols of x times gy, per group);

    given ggW = d(loss)/d(gW):  dx = conv_transpose2d(gy, ggW),  dgy = conv2d(x, ggW).
    """

    float_operands_only = True

    def __init__(self, geom, kernel, cols=None):
        self.geom = geom
        self.kernel = tuple(kernel)  # (kh, kw) of the weight
        self.cols = cols  # im2col(x), when the caller has it already (conv2d's forward made it)

    def forward(self, x, gy):
        c = x.shape[1]
        g = self.geom.groups
        cols = self.cols
        if cols is None:
            cols = im2col(x, self.kernel, gy.shape[2:], self.geom)     # (C kh kw, OH OW N)
        self.cols = None  # not kept: only its inputs are needed to differentiate it
        # per group: gy_k (O/g, OH OW N) @ cols_k^T (OH OW N, C/g kh kw)
        k = cols.shape[0] // g
        cols_t = cols.reshape(g, k, -1).transpose(0, 2, 1).reshape(-1, k)
        gw = _per_group(_channels_first(gy), cols_t, g)               # (O, C/g kh kw)
        return gw.reshape((gy.shape[1], c // g) + self.kernel)

    def backward(self, ggw, x, gy, gw):
        gx = apply(ConvTranspose2d(self.geom, x.shape[2:]), gy, ggw) if self.needs[0] else None
        ggy = apply(Conv2d(self.geom, gy.shape[2:]), x, ggw) if self.needs[1] else None
        return gx, ggy


# --- the public functions, with their checks -------------------------------------

def _pair(value, what, who, least):
    """``value`` (an int or a pair of ints, each >= ``least``) as a pair."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least
            for v in pair):
        kind = "positive" if least == 1 else "non-negative"
        raise ValueError(f"{who}: {what} must be a {kind} int or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_groups(groups, who):
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _check_4d(input, weight, who, weight_layout):
    if input.ndim != 4:
        raise ValueError(
            f"{who}: expected a 4-D input (N, C, H, W), got shape {tuple(input.shape)}")
    if weight.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D weight {weight_layout}, "
                         f"got shape {tuple(weight.shape)}")


def _check_bias(bias, channels, who):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ValueError(f"{who}: expected a bias of shape ({channels},), "
                         f"got shape {tuple(bias.shape)}")


def conv2d_geometry(input_shape, weight_shape, stride, padding, dilation, groups, who="conv2d"):
    """Check a conv2d's arguments (before any work) and return its
    :class:`Geometry` and output size (OH, OW), OH = (H + 2p - d (kh - 1) - 1) // s + 1."""
    stride = _pair(stride, "stride", who, 1)
    padding = _pair(padding, "padding", who, 0)
    dilation = _pair(dilation, "dilation", who, 1)
    groups = _check_groups(groups, who)
    shape, wshape = tuple(input_shape), tuple(weight_shape)
    out_channels, per_group = wshape[0], wshape[1]
    if out_channels % groups:
        raise ValueError(f"{who}: groups={groups} must divide out_channels={out_channels} "
                         f"(weight of shape {wshape})")
    if shape[1] != per_group * groups:
        raise ValueError(
            f"{who}: expected input with {per_group * groups} channels (weight of shape "
            f"{wshape}, groups={groups}), got shape {shape}")
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, wshape[2:]))
    padded = tuple(n + 2 * p for n, p in zip(shape[2:], padding))
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{who}: the kernel {wshape[2:]} with dilation {dilation} spans {span}, larger than "
            f"the padded input {padded} (input of shape {shape}, padding {padding}); use a "
            f"smaller kernel or dilation, or more padding")
    out_hw = tuple((n - e) // s + 1 for n, e, s in zip(padded, span, stride))
    return Geometry(stride, padding, dilation, groups), out_hw


def check_output_padding(output_padding, stride, dilation, who):
    """PyTorch's rule: each output_padding smaller than the stride or the dilation (pairs)."""
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(
            f"{who}: output_padding {output_padding} must be smaller than either the stride "
            f"{stride} or the dilation {dilation}, in each dimension")


def conv_transpose2d_geometry(input_shape, weight_shape, stride, padding, output_padding,
                              groups, dilation, who="conv_transpose2d"):
    """Check a conv_transpose2d's arguments (before any work) and return its :class:`Geometry`
    and output size, H_out = (H - 1) s - 2p + d (kh - 1) + output_padding + 1."""
    stride = _pair(stride, "stride", who, 1)
    padding = _pair(padding, "padding", who, 0)
    dilation = _pair(dilation, "dilation", who, 1)
    output_padding = _pair(output_padding, "output_padding", who, 0)
    groups = _check_groups(groups, who)
    check_output_padding(output_padding, stride, dilation, who)
    shape, wshape = tuple(input_shape), tuple(weight_shape)
    in_channels = wshape[0]
    if in_channels % groups:
        raise ValueError(f"{who}: groups={groups} must divide in_channels={in_channels} "
                         f"(weight of shape {wshape})")
    if shape[1] != in_channels:
        raise ValueError(f"{who}: expected input with {in_channels} channels (weight of shape "
                         f"{wshape}), got shape {shape}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                   zip(shape[2:], stride, padding, dilation, wshape[2:], output_padding))
    if min(out_hw) < 1:
        raise ValueError(
            f"{who}: the output would be {out_hw} for input of shape {shape} and weight of shape "
            f"{wshape} ((H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1, with "
            f"padding {padding}); use less padding")
    return Geometry(stride, padding, dilation, groups), out_hw


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (a correlation, as in PyTorch) of ``input`` (N, C, H, W) with
    ``weight`` (O, C/groups, kh, kw), plus ``bias`` (O,):

        y[n, o, a, b] = b[o] + sum_{c, i, j} W[o, c, i, j] x_pad[n, c, a s + i d, b s + j d]

    over the input channels c of o's group; x_pad is x with ``padding`` zeros on each side.
    Output (N, O, OH, OW), OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
    ``stride``, ``padding`` and ``dilation`` are ints or (height, width) pairs.
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, "conv2d")


def _conv2d(input, weight, bias, stride, padding, dilation, groups, who):
    """conv2d, its errors naming ``who`` (the function or the layer)."""
    _check_4d(input, weight, who, "(out_channels, in_channels/groups, kH, kW)")
    geom, out_hw = conv2d_geometry(input.shape, weight.shape, stride, padding, dilation,
                                   groups, who)
    _check_bias(bias, weight.shape[0], who)
    args = (input, weight) if bias is None else (input, weight, bias)
    return apply(Conv2d(geom, out_hw), *args)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-D transposed convolution of ``input`` (N, C_in, H, W) with ``weight``
    (C_in, C_out/groups, kh, kw), plus ``bias`` (C_out,): the gradient of conv2d with
    respect to its input, each input pixel spreading the kernel over the output,

        y[n, o, a s + i d - p, b s + j d - p] += sum_c W[c, o, i, j] x[n, c, a, b].

    Output (N, C_out, H_out, W_out), H_out = (H - 1) stride - 2 padding
    + dilation (kh - 1) + output_padding + 1; ``output_padding`` (smaller than the
    stride or the dilation) picks among the sizes a stride-s conv2d maps to H.
    """
    return _conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
                             dilation, "conv_transpose2d")


def _conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation,
                      who):
    """conv_transpose2d, its errors naming ``who`` (the function or the layer)."""
    _check_4d(input, weight, who, "(in_channels, out_channels/groups, kH, kW)")
    geom, out_hw = conv_transpose2d_geometry(input.shape, weight.shape, stride, padding,
                                             output_padding, groups, dilation, who)
    _check_bias(bias, weight.shape[1] * geom.groups, who)
    args = (input, weight) if bias is None else (input, weight, bias)
    return apply(ConvTranspose2d(geom, out_hw), *args)
