"""Pictures the examples share: matplotlib without a display, and the training curves.

Host code: everything here draws host arrays (fetched numbers), so it uses numpy directly.

* :func:`pyplot`: ``matplotlib.pyplot`` on the Agg backend (files only);
* :func:`save_figure`: lay a figure out, write it, close it;
* :func:`moving_average`: smoothing for noisy per-step curves;
* :func:`plot_losses_and_d_outputs`: the two panels of training curves (losses, and D's mean
  outputs on real and generated samples) of the Gaussian and MNIST examples.
"""
import math

import numpy as np


def pyplot():
    """``matplotlib.pyplot``, drawing to files only (the Agg backend: no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, pad=1.08):
    """Lay ``fig`` out (``tight_layout(pad=pad)``), write it to ``path`` at 80 dpi, close it."""
    fig.tight_layout(pad=pad)
    fig.savefig(path, dpi=80)
    pyplot().close(fig)


def moving_average(steps, values, window):
    """``(steps, values)`` as means over ``window`` consecutive steps, each at its last step."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=np.float64)
    if window == 1:
        return steps, values
    return steps[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid")


def plot_losses_and_d_outputs(axes, history, g_loss, window, window_unit="",
                              d_labels=("D(x)", "D(G(z))"), d_title="discriminator outputs",
                              critic=False):
    """Two panels of training curves, as moving averages over ``window`` steps.

    ``axes[0]``: D's and G's losses (``g_loss`` names G's), with D's loss at the
    equilibrium D(x) = D(G(z)) = 1/2, 2 ln 2. ``axes[1]``: D's mean outputs on
    real and generated samples (labelled ``d_labels``), with 1/2, where D can no
    longer tell them apart. ``history`` is a dict of lists ``step``, ``d_loss``,
    ``g_loss``, ``d_real`` and ``d_fake`` (:class:`TrainingLog`, ``GANTrainer``).
    With ``critic`` (a Wasserstein critic's raw scores) the two reference lines and
    the probability axis are left out: a critic has no such equilibrium values.
    """
    def curve(key):
        return moving_average(history["step"], history[key], window)

    ax = axes[0]
    ax.plot(*curve("d_loss"), label="D loss")
    ax.plot(*curve("g_loss"), label=f"G loss ({g_loss})")
    if not critic:
        ax.axhline(2 * math.log(2), color="gray", lw=0.8, ls="--",
                   label="D loss at equilibrium, 2 ln 2")
    ax.set_xlabel("step")
    ax.set_title(f"losses (moving average of {window}{window_unit})")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(*curve("d_real"), label=d_labels[0])
    ax.plot(*curve("d_fake"), label=d_labels[1])
    if not critic:
        ax.axhline(0.5, color="gray", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_title(d_title)
    ax.legend(fontsize=8)
