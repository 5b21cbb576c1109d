#!/usr/bin/env python3
"""The measurements behind the engine's speed choices, each against the idiom it replaced.

    python3 benchmarks/idioms.py            # a few seconds
    python3 benchmarks/idioms.py --quick    # tiny sizes (what the tests run; numbers not meaningful)

Each line times two ways of doing the same thing, in the same run, and prints
their ratio:

* reusing large arrays (npgan.speed.ArrayCache) against letting malloc free
  them: page faults per MNIST step at batch 1024;
* LeakyReLU's slope as [x > 0] (1 - s) + s against ``xp.where(x > 0, 1, s)``;
* a dropout keep mask from raw 32-bit random integers against float uniforms;
* the array method ``a.dot`` (what ``npgan.speed.matmul_2d`` calls) against ``np.matmul``
  for a thin (N, 1) x (1, 16) product.
"""
import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: measure the npgan of this checkout
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from npgan import backend, speed  # noqa: E402

from benchmarks.impls import build_npgan  # noqa: E402
from benchmarks.specs import MNIST, Pool  # noqa: E402


def best_time(fn, repeats, number):
    """The best over ``repeats`` of the mean time of ``number`` calls of fn, in seconds."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def minor_faults():
    """Minor page faults of this process so far (a fresh page written for the first time)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def mnist_step_faults(batch, steps, cache_on):
    """Page faults per step of npgan's MNIST step, with the array cache on or off."""
    saved = speed._cache.max_bytes
    speed.empty_cache()
    speed._cache.max_bytes = saved if cache_on else 0  # 0: nothing kept, plain numpy.empty
    runner = build_npgan(MNIST, batch, Pool(max(2 * batch, 64)), "numpy")
    try:
        for _ in range(2):
            runner.step()
        f0 = minor_faults()
        for _ in range(steps):
            runner.step()
        return (minor_faults() - f0) / steps
    finally:
        runner.close()
        speed.empty_cache()
        speed._cache.max_bytes = saved


def main(argv=None, log=print):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, few repeats")
    args = p.parse_args(argv)
    n, repeats, number = (4096, 2, 5) if args.quick else (1 << 20, 5, 20)
    batch, steps = (8, 2) if args.quick else (1024, 5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n).astype(np.float32)
    s = 0.2
    results = []

    def compare(what, new_label, new, old_label, old, unit):
        results.append((what, new_label, new, old_label, old, unit))
        ratio = f"{old / new:.1f}x" if new > 0 else "-- (the first is 0)"
        log(f"{what}:\n  {new_label:<44} {new:10.3f} {unit}\n  {old_label:<44} {old:10.3f} {unit}"
            f"\n  ratio {ratio}")

    # page faults only: a few steps' times on a shared machine say less than the count
    compare(f"MNIST step, batch {batch}: page faults per step", "array cache on",
            mnist_step_faults(batch, steps, True), "array cache off (malloc frees)",
            mnist_step_faults(batch, steps, False), "faults")

    def slope_arith():
        m = np.greater(x, 0, out=np.empty_like(x))
        m *= 1 - s
        m += s
        return m
    scalars = (np.float32(1), np.float32(s))
    per_m = 1e3 * (1 << 20) / n  # ms per million entries
    compare("LeakyReLU slope, ms per million entries", "[x > 0] (1 - s) + s",
            best_time(slope_arith, repeats, number) * per_m, "np.where(x > 0, 1, s)",
            best_time(lambda: np.where(x > 0, *scalars), repeats, number) * per_m, "ms")

    gen = backend.Generator(0, "numpy")
    compare("dropout keep mask (p = 0.3), ms per million entries", "raw 32-bit integers >= threshold",
            best_time(lambda: speed.keep_mask(gen, (n,), 0.3), repeats, number) * per_m,
            "float32 uniforms >= p",
            best_time(lambda: gen.random((n,), np.float32) >= 0.3, repeats, number) * per_m, "ms")

    a = rng.standard_normal((512, 1)).astype(np.float32)
    w = rng.standard_normal((1, 16)).astype(np.float32)
    out = np.empty((512, 16), np.float32)
    compare("(512, 1) x (1, 16) product, microseconds", "a.dot",
            best_time(lambda: a.dot(w, out=out), repeats, number * 50) * 1e6, "np.matmul",
            best_time(lambda: np.matmul(a, w, out=out), repeats, number * 50) * 1e6, "us")
    return results


if __name__ == "__main__":
    main()
