"""Reductions and shapes: sum, mean, broadcasting undone and redone, reshape, transpose,
concatenate, indexing and dtype casts, each with its backward rule beneath it.

Broadcasting is undone in one place: :func:`reduce_to` sums a gradient back to
its operand's shape (and dtype); every binary op calls it.
"""
import math
import numbers

from npgan import backend
from npgan.autograd import Function, Tensor
from npgan.functions.helpers import apply, as_tensor


def reduce_to(g, x):
    """Undo broadcasting: sum gradient ``g`` down to the shape (and dtype) of operand ``x``."""
    if g.shape != x.shape:
        g = sum_to(g, x.shape)
    if g.dtype != x.dtype:
        g = g.astype(x.dtype)
    return g


def sum_to(x, shape):
    """Sum ``x`` over its broadcast axes so it has ``shape`` (inverse of broadcast_to)."""
    if x.shape == tuple(shape):
        return x
    return apply(SumTo(shape), x)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a read-only view for arrays)."""
    if x.shape == tuple(shape):
        return x
    return apply(BroadcastTo(shape), x)


def _normalize_axis(axis, ndim):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(out))


def resolve_dims(name, axis, keepdims, dim, keepdim):
    """(axis, keepdims) from numpy's ``axis=``/``keepdims=`` or PyTorch's ``dim=``/``keepdim=``:
    either spelling of each, not both (None means not given; keepdims defaults to False)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}, two names of one "
                            f"argument (dim is PyTorch's, axis numpy's); give one of them")
        axis = dim
    if keepdim is not None:
        if keepdims is not None:
            raise TypeError(f"{name}: got both keepdims={keepdims!r} and keepdim={keepdim!r}, "
                            f"two names of one argument (keepdim is PyTorch's, keepdims "
                            f"numpy's); give one of them")
        keepdims = keepdim
    return axis, bool(keepdims)


class Sum(Function):
    """y = sum of x over ``axis``;  dx = gy broadcast back to x's shape."""

    def __init__(self, axis, keepdims):
        self.axis = axis
        self.keepdims = keepdims

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy, x, y):
        if not self.keepdims and self.axis is not None:
            shape = list(x.shape)
            for a in self.axis:
                shape[a] = 1
            gy = gy.reshape(tuple(shape))
        return broadcast_to(gy, x.shape)


def sum(x, axis=None, keepdims=None, *, dim=None, keepdim=None):
    """Sum over ``axis`` (an int, a tuple, or None for all); ``dim=``/``keepdim=`` as in PyTorch."""
    axis, keepdims = resolve_dims("sum", axis, keepdims, dim, keepdim)
    return Sum(_normalize_axis(axis, x.ndim), keepdims)(x)


def mean(x, axis=None, keepdims=None, *, dim=None, keepdim=None):
    """Mean over ``axis``: the sum divided by the number of elements summed."""
    axis, keepdims = resolve_dims("mean", axis, keepdims, dim, keepdim)
    axes = _normalize_axis(axis, x.ndim)
    count = math.prod(x.shape) if axes is None else 1
    if axes is not None:
        for a in axes:
            count *= x.shape[a]
    return sum(x, axes, keepdims) / count


class SumTo(Function):
    """y = x summed over the axes that broadcasting added;  dx = broadcast_to(gy, x.shape)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            i + lead for i, n in enumerate(self.shape) if n == 1 and x.shape[i + lead] != 1)
        y = x.sum(axis=axes, keepdims=True)
        return y.reshape(self.shape) if lead else y

    def backward(self, gy, x, y):
        return broadcast_to(gy, x.shape)


class BroadcastTo(Function):
    """y = x repeated along broadcast axes;  dx = sum_to(gy, x.shape)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        y = backend.get_array_module(x).empty(self.shape, dtype=x.dtype)
        y[...] = x  # a writable copy; numpy's broadcast_to view costs more to make
        return y

    def backward(self, gy, x, y):
        return sum_to(gy, x.shape)


class Reshape(Function):
    """y = x with a new shape;  dx = gy reshaped to x's shape."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into shape {self.shape}") from None

    def backward(self, gy, x, y):
        return gy.reshape(x.shape)


def reshape(x, shape):
    """``x`` with a new shape (one ``-1`` allowed)."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    return Reshape(tuple(shape))(x)


class Transpose(Function):
    """y = x with axes permuted (numpy's ``x.transpose(axes)``; reversed when None);
    dx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy, x, y):
        if self.axes is None:
            return apply(Transpose(None), gy)
        inverse = tuple(sorted(range(len(self.axes)), key=lambda i: self.axes[i]))
        return apply(Transpose(inverse), gy)


def transpose(x, axes=None):
    """Permute axes as numpy's ``transpose(x, axes)`` does (reverse them when ``axes`` is None).

    This function keeps numpy's meaning, a whole permutation. The Tensor *method*
    ``t.transpose(dim0, dim1)`` is PyTorch's, swapping two dimensions, and
    ``t.permute(*dims)`` is this function (:func:`permute`).
    """
    if axes is not None:
        axes = tuple(axes)
        if any(not -x.ndim <= a < x.ndim for a in axes) or \
                sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
        axes = tuple(a % x.ndim for a in axes)
    return Transpose(axes)(x)


def _dim(name, d, ndim):
    """Dimension ``d`` of a tensor of ``ndim`` dimensions, made non-negative (PyTorch's range:
    [-ndim, ndim - 1], and [-1, 0] for a 0-d tensor); IndexError outside it."""
    n = max(ndim, 1)
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        raise TypeError(f"{name}: a dimension must be an int, got {d!r}")
    if not -n <= d < n:
        raise IndexError(
            f"{name}: dimension {d} is out of range for a tensor of {ndim} dimensions "
            f"(expected one in [{-n}, {n - 1}])")
    return d % n if ndim else 0


def permute(x, dims):
    """``x`` with its dimensions reordered: y.shape[i] = x.shape[dims[i]] (PyTorch's
    ``permute``; numpy's ``transpose(axes)``). Negative dims count from the end."""
    dims = tuple(dims)
    if len(dims) != x.ndim:
        example = ", ".join(str(i) for i in reversed(range(x.ndim)))  # the reversal, say
        raise ValueError(
            f"permute: got {len(dims)} dims {dims} for a tensor of {x.ndim} dimensions; "
            f"name each dimension once (e.g. permute({example}))")
    axes = tuple(_dim("permute", d, x.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise ValueError(f"permute: dims {dims} repeat a dimension; each of the {x.ndim} "
                         f"dimensions must appear exactly once")
    return Transpose(axes)(x)


def swapdims(x, dim0, dim1):
    """``x`` with dimensions ``dim0`` and ``dim1`` swapped (PyTorch's ``transpose(dim0, dim1)``):
    for a matrix, its transpose. Negative dims count from the end."""
    a, b = _dim("transpose", dim0, x.ndim), _dim("transpose", dim1, x.ndim)
    axes = list(range(x.ndim))
    if x.ndim:
        axes[a], axes[b] = axes[b], axes[a]
    return Transpose(tuple(axes))(x)


class Concatenate(Function):
    """y = [x_1; x_2; ...] joined along ``axis``;  dx_i = the slice of gy that x_i occupies."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return backend.get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy, *args):
        grads, start = [], 0
        lead = (slice(None),) * self.axis
        for size, need in zip(self.sizes, self.needs):
            grads.append(gy[lead + (slice(start, start + size),)] if need else None)
            start += size
        return grads[0] if len(grads) == 1 else tuple(grads)  # one input: its gradient alone


def concatenate(tensors, axis=0):
    """The tensors joined along ``axis`` (every other dimension must agree), as numpy's."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: got no tensors to join")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = [as_tensor(t, first) if first is not None else Tensor(t) for t in tensors]
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be joined; reshape them to (1,)")
    axis = _normalize_axis(axis, ndim)[0]
    ref = tensors[0].shape
    for i, t in enumerate(tensors):  # every dimension but ``axis`` must agree
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != ref[:axis] + ref[axis + 1:]:
            raise ValueError(
                f"concatenate: tensor {i} has shape {t.shape}, which does not match tensor 0's "
                f"{tensors[0].shape} outside axis {axis}")
    return Concatenate(axis)(*tensors)


def _is_basic_index(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (numbers.Integral, slice)) or i is None or i is Ellipsis
               for i in items)


class GetItem(Function):
    """y = x[index];  dx = zeros with gy scattered (added) back at ``index``."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy, x, y):
        return apply(GetItemGrad(self.index, x.shape, x.dtype), gy)


class GetItemGrad(Function):
    """y = zeros(shape) with x added at ``index`` (repeats add up);  dx = gy[index]."""

    def __init__(self, index, shape, dtype):
        self.index = index
        self.shape = shape
        self.dtype = dtype

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic_index(self.index):
            y[self.index] = x  # basic indexing never repeats an element
        else:
            xp.add.at(y, self.index, x)
        return y

    def backward(self, gy, x, y):
        return gy[self.index]


def getitem(x, index):
    """``x[index]`` with numpy's basic and advanced indexing."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return GetItem(index)(x)


class AsType(Function):
    """y = x cast to ``dtype``;  dx = gy cast back to x's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy, x, y):
        return gy.astype(x.dtype)


def astype(x, dtype):
    """``x`` cast to ``dtype`` (gradients are cast back to x's dtype)."""
    return AsType(backend.dtype(dtype))(x)


# --- PyTorch's shape methods (view, unsqueeze, squeeze, flatten, t), clone, cat, stack -----

def view(x, shape):
    """``x`` with a new shape, one ``-1`` allowed (PyTorch's ``view``): :func:`reshape`, which
    shares the data when its layout allows and copies otherwise (PyTorch's view refuses then)."""
    return reshape(x, shape)


def unsqueeze(x, dim):
    """``x`` with a new dimension of size 1 at ``dim``, in [-ndim - 1, ndim] (as PyTorch)."""
    d = _dim("unsqueeze", dim, x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    """``x`` without its dimensions of size 1: all of them, or those of ``dim`` (an int or a
    tuple) that have size 1; a named dimension of another size stays, as in PyTorch."""
    if dim is None:
        drop = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        dims = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
        drop = {d for d in (_dim("squeeze", d, x.ndim) for d in dims) if x.ndim and x.shape[d] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


def flatten(x, start_dim=0, end_dim=-1):
    """``x`` with dimensions ``start_dim`` to ``end_dim`` (inclusive) merged into one
    (PyTorch's ``flatten``; a 0-d tensor becomes shape (1,))."""
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = _dim("flatten", start_dim, x.ndim), _dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of {x.ndim} dimensions; give start_dim <= end_dim")
    return reshape(x, x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def t(x):
    """The transpose of a matrix; a 0-d or 1-d tensor as it is (PyTorch's ``t()``)."""
    if x.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, but this one has "
                         f"{x.ndim} (shape {x.shape}); use transpose(dim0, dim1) or "
                         f"permute(*dims)")
    return Transpose(None)(x)


class Clone(Function):
    """y = a copy of x in memory of its own;  dx = gy."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy, x, y):
        return gy


def clone(x):
    """A copy of ``x`` that owns its data; gradients flow through it to ``x`` (PyTorch's clone)."""
    return Clone()(x)


def cat(tensors, dim=None, *, axis=None):
    """The tensors joined along an existing dimension ``dim`` (``torch.cat``; numpy's
    ``concatenate``, see :func:`concatenate`); ``axis=`` is the same argument."""
    dim, _ = resolve_dims("cat", axis, None, dim, None)
    return concatenate(tensors, 0 if dim is None else dim)


def stack(tensors, dim=None, *, axis=None):
    """The tensors, all of one shape, stacked along a new dimension ``dim`` (``torch.stack``):
    y.shape = shape[:dim] + (len(tensors),) + shape[dim:];  dx_i = the slice i of gy."""
    dim, _ = resolve_dims("stack", axis, None, dim, None)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: got no tensors to stack")
    first = next((x for x in tensors if isinstance(x, Tensor)), None)
    tensors = [as_tensor(x, first) if first is not None else Tensor(x) for x in tensors]
    for i, x in enumerate(tensors):
        if x.shape != tensors[0].shape:
            raise ValueError(f"stack: expects tensors of one shape, but got {tensors[0].shape} "
                             f"at entry 0 and {x.shape} at entry {i}")
    d = _dim("stack", 0 if dim is None else dim, tensors[0].ndim + 1)
    return concatenate([unsqueeze(x, d) for x in tensors], d)
