"""Module and Parameter: what every layer and model is built from.

A :class:`Module` finds its parameters and sub-modules by attribute assignment
(``self.fc = Linear(2, 3)``), names them with dotted paths (``fc.weight``,
``0.bias``) and saves or loads them by those names. Buffers
(:meth:`Module.register_buffer`) are state that is saved but not trained, such
as a batch norm's running mean: they are in ``state_dict`` and not in
``parameters()``.
"""
import collections

from npgan import backend
from npgan.autograd import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers and an optimizer updates (requires_grad=True)."""
    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of layers and models: subclass it and define ``forward``.

    Gradients of parameters accumulate across backward calls; call
    :meth:`zero_grad` (or the optimizer's) before each new backward.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", collections.OrderedDict())
        object.__setattr__(self, "_buffers", collections.OrderedDict())
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if name in self._buffers:  # a registered buffer stays one: assign an array or Tensor
            if not isinstance(value, Tensor):
                value = Tensor(backend.asarray(value))
            self._buffers[name] = value
        elif isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name, value):
        """Keep ``value`` (an array or a Tensor, no gradient) as state saved with the module.

        A buffer is read as ``self.<name>`` (a Tensor), is in :meth:`state_dict`
        and :meth:`load_state_dict` beside the parameters, and is not in
        :meth:`parameters`, so no optimizer updates it (a running mean, say).
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: name must be a non-empty str without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise ValueError(f"register_buffer: {name!r} is already a parameter or a sub-module")
        if not isinstance(value, Tensor):
            value = Tensor(backend.asarray(value))
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def named_buffers(self, prefix=""):
        """Yield (dotted name, buffer Tensor) pairs, this module's first, then each child's."""
        for name, b in self._buffers.items():
            yield prefix + name, b
        for mname, m in self._modules.items():
            yield from m.named_buffers(prefix + mname + ".")

    def buffers(self):
        """Yield every buffer of this module and its children."""
        for _, b in self.named_buffers():
            yield b

    def forward(self, *args):
        """The module's computation; subclasses define it, and ``module(x)`` calls it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix=""):
        """Yield (dotted name, Parameter) pairs, this module's first, then each child's."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for mname, m in self._modules.items():
            yield from m.named_parameters(prefix + mname + ".")

    def parameters(self):
        """Yield every Parameter of this module and its children."""
        for _, p in self.named_parameters():
            yield p

    def modules(self):
        """Yield this module and all its descendants."""
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def zero_grad(self):
        """Clear ``.grad`` of every parameter (set it to None)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Put this module and its children in training mode (Dropout active); returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Put this module and its children in evaluation mode; returns self."""
        return self.train(False)

    def _named_state(self):
        """Parameters, then buffers, by dotted name: what state_dict saves."""
        yield from self.named_parameters()
        yield from self.named_buffers()

    def state_dict(self):
        """An ordered dict of dotted name -> host (numpy) copy of each parameter and buffer."""
        return collections.OrderedDict((n, p.numpy()) for n, p in self._named_state())

    def load_state_dict(self, state):
        """Copy arrays from ``state`` into the parameters and buffers, by name.

        Every parameter and buffer must be present with its exact shape and no
        extra names may appear; otherwise a ValueError lists what differs and
        nothing is loaded. Values are cast to each one's dtype.
        """
        own = collections.OrderedDict(self._named_state())
        missing = [n for n in own if n not in state]
        unexpected = [n for n in state if n not in own]
        mismatched = [f"{n}: checkpoint {tuple(state[n].shape)} vs model {p.shape}"
                      for n, p in own.items() if n in state and tuple(state[n].shape) != p.shape]
        if missing or unexpected or mismatched:
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            if mismatched:
                parts.append(f"shape mismatches [{'; '.join(mismatched)}]")
            raise ValueError(
                f"load_state_dict for {type(self).__name__}: the state does not match "
                f"this model's architecture: {', '.join(parts)}")
        for n, p in own.items():
            p.data = backend.asarray(state[n], dtype=p.dtype).copy()

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + ")" if len(lines) > 1 else f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        """Extra text for ``repr``: the layer's settings."""
        return ""
