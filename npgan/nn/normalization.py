"""Normalization layers: BatchNorm1d, BatchNorm2d and LayerNorm (as ``torch.nn``).

Each calls :func:`npgan.functions.normalization.batch_norm` or ``layer_norm``.
A batch norm layer keeps its running statistics as buffers (:meth:`Module.register_buffer`):
saved in ``state_dict`` and checkpoints, never in ``parameters()``.
"""
import math
import numbers

from npgan import backend
from npgan.functions import normalization
from npgan.nn.module import Module, Parameter


def _float_dtype(name, dtype):
    d = backend.get_default_dtype() if dtype is None else backend.dtype(dtype)
    if not backend.is_floating(d):
        raise TypeError(f"{name}: dtype must be a floating dtype, got {d}")
    return d


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share; they differ in the input shapes they take."""

    _shapes = {}  # ndim -> the layout named in errors

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or isinstance(num_features, bool) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not eps >= 0:
            raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real) or
                                     isinstance(momentum, bool) or not 0 <= momentum <= 1):
            raise ValueError(
                f"{name}: momentum must be a number in [0, 1], or None for the cumulative "
                f"average, got {momentum!r}")
        d = _float_dtype(name, dtype)
        xp = backend.get_xp()
        c = int(num_features)
        self.num_features, self.eps, self.momentum = c, eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = Parameter(xp.ones(c, dtype=d)) if affine else None
        self.bias = Parameter(xp.zeros(c, dtype=d)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", xp.zeros(c, dtype=d))
            self.register_buffer("running_var", xp.ones(c, dtype=d))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype="int64"))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batch tracked."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def _check_input(self, x):
        name = f"{type(self).__name__}({self.num_features})"
        if x.ndim not in self._shapes:
            raise ValueError(
                f"{name}: expected a {' or '.join(self._shapes.values())} input, "
                f"got shape {x.shape} ({x.ndim}-D)")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: expected {self.num_features} channels (dim 1) in the input, got "
                f"{x.shape[1]} (shape {x.shape})")
        if self.training or not self.track_running_stats:
            if math.prod(x.shape) // x.shape[1] <= 1:
                raise ValueError(
                    f"{name}: Expected more than 1 value per channel when training, got "
                    f"input size {x.shape}")

    def forward(self, x):
        """Batch statistics in training mode (the running ones updated), running ones in eval."""
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # the cumulative average of every batch so far
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or not self.track_running_stats
        return normalization.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            training=use_batch, momentum=factor, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of an (N, C) or (N, C, L) input, per channel c:

        y = (x - mu_c) / sqrt(var_c + eps) * weight_c + bias_c

    In training mode mu_c and var_c are the batch's mean and biased variance (over N, or
    N and L), and the buffers running_mean and running_var (the *unbiased* variance) move
    towards them: running = (1 - momentum) running + momentum batch_stat, or the cumulative
    average of all batches when momentum is None. In eval mode (``.eval()``) the running
    statistics are used. ``track_running_stats=False``: always the batch statistics, no
    buffers. weight starts at 1 and bias at 0 (``affine=False``: neither), as in PyTorch.
    """

    _shapes = {2: "2-D (N, C)", 3: "3-D (N, C, L)"}


class BatchNorm2d(_BatchNorm):
    """Batch normalization of an (N, C, H, W) input, per channel c over N, H and W:

        y = (x - mu_c) / sqrt(var_c + eps) * weight_c + bias_c

    Training and eval modes, the running statistics and the arguments are those of
    :class:`BatchNorm1d`.
    """

    _shapes = {4: "4-D (N, C, H, W)"}


class LayerNorm(Module):
    """Layer normalization over the last dims (``normalized_shape``) of each sample:

        y = (x - mu) / sqrt(var + eps) * weight + bias

    with mu and the biased var over those dims; weight (ones) and bias (zeros) have shape
    ``normalized_shape`` (``elementwise_affine=False``: neither; ``bias=False``: no bias).
    No running statistics: train and eval modes compute the same.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        try:
            shape = tuple(normalized_shape)
        except TypeError:
            shape = None
        if not shape or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool)
                                and n >= 1 for n in shape):
            raise ValueError(
                f"LayerNorm: normalized_shape must be a positive int or a non-empty tuple of "
                f"positive ints, got {normalized_shape!r}")
        if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not eps >= 0:
            raise ValueError(f"LayerNorm: eps must be a number >= 0, got {eps!r}")
        d = _float_dtype("LayerNorm", dtype)
        xp = backend.get_xp()
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        shape = self.normalized_shape
        self.weight = Parameter(xp.ones(shape, dtype=d)) if elementwise_affine else None
        self.bias = Parameter(xp.zeros(shape, dtype=d)) if elementwise_affine and bias else None

    def forward(self, x):
        k = len(self.normalized_shape)
        if x.shape[max(x.ndim - k, 0):] != self.normalized_shape or x.ndim < k:
            raise ValueError(
                f"LayerNorm({self.normalized_shape}): expected an input of shape "
                f"(*, {', '.join(map(str, self.normalized_shape))}), got shape {x.shape}")
        return normalization.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
