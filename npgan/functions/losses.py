"""Losses: binary cross-entropy (from probabilities or from logits), MSE, L1, and PyTorch's
cross_entropy and nll_loss for classifiers.

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
import numbers
import warnings

from npgan import backend, speed
from npgan.autograd import Function, Tensor
from npgan.functions.activations import softplus
from npgan.functions.arithmetic import abs
from npgan.functions.helpers import apply, as_tensors, raw
from npgan.functions.shapes import flatten, permute, reduce_to, reshape
from npgan.functions.softmax import log_softmax, softmax_cross_entropy

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


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1], as PyTorch computes it.

    Each log is clamped at -100, so p = 0 or 1 gives a finite loss (100 per
    wrong element). The gradient is PyTorch's, (p - t) / max(p (1 - p), 1e-12):
    large and finite at p = 0 or 1 (see :class:`BinaryCrossEntropy`).
    ``weight`` (broadcast to the input's shape) scales each element's loss, w l, before the
    reduction ('mean' divides by the number of elements, as PyTorch). The target must have
    the input's shape (PyTorch refuses other shapes here too).
    Prefer :func:`binary_cross_entropy_with_logits` where you have logits.
    """
    _check_weight("binary_cross_entropy", input, weight, "weight")
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
    loss = BinaryCrossEntropy()(input, target)
    return _reduce(loss if weight is None else loss * weight, reduction, "binary_cross_entropy")


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


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """BCE of sigmoid(x) against t from logits x: finite for any finite logit (see BCEWithLogits).

    Gradient: sigmoid(x) - t (divided by the number of elements for 'mean').
    With ``pos_weight`` (p_c, broadcast along the last dimension, as PyTorch) the positive
    term is weighted, and with ``weight`` (w, broadcast to the input's shape) each element:

        l = w (p t softplus(-x) + (1 - t) softplus(x))
          = w ((1 - t) x + (1 + (p - 1) t) softplus(-x))
        dl/dx = w ((1 - t) - (1 + (p - 1) t) sigmoid(-x))

    (the right-hand forms are PyTorch's, exact for any finite x). The target must have the
    input's shape.
    """
    name = "binary_cross_entropy_with_logits"
    _check_weight(name, input, weight, "weight")
    _check_weight(name, input, pos_weight, "pos_weight")
    _check_same_shape(name, input, target)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', "
            f"got {reduction!r}")
    if weight is None and pos_weight is None:
        return BCEWithLogits(reduction)(*as_tensors(input, target))
    x, t = as_tensors(input, target)
    log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * t
    loss = (1 - t) * x + log_weight * softplus(-x)
    return _reduce(loss if weight is None else loss * weight, reduction, name)


def _check_weight(name, input, weight, what):
    """``weight`` is None, a number or a Tensor/array broadcastable to the input's shape."""
    if weight is None or isinstance(weight, numbers.Number) and not isinstance(weight, bool):
        return
    if not hasattr(weight, "shape"):
        raise TypeError(f"{name}: {what} must be a Tensor (or None), got "
                        f"{type(weight).__name__} {weight!r:.40}; pass reduction= by keyword")
    try:
        shape = backend.numpy.broadcast_shapes(tuple(weight.shape), tuple(input.shape))
    except ValueError:
        shape = None
    if shape != tuple(input.shape):
        raise ValueError(f"{name}: {what} of shape {tuple(weight.shape)} does not broadcast to "
                         f"the input's shape {tuple(input.shape)}")


def _broadcast_target(name, input, target):
    """PyTorch's rule for mse_loss and l1_loss: a target of another shape that broadcasts
    against the input is used broadcast, with a UserWarning (it is usually a mistake, such as
    a (N, 1) output against an (N,) target); one that does not broadcast is an error."""
    ishape, tshape = tuple(input.shape), tuple(getattr(target, "shape", ()))
    if ishape == tshape:
        return
    try:
        backend.numpy.broadcast_shapes(ishape, tshape)
    except ValueError:
        _check_same_shape(name, input, target)
    warnings.warn(
        f"{name}: using a target of shape {tshape} that differs from the input's shape {ishape}; "
        f"it is broadcast (as PyTorch does), which is likely not what you want: give a target "
        f"of the input's shape", UserWarning, stacklevel=3)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (x - t)^2 (a target of another shape: see :func:`_broadcast_target`)."""
    _broadcast_target("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error |x - t|;  dl/dx = sign(x - t) (0 where x = t, as PyTorch).
    A target of another shape: see :func:`_broadcast_target`."""
    _broadcast_target("l1_loss", input, target)
    return _reduce(abs(input - target), reduction, "l1_loss")


# --- cross_entropy and nll_loss (PyTorch's classifier losses) ------------------------------

def _rows(name, input):
    """Scores of shape (C,), (N, C) or (N, C, d1, ...) as rows (M, C), classes last."""
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension: shape (C,), (N, C) or "
                         f"(N, C, d1, ...), got a 0-d tensor")
    if input.ndim == 1:
        return reshape(input, (1, input.shape[0]))
    if input.ndim == 2:
        return input
    return flatten(permute(input, (0,) + tuple(range(2, input.ndim)) + (1,)), 0, -2)


def _per_sample_shape(input):
    """The shape of one loss per sample: () for (C,), (N,) for (N, C), (N, d1, ...) beyond."""
    return () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])


def _class_indices(name, input, target, ignore_index):
    """``target`` as an int64 array (M,) of class indices in [0, C) or ``ignore_index``."""
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    labels = raw(target) if isinstance(target, Tensor) else target
    if not backend.is_array(labels):
        labels = backend.get_array_module(raw(input)).asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices (or, for "
                        f"cross_entropy, float class probabilities of the input's shape), got "
                        f"dtype {labels.dtype} and shape {labels.shape}")
    expected = _per_sample_shape(input)
    if tuple(labels.shape) != expected:
        raise ValueError(f"{name}: target of class indices must have shape {expected} for an "
                         f"input of shape {tuple(input.shape)}, got {tuple(labels.shape)}")
    labels = labels.reshape(-1).astype("int64")
    if backend.mixing_possible():
        backend.check_same_backend(name, [raw(input), labels])
    bad = ((labels < 0) | (labels >= c)) & (labels != ignore_index)
    if bool(bad.any()):
        i = int(bad.argmax())
        raise ValueError(f"{name}: target indices must lie in [0, {c}) for {c} classes (or "
                         f"equal ignore_index={ignore_index}); element {i} is {int(labels[i])}")
    return labels


def _class_weight(name, weight, c, like):
    """A constant array (C,) of class weights, or None."""
    if weight is None:
        return None
    w = raw(weight) if isinstance(weight, Tensor) else weight
    if not backend.is_array(w):
        w = backend.get_array_module(raw(like)).asarray(w, dtype=like.dtype)
    if tuple(w.shape) != (c,):
        raise ValueError(f"{name}: weight must have one entry per class, shape ({c},), got "
                         f"shape {tuple(w.shape)}")
    return w.astype(like.dtype)


def _nll_rows(name, logp, labels, weight, ignore_index, reduction):
    """PyTorch's nll_loss on rows (M, C) of log-probabilities: l_m = -w_{y_m} logp_{m, y_m}
    (0 where y_m = ignore_index); 'mean' divides by sum_m w_{y_m} over the kept rows."""
    xp = backend.get_array_module(labels)
    kept = labels != ignore_index
    safe = xp.where(kept, labels, 0)
    w = kept.astype(logp.dtype) if weight is None else weight[safe] * kept
    picked = logp[xp.arange(labels.shape[0]), safe]  # differentiable indexing
    loss = -(picked * w)
    if reduction == "none":
        return loss, w
    return (loss.sum() / w.sum() if reduction == "mean" else loss.sum()), w


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood of class indices under log-probabilities ``input``
    (PyTorch's ``F.nll_loss``; input (C,), (N, C) or (N, C, d1, ...), target (), (N,) or
    (N, d1, ...)):

        l_n = -w_{y_n} input_{n, y_n}   (0 where y_n = ignore_index);
        'mean' = sum_n l_n / sum_n w_{y_n} over the rows not ignored, 'sum', or 'none';
        dl_n/d input_{n, c} = -w_{y_n} [c = y_n]
    """
    _check_reduction("nll_loss", reduction)
    rows = _rows("nll_loss", input)
    labels = _class_indices("nll_loss", input, target, ignore_index)
    weight = _class_weight("nll_loss", weight, rows.shape[1], rows)
    loss, _ = _nll_rows("nll_loss", rows, labels, weight, ignore_index, reduction)
    return reshape(loss, _per_sample_shape(input)) if reduction == "none" else loss


def _check_reduction(name, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy from unnormalised scores (logits), PyTorch's ``F.cross_entropy``.

    ``input`` has shape (C,), (N, C) or (N, C, d1, ...) (classes in dimension 1). ``target`` is
    either class indices (integers, the input's shape without the class dimension) or class
    probabilities (floats, the input's shape):

        indices:        l_n = -w_{y_n} log softmax(x_n)_{y_n}; 'mean' divides by sum_n w_{y_n}
                        (rows whose target is ``ignore_index`` count for nothing);
        probabilities:  l_n = -sum_c w_c p_nc log softmax(x_n)_c; 'mean' divides by N;
        dl_n/dx_n = w (softmax(x_n) - onehot(y_n)) (indices, w = w_{y_n}; so for p)

    ``label_smoothing`` e mixes the target with the uniform distribution: (1 - e) target + e/C.
    Without weight, smoothing or ignored rows, the indices case is
    :func:`~npgan.functions.softmax.softmax_cross_entropy` (one fused op).
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    if isinstance(label_smoothing, bool) or not 0 <= label_smoothing <= 1:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if not backend.is_floating(input.dtype):
        raise TypeError(f"{name}: input must hold floating scores, got dtype {input.dtype}")
    rows = _rows(name, input)
    c = rows.shape[1]
    weight = _class_weight(name, weight, c, rows)
    t = raw(target) if isinstance(target, Tensor) else target
    if hasattr(t, "dtype") and backend.is_floating(t.dtype):  # class probabilities
        if tuple(t.shape) != tuple(input.shape):
            raise ValueError(f"{name}: a target of class probabilities must have the input's "
                             f"shape {tuple(input.shape)}, got {tuple(t.shape)}")
        p = _rows(name, target if isinstance(target, Tensor) else Tensor(t))
        if label_smoothing:
            p = p * (1 - label_smoothing) + label_smoothing / c
        logp = log_softmax(rows, 1)
        if weight is not None:
            logp = logp * weight
        loss = -(logp * p).sum(axis=1)
        if reduction == "none":
            return reshape(loss, _per_sample_shape(input))
        return loss.mean() if reduction == "mean" else loss.sum()
    labels = _class_indices(name, input, target, ignore_index)
    if weight is None and not label_smoothing and not bool((labels == ignore_index).any()) \
            and rows.shape[0] > 0:
        loss = softmax_cross_entropy(rows, labels, reduction)
    else:
        logp = log_softmax(rows, 1)
        loss, w = _nll_rows(name, logp, labels, weight, ignore_index, reduction)
        if label_smoothing:  # PyTorch's smoothing term, normalised as its nll part
            kept = (labels != ignore_index).astype(rows.dtype)
            smooth = -(logp if weight is None else logp * weight).sum(axis=1) * kept
            if reduction == "mean":
                smooth = smooth.sum() / w.sum()
            elif reduction == "sum":
                smooth = smooth.sum()
            loss = loss * (1 - label_smoothing) + smooth * (label_smoothing / c)
    return reshape(loss, _per_sample_shape(input)) if reduction == "none" else loss


# Defined where they belong, importable from here under their old names.
from npgan.functions.softmax import (  # noqa: E402,F401
    LogSoftmax, Softmax, SoftmaxCrossEntropy, softmax)
from npgan.gan.objectives import (  # noqa: E402,F401
    GENERATOR_LOSSES, discriminator_loss, minimax_generator_loss, nonsaturating_generator_loss)
