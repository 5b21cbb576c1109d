"""Layers: Linear, the activation layers, Dropout and Sequential.

Each layer holds its parameters and calls one function of :mod:`npgan.functions`.
"""
import math

from npgan import random as nprandom
from npgan.functions import activations
from npgan.functions import matrix
from npgan.nn.module import Module, Parameter


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
        if x.ndim == 2:  # the usual batch: the op itself (shapes checked above, not again)
            args = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
            return matrix.Linear()(*args)
        return matrix.linear(x, self.weight, self.bias)

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


def mlp(sizes, activation, out_activation=None, dropout=0.0):
    """The multilayer perceptron of every example: Linear layers of the given ``sizes``, with
    ``activation()`` after each hidden one (then Dropout when ``dropout``) and an optional
    ``out_activation()`` after the last.

    ``mlp([2, 48, 48, 1], nn.ELU)`` is Linear(2, 48) -> ELU -> Linear(48, 48) -> ELU ->
    Linear(48, 1). ``activation`` is a layer class or a function that makes one
    (``lambda: nn.LeakyReLU(0.2)``). The layers are made first to last, so a seeded run
    draws the same initial weights as the same ``nn.Sequential`` written out.
    """
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout:
                layers.append(Dropout(dropout))
    if out_activation is not None:
        layers.append(out_activation())
    return Sequential(*layers)
