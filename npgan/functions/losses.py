"""Losses: binary cross-entropy (from probabilities or from logits) and MSE.

From logits, BCE uses the stable form (as Chainer's sigmoid_cross_entropy)::

    l(x, t) = max(x, 0) - x t + log1p(exp(-|x|)) = softplus(x) - x t

which is finite for any finite x. From probabilities, BCE clamps the *log* at
-100 (as PyTorch does), never the probability, so a saturated generator still
gets the gradient -1/p.

The GAN objectives built on BCE from logits (discriminator_loss and the two
generator losses) are in :mod:`npgan.gan.objectives`; they are importable from
here too, under the same names. Softmax cross-entropy for classifiers is in
:mod:`npgan.functions.softmax` (also importable from here).
"""
from npgan import backend, speed
from npgan.autograd import Function
from npgan.functions.helpers import apply, as_tensors, raw
from npgan.functions.shapes import reduce_to

LOG_CLAMP = -100.0
EXP_LOG_CLAMP = 3.720075976020836e-44  # e^-100, the clamp point in float64
# In float32 e^-100 is subnormal, and a GPU kernel (CuPy compiles with flush-to-zero) reads every
# subnormal as 0, so the float32 clamp point is the smallest normal float32 (2^-126): below it
# the CPU clamps too and gives the numbers the GPU will. log(2^-126) = -87.3.
EXP_LOG_CLAMP_FLOAT32 = 1.1754943508222875e-38  # numpy.finfo(numpy.float32).tiny


def _log_floor(dtype):
    """Where ClampedLog stops taking the log: e^-100, or 2^-126 in float32 (see above)."""
    return EXP_LOG_CLAMP_FLOAT32 if dtype == backend.float32 else EXP_LOG_CLAMP


class ClampedLog(Function):
    """y = log x where x > c, else -100;  dx = gy / x where x > c, else 0.

    c = e^-100 (float64), or 2^-126 in float32, where the GPU reads smaller values as 0.
    """

    def forward(self, x):
        xp = backend.get_array_module(x)
        kept = x > _log_floor(x.dtype)
        return xp.where(kept, xp.log(xp.where(kept, x, 1)), x.dtype.type(LOG_CLAMP))

    def backward(self, gy, x, y):
        kept = raw(x) > _log_floor(x.dtype)
        return gy * kept / (x * kept + ~kept)  # x where kept, 1 elsewhere: no 0/0


def clamped_log(x):
    """log(x) clamped below at -100 (the log, not x, is clamped)."""
    return apply(ClampedLog(), x)


def _reduce(loss, reduction, name):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_same_shape(name, input, target):
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: input of shape {input.shape} and target of shape {target.shape} "
            f"must have the same shape (reshape the target, e.g. target.reshape(input.shape))")


BCE_GRAD_EPS = 1e-12
"""The floor of p (1 - p) in binary_cross_entropy's gradient, PyTorch's EPSILON: the gradient at
p = 0 or 1 is large and finite, (p - t) / 1e-12, never 0 or inf."""


class BinaryCrossEntropy(Function):
    """l = -(t clog(p) + (1 - t) clog(1 - p)), elementwise, with clog = log clamped at -100;

        dl/dp = (p - t) / max(p (1 - p), 1e-12)      (PyTorch's formula, BCE_GRAD_EPS)
        dl/dt = clog(1 - p) - clog(p)

    Away from 0 and 1, dl/dp is the exact derivative -t/p + (1 - t)/(1 - p). At p = 0 with
    t = 1 (a generator whose fakes D rejects with certainty) it is -1e12, as in PyTorch: the
    clamp bounds the loss (100), not the push back to the data.
    """

    def forward(self, p, t):
        one = p.dtype.type(1)
        return -(t * ClampedLog().forward(p) + (one - t) * ClampedLog().forward(one - p))

    def backward(self, gy, p, t, y):
        pd = raw(p)
        floor = pd.dtype.type(BCE_GRAD_EPS)
        small = (pd * (1 - pd)) < floor  # where the floor replaces p (1 - p)
        gp = gt = None
        if self.needs[0]:
            gp = gy * (p - t) / (p * (1 - p) * ~small + floor * small)
        if self.needs[1]:
            gt = gy * (clamped_log(1 - p) - clamped_log(p))
        return gp, gt


def binary_cross_entropy(input, target, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1], as PyTorch computes it.

    Each log is clamped at -100, so p = 0 or 1 gives a finite loss (100 per
    wrong element). The gradient is PyTorch's, (p - t) / max(p (1 - p), 1e-12):
    large and finite at p = 0 or 1 (see :class:`BinaryCrossEntropy`).
    Prefer :func:`binary_cross_entropy_with_logits` where you have logits.
    """
    _check_same_shape("binary_cross_entropy", input, target)
    p = raw(input)
    xp = backend.get_array_module(p)
    if bool(xp.any((p < 0) | (p > 1))) or bool(xp.any(xp.isnan(p))):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1]; "
            "for unbounded scores use binary_cross_entropy_with_logits")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"binary_cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    input, target = as_tensors(input, target)
    return _reduce(BinaryCrossEntropy()(input, target), reduction, "binary_cross_entropy")


class BCEWithLogits(Function):
    """Binary cross-entropy of sigmoid(x) against t, from the logit x, reduced inside the op:

        l = max(x, 0) - x t + log1p(e^-|x|)      (= softplus(x) - x t; finite for any finite x)
        dl/dx = sigmoid(x) - t = (1 - t) sigmoid(x) - t sigmoid(-x)
        dl/dt = -x

    The two-term form of dl/dx has no cancellation: for t = 1 it is -sigmoid(-x),
    accurate when D is confident (x >> 0), where sigmoid(x) - 1 would round to 0.
    """

    def __init__(self, reduction):
        self.reduction = reduction

    def forward(self, x, t):
        xp = backend.get_array_module(x)
        loss = xp.maximum(x, 0) - x * t
        loss += xp.log1p(xp.exp(-xp.abs(x)))
        if self.reduction == "none":
            return loss
        total = loss.sum()
        return total / loss.size if self.reduction == "mean" else total

    def backward(self, gy, x, t, y):
        scale = gy / raw(x).size if self.reduction == "mean" else gy
        gx = gt = None
        if self.needs[0]:
            s_pos, s_neg = speed.sigmoid_pair(x)  # (sigmoid(x), sigmoid(-x))
            gx = reduce_to(scale * ((1 - t) * s_pos - t * s_neg), x)
        if self.needs[1]:
            gt = reduce_to(-scale * x, t)
        return gx, gt


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """BCE of sigmoid(x) against t from logits x: finite for any finite logit (see BCEWithLogits).

    Gradient: sigmoid(x) - t (divided by the number of elements for 'mean').
    """
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', "
            f"got {reduction!r}")
    return BCEWithLogits(reduction)(*as_tensors(input, target))


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - t)^2."""
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


# Defined where they belong, importable from here under their old names.
from npgan.functions.softmax import (  # noqa: E402,F401
    LogSoftmax, Softmax, SoftmaxCrossEntropy, log_softmax, softmax, softmax_cross_entropy)
from npgan.gan.objectives import (  # noqa: E402,F401
    GENERATOR_LOSSES, discriminator_loss, minimax_generator_loss, nonsaturating_generator_loss)
