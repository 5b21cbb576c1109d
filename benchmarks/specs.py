"""The cases the benchmark times: the two MLP GAN models and the DCGAN-B step, their data, the
matmul FLOPs of a step, and the sizes of a full, quick or ``--targets`` run.

Host-only: the data pool is made with NumPy on the host (each implementation copies it to
its device), so this module imports numpy directly.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Spec", "GAUSSIAN", "REAL_MEAN", "REAL_STD", "mnist_spec", "MNIST", "DCGANSpec",
           "dcgan_spec", "DCGAN", "case_label", "dcgan_products", "step_flops", "Pool", "cycler",
           "sizes", "target_cases"]


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


@dataclass(frozen=True)
class DCGANSpec:
    """The DCGAN-B step with ``channels`` = c (64 for DCGAN-B), MNIST-sized images, batch norm:

    G: Linear(nz, 2c 7 7), BatchNorm1d, ReLU, unflatten (2c, 7, 7), ConvTranspose2d(2c, c, 4, 2, 1),
    BatchNorm2d, ReLU, ConvTranspose2d(c, 1, 4, 2, 1), Tanh;
    D: Conv2d(1, c, 4, 2, 1), LeakyReLU(0.2), Conv2d(c, 2c, 4, 2, 1), BatchNorm2d, LeakyReLU(0.2),
    Flatten, Linear(2c 7 7, 1); Gaussian noise, BCE from logits, Adam lr 2e-4, betas (0.5, 0.999).
    """
    channels: int = 64
    nz: int = 100
    slope: float = 0.2
    lr: float = 2e-4
    betas: tuple = (0.5, 0.999)
    eps: float = 1e-8
    width: float = 1.0
    name: str = "dcgan"

    def kwargs(self):
        """The keyword arguments floor_dcgan.FloorDCGAN and torch_ref.TorchDCGAN take."""
        return dict(c=self.channels, nz=self.nz, slope=self.slope, lr=self.lr, betas=self.betas,
                    eps=self.eps)


def dcgan_spec(width=1.0):
    """DCGAN-B with its 64 channels multiplied by ``width``."""
    return DCGANSpec(channels=max(1, round(64 * width)), width=width)


#: The DCGAN-B step (c = 64).
DCGAN = dcgan_spec()


def case_label(spec, batch):
    """'Gaussian 1D, batch 256' / 'MNIST MLP, batch 64' / 'MNIST MLP x0.5 width, batch 256' /
    'DCGAN-B, batch 64' / 'DCGAN-B x0.125 channels, batch 4'."""
    if spec.name == "dcgan":
        w = "" if spec.width == 1 else f" x{spec.width:g} channels"
        return f"DCGAN-B{w}, batch {batch}"
    if spec.name == "gaussian":
        return f"Gaussian 1D, batch {batch}"
    w = "" if spec.width == 1 else f" x{spec.width:g} width"
    return f"MNIST MLP{w}, batch {batch}"


def dcgan_products(spec, n):
    """Every matrix product of one DCGAN-B step at batch n: [(phase, layer, product, kind, M, K, N)].

    A convolution is one product per pass (im2col): forward cols (M = pixels out, K = 16 C_in)
    times Wm (K, C_out); a transposed convolution's forward is X (M = pixels in, K = C_in) times
    Wm (C_in, 16 C_out). ``product`` is "forward" (Y = X W), "dW" (X^T dY) or "dX" (dY W^T); each
    backward product has the FLOPs of its forward, and is listed with the forward's (M, K, N).
    As for the MLP: no input gradient for the first layer of a pass over data, noise or the
    detached fake, no weight gradient of D in the G step. ``kind`` is "conv" or "linear".
    """
    c = spec.channels
    g = [("G.0", "linear", 1, spec.nz, 2 * c * 49), ("G.4", "conv", 49, 2 * c, 16 * c),
         ("G.7", "conv", 196, c, 16)]
    d = [("D.0", "conv", 196, 16, c), ("D.2", "conv", 49, 16 * c, 2 * c),
         ("D.6", "linear", 1, 2 * c * 49, 1)]

    def rows(layers, phase, product, rows_n, skip_first=False):
        return [(phase, name, product, kind, r * rows_n, k, m)
                for i, (name, kind, r, k, m) in enumerate(layers) if not (skip_first and i == 0)]
    return (rows(g, "d_step_forward", "forward", n) + rows(d, "d_step_forward", "forward", 2 * n)
            + rows(d, "d_step_backward", "dW", 2 * n) + rows(d, "d_step_backward", "dX", 2 * n, True)
            + rows(g, "g_step_forward", "forward", n) + rows(d, "g_step_forward", "forward", n)
            + rows(d, "g_step_backward", "dX", n) + rows(g, "g_step_backward", "dW", n)
            + rows(g, "g_step_backward", "dX", n, True))


def step_flops(spec, n):
    """Matmul FLOPs of one step at batch n (2 M N K per matmul), by phase (and, for DCGAN-B,
    "conv" and "linear": the convolutions' products and the Linear layers').

    Counts exactly the matmuls the step performs (npgan, PyTorch and the floor
    perform the same ones): forward Z = H W^T of every layer; in backward
    dW = dZ^T H for every layer whose weights are trained in that phase and
    dH = dZ W for every layer whose input needs a gradient (not the first layer
    of a pass over data, noise or the detached fake). Biases, elementwise work
    and reductions are not counted.
    """
    if spec.name == "dcgan":
        parts = {}
        for phase, _, _, kind, m, k, o in dcgan_products(spec, n):
            for key in (phase, kind):
                parts[key] = parts.get(key, 0) + 2 * m * k * o
        parts["total"] = parts["conv"] + parts["linear"]
        return parts

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
                    peak_n=256, peak_repeats=3, memory=(8, 10, 30), min_block_s=0.001,
                    dcgan=dcgan_spec(0.125), dcgan_batch=4, dcgan_sweep=[2, 4])
    return dict(cases=[(GAUSSIAN, 256), (MNIST, 64), (MNIST, 100), (MNIST, 256), (MNIST, 1024)],
                sweep_batches=[16, 32, 64, 128, 256, 512, 1024, 2048],
                sweep_widths=[0.25, 0.5, 1.0, 2.0], width_batch=256, pool_rows=8192,
                peak_n=4096, peak_repeats=5, memory=(64, 200, 2000), min_block_s=0.01,
                dcgan=DCGAN, dcgan_batch=64, dcgan_sweep=[16, 32, 64, 128])


def target_cases(cfg, quick):
    """The cases of the targets: Gaussian batch 256, MNIST batch 100 and 1024 (quick: the quick
    run's cases). The last is the throughput target's, timed with the peak matmul in its rounds."""
    return cfg["cases"] if quick else [(GAUSSIAN, 256), (MNIST, 100), (MNIST, 1024)]
