"""Differentiable functions, each op's forward on raw arrays with its backward beneath it.

One file per family:

* :mod:`~npgan.functions.helpers`: what every family uses (``raw``, ``as_tensor``,
  ``apply``): rules written once run on arrays or, under ``create_graph``, on Tensors;
* :mod:`~npgan.functions.arithmetic`: + - * / neg ** exp log, ``where``, abs, sqrt, clamp,
  maximum, minimum, comparisons;
* :mod:`~npgan.functions.shapes`: sum, mean, ``reduce_to`` (broadcasting undone in
  one place), reshape, transpose, concatenate, indexing, astype; view, unsqueeze, squeeze,
  flatten, t, clone, cat, stack;
* :mod:`~npgan.functions.reductions`: max/min (whole, or values and indices along a dim),
  amax/amin, argmax/argmin, var, std, norm;
* :mod:`~npgan.functions.matrix`: ``matmul`` and ``linear``;
* :mod:`~npgan.functions.activations`: sigmoid, tanh, relu, leaky_relu, elu, softplus,
  logsigmoid, silu, gelu, dropout;
* :mod:`~npgan.functions.losses`: binary cross-entropy (probabilities, logits), MSE, L1,
  cross_entropy, nll_loss;
* :mod:`~npgan.functions.softmax`: softmax, log_softmax, softmax cross-entropy;
* :mod:`~npgan.functions.normalization`: batch_norm, layer_norm (one ``Normalize`` op,
  differentiable to any order).
* :mod:`~npgan.functions.conv`: conv2d, conv_transpose2d (three ops, Conv2d,
  ConvTranspose2d and Conv2dWeightGrad, whose backward rules are each other: any order).

The arithmetic, shape and matrix functions are gathered here, and this package
is also ``npgan.ops`` (``npgan.ops.linear``, ``npgan.ops.exp``, ...).
Convolution and normalization are families of their own, imported from their files.
"""
from npgan.functions.helpers import apply, as_tensor, as_tensors, raw
from npgan.functions.shapes import (AsType, BroadcastTo, Concatenate, GetItem, GetItemGrad,
                                    Reshape, Sum, SumTo, Transpose, astype, broadcast_to,
                                    concatenate, getitem, mean, permute, reduce_to, reshape, sum,
                                    sum_to, swapdims, transpose)
from npgan.functions.arithmetic import (Add, Div, Exp, Log, Mul, Neg, Pow, Sub, Where, add, div,
                                        exp, log, mul, neg, pow, sub, where)
from npgan.functions.matrix import Linear, MatMul, linear, matmul

__all__ = ["raw", "as_tensor", "as_tensors", "apply", "reduce_to", "sum_to", "broadcast_to",
           "sum", "mean", "reshape", "transpose", "permute", "swapdims", "concatenate",
           "getitem", "astype",
           "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "where", "matmul", "linear",
           "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "Where", "Sum", "SumTo",
           "BroadcastTo", "Reshape", "Transpose", "Concatenate", "GetItem", "GetItemGrad",
           "AsType", "MatMul", "Linear", "activations", "losses"]
