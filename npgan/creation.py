"""Tensors born filled, as PyTorch makes them: zeros, ones, full, empty, and their ``*_like``.

Each makes a new leaf Tensor on the current backend (the ``*_like`` ones on their argument's
backend). The shape is given as ints or as one tuple (``zeros(2, 3)`` or ``zeros((2, 3))``);
``dtype`` defaults to the default float dtype (:func:`npgan.set_default_dtype`), except that
``full`` takes its fill value's kind as PyTorch does (an int gives int64, a bool gives bool).
``requires_grad=True`` makes a floating leaf that gradients flow to.
"""
import numbers

from npgan import backend
from npgan.autograd import Tensor


def _shape(name, size):
    """``size`` (ints, or one tuple or list of ints) as a tuple of non-negative ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for n in size:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"{name}: the shape must be non-negative ints, as zeros(2, 3) or "
                             f"zeros((2, 3)), got {size!r}")
    return tuple(int(n) for n in size)


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else backend.dtype(dtype)


def zeros(*size, dtype=None, requires_grad=False):
    """A tensor of zeros of shape ``size``."""
    shape = _shape("zeros", size)
    return Tensor(backend.get_xp().zeros(shape, dtype=_dtype(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    """A tensor of ones of shape ``size``."""
    shape = _shape("ones", size)
    return Tensor(backend.get_xp().ones(shape, dtype=_dtype(dtype)), requires_grad=requires_grad)


def empty(*size, dtype=None, requires_grad=False):
    """A tensor of shape ``size`` whose values are whatever the memory held (fill it first)."""
    shape = _shape("empty", size)
    return Tensor(backend.get_xp().empty(shape, dtype=_dtype(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad=False):
    """A tensor of shape ``size`` (a tuple, or an int) holding ``fill_value`` everywhere; without
    ``dtype``, a float fills the default float dtype, an int int64 and a bool bool (PyTorch)."""
    shape = _shape("full", (size,))
    if not isinstance(fill_value, numbers.Number):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = "bool"
        elif isinstance(fill_value, numbers.Integral):
            dtype = "int64"
    return Tensor(backend.get_xp().full(shape, fill_value, dtype=_dtype(dtype)),
                  requires_grad=requires_grad)


def _like(name, t, dtype):
    if not isinstance(t, Tensor) and not backend.is_array(t):
        raise TypeError(f"{name}: needs a Tensor (or an array) to take the shape from, got "
                        f"{type(t).__name__}")
    data = t.data if isinstance(t, Tensor) else t
    return backend.get_array_module(data), data.shape, data.dtype if dtype is None else \
        backend.dtype(dtype)


def zeros_like(t, dtype=None, requires_grad=False):
    """Zeros of ``t``'s shape, dtype (unless ``dtype`` is given) and backend."""
    xp, shape, dtype = _like("zeros_like", t, dtype)
    return Tensor(xp.zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    """Ones of ``t``'s shape, dtype (unless ``dtype`` is given) and backend."""
    xp, shape, dtype = _like("ones_like", t, dtype)
    return Tensor(xp.ones(shape, dtype=dtype), requires_grad=requires_grad)
