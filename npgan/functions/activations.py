"""Nonlinearities: sigmoid, tanh, relu, leaky_relu, elu, softplus, logsigmoid, silu, gelu,
and dropout.

Forward on raw arrays, backward directly beneath, derivative in the docstring.
Sigmoid and softplus are computed without overflow for any finite input.
"""
import math

from npgan import backend, speed
from npgan.autograd import Function, is_grad_enabled
from npgan.functions.arithmetic import exp, where
from npgan.functions.helpers import apply, raw


def _stable_sigmoid(xp, x):
    """1 / (1 + e^-x) without overflow: e = exp(-|x|) <= 1, then pick the branch."""
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


class Sigmoid(Function):
    """y = 1 / (1 + e^-x);  dx = gy y (1 - y)."""

    def forward(self, x):
        return _stable_sigmoid(backend.get_array_module(x), x)

    def backward(self, gy, x, y):
        return gy * y * (1 - y)


class Tanh(Function):
    """y = tanh(x);  dx = gy (1 - y^2)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.tanh(x, out=speed.empty_like(x))  # into a reused array (speed.py)

    def backward(self, gy, x, y):
        return apply(TanhGrad(), y, gy)  # gy * (1 - y * y)


class TanhGrad(Function):
    """Tanh's gradient as an op of its own, so it can be differentiated again:

        z = gy (1 - y^2);   dgy = gz (1 - y^2) (this op again),   dy = -2 gz gy y
    """

    def forward(self, y, gy):
        xp = backend.get_array_module(y)
        d = xp.multiply(y, y, out=speed.empty_like(y))  # in place, into a reused array
        xp.subtract(1, d, out=d)
        d *= gy
        return d

    def backward(self, gz, y, gy, z):
        return (-2 * gz * gy * y if self.needs[0] else None,
                apply(TanhGrad(), y, gz) if self.needs[1] else None)


class ReLU(Function):
    """y = max(x, 0);  dx = gy [x > 0]."""

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, gy, x, y):
        return gy * (raw(x) > 0)


class LeakyReLU(Function):
    """y = x if x > 0 else s x;  dx = gy (1 if x > 0 else s).

    With a graph being recorded, forward keeps the slope (1 where x > 0, else s)
    and y = x * slope; backward is then one product. Without one (no_grad),
    nothing is kept. The fast ways to compute these are in :mod:`npgan.speed`.
    """

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope
        self.slope = None

    def forward(self, x):
        s = self.negative_slope
        if is_grad_enabled():
            self.slope = speed.leaky_relu_slope(x, s)  # where(x > 0, 1, s)
            return speed.times(x, self.slope)          # x * slope
        return speed.leaky_relu_no_graph(x, s)         # where(x > 0, x, s x)

    def backward(self, gy, x, y):
        return speed.times(gy, self.slope)             # gy * slope


class ELU(Function):
    """y = x if x > 0 else a (e^x - 1);  dx = gy (1 if x > 0 else y + a = a e^x)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.expm1(xp.minimum(x, 0))  # a (e^x - 1) where x <= 0, 0 elsewhere
        if self.alpha != 1:
            y *= self.alpha
        y += xp.maximum(x, 0)           # + x where x > 0 (no where(): half the cost)
        return y

    def backward(self, gy, x, y):
        return apply(ELUGrad(self.alpha), x, y, gy)  # gy (1 if x > 0 else y + a)


class ELUGrad(Function):
    """ELU's gradient as an op of its own, so it can be differentiated again:

        z = gy (1 if x > 0 else y + a)   (y + a = a e^x, for any sign of a);   dgy = gz (1 if x > 0 else y + a) (this op again),
        dy = gz gy [x <= 0],   dx = 0 (x only picks the branch)
    """

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x, y, gy):
        xp = backend.get_array_module(y)
        if self.alpha < 0:  # y = a (e^x - 1) >= 0 where x <= 0: min(y, 0) would drop it
            d = xp.where(x > 0, y.dtype.type(1), y + y.dtype.type(self.alpha))
        else:
            d = xp.minimum(y, 0)        # y where x <= 0 (y <= 0 there for a >= 0), 0 where x > 0
            d += self.alpha             # y + a = a e^x, and a where x > 0 ...
            if self.alpha != 1:
                d = xp.where(x > 0, y.dtype.type(1), d)  # ... which must be 1 there
        d *= gy
        return d

    def backward(self, gz, x, y, gy, z):
        return (None,
                where(raw(x) > 0, 0.0, gz * gy) if self.needs[1] else None,
                apply(ELUGrad(self.alpha), x, y, gz) if self.needs[2] else None)


class Softplus(Function):
    """y = log(1 + e^(b x)) / b = (max(b x, 0) + log1p(e^-|b x|)) / b, and, given a threshold,
    y = x where b x > threshold (PyTorch's linear tail);  dx = gy sigmoid(b x) (gy in the tail)."""

    def __init__(self, beta=1.0, threshold=None):
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = backend.get_array_module(x)
        z = x * self.beta if self.beta != 1 else x
        y = xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))
        if self.beta != 1:
            y /= self.beta
        if self.threshold is not None:
            y = xp.where(z > self.threshold, x, y)
        return y

    def backward(self, gy, x, y):
        s = sigmoid(x * self.beta if self.beta != 1 else x)
        if self.threshold is not None:
            s = where(raw(x) * self.beta > self.threshold, 1.0, s)
        return gy * s


def sigmoid(x):
    """The logistic function 1 / (1 + e^-x), finite and overflow-free for any x."""
    return apply(Sigmoid(), x)


def tanh(x):
    """Hyperbolic tangent."""
    return apply(Tanh(), x)


def relu(x):
    """max(x, 0) (gradient 0 at x = 0)."""
    return apply(ReLU(), x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope * x`` otherwise."""
    return apply(LeakyReLU(negative_slope), x)


def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise (computed with expm1)."""
    return apply(ELU(alpha), x)


def softplus(x, beta=1.0, threshold=None):
    """log(1 + e^(beta x)) / beta in the overflow-free form (max(z, 0) + log1p(e^-|z|)) / beta,
    z = beta x, exact and smooth for every x.

    PyTorch's softplus returns x itself where z > threshold (default 20): pass threshold=20
    for its numbers. npgan's default (None) keeps the exact value there, which differs from
    x by log1p(e^-z) < 2.1e-9 (invisible in float32) and has no jump for a gradient check."""
    if not beta > 0:
        raise ValueError(f"softplus: beta must be positive, got {beta!r}")
    return apply(Softplus(beta, threshold), x)


class Dropout(Function):
    """y = x * mask;  dx = gy * mask, with mask = keep / (1 - p) a constant of the graph."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        return speed.times(x, self.mask)   # x * mask

    def backward(self, gy, x, y):
        return speed.times(gy, self.mask)  # gy * mask


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p).

    The identity when ``training`` is False or ``p`` is 0. The keep mask,
    keep = u >= p for u uniform in [0, 1), is drawn from npgan's seeded generator
    (:func:`npgan.speed.keep_mask`, from raw bits) and is a constant of the graph.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    xp = backend.get_array_module(raw(x))
    keep = speed.keep_mask(backend.get_rng(), x.shape, p)  # u >= p
    mask = xp.multiply(keep, x.dtype.type(1 / (1 - p)), out=speed.empty_like(raw(x)))
    return apply(Dropout(mask), x)


# --- logsigmoid, silu, gelu ------------------------------------------------------------------

class LogSigmoid(Function):
    """y = log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e^-|x|) (finite for any x);
    dx = gy sigmoid(-x)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy, x, y):
        return gy * sigmoid(-x)


def logsigmoid(x):
    """log(1 / (1 + e^-x)), computed without overflow or log(0) for any x."""
    return apply(LogSigmoid(), x)


class SiLU(Function):
    """y = x sigmoid(x) (swish);  dx = gy s (1 + x (1 - s)), s = sigmoid(x)."""

    def forward(self, x):
        return x * _stable_sigmoid(backend.get_array_module(x), x)

    def backward(self, gy, x, y):
        s = sigmoid(x)
        return gy * s * (1 + x * (1 - s))


def silu(x):
    """x sigmoid(x), the sigmoid-weighted linear unit (swish)."""
    return apply(SiLU(), x)


_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_K = math.sqrt(2 / math.pi)  # the tanh form: u = K (x + 0.044715 x^3)
_GELU_C = 0.044715


class NormalCDF(Function):
    """y = Phi(x) = erfc(-x / sqrt 2) / 2, the standard normal CDF (backend.erfc: accurate
    in relative terms in the lower tail too);  dx = gy phi(x) = gy e^(-x^2 / 2) / sqrt(2 pi)."""

    def forward(self, x):
        return 0.5 * backend.erfc(x * -_INV_SQRT_2)

    def backward(self, gy, x, y):
        return gy * exp(x * x * -0.5) * _INV_SQRT_2PI


class GELU(Function):
    """y = x Phi(x), Phi the standard normal CDF;  dx = gy (Phi(x) + x phi(x)),
    phi(x) = e^(-x^2 / 2) / sqrt(2 pi)."""

    def forward(self, x):
        return x * NormalCDF().forward(x)

    def backward(self, gy, x, y):
        return gy * (apply(NormalCDF(), x) + x * exp(x * x * -0.5) * _INV_SQRT_2PI)


class GELUTanh(Function):
    """y = x (1 + tanh u) / 2, u = K (x + c x^3), K = sqrt(2 / pi), c = 0.044715 (the tanh form);
    dx = gy ((1 + tanh u) / 2 + x (1 - tanh^2 u) K (1 + 3 c x^2) / 2)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        return 0.5 * x * (1 + xp.tanh((x + _GELU_C * x * x * x) * _GELU_K))

    def backward(self, gy, x, y):
        th = tanh((x + _GELU_C * x * x * x) * _GELU_K)
        return gy * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * _GELU_K * (1 + 3 * _GELU_C * x * x))


def gelu(x, approximate="none"):
    """x Phi(x), Phi the standard normal CDF (exact, through the error function: PyTorch's
    default); ``approximate='tanh'``: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    if approximate == "none":
        return apply(GELU(), x)
    if approximate == "tanh":
        return apply(GELUTanh(), x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
