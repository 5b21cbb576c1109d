"""Normalization: batch norm and layer norm, differentiable to any order.

Both are one op, :class:`Normalize`, which standardises x over some axes,

    xhat = (x - mu) / sqrt(var + eps),   mu, var = the mean and biased variance over the axes,

followed by an optional per-feature affine map, :class:`Affine`: ``xhat * weight + bias``
(weight and bias get their gradients from it, to any order). Batch norm normalises each
channel (dim 1) over every other dim; layer norm normalises each sample over its last
few dims.

In evaluation mode batch norm uses the running statistics, constants: it is then the
affine map ``x * scale + shift`` with scale = weight / sqrt(running_var + eps) and
shift = bias - running_mean * scale.
"""
import math
import numbers

from npgan import backend, speed
from npgan.autograd import Function, Tensor
from npgan.functions.helpers import apply, raw


class Normalize(Function):
    """xhat = (x - mu) * inv_std over ``axes`` (n values each), with mu = mean(x),
    var = mean((x - mu)^2) (biased) and inv_std = 1 / sqrt(var + eps);

        dx = inv_std * (gy - mean(gy) - xhat * mean(gy * xhat))      (means over ``axes``)

    The rule reads xhat from the output y: under ``create_graph`` y is this op's recorded
    output, so differentiating through it runs this rule again. inv_std is the one
    statistic it needs besides: on arrays the value kept by forward; on Tensors (under
    ``create_graph``) it is recomputed from x with recorded ops, (var + eps) ** -0.5, so
    that its own dependence on x enters the higher derivatives (a kept array would be a
    constant there, and the second-order terms through it would silently vanish).

    forward also keeps ``mean`` and ``var`` (the batch statistics, shaped for
    broadcasting) for batch norm's running averages.
    """

    def __init__(self, axes, eps):
        self.axes = axes
        self.eps = eps
        self.mean = self.var = self.inv_std = None

    def forward(self, x):
        # mean = mean(x), var = mean((x - mean)^2), inv_std = 1 / sqrt(var + eps) (x's dtype)
        xhat, self.mean, self.var, self.inv_std = speed.normalize(x, self.axes, self.eps)
        return xhat                                # (x - mean) * inv_std

    def backward(self, gy, x, y):
        inv_std = _inv_std(x, self.axes, self.eps) if isinstance(x, Tensor) else self.inv_std
        return speed.normalize_grad(gy, y, inv_std, self.axes)
        # = (gy - mean(gy) - y * mean(gy * y)) * inv_std, recorded for Tensors


def _inv_std(x, axes, eps):
    """1 / sqrt(var(x) + eps) over ``axes``, recorded (Normalize's rule under create_graph)."""
    xc = x - x.mean(axis=axes, keepdims=True)
    return ((xc * xc).mean(axis=axes, keepdims=True) + eps) ** -0.5


class Affine(Function):
    """y = x * w + b per feature: w and b (both of one shape, (C,) for batch norm,
    ``normalized_shape`` for layer norm) are viewed as ``shape`` to broadcast against x, and
    ``axes`` are the axes of x they are broadcast along;

        dx = gy * w,    dw = sum of gy * x over ``axes``,    db = sum of gy over ``axes``

    On arrays the output and dx go into reused arrays and the sums are einsum's
    (:mod:`npgan.speed`); on Tensors (``create_graph``) the same products and sums are recorded.
    """

    def __init__(self, shape, axes):
        self.shape = shape
        self.axes = axes

    def forward(self, x, w, b):
        return speed.affine(x, w.reshape(self.shape), b.reshape(self.shape))  # x * w + b

    def backward(self, gy, x, w, b, y):
        axes = self.axes
        return (speed.times(gy, w.reshape(self.shape)) if self.needs[0] else None,  # gy * w
                speed.sums_of_products(gy, x, axes).reshape(w.shape) if self.needs[1] else None,
                speed.sums(gy, axes).reshape(b.shape) if self.needs[2] else None)


# --- checks -------------------------------------------------------------------------

def _check_float_input(name, x, least_ndim):
    if not (isinstance(x, Tensor) or backend.is_array(x)):
        raise TypeError(f"{name}: input must be a Tensor or an array, got {type(x).__name__}")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{name}: input must be floating point, got dtype {x.dtype}")
    if x.ndim < least_ndim:
        raise ValueError(
            f"{name}: expected an input with at least {least_ndim} dimensions, got shape {x.shape}")


def _check_vector(name, what, v, shape, x):
    """``v`` (weight, bias, a running statistic) is None, or a Tensor/array of ``shape``."""
    if v is None:
        return
    if not (isinstance(v, Tensor) or backend.is_array(v)):
        raise TypeError(
            f"{name}: {what} must be a Tensor, an array or None, got {type(v).__name__}")
    if tuple(v.shape) != tuple(shape):
        raise ValueError(
            f"{name}: {what} must have shape {tuple(shape)} for an input of shape {x.shape}, "
            f"got shape {tuple(v.shape)}")
    if backend.mixing_possible():
        backend.check_same_backend(name, [raw(x), raw(v)])


def _check_eps(name, eps):
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not eps >= 0:
        raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")


def _affine(x, weight, bias, shape, axes):
    """x * weight + bias (see :class:`Affine`); a missing weight is 1 and a missing bias 0,
    constants of the graph; neither: x itself."""
    if weight is None and bias is None:
        return x
    xp = backend.get_array_module(raw(x))
    like = weight if bias is None else bias
    if weight is None:
        weight = xp.ones(like.shape, dtype=x.dtype)
    if bias is None:
        bias = xp.zeros(like.shape, dtype=x.dtype)
    return apply(Affine(shape, axes), x, weight, bias)


# --- batch norm -----------------------------------------------------------------------

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization, per channel (dim 1) over every other dim, as PyTorch's F.batch_norm.

    For an input of shape (N, C), (N, C, L) or (N, C, H, W) and each channel c:

        training: y = (x - mu_c) / sqrt(var_c + eps) * weight_c + bias_c, with mu_c and the
                  biased var_c of the batch (n = N * L or N * H * W values), and the running
                  statistics (arrays or Tensors without grad, or None) updated in place:
                  running_mean = (1 - momentum) running_mean + momentum mu_c,
                  running_var  = (1 - momentum) running_var  + momentum var_c n / (n - 1)
                  (the *unbiased* variance, as PyTorch keeps it);
        eval:     y = (x - running_mean_c) / sqrt(running_var_c + eps) * weight_c + bias_c,
                  an affine map with constants.

    weight and bias (shape (C,)) are optional. Differentiable to any order w.r.t. the
    input, weight and bias (see :class:`Normalize`).
    """
    name = "batch_norm"
    _check_float_input(name, input, 2)
    c = input.shape[1]
    for what, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_vector(name, what, v, (c,), input)
    for what, v in (("running_mean", running_mean), ("running_var", running_var)):
        if isinstance(v, Tensor) and v.requires_grad:
            raise ValueError(
                f"{name}: {what} is a Tensor that requires grad; running statistics are "
                f"updated in place and take no gradient (pass a buffer or its .detach())")
    _check_eps(name, eps)
    shape = (1, c) + (1,) * (input.ndim - 2)
    axes = (0,) + tuple(range(2, input.ndim))  # every axis but the channels'
    if training:
        n = math.prod(input.shape) // c if c else 0
        if n <= 1:
            raise ValueError(
                f"{name}: Expected more than 1 value per channel when training, got input "
                f"size {input.shape}")
        tracked = running_mean is not None or running_var is not None
        if tracked and (not isinstance(momentum, numbers.Real) or isinstance(momentum, bool)
                        or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be a number in [0, 1], got {momentum!r}")
        fn = Normalize(axes, eps)
        xhat = apply(fn, input)
        if running_mean is not None:
            _update(raw(running_mean), fn.mean.reshape(c), momentum)
        if running_var is not None:
            _update(raw(running_var), fn.var.reshape(c) * (n / (n - 1)), momentum)
        return _affine(xhat, weight, bias, shape, axes)
    if running_mean is None or running_var is None:
        raise ValueError(
            f"{name}: evaluation mode (training=False) normalises with running_mean and "
            f"running_var, but {'running_mean' if running_mean is None else 'running_var'} "
            f"is None; pass both, or training=True to use the batch statistics")
    xp = backend.get_array_module(raw(input))
    dtype = input.dtype
    inv_std = 1 / xp.sqrt(raw(running_var).astype(dtype) + eps)
    scale = inv_std if weight is None else weight * inv_std  # y = x * scale + shift
    shift = -raw(running_mean).astype(dtype) * scale
    return _affine(input, scale, shift if bias is None else shift + bias, shape, axes)


def _update(running, stat, momentum):
    """running = (1 - momentum) running + momentum stat, in place (running's dtype kept)."""
    running *= 1 - momentum
    running += momentum * stat


# --- layer norm -----------------------------------------------------------------------

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the last ``len(normalized_shape)`` dims, as PyTorch's F.layer_norm:

        y = (x - mu) / sqrt(var + eps) * weight + bias

    with mu and the biased var of each sample over those dims (the trailing dims of x must
    equal ``normalized_shape``), and optional weight and bias of shape ``normalized_shape``.
    Differentiable to any order w.r.t. the input, weight and bias (see :class:`Normalize`).
    """
    name = "layer_norm"
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    if isinstance(normalized_shape, (str, bytes)) or not hasattr(normalized_shape, "__iter__") \
            or not all(isinstance(d, numbers.Integral) for d in normalized_shape):
        raise TypeError(f"{name}: normalized_shape must be an int or a tuple of ints, got "
                        f"{normalized_shape!r}")
    normalized_shape = tuple(int(d) for d in normalized_shape)
    k = len(normalized_shape)
    if k == 0:
        raise ValueError(f"{name}: normalized_shape must name at least one dimension, got ()")
    _check_float_input(name, input, 1)
    if input.shape[input.ndim - k:] != normalized_shape:
        raise ValueError(
            f"{name}: given normalized_shape={normalized_shape}, expected an input of shape "
            f"(*, {', '.join(map(str, normalized_shape))}), got shape {input.shape}")
    for what, v in (("weight", weight), ("bias", bias)):
        _check_vector(name, what, v, normalized_shape, input)
    _check_eps(name, eps)
    xhat = apply(Normalize(tuple(range(input.ndim - k, input.ndim)), eps), input)
    return _affine(xhat, weight, bias, normalized_shape, tuple(range(input.ndim - k)))
