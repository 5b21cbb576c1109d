"""The cases the benchmark times: the two GAN models, their data, the matmul FLOPs of a step,
and the sizes of a full, quick or ``--targets`` run.

Host-only: the data pool is made with NumPy on the host (each implementation copies it to
its device), so this module imports numpy directly.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Spec", "GAUSSIAN", "REAL_MEAN", "REAL_STD", "mnist_spec", "MNIST", "case_label",
           "step_flops", "Pool", "cycler", "sizes", "target_cases"]


@dataclass(frozen=True)
class Spec:
    """One GAN: layer widths, activations, noise, data and Adam settings."""
    name: str
    g_sizes: tuple
    d_sizes: tuple
    act: str              # "elu" (alpha 1) or "leaky_relu" (slope)
    slope: float
    d_dropout: float
    g_out: str            # "linear" or "tanh"
    noise: str            # "uniform" U[0, 1) or "normal" N(0, 1)
    data: str             # "gaussian" N(4, 1.25^2) or "pool" (random MNIST-shaped rows in [-1, 1])
    lr: float
    betas: tuple
    eps: float = 1e-8
    width: float = 1.0

    def kwargs(self):
        """The keyword arguments floor.FloorGAN and torch_ref.TorchGAN take."""
        return dict(g_sizes=self.g_sizes, d_sizes=self.d_sizes, act=self.act, slope=self.slope,
                    d_dropout=self.d_dropout, g_out=self.g_out, noise=self.noise, lr=self.lr,
                    betas=self.betas, eps=self.eps)


#: The 1-D Gaussian GAN: two hidden layers of 16 ELU units each side, uniform noise, batch 256.
GAUSSIAN = Spec("gaussian", (1, 16, 16, 1), (1, 16, 16, 1), "elu", 0.2, 0.0, "linear", "uniform",
                "gaussian", 1e-3, (0.5, 0.999))
#: The Gaussian GAN's real data: N(REAL_MEAN, REAL_STD^2).
REAL_MEAN, REAL_STD = 4.0, 1.25


def mnist_spec(width=1.0):
    """The MNIST MLP GAN with every hidden width multiplied by ``width``."""
    h = [max(1, round(n * width)) for n in (256, 512, 1024)]
    return Spec("mnist", (100, h[0], h[1], h[2], 784), (784, h[2], h[1], h[0], 1), "leaky_relu",
                0.2, 0.3, "tanh", "normal", "pool", 2e-4, (0.5, 0.999), width=width)


#: The MNIST MLP GAN at its full widths (D 784-1024-512-256-1, G 100-256-512-1024-784).
MNIST = mnist_spec()


def case_label(spec, batch):
    """'Gaussian 1D, batch 256' / 'MNIST MLP, batch 64' / 'MNIST MLP x0.5 width, batch 256'."""
    if spec.name == "gaussian":
        return f"Gaussian 1D, batch {batch}"
    w = "" if spec.width == 1 else f" x{spec.width:g} width"
    return f"MNIST MLP{w}, batch {batch}"


def step_flops(spec, n):
    """Matmul FLOPs of one step at batch n (2 M N K per matmul), by phase.

    Counts exactly the matmuls the step performs (npgan, PyTorch and the floor
    perform the same ones): forward Z = H W^T of every layer; in backward
    dW = dZ^T H for every layer whose weights are trained in that phase and
    dH = dZ W for every layer whose input needs a gradient (not the first layer
    of a pass over data, noise or the detached fake). Biases, elementwise work
    and reductions are not counted.
    """
    def mm(rows, pairs):
        return sum(2 * rows * a * b for a, b in pairs)
    g = list(zip(spec.g_sizes[:-1], spec.g_sizes[1:]))
    d = list(zip(spec.d_sizes[:-1], spec.d_sizes[1:]))
    parts = {
        "d_step_forward": mm(n, g) + mm(2 * n, d),      # G(z) (no graph), D(x) and D(G(z))
        "d_step_backward": mm(2 * n, d) + mm(2 * n, d[1:]),  # dW of D, dH of D's layers 2..L
        "g_step_forward": mm(n, g) + mm(n, d),
        "g_step_backward": mm(n, d) + mm(n, g) + mm(n, g[1:]),  # dH of all D's layers, dW and dH of G
    }
    parts["total"] = sum(parts.values())
    return parts


# --- data ---------------------------------------------------------------------------------

class Pool:
    """Random MNIST-shaped rows in [-1, 1]; ``take(n)`` gives the next n as a view."""

    def __init__(self, rows, dim=784, seed=1):
        rng = np.random.Generator(np.random.PCG64(seed))
        self.host = rng.random((rows, dim), dtype=np.float32)
        self.host *= 2
        self.host -= 1


def cycler(array, n):
    """A function returning consecutive n-row views of ``array``, wrapping around."""
    rows = array.shape[0]
    if rows < n:
        raise ValueError(f"the data pool has {rows} rows, fewer than the batch {n}")
    state = [0]

    def take():
        i = state[0]
        if i + n > rows:
            i = 0
        state[0] = i + n
        return array[i:i + n]
    return take


# --- the runs -----------------------------------------------------------------------------

def sizes(quick):
    """The cases, sweeps and check sizes of a full or a quick run."""
    if quick:
        return dict(cases=[(GAUSSIAN, 256), (MNIST, 8)], sweep_batches=[4, 8],
                    sweep_widths=[0.125, 1.0], width_batch=8, pool_rows=64,
                    peak_n=256, peak_repeats=3, memory=(8, 10, 30), min_block_s=0.001)
    return dict(cases=[(GAUSSIAN, 256), (MNIST, 64), (MNIST, 100), (MNIST, 256), (MNIST, 1024)],
                sweep_batches=[16, 32, 64, 128, 256, 512, 1024, 2048],
                sweep_widths=[0.25, 0.5, 1.0, 2.0], width_batch=256, pool_rows=8192,
                peak_n=4096, peak_repeats=5, memory=(64, 200, 2000), min_block_s=0.01)


def target_cases(cfg, quick):
    """The cases of the targets: Gaussian batch 256, MNIST batch 100 and 1024 (quick: the quick
    run's cases). The last is the throughput target's, timed with the peak matmul in its rounds."""
    return cfg["cases"] if quick else [(GAUSSIAN, 256), (MNIST, 100), (MNIST, 1024)]
