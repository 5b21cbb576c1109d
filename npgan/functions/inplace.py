"""In-place updates: ``t += x`` (and ``-=``, ``*=``, ``/=``) and ``t[index] = value`` change
``t.data`` itself, as in PyTorch: ``b = a; a += 1`` changes ``b`` too, and a hand-written
update ``with npgan.no_grad(): p -= lr * p.grad`` changes the parameter.

Which of three things happens is decided, and the operand checked, before any work:

* **Refused**: ``t`` is a leaf that requires grad (a parameter) and gradients are being
  recorded. Its ``.grad`` is d(loss)/d(its value), and the graph holds that value: change
  parameters under :func:`npgan.no_grad`, as optimizers do. (PyTorch's error, word for word
  at the start.)
* **Plain**: gradients are off (:func:`npgan.no_grad`), or neither ``t`` nor the operand
  requires grad: one ufunc writes into ``t.data`` (``add(t, x, out=t)``), nothing recorded.
* **Recorded**, as PyTorch does: gradients are on and ``t`` (not a leaf) or the operand
  requires grad, as in a residual block's ``out += identity``. ``t`` keeps its identity and
  its array and becomes the output of the op, and a new tensor takes over ``t``'s former
  value and graph as that op's input::

      before:  ... -> f -> t                after ``t += x``:  ... -> f -> old -> Add(old, x) -> t

  This costs one copy of ``t`` (the former value, which the op's own gradient may need) and
  is a handful of lines, so it is done rather than refused. Ops that read ``t`` to compute the
  operand (``t[:, 0] = t[:, 1] * 2``) are pointed at the new tensor too. Other ops that used
  ``t`` *before* the change still hold ``t`` itself as their input (PyTorch routes them
  through the graph node; npgan's graph is its tensors, with no links forward to find them):
  they see ``t`` changed after they saved it, and backward through them raises (below)
  instead of computing with the new value. A ``t`` whose array is a view of another array (made by reshape, transpose or
  basic indexing) is refused here: writing through it would change the tensor it views
  behind the graph's back (PyTorch's view tracking is out of scope); write ``t = t + x``.

**The version counter.** Every in-place change adds 1 to ``t._version``
(:func:`npgan.autograd._bump`; optimizers' ``step()`` bumps each parameter it updates, as
PyTorch's do). An op saves the clock of all changes when it records its inputs
(``fn.clock``, one integer: the recording path costs what it did); backward, finding
the clock moved since, checks the op's inputs and output and raises PyTorch's "modified by
an inplace operation" error, naming the op, the tensor's shape and its versions, rather than
use a changed value. npgan checks every input and the output of an op, used by its rule or
not, so it also refuses some changes PyTorch lets pass (``h = x * 2; h += 1`` under
``no_grad``, then backward through ``h``); never the other way round.

Not counted: writes to a ``.data`` array (``p.data[...] = ...``, weight clipping, EMA,
running statistics: as PyTorch's ``.data``), and a change made through another tensor that
shares the array (a ``detach()`` or a view made under ``no_grad``): in PyTorch those share one
counter, here each tensor has its own.
"""
import numbers
import weakref

from npgan import backend
from npgan.autograd import Function, Tensor, _bump, _clock, _wrap, is_grad_enabled
from npgan.functions import arithmetic
from npgan.functions.helpers import _cast, apply, as_tensor, raw
from npgan.functions.shapes import reduce_to

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}  # bool < integer < float < complex
_NAMES = {0: "bool", 1: "an integer", 2: "float", 3: "complex"}

LEAF_MESSAGE = (
    "a leaf Variable that requires grad is being used in an in-place operation. "
    "({what} on a tensor of shape {shape}: its .grad would be the gradient of a value the "
    "graph no longer holds.) Change parameters under `with npgan.no_grad():` (as optimizers "
    "do), or {instead}")

# symbol -> (the ufunc for the plain path, the out-of-place op the recorded path runs)
_OPS = {"+=": ("add", arithmetic.add), "-=": ("subtract", arithmetic.sub),
        "*=": ("multiply", arithmetic.mul), "/=": ("true_divide", arithmetic.div)}


def _category(x):
    """bool 0, integer 1, float 2, complex 3, for an array or a Python number."""
    if isinstance(x, bool):
        return 0
    if isinstance(x, numbers.Integral):
        return 1
    if isinstance(x, numbers.Real):
        return 2
    if isinstance(x, numbers.Complex):
        return 3
    return _CATEGORY.get(x.dtype.kind, 3)


def _broadcasts_into(shape, target):
    """True when an operand of ``shape`` broadcasts to ``target`` without changing it."""
    if len(shape) > len(target):
        return False
    return all(n == 1 or n == m for n, m in zip(shape[::-1], target[::-1]))


def _operand(t, other, what):
    """``other`` as a raw array or a number, checked against ``t`` (backend, shape, dtype)."""
    o = other.data if isinstance(other, Tensor) else other
    if not (isinstance(o, numbers.Number) or backend.is_array(o) or hasattr(o, "dtype")):
        raise TypeError(f"{what}: cannot combine a Tensor with a {type(other).__name__}; use a "
                        f"number, an array or a Tensor")
    if backend.is_array(o) and backend.mixing_possible():
        backend.check_same_backend(what, [t.data, o])
    shape = tuple(getattr(o, "shape", ()))
    if not _broadcasts_into(shape, t.shape):
        raise ValueError(
            f"{what}: an operand of shape {shape} does not broadcast to the tensor's shape "
            f"{t.shape}, and an in-place op cannot change a tensor's shape; write t = t "
            f"{what[:-1]} x for a new tensor")
    kind, result = _category(t.data), _category(o)
    if what == "/=":
        result = max(result, 2)  # true division gives floats
    if result > kind:
        raise TypeError(
            f"{what}: the result is {_NAMES[result]}, which cannot be stored in place in a "
            f"tensor of dtype {t.dtype} (PyTorch's rule); write t = t {what[:-1]} x for a new "
            f"tensor, or cast t first (t.astype(...))")
    return o


def _recording(t, other):
    """True when an in-place change of ``t`` by ``other`` must be recorded (raising for a
    leaf that requires grad, PyTorch's error)."""
    if not is_grad_enabled():
        return False
    return t.requires_grad or (isinstance(other, Tensor) and other.requires_grad)


def _check_leaf(t, what, instead):
    if t.requires_grad and t.creator is None:
        raise RuntimeError(LEAF_MESSAGE.format(what=what, shape=t.shape, instead=instead))


def _check_writable(t, what, recorded):
    flags = getattr(t.data, "flags", None)
    if flags is not None and not getattr(flags, "writeable", True):
        raise ValueError(f"{what}: the tensor's array is read-only (a broadcast view?); "
                         f"write t = t + x for a new tensor")
    if recorded and t.data.base is not None:
        raise RuntimeError(
            f"{what}: this tensor's array is a view of another tensor's (made by reshape, "
            f"transpose or indexing), and changing it in place while gradients are recorded "
            f"would change that tensor behind the graph's back; write t = t + x (a new "
            f"tensor) instead, or do the change under npgan.no_grad()")


def _record(t, compute):
    """Make ``t`` the output of ``compute(t)`` (an out-of-place op, recorded), in place:
    ``t``'s former value and graph move to a new tensor, the op's input (module docstring)."""
    new = compute(t)  # may still refuse (float32 with float64): nothing has changed yet
    fn = new.creator
    old = _wrap(t.data.copy())
    old.requires_grad, old.creator, old._version = t.requires_grad, t.creator, t._version
    if t.creator is not None:
        t.creator.output = weakref.ref(old)
    _rewire(fn, t, old)
    t.data[...] = new.data
    t.creator, t.requires_grad = fn, True
    fn.output = weakref.ref(t)
    _bump(t)
    fn.clock = _clock[0]  # fn saw t's new value: not a change made after it saved t
    return t


def _rewire(fn, t, old):
    """Point every op of the new value's graph (``fn`` and what computed the operand, as in
    ``t[:, 0] = t[:, 1] * 2`` or ``t += t.exp()``) that read ``t`` at ``old``, the tensor of the
    value it read. Ops that read ``t`` outside that graph are not found (no forward links):
    backward through them raises instead (module docstring)."""
    seen, stack = set(), [fn]
    while stack:
        f = stack.pop()
        if f in seen or f.inputs is None:
            continue
        seen.add(f)
        if any(x is t for x in f.inputs):
            f.inputs = tuple([old if x is t else x for x in f.inputs])
        stack.extend(x.creator for x in f.inputs if x.creator is not None and x is not old)


def _arithmetic(t, other, symbol):
    """``t <symbol> other`` in place (``+= -= *= /=``); returns ``t``."""
    ufunc, op = _OPS[symbol]
    recorded = _recording(t, other)
    if recorded:
        _check_leaf(t, symbol, f"write `t = t {symbol[:-1]} x` to make a new tensor")
    o = _operand(t, other, symbol)
    _check_writable(t, symbol, recorded)
    if recorded:
        if isinstance(other, Tensor):
            other = _cast(other, t.dtype)  # the result keeps t's dtype (checked above)
        elif backend.is_array(other):
            other = Tensor(other.astype(t.dtype))
        return _record(t, lambda x: op(x, other))
    xp = backend.get_array_module(t.data)
    getattr(xp, ufunc)(t.data, o, out=t.data, casting="unsafe")  # kinds checked above
    _bump(t)
    return t


def iadd(t, other):
    """``t += other`` in place (module docstring: refused, plain or recorded)."""
    return _arithmetic(t, other, "+=")


def isub(t, other):
    """``t -= other`` in place."""
    return _arithmetic(t, other, "-=")


def imul(t, other):
    """``t *= other`` in place."""
    return _arithmetic(t, other, "*=")


def itruediv(t, other):
    """``t /= other`` in place (true division: ``t`` must be a float tensor)."""
    return _arithmetic(t, other, "/=")


# --- index assignment ---------------------------------------------------------------------

class SetItem(Function):
    """y = x with y[index] = v (v broadcast to the shape of x[index]);

        dx = gy with gy[index] = 0 (this op again, with v = 0),   dv = gy[index] summed to v's shape.

    With repeated advanced indices the last write wins, and each repeat gets gy (PyTorch's
    index_put_ leaves that order undefined).
    """

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        y = x.copy()
        y[self.index] = v
        return y

    def backward(self, gy, x, v, y):
        gx = gv = None
        if self.needs[0]:
            zero = backend.get_array_module(raw(x)).zeros((), dtype=gy.dtype)
            gx = apply(SetItem(self.index), gy, zero)
        if self.needs[1]:
            gv = reduce_to(gy[self.index], v)
        return gx, gv


def _raw_index(index):
    """An index with its Tensors (masks, integer arrays) replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def setitem(t, index, value):
    """``t[index] = value`` in place: ``t[0] = 5.0``, ``t[mask] = 0``, ``t[1:3] = other``
    (numpy's indexing; the value broadcast to ``t[index]``'s shape and cast to t's dtype).
    Refused, plain or recorded as the arithmetic updates (module docstring)."""
    what = "t[index] = value"
    index = _raw_index(index)
    recorded = _recording(t, value)
    if recorded:
        _check_leaf(t, what, "make a new tensor (`t = npgan.where(mask, value, t)`, or "
                             "`t = t.clone()` first)")
        if t.data.dtype.kind != "f":
            raise TypeError(f"{what}: a value that requires grad cannot be stored in a tensor "
                            f"of dtype {t.dtype}; use value.detach(), or a float tensor")
    v = value.data if isinstance(value, Tensor) else value
    if backend.is_array(v) and backend.mixing_possible():
        backend.check_same_backend(what, [t.data, v])
    _check_writable(t, what, recorded)
    if recorded:
        value = _cast(as_tensor(value, t), t.dtype)
        try:
            return _record(t, lambda x: SetItem(index)(x, value))
        except ValueError as e:  # numpy's broadcast error, before anything was changed
            raise ValueError(f"{what}: {e}") from None
    try:
        t.data[index] = v
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None
    _bump(t)
    return t
