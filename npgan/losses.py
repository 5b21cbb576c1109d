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
from npgan.activations import softplus
from npgan.ops import _apply, data
from npgan.autograd import Function

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


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """BCE of sigmoid(x) against t, as softplus(x) - x t: finite for any finite logit x.

    Gradient: sigmoid(x) - t.
    """
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return _reduce(softplus(input) - input * target, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - t)^2."""
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


# --- GAN objectives (from the discriminator's logits) -----------------------

def discriminator_loss(real_logits, fake_logits):
    """L_D = -mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-a) + mean softplus(b)."""
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def minimax_generator_loss(fake_logits):
    """L_G = mean log(1 - D(G(z))) = -mean softplus(b): Goodfellow et al.'s original G loss.

    Saturates: when D rejects fakes confidently (b << 0), dL_G/db = -sigmoid(b) ~ 0.
    """
    return -softplus(fake_logits).mean()


def nonsaturating_generator_loss(fake_logits):
    """L_G = -mean log D(G(z)) = mean softplus(-b): the non-saturating G loss.

    dL_G/db = sigmoid(b) - 1 ~ -1 when D rejects fakes: strong early gradients.
    """
    return softplus(-fake_logits).mean()


GENERATOR_LOSSES = {
    "minimax": minimax_generator_loss,
    "non-saturating": nonsaturating_generator_loss,
}
