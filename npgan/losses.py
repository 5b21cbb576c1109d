"""Losses: binary cross-entropy (from probabilities or from logits), MSE, GAN objectives,
and softmax cross-entropy (with softmax and log_softmax) for classifiers.

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

For C classes, softmax cross-entropy takes a row of logits x and an integer
label y in [0, C) and uses the shifted log-sum-exp (m = max_j x_j)::

    l(x, y) = logsumexp(x) - x_y = log sum_j e^(x_j - m) - (x_y - m)
    dl/dx   = softmax(x) - onehot(y)

Every exponent x_j - m is <= 0 and one of them is 0, so the sum lies in
[1, C]: no overflow, no log(0), a finite loss for any finite logits.
"""
import numbers

from npgan import backend
from npgan.activations import sigmoid, sigmoid_pair
from npgan.autograd import Function, Tensor
from npgan.ops import _apply, _binary, as_tensor, data, exp, reduce_to

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
        kept = data(x) > _log_floor(x.dtype)
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
        pd = data(p)
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
    p = data(input)
    xp = backend.get_array_module(p)
    if bool(xp.any((p < 0) | (p > 1))) or bool(xp.any(xp.isnan(p))):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1]; "
            "for unbounded scores use binary_cross_entropy_with_logits")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"binary_cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                         f"got {reduction!r}")
    input, target = _binary(input, target)
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


# --- softmax and softmax cross-entropy (classifiers) -------------------------

class Softmax(Function):
    """y_i = e^(x_i - m) / sum_j e^(x_j - m) along ``axis``, m = max_j x_j (the shift cancels);

        dx = y * (gy - sum_j gy_j y_j)      (the Jacobian diag(y) - y y^T applied to gy)

    Every exponent is <= 0 and one is 0: no overflow, and the sum is at least 1.
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def backward(self, gy, x, y):
        gyy = gy * y
        return gyy - y * gyy.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Function):
    """y = x - logsumexp(x) = (x - m) - log sum_j e^(x_j - m) along ``axis``, m = max_j x_j;

        dx = gy - softmax(x) sum_j gy_j,    softmax(x) = e^y

    Finite for any finite x (the sum lies in [1, C]), even where softmax(x) underflows to 0.
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy, x, y):
        return gy - exp(y) * gy.sum(axis=self.axis, keepdims=True)


def _check_axis(name, x, axis):
    if x.ndim == 0:
        raise ValueError(f"{name}: needs an input with at least one dimension, got a scalar")
    if not isinstance(axis, numbers.Integral) or not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"{name}: axis must be an int in [-{x.ndim}, {x.ndim}) for an input of shape "
            f"{x.shape}, got {axis!r}")
    return axis % x.ndim


def softmax(x, axis=-1):
    """softmax(x)_i = e^(x_i) / sum_j e^(x_j) along ``axis`` (default: the last), computed stably.

    Differentiable to any order (see :class:`Softmax`); takes a Tensor or an array.
    """
    return _apply(Softmax(_check_axis("softmax", x, axis)), x)


def log_softmax(x, axis=-1):
    """log softmax(x)_i = x_i - logsumexp(x) along ``axis`` (default: the last), computed stably.

    Differentiable to any order (see :class:`LogSoftmax`); takes a Tensor or an array.
    """
    return _apply(LogSoftmax(_check_axis("log_softmax", x, axis)), x)


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(x) against integer labels, from the logits x (N, C),
    reduced inside the op. With m_i = max_j x_ij::

        l_i   = logsumexp(x_i) - x_{i,y_i} = log sum_j e^(x_ij - m_i) - (x_{i,y_i} - m_i)
        dl_i/dx_i = softmax(x_i) - onehot(y_i)          (divided by N for 'mean')

    Written with the shifted logits, l_i never subtracts two huge numbers: a
    logit of 1e4 on the right class costs log(1 + tiny) = 0, not 1e4 - 1e4.
    The labels are a constant of the op (no gradient flows to them).

    Backward on arrays uses the exponentials the forward computed (softmax =
    e / sum e); under ``create_graph`` it is ``softmax(x) - onehot`` with the
    differentiable :func:`softmax`, so second derivatives work.
    """

    def __init__(self, labels, reduction):
        self.labels = labels
        self.reduction = reduction

    def forward(self, x):
        xp = backend.get_array_module(x)
        rows = xp.arange(x.shape[0])
        shifted = x - x.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        sums = e.sum(axis=1)
        loss = xp.log(sums) - shifted[rows, self.labels]
        self.exp_shifted, self.sums = e, sums  # softmax = e / sums, for a plain backward
        if self.reduction == "none":
            return loss
        total = loss.sum()
        return total / loss.size if self.reduction == "mean" else total

    def backward(self, gy, x, y):
        n = x.shape[0]
        if self.reduction == "mean":
            scale = gy / n
        elif self.reduction == "sum":
            scale = gy
        else:  # one gradient per row
            scale = gy.reshape((n, 1))
        xp = backend.get_array_module(data(x))
        rows = xp.arange(n)
        if isinstance(x, Tensor):  # create_graph: differentiable ops
            onehot = xp.zeros(x.shape, dtype=x.dtype)
            onehot[rows, self.labels] = 1
            return (softmax(x) - onehot) * scale
        d = self.exp_shifted / self.sums[:, None]  # a new array: safe to change in place
        d[rows, self.labels] -= 1                   # softmax - onehot
        d *= scale
        return d


def _check_labels(name, logits, labels):
    """``labels`` as an integer array of shape (N,) with values in [0, C), or a clear error."""
    n, c = logits.shape
    if isinstance(labels, Tensor):
        labels = labels.data
    elif not backend.is_array(labels):
        labels = backend.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: labels must be integer class indices in [0, {c}), got dtype "
            f"{labels.dtype} (convert with labels.astype('int64'))")
    if labels.shape != (n,):
        hint = ""
        if labels.shape == (n, c):
            hint = "; for one-hot labels pass labels.argmax(axis=1)"
        elif labels.size == n:
            hint = "; flatten them with labels.reshape(-1)"
        raise ValueError(
            f"{name}: labels must have shape ({n},), one class index per row of logits of "
            f"shape {logits.shape}, got shape {labels.shape}{hint}")
    if backend.mixing_possible():
        backend.check_same_backend(name, [data(logits), labels])
    bad = (labels < 0) | (labels >= c)
    if bool(bad.any()):
        i = int(bad.argmax())
        raise ValueError(
            f"{name}: labels must lie in [0, {c}) for {c} classes; labels[{i}] = "
            f"{int(labels[i])} is out of range")
    return labels


def softmax_cross_entropy(logits, labels, reduction="mean"):
    """Cross-entropy of softmax(logits) against integer labels (see SoftmaxCrossEntropy):

        l_i = logsumexp(x_i) - x_{i, y_i} = -log softmax(x_i)_{y_i}

    Args:
        logits: (N, C) float Tensor (or array) of unnormalised class scores.
        labels: (N,) integer array or Tensor of class indices in [0, C).
        reduction: 'mean' (over the N rows), 'sum', or 'none' (the N losses).

    Finite for any finite logits. Gradient: softmax(x) - onehot(y), divided by N for 'mean'.
    """
    name = "softmax_cross_entropy"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    if logits.ndim != 2:
        raise ValueError(
            f"{name}: logits must be 2-D (N samples, C classes), got shape {logits.shape}")
    if not backend.is_floating(logits.dtype):
        raise TypeError(f"{name}: logits must be floating point, got dtype {logits.dtype}")
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(
            f"{name}: logits need at least one row and one class, got shape {logits.shape}")
    labels = _check_labels(name, logits, labels)
    return SoftmaxCrossEntropy(labels, reduction)(logits)
