"""npgan: a from-scratch GAN engine on NumPy (CPU) or CuPy (NVIDIA GPU).

Reading order for a learner: backend -> autograd -> ops -> activations ->
losses -> nn -> optim -> gradcheck -> gan -> objectives, then examples/gaussian.py
(and datasets with examples/mixtures.py; data, checkpoint and scoring with
examples/mnist.py);
npgan.viz draws a graph and npgan.trace() records a backward pass.
"""
from npgan import backend
from npgan.backend import (BackendUnavailableError, available_backends, float32, float64,
                           get_backend, get_default_dtype, manual_seed, set_backend,
                           set_default_dtype)
from npgan.autograd import FreedGraphError, Tensor, enable_grad, grad, is_grad_enabled, no_grad
from npgan import ops, activations, losses, functional, nn, optim, random, gan, viz  # noqa: E402
from npgan import objectives, datasets, metrics, data, checkpoint, scoring  # noqa: E402
from npgan.gradcheck import GradcheckError, gradcheck, gradgradcheck
from npgan.tracing import trace

__version__ = "0.1.0"


def tensor(data, requires_grad=False, dtype=None):
    """A new leaf Tensor on the current backend, holding a copy of ``data`` (as ``torch.tensor``).

    Python floats (and lists of them) get the default dtype (float32 unless
    changed with :func:`set_default_dtype`); arrays keep their dtype unless
    ``dtype`` is given; host arrays are copied to the GPU on the cupy backend.
    """
    if isinstance(data, Tensor):
        data = data.data
    _check_numeric(data)
    if dtype is None:
        dtype = backend.result_float_dtype(data)
    return Tensor(backend.array(data, dtype=dtype), requires_grad=requires_grad)


def _check_numeric(data):
    """Raise TypeError unless ``data`` is numbers: an array, a number, or nested lists of them.

    None, strings, dicts and other objects would become object or string arrays that fail
    far from here, in the first op; PyTorch refuses them too.
    """
    if backend.is_array(data):
        kind = data.dtype.kind
    elif data is None or isinstance(data, (str, bytes, dict, set)):
        kind = "O"
    else:
        try:
            kind = backend.numpy.asarray(data).dtype.kind
        except (ValueError, TypeError):  # ragged nesting and the like
            kind = "O"
    if kind not in "biuf":
        raise TypeError(f"npgan.tensor: cannot make a tensor from {type(data).__name__} data "
                        f"{data!r:.60}; give numbers, nested lists of numbers, or a numeric array")


__all__ = ["Tensor", "tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled",
           "manual_seed", "set_backend", "get_backend", "available_backends",
           "set_default_dtype", "get_default_dtype", "float32", "float64", "gradcheck",
           "gradgradcheck", "GradcheckError", "FreedGraphError", "BackendUnavailableError",
           "functional", "nn", "optim", "ops", "activations", "losses", "random", "backend", "gan", "viz", "trace",
           "objectives", "datasets", "metrics", "data", "checkpoint", "scoring"]
