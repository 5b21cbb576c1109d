"""The functional API, ``npgan.functional`` (import it as F): stateless ops by their PyTorch names.

Every function here is defined in the module of its concept (ops, activations,
losses); this namespace only gathers them for ``F.relu(x)``-style use.
"""
from npgan.activations import dropout, elu, leaky_relu, relu, sigmoid, softplus, tanh
from npgan.losses import (binary_cross_entropy, binary_cross_entropy_with_logits, log_softmax,
                          mse_loss, softmax, softmax_cross_entropy)
from npgan.ops import exp, linear, log

__all__ = ["linear", "relu", "elu", "leaky_relu", "sigmoid", "tanh", "exp", "log",
           "softplus", "dropout", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "mse_loss", "softmax", "log_softmax", "softmax_cross_entropy"]
