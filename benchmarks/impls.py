"""The implementations the benchmark times, each built into a :class:`Runner` for one case.

* npgan on NumPy or CuPy (``GANTrainer.step``, as a user runs it): :func:`build_npgan`;
* the floor, the same step in plain NumPy with hand-written gradients: :func:`build_floor`
  (benchmarks/floor.py for the MLP GANs, benchmarks/floor_dcgan.py for DCGAN-B);
* PyTorch on the CPU or CUDA (optional): :func:`build_torch`, in one of the configurations of
  ``torch_ref.DCGAN_CONFIGS`` for DCGAN-B;
* a large float32 matmul, the peak a case's throughput is compared with: :func:`build_peak`;
  and, for DCGAN-B, the step's matrix products alone at their shapes: :func:`build_products`.

:func:`make_impls` lists the columns of a run, the skipped ones with their reason;
:func:`dcgan_impls` those of the DCGAN-B cases.
The floor and the peak run on host NumPy arrays, so this module imports numpy directly.
"""
from dataclasses import dataclass

import numpy as np

import npgan
from npgan import backend, nn, optim
from npgan import random as nprandom
from npgan.gan import GANTrainer

from benchmarks import floor, floor_dcgan
from benchmarks.machine import cpu_cores
from benchmarks.specs import REAL_MEAN, REAL_STD, cycler, dcgan_products

__all__ = ["Runner", "Impl", "IMPL_ORDER", "npgan_models", "build_npgan", "build_floor",
           "build_torch", "build_peak", "build_products", "load_torch", "make_impls",
           "NPGAN_DCGAN_LAYERS", "dcgan_impls", "torch_config_impls"]


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


#: The layers of npgan.nn the DCGAN-B step needs beyond the MLPs'.
NPGAN_DCGAN_LAYERS = ("Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "Flatten",
                      "Unflatten")


def _npgan_dcgan(spec):
    c, s = spec.channels, spec.slope
    G = nn.Sequential(
        nn.Linear(spec.nz, 2 * c * 7 * 7), nn.BatchNorm1d(2 * c * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (2 * c, 7, 7)),
        nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(s),
        nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(s),
        nn.Flatten(), nn.Linear(2 * c * 7 * 7, 1))
    return G, D


def npgan_models(spec):
    """G and D as npgan modules on the current backend and default dtype."""
    if spec.name == "dcgan":
        return _npgan_dcgan(spec)
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
        dcgan = spec.name == "dcgan"
        nz = spec.nz if dcgan else spec.g_sizes[0]
        draw = nprandom.randn if dcgan or spec.noise == "normal" else nprandom.rand

        def sample_noise(n):
            return draw(n, nz)
        if not dcgan and spec.data == "gaussian":
            def sample_real(n):
                return nprandom.normal(REAL_MEAN, REAL_STD, (n, 1))
        else:  # rows of the pool; DCGAN-B's D takes them as (n, 1, 28, 28) images
            images = backend.asarray(pool.host)
            take = cycler(images.reshape(-1, 1, 28, 28) if dcgan else images, batch)

            def sample_real(n):
                return npgan.Tensor(take())
        trainer = GANTrainer(G, D, opt_g, opt_d, sample_real, sample_noise, batch_size=batch)
    except BaseException:
        backend.set_backend(previous)
        raise
    return Runner(trainer.step, backend.synchronize, lambda: backend.set_backend(previous),
                  lambda: backend.set_backend(backend_name))


def build_floor(spec, batch, pool, seed=0):
    """The hand-written NumPy step (benchmarks/floor.py, or floor_dcgan.py for DCGAN-B)."""
    if spec.name == "dcgan":
        gan = floor_dcgan.FloorDCGAN(batch=batch, dtype="float32", seed=seed, **spec.kwargs())
        take = cycler(pool.host, batch)
        return Runner(lambda: gan.step(take()), lambda: None)
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


def build_products(spec, batch, pool):
    """The matrix products of one DCGAN-B step alone (:func:`benchmarks.specs.dcgan_products`):
    one ``np.dot`` each into a preallocated output, in the floor's layouts (dX = dY W^T and
    dW = X^T dY on transposed views): how fast NumPy's BLAS runs the step's GEMMs at these shapes."""
    rng = np.random.Generator(np.random.PCG64(3))
    calls = []
    for _, _, product, _, m, k, n in dcgan_products(spec, batch):
        if product == "forward":    # (m, k) (k, n) -> (m, n)
            a, b = rng.random((m, k), np.float32), rng.random((k, n), np.float32)
        elif product == "dX":       # dY (m, n) times W^T, W stored (k, n) -> (m, k)
            a, b = rng.random((m, n), np.float32), rng.random((k, n), np.float32).T
        else:                       # X^T, X stored (m, k), times dY (m, n) -> (k, n)
            a, b = rng.random((m, k), np.float32).T, rng.random((m, n), np.float32)
        calls.append((a, b, np.empty((a.shape[0], b.shape[1]), np.float32)))

    def step():
        for a, b, out in calls:
            np.dot(a, b, out=out)
    return Runner(step, lambda: None)


def build_torch(spec, batch, pool, device, seed=0, config="default"):
    """The idiomatic PyTorch step (benchmarks/torch_ref.py) on "cpu" or "cuda"; for DCGAN-B in
    the configuration ``config`` (a name of ``torch_ref.DCGAN_CONFIGS``)."""
    import torch
    from benchmarks import torch_ref
    if spec.name == "dcgan":
        gan = torch_ref.TorchDCGAN(batch=batch, device=device, seed=seed, config=config,
                                   **spec.kwargs())
        take = cycler(torch.from_numpy(pool.host).to(gan.device).reshape(-1, 1, 28, 28), batch)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        return Runner(lambda: gan.step(take()), sync)
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


#: The columns of the tables, in order ("torch-cpu-best": DCGAN-B only).
IMPL_ORDER = ("npgan-numpy", "floor", "torch-cpu", "torch-cpu-best", "npgan-cupy", "torch-cuda")


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


def dcgan_impls(impls):
    """The columns of the DCGAN-B cases: the run's ``impls``, npgan's skipped (naming the layers)
    while npgan.nn lacks one of :data:`NPGAN_DCGAN_LAYERS`, and "PyTorch CPU (best)" after
    PyTorch CPU, to be built in the configuration found fastest (see benchmarks/dcgan.py)."""
    missing = [n for n in NPGAN_DCGAN_LAYERS if not hasattr(nn, n)]
    out = []
    for i in impls:
        if i.name.startswith("npgan-") and i.build is not None and missing:
            i = Impl(i.name, i.label, i.device, None,
                     f"skipped: npgan.nn has no {', '.join(missing)} yet")
        out.append(i)
        if i.name == "torch-cpu":
            out.append(Impl("torch-cpu-best", "PyTorch CPU (best)", "cpu", None,
                            i.skip_reason or "skipped: no configuration timed yet"))
    return out


def torch_config_impls(torch):
    """One Impl per PyTorch CPU configuration of ``torch_ref.DCGAN_CONFIGS`` but "default"
    (the "torch-cpu" column), named "torch-cpu:<config>"; none without PyTorch."""
    if torch[0] is None:
        return []
    from benchmarks.torch_ref import DCGAN_CONFIGS
    return [Impl(f"torch-cpu:{name}", f"PyTorch CPU, {name}", "cpu",
                 lambda s, b, p, name=name: build_torch(s, b, p, "cpu", config=name))
            for name, _, _ in DCGAN_CONFIGS if name != "default"]
