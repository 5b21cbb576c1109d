"""Layers and the Module they are built from (as ``torch.nn``).

* :mod:`npgan.nn.module`: :class:`Parameter`, :class:`Module` (parameters, buffers,
  sub-modules, ``state_dict``);
* :mod:`npgan.nn.layers`: :class:`Linear`, the activation layers, :class:`Dropout`,
  :class:`Sequential`.
"""
from npgan.nn.module import Module, Parameter
from npgan.nn.layers import (ELU, Dropout, LeakyReLU, Linear, ReLU, Sequential, Sigmoid,
                             Tanh)

__all__ = ["Module", "Parameter", "Linear", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh",
           "Dropout", "Sequential"]
