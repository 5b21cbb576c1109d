"""Layers: Linear, the activation layers, Dropout, Flatten, Unflatten and Sequential.

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


def _dim_in_range(layer, what, d, x):
    """Dimension ``d`` (negative counts from the end) of ``x`` as an index in [0, ndim)."""
    if not -x.ndim <= d < x.ndim:
        raise ValueError(
            f"{layer}: {what} {d} is out of range for an input of shape {x.shape} "
            f"({x.ndim} dimension{'s' if x.ndim != 1 else ''}: expected one in "
            f"[{-x.ndim}, {x.ndim - 1}])")
    return d % x.ndim


class Flatten(Module):
    """Dims ``start_dim`` to ``end_dim`` (inclusive; negative counts from the end) merged into one:

        (N, C, H, W) -> (N, C * H * W)  with the defaults start_dim=1, end_dim=-1.

    A reshape (its gradient is the reshape back), as ``torch.nn.Flatten``.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        for what, d in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(d, int) or isinstance(d, bool):
                raise TypeError(f"Flatten: {what} must be an int, got {d!r}")
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        layer = f"Flatten({self.extra_repr()})"
        if x.ndim == 0:  # as PyTorch: a scalar is taken as one element, shape (1,)
            x = x.reshape((1,))
        start = _dim_in_range(layer, "start_dim", self.start_dim, x)
        end = _dim_in_range(layer, "end_dim", self.end_dim, x)
        if start > end:
            raise ValueError(
                f"{layer}: start_dim comes after end_dim for an input of shape {x.shape} "
                f"(dims {start} and {end}); flatten needs start_dim <= end_dim")
        merged = 1
        for n in x.shape[start:end + 1]:
            merged *= n
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Dim ``dim`` split into the dims ``unflattened_size`` (their product must be its size; one
    of them may be -1, inferred):

        Unflatten(1, (128, 7, 7)): (N, 6272) -> (N, 128, 7, 7).

    A reshape (its gradient is the reshape back), as ``torch.nn.Unflatten``.
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r}")
        try:
            size = tuple(unflattened_size)
        except TypeError:
            size = None
        if not size or not all(isinstance(n, int) and not isinstance(n, bool) and
                               (n >= 0 or n == -1) for n in size) or size.count(-1) > 1:
            raise ValueError(
                f"Unflatten: unflattened_size must be a non-empty tuple of sizes >= 0 (at most "
                f"one -1, inferred), got {unflattened_size!r}")
        self.dim, self.unflattened_size = dim, size

    def forward(self, x):
        layer = f"Unflatten({self.extra_repr()})"
        d = _dim_in_range(layer, "dim", self.dim, x)
        n = x.shape[d]
        known = 1
        for s in self.unflattened_size:
            known *= s if s != -1 else 1
        size = self.unflattened_size
        if -1 in size:
            fits = known > 0 and n % known == 0
            if fits:
                size = tuple(n // known if s == -1 else s for s in size)
        else:
            fits = known == n
        if not fits:
            raise ValueError(
                f"{layer}: dimension {d} of the input (shape {x.shape}) has size {n}, which "
                f"cannot be split into {self.unflattened_size} (product {known}"
                f"{' times the inferred -1' if -1 in self.unflattened_size else ''})")
        return x.reshape(x.shape[:d] + size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


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
