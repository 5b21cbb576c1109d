"""Layers: Module, Parameter, Linear, the activation modules, Dropout and Sequential.

A :class:`Module` finds its parameters and sub-modules by attribute assignment
(``self.fc = Linear(2, 3)``), names them with dotted paths (``fc.weight``,
``0.bias``) and saves or loads them by those names.
"""
import collections
import math

from npgan import activations, backend, ops
from npgan import random as nprandom
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
        object.__setattr__(self, "_modules", collections.OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

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

    def state_dict(self):
        """An ordered dict of dotted parameter name -> host (numpy) copy of its array."""
        return collections.OrderedDict((n, p.numpy()) for n, p in self.named_parameters())

    def load_state_dict(self, state):
        """Copy arrays from ``state`` into the parameters, by name.

        Every parameter must be present with its exact shape and no extra names
        may appear; otherwise a ValueError lists what differs and nothing is
        loaded. Values are cast to each parameter's dtype.
        """
        own = collections.OrderedDict(self.named_parameters())
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


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features).

    Initialised as in PyTorch: W and b uniform in [-1/sqrt(in), 1/sqrt(in)]
    (kaiming_uniform with a = sqrt(5)), drawn in the default dtype.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None):
        super().__init__()
        for what, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"Linear: {what} must be a positive int, got {n!r}")
        self.in_features = in_features
        self.out_features = out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = Parameter(nprandom.uniform(-bound, bound, (out_features, in_features), dtype).data)
        self.bias = Parameter(nprandom.uniform(-bound, bound, (out_features,), dtype).data) if bias else None

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}, out_features={self.out_features}): "
                f"expected an input whose last dimension is {self.in_features}, got shape {x.shape}")
        if x.ndim == 2:  # the usual batch: the op directly (its shapes are checked above)
            args = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
            return ops.Linear()(*args)
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return activations.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return activations.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x if x > 0 else alpha (e^x - 1)."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return activations.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Sigmoid(Module):
    """1 / (1 + e^-x)."""

    def forward(self, x):
        return activations.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return activations.tanh(x)


class Dropout(Module):
    """Zeroes elements with probability p while training, scaling the rest by 1/(1-p)."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return activations.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ..."""

    def __init__(self, *layers):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential: argument {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x
