"""The backward walk: ``loss.backward()`` and :func:`grad`, reverse mode on one screen.

:func:`run_backward` visits the functions of the graph once, from the outputs to
the leaves, in reverse topological order (:func:`_topological_order`: an explicit
stack, no recursion, so a chain of 10,000 ops is fine). At each function it hands
the output's gradient ``gy`` to the function's ``backward`` and adds what comes
back into the running gradients of its inputs. Everything else is a named helper
around that loop:

* pruning (``inputs=``): :func:`_tensors_leading_to` finds the tensors on a path
  to the wanted inputs, :func:`_needs_within` narrows each function to them;
* the tracing hook (:mod:`npgan.tools.tracing`): ``_trace_hook[0]``, called with
  every rule's gradients when set;
* accumulation: :func:`_accumulate` adds the leaves' totals into ``.grad``
  (``.grad`` accumulates until ``zero_grad()``, as in PyTorch).

The loop itself frees each function's saved inputs after its rule, unless
``retain_graph``.

The same rules serve two modes: with ``create_graph=False`` they get raw arrays
(no graph recorded, no Tensor made); with ``create_graph=True`` they get Tensors,
so the backward pass is itself recorded and can be differentiated again.
"""
from npgan import backend, speed
from npgan.autograd import Tensor, _clock, _wrap, enable_grad, no_grad

_trace_hook = [None]  # set by a tracer (npgan.trace); None costs one check per backward rule


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


def _needs_within(fn, reach):
    """``fn.needs`` narrowed to the inputs on a path to the wanted tensors (``reach``);
    ``fn.needs`` itself when nothing is narrowed."""
    needs = tuple([n and x in reach for n, x in zip(fn.needs, fn.inputs)])
    return fn.needs if needs == fn.needs else needs


def _initial_grad(root, grad, create_graph):
    """d(loss)/d(root) to start from: ones for a one-element root, else ``grad``. Under
    ``create_graph`` a Tensor ``grad`` is used as it is, graph and all, so the gradients
    can be differentiated with respect to it (the double-backward trick: d(J^T v)/dv = J)."""
    if create_graph and isinstance(grad, Tensor):
        if grad.shape != root.shape:
            raise ValueError(
                f"backward: grad has shape {grad.shape} but the output has shape {root.shape}")
        return grad
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
        g = g.copy()  # the caller's array must not become a .grad that += would change
    return Tensor(g) if create_graph else g


def _wrong_shape(fn, x, gx):
    """The error for a rule that returned a gradient of the wrong shape (a bug in that op)."""
    return RuntimeError(
        f"{fn.name}.backward returned a gradient of shape {gx.shape} "
        f"for an input of shape {x.shape} (a bug in that op)")


def _dead_ref():
    """Stands in for the weak reference of a freed function's output."""
    return None


def _check_unchanged(fn, out):
    """Raise PyTorch's error when an input or the output of ``fn`` was changed in place after
    fn saved it (its last change is dated after ``fn.clock``: :func:`npgan.autograd._bump`)."""
    saved = [(f"input {i}", x) for i, x in enumerate(fn.inputs)] + [("output", out)]
    for what, x in saved:
        changes = getattr(x, "_changes", ())
        if changes and changes[-1] > fn.clock:
            after = sum(c > fn.clock for c in changes)
            expected = f"{x._version - after}" + (" or earlier" if after == 4 else "")
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: the {what} of {fn.name}, a {x.dtype} tensor of shape "
                f"{x.shape}, is at version {x._version}; expected version {expected} instead. "
                f"It was changed in place (+=, t[i] = ..., an optimizer step) after the forward "
                f"pass used it: make the change after backward, write it out of place "
                f"(a = a + b), or run the forward pass again after it")


def _check_roots(roots):
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; did you "
                "compute it under no_grad(), from detached tensors, or from tensors "
                "created without requires_grad=True?")


def run_backward(roots, root_grads, inputs, retain_graph, create_graph, accumulate):
    """The engine behind ``Tensor.backward`` and :func:`grad`.

    Returns a dict ``{tensor: gradient}`` holding, among others, the gradients
    of ``inputs`` (when given). With ``accumulate=True`` leaf gradients are also
    added into ``.grad``.
    """
    _check_roots(roots)
    order = _topological_order(roots)
    reach = None if inputs is None else _tensors_leading_to(order, inputs)  # pruning
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
            gy = None if out is None else grads.pop(out, None)
            if gy is None:
                continue  # nothing reached this function
            if reach is not None and out in wanted:
                kept[out] = gy
            needs = fn.needs if reach is None else _needs_within(fn, reach)
            if True not in needs:
                continue
            if fn.clock != _clock[0]:  # something changed in place since fn saved its inputs
                _check_unchanged(fn, out)
            inputs_ = fn.inputs
            if needs is not fn.needs:  # pruned: the rule skips the gradients nobody wants
                args = (*inputs_, out) if create_graph else [x.data for x in inputs_] + [out.data]
                gxs = speed.backward_with_needs(fn, needs, gy, args)
            elif create_graph:
                gxs = fn.backward(gy, *inputs_, out)
            else:
                gxs = fn.backward(gy, *[x.data for x in inputs_], out.data)
            if len(inputs_) == 1:
                gxs = (gxs,)
            if hook is not None:
                hook(fn, gy, gxs)
            for x, gx, need in zip(inputs_, gxs, needs):
                if need and gx is not None:
                    if gx.shape != x.data.shape:
                        raise _wrong_shape(fn, x, gx)
                    grads[x] = speed.add_grads(grads[x], gx) if x in grads else gx  # sum
            if not retain_graph:  # free what fn saved (its inputs, hence their activations)
                fn.inputs, fn.needs, fn.output = None, None, _dead_ref
    grads.update(kept)
    if accumulate:
        _accumulate(grads, wanted, create_graph)
    return grads


def _accumulate(grads, wanted, create_graph):
    """Add each leaf's total gradient into its ``.grad`` (and each wanted tensor's).

    A rule may hand one array to several inputs (Add gives both ``gy``, Reshape a view of
    it): a ``.grad`` takes a copy of a view, or of an array another ``.grad`` already holds,
    so that an in-place change of one (``p.grad *= 0.5`` under no_grad) leaves the others
    alone. (A layer's weight and bias gradients are arrays of their own: no copy.)"""
    held = set()  # the arrays the new .grad attributes hold
    for x, g in grads.items():
        if not x.requires_grad:
            continue
        if x.creator is not None and (wanted is None or x not in wanted):
            continue  # non-leaf tensors keep no .grad (as in PyTorch)
        if x.grad is None:
            if isinstance(g, Tensor):
                x.grad = g
                continue
            if g.base is not None or id(g) in held:
                g = g.copy()  # a view, or an array another .grad holds
            held.add(id(g))
            x.grad = _wrap(g)  # a new leaf, without Tensor.__init__'s checks of a user's data
        elif create_graph:
            x.grad = x.grad + g
        elif x.grad.requires_grad:  # .grad from a create_graph call: add, keep its graph
            with enable_grad():
                x.grad = x.grad + g
        else:  # out of place: gradient arrays may be shared between inputs
            x.grad = Tensor(x.grad.data + g)


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
