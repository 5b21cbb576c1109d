"""The functional API, ``npgan.functional`` (import it as F): stateless ops by their PyTorch names.

Every function here is defined in its family under :mod:`npgan.functions`
(arithmetic, matrix, conv, activations, losses, softmax); this namespace only gathers
them for ``F.relu(x)``-style use.
"""
from npgan.functions.activations import (dropout, elu, gelu, leaky_relu, logsigmoid, relu,
                                         sigmoid, silu, softplus, tanh)
from npgan.functions.arithmetic import exp, log
from npgan.functions.conv import conv2d, conv_transpose2d
from npgan.functions.losses import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                    cross_entropy, l1_loss, mse_loss, nll_loss)
from npgan.functions.matrix import linear
from npgan.functions.normalization import batch_norm, layer_norm
from npgan.functions.shapes import cat, stack  # torch.cat / torch.stack, here too (issue 18)
from npgan.functions.softmax import log_softmax, softmax, softmax_cross_entropy

__all__ = ["linear", "conv2d", "conv_transpose2d", "relu", "elu", "leaky_relu", "sigmoid",
           "tanh", "exp", "log",
           "softplus", "dropout", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "mse_loss", "softmax", "log_softmax", "softmax_cross_entropy", "batch_norm",
           "layer_norm", "logsigmoid", "silu", "gelu", "cross_entropy", "nll_loss", "l1_loss", "cat", "stack"]
