"""The backward pass, traced: one record per backward rule, in the order the rules ran.

    with npgan.trace(modules={"G": G, "D": D}) as t:
        loss.backward()
    print(t)                  # a table: op, shapes, |dL/dy| in, |dL/dx| out
    t.records                 # the same as data (BackwardRecord objects; t.as_dicts() for dicts)
    t.param_grad_norms()      # {"G.0.weight": 0.12, ...}: one point per parameter for a plot

For an op y = f(x_1, ..., x_k) the walk hands the rule dL/dy (the gradient
*into* the op, from the loss side) and the rule returns dL/dx_i = (dy/dx_i)^T
dL/dy (the gradients *out* of it, towards the leaves). A record keeps the op,
the shapes, ||dL/dy|| and each ||dL/dx_i||; with ``keep_arrays=True`` also
host copies of the arrays and the Function itself.

How it works: while the context is active, ``npgan.backward._trace_hook[0]``
is this tracer, and the backward walk calls it as ``hook(fn, gy, gxs)`` right
after each ``gxs = fn.backward(gy, ...)``. On exit the previous hook is put
back, so traces nest (an inner trace passes every rule on to the outer one).
Outside a trace the hook is None, and the walk pays one ``if`` per rule.
"""
import dataclasses

from npgan import backend, backward
from npgan.functions.helpers import raw
from npgan.tools.viz import name_of, tensor_names


def formula(fn):
    """The docstring of ``fn``'s class on one line: the forward and its derivative."""
    doc = type(fn).__doc__ or type(fn).__name__
    return " ".join(line.strip() for line in doc.strip().splitlines() if line.strip())


def _norm(array):
    """The Euclidean (Frobenius) norm of an array, as a Python float."""
    return float((array * array).sum()) ** 0.5


@dataclasses.dataclass
class BackwardRecord:
    """One backward rule as it ran.

    Attributes:
        step: position in execution order (0 is the rule nearest the loss).
        op: the Function's name, e.g. "Linear" or "Sigmoid".
        formula: the Function's docstring on one line (its forward and derivative).
        output_shape: the shape of the op's output y (and of dL/dy).
        input_names: a name per input ("D.0.weight"), None for unnamed tensors.
        input_shapes: the shape of each input x_i.
        grad_out_norm: ||dL/dy||, the gradient that arrived at the op.
        grad_in_norms: ||dL/dx_i|| per input; None where no gradient was needed.
        grad_out, grad_ins: host copies of dL/dy and each dL/dx_i (keep_arrays=True; else None).
        function: the Function object (keep_arrays=True; else None).
    """
    step: int
    op: str
    formula: str
    output_shape: tuple
    input_names: list
    input_shapes: list
    grad_out_norm: float
    grad_in_norms: list
    grad_out: object = None
    grad_ins: list = None
    function: object = None

    def as_dict(self):
        """The record as a plain dict (without the Function object)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "function"}


class Trace:
    """Records every backward rule run inside ``with``; see the module docstring.

    Args:
        modules: ``{"G": G, "D": D}`` (or one Module) to name parameters as
            "G.0.weight", the same names :mod:`npgan.viz` draws.
        params: ``{"W": W}`` to name tensors directly.
        keep_arrays: also keep host copies of every gradient and the Function objects.
    """

    def __init__(self, modules=None, params=None, keep_arrays=False):
        self.names = tensor_names(modules, params)
        self.keep_arrays = keep_arrays
        self.records = []
        self._param_grads = {}  # id(leaf) -> [name, summed gradient array]
        self._previous = None

    def __enter__(self):
        self._previous = backward._trace_hook[0]
        backward._trace_hook[0] = self._record
        return self

    def __exit__(self, *exc):
        backward._trace_hook[0] = self._previous
        return False

    def _record(self, fn, gy, gxs):
        """The hook: called by the backward walk after ``gxs = fn.backward(gy, ...)``."""
        if self._previous is not None:  # an outer trace sees every rule too
            self._previous(fn, gy, gxs)
        gy = raw(gy)  # Tensors under create_graph=True, arrays otherwise
        gxs = [raw(g) if need else None for g, need in zip(gxs, fn.needs)]
        names = [name_of(x, self.names) for x in fn.inputs]
        self.records.append(BackwardRecord(
            step=len(self.records), op=fn.name, formula=formula(fn),
            output_shape=tuple(gy.shape), input_names=names,
            input_shapes=[tuple(x.shape) for x in fn.inputs],
            grad_out_norm=_norm(gy),
            grad_in_norms=[None if g is None else _norm(g) for g in gxs],
            grad_out=backend.to_numpy(gy) if self.keep_arrays else None,
            grad_ins=[None if g is None else backend.to_numpy(g) for g in gxs]
            if self.keep_arrays else None,
            function=fn if self.keep_arrays else None))
        for x, name, g in zip(fn.inputs, names, gxs):
            if g is None or x.creator is not None or name is None:
                continue
            if id(x) in self._param_grads:
                entry = self._param_grads[id(x)]
                entry[1] = entry[1] + g
            else:  # a copy: the walk may hand the same array to other tensors
                self._param_grads[id(x)] = [name, g.copy()]

    def __len__(self):
        return len(self.records)

    def as_dicts(self):
        """The records as a list of plain dicts (for a notebook, pandas, or json)."""
        return [r.as_dict() for r in self.records]

    def param_grad_norms(self):
        """``{name: ||dL/dp||}`` for every named leaf (parameter) that received a gradient.

        Contributions from several uses of a parameter (D applied to real and
        to fake samples) are summed first, as ``.grad`` sums them, so the norm
        is that of the gradient backward left in ``p.grad`` (from zero) during
        this trace. Collect one dict per training step to plot per-layer
        gradient norms over training and watch gradients vanish.
        """
        order = {name: i for i, name in enumerate(self.names.values())}  # the modules' order
        entries = sorted(self._param_grads.values(), key=lambda e: order.get(e[0], len(order)))
        return {name: _norm(g) for name, g in entries}

    def layer_grad_norms(self):
        """``{layer: norm}``: the parameters' gradients grouped by layer ("G.0" for G.0.weight, G.0.bias)."""
        squares = {}
        for name, norm in self.param_grad_norms().items():
            layer = name.rsplit(".", 1)[0] if "." in name else name
            squares[layer] = squares.get(layer, 0.0) + norm * norm
        return {layer: s ** 0.5 for layer, s in squares.items()}

    def table(self):
        """The records as a text table in execution order (what ``print(trace)`` shows)."""
        rows = [f"npgan.trace: {len(self.records)} backward rules, in the order they ran "
                f"(|dL/dy| arrives at the op from the loss side, |dL/dx| leaves it for each input)",
                f"{'step':>4}  {'op':<12} {'output y':<12} {'|dL/dy|':>10}   inputs x: name shape |dL/dx|"]
        for r in self.records:
            inputs = []
            for name, shape, norm in zip(r.input_names, r.input_shapes, r.grad_in_norms):
                text = f"{name} {shape}" if name else str(shape)
                inputs.append(f"{text} {'-' if norm is None else f'{norm:.3e}'}")
            rows.append(f"{r.step:>4}  {r.op:<12} {str(r.output_shape):<12} "
                        f"{r.grad_out_norm:>10.3e}   {', '.join(inputs)}")
        return "\n".join(rows)

    def __str__(self):
        return self.table()

    def __repr__(self):
        return f"<npgan.tracing.Trace: {len(self.records)} backward rules>"


def trace(modules=None, params=None, keep_arrays=False):
    """A :class:`Trace` to use as ``with npgan.trace(...) as t:``; see the module docstring."""
    return Trace(modules=modules, params=params, keep_arrays=keep_arrays)
