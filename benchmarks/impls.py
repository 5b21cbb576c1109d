"""The implementations the benchmark times, each built into a :class:`Runner` for one case.

* npgan on NumPy or CuPy (``GANTrainer.step``, as a user runs it): :func:`build_npgan`;
* the floor, the same step in plain NumPy with hand-written gradients: :func:`build_floor`;
* PyTorch on the CPU or CUDA (optional): :func:`build_torch`;
* a large float32 matmul, the peak a case's throughput is compared with: :func:`build_peak`.

:func:`make_impls` lists the columns of a run, the skipped ones with their reason.
The floor and the peak run on host NumPy arrays, so this module imports numpy directly.
"""
from dataclasses import dataclass

import numpy as np

import npgan
from npgan import backend, nn, optim
from npgan import random as nprandom
from npgan.gan import GANTrainer

from benchmarks import floor
from benchmarks.machine import cpu_cores
from benchmarks.specs import REAL_MEAN, REAL_STD, cycler

__all__ = ["Runner", "Impl", "IMPL_ORDER", "npgan_models", "build_npgan", "build_floor",
           "build_torch", "build_peak", "load_torch", "make_impls"]


@dataclass
class Runner:
    """A built implementation: ``step()`` runs one training step, ``sync()`` waits for the device,
    ``activate()`` makes its settings current before it steps (npgan: its backend)."""
    step: object
    sync: object
    close: object = lambda: None
    activate: object = lambda: None


def _npgan_mlp(sizes, spec, dropout, out_act):
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ELU() if spec.act == "elu" else nn.LeakyReLU(spec.slope))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if out_act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def npgan_models(spec):
    """G and D as npgan modules on the current backend and default dtype."""
    return (_npgan_mlp(spec.g_sizes, spec, 0.0, spec.g_out),
            _npgan_mlp(spec.d_sizes, spec, spec.d_dropout, "linear"))


def build_npgan(spec, batch, pool, backend_name, seed=0):
    """npgan's GANTrainer on ``backend_name``: the step a user of npgan runs."""
    previous = backend.get_backend()
    backend.set_backend(backend_name)
    try:
        npgan.set_default_dtype("float32")
        npgan.manual_seed(seed)
        G, D = npgan_models(spec)
        opt_g = optim.Adam(G.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps)
        opt_d = optim.Adam(D.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps)
        nz = spec.g_sizes[0]
        draw = nprandom.rand if spec.noise == "uniform" else nprandom.randn

        def sample_noise(n):
            return draw(n, nz)
        if spec.data == "gaussian":
            def sample_real(n):
                return nprandom.normal(REAL_MEAN, REAL_STD, (n, 1))
        else:
            take = cycler(backend.asarray(pool.host), batch)

            def sample_real(n):
                return npgan.Tensor(take())
        trainer = GANTrainer(G, D, opt_g, opt_d, sample_real, sample_noise, batch_size=batch)
    except BaseException:
        backend.set_backend(previous)
        raise
    return Runner(trainer.step, backend.synchronize, lambda: backend.set_backend(previous),
                  lambda: backend.set_backend(backend_name))


def build_floor(spec, batch, pool, seed=0):
    """The hand-written NumPy step (benchmarks/floor.py)."""
    gan = floor.FloorGAN(batch=batch, dtype="float32", seed=seed, **spec.kwargs())
    if spec.data == "gaussian":
        rng, real = gan.rng, np.empty((batch, 1), np.float32)

        def step():  # x ~ N(4, 1.25^2), drawn in place
            rng.standard_normal(out=real, dtype=np.float32)
            np.multiply(real, REAL_STD, out=real)
            np.add(real, REAL_MEAN, out=real)
            return gan.step(real)
    else:
        take = cycler(pool.host, batch)

        def step():
            return gan.step(take())
    return Runner(step, lambda: None)


def build_peak(library, n, torch_mod=None):
    """A Runner whose step is one float32 n x n matmul with NumPy's BLAS or PyTorch's (CPU)."""
    rng = np.random.Generator(np.random.PCG64(2))
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    if library == "numpy":
        return Runner(lambda: np.matmul(a, b, out=c), lambda: None)
    ta, tb, tc = torch_mod.from_numpy(a), torch_mod.from_numpy(b), torch_mod.from_numpy(c)
    return Runner(lambda: torch_mod.mm(ta, tb, out=tc), lambda: None)


def build_torch(spec, batch, pool, device, seed=0):
    """The idiomatic PyTorch step (benchmarks/torch_ref.py) on "cpu" or "cuda"."""
    import torch
    from benchmarks import torch_ref
    gan = torch_ref.TorchGAN(batch=batch, device=device, seed=seed, **spec.kwargs())
    if spec.data == "gaussian":
        def step():
            return gan.step(torch.normal(REAL_MEAN, REAL_STD, size=(batch, 1), device=gan.device))
    else:
        take = cycler(torch.from_numpy(pool.host).to(gan.device), batch)

        def step():
            return gan.step(take())
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return Runner(step, sync)


@dataclass
class Impl:
    """One column of the tables: how to build it, on which device, or why it was skipped."""
    name: str
    label: str
    device: str        # "cpu" or "gpu"
    build: object = None
    skip_reason: str = None
    flops: int = None      # FLOPs of one step where it is not a GAN step (a peak matmul)


#: The columns of the tables, in order.
IMPL_ORDER = ("npgan-numpy", "floor", "torch-cpu", "npgan-cupy", "torch-cuda")


def load_torch(no_torch):
    """(torch module or None, reason it is skipped or None)."""
    if no_torch:
        return None, "skipped: --no-torch"
    try:
        import torch
        from benchmarks import torch_ref  # noqa: F401
    except ImportError:
        return None, "skipped: torch not installed"
    except Exception as exc:  # a broken install: say so, do not stop the benchmark
        return None, f"skipped: torch failed to import ({type(exc).__name__}: {exc})"
    torch.set_num_threads(cpu_cores())
    return torch, None


def make_impls(which, torch):
    """The implementations for ``--backend which`` ("numpy", "cupy" or "all"), skipped ones included."""
    torch_mod, torch_reason = torch
    impls = []
    if which in ("numpy", "all"):
        impls.append(Impl("npgan-numpy", "npgan (NumPy)", "cpu",
                          lambda s, b, p: build_npgan(s, b, p, "numpy")))
        impls.append(Impl("floor", "floor (hand-written NumPy)", "cpu", build_floor))
        impls.append(Impl("torch-cpu", "PyTorch CPU", "cpu",
                          None if torch_reason else lambda s, b, p: build_torch(s, b, p, "cpu"),
                          torch_reason))
    if which in ("cupy", "all"):
        reason = backend.cupy_unavailable_reason()
        impls.append(Impl("npgan-cupy", "npgan (CuPy)", "gpu",
                          None if reason else lambda s, b, p: build_npgan(s, b, p, "cupy"),
                          f"skipped: {reason}" if reason else None))
        if torch_reason:
            cuda_reason = torch_reason
        elif not torch_mod.cuda.is_available():
            cuda_reason = (f"skipped: torch.cuda.is_available() is False "
                           f"(torch {torch_mod.__version__}, CUDA build: {torch_mod.version.cuda})")
        else:
            cuda_reason = None
        impls.append(Impl("torch-cuda", "PyTorch CUDA", "gpu",
                          None if cuda_reason else lambda s, b, p: build_torch(s, b, p, "cuda"),
                          cuda_reason))
    return impls
