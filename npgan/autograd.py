"""Tensors and the computation graph they record (the walk back is :mod:`npgan.backward`).

A :class:`Tensor` wraps a backend array (``.data``). Each differentiable op is
a :class:`Function`: calling it runs ``forward`` on raw arrays and, when a
gradient may be needed, links the output tensor to the function
(``out.creator``) and the function to its inputs. That record is the graph.

``loss.backward()`` walks the graph once, from the loss back to the leaves, in
reverse topological order (:func:`npgan.backward.run_backward`). At each function
it calls ``backward(gy, *inputs, y)`` and adds the returned gradients into the
inputs' running totals.

The same backward rule serves two modes:

* ``create_graph=False`` (the usual training step): rules receive raw arrays
  and return raw arrays. No graph is recorded and no Tensor objects are made.
* ``create_graph=True``: rules receive Tensors, so the arithmetic inside them
  is itself recorded and the gradients can be differentiated again (the
  gradient penalty of WGAN-GP). Rules are written with operators and the
  helpers of :mod:`npgan.functions.helpers`, which accept both arrays and Tensors.

Gradients accumulate: ``.grad`` of a leaf is *added to* on every backward call
until you clear it with ``zero_grad()`` (as in PyTorch). The graph is freed
after backward unless ``retain_graph=True``.
"""
import contextlib
import weakref

from npgan import backend

_grad_enabled = [True]
_clock = [0]  # in-place changes so far, of every tensor (dates each change: see _bump)


@contextlib.contextmanager
def no_grad():
    """Context manager: ops inside record no graph (for evaluation and updates)."""
    old = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = old


@contextlib.contextmanager
def enable_grad():
    """Context manager: turn graph recording back on inside ``no_grad``."""
    old = _grad_enabled[0]
    _grad_enabled[0] = True
    try:
        yield
    finally:
        _grad_enabled[0] = old


def is_grad_enabled():
    """True when ops record the graph (outside :func:`no_grad`)."""
    return _grad_enabled[0]


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Attributes:
        data: the backend array (numpy.ndarray or cupy.ndarray).
        grad: a Tensor of d(loss)/d(self) after backward, or None. Accumulates.
        requires_grad: whether gradients flow to this tensor.
        creator: the Function that produced it (None for leaves).
        name: an optional label (modules name their parameters).
        _version: how many in-place changes it has had (``+=``, ``t[i] = v``, an optimizer
            step; :mod:`npgan.functions.inplace`), so backward can refuse a changed input.
    """
    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "_version", "_changes",
                 "__weakref__")
    # Make numpy/cupy defer to our reflected operators: ndarray * Tensor -> Tensor.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False, name=None):
        if not backend.is_array(data):
            # a numpy scalar (what 0-d numpy arithmetic returns) keeps its dtype
            dtype = data.dtype if hasattr(data, "dtype") else backend.result_float_dtype(data)
            data = backend.asarray(data, dtype=dtype)
        if requires_grad and not backend.is_floating(data.dtype):
            raise TypeError(
                f"only floating tensors can require gradients, got dtype {data.dtype}")
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.creator = None
        self.name = name
        self._version = 0  # in-place changes of this tensor (_bump)

    # --- array-like properties -------------------------------------------
    @property
    def shape(self):
        """The shape tuple of ``.data``."""
        return self.data.shape

    @property
    def dtype(self):
        """The dtype of ``.data``."""
        return self.data.dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return self.data.ndim

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self.creator is None

    def __len__(self):
        return len(self.data)

    def __bool__(self):
        """The truth of a one-element tensor; more elements (or none) are ambiguous (PyTorch)."""
        n = self.data.size
        if n != 1:
            what = "more than one value" if n else "no values"
            raise RuntimeError(
                f"Boolean value of Tensor with {what} is ambiguous (shape {self.shape}); "
                f"reduce it first, e.g. bool(t.data.any()) or bool(t.data.all())")
        return bool(self.data.item())

    def __repr__(self):
        arr = backend.to_numpy(self.data)
        body = str(arr).replace("\n", "\n       ")
        extra = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if backend.backend_name(self.data) == "numpy" else ", backend='cupy'"
        return f"tensor({body}, dtype={self.dtype}{dev}{extra})"

    # --- conversion ------------------------------------------------------
    def numpy(self):
        """A host copy of the data as a numpy array (works on every backend)."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item(): only one-element tensors convert to a Python number, got shape {self.shape}")
        return self.data.item()

    def detach(self):
        """A new leaf tensor sharing ``.data``, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = flag
        return self

    # --- autodiff ----------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            grad: d(loss)/d(self), same shape as self; optional for a one-element tensor.
            retain_graph: keep the graph so backward can run through it again.
            create_graph: record the backward pass so gradients can be differentiated.
            inputs: optional list of tensors; accumulate only into these (others untouched,
                and gradients nobody needs are not computed).
        """
        walk.run_backward([self], [grad], inputs, retain_graph or create_graph,
                     create_graph, accumulate=True)

    # --- operators (defined in npgan.functions) ------------------------------------
    def __add__(self, other):
        return arithmetic.add(self, other)

    def __radd__(self, other):
        return arithmetic.add(other, self)

    def __sub__(self, other):
        return arithmetic.sub(self, other)

    def __rsub__(self, other):
        return arithmetic.sub(other, self)

    def __mul__(self, other):
        return arithmetic.mul(self, other)

    def __rmul__(self, other):
        return arithmetic.mul(other, self)

    def __truediv__(self, other):
        return arithmetic.div(self, other)

    def __rtruediv__(self, other):
        return arithmetic.div(other, self)

    def __matmul__(self, other):
        return matrix.matmul(self, other)

    def __rmatmul__(self, other):
        return matrix.matmul(other, self)

    def __pow__(self, other):
        return arithmetic.pow(self, other)

    def __rpow__(self, other):
        return arithmetic.pow(other, self)

    def __neg__(self):
        return arithmetic.neg(self)

    def __getitem__(self, index):
        return shapes.getitem(self, index)

    # --- in-place updates (npgan.functions.inplace: when each is refused or recorded) ----
    def __iadd__(self, other):
        return inplace.iadd(self, other)

    def __isub__(self, other):
        return inplace.isub(self, other)

    def __imul__(self, other):
        return inplace.imul(self, other)

    def __itruediv__(self, other):
        return inplace.itruediv(self, other)

    def __setitem__(self, index, value):
        inplace.setitem(self, index, value)

    def sum(self, axis=None, keepdims=None, *, dim=None, keepdim=None):
        """Sum over ``axis`` (all axes when None); ``dim=``/``keepdim=`` as in PyTorch."""
        return shapes.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=None, *, dim=None, keepdim=None):
        """Mean over ``axis`` (all axes when None); ``dim=``/``keepdim=`` as in PyTorch."""
        return shapes.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def reshape(self, *shape):
        """The same data viewed with a new shape (``-1`` allowed once)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return shapes.reshape(self, shape)

    def transpose(self, *dims):
        """``t.transpose(dim0, dim1)``: dimensions dim0 and dim1 swapped (PyTorch's meaning;
        negative dims count from the end). Not numpy's ``transpose(axes)``: that is
        :meth:`permute`, and ``.T`` reverses every axis."""
        if len(dims) != 2:
            raise TypeError(
                f"transpose(dim0, dim1) swaps two dimensions (PyTorch's meaning), got "
                f"{len(dims)} arguments {dims}; for a whole permutation use permute(*dims), "
                f"to reverse every axis use .T")
        return shapes.swapdims(self, dims[0], dims[1])

    def permute(self, *dims):
        """``t.permute(*dims)``: dimensions reordered, y.shape[i] = t.shape[dims[i]] (PyTorch;
        numpy's ``transpose(axes)``). Takes ``permute(2, 0, 1)`` or ``permute((2, 0, 1))``."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return shapes.permute(self, dims)

    @property
    def T(self):
        """Every axis reversed (numpy's ``.T``; the matrix transpose of a 2-D tensor).

        PyTorch deprecates ``.T`` on tensors of other than 2 dimensions (it suggests
        ``permute(*reversed(range(t.ndim)))`` or ``.mT``); npgan keeps it, reversing all axes."""
        return shapes.transpose(self, None)

    def astype(self, dtype):
        """A copy cast to ``dtype`` (differentiable between float dtypes)."""
        return shapes.astype(self, dtype)

    # --- PyTorch-style methods: each a thin call into npgan.functions (issue 18) -------------
    # Sizes. ``size`` is PyTorch's method (numpy's element count is numel()).
    def size(self, dim=None):
        """PyTorch's ``size()``: the shape tuple, or ``size(d)`` the length of dimension d."""
        if dim is None:
            return self.shape
        return self.shape[shapes._dim("size", dim, self.ndim)]

    def numel(self):
        """The number of elements."""
        return self.data.size

    def dim(self):
        """The number of dimensions (``ndim``)."""
        return self.data.ndim

    # Shapes.
    def view(self, *shape):
        """The same data with a new shape, ``-1`` allowed once (PyTorch's view; see reshape)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return shapes.view(self, shape)

    def unsqueeze(self, dim):
        """A new dimension of size 1 at ``dim``."""
        return shapes.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        """Dimensions of size 1 removed (all, or those named by ``dim``)."""
        return shapes.squeeze(self, dim)

    def flatten(self, start_dim=0, end_dim=-1):
        """Dimensions ``start_dim`` to ``end_dim`` merged into one."""
        return shapes.flatten(self, start_dim, end_dim)

    def t(self):
        """The transpose of a matrix (a 0-d or 1-d tensor as it is)."""
        return shapes.t(self)

    def clone(self):
        """A copy with its own data that gradients flow through."""
        return shapes.clone(self)

    # Elementwise.
    def exp(self):
        """e^x."""
        return arithmetic.exp(self)

    def log(self):
        """The natural logarithm."""
        return arithmetic.log(self)

    def sqrt(self):
        """The square root."""
        return arithmetic.sqrt(self)

    def abs(self):
        """|x| (gradient sign(x), 0 at 0)."""
        return arithmetic.abs(self)

    def __abs__(self):
        return arithmetic.abs(self)

    def pow(self, exponent):
        """x ** exponent."""
        return arithmetic.pow(self, exponent)

    def sigmoid(self):
        """1 / (1 + e^-x)."""
        return activations.sigmoid(self)

    def tanh(self):
        """tanh(x)."""
        return activations.tanh(self)

    def relu(self):
        """max(x, 0)."""
        return activations.relu(self)

    def clamp(self, min=None, max=None):
        """Elements limited to [min, max] (either may be None; numbers or Tensors)."""
        return arithmetic.clamp(self, min, max)

    def softmax(self, dim=None, *, axis=None):
        """softmax along ``dim`` (the last by default)."""
        return softmax.softmax(self, axis, dim=dim)

    def log_softmax(self, dim=None, *, axis=None):
        """log softmax along ``dim`` (the last by default)."""
        return softmax.log_softmax(self, axis, dim=dim)

    # Reductions (each takes dim=/keepdim= or axis=/keepdims=).
    def max(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The largest element, or (values, indices) along ``dim``, or maximum(self, other)."""
        return reductions.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The smallest element, or (values, indices) along ``dim``, or minimum(self, other)."""
        return reductions.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amax(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The largest element over ``dim`` (ties share the gradient)."""
        return reductions.amax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def amin(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The smallest element over ``dim`` (ties share the gradient)."""
        return reductions.amin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmax(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The index of the largest element (flattened, or along ``dim``), an int64 tensor."""
        return reductions.argmax(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def argmin(self, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The index of the smallest element (flattened, or along ``dim``), an int64 tensor."""
        return reductions.argmin(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def var(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None,
            keepdims=None):
        """The variance, divided by N - 1 unless ``unbiased=False`` or ``correction=`` says."""
        return reductions.var(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                              keepdims=keepdims)

    def std(self, dim=None, unbiased=None, keepdim=None, *, correction=None, axis=None,
            keepdims=None):
        """The standard deviation, sqrt of :meth:`var` (same arguments)."""
        return reductions.std(self, dim, unbiased, keepdim, correction=correction, axis=axis,
                              keepdims=keepdims)

    def norm(self, p=2, dim=None, keepdim=None, *, axis=None, keepdims=None):
        """The vector p-norm (2 by default) over ``dim`` (all elements when None)."""
        return reductions.norm(self, p, dim, keepdim, axis=axis, keepdims=keepdims)

    # Dtypes and Python values.
    def float(self):
        """This tensor in float32 (itself when it already is)."""
        return self.to(backend.float32)

    def double(self):
        """This tensor in float64 (itself when it already is)."""
        return self.to(backend.float64)

    def to(self, dtype):
        """This tensor in ``dtype`` (a dtype, its name, or a Tensor whose dtype to take);
        itself when it already has it. npgan moves data between backends with
        ``npgan.tensor(t.numpy())``, not ``to``."""
        if isinstance(dtype, Tensor):
            dtype = dtype.dtype
        try:
            dtype = backend.dtype(dtype)
        except TypeError:
            raise TypeError(f"to: expected a dtype (e.g. 'float32', npgan.float64), got "
                            f"{dtype!r}; npgan has no devices to move to (the backend is "
                            f"chosen with npgan.set_backend)") from None
        return self if dtype == self.dtype else shapes.astype(self, dtype)

    def tolist(self):
        """The values as (nested lists of) Python numbers."""
        return self.data.tolist()

    def __float__(self):
        return float(self._one_value("float"))

    def __int__(self):
        return int(self._one_value("int"))

    def _one_value(self, what):
        if self.data.size != 1:
            raise ValueError(f"{what}(): only one element tensors can be converted to Python "
                             f"scalars, got shape {self.shape}")
        return self.data.item()

    # Comparisons: boolean tensors outside the graph. Tensors stay hashable by identity
    # (dict keys and set members in the backward walk), so ``t in some_list`` compares
    # elementwise: look tensors up with ``is`` or in sets instead.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return arithmetic.compare("==", self, other)

    def __ne__(self, other):
        return arithmetic.compare("!=", self, other)

    def __lt__(self, other):
        return arithmetic.compare("<", self, other)

    def __le__(self, other):
        return arithmetic.compare("<=", self, other)

    def __gt__(self, other):
        return arithmetic.compare(">", self, other)

    def __ge__(self, other):
        return arithmetic.compare(">=", self, other)


def _wrap(array):
    """A new leaf Tensor around an array the engine just computed (skips __init__'s checks)."""
    t = object.__new__(Tensor)
    t.data, t.grad, t.requires_grad, t.creator, t.name = array, None, False, None, None
    t._version = 0
    return t


class Function:
    """One differentiable op: ``forward`` on raw arrays, ``backward`` beside it.

    Subclasses implement:

    * ``forward(self, *xs) -> y``: compute the output array from input arrays.
      Store on ``self`` only what backward needs and the inputs do not give.
    * ``backward(self, gy, *xs, y)``: given d(loss)/dy, return d(loss)/dx for
      each input (a tuple for several inputs; None where ``self.needs[i]`` is
      False). ``xs``, ``y`` and ``gy`` are raw arrays, or Tensors when the
      backward pass itself is being recorded (``create_graph=True``), so write
      the rule with operators and :mod:`npgan.functions.helpers`.

    ``self.needs`` is a tuple of booleans: which inputs want a gradient.
    ``self.clock`` is the in-place clock when the inputs were saved: backward checks
    that none of them (nor the output) was changed in place since (the version counter).
    """
    inputs = None
    output = None
    needs = None
    clock = 0
    float_operands_only = False  # True: integer operands are refused (matrix products)

    def __call__(self, *inputs):
        xs = [x.data for x in inputs]
        if len(xs) > 1:
            if backend.mixing_possible():
                backend.check_same_backend(type(self).__name__, xs)
            first = xs[0].dtype
            for x in xs[1:]:
                if x.dtype is not first and x.dtype != first:
                    _check_dtypes(self, xs)
                    break
        y = self.forward(*xs)
        if type(y) is not type(xs[0]):  # numpy gives scalars for 0-d results: wrap them
            y = backend.get_array_module(xs[0]).asarray(y)
        out = _wrap(y)
        if _grad_enabled[0]:
            needs = tuple([x.requires_grad for x in inputs])
            if True in needs:
                out.requires_grad = True
                out.creator = self
                self.inputs = inputs
                self.needs = needs
                self.output = weakref.ref(out)
                self.clock = _clock[0]  # one integer, however many inputs: see _bump
        return out

    def forward(self, *xs):
        """The output array, computed from the input arrays ``xs``."""
        raise NotImplementedError

    def backward(self, gy, *args):
        """d(loss)/d(input) for each input, given ``gy`` = d(loss)/d(output); args = (*xs, y)."""
        raise NotImplementedError

    @property
    def name(self):
        """The op's name, for error messages and graph pictures."""
        return type(self).__name__


def _bump(*tensors):
    """Count one in-place change of each tensor (``t._version += 1``) and date it on the clock
    of all changes (``_clock``). An op saves the clock when it records its inputs, so backward
    finds a change made after that in a few comparisons (``npgan.backward._check_unchanged``).
    ``t._changes`` keeps the dates of its last 4 changes, enough to name the version the op
    saw in the error. (An optimizer's step bumps all its parameters in one call.)"""
    now = _clock[0] = _clock[0] + 1
    for t in tensors:
        t._version += 1
        t._changes = (*getattr(t, "_changes", ())[-3:], now)


def _check_dtypes(fn, xs):
    """Refuse operands of two floating dtypes (float32 with float64), as PyTorch does.

    Silent promotion would turn a float32 model into float64 one op at a time. Integer
    operands may meet floats in elementwise ops (masks, counts), but not in a matrix
    product (``fn.float_operands_only``): integer data in a float layer must be cast first.
    """
    floats = sorted({str(x.dtype) for x in xs if backend.is_floating(x.dtype)})
    if len(floats) > 1:
        raise TypeError(
            f"{fn.name}: cannot mix {' and '.join(floats)} operands; cast one of them "
            f"(x.astype('{floats[0]}') or npgan.tensor(x, dtype=...)), or create the model "
            f"and its data in one dtype (npgan.set_default_dtype)")
    if fn.float_operands_only and floats:
        others = sorted({str(x.dtype) for x in xs if not backend.is_floating(x.dtype)})
        if others:
            raise TypeError(
                f"{fn.name}: got {others[0]} data with {floats[0]} weights; cast the data to "
                f"{floats[0]} first (x.astype('{floats[0]}'))")


from npgan import backward as walk  # noqa: E402  (the walk needs Tensor and Function above)
from npgan.functions import arithmetic, matrix, shapes  # noqa: E402  (the operators' ops)
from npgan.functions import inplace  # noqa: E402  (+= -= *= /= and t[index] = value)
from npgan.functions import activations, reductions, softmax  # noqa: E402  (the methods' ops)
