"""npgan: a from-scratch GAN engine on NumPy (CPU) or CuPy (NVIDIA GPU).

The folders show the architecture, and a learner reads them in this order:

* the core, at the top: ``backend`` (the array-module shim) -> ``autograd``
  (Tensor, Function) -> ``backward`` (the walk, ``grad``) -> ``gradcheck``; ``creation``
  (zeros, ones, full, ...);
* ``functions/``: each op's forward and backward, by family (arithmetic, shapes,
  reductions, matrix, activations, losses, softmax);
* ``nn/``: Module (parameters and buffers) and the layers; ``optim``: SGD, Adam, RMSprop;
* ``gan/``: the training loop, the objectives, PacGAN's packing, the EMA;
  then examples/gaussian.py;
* ``data/`` (MNIST, the 2-D mixtures), ``evaluation/`` (metrics, scoring),
  ``tools/`` (viz, tracing, checkpoint), with examples/mnist.py and examples/mixtures.py;
* ``autoencoders/``: the autoencoder and the VAE (reparameterisation, the KL to N(0, I),
  the negative ELBO), with examples/autoencoders.py, which sets them against the GAN.

``speed`` holds every speed trick the engine plays, each beside the plain idiom it
replaces; ``functional`` gathers the stateless functions as ``F``; ``runs`` is the
examples' shared plumbing.

The old flat names stay: ``npgan.ops`` (the arithmetic, shape and matrix
functions), ``npgan.activations``, ``npgan.losses``, ``npgan.objectives``,
``npgan.datasets``, ``npgan.metrics``, ``npgan.scoring``, ``npgan.viz``,
``npgan.checkpoint``.
"""
from npgan import backend
from npgan.backend import (BackendUnavailableError, available_backends, float32, float64,
                           get_backend, get_default_dtype, manual_seed, set_backend,
                           set_default_dtype)
from npgan.autograd import Tensor, enable_grad, is_grad_enabled, no_grad
from npgan.creation import empty, full, ones, ones_like, zeros, zeros_like
from npgan.functions.arithmetic import clamp, maximum, minimum, where
from npgan.functions.shapes import cat, stack
from npgan.backward import FreedGraphError, grad
from npgan import functions, speed
from npgan import functions as ops
from npgan.functions import activations, losses
from npgan import functional, nn, optim, random, gan
from npgan.gan import objectives
from npgan import data
from npgan.data import mixtures as datasets
from npgan.evaluation import metrics, scoring
from npgan import autoencoders
from npgan.tools import checkpoint, viz
from npgan.gradcheck import GradcheckError, gradcheck, gradgradcheck
from npgan.tools.tracing import trace

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
           "functional", "nn", "optim", "ops", "functions", "activations", "losses", "random",
           "backend", "gan", "viz", "trace", "objectives", "datasets", "metrics", "data",
           "checkpoint", "scoring", "speed", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "cat", "stack", "where", "maximum", "minimum", "clamp",
           "autoencoders"]
