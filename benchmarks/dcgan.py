"""The DCGAN-B part of a run: the step at batch 64 against PyTorch's CPU configurations, the
floor and the step's products alone, then a sweep over the batch size.

    python3 benchmarks/bench.py --dcgan     # only this part (a few minutes): updates the DCGAN-B
                                            # section of benchmarks/RESULTS.md and results.json

The cases are timed with the same :class:`benchmarks.timing.Bench` as the MLP cases, on the
columns of :func:`benchmarks.impls.dcgan_impls`. At batch 64 every PyTorch CPU configuration of
``torch_ref.DCGAN_CONFIGS`` (Adam's for-loop, foreach and fused implementations, with and
without channels_last) and the step's matrix products alone (:func:`benchmarks.impls.build_products`)
are timed in the same rounds as npgan and the floor; the fastest configuration becomes the
"PyTorch CPU (best)" column, which the sweep times beside the default one.
"""
import datetime
import os
import time

from benchmarks.impls import Impl, build_products, build_torch, dcgan_impls, torch_config_impls
from benchmarks.specs import step_flops
from benchmarks.timing import Bench

__all__ = ["time_dcgan", "best_config"]


def best_config(row):
    """(name, timing) of the fastest PyTorch CPU configuration in a batch-64 row, or (None, None)."""
    found = {"default": row.get("torch-cpu")}
    found.update({k.split(":", 1)[1]: t for k, t in row.items() if k.startswith("torch-cpu:")})
    timed = [(t["median_ms"], name) for name, t in found.items() if t is not None]
    if not timed:
        return None, None
    name = min(timed)[1]
    return name, found[name]


def time_dcgan(args, cfg, pool, impls, torch, peaks, command, meta, log, sweep=True):
    """Time the DCGAN-B cases; returns the dict saved as results["dcgan"].

    ``impls``: the run's columns (:func:`benchmarks.impls.make_impls`); ``peaks``: the run's
    matmul peaks (the achieved GFLOP/s are read against them); ``sweep``: also time the batch
    sweep (``--targets`` does not).
    """
    start = time.perf_counter()
    spec, batch = cfg["dcgan"], cfg["dcgan_batch"]
    columns = dcgan_impls(impls)
    for i in columns:
        if i.skip_reason and i.name.startswith("npgan-") and "npgan.nn" in i.skip_reason:
            log(f"  {i.label}: {i.skip_reason}")
    bench = Bench(columns, pool, args.repeats, args.warmup, cfg["min_block_s"],
                  retries=0 if args.quick else 2, settle_s=0 if args.quick else 0.2, log=log,
                  collect=not args.quick)
    cpu_torch = any(i.name == "torch-cpu" and i.build for i in columns)
    extra = torch_config_impls(torch) if cpu_torch else []
    if any(i.name == "floor" for i in columns):  # a NumPy run: the products alone, on the CPU
        extra.append(Impl("products", "its products alone (NumPy BLAS)", "cpu", build_products))
    row = bench.row(spec, batch, extra=extra)
    best, timing = best_config(row)
    best_impl = next((i for i in columns if i.name == "torch-cpu-best"), None)
    if best is not None and best_impl is not None:
        best_impl.label = f"PyTorch CPU (best: {best})"
        best_impl.skip_reason = None
        best_impl.build = lambda s, b, p: build_torch(s, b, p, "cpu", config=best)
        bench.cache[("torch-cpu-best", spec, batch)] = dict(timing, config=best)
        log(f"  fastest PyTorch CPU configuration at batch {batch}: {best}")
    row = dict(row, **bench.row(spec, batch))
    swept = {}
    if sweep:
        log("DCGAN-B scaling sweep:")
        swept = {str(b): bench.row(spec, b) for b in cfg["dcgan_sweep"]}
    others = [t["other_cpu_cores"] for t in bench.cache.values() if t.get("other_cpu_cores") is not None]
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        load = None
    return {
        "command": command, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "meta": meta, "loadavg_end": load, "channels": spec.channels, "width": spec.width,
        "batch": batch, "label": f"DCGAN-B, batch {batch}" if spec.width == 1 else
        f"DCGAN-B x{spec.width:g} channels, batch {batch}",
        "impls": [{"name": i.name, "label": i.label, "device": i.device, "skip_reason": i.skip_reason}
                  for i in columns],
        "configs": {k.split(":", 1)[1] if ":" in k else "default": t for k, t in row.items()
                    if t is not None and (k == "torch-cpu" or k.startswith("torch-cpu:"))},
        "torch_best": best, "row": row, "flops": {str(b): step_flops(spec, int(b))
                                                  for b in [batch] + list(swept)},
        "sweep": swept, "peaks": peaks,
        "contention": {"max_other_cores": max(others) if others else None,
                       "contended": sum(bool(t.get("contended")) for t in bench.cache.values()),
                       "measurements": len(bench.cache)},
        "elapsed_s": time.perf_counter() - start,
    }
