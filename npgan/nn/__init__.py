"""Layers and the Module they are built from (as ``torch.nn``).

* :mod:`npgan.nn.module`: :class:`Parameter`, :class:`Module` (parameters, buffers,
  sub-modules, ``state_dict``);
* :mod:`npgan.nn.layers`: :class:`Linear`, the activation layers, :class:`Dropout`,
  :class:`Flatten`, :class:`Unflatten`, :class:`Sequential`, and :func:`mlp`, the stack of
  Linear layers every example builds;
* :mod:`npgan.nn.normalization`: :class:`BatchNorm1d`, :class:`BatchNorm2d` (running
  statistics as buffers), :class:`LayerNorm`.
* :mod:`npgan.nn.conv`: :class:`Conv2d`, :class:`ConvTranspose2d` (PyTorch's weight layouts
  and initialisation).
"""
from npgan.nn.module import Module, Parameter
from npgan.nn.conv import Conv2d, ConvTranspose2d
from npgan.nn.layers import (ELU, Dropout, LeakyReLU, Linear, ReLU, Sequential, Sigmoid,
                             Tanh, mlp)
from npgan.nn.layers import Flatten, Unflatten
from npgan.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = ["Module", "Parameter", "Linear", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh",
           "Dropout", "Sequential", "mlp", "Flatten", "Unflatten", "BatchNorm1d", "BatchNorm2d",
           "LayerNorm", "Conv2d", "ConvTranspose2d"]
