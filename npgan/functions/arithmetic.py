"""Elementwise arithmetic: + - * / neg ** exp log, and ``where``.

Each op is a :class:`~npgan.autograd.Function` with its forward on raw arrays
and its backward directly beneath, the derivative written in the docstring.
Backward rules use only operators and helpers that accept raw arrays *or*
Tensors (:mod:`npgan.functions.helpers`), which lets the same rule run at array
speed in a plain backward and record a graph under ``create_graph=True``.
"""
from npgan import backend
from npgan.autograd import Function, Tensor
from npgan.functions.helpers import apply, as_tensors, raw
from npgan.functions.shapes import reduce_to


def where(condition, a, b):
    """Elementwise ``a`` where ``condition`` (a constant boolean array) else ``b``."""
    condition = raw(condition)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = as_tensors(a, b)
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
