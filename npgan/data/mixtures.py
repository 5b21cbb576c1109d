"""Toy 2-D data: mixtures of isotropic Gaussians on a ring and on a grid.

The standard mode-collapse benchmarks of VEEGAN (Srivastava et al., 2017)
and PacGAN (Lin et al., 2018), with every mode equally likely:

    ring:  8 modes at (cos 2 pi k / 8, sin 2 pi k / 8), k = 0..7,  sigma = 0.01
    grid:  25 modes at {-4, -2, 0, 2, 4}^2,                        sigma = 0.05

A sample is x = mu_K + sigma e with K uniform over the modes and e ~ N(0, I_2).
(The ring's angles are 2 pi k / 8 for k < 8, not linspace(0, 2 pi, 8), whose
last point repeats the first and would leave 7 distinct modes.)

Samples are drawn on the current backend with the seeded generator of
:mod:`npgan.random`; :func:`mode_centres` gives the centres as a host array
for :func:`npgan.evaluation.metrics.mode_coverage`.
"""
import math

import numpy as np  # the mode centres are host arrays; samples go through the backend

from npgan import backend
from npgan.autograd import Tensor

DATASETS = {
    "ring": {"sigma": 0.01},
    "grid": {"sigma": 0.05},
}
"""Per dataset: sigma, the standard deviation of each mode (VEEGAN, PacGAN)."""


def mode_centres(name):
    """The mode centres of dataset ``name`` as a host float64 array of shape (K, 2).

    ring: (cos 2 pi k / 8, sin 2 pi k / 8) for k = 0..7;  grid: {-4,-2,0,2,4}^2 row by row.
    """
    if name == "ring":
        angles = 2 * math.pi * np.arange(8) / 8
        return np.stack([np.cos(angles), np.sin(angles)], axis=1)
    if name == "grid":
        xs = np.arange(-4.0, 5.0, 2.0)
        return np.array([[x, y] for x in xs for y in xs], dtype=np.float64)
    raise ValueError(f"mode_centres: dataset must be one of {sorted(DATASETS)}, got {name!r}")


def sigma(name):
    """The per-mode standard deviation of dataset ``name`` (ring 0.01, grid 0.05)."""
    if name not in DATASETS:
        raise ValueError(f"sigma: dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name]["sigma"]


def sample(name, n, dtype=None):
    """n samples of mixture ``name`` as an (n, 2) Tensor on the current backend.

    x_i = mu_{k_i} + sigma e_i, k_i uniform on the modes, e_i ~ N(0, I_2).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"sample: n must be a positive int, got {n!r}")
    centres_host = mode_centres(name)
    dtype = backend.get_default_dtype() if dtype is None else backend.dtype(dtype)
    rng = backend.get_rng()
    centres = backend.array(centres_host, dtype=dtype)
    k = rng.integers(0, centres_host.shape[0], (n,))
    noise = rng.standard_normal((n, 2), dtype)
    noise *= sigma(name)
    return Tensor(centres[k] + noise)


def ring(n, dtype=None):
    """n samples of the ring of 8 Gaussians (radius 1, sigma 0.01): ``sample("ring", n)``."""
    return sample("ring", n, dtype)


def grid(n, dtype=None):
    """n samples of the 5 x 5 grid of Gaussians (spacing 2, sigma 0.05): ``sample("grid", n)``."""
    return sample("grid", n, dtype)
