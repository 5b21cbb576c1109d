"""Reductions beyond sum and mean (those are in :mod:`~npgan.functions.shapes`): max and min
of a whole tensor or along a dimension (with the indices), argmax/argmin, var and std with
PyTorch's correction, and the vector norm, the gradient penalty's.

Where PyTorch defines a gradient at a point that is not smooth, these take its choice:

* ``max()``/``amax`` share the gradient evenly between tied maxima; ``max(dim)`` gives it all
  to the element whose index it returns;
* ``norm`` and ``std`` have gradient 0 where they are 0 (not 0/0 = NaN): the WGAN-GP
  penalty at a point where D's input gradient vanishes stays finite (:class:`SafeRoot`).

Every one takes numpy's ``axis=``/``keepdims=`` or PyTorch's ``dim=``/``keepdim=``.
"""
import collections
import math
import numbers

from npgan import backend
from npgan.autograd import Function, Tensor
from npgan.functions.arithmetic import abs, where
from npgan.functions.helpers import apply, raw
from npgan.functions.shapes import (_dim, _normalize_axis, broadcast_to, getitem, mean, reshape,
                                    resolve_dims, sum)

# What max(dim) and min(dim) return, as torch.return_types.max / .min: (values, indices).
MaxResult = collections.namedtuple("max", ["values", "indices"])
MinResult = collections.namedtuple("min", ["values", "indices"])


def _kept_shape(shape, axes):
    """``shape`` with the reduced ``axes`` (None: all) kept as size 1."""
    return tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))


def _check_not_empty(name, x, axes):
    if any(x.shape[a] == 0 for a in (range(x.ndim) if axes is None else axes)) or \
            math.prod(x.shape) == 0:
        raise ValueError(f"{name}: cannot reduce a tensor with no elements (shape {x.shape}) "
                         f"along a dimension of size 0: the operation has no identity")


class Amax(Function):
    """y = the max (``lowest``: min) of x over ``axis`` (None: all); tied extremes share the
    gradient evenly, as PyTorch's amax and max():

        dx = gy [x = y] / (the number of elements equal to y in the reduced slice)
    """

    def __init__(self, axis, keepdims, lowest):
        self.axis, self.keepdims, self.lowest = axis, keepdims, lowest

    def forward(self, x):
        if self.lowest:
            return x.min(axis=self.axis, keepdims=self.keepdims)
        return x.max(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy, x, y):
        kept = _kept_shape(x.shape, self.axis)
        tie = (raw(x) == raw(y).reshape(kept)).astype(x.dtype)
        share = tie / tie.sum(axis=self.axis, keepdims=True)
        return broadcast_to(gy.reshape(kept), x.shape) * share


def amax(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The largest element over ``dim`` (an int, a tuple, or None for all); ties share the
    gradient evenly (``torch.amax``)."""
    return _extreme("amax", x, dim, keepdim, axis, keepdims, lowest=False)


def amin(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The smallest element over ``dim`` (an int, a tuple, or None for all); ties share the
    gradient evenly (``torch.amin``)."""
    return _extreme("amin", x, dim, keepdim, axis, keepdims, lowest=True)


def _extreme(name, x, dim, keepdim, axis, keepdims, lowest):
    axis, keepdims = resolve_dims(name, axis, keepdims, dim, keepdim)
    axes = _normalize_axis(axis, x.ndim)
    _check_not_empty(name, x, axes)
    return Amax(axes, keepdims, lowest)(x)


def _arg(x, axis, lowest):
    """argmax (argmin) of array ``x`` along ``axis``, kept as a dimension of size 1, in int64."""
    xp = backend.get_array_module(x)
    i = x.argmin(axis=axis) if lowest else x.argmax(axis=axis)
    return xp.expand_dims(i, axis).astype("int64")


def _max_along(name, x, dim, keepdim, lowest):
    """(values, indices) of the max (min) along ``dim``: values = x at the indices, taken with
    differentiable indexing, so the gradient reaches the element whose index is returned."""
    if x.ndim == 0:
        values, indices = _max_along(name, reshape(x, (1,)), 0, False, lowest)
        _dim(name, dim, 0)  # 0 and -1 are the 0-d tensor's dimensions, as in PyTorch
        return values, indices
    d = _dim(name, dim, x.ndim)
    _check_not_empty(name, x, (d,))
    xp = backend.get_array_module(x.data)
    idx = _arg(x.data, d, lowest)
    index = tuple(idx if a == d else xp.arange(n).reshape((1,) * a + (n,) + (1,) * (x.ndim - a - 1))
                  for a, n in enumerate(x.shape))
    values = getitem(x, index)  # shape: x's with dim d of size 1
    if not keepdim:
        shape = x.shape[:d] + x.shape[d + 1:]
        values, idx = reshape(values, shape), idx.reshape(shape)
    return values, Tensor(idx)


def max(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """PyTorch's ``max``: ``max(x)`` the largest element (ties share the gradient);
    ``max(x, dim)`` a named tuple (values, indices) along ``dim`` (``keepdim`` keeps it as
    size 1), the gradient going to the returned index; ``max(x, other_tensor)`` is
    :func:`~npgan.functions.arithmetic.maximum`."""
    return _max_or_min("max", x, dim, keepdim, axis, keepdims, lowest=False)


def min(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """PyTorch's ``min``: the smallest element, (values, indices) along ``dim``, or
    :func:`~npgan.functions.arithmetic.minimum` with a Tensor (see :func:`max`)."""
    return _max_or_min("min", x, dim, keepdim, axis, keepdims, lowest=True)


def _max_or_min(name, x, dim, keepdim, axis, keepdims, lowest):
    from npgan.functions.arithmetic import maximum, minimum
    if isinstance(dim, Tensor):
        return minimum(x, dim) if lowest else maximum(x, dim)
    axis, keepdims = resolve_dims(name, axis, keepdims, dim, keepdim)
    if axis is None:
        _check_not_empty(name, x, None)
        return Amax(None, False, lowest)(x)
    if not isinstance(axis, numbers.Integral):
        raise TypeError(f"{name}: dim must be an int (one dimension: the values and their "
                        f"indices along it), got {axis!r}; for several use amax/amin")
    result = MinResult if lowest else MaxResult
    return result(*_max_along(name, x, axis, keepdims, lowest))


def argmax(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The index of the largest element: of the flattened tensor (a 0-d int64 tensor) when
    ``dim`` is None, else along ``dim`` (the first of ties, as numpy)."""
    return _argext("argmax", x, dim, keepdim, axis, keepdims, lowest=False)


def argmin(x, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The index of the smallest element, flattened or along ``dim`` (see :func:`argmax`)."""
    return _argext("argmin", x, dim, keepdim, axis, keepdims, lowest=True)


def _argext(name, x, dim, keepdim, axis, keepdims, lowest):
    axis, keepdims = resolve_dims(name, axis, keepdims, dim, keepdim)
    data = raw(x)
    if axis is None:
        _check_not_empty(name, x, None)
        i = (data.argmin() if lowest else data.argmax()).astype("int64")
        return Tensor(i.reshape((1,) * data.ndim) if keepdims else i)
    d = _dim(name, axis, data.ndim)
    if data.ndim == 0:
        return Tensor(backend.get_array_module(data).zeros((), dtype="int64"))
    _check_not_empty(name, x, (d,))
    i = _arg(data, d, lowest)
    return Tensor(i if keepdims else i.reshape(data.shape[:d] + data.shape[d + 1:]))


# --- var, std, norm -------------------------------------------------------------------------

class SafeRoot(Function):
    """y = s^(1/p) for s >= 0, with gradient 0 where s = 0 (PyTorch's norm and std there):

        ds = gy y / (p s) where s > 0, else 0        (p = 2: ds = gy / (2 y))
    """

    def __init__(self, p):
        self.p = p

    def forward(self, s):
        xp = backend.get_array_module(s)
        return xp.sqrt(s) if self.p == 2 else s ** (1 / self.p)

    def backward(self, gy, s, y):
        zero = raw(s) == 0
        if self.p == 2:
            return where(zero, 0.0, gy / (2 * where(zero, 1.0, y)))
        return where(zero, 0.0, gy * y / (self.p * where(zero, 1.0, s)))


def _correction(name, unbiased, correction):
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: got both unbiased={unbiased!r} and correction={correction!r}; "
                        f"give one (unbiased=True is correction=1, False is 0)")
    if correction is None:
        return 1 if unbiased is None or unbiased else 0
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real) or correction < 0:
        raise ValueError(f"{name}: correction must be a number >= 0, got {correction!r}")
    return correction


def var(x, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None):
    """The variance over ``dim`` (all when None), with PyTorch's default Bessel correction:

        var = sum (x - mean)^2 / (N - correction),  correction = 1 (unbiased=True) by default;
        dx = 2 (x - mean) / (N - correction)

    ``unbiased=False`` (or ``correction=0``) divides by N. N - correction must be positive:
    PyTorch returns NaN or inf there with a warning, npgan raises ValueError.
    """
    return _var("var", x, dim, unbiased, keepdim, correction, axis, keepdims)


def _var(name, x, dim, unbiased, keepdim, correction, axis, keepdims):
    axis, keepdims = resolve_dims(name, axis, keepdims, dim, keepdim)
    c = _correction(name, unbiased, correction)
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{name}: needs a floating tensor, got dtype {x.dtype}; cast it first "
                        f"(t.float() or t.double())")
    axes = _normalize_axis(axis, x.ndim)
    n = math.prod(x.shape) if axes is None else math.prod(x.shape[a] for a in axes)
    if n - c <= 0:
        raise ValueError(
            f"{name}: correction={c} leaves {n} - {c} <= 0 degrees of freedom for {n} "
            f"element(s) per reduction (shape {x.shape}); use correction=0 (unbiased=False) "
            f"or reduce over more elements")
    d = x - mean(x, axes, True)
    return sum(d * d, axes, keepdims) / (n - c)


def std(x, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None, keepdims=None):
    """The standard deviation sqrt(:func:`var`), same arguments; its gradient is 0 where it is
    0 (all elements equal), as PyTorch's, not 0/0."""
    return apply(SafeRoot(2), _var("std", x, dim, unbiased, keepdim, correction, axis, keepdims))


def norm(x, p=2, dim=None, keepdim=None, *, axis=None, keepdims=None):
    """The vector p-norm over ``dim`` (all elements when None), PyTorch's ``Tensor.norm``:

        ||x||_p = (sum |x|^p)^(1/p)  (p = 2 or 'fro': the Euclidean norm; p > 0),
        ||x||_inf = max |x|,  ||x||_-inf = min |x|;
        d||x||_2 / dx = x / ||x||_2, and 0 where the norm is 0 (PyTorch's subgradient).

    The gradient penalty of WGAN-GP is ``(g.norm(dim=1) - 1) ** 2`` of a per-sample gradient g.
    """
    axis, keepdims = resolve_dims("norm", axis, keepdims, dim, keepdim)
    axes = _normalize_axis(axis, x.ndim)
    if p == "fro":
        p = 2
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p > 0 and p != -math.inf:
        raise ValueError(f"norm: p must be a positive number, inf, -inf or 'fro', got {p!r}")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"norm: needs a floating tensor, got dtype {x.dtype}; cast it first "
                        f"(t.float() or t.double())")
    if p == math.inf or p == -math.inf:
        _check_not_empty("norm", x, axes)
        return Amax(axes, keepdims, p < 0)(abs(x))
    if p == 1:
        return sum(abs(x), axes, keepdims)
    s = sum(x * x, axes, keepdims) if p == 2 else sum(abs(x) ** p, axes, keepdims)
    return apply(SafeRoot(p), s)
