"""The benchmark's report: RESULTS.md, and the summary printed at the end of a run.

:func:`write_report` writes RESULTS.md from the results dict a run saves as results.json (so
the report can be written again from a saved run): one function per section, in the order
they appear, each returning its paragraphs and tables. The fixed prose (how FLOPs are counted,
the notes) sits in the constants :data:`FLOPS_NOTE` and :data:`NOTES`.
"""
import textwrap
from pathlib import Path

from benchmarks.analysis import device_peak, peaks_in_row, ratio
from benchmarks.timing import Bench

__all__ = ["RATIOS", "DCGAN_RATIOS", "MACHINE_KEYS", "FLOPS_NOTE", "NOTES", "DCGAN_NOTES", "fmt_time",
           "fmt_ratio", "fmt_met", "md_table", "write_report", "print_summary", "print_dcgan"]

RATIOS = (  # (header, numerator, denominator)
    ("npgan / floor", "npgan-numpy", "floor"),
    ("npgan / PyTorch CPU", "npgan-numpy", "torch-cpu"),
    ("floor / PyTorch CPU", "floor", "torch-cpu"),
    ("npgan CuPy / PyTorch CUDA", "npgan-cupy", "torch-cuda"),
    ("npgan CuPy / npgan NumPy", "npgan-cupy", "npgan-numpy"),
)

#: The keys of the machine facts shown in the report's Machine table, in order.
MACHINE_KEYS = ("cpu", "cpu_simd", "cores", "memory", "platform", "numpy_blas", "openblas_runtime",
                "thread_env", "torch_blas", "torch_threads", "gpu", "python", "numpy", "npgan",
                "npgan_commit", "torch", "cupy", "matplotlib", "other_cpu_at_start",
                "loadavg_start", "loadavg_end")

FLOPS_NOTE = textwrap.dedent("""\
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
    """)

NOTES = textwrap.dedent("""\
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
    * npgan hands the large arrays of one step to the next (`npgan.speed.ArrayCache`)
      instead of freeing them to glibc's malloc, which returns big blocks to the operating
      system and faults them in again page by page. It does not change malloc's settings:
      PyTorch and the floor, in the same process, run with glibc's defaults (the floor
      allocates nothing per step anyway).
    * PyTorch CPU runs with `torch.set_num_threads(<usable cores>)`; NumPy's BLAS uses its
      default thread count (shown above). Elementwise NumPy work is single-threaded.
    """)


DCGAN_RATIOS = (  # (header, numerator, denominator) of the DCGAN-B section
    ("npgan / PyTorch CPU (best)", "npgan-numpy", "torch-cpu-best"),
    ("npgan / floor", "npgan-numpy", "floor"),
    ("npgan / PyTorch CPU (default)", "npgan-numpy", "torch-cpu"),
    ("floor / PyTorch CPU (best)", "floor", "torch-cpu-best"),
    ("npgan CuPy / PyTorch CUDA", "npgan-cupy", "torch-cuda"),
)

DCGAN_NOTES = textwrap.dedent("""\
    * The step is the MLP GANs' (D update on a real and a detached fake batch, each through D
      on its own so batch norm takes each batch's statistics, then the G update; BCE from
      logits, Adam lr 2e-4, betas (0.5, 0.999); float32), with G: Linear(100, 128 7 7),
      BatchNorm1d, ReLU, unflatten, ConvTranspose2d(128, 64, 4, 2, 1), BatchNorm2d, ReLU,
      ConvTranspose2d(64, 1, 4, 2, 1), Tanh and D: Conv2d(1, 64, 4, 2, 1), LeakyReLU(0.2),
      Conv2d(64, 128, 4, 2, 1), BatchNorm2d, LeakyReLU(0.2), Flatten, Linear(128 7 7, 1).
      Real batches are rows of the random pool seen as 1 x 28 x 28 images.
    * The floor (benchmarks/floor_dcgan.py) runs in NHWC with one im2col matrix product per
      convolution and pass, col2im as 16 strided additions, batch norm by hand; its gradients
      equal PyTorch's in float64 (tests/test_benchmarks.py).
    * FLOPs: 2 M N K for each matrix product the step performs with im2col (a convolution's
      forward, its weight gradient and, where needed, its input gradient; a transposed
      convolution's the other way round) and for the Linear layers, the same products as
      the MLP's FLOP count (no input gradient into data, noise or the detached fake, no
      weight gradient of D in the G step): PyTorch's FLOP counter gives the same total.
    * PyTorch's configurations: Adam's default (for-loop) implementation on the CPU,
      `foreach=True` or `fused=True`, each with the modules and the real batch in
      `torch.channels_last` or not; all timed in the same rounds at the first batch, and
      the fastest is the "best" column of the sweep. `torch.compile` is not tried.
    * "its products alone": the step's matrix products at their shapes through NumPy's BLAS
      with nothing else (no im2col, no batch norm, no elementwise work): what an im2col
      implementation on NumPy pays before any of its other work.
    """)


# --- formatting ---------------------------------------------------------------------------

def fmt_time(t):
    """A timing as 'median [min–max]' in ms, marked † if contended; 'skipped' for None."""
    if t is None:
        return "skipped"
    mark = " †" if t.get("contended") else ""
    return f"{t['median_ms']:.3f} [{t['min_ms']:.3f}–{t['max_ms']:.3f}]{mark}"


def fmt_ratio(r):
    """A ratio to two decimals, '–' for None."""
    return "–" if r is None else f"{r:.2f}"


def fmt_met(target):
    """A target's verdict for the report: yes / **no** / n/a, and whether its rounds disagree."""
    if target["met"] is None:
        return "n/a (not measured in this run)"
    verdict = "yes" if target["met"] else "**no**"
    return verdict + (" (rounds disagree)" if target.get("rounds_disagree") else "")


def md_table(header, rows):
    """A Markdown table: the header row, the rule, then one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- RESULTS.md, section by section (each a list of paragraphs, joined by newlines) --------

def _preamble(results):
    meta, s = results["meta"], results["settings"]
    out = ["# npgan benchmarks: one GAN training step\n",
           "<!-- Generated by benchmarks/bench.py: do not edit by hand, rerun the command below. -->\n"]
    if s["quick"]:
        out.append("**QUICK MODE** (tiny sizes, few repeats): these numbers only prove the code runs.\n")
    out.append(
        f"Command: `{s['command']}`  \nDate: {meta['date']}  \n"
        f"Timing: median of {s['repeats']} timed blocks, taken in {s.get('rounds', 1)} rounds that "
        f"interleave the implementations, each round after {s['warmup']} warm-up block(s); "
        f"a block is k consecutive steps, k chosen so a block lasts >= {s['min_block_s'] * 1e3:g} ms "
        f"(k = 1 for every MNIST case); the device is synchronised before the clock is read. "
        f"Times in ms per step: median [min–max]. Total run time {results['elapsed_s']:.0f} s.\n")
    c = results.get("contention") or {}
    if c.get("max_other_cores") is not None:
        out.append(
            f"Other processes on this machine used at most {c['max_other_cores']:.2f} cores "
            f"during any timed measurement (from /proc/stat). A measurement during which they "
            f"used more than {Bench.CONTENDED} core is "
            + (f"retried (up to {s['retries']} times, {s['retry_wait_s']} s apart); "
               if s["retries"] else "flagged (no retries in this mode); ")
            + f"{c['contended']} of {c['measurements']} stayed contended"
            + (" and are marked †: treat those with suspicion." if c["contended"] else ".") + "\n")
    return out


def _machine(results):
    meta, impls = results["meta"], results["impls"]
    out = ["## Machine\n",
           md_table(["", ""], [(k, meta[k]) for k in MACHINE_KEYS if k in meta]) + "\n"]
    skipped = [i for i in impls if i["skip_reason"]]
    if skipped:
        out.append("Skipped here:\n")
        out += [f"* **{i['label']}**: {i['skip_reason']}" for i in skipped]
        if any(i["device"] == "gpu" for i in skipped):
            out.append("\nThe GPU columns below are therefore empty (\"skipped\").")
        out.append("")
    return out


def _step_times(results):
    labels = {i["name"]: i["label"] for i in results["impls"]}
    names, cases = list(labels), results["cases"]
    return ["## Step time (ms)\n",
            md_table(["case"] + [labels[n] for n in names],
                     [[c["label"]] + [fmt_time(c["times"].get(n)) for n in names]
                      for c in cases]) + "\n"]


def _ratios(results):
    return ["## Ratios (time / reference time; below 1: the first is faster)\n",
            md_table(["case"] + [h for h, _, _ in RATIOS],
                     [[c["label"]] + [fmt_ratio(ratio(c["times"].get(a), c["times"].get(b)))
                                      for _, a, b in RATIOS] for c in results["cases"]]) + "\n"]


def _targets(results):
    out = ["## Targets for the engine\n",
           md_table(["target", "limit", "measured", "range over rounds", "met"],
                    [(t["target"], t["limit"], "–" if t["measured"] is None else t["measured"],
                      t.get("rounds") or "–", fmt_met(t)) for t in results["targets"]]) + "\n",
           "Range over rounds: the lowest and highest value computed from one round's medians "
           "on its own (the implementations of a case are timed in the same rounds). Where some "
           "rounds meet the limit and others do not, the verdict is within this run's noise, "
           "and the table says so.\n"]
    target_row = next((c["times"] for c in results["cases"] if c["model"] == "mnist"
                       and c["batch"] == 1024 and c["width"] == 1.0), {})
    alongside = peaks_in_row(target_row)
    if alongside:
        out.append("The throughput target divides by the peak timed in the same rounds as the "
                   "MNIST batch-1024 step (the same machine state), the better of: " +
                   ", ".join(f"{'NumPy' if k == 'peak-numpy' else 'PyTorch'} "
                             f"{t['gflops_per_s']:.1f} GFLOP/s" for k, t in alongside) +
                   " (medians of their blocks).\n")
    return out


def _throughput(results):
    peaks = results["peaks"]
    avail = [i for i in results["impls"] if not i["skip_reason"]]
    peak_rows = [(p["library"], f"{p['n']} x {p['n']}", f"{p['best_gflops']:.1f}",
                  f"{p['median_gflops']:.1f}") for p in peaks.values()]
    achieved = []
    for c in results["cases"]:
        row = [c["label"], f"{c['flops']['total'] / 1e9:.4g}"]
        for i in avail:
            t = c["times"].get(i["name"])
            pk = device_peak(peaks, i["device"])
            row.append("–" if t is None else
                       f"{t['gflops_per_s']:.1f} GFLOP/s ({100 * t['gflops_per_s'] / pk:.0f}%)" if pk
                       else f"{t['gflops_per_s']:.1f} GFLOP/s")
        achieved.append(row)
    return ["## Matmul throughput\n",
            "Peak: a float32 n x n matmul, best (and median) of "
            f"{next(iter(peaks.values()))['repeats']} (half at the start of the run, half at the "
            "end, each half after one warm-up). The percentages below are taken against the "
            "best rate any library reached on the device (for the CPU columns the better of "
            "NumPy's and PyTorch's, for the GPU columns the GPU's).\n",
            md_table(["library", "size", "best GFLOP/s", "median GFLOP/s"], peak_rows) + "\n",
            "Achieved: the step's matmul FLOPs divided by its median time.\n",
            md_table(["case", "matmul GFLOP / step"] + [i["label"] for i in avail], achieved) + "\n",
            FLOPS_NOTE]


def _scaling(results):
    avail = [i for i in results["impls"] if not i["skip_reason"]]
    columns = [i["label"] for i in avail]

    def medians(timings):  # the median alone of each available implementation's timing
        return [fmt_time(timings.get(i["name"])).split(" ")[0] for i in avail]
    out = ["## Scaling\n", "![step time against batch size and width](scaling.png)\n"]
    sw = results.get("sweep_batch") or {}
    if sw:
        out.append("MNIST MLP GAN, step time (ms, median) against batch size:\n")
        out.append(md_table(["batch"] + columns,
                            [[b] + medians(sw[str(b)]) for b in sorted(int(b) for b in sw)]) + "\n")
    sw_w = results.get("sweep_width") or {}
    if sw_w:
        out.append(f"MNIST MLP GAN at batch {results['sweep_width_batch']}, step time (ms, median) "
                   "against a factor on every hidden width (G 256w-512w-1024w, D 1024w-512w-256w):\n")
        out.append(md_table(["width factor"] + columns,
                            [[w] + medians(sw_w[w]) for w in sorted(sw_w, key=float)]) + "\n")
    out.append(results["crossover_text"] + "\n")
    return out


def _memory(results):
    mem = results.get("memory")
    if not (isinstance(mem, list) and mem):
        return ["## Resident memory\n", f"Not measured: {mem}\n"]
    return ["## Resident memory\n",
            md_table(["npgan backend", "batch", "VmRSS after A steps", "VmRSS after B steps",
                      "growth", "within 5%"],
                     [(m["backend"], m["batch"], f"{m['rss_a_kib'] / 1024:.1f} MiB (A = {m['steps_a']})",
                       f"{m['rss_b_kib'] / 1024:.1f} MiB (B = {m['steps_b']})",
                       f"{m['growth_pct']:+.2f}%", "yes" if m["ok"] else "**no**") for m in mem]) + "\n",
            "Measured in a fresh interpreter running only npgan's MNIST step "
            "(`bench.py --memory`), VmRSS read from /proc/self/status after gc.collect().\n"]


def _notes(results):
    return ["## Notes\n", NOTES]


def _penalty(results):
    """WGAN-GP's penalty step against a plain critic step (benchmarks/penalty.py)."""
    pe = results.get("penalty")
    if not pe:
        return []
    return ["## WGAN-GP: the cost of the gradient penalty\n",
            f"Command: `{pe['command']}`  \nDate: {pe['date']}  \nMachine: {pe['machine']}; "
            f"other processes kept {pe['other_cores']} cores busy while it ran\n",
            f"One critic step of `examples/dcgan.py --loss wgan-gp` (LayerNorm critic), batch "
            f"{pe['batch']}, float32, medians of {pe['rounds']} interleaved rounds:\n",
            md_table(["critic step", "ms", "ratio"],
                     [["without the penalty", f"{pe['plain_ms']:.1f}", "1"],
                      ["with the penalty (lambda 10, on random interpolates)",
                       f"{pe['penalty_ms']:.1f}", f"{pe['penalty_ms'] / pe['plain_ms']:.2f}"]]),
            "The penalty needs D's input gradient with its graph (create_graph), a third "
            "forward pass on the interpolates, and the backward of that gradient: a second-order "
            "pass through every convolution and LayerNorm.\n"] + _r1(pe)


def _r1(pe):
    """R1 on the GAN recipe's D step (saved by benchmarks/penalty.py since R1 exists)."""
    if "r1_ms" not in pe:
        return []
    gan, r1 = pe["gan_d_ms"], pe["r1_ms"]
    return [f"One D step of `examples/dcgan.py`'s GAN recipe (batch norm, dropout 0.3), batch "
            f"{pe['gan_batch']} as in its default run, same rounds:\n",
            md_table(["D step", "ms", "ratio"],
                     [["without R1", f"{gan:.1f}", "1"],
                      ["with R1 (gamma 1, on the real batch)", f"{r1:.1f}", f"{r1 / gan:.2f}"]]),
            f"dcgan.py adds R1 on every {pe['r1_every']}th step (`--r1-every "
            f"{pe['r1_every']}`), so a training step pays {(r1 - gan) / pe['r1_every']:.1f} ms "
            "more on average.\n"]


def _dcgan_rate(t, peak):
    """'x.x GFLOP/s (y%)' of a timing against a peak rate, or '–'."""
    if t is None:
        return "–"
    return f"{t['gflops_per_s']:.1f} GFLOP/s" + (f" ({100 * t['gflops_per_s'] / peak:.0f}%)" if peak else "")


def _dcgan(results):
    dc = results.get("dcgan")
    if not dc:
        return []
    row, meta, flops = dc["row"], dc.get("meta") or {}, dc["flops"][str(dc["batch"])]
    cols = [i for i in dc["impls"] if not i["skip_reason"]]
    peak = device_peak(dc.get("peaks") or {}, "cpu")
    gpu_peak = device_peak(dc.get("peaks") or {}, "gpu")
    c = dc.get("contention") or {}
    out = ["## DCGAN-B step\n",
           (f"Command: `{dc['command']}`  \nDate: {dc['date']}  \n" if dc.get("command") else "")
           + f"Machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')}; NumPy BLAS "
           f"{meta.get('openblas_runtime', meta.get('numpy_blas', '?'))}; PyTorch "
           f"{meta.get('torch', 'absent')} on {meta.get('torch_threads', '?')} threads; load "
           f"{meta.get('loadavg_start', '?')} at the start, {dc.get('loadavg_end', '?')} at the end"
           + (f"; other processes used at most {c['max_other_cores']:.2f} cores during a "
              f"measurement, {c['contended']} of {c['measurements']} measurements contended (†)"
              if c.get("max_other_cores") is not None else "") + ". Timed as the MLP cases above.\n"]
    if c.get("contended"):
        out.append(f"**Contended: {c['contended']} of {c['measurements']} measurements ran while other "
                   f"processes used more than {Bench.CONTENDED} core (even after the retries): "
                   f"provisional numbers, to be measured again on a quiet machine.**\n")
    skipped = [i for i in dc["impls"] if i["skip_reason"]]
    if skipped:
        out += ["Skipped: " + "; ".join(f"**{i['label']}** ({i['skip_reason']})" for i in skipped)
                + ".\n"]
    out += [f"{dc['label']}: {flops['total'] / 1e9:.3f} GFLOP of matrix products per step "
            f"({flops['conv'] / 1e9:.3f} in the convolutions, {flops['linear'] / 1e9:.3f} in the "
            f"Linear layers). Throughput: those FLOPs over the median time, against the best "
            f"float32 matmul rate of the device (" + ", ".join(
                f"{p['library']} {p['best_gflops']:.1f}" for p in (dc.get("peaks") or {}).values())
            + " GFLOP/s).\n"]
    lines = [(i["label"], fmt_time(row.get(i["name"])),
              _dcgan_rate(row.get(i["name"]), gpu_peak if i["device"] == "gpu" else peak))
             for i in cols]
    if row.get("products"):
        lines.append(("its products alone (NumPy BLAS)", fmt_time(row["products"]),
                      _dcgan_rate(row["products"], peak)))
    out.append(md_table(["implementation", "ms per step", "product GFLOP/s (% of peak)"], lines) + "\n")
    if row.get("products"):
        shares = [f"{100 * row['products']['median_ms'] / row[n]['median_ms']:.0f}% of {label}'s"
                  for n, label in (("floor", "the floor"), ("npgan-numpy", "npgan")) if row.get(n)]
        if shares:
            out.append("The products alone take " + " and ".join(shares) + " step time.\n")
    configs = dc.get("configs") or {}
    if configs:
        base = configs.get("default")
        out += [f"PyTorch CPU configurations, timed in the same rounds (fastest: **{dc['torch_best']}**):\n",
                md_table(["configuration", "ms per step", "/ default"],
                         [(n, fmt_time(t), fmt_ratio(ratio(t, base))) for n, t in configs.items()]) + "\n"]
    out += [md_table([h for h, _, _ in DCGAN_RATIOS],
                     [[fmt_ratio(ratio(row.get(a), row.get(b))) for _, a, b in DCGAN_RATIOS]]) + "\n",
            "Targets: npgan / PyTorch CPU (best) <= 2.0 and npgan / floor <= 1.2 (in the table of "
            "targets above).\n"]
    sweep = dc.get("sweep") or {}
    if sweep:
        out += ["![DCGAN-B step time and throughput against batch size](dcgan_scaling.png)\n",
                "Step time (ms, median) and product throughput against batch size:\n",
                md_table(["batch"] + [i["label"] for i in cols],
                         [[b] + [("–" if sweep[b].get(i["name"]) is None else
                                  f"{sweep[b][i['name']]['median_ms']:.1f} "
                                  f"({sweep[b][i['name']]['gflops_per_s']:.0f} GFLOP/s)")
                                 for i in cols] for b in sorted(sweep, key=int)]) + "\n"]
    return out + [DCGAN_NOTES]


_SECTIONS = (_preamble, _machine, _step_times, _ratios, _targets, _throughput, _scaling,
             _memory, _dcgan, _penalty, _notes)  # RESULTS.md's sections, in order


def write_report(results, out_dir):
    """RESULTS.md from the results dict (every number in it comes from this run)."""
    path = Path(out_dir) / "RESULTS.md"
    path.write_text("\n".join(chunk for section in _SECTIONS for chunk in section(results)))
    return path


def print_summary(results, log=print):
    """The step times, ratios and target verdicts of a run, as plain text through ``log``."""
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


def print_dcgan(results, log=print):
    """The DCGAN-B part of a run as plain text through ``log``: times, ratios, the sweep."""
    dc = results.get("dcgan")
    if not dc:
        return
    row = dc["row"]
    labels = [(i["name"], i["label"]) for i in dc["impls"] if not i["skip_reason"]]
    log(f"\n{dc['label']}, ms per step (median [min-max]):")
    for name, label in labels + [("products", "its products alone (NumPy BLAS)")]:
        if row.get(name):
            log(f"  {label:<44} {fmt_time(row[name])}  {row[name]['gflops_per_s']:.1f} GFLOP/s")
    for name, t in (dc.get("configs") or {}).items():
        log(f"  PyTorch CPU, {name:<31} {fmt_time(t)}")
    log("  " + "   ".join(f"{h}: {fmt_ratio(ratio(row.get(a), row.get(b)))}" for h, a, b in DCGAN_RATIOS))
    for b in sorted(dc.get("sweep") or {}, key=int):
        log(f"  batch {b:>5}: " + "   ".join(f"{label} {fmt_time(dc['sweep'][b].get(name)).split(' ')[0]}"
                                            for name, label in labels))
