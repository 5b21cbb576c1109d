"""Tensors and the computation graph: reverse-mode autodiff in one file.

A :class:`Tensor` wraps a backend array (``.data``). Each differentiable op is
a :class:`Function`: calling it runs ``forward`` on raw arrays and, when a
gradient may be needed, links the output tensor to the function
(``out.creator``) and the function to its inputs. That record is the graph.

``loss.backward()`` walks the graph once, from the loss back to the leaves, in
reverse topological order (an explicit stack, no recursion, so a chain of
10,000 ops is fine). At each function it calls ``backward(gy, *inputs, y)``
and adds the returned gradients into the inputs' running totals.

The same backward rule serves two modes:

* ``create_graph=False`` (the usual training step): rules receive raw arrays
  and return raw arrays. No graph is recorded and no Tensor objects are made.
* ``create_graph=True``: rules receive Tensors, so the arithmetic inside them
  is itself recorded and the gradients can be differentiated again (the
  gradient penalty of WGAN-GP). Rules are written with operators and the
  helpers of :mod:`npgan.ops`, which accept both arrays and Tensors.

Gradients accumulate: ``.grad`` of a leaf is *added to* on every backward call
until you clear it with ``zero_grad()`` (as in PyTorch). The graph is freed
after backward unless ``retain_graph=True``.
"""
import contextlib
import weakref

from npgan import backend

_grad_enabled = [True]
_trace_hook = [None]  # set by a tracer; None costs one check per backward rule


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
    """
    __slots__ = ("data", "grad", "requires_grad", "creator", "name", "__weakref__")
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
    def size(self):
        """Number of elements."""
        return self.data.size

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self.creator is None

    def __len__(self):
        return len(self.data)

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
        run_backward([self], [grad], inputs, retain_graph or create_graph,
                     create_graph, accumulate=True)

    # --- operators (defined in npgan.ops) ------------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        """Sum over ``axis`` (all axes when None)."""
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over ``axis`` (all axes when None)."""
        return ops.mean(self, axis, keepdims)

    def reshape(self, *shape):
        """The same data viewed with a new shape (``-1`` allowed once)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes):
        """Permute axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self):
        """The transpose (axes reversed)."""
        return ops.transpose(self, None)

    def astype(self, dtype):
        """A copy cast to ``dtype`` (differentiable between float dtypes)."""
        return ops.astype(self, dtype)


def _wrap(array):
    """A new leaf Tensor around an array the engine just computed (skips __init__'s checks)."""
    t = object.__new__(Tensor)
    t.data, t.grad, t.requires_grad, t.creator, t.name = array, None, False, None, None
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
      the rule with operators and :mod:`npgan.ops` helpers.

    ``self.needs`` is a tuple of booleans: which inputs want a gradient.
    """
    inputs = None
    output = None
    needs = None
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


class FreedGraphError(RuntimeError):
    """Backward through a graph whose buffers were freed by an earlier backward."""


def _topological_order(roots):
    """Functions reachable from ``roots``, each after every function that uses its output.

    Iterative depth-first search with an explicit stack (no recursion limit):
    a function is appended once all its inputs' creators are, then the list
    is reversed so the walk starts at the outputs.
    """
    order, visited = [], set()
    for root in roots:
        fn = root.creator
        if fn is None or fn in visited:
            continue
        visited.add(fn)
        stack = [(fn, iter(_inputs_of(fn)))]
        while stack:
            fn, pending = stack[-1]
            for x in pending:
                creator = x.creator
                if creator is not None and creator not in visited:
                    visited.add(creator)
                    stack.append((creator, iter(_inputs_of(creator))))
                    break
            else:
                stack.pop()
                order.append(fn)
    order.reverse()  # outputs first
    return order


def _inputs_of(fn):
    """``fn.inputs``, or a clear error when an earlier backward freed them."""
    if fn.inputs is None:
        raise FreedGraphError(
            f"backward through the graph a second time ({fn.name} has already been "
            f"freed): call backward(retain_graph=True) the first time if you need "
            f"to backpropagate through the same graph again")
    return fn.inputs


def _tensors_leading_to(order, targets):
    """The tensors whose gradient is needed to reach ``targets``: the targets, and the
    output of every function in ``order`` from which some target can be reached."""
    reach = set(targets)
    for fn in reversed(order):  # inputs first, so a function's inputs are decided first
        if any(x in reach for x in fn.inputs):
            out = fn.output()
            if out is not None:
                reach.add(out)
    return reach


def _initial_grad(root, grad, create_graph):
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for a one-element "
                f"output, but this output has shape {root.shape}; pass grad= (an "
                f"array or Tensor of that shape), or reduce it first (e.g. .sum())")
        g = backend.get_array_module(root.data).ones_like(root.data)
    else:
        g = grad.data if isinstance(grad, Tensor) else backend.asarray(grad, dtype=root.dtype)
        if g.shape != root.shape:
            raise ValueError(
                f"backward: grad has shape {g.shape} but the output has shape {root.shape}")
    return Tensor(g) if create_graph else g


def _add_grads(a, b):
    """a + b, two gradients of one tensor. Arrays of one dtype are added into a reused
    buffer (:func:`npgan.backend.empty_like`): a large sum then does not page in fresh memory."""
    if isinstance(a, Tensor) or isinstance(b, Tensor) or a.dtype != b.dtype:
        return a + b
    return backend.get_array_module(a).add(a, b, out=backend.empty_like(a))


def _dead_ref():
    """Stands in for the weak reference of a freed function's output."""
    return None


def run_backward(roots, root_grads, inputs, retain_graph, create_graph, accumulate):
    """The engine behind ``Tensor.backward`` and :func:`grad`.

    Returns a dict ``{tensor: gradient}`` holding, among others, the gradients
    of ``inputs`` (when given). With ``accumulate=True`` leaf gradients are also
    added into ``.grad``.
    """
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; did you "
                "compute it under no_grad(), from detached tensors, or from tensors "
                "created without requires_grad=True?")
    order = _topological_order(roots)
    # With ``inputs`` given, only gradients on a path to them are computed.
    reach = None if inputs is None else _tensors_leading_to(order, inputs)
    wanted = None if inputs is None else set(inputs)

    # Running gradients, keyed by the Tensor itself: holding the key keeps a
    # pending tensor alive after the function that consumed it is freed.
    grads = {}
    for r, g in zip(roots, root_grads):
        g = _initial_grad(r, g, create_graph)
        grads[r] = grads[r] + g if r in grads else g
    kept = {}  # gradients of wanted intermediate tensors, kept for the caller

    hook = _trace_hook[0]
    with (enable_grad() if create_graph else no_grad()):
        for fn in order:
            out = fn.output()
            if out is None:
                continue
            gy = grads.pop(out, None)
            if gy is None:
                continue
            inputs_ = fn.inputs
            needs = recorded = fn.needs  # which inputs wanted a gradient when recorded
            if reach is not None:  # only those on a path to the wanted inputs
                if out in wanted:
                    kept[out] = gy
                needs = tuple([n and x in reach for n, x in zip(recorded, inputs_)])
                if True not in needs:
                    continue
                fn.needs = needs
            if create_graph:
                gxs = fn.backward(gy, *inputs_, out)
            else:
                gxs = fn.backward(gy, *[x.data for x in inputs_], out.data)
            fn.needs = recorded
            if len(inputs_) == 1:
                gxs = (gxs,)
            if hook is not None:
                hook(fn, gy, gxs)
            for x, gx, need in zip(inputs_, gxs, needs):
                if not need or gx is None:
                    continue
                if gx.shape != x.data.shape:
                    raise RuntimeError(
                        f"{fn.name}.backward returned a gradient of shape {gx.shape} "
                        f"for an input of shape {x.shape} (a bug in that op)")
                grads[x] = _add_grads(grads[x], gx) if x in grads else gx
            if not retain_graph:
                fn.inputs = None  # frees the saved activations
                fn.needs = None
                fn.output = _dead_ref
    grads.update(kept)

    if accumulate:
        for x, g in grads.items():
            if not x.requires_grad:
                continue
            if x.creator is not None and (wanted is None or x not in wanted):
                continue  # non-leaf tensors keep no .grad (as in PyTorch)
            if x.grad is None:
                x.grad = g if isinstance(g, Tensor) else Tensor(g)
            elif create_graph:
                x.grad = x.grad + g
            elif x.grad.requires_grad:  # .grad from a create_graph call: add, keep its graph
                with enable_grad():
                    x.grad = x.grad + g
            else:  # out of place: gradient arrays may be shared between inputs
                x.grad = Tensor(x.grad.data + g)
    return grads


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
         allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, as a tuple of Tensors.

    ``.grad`` attributes are not touched. With ``create_graph=True`` the
    returned gradients are part of a graph and can be differentiated again::

        g, = npgan.grad(D(x_hat).sum(), [x_hat], create_graph=True)
        penalty = ((g.norm(axis=1) - 1) ** 2).mean()   # WGAN-GP

    Args:
        outputs: a Tensor or a list of Tensors.
        inputs: a Tensor or a list of Tensors (leaves or intermediate results).
        grad_outputs: d(loss)/d(output) for each output (None: ones, scalars only).
        create_graph: record the backward pass (for higher-order derivatives).
        retain_graph: keep the graph for another backward (default: create_graph).
        allow_unused: return None for an input the outputs do not depend on
            instead of raising; without it such an input is an error.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or backend.is_array(grad_outputs):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(
            f"grad: {len(grad_outputs)} grad_outputs given for {len(outputs)} outputs")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(
                f"grad: input {i} does not require grad; create it with "
                f"requires_grad=True (or call .requires_grad_()) before the forward pass")
    if retain_graph is None:
        retain_graph = create_graph
    grads = run_backward(outputs, grad_outputs, inputs, retain_graph, create_graph,
                         accumulate=False)
    result = []
    for i, x in enumerate(inputs):
        g = grads.get(x)
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {x.shape}) was not used to compute the "
                    f"outputs; pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(g))
    return tuple(result)


from npgan import ops  # noqa: E402  (ops needs Tensor and Function defined above)
