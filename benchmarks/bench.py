#!/usr/bin/env python3
"""Time one full GAN training step on every implementation present; write RESULTS.md.

    python3 benchmarks/bench.py                 # the full run (a few minutes), writes benchmarks/RESULTS.md
    python3 benchmarks/bench.py --quick         # tiny sizes, a few repeats (what the tests run)
    python3 benchmarks/bench.py --memory        # only the resident-memory check
    python3 benchmarks/bench.py --backend numpy --no-torch --repeats 50 --out /tmp/bench

The step is a D update then a G update, Adam on both, float32 (see
benchmarks/floor.py for the math), for two models:

* the 1-D Gaussian GAN: G and D with two hidden layers of 16 ELU units, uniform
  noise, data N(4, 1.25^2), batch 256: tiny matrices, so it measures overhead;
* the MNIST MLP GAN: D 784-1024-512-256-1 (LeakyReLU(0.2), Dropout(0.3)),
  G 100-256-512-1024-784 (LeakyReLU(0.2), Tanh), Gaussian noise, Adam lr 2e-4,
  betas (0.5, 0.999), random data shaped like MNIST in [-1, 1], at batch 64,
  100, 256 and 1024: at 1024 the matmuls dominate.

Implementations, all timed in the same run on the same data path:

* npgan on NumPy (``GANTrainer.step``, as a user runs it) and on CuPy where a GPU is present;
* the floor: the same step in plain NumPy with hand-written gradients (benchmarks/floor.py);
* PyTorch on the CPU and on CUDA where installed (optional; benchmarks/torch_ref.py).

Each timing: one first step (reported apart: allocations, caches), a calibration
step, then ``--repeats`` timed blocks in five rounds, each round ``--warmup``
warm-up blocks and a fifth of the timed blocks of every implementation in turn
(so a machine whose speed drifts during the run moves all of them alike); a
block is k consecutive steps with k chosen so a block lasts at least 10 ms
(k = 1 for every MNIST case), the device synchronised
(``npgan.backend.synchronize()``, ``torch.cuda.synchronize()``) before the clock
is read. Reported: the median of the per-step times of the blocks, with their
min and max. The matmul peak is measured at the start and again at the end.
"""
import argparse
import ctypes
import datetime
import gc
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: benchmark the npgan of this checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import npgan  # noqa: E402
from npgan import backend, nn, optim, runs  # noqa: E402
from npgan import random as nprandom  # noqa: E402
from npgan.gan import GANTrainer  # noqa: E402

from benchmarks import floor  # noqa: E402

# --- the models ---------------------------------------------------------------------------


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


GAUSSIAN = Spec("gaussian", (1, 16, 16, 1), (1, 16, 16, 1), "elu", 0.2, 0.0, "linear", "uniform",
                "gaussian", 1e-3, (0.5, 0.999))
REAL_MEAN, REAL_STD = 4.0, 1.25


def mnist_spec(width=1.0):
    """The MNIST MLP GAN with every hidden width multiplied by ``width``."""
    h = [max(1, round(n * width)) for n in (256, 512, 1024)]
    return Spec("mnist", (100, h[0], h[1], h[2], 784), (784, h[2], h[1], h[0], 1), "leaky_relu",
                0.2, 0.3, "tanh", "normal", "pool", 2e-4, (0.5, 0.999), width=width)


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


# --- the implementations ------------------------------------------------------------------

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


IMPL_ORDER = ("npgan-numpy", "floor", "torch-cpu", "npgan-cupy", "torch-cuda")


def cpu_cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


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


# --- timing -------------------------------------------------------------------------------

class OtherCPU:
    """How much CPU other processes used while we measured, from /proc (Linux; else None).

    busy jiffies of the whole machine (/proc/stat) minus this process's own
    (/proc/self/stat, all its threads), divided by the wall time: the number of
    cores other processes kept busy. A benchmark sharing its cores is not a benchmark.
    """

    HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:  # user nice system idle iowait irq softirq (steal)
                v = [int(x) for x in f.readline().split()[1:8]]
            with open("/proc/self/stat") as f:
                own = f.read()
            fields = own[own.rindex(")") + 2:].split()  # utime, stime: fields 14, 15 of stat(5)
            return sum(v) - v[3] - v[4], int(fields[11]) + int(fields[12]), time.perf_counter()
        except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
            return None

    def __init__(self):
        self.start = self._read()

    def cores(self):
        """Cores other processes kept busy since this meter was made (None where unknown).

        The counters tick in jiffies (10 ms), so under 5 jiffies of others' time is
        counted as none: a short measurement cannot tell more.
        """
        end = self._read()
        if self.start is None or end is None or end[2] <= self.start[2]:
            return None
        other = (end[0] - self.start[0]) - (end[1] - self.start[1])
        if other < 5:
            return 0.0
        return other / self.HZ / (end[2] - self.start[2])


def other_cpu_now(seconds=1.0):
    """Cores other processes keep busy, sampled over ``seconds``."""
    meter = OtherCPU()
    time.sleep(seconds)
    return meter.cores()


def time_steps(runner, repeats, warmup, min_block_s, k=None):
    """Per-step times of ``repeats`` blocks of k steps, after ``warmup`` untimed blocks.

    k (steps per block) is chosen so a block lasts at least ``min_block_s`` unless given.
    Returns a dict: times_ms (one per block), steps_per_block, first_ms (the first step).
    """
    step, sync = runner.step, runner.sync
    gc.collect()
    perf = time.perf_counter
    sync()
    t0 = perf()
    step()
    sync()
    first = perf() - t0
    if k is None:
        t0 = perf()
        step()
        sync()
        one = perf() - t0
        k = max(1, min(10_000, math.ceil(min_block_s / max(one, 1e-9))))
    for _ in range(warmup * k):
        step()
    sync()
    times = []
    for _ in range(repeats):
        t0 = perf()
        for _ in range(k):
            step()
        sync()
        times.append(1e3 * (perf() - t0) / k)
    return {"times_ms": times, "steps_per_block": k, "first_ms": 1e3 * first}


class Bench:
    """Runs and caches the measurements of one invocation.

    The implementations of one case are timed in ``rounds`` rounds, each round a
    warm-up and a share of the timed blocks of every implementation in turn, so a
    machine that speeds up or slows down over a minute (a shared host, turbo
    clocks) moves all of them alike, and the ratios stay honest. Between two
    implementations the run pauses ``settle_s`` seconds, for the thread pools of the
    last one (OpenBLAS, OpenMP) to stop spinning.
    """

    #: other processes busier than this (in cores) during a measurement make it "contended"
    CONTENDED = 0.1

    def __init__(self, impls, pool, repeats, warmup, min_block_s, retries=0, retry_wait_s=20,
                 rounds=5, settle_s=0.2, log=print):
        self.impls = {i.name: i for i in impls}
        self.pool, self.repeats, self.warmup, self.min_block_s = pool, repeats, warmup, min_block_s
        self.retries, self.retry_wait_s = retries, retry_wait_s
        self.rounds, self.settle_s = max(1, min(rounds, repeats)), settle_s
        self.cache = {}
        self.log = log

    def _time_row(self, names, spec, batch):
        """{name: timing dict} for the implementations ``names`` on one case, interleaved."""
        runners = {}
        try:
            for name in names:
                runners[name] = self.impls[name].build(spec, batch, self.pool)
            size, extra = divmod(self.repeats, self.rounds)  # timed blocks per round
            per_round = [size + (r < extra) for r in range(self.rounds)]
            found = {name: {"times_ms": [], "round_ms": [], "steps_per_block": None,
                            "first_ms": None} for name in names}
            meter = OtherCPU()
            for r, repeats in enumerate(per_round):
                for name in names:
                    runner, got = runners[name], found[name]
                    runner.activate()
                    time.sleep(self.settle_s)
                    t = time_steps(runner, repeats, self.warmup, self.min_block_s,
                                   k=got["steps_per_block"])
                    got["times_ms"] += t["times_ms"]
                    got["round_ms"].append(statistics.median(t["times_ms"]))
                    got["steps_per_block"] = t["steps_per_block"]
                    if r == 0:
                        got["first_ms"] = t["first_ms"]
            other = meter.cores()
        finally:
            for runner in reversed(list(runners.values())):
                runner.close()
        for got in found.values():
            times = got.pop("times_ms")
            got.update(median_ms=statistics.median(times), min_ms=min(times), max_ms=max(times),
                       repeats=len(times), rounds=len(per_round), other_cpu_cores=other)
        return found, other

    def row(self, spec, batch, peaks=()):
        """{impl: timing or None} for every implementation on one case (None: skipped).

        ``peaks``: extra Impls (a large matmul, see :func:`build_peak`) timed in the same
        rounds, so the case's percentage of peak compares numbers taken at the same time.
        """
        for impl in peaks:
            self.impls.setdefault(impl.name, impl)
        names = [n for n in IMPL_ORDER if n in self.impls] + [i.name for i in peaks]
        todo = [n for n in names if self.impls[n].build is not None
                and (n, spec, batch) not in self.cache]
        if todo:
            for attempt in range(self.retries + 1):
                found, other = self._time_row(todo, spec, batch)
                contended = other is not None and other > self.CONTENDED
                if not contended or attempt == self.retries:
                    break
                self.log(f"  {case_label(spec, batch)}: other processes used {other:.2f} cores "
                         f"meanwhile; measuring again in {self.retry_wait_s} s")
                time.sleep(self.retry_wait_s)
            for name, t in found.items():
                t["contended"], t["attempts"] = contended, attempt + 1
                flops = getattr(self.impls[name], "flops", None) or step_flops(spec, batch)["total"]
                t["gflops_per_s"] = flops / (t["median_ms"] * 1e-3) / 1e9
                self.cache[(name, spec, batch)] = t
                flag = (f"  CONTENDED ({t['other_cpu_cores']:.2f} cores used by others)"
                        if contended else "")
                self.log(f"  {case_label(spec, batch):<34} {self.impls[name].label:<27} "
                         f"{t['median_ms']:9.3f} ms  [{t['min_ms']:.3f} .. {t['max_ms']:.3f}]"
                         f"  x{t['steps_per_block']}/block  {t['gflops_per_s']:7.1f} GFLOP/s{flag}")
        return {n: self.cache.get((n, spec, batch)) for n in names}


# --- the matmul peak ----------------------------------------------------------------------

def _peak(matmul, sync, n, repeats):
    matmul()
    sync()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        matmul()
        sync()
        rates.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return {"n": n, "repeats": repeats, "best_gflops": max(rates),
            "median_gflops": statistics.median(rates), "rates": rates}


def merge_peaks(first, second):
    """The peaks of two measurements (start and end of a run) as one: best and median of all."""
    merged = {}
    for key, p in first.items():
        rates = p["rates"] + second.get(key, {}).get("rates", [])
        merged[key] = dict(p, rates=rates, repeats=len(rates), best_gflops=max(rates),
                           median_gflops=statistics.median(rates))
    return merged


def matmul_peaks(n, repeats, torch_mod, gpu_numpy_like):
    """float32 n x n matmul rates: NumPy (the CPU peak), PyTorch CPU, and the GPU where present."""
    rng = np.random.Generator(np.random.PCG64(2))
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    peaks = {"cpu": dict(_peak(lambda: np.matmul(a, b, out=c), lambda: None, n, repeats),
                         library="NumPy (the BLAS npgan uses)")}
    if torch_mod is not None:
        ta, tb = torch_mod.from_numpy(a), torch_mod.from_numpy(b)
        tc = torch_mod.empty((n, n))
        peaks["cpu_torch"] = dict(_peak(lambda: torch_mod.mm(ta, tb, out=tc), lambda: None, n,
                                        repeats), library="PyTorch CPU")
    if gpu_numpy_like == "cupy":
        import cupy
        ga, gb = cupy.asarray(a), cupy.asarray(b)
        gc_ = cupy.empty((n, n), cupy.float32)
        sync = cupy.cuda.get_current_stream().synchronize
        peaks["gpu"] = dict(_peak(lambda: cupy.matmul(ga, gb, out=gc_), sync, n, repeats),
                            library="CuPy (the BLAS npgan uses on the GPU)")
        del ga, gb, gc_
    elif gpu_numpy_like == "torch-cuda":
        ta, tb = torch_mod.from_numpy(a).cuda(), torch_mod.from_numpy(b).cuda()
        peaks["gpu"] = dict(_peak(lambda: torch_mod.mm(ta, tb), torch_mod.cuda.synchronize, n,
                                  repeats), library="PyTorch CUDA")
    return peaks


# --- resident memory ----------------------------------------------------------------------

def rss_kib():
    """This process's resident set size in KiB (VmRSS of /proc/self/status), None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def memory_check(backends, batch, steps_a, steps_b, pool, log=print):
    """RSS after ``steps_a`` and ``steps_b`` npgan MNIST steps, per backend, and the growth."""
    out = []
    for name in backends:
        runner = build_npgan(MNIST, batch, pool, name)
        try:
            pool_bytes = None
            for i in range(steps_b):
                runner.step()
                if i + 1 == steps_a:
                    runner.sync()
                    gc.collect()
                    rss_a = rss_kib()
                    if name == "cupy":
                        import cupy
                        pool_bytes = [cupy.get_default_memory_pool().used_bytes()]
            runner.sync()
            gc.collect()
            rss_b = rss_kib()
            if name == "cupy":
                pool_bytes.append(cupy.get_default_memory_pool().used_bytes())
        finally:
            runner.close()
        growth = None if rss_a is None else 100.0 * (rss_b - rss_a) / rss_a
        entry = {"backend": name, "batch": batch, "steps_a": steps_a, "steps_b": steps_b,
                 "rss_a_kib": rss_a, "rss_b_kib": rss_b, "growth_pct": growth,
                 "ok": growth is not None and growth <= 5.0}
        if pool_bytes:
            entry["gpu_pool_used_bytes"] = pool_bytes
        out.append(entry)
        log(f"  memory, npgan ({name}) MNIST batch {batch}: VmRSS {rss_a} KiB after {steps_a} steps, "
            f"{rss_b} KiB after {steps_b}: {growth:+.2f}% ({'ok' if entry['ok'] else 'GROWTH > 5%'})")
    return out


def memory_in_subprocess(args, out_dir, log=print):
    """Run ``--memory`` in a fresh interpreter, so the baseline is npgan's alone; return its entries."""
    path = Path(out_dir) / "memory.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory", "--backend", args.backend,
           "--memory-json", str(path)] + (["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("  memory"):
            log(line)
    if not path.exists():
        log(f"  memory check failed to run (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return {"error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
    data = json.loads(path.read_text())
    path.unlink()
    return data


# --- the machine --------------------------------------------------------------------------

def _openblas_paths():
    """Paths of the OpenBLAS libraries loaded in this process (NumPy's), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f
                           if "openblas" in line.lower() and ".so" in line})
    except OSError:  # pragma: no cover - not Linux
        return []


def _openblas_fn(stem, restype, argtypes=()):
    """The OpenBLAS function ``stem`` (e.g. "get_num_threads") via ctypes, or None.

    Introspection without threadpoolctl: scipy-openblas (NumPy's wheels) prefixes
    and suffixes its symbols, a system OpenBLAS does not.
    """
    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (f"scipy_openblas_{stem}64_", f"openblas_{stem}64_",
                     f"scipy_openblas_{stem}", f"openblas_{stem}"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = restype
                fn.argtypes = list(argtypes)
                return fn
    return None


def _openblas_runtime():
    """Config string, core name and thread count of the OpenBLAS NumPy runs on."""
    info = {}
    for key, stem, restype in (("config", "get_config", ctypes.c_char_p),
                               ("core", "get_corename", ctypes.c_char_p),
                               ("threads", "get_num_threads", ctypes.c_int)):
        fn = _openblas_fn(stem, restype)
        if fn is not None:
            value = fn()
            info[key] = value.decode() if isinstance(value, bytes) else value
    return info or None


class limit_threads:
    """Context manager: NumPy's OpenBLAS and PyTorch on ``n`` threads, restored on exit (None: no-op).

    The quick mode runs single-threaded: its numbers mean nothing anyway, and on a
    machine whose cores are busy (a CI runner, a training job) a multi-threaded GEMM
    can stall for whole scheduler time slices at every barrier.
    """

    def __init__(self, n, torch_mod=None):
        self.n, self.torch = n, torch_mod
        self.get = _openblas_fn("get_num_threads", ctypes.c_int)
        self.set = _openblas_fn("set_num_threads", None, [ctypes.c_int])

    def __enter__(self):
        if self.n is None:
            return self
        self.saved = (self.get() if self.get and self.set else None,
                      self.torch.get_num_threads() if self.torch else None)
        if self.saved[0] is not None:
            self.set(self.n)
        if self.torch is not None:
            self.torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.n is None:
            return
        if self.saved[0] is not None:
            self.set(self.saved[0])
        if self.saved[1] is not None:
            self.torch.set_num_threads(self.saved[1])


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=str(ROOT), capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:  # no git: not worth failing a benchmark over
        return ""


def machine_info(torch_mod, impls):
    """CPU, cores, memory, BLAS, GPU and library versions, as a dict of strings."""
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "npgan": npgan.__version__}
    cpu = platform.processor() or "unknown"
    flags, ids = set(), {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("unknown", platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                for key in ("cpu family", "model", "stepping"):
                    if line.split(":")[0].strip() == key and key not in ids:
                        ids[key] = line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    info["cpu"] = cpu + (f" (family {ids['cpu family']}, model {ids['model']}, stepping "
                         f"{ids.get('stepping', '?')})" if "model" in ids and "cpu family" in ids else "")
    info["cpu_simd"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                                if f in flags) or "unknown"
    info["cores"] = f"{cpu_cores()} usable (os.cpu_count() = {os.cpu_count()})"
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory"] = f"{kib / 2 ** 20:.1f} GiB"
    except (OSError, StopIteration):  # pragma: no cover
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = " ".join(str(blas.get(k, "")) for k in ("name", "version")).strip()
        if blas.get("openblas configuration"):
            info["numpy_blas"] += f" ({blas['openblas configuration']})"
    except Exception:  # older numpy: show_config has no mode="dicts"
        info["numpy_blas"] = "unknown"
    rt = _openblas_runtime()
    if rt:
        info["openblas_runtime"] = (f"core {rt.get('core')}, {rt.get('threads')} threads; "
                                    f"{rt.get('config', '')}").strip()
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    info["thread_env"] = ", ".join(f"{k}={v}" for k, v in env.items()) or "none set"
    try:
        import matplotlib
        info["matplotlib"] = matplotlib.__version__
    except ImportError:  # pragma: no cover
        pass
    if torch_mod is not None:
        info["torch"] = torch_mod.__version__
        info["torch_threads"] = str(torch_mod.get_num_threads())
        cfg = torch_mod.__config__.show()
        blas = re.findall(r"\b((?:BLAS|LAPACK)_INFO=[^,\s]+)", cfg)
        info["torch_blas"] = ", ".join(blas) or "unknown"
        if torch_mod.cuda.is_available():
            info["torch_gpu"] = torch_mod.cuda.get_device_name(0)
    if backend.cupy is not None:
        info["cupy"] = backend.cupy.__version__
        if backend.cupy_available():
            props = backend.cupy.cuda.runtime.getDeviceProperties(0)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            info["gpu"] = f"{name}, {props['totalGlobalMem'] / 2 ** 30:.0f} GiB"
    if "gpu" not in info:
        info["gpu"] = info.get("torch_gpu", "none found")
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        dirty = _git("status", "--porcelain", "--", "npgan")
        info["npgan_commit"] = commit + (" + uncommitted changes under npgan/" if dirty else "")
    try:
        info["loadavg_start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    return info


# --- the report ---------------------------------------------------------------------------

def fmt_time(t):
    if t is None:
        return "skipped"
    mark = " †" if t.get("contended") else ""
    return f"{t['median_ms']:.3f} [{t['min_ms']:.3f}–{t['max_ms']:.3f}]{mark}"


def ratio(a, b):
    if a is None or b is None:
        return None
    return a["median_ms"] / b["median_ms"]


def round_ratios(a, b):
    """a / b for each round's medians (the two timed in the same rounds), or None."""
    if a is None or b is None or not a.get("round_ms"):
        return None
    if len(a["round_ms"]) != len(b.get("round_ms", ())):
        return None
    return [x / y for x, y in zip(a["round_ms"], b["round_ms"])]


def fmt_met(target):
    """A target's verdict for the report: yes / **no** / n/a, and whether its rounds disagree."""
    if target["met"] is None:
        return "n/a (not measured in this run)"
    verdict = "yes" if target["met"] else "**no**"
    return verdict + (" (rounds disagree)" if target.get("rounds_disagree") else "")


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}"


RATIOS = (  # (header, numerator, denominator)
    ("npgan / floor", "npgan-numpy", "floor"),
    ("npgan / PyTorch CPU", "npgan-numpy", "torch-cpu"),
    ("floor / PyTorch CPU", "floor", "torch-cpu"),
    ("npgan CuPy / PyTorch CUDA", "npgan-cupy", "torch-cuda"),
    ("npgan CuPy / npgan NumPy", "npgan-cupy", "npgan-numpy"),
)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def device_peak(peaks, device):
    """The float32 matmul peak of a device: the best rate any library reached there (for the
    CPU, NumPy's BLAS or PyTorch's), so a percentage of it is never flattered by a slow BLAS."""
    keys = ("gpu",) if device == "gpu" else ("cpu", "cpu_torch")
    rates = [peaks[k]["best_gflops"] for k in keys if k in peaks]
    return max(rates) if rates else None


def peaks_in_row(row):
    """[(name, timing)] of the peak matmuls timed in the same rounds as a case's step."""
    return [(k, row[k]) for k in ("peak-numpy", "peak-torch") if row.get(k)]


def targets(results):
    """The engine's speed targets, each with the measured value and whether it is met."""
    cases = {(c["model"], c["width"], c["batch"]): c for c in results["cases"]}
    peak = device_peak(results["peaks"], "cpu")

    def get(model, batch):
        return cases.get((model, 1.0, batch), {}).get("times", {})
    out = []
    for what, model, batch, num, den, limit in (
            ("Gaussian step, npgan / PyTorch CPU", "gaussian", 256, "npgan-numpy", "torch-cpu", 0.5),
            ("Gaussian step, npgan / floor", "gaussian", 256, "npgan-numpy", "floor", 1.5),
            ("MNIST step, npgan / PyTorch CPU", "mnist", 100, "npgan-numpy", "torch-cpu", 1.15),
            ("MNIST step, npgan / PyTorch CPU", "mnist", 1024, "npgan-numpy", "torch-cpu", 1.0)):
        t = get(model, batch)
        r = ratio(t.get(num), t.get(den))
        out.append({"target": f"{what}, batch {batch}", "limit": f"<= {limit}",
                    "measured": None if r is None else round(r, 3),
                    "met": None if r is None else r <= limit,
                    **_round_range(round_ratios(t.get(num), t.get(den)), lambda x: x <= limit, 3)})
    row = get("mnist", 1024)
    t = row.get("npgan-numpy")
    peaks_here = [timing for _, timing in peaks_in_row(row)]
    if peaks_here:  # the peak timed in the same rounds as the step: the same machine state
        peak = max(x["gflops_per_s"] for x in peaks_here)
    pct = None if t is None or not peak else 100 * t["gflops_per_s"] / peak
    per_round = None
    if t is not None and peaks_here and all(
            len(x.get("round_ms", ())) == len(t.get("round_ms", ())) > 0 for x in peaks_here):
        peak_rates = [max(r) for r in zip(*(_round_rates(x) for x in peaks_here))]
        per_round = [100 * a / b for a, b in zip(_round_rates(t), peak_rates)]
    out.append({"target": "MNIST step, npgan matmul throughput, batch 1024", "limit": ">= 55% of peak",
                "measured": None if pct is None else f"{pct:.1f}%",
                "met": None if pct is None else pct >= 55,
                **_round_range(per_round, lambda x: x >= 55, 1, "%")})
    return out


def _round_rates(t):
    """GFLOP/s in each round: the same FLOPs per step over that round's median time."""
    flops = t["gflops_per_s"] * t["median_ms"]
    return [flops / ms for ms in t["round_ms"]]


def _round_range(values, meets, digits, unit=""):
    """The spread of a target's value over the rounds: its range, and whether the rounds
    disagree on the verdict (some meet the limit, some do not: within this run's noise)."""
    if not values:
        return {"rounds": None, "rounds_disagree": None}
    return {"rounds": f"{min(values):.{digits}f}{unit}–{max(values):.{digits}f}{unit}",
            "rounds_disagree": len({bool(meets(v)) for v in values}) > 1}


def crossover(sweep, gpu, cpu):
    """The smallest batch from which ``gpu`` is faster than ``cpu`` at every larger batch, or None."""
    batches = sorted(sweep, key=int)
    wins = [sweep[b].get(gpu) is not None and sweep[b].get(cpu) is not None
            and sweep[b][gpu]["median_ms"] < sweep[b][cpu]["median_ms"] for b in batches]
    for i, b in enumerate(batches):
        if all(wins[i:]):
            return int(b)
    return None


def write_report(results, out_dir):
    """RESULTS.md from the results dict (every number in it comes from this run)."""
    meta, s = results["meta"], results["settings"]
    impls = [i for i in results["impls"]]
    avail = [i for i in impls if not i["skip_reason"]]
    labels = {i["name"]: i["label"] for i in impls}
    peaks = results["peaks"]
    L = []
    L.append("# npgan benchmarks: one GAN training step\n")
    L.append("<!-- Generated by benchmarks/bench.py: do not edit by hand, rerun the command below. -->\n")
    if s["quick"]:
        L.append("**QUICK MODE** (tiny sizes, few repeats): these numbers only prove the code runs.\n")
    L.append(f"Command: `{s['command']}`  \nDate: {meta['date']}  \n"
             f"Timing: median of {s['repeats']} timed blocks, taken in {s.get('rounds', 1)} rounds that "
             f"interleave the implementations, each round after {s['warmup']} warm-up block(s); "
             f"a block is k consecutive steps, k chosen so a block lasts >= {s['min_block_s'] * 1e3:g} ms "
             f"(k = 1 for every MNIST case); the device is synchronised before the clock is read. "
             f"Times in ms per step: median [min–max]. Total run time {results['elapsed_s']:.0f} s.\n")
    c = results.get("contention") or {}
    if c.get("max_other_cores") is not None:
        L.append(f"Other processes on this machine used at most {c['max_other_cores']:.2f} cores "
                 f"during any timed measurement (from /proc/stat). A measurement during which they "
                 f"used more than {Bench.CONTENDED} core is "
                 + (f"retried (up to {s['retries']} times, {s['retry_wait_s']} s apart); "
                    if s["retries"] else "flagged (no retries in this mode); ")
                 + f"{c['contended']} of {c['measurements']} stayed contended"
                 + (" and are marked †: treat those with suspicion." if c["contended"] else ".") + "\n")
    L.append("## Machine\n")
    keys = ("cpu", "cpu_simd", "cores", "memory", "platform", "numpy_blas", "openblas_runtime",
            "thread_env", "torch_blas", "torch_threads", "gpu", "python", "numpy", "npgan",
            "npgan_commit", "torch", "cupy", "matplotlib", "other_cpu_at_start", "loadavg_start",
            "loadavg_end")
    L.append(md_table(["", ""], [(k, meta[k]) for k in keys if k in meta]) + "\n")
    skipped = [i for i in impls if i["skip_reason"]]
    if skipped:
        L.append("Skipped here:\n")
        L += [f"* **{i['label']}**: {i['skip_reason']}" for i in skipped]
        if any(i["device"] == "gpu" for i in skipped):
            L.append("\nThe GPU columns below are therefore empty (\"skipped\").")
        L.append("")
    L.append("## Step time (ms)\n")
    cases = results["cases"]
    names = [i["name"] for i in impls]
    L.append(md_table(["case"] + [labels[n] for n in names],
                      [[c["label"]] + [fmt_time(c["times"].get(n)) for n in names] for c in cases]) + "\n")
    L.append("## Ratios (time / reference time; below 1: the first is faster)\n")
    L.append(md_table(["case"] + [h for h, _, _ in RATIOS],
                      [[c["label"]] + [fmt_ratio(ratio(c["times"].get(a), c["times"].get(b)))
                                       for _, a, b in RATIOS] for c in cases]) + "\n")
    L.append("## Targets for the engine\n")
    L.append(md_table(["target", "limit", "measured", "range over rounds", "met"],
                      [(t["target"], t["limit"], "–" if t["measured"] is None else t["measured"],
                        t.get("rounds") or "–", fmt_met(t)) for t in results["targets"]]) + "\n")
    L.append("Range over rounds: the lowest and highest value computed from one round's medians "
             "on its own (the implementations of a case are timed in the same rounds). Where some "
             "rounds meet the limit and others do not, the verdict is within this run's noise, "
             "and the table says so.\n")
    target_row = next((c["times"] for c in cases if c["model"] == "mnist" and c["batch"] == 1024
                       and c["width"] == 1.0), {})
    alongside = peaks_in_row(target_row)
    if alongside:
        L.append("The throughput target divides by the peak timed in the same rounds as the MNIST "
                 "batch-1024 step (the same machine state), the better of: " +
                 ", ".join(f"{'NumPy' if k == 'peak-numpy' else 'PyTorch'} "
                           f"{t['gflops_per_s']:.1f} GFLOP/s" for k, t in alongside) +
                 " (medians of their blocks).\n")
    L.append("## Matmul throughput\n")
    rows = []
    for key, p in peaks.items():
        rows.append((p["library"], f"{p['n']} x {p['n']}", f"{p['best_gflops']:.1f}",
                     f"{p['median_gflops']:.1f}"))
    L.append("Peak: a float32 n x n matmul, best (and median) of "
             f"{next(iter(peaks.values()))['repeats']} (half at the start of the run, half at the "
             "end, each half after one warm-up). The percentages below are taken against the "
             "best rate any library reached on the device (for the CPU columns the better of "
             "NumPy's and PyTorch's, for the GPU columns the GPU's).\n")
    L.append(md_table(["library", "size", "best GFLOP/s", "median GFLOP/s"], rows) + "\n")
    L.append("Achieved: the step's matmul FLOPs divided by its median time.\n")
    hdr = ["case", "matmul GFLOP / step"] + [labels[i["name"]] for i in avail]
    body = []
    for c in cases:
        row = [c["label"], f"{c['flops']['total'] / 1e9:.4g}"]
        for i in avail:
            t = c["times"].get(i["name"])
            pk = device_peak(peaks, i["device"])
            row.append("–" if t is None else
                       f"{t['gflops_per_s']:.1f} GFLOP/s ({100 * t['gflops_per_s'] / pk:.0f}%)" if pk
                       else f"{t['gflops_per_s']:.1f} GFLOP/s")
        body.append(row)
    L.append(md_table(hdr, body) + "\n")
    L.append(textwrap.dedent("""\
        How the FLOPs are counted: 2 M N K per matmul of an (M x K) by a (K x N) matrix, for
        the matmuls the step actually performs, which are the same in npgan, PyTorch and the
        floor: in the D step, G's forward on N rows (no graph), D's forward on the N real and
        the N fake rows, D's weight gradients dW = dZ^T H for every layer (2N rows) and the
        input gradients dH = dZ W for every layer but the first (its input is data or the
        detached fake); in the G step, the forwards of G and D on N rows, the input gradients
        of all of D's layers (the gradient must reach G's output) but no weight gradient of
        D, then G's weight gradients and the input gradients of G's layers but the first
        (noise). Bias additions, activations, dropout, the loss and Adam are elementwise and
        not counted, so the percentage is a lower bound on how busy the machine is.
        """))
    sw = results.get("sweep_batch") or {}
    L.append("## Scaling\n")
    L.append("![step time against batch size and width](scaling.png)\n")
    if sw:
        batches = sorted(int(b) for b in sw)
        L.append("MNIST MLP GAN, step time (ms, median) against batch size:\n")
        L.append(md_table(["batch"] + [labels[i["name"]] for i in avail],
                          [[b] + [fmt_time(sw[str(b)].get(i["name"])).split(" ")[0] for i in avail]
                           for b in batches]) + "\n")
    sw_w = results.get("sweep_width") or {}
    if sw_w:
        L.append(f"MNIST MLP GAN at batch {results['sweep_width_batch']}, step time (ms, median) "
                 "against a factor on every hidden width (G 256w-512w-1024w, D 1024w-512w-256w):\n")
        L.append(md_table(["width factor"] + [labels[i["name"]] for i in avail],
                          [[w] + [fmt_time(sw_w[w].get(i["name"])).split(" ")[0] for i in avail]
                           for w in sorted(sw_w, key=float)]) + "\n")
    L.append(results["crossover_text"] + "\n")
    L.append("## Resident memory\n")
    mem = results.get("memory")
    if isinstance(mem, list) and mem:
        L.append(md_table(["npgan backend", "batch", "VmRSS after A steps", "VmRSS after B steps",
                           "growth", "within 5%"],
                          [(m["backend"], m["batch"], f"{m['rss_a_kib'] / 1024:.1f} MiB (A = {m['steps_a']})",
                            f"{m['rss_b_kib'] / 1024:.1f} MiB (B = {m['steps_b']})",
                            f"{m['growth_pct']:+.2f}%", "yes" if m["ok"] else "**no**") for m in mem]) + "\n")
        L.append("Measured in a fresh interpreter running only npgan's MNIST step "
                 "(`bench.py --memory`), VmRSS read from /proc/self/status after gc.collect().\n")
    else:
        L.append(f"Not measured: {mem}\n")
    L.append("## Notes\n")
    L.append(textwrap.dedent("""\
        * Every implementation runs the same step: D update on a real batch and a fake batch
          G(z) (no gradient into G), then G update with fresh noise through D (no weight
          gradient for D), non-saturating loss from logits in the stable softplus form, Adam
          (PyTorch's rule) on both, float32, dropout active in D in both updates. Each samples
          its own noise and dropout masks with its own generator, and reads real batches the
          same way (consecutive row views of one random pool; for the Gaussian, fresh
          N(4, 1.25^2) samples).
        * npgan is timed through `GANTrainer.step()`, what a user runs (it also reads the two
          losses and D's mean outputs back as Python floats). PyTorch returns its two losses with
          `.item()`; the floor returns its two losses as floats.
        * The floor (benchmarks/floor.py) runs D once over the 2N stacked real and fake rows in
          the D step: the same arithmetic and matmul FLOPs as two passes, in fewer calls. Its
          gradients equal npgan's to 1e-10 in float64 (tests/test_benchmarks.py).
        * npgan hands the large arrays of one step to the next (`npgan.backend.ArrayCache`)
          instead of freeing them to glibc's malloc, which returns big blocks to the operating
          system and faults them in again page by page. It does not change malloc's settings:
          PyTorch and the floor, in the same process, run with glibc's defaults (the floor
          allocates nothing per step anyway).
        * PyTorch CPU runs with `torch.set_num_threads(<usable cores>)`; NumPy's BLAS uses its
          default thread count (shown above). Elementwise NumPy work is single-threaded.
        """))
    path = Path(out_dir) / "RESULTS.md"
    path.write_text("\n".join(L))
    return path


def plot_scaling(results, path):
    """scaling.png: step time and GFLOP/s against batch size, step time against width."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter
    impls = [i for i in results["impls"] if not i["skip_reason"]]
    fig = Figure(figsize=(16, 5.2))
    FigureCanvasAgg(fig)
    ax_t, ax_f, ax_w = fig.subplots(1, 3)
    colors = {"npgan-numpy": "tab:blue", "floor": "tab:green", "torch-cpu": "tab:orange",
              "npgan-cupy": "tab:blue", "torch-cuda": "tab:orange"}
    sw, sw_w = results["sweep_batch"], results["sweep_width"]
    for i in impls:
        style = dict(color=colors[i["name"]], marker="o" if i["device"] == "cpu" else "s",
                     linestyle="-" if i["device"] == "cpu" else "--",
                     label=f"{i['label']} ({i['device'].upper()})")
        pts = [(int(b), sw[b][i["name"]]) for b in sw if sw[b].get(i["name"])]
        pts.sort()
        if pts:
            ax_t.plot([b for b, _ in pts], [t["median_ms"] for _, t in pts], **style)
            ax_f.plot([b for b, _ in pts], [t["gflops_per_s"] for _, t in pts], **style)
        pts = sorted((float(w), sw_w[w][i["name"]]) for w in sw_w if sw_w[w].get(i["name"]))
        if pts:
            ax_w.plot([w for w, _ in pts], [t["median_ms"] for _, t in pts], **style)
    for key, ls in (("cpu", ":"), ("gpu", "-.")):
        p = results["peaks"].get(key)
        if p:
            ax_f.axhline(p["best_gflops"], color="gray", linestyle=ls,
                         label=f"{key.upper()} matmul peak ({p['library'].split(' (')[0]})")
    x = results.get("crossover_batch")
    if x is not None:
        ax_t.axvline(x, color="red", alpha=0.5)
        ax_t.annotate(f"GPU wins from batch {x}", (x, ax_t.get_ylim()[1]), color="red",
                      ha="left", va="top", fontsize=9)
    ax_t.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per step (median)",
             title="MNIST MLP GAN: step time against batch")
    ax_f.set(xscale="log", xlabel="batch size", ylabel="matmul GFLOP/s achieved",
             title="matmul throughput against batch")
    ax_w.set(xscale="log", yscale="log", xlabel="hidden-width factor",
             ylabel="ms per step (median)",
             title=f"step time against width (batch {results['sweep_width_batch']})")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    batches = sorted(int(b) for b in sw)
    widths = sorted(float(w) for w in sw_w)
    for ax, ticks in ((ax_t, batches), (ax_f, batches), (ax_w, widths)):
        if ticks:
            ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(plain)
        if ax.get_yscale() == "log":  # label 20, 50, 200, ... between the decades
            ax.yaxis.set_minor_formatter(FuncFormatter(
                lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    gpu_skips = [i for i in results["impls"] if i["device"] == "gpu" and i["skip_reason"]]
    note = ""
    if gpu_skips and not any(i["device"] == "gpu" for i in impls):
        note = "GPU curves skipped: " + gpu_skips[0]["skip_reason"].removeprefix("skipped: ")
    elif not gpu_skips and not any(i["device"] == "gpu" for i in impls):
        note = "GPU curves not requested (--backend numpy)"
    if note:
        fig.text(0.5, 0.005, textwrap.fill(note, 190), ha="center", va="bottom", fontsize=8,
                 color="dimgray")
    fig.suptitle(f"npgan benchmarks on {results['meta']['cpu']}"
                 + (f" + {results['meta']['gpu']}" if results["meta"].get("gpu", "none found")
                    != "none found" else ""), fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=100)


def print_summary(results, log=print):
    labels = {i["name"]: i["label"] for i in results["impls"]}
    log("\nStep time, ms (median [min-max]):")
    for c in results["cases"]:
        log(f"  {c['label']:<28} " + "   ".join(f"{labels[n]}: {fmt_time(t)}"
                                                 for n, t in c["times"].items() if n in labels))
    log("\nRatios (time / reference time):")
    w = max(len(h) for h, _, _ in RATIOS)
    log("  " + " " * 28 + "".join(f"{h:>{w + 2}}" for h, _, _ in RATIOS))
    for c in results["cases"]:
        log(f"  {c['label']:<28}" + "".join(
            f"{fmt_ratio(ratio(c['times'].get(a), c['times'].get(b))):>{w + 2}}" for _, a, b in RATIOS))
    log("\nTargets:")
    for t in results["targets"]:
        met = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met")
        spread = f" (rounds {t['rounds']}{', disagree' if t.get('rounds_disagree') else ''})" \
            if t.get("rounds") else ""
        log(f"  {t['target']:<52} {t['limit']:<16} measured {t['measured']}{spread}  {met}")


# --- the command line ---------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Time one GAN training step (npgan, the hand-written floor, PyTorch) and "
                    "write RESULTS.md, results.json and scaling.png.")
    p.add_argument("--backend", choices=["numpy", "cupy", "all"], default="all",
                   help="npgan backends to time (and the references on their devices); "
                        "'all' skips CuPy, saying why, where it cannot run (default)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed blocks per measurement (default 40; 3 with --quick)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed warm-up blocks per measurement (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny mode: small batches, few repeats (numbers not meaningful)")
    p.add_argument("--out", default=None,
                   help="directory for RESULTS.md, results.json, scaling.png "
                        "(default: benchmarks/; with --quick a new temporary directory)")
    p.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if installed")
    p.add_argument("--memory", action="store_true",
                   help="only the memory check: VmRSS after 200 and 2000 npgan MNIST steps")
    p.add_argument("--targets", action="store_true",
                   help="only the cases the targets are measured on (Gaussian batch 256, MNIST "
                        "batch 100 and 1024), timed as in a full run; prints them, writes nothing "
                        "(a few minutes: for checking an engine change)")
    p.add_argument("--memory-json", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.targets and (args.out or args.memory):
        p.error("--targets prints its table and writes no files, so it takes neither --out nor "
                "--memory; run without --targets for the full report")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 40
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    return args


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


def main(argv=None, log=print):
    args = parse_args(argv)
    cfg = sizes(args.quick)
    if args.backend == "cupy":  # asked for explicitly: fail loudly, as npgan does
        reason = backend.cupy_unavailable_reason()
        if reason:
            log(f"bench: --backend cupy cannot run here: {reason}")
            return 2
    pool = Pool(cfg["pool_rows"])

    if args.memory:
        backends = [b for b in ("numpy", "cupy") if args.backend in (b, "all")
                    and (b == "numpy" or backend.cupy_unavailable_reason() is None)]
        batch, a, b = cfg["memory"]
        with limit_threads(1 if args.quick else None):
            mem = memory_check(backends, batch, a, b, pool, log)
        if args.memory_json:
            Path(args.memory_json).write_text(json.dumps(mem))
        return 0 if all(m["ok"] for m in mem) else 1

    torch = load_torch(args.no_torch)
    with limit_threads(1 if args.quick else None, torch[0]):
        if args.targets:
            return run_targets(args, cfg, pool, torch, log)
        return run_suite(args, cfg, pool, torch, argv, log)


def target_cases(cfg, quick):
    """The cases of the targets: Gaussian batch 256, MNIST batch 100 and 1024 (quick: the quick
    run's cases). The last is the throughput target's, timed with the peak matmul in its rounds."""
    return cfg["cases"] if quick else [(GAUSSIAN, 256), (MNIST, 100), (MNIST, 1024)]


def time_cases(bench, cases, torch_mod, backend_name, n):
    """Time each (spec, batch) case; the last is timed with the peak matmul in its rounds."""
    in_row_peaks = [Impl("peak-numpy", "NumPy matmul", "cpu", lambda *a: build_peak("numpy", n),
                         flops=2 * n ** 3)]
    if torch_mod is not None and backend_name in ("numpy", "all"):
        in_row_peaks.append(Impl("peak-torch", "PyTorch matmul", "cpu",
                                 lambda *a: build_peak("torch", n, torch_mod), flops=2 * n ** 3))
    out = []
    for i, (spec, batch) in enumerate(cases):
        target_case = spec.name == "mnist" and i == len(cases) - 1
        times = bench.row(spec, batch, peaks=in_row_peaks if target_case else ())
        out.append({"label": case_label(spec, batch), "model": spec.name, "width": spec.width,
                    "batch": batch, "flops": step_flops(spec, batch), "times": times})
    return out


def run_targets(args, cfg, pool, torch, log):
    """``--targets``: the target cases only, timed as in a full run, and the verdicts printed."""
    start = time.perf_counter()
    impls = make_impls(args.backend, torch)
    previous_backend, previous_dtype = backend.get_backend(), backend.get_default_dtype()
    try:
        bench = Bench(impls, pool, args.repeats, args.warmup, cfg["min_block_s"],
                      retries=0 if args.quick else 2, settle_s=0 if args.quick else 0.2, log=log)
        log("step times (the target cases):")
        cases = time_cases(bench, target_cases(cfg, args.quick), torch[0], args.backend,
                           cfg["peak_n"])
    finally:
        backend.set_backend(previous_backend)
        backend.set_default_dtype(previous_dtype)
    results = {"impls": [{"name": i.name, "label": i.label} for i in impls], "peaks": {},
               "cases": cases}
    results["targets"] = targets(results)
    print_summary(results, log)
    log(f"\n{time.perf_counter() - start:.0f} s; nothing written (a full run writes RESULTS.md)")
    return 0


def run_suite(args, cfg, pool, torch, argv, log):
    """The full (or quick) run: peaks, step times, sweeps, memory; writes the report."""
    start = time.perf_counter()
    out_dir = Path(args.out) if args.out else (
        Path(tempfile.mkdtemp(prefix="npgan-bench-quick-")) if args.quick else ROOT / "benchmarks")
    out_dir.mkdir(parents=True, exist_ok=True)
    impls = make_impls(args.backend, torch)
    meta = machine_info(torch[0], impls)
    command = "python3 " + " ".join(shlex.quote(a) for a in (
        [os.path.relpath(Path(__file__).resolve(), ROOT)] + list(argv if argv is not None else sys.argv[1:])))
    log(f"npgan benchmark{' (quick)' if args.quick else ''}: {meta['cpu']}, {meta['cores']}, "
        f"GPU: {meta['gpu']}; writing to {out_dir}")
    for i in impls:
        if i.skip_reason:
            log(f"  {i.label}: {i.skip_reason}")
    busy = None if args.quick else other_cpu_now()
    if busy is not None:
        meta["other_cpu_at_start"] = f"{busy:.2f} cores busy with other processes"
        if busy > Bench.CONTENDED:
            log(f"  WARNING: other processes keep {busy:.2f} cores busy: timings taken now are "
                f"unreliable (contended measurements are retried, then flagged)")
    previous_backend = backend.get_backend()
    previous_dtype = backend.get_default_dtype()
    try:
        gpu_kind = ("cupy" if any(i.name == "npgan-cupy" and i.build for i in impls) else
                    "torch-cuda" if any(i.name == "torch-cuda" and i.build for i in impls) else None)
        log("matmul peak:")
        peaks = matmul_peaks(cfg["peak_n"], cfg["peak_repeats"],
                             torch[0] if args.backend in ("numpy", "all") else None, gpu_kind)
        if args.backend == "cupy":
            peaks.pop("cpu_torch", None)
        for p in peaks.values():
            log(f"  {p['library']:<40} {p['n']}x{p['n']}: best {p['best_gflops']:.1f} GFLOP/s, "
                f"median {p['median_gflops']:.1f}")
        bench = Bench(impls, pool, args.repeats, args.warmup, cfg["min_block_s"],
                      retries=0 if args.quick else 2, settle_s=0 if args.quick else 0.2, log=log)
        log("step times:")
        cases = time_cases(bench, cfg["cases"], torch[0], args.backend, cfg["peak_n"])
        log("scaling sweep:")
        sweep_batch = {str(b): bench.row(MNIST, b) for b in cfg["sweep_batches"]}
        sweep_width = {f"{w:g}": bench.row(mnist_spec(w), cfg["width_batch"])
                       for w in cfg["sweep_widths"]}
        log("matmul peak, again:")
        peaks = merge_peaks(peaks, matmul_peaks(cfg["peak_n"], cfg["peak_repeats"],
                                                torch[0] if "cpu_torch" in peaks else None,
                                                gpu_kind))
        for p in peaks.values():
            log(f"  {p['library']:<40} best {p['best_gflops']:.1f} GFLOP/s of {p['repeats']}")
    finally:
        backend.set_backend(previous_backend)
        backend.set_default_dtype(previous_dtype)
    x = crossover(sweep_batch, "npgan-cupy", "npgan-numpy") if gpu_kind == "cupy" else None
    if gpu_kind is None:
        gpu_skip = next((i.skip_reason for i in impls if i.device == "gpu"), None)
        cross_text = ("No GPU curves: " + gpu_skip.removeprefix("skipped: ")) if gpu_skip else \
            "No GPU curves: --backend numpy."
    elif x is None and gpu_kind == "cupy":
        cross_text = "npgan on the GPU does not beat npgan on the CPU at any batch of the sweep."
    elif gpu_kind == "cupy":
        cross_text = f"npgan on the GPU is faster than npgan on the CPU from batch {x} up."
    else:
        cross_text = "Only PyTorch CUDA measured on the GPU (npgan's CuPy backend skipped)."
    log("memory check (a fresh interpreter):")
    memory = memory_in_subprocess(args, out_dir, log)
    try:
        meta["loadavg_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    results = {
        "meta": meta,
        "settings": {"command": command, "repeats": args.repeats, "warmup": args.warmup,
                     "quick": args.quick, "backend": args.backend,
                     "min_block_s": cfg["min_block_s"], "retries": bench.retries,
                     "rounds": bench.rounds,
                     "retry_wait_s": bench.retry_wait_s},
        "impls": [{"name": i.name, "label": i.label, "device": i.device,
                   "skip_reason": i.skip_reason} for i in impls],
        "peaks": peaks, "cases": cases, "sweep_batch": sweep_batch, "sweep_width": sweep_width,
        "sweep_width_batch": cfg["width_batch"], "crossover_batch": x, "crossover_text": cross_text,
        "memory": memory,
    }
    others = [t["other_cpu_cores"] for t in bench.cache.values() if t.get("other_cpu_cores") is not None]
    results["contention"] = {"max_other_cores": max(others) if others else None,
                             "contended": sum(bool(t.get("contended")) for t in bench.cache.values()),
                             "measurements": len(bench.cache)}
    results["targets"] = targets(results)
    results["elapsed_s"] = time.perf_counter() - start
    plot_scaling(results, out_dir / "scaling.png")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report = write_report(results, out_dir)
    print_summary(results, log)
    log(f"\n{cross_text}\nwrote {report}, {out_dir / 'results.json'}, {out_dir / 'scaling.png'} "
        f"in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    # Ctrl-C during the long run: one line and exit status 130, no traceback (the partial
    # measurements are dropped; a run writes its files only at the end)
    runs.run_script(main, "bench.py")
