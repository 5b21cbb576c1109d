"""Nonlinearities: sigmoid, tanh, relu, leaky_relu, elu, softplus, and dropout.

Forward on raw arrays, backward directly beneath, derivative in the docstring.
Sigmoid and softplus are computed without overflow for any finite input.
"""
from npgan import backend
from npgan.ops import _apply, data, where
from npgan.autograd import Function, Tensor, is_grad_enabled


def _stable_sigmoid(xp, x):
    """1 / (1 + e^-x) without overflow: e = exp(-|x|) <= 1, then pick the branch."""
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


def sigmoid_pair(x):
    """(sigmoid(x), sigmoid(-x)) of an array, sharing one exp: with e = exp(-|x|), r = 1/(1+e),
    they are (r, e r) where x >= 0 and (e r, r) elsewhere. Each is accurate, even near 0."""
    xp = backend.get_array_module(x)
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    er = e * r
    nonneg = x >= 0
    return xp.where(nonneg, r, er), xp.where(nonneg, er, r)


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
        return xp.tanh(x, out=backend.empty_like(x))

    def backward(self, gy, x, y):
        if isinstance(gy, Tensor):  # create_graph: recorded ops
            return gy * (1 - y * y)
        xp = backend.get_array_module(y)
        d = xp.multiply(y, y, out=backend.empty_like(y))
        xp.subtract(1, d, out=d)
        d *= gy
        return d


class ReLU(Function):
    """y = max(x, 0);  dx = gy [x > 0]."""

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, gy, x, y):
        return gy * (data(x) > 0)


def _times(g, factor):
    """g * factor for an array ``factor`` kept by an op (a slope, a dropout mask): into a
    reused array (:func:`npgan.backend.empty_like`), or a recorded product when g is a
    Tensor (a backward rule under ``create_graph``)."""
    if isinstance(g, Tensor):
        return g * factor
    return backend.get_array_module(g).multiply(g, factor, out=backend.empty_like(g))


class LeakyReLU(Function):
    """y = x if x > 0 else s x;  dx = gy (1 if x > 0 else s).

    With a graph being recorded, forward keeps the slope [x > 0] (1 - s) + s, which is
    exactly 1 or s for s >= 0 (a negative s takes a ``where``), and y = x * slope; backward
    is then one product.
    Without one (no_grad), y = max(x, s x) (min for s > 1): two passes, nothing kept.
    (``xp.where`` with scalar branches costs several times as much as either.)
    """

    def __init__(self, negative_slope):
        self.negative_slope = negative_slope
        self.slope = None

    def forward(self, x):
        xp = backend.get_array_module(x)
        s = self.negative_slope
        if is_grad_enabled():
            slope = xp.greater(x, 0, out=backend.empty_like(x))  # [x > 0] as 0.0 / 1.0
            if s < 0:  # (1 - s) + s can round to 1 + ulp here: pick 1 or s instead
                slope = xp.where(slope > 0, x.dtype.type(1), x.dtype.type(s))
            else:
                slope *= 1 - s
                slope += s
            self.slope = slope
            return _times(x, slope)
        y = xp.multiply(x, x.dtype.type(s), out=backend.empty_like(x))
        return (xp.maximum if s <= 1 else xp.minimum)(x, y, out=y)

    def backward(self, gy, x, y):
        return _times(gy, self.slope)


class ELU(Function):
    """y = x if x > 0 else a (e^x - 1);  dx = gy (1 if x > 0 else y + a)."""

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
        if isinstance(gy, Tensor):  # create_graph: the rule itself is differentiated
            return where(data(x) > 0, gy, gy * (y + self.alpha))
        xp = backend.get_array_module(y)
        d = xp.minimum(y, 0)            # y where x <= 0, 0 where x > 0
        d += self.alpha                 # y + a, and a where x > 0 ...
        if self.alpha != 1:
            d = xp.where(x > 0, y.dtype.type(1), d)  # ... which must be 1 there
        d *= gy
        return d


class Softplus(Function):
    """y = log(1 + e^x) = max(x, 0) + log1p(e^-|x|);  dx = gy sigmoid(x)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy, x, y):
        return gy * sigmoid(x)


def sigmoid(x):
    """The logistic function 1 / (1 + e^-x), finite and overflow-free for any x."""
    return _apply(Sigmoid(), x)


def tanh(x):
    """Hyperbolic tangent."""
    return _apply(Tanh(), x)


def relu(x):
    """max(x, 0) (gradient 0 at x = 0)."""
    return _apply(ReLU(), x)


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope * x`` otherwise."""
    return _apply(LeakyReLU(negative_slope), x)


def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise (computed with expm1)."""
    return _apply(ELU(alpha), x)


def softplus(x):
    """log(1 + e^x) in the overflow-free form max(x, 0) + log1p(e^-|x|)."""
    return _apply(Softplus(), x)


class Dropout(Function):
    """y = x * mask;  dx = gy * mask, with mask = keep / (1 - p) a constant of the graph."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, x):
        return _times(x, self.mask)

    def backward(self, gy, x, y):
        return _times(gy, self.mask)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p).

    The identity when ``training`` is False or ``p`` is 0. The keep mask is drawn
    from npgan's seeded generator (:meth:`npgan.backend.Generator.keep_mask`) and
    is a constant of the graph.
    """
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    xp = backend.get_array_module(data(x))
    keep = backend.get_rng().keep_mask(x.shape, p)
    mask = xp.multiply(keep, x.dtype.type(1 / (1 - p)), out=backend.empty_like(data(x)))
    return _apply(Dropout(mask), x)
