"""Helpers every op family uses: they take raw arrays *or* Tensors.

A backward rule is written once, with operators and these helpers; it runs on raw
arrays in a plain backward pass and on Tensors (recording a graph) under
``create_graph=True``. :func:`apply` is what makes that work for an op: a gradient
written as an op of its own (``TanhGrad``, ``ELUGrad``) is then differentiable too.
"""
import numbers

import numpy  # dtype arithmetic only (numpy.promote_types), never array work

from npgan import backend
from npgan.autograd import Tensor


def raw(x):
    """The raw array behind ``x`` (a Tensor's ``.data``, or ``x`` itself)."""
    return x.data if isinstance(x, Tensor) else x


def as_tensor(x, like):
    """``x`` as a Tensor; a Python number becomes a constant of the dtype it takes beside
    ``like`` (:func:`_number_dtype`): ``float32_tensor * 0.5`` stays float32."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        dtype = like.dtype
        if dtype.kind != "f":
            dtype = _number_dtype(x, dtype)
        return Tensor(backend.get_array_module(like.data).asarray(x, dtype=dtype))
    if backend.is_array(x) and x.ndim == 0 and x.dtype != like.dtype and \
            backend.is_floating(x.dtype) and backend.is_floating(like.dtype):
        return Tensor(x.astype(like.dtype))  # a 0-d constant: the tensor's dtype, as a number
    if backend.is_array(x) or (hasattr(x, "dtype") and hasattr(x, "shape")):
        return Tensor(x)  # an array, or a numpy scalar (0-d comparisons give np.bool_)
    raise TypeError(
        f"cannot combine a Tensor with a {type(x).__name__}; use a number, an array, "
        f"or npgan.tensor(...)")


def _number_dtype(x, dtype):
    """The dtype of Python number ``x`` beside a tensor of the non-float ``dtype`` (PyTorch's
    rule: a number never raises a tensor's precision, only its category): a float gives the
    default float dtype, an int beside a bool tensor int64, anything else ``dtype``."""
    if isinstance(x, bool) or (isinstance(x, numbers.Integral) and dtype.kind != "b"):
        return dtype
    if isinstance(x, numbers.Integral):
        return backend.dtype("int64")
    return backend.get_default_dtype()


def as_tensors(a, b, promote_dtypes=True):
    """Both operands as Tensors (at least one of them already is one), of the dtype PyTorch
    gives their result (:func:`promote`; not with ``promote_dtypes=False``: a matrix
    product refuses integer data with float weights instead)."""
    if isinstance(a, Tensor):
        b = as_tensor(b, a)
    else:
        a = as_tensor(a, b)
    try:
        da, db = a.data.dtype, b.data.dtype
    except AttributeError:  # an array type without a dtype: the op's backend check names it
        return a, b
    if da is db or not promote_dtypes or da == db:
        return a, b
    return promote(a, b)


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < float, PyTorch's categories


def promote(a, b):
    """Tensors ``a`` and ``b`` cast to the dtype of their result, by PyTorch's rule:

    * a 0-d tensor (or a Python number, made 0-d by :func:`as_tensor`) beside a tensor with
      dimensions sets the dtype only when its category (bool < integer < float) is higher:
      float32 + a float64 0-d tensor is float32, an int64 tensor * 0.5 the default float dtype;
    * otherwise an integer with a float gives the float's dtype (float32 * int64 -> float32),
      bool and integers promote as numpy does (int32 + int64 -> int64), two 0-d floats give
      the wider one.

    Two float dtypes of tensors with dimensions (float32 with float64) are left as they are:
    the op refuses them (:func:`npgan.autograd._check_dtypes`), as silent promotion would turn
    a float32 model into float64 one op at a time. A float operand that requires grad is
    cast with :func:`~npgan.functions.shapes.astype`, so its gradient comes back in its dtype.
    """
    da, db = a.data.dtype, b.data.dtype
    ca, cb = _CATEGORY.get(da.kind, 3), _CATEGORY.get(db.kind, 3)
    za, zb = a.data.ndim == 0, b.data.ndim == 0
    if za != zb:  # one 0-d: it decides only with a higher category
        dtype = (da if ca > cb else db) if za else (db if cb > ca else da)
    elif ca == cb == 2:
        if not za:
            return a, b  # float32 with float64, both with dimensions: refused by the op
        dtype = da if da.itemsize >= db.itemsize else db
    elif ca == 2 or cb == 2:
        dtype = da if ca == 2 else db
    else:
        dtype = numpy.promote_types(da, db)  # bool and integers: numpy's table is PyTorch's
    return _cast(a, dtype), _cast(b, dtype)


def _cast(t, dtype):
    """Tensor ``t`` in ``dtype``: differentiably when it requires grad, else a new constant."""
    if t.data.dtype == dtype:
        return t
    if t.requires_grad:
        from npgan.functions.shapes import astype  # shapes builds on this module
        return astype(t, dtype)
    return Tensor(t.data.astype(dtype))


def apply(fn, *xs):
    """Run Function ``fn`` on ``xs``: recorded when an input is a Tensor (a backward rule
    under ``create_graph``: every input then taken as a Tensor), its plain forward on arrays."""
    for x in xs:
        if isinstance(x, Tensor):
            return fn(*[x if isinstance(x, Tensor) else Tensor(x) for x in xs])
    return fn.forward(*xs)
