"""Losses: binary cross-entropy (from probabilities or from logits), MSE, and GAN objectives.

From logits, BCE uses the stable form (as Chainer's sigmoid_cross_entropy)::

    l(x, t) = max(x, 0) - x t + log1p(exp(-|x|)) = softplus(x) - x t

which is finite for any finite x. From probabilities, BCE clamps the *log* at
-100 (as PyTorch does), never the probability, so a saturated generator still
gets the gradient -1/p.

The GAN objectives take the discriminator's logits, a = D(x) and
b = D(G(z)), where D(.) = sigmoid(logit):

    discriminator:   L_D = -log D(x) - log(1 - D(G(z))) = softplus(-a) + softplus(b)
    minimax G:       L_G = log(1 - D(G(z)))             = -softplus(b)
    non-saturating:  L_G = -log D(G(z))                 = softplus(-b)
"""
from npgan import backend
from npgan.activations import sigmoid, sigmoid_pair
from npgan.autograd import Function, Tensor
from npgan.ops import _apply, _binary, as_tensor, data, reduce_to

LOG_CLAMP = -100.0
EXP_LOG_CLAMP = 3.720075976020836e-44  # e^-100


class ClampedLog(Function):
    """y = log x where x > e^-100, else -100;  dx = gy / x where x > e^-100, else 0."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        kept = x > EXP_LOG_CLAMP
        return xp.where(kept, xp.log(xp.where(kept, x, 1)), x.dtype.type(LOG_CLAMP))

    def backward(self, gy, x, y):
        kept = data(x) > EXP_LOG_CLAMP
        return gy * kept / (x * kept + ~kept)  # x where kept, 1 elsewhere: no 0/0


def clamped_log(x):
    """log(x) clamped below at -100 (the log, not x, is clamped)."""
    return _apply(ClampedLog(), x)


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


def binary_cross_entropy(input, target, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1].

    Each log is clamped at -100, so p = 0 or 1 gives a finite loss.
    Prefer :func:`binary_cross_entropy_with_logits` where you have logits.
    """
    _check_same_shape("binary_cross_entropy", input, target)
    p = data(input)
    xp = backend.get_array_module(p)
    if bool(xp.any((p < 0) | (p > 1))) or bool(xp.any(xp.isnan(p))):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1]; "
            "for unbounded scores use binary_cross_entropy_with_logits")
    loss = -(target * clamped_log(input) + (1 - target) * clamped_log(1 - input))
    return _reduce(loss, reduction, "binary_cross_entropy")


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
        scale = gy / x.size if self.reduction == "mean" else gy
        gx = gt = None
        if self.needs[0]:
            if isinstance(x, Tensor):  # create_graph: differentiable ops
                d = (1 - t) * sigmoid(x) - t * sigmoid(-x)
            else:
                s_pos, s_neg = sigmoid_pair(x)
                d = (1 - t) * s_pos - t * s_neg
            gx = reduce_to(scale * d, x)
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
    return BCEWithLogits(reduction)(*_binary(input, target))


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - t)^2."""
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


# --- GAN objectives (from the discriminator's logits) -----------------------

def _bce_against(logits, label):
    """mean BCE(sigmoid(logits), label) for a constant label, 1 (real) or 0 (fake)."""
    return BCEWithLogits("mean")(logits, as_tensor(label, logits))


def discriminator_loss(real_logits, fake_logits):
    """L_D = -mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-a) + mean softplus(b)."""
    return _bce_against(real_logits, 1.0) + _bce_against(fake_logits, 0.0)


def minimax_generator_loss(fake_logits):
    """L_G = mean log(1 - D(G(z))) = -mean softplus(b): Goodfellow et al.'s original G loss.

    Saturates: when D rejects fakes confidently (b << 0), dL_G/db = -sigmoid(b) ~ 0.
    """
    return -_bce_against(fake_logits, 0.0)


def nonsaturating_generator_loss(fake_logits):
    """L_G = -mean log D(G(z)) = mean softplus(-b): the non-saturating G loss.

    dL_G/db = sigmoid(b) - 1 ~ -1 when D rejects fakes: strong early gradients.
    """
    return _bce_against(fake_logits, 1.0)


GENERATOR_LOSSES = {
    "minimax": minimax_generator_loss,
    "non-saturating": nonsaturating_generator_loss,
}
