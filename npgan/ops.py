"""Differentiable primitives: arithmetic, matmul, reductions, shapes, exp and log.

Each op is a :class:`~npgan.tensor.Function` with its forward on raw arrays
and its backward directly beneath, the derivative written in the docstring.
Backward rules use only operators and the helpers of this module
(``sum_to``, ``broadcast_to``, ``where``, ``exp``, ``log``, ...), which accept
raw arrays *or* Tensors; that is what lets the same rule run at array speed
in a plain backward and record a graph under ``create_graph=True``.

Broadcasting is undone in one place: :func:`reduce_to` sums a gradient back
to its operand's shape (and dtype).
"""
import numbers

from npgan import backend
from npgan.autograd import Function, Tensor


# --- helpers that take arrays or Tensors -------------------------------------

def data(x):
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


def _binary(a, b):
    """Both operands as Tensors (at least one of them already is one)."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, a)
    return as_tensor(a, b), b


def _apply(fn, x):
    """Run a one-input Function: record it for a Tensor, plain forward for an array."""
    return fn(x) if isinstance(x, Tensor) else fn.forward(x)


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
    return _apply(SumTo(shape), x)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a read-only view for arrays)."""
    if x.shape == tuple(shape):
        return x
    return _apply(BroadcastTo(shape), x)


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` (a constant boolean array) else ``b``."""
    condition = data(condition)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _binary(a, b)
        return Where(condition)(a, b)
    return backend.get_array_module(condition).where(condition, a, b)


# --- arithmetic ---------------------------------------------------------------

class Add(Function):
    """y = a + b;  da = gy, db = gy (summed over broadcast axes)."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy, a) if self.needs[0] else None,
                reduce_to(gy, b) if self.needs[1] else None)


class Sub(Function):
    """y = a - b;  da = gy, db = -gy."""

    def forward(self, a, b):
        return a - b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy, a) if self.needs[0] else None,
                reduce_to(-gy, b) if self.needs[1] else None)


class Mul(Function):
    """y = a * b;  da = gy * b, db = gy * a."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy * b, a) if self.needs[0] else None,
                reduce_to(gy * a, b) if self.needs[1] else None)


class Div(Function):
    """y = a / b;  da = gy / b, db = -gy a / b^2."""

    def forward(self, a, b):
        return a / b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy / b, a) if self.needs[0] else None,
                reduce_to(-gy * a / (b * b), b) if self.needs[1] else None)


class Neg(Function):
    """y = -x;  dx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy, x, y):
        return -gy


class Pow(Function):
    """y = a ** b;  da = gy b a^(b-1), db = gy y log(a)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy * b * a ** (b - 1), a) if self.needs[0] else None,
                reduce_to(gy * y * log(a), b) if self.needs[1] else None)


def add(a, b):
    """a + b with broadcasting."""
    return Add()(*_binary(a, b))


def sub(a, b):
    """a - b with broadcasting."""
    return Sub()(*_binary(a, b))


def mul(a, b):
    """a * b with broadcasting."""
    return Mul()(*_binary(a, b))


def div(a, b):
    """a / b with broadcasting."""
    return Div()(*_binary(a, b))


def neg(x):
    """-x."""
    return Neg()(x)


def pow(a, b):
    """a ** b with broadcasting (the exponent may be a number or a Tensor)."""
    return Pow()(*_binary(a, b))


# --- matrix products -------------------------------------------------------------

def _swap_last(x):
    """``x`` with its last two axes swapped (the matrix transpose of a batch)."""
    if x.ndim == 2:
        return x.T
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(tuple(axes))


class MatMul(Function):
    """y = a @ b (2-D or batched);  da = gy @ b^T, db = a^T @ gy."""

    float_operands_only = True

    def forward(self, a, b):
        return a @ b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy @ _swap_last(b), a) if self.needs[0] else None,
                reduce_to(_swap_last(a) @ gy, b) if self.needs[1] else None)


def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands are promoted and squeezed)."""
    a, b = _binary(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
            f"{a.shape[-1]} (last dim of a) != {k_b} ({'second-to-last' if b.ndim > 1 else 'only'} dim of b)")
    if a.ndim == 1:
        out_shape = b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else ()  # 1-D @ 1-D: a scalar
        return reshape(matmul(reshape(a, (1,) + a.shape), b), out_shape)
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, b.shape + (1,))), a.shape[:-1])
    return MatMul()(a, b)


def matmul_2d(a, b):
    """``a @ b`` for matrices; with arrays the product goes into a reused buffer
    (:func:`npgan.backend.empty`), with Tensors (``create_graph``) it is a recorded op."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a @ b
    xp = backend.get_array_module(a)
    dtype = a.dtype if a.dtype == b.dtype else xp.result_type(a, b)
    # dot, not matmul: numpy's matmul takes a slow loop for some thin shapes (a (N, 1) x);
    # the method a.dot, not np.dot: it skips numpy's dispatch to __array_function__ (0.4 us)
    return a.dot(b, out=backend.empty(xp, (a.shape[0], b.shape[1]), dtype))


class Linear(Function):
    """y = x W^T + b, x of shape (N, in), W (out, in), b (out,).

    dx = gy W,  dW = gy^T x,  db = sum_n gy.
    """

    float_operands_only = True

    def forward(self, x, W, b=None):
        y = matmul_2d(x, W.T)
        if b is not None:
            y += b  # in place: saves one temporary of the output's size
        return y

    def backward(self, gy, x, W, *rest):
        b = rest[0] if len(rest) == 2 else None
        gx = matmul_2d(gy, W) if self.needs[0] else None
        gW = matmul_2d(gy.T, x) if self.needs[1] else None
        if b is None:
            return gx, gW
        gb = gy.sum(axis=0) if self.needs[2] else None
        return gx, gW, gb


def linear(x, weight, bias=None):
    """The affine map ``x @ weight.T + bias`` (weight of shape (out, in), as in PyTorch).

    ``x`` may have any number of leading dimensions; the last must equal ``in``.
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape}; "
            f"the input's last dimension must be in_features={weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}; "
            f"expected ({weight.shape[0]},)")
    args = (x, weight) if bias is None else (x, weight, bias)
    if x.ndim == 2:
        return Linear()(*args)
    lead = x.shape[:-1]
    y = Linear()(reshape(x, (-1, x.shape[-1])), *args[1:])
    return reshape(y, lead + (weight.shape[0],))


# --- reductions and shapes ---------------------------------------------------

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


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    return Sum(_normalize_axis(axis, x.ndim), keepdims)(x)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``: the sum divided by the number of elements summed."""
    axes = _normalize_axis(axis, x.ndim)
    count = x.size if axes is None else 1
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
    """y = x with axes permuted;  dx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy, x, y):
        if self.axes is None:
            return gy.transpose()
        inverse = tuple(sorted(range(len(self.axes)), key=lambda i: self.axes[i]))
        return gy.transpose(inverse)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    if axes is not None:
        axes = tuple(a % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return Transpose(axes)(x)


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
        return _apply(GetItemGrad(self.index, x.shape, x.dtype), gy)


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


class Where(Function):
    """y = a where ``condition`` else b;  da = gy where condition, db = gy elsewhere."""

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(self.condition).where(self.condition, a, b)

    def backward(self, gy, a, b, y):
        zero = 0.0
        return (reduce_to(where(self.condition, gy, zero), a) if self.needs[0] else None,
                reduce_to(where(self.condition, zero, gy), b) if self.needs[1] else None)


# --- exp and log -----------------------------------------------------------------

class Exp(Function):
    """y = exp(x);  dx = gy y."""

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy, x, y):
        return gy * y


class Log(Function):
    """y = log(x);  dx = gy / x."""

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, gy, x, y):
        return gy / x


def exp(x):
    """Elementwise e^x (Tensor or array)."""
    return _apply(Exp(), x)


def log(x):
    """Elementwise natural logarithm (Tensor or array)."""
    return _apply(Log(), x)
