"""Elementwise arithmetic: + - * / neg ** exp log, and ``where``.

Each op is a :class:`~npgan.autograd.Function` with its forward on raw arrays
and its backward directly beneath, the derivative written in the docstring.
Backward rules use only operators and helpers that accept raw arrays *or*
Tensors (:mod:`npgan.functions.helpers`), which lets the same rule run at array
speed in a plain backward and record a graph under ``create_graph=True``.
"""
import numbers

from npgan import backend
from npgan.autograd import Function, Tensor
from npgan.functions.helpers import apply, as_tensors, raw
from npgan.functions.shapes import reduce_to


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` else ``b`` (``torch.where``), with broadcasting;
    differentiable in ``a`` and ``b`` (see :class:`Where`). The condition is a boolean Tensor
    or array, a constant of the graph. A Tensor comes back when any argument is one (raw
    arrays in, a raw array out: the backward rules use that)."""
    wrap = isinstance(condition, Tensor)
    condition = raw(condition)
    if str(getattr(condition, "dtype", None)) != "bool":
        raise TypeError(f"where: the condition must be a boolean tensor or array, got "
                        f"{getattr(condition, 'dtype', type(condition).__name__)}; compare "
                        f"first (e.g. npgan.where(t > 0, t, 0.0))")
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = as_tensors(a, b)
        return Where(condition)(a, b)
    xp = backend.get_array_module(condition)
    if wrap:  # a Tensor condition with numbers or arrays: a Tensor of their dtype
        a = Tensor(a if backend.is_array(a) else xp.asarray(a, dtype=backend.result_float_dtype(a)))
        return Where(condition)(*as_tensors(a, b))
    return xp.where(condition, a, b)


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
    """y = a ** b;  da = gy b a^(b-1), db = gy y log(a), with PyTorch's values at a = 0:

    * da = 0 where a = 0 and b = 0 (a^0 = 1 is flat; the rule reads 0 * 0^-1 = 0 * inf);
    * db = 0 where a = 0 and b >= 0 (0^b is flat in b; the rule reads 0 * log 0 = 0 * -inf).

    Those points evaluate the rule at a = 1 instead (``a_safe``), where the masked factor
    is exactly 0, so no NaN is made and none reaches a second derivative through the
    mask (the second derivative of x**1 at 0 is 0, as in PyTorch). Unlike PyTorch's
    ``where(b == 0, 0, ...)``, the mask covers a = 0 only, so the mixed derivative
    d2(a^b)/da db = a^(b-1) (1 + b log a) stays exact at b = 0 for a > 0.
    """

    def forward(self, a, b):
        return a ** b

    def backward(self, gy, a, b, y):
        ar, br = raw(a), raw(b)
        at_zero = ar == 0
        if not at_zero.any():  # the usual case: no masking, no extra op
            return (reduce_to(gy * b * a ** (b - 1), a) if self.needs[0] else None,
                    reduce_to(gy * y * log(a), b) if self.needs[1] else None)
        ga = gb = None
        if self.needs[0]:
            mask = at_zero & (br == 0)
            a_safe = where(mask, 1.0, a) if mask.any() else a
            ga = reduce_to(gy * b * a_safe ** (b - 1), a)  # b = 0 at the mask: exactly 0
        if self.needs[1]:
            mask = at_zero & (br >= 0)
            a_safe = where(mask, 1.0, a) if mask.any() else a
            gb = reduce_to(gy * y * log(a_safe), b)  # log 1 = 0 at the mask
        return ga, gb


def add(a, b):
    """a + b with broadcasting."""
    return Add()(*as_tensors(a, b))


def sub(a, b):
    """a - b with broadcasting."""
    return Sub()(*as_tensors(a, b))


def mul(a, b):
    """a * b with broadcasting."""
    return Mul()(*as_tensors(a, b))


def div(a, b):
    """a / b with broadcasting; true division, so integers give the default float dtype
    (int64 / int64 is float32 unless changed by npgan.set_default_dtype, as in PyTorch)."""
    a, b = as_tensors(a, b)
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        dtype = backend.get_default_dtype()
        a, b = Tensor(a.data.astype(dtype)), Tensor(b.data.astype(dtype))
    return Div()(a, b)


def neg(x):
    """-x."""
    return Neg()(x)


def pow(a, b):
    """a ** b with broadcasting (the exponent may be a number or a Tensor)."""
    return Pow()(*as_tensors(a, b))


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
    return apply(Exp(), x)


def log(x):
    """Elementwise natural logarithm (Tensor or array)."""
    return apply(Log(), x)


# --- abs, sqrt, clamp, maximum, minimum ----------------------------------------------

class Abs(Function):
    """y = |x|;  dx = gy sign(x) (0 at x = 0, as PyTorch)."""

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy, x, y):
        return gy * backend.get_array_module(raw(x)).sign(raw(x))


class Sqrt(Function):
    """y = sqrt(x);  dx = gy / (2 y) (infinite at x = 0, as PyTorch's)."""

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy, x, y):
        return gy / (2 * y)


def abs(x):
    """Elementwise |x|."""
    return apply(Abs(), x)


def sqrt(x):
    """Elementwise square root."""
    return apply(Sqrt(), x)


class Clamp(Function):
    """y = min(max(x, lo), hi) for numbers lo, hi (either may be None);
    dx = gy where lo <= x <= hi (the bounds included, as PyTorch), else 0."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = backend.get_array_module(x)
        if self.hi is None:
            return xp.maximum(x, self.lo)
        if self.lo is None:
            return xp.minimum(x, self.hi)
        return xp.minimum(xp.maximum(x, self.lo), self.hi)

    def backward(self, gy, x, y):
        x = raw(x)
        inside = x == x  # NaN is outside every interval
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * inside


def clamp(x, min=None, max=None):
    """Each element of ``x`` limited to [min, max] (``torch.clamp``); either bound may be
    None, a number or a Tensor. The gradient passes where min <= x <= max; a Tensor bound
    gets the gradient where it is the value (x < min, x > max)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given (not None)")
    if isinstance(min, Tensor) or isinstance(max, Tensor) or backend.is_array(min) or \
            backend.is_array(max):
        y = x if min is None else where(raw(x) < raw(min), min, x)
        return y if max is None else where(raw(y) > raw(max), max, y)
    return apply(Clamp(min, max), x)


class Maximum(Function):
    """y = max(a, b) elementwise (``lowest``: min(a, b)); a tie shares the gradient, as PyTorch:

        da = gy ([a wins] + [a = b] / 2),   db = gy ([b wins] + [a = b] / 2)
    """

    def __init__(self, lowest):
        self.lowest = lowest

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        return xp.minimum(a, b) if self.lowest else xp.maximum(a, b)

    def backward(self, gy, a, b, y):
        a_, b_ = raw(a), raw(b)
        wins = (a_ < b_) if self.lowest else (a_ > b_)
        share = (wins + (a_ == b_) * 0.5).astype(y.dtype)  # a's part of each gradient
        return (reduce_to(gy * share, a) if self.needs[0] else None,
                reduce_to(gy * (1 - share), b) if self.needs[1] else None)


def maximum(a, b):
    """Elementwise max(a, b) with broadcasting (``torch.maximum``); ties share the gradient."""
    return Maximum(False)(*as_tensors(a, b))


def minimum(a, b):
    """Elementwise min(a, b) with broadcasting (``torch.minimum``); ties share the gradient."""
    return Maximum(True)(*as_tensors(a, b))


# --- comparisons: boolean tensors, no gradient -------------------------------------------

def compare(op, a, b):
    """``a <op> b`` elementwise for op one of '>', '>=', '<', '<=', '==', '!=': a boolean
    Tensor, outside every graph. NotImplemented for an operand that is not a number, an
    array or a Tensor (so ``t == None`` is False, as in PyTorch)."""
    ops = {">": "greater", ">=": "greater_equal", "<": "less", "<=": "less_equal",
           "==": "equal", "!=": "not_equal"}
    args = []
    for v in (a, b):
        if isinstance(v, Tensor):
            v = v.data
        elif not (isinstance(v, (numbers.Number, bool)) or backend.is_array(v)
                  or (hasattr(v, "dtype") and hasattr(v, "shape"))):  # numpy scalars
            return NotImplemented
        args.append(v)
    arrays = [v for v in args if backend.is_array(v)]
    if len(arrays) == 2 and backend.mixing_possible():
        backend.check_same_backend(f"comparison {op}", arrays)
    xp = backend.get_array_module(arrays[0]) if arrays else backend.get_xp()
    return Tensor(xp.asarray(getattr(xp, ops[op])(*args)))
