#!/usr/bin/env python3
"""Time one full GAN training step on every implementation present; write RESULTS.md.

    python3 benchmarks/bench.py                 # the full run (a few minutes), writes benchmarks/RESULTS.md
    python3 benchmarks/bench.py --quick         # tiny sizes, a few repeats (what the tests run)
    python3 benchmarks/bench.py --memory        # only the resident-memory check
    python3 benchmarks/bench.py --dcgan         # only the DCGAN-B step: updates its section
    python3 benchmarks/bench.py --backend numpy --no-torch --repeats 50 --out /tmp/bench

The step is a D update then a G update, Adam on both, float32 (see
benchmarks/floor.py for the math), for two models:

* the 1-D Gaussian GAN: G and D with two hidden layers of 16 ELU units, uniform
  noise, data N(4, 1.25^2), batch 256: tiny matrices, so it measures overhead;
* the MNIST MLP GAN: D 784-1024-512-256-1 (LeakyReLU(0.2), Dropout(0.3)),
  G 100-256-512-1024-784 (LeakyReLU(0.2), Tanh), Gaussian noise, Adam lr 2e-4,
  betas (0.5, 0.999), random data shaped like MNIST in [-1, 1], at batch 64,
  100, 256 and 1024: at 1024 the matmuls dominate;

and the DCGAN-B step (benchmarks/floor_dcgan.py, benchmarks/dcgan.py): convolutions, transposed
convolutions and batch norm at batch 64, against PyTorch's fastest CPU configuration, then a
sweep over the batch size.

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

This file is the command line; the suite's parts, in the order a run uses them:
benchmarks/specs.py (the cases), impls.py (the implementations), machine.py (machine
facts, BLAS threads), timing.py (interleaved rounds, the matmul peak), memory.py (the
resident-memory check), analysis.py (ratios, targets), report.py (RESULTS.md) and
plot.py (scaling.png).
"""
import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: benchmark the npgan of this checkout
    sys.path.insert(0, str(ROOT))

from npgan import backend, runs  # noqa: E402

from benchmarks.analysis import gpu_crossover, targets  # noqa: E402
from benchmarks.dcgan import time_dcgan  # noqa: E402
from benchmarks.impls import Impl, build_peak, load_torch, make_impls  # noqa: E402
from benchmarks.machine import limit_threads, machine_info  # noqa: E402
from benchmarks.memory import memory_check, memory_in_subprocess  # noqa: E402
from benchmarks.plot import plot_dcgan, plot_scaling  # noqa: E402
from benchmarks.report import print_dcgan, print_summary, write_report  # noqa: E402
from benchmarks.specs import (MNIST, Pool, case_label, mnist_spec, sizes, step_flops,  # noqa: E402
                              target_cases)
from benchmarks.timing import Bench, matmul_peaks, merge_peaks, other_cpu_now  # noqa: E402


# --- the command line ---------------------------------------------------------------------

def parse_args(argv):
    """The command line's options, with the defaults of a full or a quick run filled in."""
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
    p.add_argument("--dcgan", action="store_true",
                   help="only the DCGAN-B step (a few minutes): time it and update its section of "
                        "the report in --out (default benchmarks/), whose results.json must exist")
    p.add_argument("--memory-json", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.targets and (args.out or args.memory or args.dcgan):
        p.error("--targets prints its table and writes no files, so it takes neither --out, "
                "--memory nor --dcgan; run without --targets for the full report")
    if args.dcgan and args.memory:
        p.error("--dcgan and --memory are two separate parts: run them one at a time")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 40
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def main(argv=None, log=print):
    """Run the benchmark as the command line asks; returns the exit status (``log`` prints)."""
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
        if args.dcgan:
            return run_dcgan(args, cfg, pool, torch, argv, log)
        return run_suite(args, cfg, pool, torch, argv, log)


def command_line(argv):
    """The command as it was typed, for the report."""
    return "python3 " + " ".join(shlex.quote(a) for a in (
        [os.path.relpath(Path(__file__).resolve(), ROOT)] + list(argv if argv is not None else sys.argv[1:])))


def gpu_kind_of(impls):
    """"cupy" where npgan's GPU column runs, "torch-cuda" where only PyTorch's does, else None."""
    return ("cupy" if any(i.name == "npgan-cupy" and i.build for i in impls) else
            "torch-cuda" if any(i.name == "torch-cuda" and i.build for i in impls) else None)


def run_dcgan(args, cfg, pool, torch, argv, log):
    """``--dcgan``: time the DCGAN-B cases alone and put them into the saved run in the output
    folder (results.json), then write RESULTS.md and dcgan_scaling.png again from it."""
    out_dir = Path(args.out) if args.out else ROOT / "benchmarks"
    saved = out_dir / "results.json"
    if not saved.exists():
        log(f"bench: --dcgan updates a saved run, and {saved} does not exist: run "
            f"`python3 benchmarks/bench.py{' --quick' if args.quick else ''} --out {out_dir}` first")
        return 2
    results = json.loads(saved.read_text())
    impls = make_impls(args.backend, torch)
    meta = machine_info(torch[0], impls)
    log(f"npgan benchmark, DCGAN-B only: {meta['cpu']}, {meta['cores']}; updating {out_dir}")
    previous_backend, previous_dtype = backend.get_backend(), backend.get_default_dtype()
    torch_peak = torch[0] if args.backend in ("numpy", "all") else None
    try:
        peaks = matmul_peaks(cfg["peak_n"], cfg["peak_repeats"], torch_peak, gpu_kind_of(impls))
        results["dcgan"] = time_dcgan(args, cfg, pool, impls, torch, peaks, command_line(argv),
                                      meta, log)
        results["dcgan"]["peaks"] = merge_peaks(peaks, matmul_peaks(
            cfg["peak_n"], cfg["peak_repeats"], torch_peak, gpu_kind_of(impls)))
    finally:
        backend.set_backend(previous_backend)
        backend.set_default_dtype(previous_dtype)
    results["targets"] = targets(results)
    plot_dcgan(results["dcgan"], out_dir / "dcgan_scaling.png")
    saved.write_text(json.dumps(results, indent=1, default=str))
    report = write_report(results, out_dir)
    print_dcgan(results, log)
    log(f"\nwrote {report}, {saved}, {out_dir / 'dcgan_scaling.png'}")
    return 0


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
        times = bench.row(spec, batch, extra=in_row_peaks if target_case else ())
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
                      retries=0 if args.quick else 2, settle_s=0 if args.quick else 0.2, log=log,
                      collect=not args.quick)
        log("step times (the target cases):")
        cases = time_cases(bench, target_cases(cfg, args.quick), torch[0], args.backend,
                           cfg["peak_n"])
        log("DCGAN-B step:")
        dcgan = time_dcgan(args, cfg, pool, impls, torch, {}, None, None, log, sweep=False)
    finally:
        backend.set_backend(previous_backend)
        backend.set_default_dtype(previous_dtype)
    results = {"impls": [{"name": i.name, "label": i.label} for i in impls], "peaks": {},
               "cases": cases, "dcgan": dcgan}
    results["targets"] = targets(results)
    print_summary(results, log)
    print_dcgan(results, log)
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
    command = command_line(argv)
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
        gpu_kind = gpu_kind_of(impls)
        log("matmul peak:")
        peaks = matmul_peaks(cfg["peak_n"], cfg["peak_repeats"],
                             torch[0] if args.backend in ("numpy", "all") else None, gpu_kind)
        if args.backend == "cupy":
            peaks.pop("cpu_torch", None)
        for p in peaks.values():
            log(f"  {p['library']:<40} {p['n']}x{p['n']}: best {p['best_gflops']:.1f} GFLOP/s, "
                f"median {p['median_gflops']:.1f}")
        bench = Bench(impls, pool, args.repeats, args.warmup, cfg["min_block_s"],
                      retries=0 if args.quick else 2, settle_s=0 if args.quick else 0.2, log=log,
                      collect=not args.quick)
        log("step times:")
        cases = time_cases(bench, cfg["cases"], torch[0], args.backend, cfg["peak_n"])
        log("scaling sweep:")
        sweep_batch = {str(b): bench.row(MNIST, b) for b in cfg["sweep_batches"]}
        sweep_width = {f"{w:g}": bench.row(mnist_spec(w), cfg["width_batch"])
                       for w in cfg["sweep_widths"]}
        log("DCGAN-B step:")
        dcgan = time_dcgan(args, cfg, pool, impls, torch, peaks, command, meta, log)
        log("matmul peak, again:")
        peaks = merge_peaks(peaks, matmul_peaks(cfg["peak_n"], cfg["peak_repeats"],
                                                torch[0] if "cpu_torch" in peaks else None,
                                                gpu_kind))
        for p in peaks.values():
            log(f"  {p['library']:<40} best {p['best_gflops']:.1f} GFLOP/s of {p['repeats']}")
        dcgan["peaks"] = peaks
    finally:
        backend.set_backend(previous_backend)
        backend.set_default_dtype(previous_dtype)
    x, cross_text = gpu_crossover(sweep_batch, gpu_kind, impls)
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
        "memory": memory, "dcgan": dcgan,
    }
    others = [t["other_cpu_cores"] for t in bench.cache.values() if t.get("other_cpu_cores") is not None]
    results["contention"] = {"max_other_cores": max(others) if others else None,
                             "contended": sum(bool(t.get("contended")) for t in bench.cache.values()),
                             "measurements": len(bench.cache)}
    results["targets"] = targets(results)
    results["elapsed_s"] = time.perf_counter() - start
    plot_scaling(results, out_dir / "scaling.png")
    plot_dcgan(dcgan, out_dir / "dcgan_scaling.png")
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report = write_report(results, out_dir)
    print_summary(results, log)
    print_dcgan(results, log)
    log(f"\n{cross_text}\nwrote {report}, {out_dir / 'results.json'}, {out_dir / 'scaling.png'}, "
        f"{out_dir / 'dcgan_scaling.png'} in {results['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    # Ctrl-C during the long run: one line and exit status 130, no traceback (the partial
    # measurements are dropped; a run writes its files only at the end)
    runs.run_script(main, "bench.py")
