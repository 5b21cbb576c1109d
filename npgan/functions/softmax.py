"""Softmax, log-softmax and softmax cross-entropy, for classifiers (the MNIST scorer).

For C classes, softmax cross-entropy takes a row of logits x and an integer
label y in [0, C) and uses the shifted log-sum-exp (m = max_j x_j)::

    l(x, y) = logsumexp(x) - x_y = log sum_j e^(x_j - m) - (x_y - m)
    dl/dx   = softmax(x) - onehot(y)

Every exponent x_j - m is <= 0 and one of them is 0, so the sum lies in
[1, C]: no overflow, no log(0), a finite loss for any finite logits.
"""
import numbers

from npgan import backend
from npgan.autograd import Function, Tensor
from npgan.functions.arithmetic import exp
from npgan.functions.helpers import apply, raw
from npgan.functions.shapes import resolve_dims


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


def softmax(x, axis=None, *, dim=None):
    """softmax(x)_i = e^(x_i) / sum_j e^(x_j) along ``axis`` (default: the last), computed stably;
    ``dim=`` is the same argument (PyTorch's name).

    Differentiable to any order (see :class:`Softmax`); takes a Tensor or an array.
    """
    axis, _ = resolve_dims("softmax", axis, None, dim, None)
    return apply(Softmax(_check_axis("softmax", x, -1 if axis is None else axis)), x)


def log_softmax(x, axis=None, *, dim=None):
    """log softmax(x)_i = x_i - logsumexp(x) along ``axis`` (default: the last), computed stably;
    ``dim=`` is the same argument (PyTorch's name).

    Differentiable to any order (see :class:`LogSoftmax`); takes a Tensor or an array.
    """
    axis, _ = resolve_dims("log_softmax", axis, None, dim, None)
    return apply(LogSoftmax(_check_axis("log_softmax", x, -1 if axis is None else axis)), x)


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(x) against integer labels, from the logits x (N, C),
    reduced inside the op. With m_i = max_j x_ij::

        l_i   = logsumexp(x_i) - x_{i,y_i} = log sum_j e^(x_ij - m_i) - (x_{i,y_i} - m_i)
        dl_i/dx_i = softmax(x_i) - onehot(y_i)          (divided by N for 'mean')

    Written with the shifted logits, l_i never subtracts two huge numbers: a
    logit of 1e4 on the right class costs log(1 + tiny) = 0, not 1e4 - 1e4.
    The labels are a constant of the op (no gradient flows to them).

    Backward is ``(softmax(x) - onehot) * scale`` with :func:`softmax`, which takes
    arrays (a plain backward) or Tensors (``create_graph``: second derivatives).
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
        xp = backend.get_array_module(raw(x))
        onehot = xp.zeros(x.shape, dtype=x.dtype)
        onehot[xp.arange(n), self.labels] = 1
        return (softmax(x) - onehot) * scale


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
        backend.check_same_backend(name, [raw(logits), labels])
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
