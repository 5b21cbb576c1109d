"""What the timings say: ratios between implementations, the matmul peak of a device, the
engine's speed targets with their verdicts, and the batch from which the GPU wins.

Pure functions of the timing dicts of :mod:`benchmarks.timing` (and of results.json): nothing
here measures, so a report can be computed again from a saved run.
"""
__all__ = ["ratio", "round_ratios", "device_peak", "peaks_in_row", "targets", "dcgan_targets",
           "crossover", "gpu_crossover"]


def ratio(a, b):
    """a / b of two timings' medians, or None where either is missing (skipped)."""
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
    return out + dcgan_targets(results.get("dcgan"))


def dcgan_targets(dcgan):
    """The DCGAN-B targets (npgan at most 2.0 times PyTorch CPU's best configuration and 1.2
    times the floor), read on the run's DCGAN-B row; none where the run has no DCGAN-B part."""
    if not dcgan:
        return []
    row, out = dcgan["row"], []
    for what, den, limit in (("npgan / PyTorch CPU (best configuration)", "torch-cpu-best", 2.0),
                             ("npgan / floor", "floor", 1.2)):
        r = ratio(row.get("npgan-numpy"), row.get(den))
        out.append({"target": f"{dcgan['label'].replace(', batch', ' step, ' + what + ', batch')}",
                    "limit": f"<= {limit}", "measured": None if r is None else round(r, 3),
                    "met": None if r is None else r <= limit,
                    **_round_range(round_ratios(row.get("npgan-numpy"), row.get(den)),
                                   lambda x: x <= limit, 3)})
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


def gpu_crossover(sweep_batch, gpu_kind, impls):
    """(batch from which npgan on the GPU beats npgan on the CPU or None, a sentence saying so).

    ``gpu_kind``: "cupy" (npgan's GPU backend ran), "torch-cuda" (only PyTorch ran on the GPU)
    or None (no GPU column ran; the sentence gives the reason the first GPU column was skipped).
    """
    x = crossover(sweep_batch, "npgan-cupy", "npgan-numpy") if gpu_kind == "cupy" else None
    if gpu_kind is None:
        gpu_skip = next((i.skip_reason for i in impls if i.device == "gpu"), None)
        text = ("No GPU curves: " + gpu_skip.removeprefix("skipped: ")) if gpu_skip else \
            "No GPU curves: --backend numpy."
    elif x is None and gpu_kind == "cupy":
        text = "npgan on the GPU does not beat npgan on the CPU at any batch of the sweep."
    elif gpu_kind == "cupy":
        text = f"npgan on the GPU is faster than npgan on the CPU from batch {x} up."
    else:
        text = "Only PyTorch CUDA measured on the GPU (npgan's CuPy backend skipped)."
    return x, text
