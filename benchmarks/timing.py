"""How the benchmark measures: interleaved rounds, settling, medians, and the matmul peak.

Each timing: one first step (reported apart: allocations, caches), a calibration step,
then timed blocks in rounds, each round a warm-up and a share of the timed blocks of every
implementation in turn (:class:`Bench`); a block is k consecutive steps, k chosen so a block
lasts at least ``min_block_s`` (:func:`time_steps`), the device synchronised before the clock
is read. While it measures, :class:`OtherCPU` watches how busy other processes keep the
machine. :func:`matmul_peaks` measures the float32 matmul peak the throughput is compared with.
The peaks run on host NumPy arrays (and CuPy's or PyTorch's on a GPU), so this module imports
numpy directly.
"""
import gc
import math
import os
import statistics
import time

import numpy as np

from benchmarks.impls import IMPL_ORDER
from benchmarks.specs import case_label, step_flops
from npgan import backend

__all__ = ["OtherCPU", "other_cpu_now", "time_steps", "Bench", "merge_peaks", "matmul_peaks"]


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


def time_steps(runner, repeats, warmup, min_block_s, k=None, collect=True):
    """Per-step times of ``repeats`` blocks of k steps, after ``warmup`` untimed blocks.

    k (steps per block) is chosen so a block lasts at least ``min_block_s`` unless given.
    ``collect``: run Python's garbage collector first (with PyTorch and matplotlib loaded it
    takes 0.1 s: a full run pays it, the quick mode skips it).
    Returns a dict: times_ms (one per block), steps_per_block, first_ms (the first step).
    """
    step, sync = runner.step, runner.sync
    if collect:
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
    last one (OpenBLAS, OpenMP) to stop spinning, and collects Python's garbage
    (``collect``) before each implementation's share of a round.
    """

    #: other processes busier than this (in cores) during a measurement make it "contended"
    CONTENDED = 0.1

    def __init__(self, impls, pool, repeats, warmup, min_block_s, retries=0, retry_wait_s=20,
                 rounds=5, settle_s=0.2, log=print, collect=True):
        self.impls = {i.name: i for i in impls}
        self.collect = collect
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
                                   k=got["steps_per_block"], collect=self.collect)
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

    def row(self, spec, batch, extra=()):
        """{impl: timing or None} for every implementation on one case (None: skipped).

        ``extra``: more Impls timed in the same rounds, after the columns: a large matmul (see
        :func:`benchmarks.impls.build_peak`), so the case's percentage of peak compares numbers
        taken at the same time; for DCGAN-B, PyTorch's other configurations and the products alone.
        """
        for impl in extra:
            self.impls.setdefault(impl.name, impl)
        names = [n for n in IMPL_ORDER if n in self.impls] + [i.name for i in extra]
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
    if gpu_numpy_like == "cupy":  # npgan's own GPU arrays, through the shim
        previous = backend.get_backend()
        backend.set_backend("cupy")
        try:
            xp = backend.get_xp()
            ga, gb = xp.asarray(a), xp.asarray(b)
            gc_ = xp.empty((n, n), xp.float32)
            peaks["gpu"] = dict(_peak(lambda: xp.matmul(ga, gb, out=gc_), backend.synchronize, n,
                                      repeats), library="CuPy (the BLAS npgan uses on the GPU)")
            del ga, gb, gc_
        finally:
            backend.set_backend(previous)
    elif gpu_numpy_like == "torch-cuda":
        ta, tb = torch_mod.from_numpy(a).cuda(), torch_mod.from_numpy(b).cuda()
        peaks["gpu"] = dict(_peak(lambda: torch_mod.mm(ta, tb), torch_mod.cuda.synchronize, n,
                                  repeats), library="PyTorch CUDA")
    return peaks
