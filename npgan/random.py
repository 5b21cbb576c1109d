"""Seeded random tensors on the current backend, drawn in the default dtype.

    npgan.manual_seed(0)
    z = npgan.random.rand(256, 1)        # uniform noise U[0, 1)
    x = npgan.random.normal(4.0, 1.25, (256, 1))
"""
from npgan import backend
from npgan.autograd import Tensor


def _dtype(dtype):
    return backend.get_default_dtype() if dtype is None else backend.dtype(dtype)


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def rand(*shape, dtype=None):
    """Uniform samples in [0, 1)."""
    return Tensor(backend.get_rng().random(_shape(shape), _dtype(dtype)))


def randn(*shape, dtype=None):
    """Standard normal samples N(0, 1)."""
    return Tensor(backend.get_rng().standard_normal(_shape(shape), _dtype(dtype)))


def uniform(low, high, shape, dtype=None):
    """Uniform samples in [low, high)."""
    u = backend.get_rng().random(tuple(shape), _dtype(dtype))
    return Tensor(u * (high - low) + low)


def normal(mean, std, shape, dtype=None):
    """Normal samples N(mean, std^2)."""
    z = backend.get_rng().standard_normal(tuple(shape), _dtype(dtype))
    return Tensor(z * std + mean)


def permutation(n):
    """A random permutation of range(n) as a backend integer array."""
    return backend.get_rng().permutation(n)
