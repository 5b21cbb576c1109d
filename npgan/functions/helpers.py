"""Helpers every op family uses: they take raw arrays *or* Tensors.

A backward rule is written once, with operators and these helpers; it runs on raw
arrays in a plain backward pass and on Tensors (recording a graph) under
``create_graph=True``. :func:`apply` is what makes that work for an op: a gradient
written as an op of its own (``TanhGrad``, ``ELUGrad``) is then differentiable too.
"""
import numbers

from npgan import backend
from npgan.autograd import Tensor


def raw(x):
    """The raw array behind ``x`` (a Tensor's ``.data``, or ``x`` itself)."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x, like):
    """``x`` as a Tensor; a Python number becomes a constant of ``like``'s dtype.

    Pinning the dtype here keeps ``float32_tensor * 0.5`` in float32.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        xp = backend.get_array_module(like.data)
        # pin a float tensor's dtype; never cast 0.5 to an integer tensor's dtype (0)
        dtype = like.dtype if backend.is_floating(like.dtype) else backend.result_float_dtype(x)
        return Tensor(xp.asarray(x, dtype=dtype))
    if backend.is_array(x) and x.ndim == 0 and x.dtype != like.dtype and \
            backend.is_floating(x.dtype) and backend.is_floating(like.dtype):
        return Tensor(x.astype(like.dtype))  # a 0-d constant: the tensor's dtype, as a number
    if backend.is_array(x) or (hasattr(x, "dtype") and hasattr(x, "shape")):
        return Tensor(x)  # an array, or a numpy scalar (0-d comparisons give np.bool_)
    raise TypeError(
        f"cannot combine a Tensor with a {type(x).__name__}; use a number, an array, "
        f"or npgan.tensor(...)")


def as_tensors(a, b):
    """Both operands as Tensors (at least one of them already is one)."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, a)
    return as_tensor(a, b), b


def apply(fn, *xs):
    """Run Function ``fn`` on ``xs``: recorded when an input is a Tensor (a backward rule
    under ``create_graph``: every input then taken as a Tensor), its plain forward on arrays."""
    for x in xs:
        if isinstance(x, Tensor):
            return fn(*[x if isinstance(x, Tensor) else Tensor(x) for x in xs])
    return fn.forward(*xs)
