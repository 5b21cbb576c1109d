"""Scoring generated digits with a small classifier that npgan trains itself.

The usual image-GAN scores, the Inception Score and the FID, read features
from an Inception-v3 network trained on ImageNet. Those weights are not
available offline, and a 299x299 colour network says little about 28x28
digits anyway. So, as is common for MNIST GANs, we score with a classifier
of the domain: an MLP trained here, by npgan, on real digits. Its 128-d
penultimate layer plays the part of Inception's pool features.

* **FID** (:func:`score_generated`): the Frechet distance between Gaussians
  fitted to the classifier's features of generated and of held-out real
  digits (:func:`npgan.metrics.frechet_distance`). Lower is better. Finite
  samples put a floor under it, so it is reported next to ``fid_real_floor``,
  the distance between two real samples of the same sizes: what a perfect
  generator would score.
* **Class coverage**: each generated digit gets the classifier's most likely
  class; mode collapse shows as few classes covered and a histogram far from
  uniform (:func:`npgan.metrics.class_histogram_metrics`).

The numbers are comparable between runs scored with the *same* classifier,
not with FIDs published for Inception features.

Images are rows of 784 pixels scaled to [-1, 1] (the GAN's scale:
``pixels / 127.5 - 1``). Features and probabilities come back as host numpy
arrays for :mod:`npgan.metrics`.
"""
import numpy as np  # the scores are computed on host copies (the metrics are host-only)

from npgan import backend, nn, optim
from npgan.autograd import Tensor, no_grad
from npgan.evaluation.metrics import class_histogram_metrics, frechet_distance, gaussian_statistics
from npgan.functions import losses


class DigitClassifier(nn.Module):
    """An MLP classifier: in_features -> hidden -> features -> classes (784 -> 256 -> 128 -> 10).

    Linear layers with ReLU between them and Dropout (p = ``dropout``) after
    each hidden layer while training. :meth:`features` gives the penultimate activations (the
    feature layer of the Frechet distance), :meth:`forward` the class logits.
    """

    def __init__(self, in_features=784, hidden=256, features=128, classes=10, dropout=0.2):
        super().__init__()
        self.in_features = in_features
        self.body = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, features), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(features, classes)

    def features(self, x):
        """The (N, features) activations of the last hidden layer (after ReLU and dropout)."""
        return self.body(x)

    def forward(self, x):
        """The (N, classes) logits."""
        return self.head(self.body(x))


def _dtype_of(model):
    return next(iter(model.parameters())).dtype


def _as_images(model, x, name):
    """``x`` (Tensor, numpy or cupy array) as a backend array of shape (N, in_features)."""
    x = x.data if isinstance(x, Tensor) else x
    x = backend.asarray(x, dtype=_dtype_of(model))
    if x.ndim != 2 or x.shape[1] != model.in_features:
        raise ValueError(
            f"{name}: images must have shape (N, {model.in_features}) (flattened rows, scaled "
            f"to [-1, 1]), got shape {x.shape}; reshape with x.reshape(len(x), -1)")
    return x


def _as_labels(y, n, name):
    """Integer labels as a backend array of shape (n,)."""
    y = y.data if isinstance(y, Tensor) else y
    y = backend.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integers, got dtype {y.dtype} "
                        f"(convert with labels.astype('int64'))")
    if y.shape != (n,):
        raise ValueError(f"{name}: expected {n} labels of shape ({n},), got shape {y.shape}")
    return y


def _batched(model, x, batch_size, fn, name):
    """Apply ``fn`` to ``x`` in batches with the model in eval mode, without a graph;
    the results concatenated as one host numpy array. The model's mode is restored."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{name}: batch_size must be a positive int, got {batch_size!r}")
    x = _as_images(model, x, name)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [fn(Tensor(x[lo:lo + batch_size])).numpy()
                     for lo in range(0, x.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros((0,))


def predict_probabilities(model, x, batch_size=1000):
    """The (N, C) class probabilities softmax(model(x)) as a host array (eval mode, no graph)."""
    return _batched(model, x, batch_size, lambda b: losses.softmax(model(b)),
                    "predict_probabilities")


def extract_features(model, x, batch_size=1000):
    """The (N, features) penultimate activations model.features(x) as a host array (eval mode)."""
    return _batched(model, x, batch_size, model.features, "extract_features")


def accuracy(model, x, y, batch_size=1000):
    """The fraction of rows of ``x`` whose most likely class (argmax of the logits) is ``y``."""
    logits = _batched(model, x, batch_size, model, "accuracy")
    y = backend.to_numpy(_as_labels(y, logits.shape[0], "accuracy"))
    return float(np.mean(np.argmax(logits, axis=1) == y))


def train_classifier(train_x, train_y, heldout_x, heldout_y, epochs=20, batch_size=32, lr=1e-3,
                     log=print, model=None):
    """Train a :class:`DigitClassifier` with Adam on softmax cross-entropy.

    Each epoch visits the training rows once, in shuffled minibatches (a
    permutation from npgan's seeded generator, so ``npgan.manual_seed``
    makes a run repeatable), then prints the mean training loss and the
    held-out accuracy through ``log`` (None: silent). The learning rate
    decays linearly, lr (1 - e / epochs) in epoch e = 0, 1, ..., so the last
    epochs settle instead of hopping between minima.

    Args:
        train_x, heldout_x: (N, 784) images in [-1, 1] (numpy/cupy arrays or Tensors).
        train_y, heldout_y: (N,) integer labels in [0, 10).
        epochs, batch_size, lr: the schedule. The defaults reach about 95%
            held-out accuracy from 4,000 MNIST digits (1,000 held out) in
            about 7 s on one CPU core.
        model: a classifier to train (default: a new ``DigitClassifier()`` in
            the default dtype, sized for the data's width).

    Returns ``(model, heldout_accuracy)``, the model in eval mode.
    """
    for what, v in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"train_classifier: {what} must be a positive int, got {v!r}")
    if model is None:
        width = train_x.shape[1] if getattr(train_x, "ndim", 0) == 2 else 784
        model = DigitClassifier(in_features=width)
    x = _as_images(model, train_x, "train_classifier")
    y = _as_labels(train_y, x.shape[0], "train_classifier")
    n = x.shape[0]
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = backend.get_rng()
    for epoch in range(1, epochs + 1):
        model.train()
        opt.lr = lr * (1 - (epoch - 1) / epochs)
        order = rng.permutation(n)
        total = 0.0  # a backend scalar: no device sync per step
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            loss = losses.softmax_cross_entropy(model(Tensor(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total = total + loss.data * idx.shape[0]
        acc = accuracy(model, heldout_x, heldout_y)
        if log is not None:
            log(f"classifier epoch {epoch}/{epochs}: train loss {float(total) / n:.4f}, "
                f"held-out accuracy {acc:.4f}")
    model.eval()
    return model, acc


def score_generated(model, generated_x, heldout_x, reference_x):
    """Score generated images against held-out real ones with a trained classifier.

    Args:
        model: a trained :class:`DigitClassifier` (see :func:`train_classifier`).
        generated_x: (N, 784) generated images in [-1, 1].
        heldout_x: real images the classifier was not trained on.
        reference_x: other real images, ideally as many as ``generated_x``
            (e.g. training digits), to measure the finite-sample floor.

    Returns a dict:

    * ``fid``: Frechet distance between Gaussians fitted to the classifier
      features of ``generated_x`` and of ``heldout_x`` (lower is better);
    * ``fid_real_floor``: the same distance from ``reference_x`` to
      ``heldout_x``: what a perfect generator would score with samples of
      that size (the FID of finite samples is biased upward);
    * ``classes_covered``, ``class_fractions``, ``kl_from_uniform``,
      ``mean_top_confidence``: :func:`npgan.metrics.class_histogram_metrics`
      of the generated images' class probabilities (10 classes covered, KL
      near 0 and confidence near 1 for a diverse generator of clean digits;
      KL near log 10 = 2.30 for a collapsed one);
    * ``n_generated``: the number of generated images.

    Read the numbers together: pure noise also spreads over many classes
    (the classifier must answer something), but with a low
    ``mean_top_confidence`` and a large ``fid``. On 5,000 real MNIST digits
    (the default classifier, 1,000 held out), 1,000 other real digits score
    fid ~ 3 against a floor of ~ 2.5, KL ~ 0.003, confidence ~ 0.98;
    300 sevens score fid ~ 400 and KL ~ 2.28; uniform noise fid ~ 335,
    confidence ~ 0.42.
    """
    held = gaussian_statistics(extract_features(model, heldout_x))
    gen = gaussian_statistics(extract_features(model, generated_x))
    ref = gaussian_statistics(extract_features(model, reference_x))
    scores = {"fid": frechet_distance(*gen, *held),
              "fid_real_floor": frechet_distance(*ref, *held)}
    probs = predict_probabilities(model, generated_x)
    scores.update(class_histogram_metrics(probs))
    scores["n_generated"] = int(probs.shape[0])
    return scores
