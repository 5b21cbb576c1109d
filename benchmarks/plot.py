"""scaling.png: the benchmark's plot of step time and matmul throughput against batch size,
and of step time against the networks' width, from a run's results dict; dcgan_scaling.png:
the same against batch size for the DCGAN-B step.

Host-only (plots host numbers with matplotlib's Agg canvas; needs no display).
"""
import textwrap

__all__ = ["COLORS", "plot_scaling", "plot_dcgan"]

#: Each implementation's colour in every plot (CPU and GPU columns of a library alike).
COLORS = {"npgan-numpy": "tab:blue", "floor": "tab:green", "torch-cpu": "tab:orange",
          "torch-cpu-best": "tab:red", "npgan-cupy": "tab:blue", "torch-cuda": "tab:orange"}


def _style_axes(ax, ticks):
    """Ticks at the measured sizes, numbers written plainly (20, not 2x10^1), the log y axis
    labelled between its decades too (20, 50, 200, ...), a light grid and the legend."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    if ticks:
        ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(plain)
    if ax.get_yscale() == "log":
        ax.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def plot_scaling(results, path):
    """scaling.png: step time and GFLOP/s against batch size, step time against width."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    impls = [i for i in results["impls"] if not i["skip_reason"]]
    fig = Figure(figsize=(16, 5.2))
    FigureCanvasAgg(fig)
    ax_t, ax_f, ax_w = fig.subplots(1, 3)
    colors = COLORS
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
    batches = sorted(int(b) for b in sw)
    widths = sorted(float(w) for w in sw_w)
    for ax, ticks in ((ax_t, batches), (ax_f, batches), (ax_w, widths)):
        _style_axes(ax, ticks)
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


def plot_dcgan(dcgan, path):
    """dcgan_scaling.png: DCGAN-B step time and product GFLOP/s against batch size, each
    implementation a line, with the CPU matmul peak and the products alone (at the first batch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(12, 5))
    FigureCanvasAgg(fig)
    ax_t, ax_f = fig.subplots(1, 2)
    sweep = dict(dcgan.get("sweep") or {})
    sweep.setdefault(str(dcgan["batch"]), dcgan["row"])
    batches = sorted(int(b) for b in sweep)
    for i in (i for i in dcgan["impls"] if not i["skip_reason"]):
        pts = [(b, sweep[str(b)][i["name"]]) for b in batches if sweep[str(b)].get(i["name"])]
        style = dict(color=COLORS.get(i["name"], "gray"), marker="o" if i["device"] == "cpu" else "s",
                     linestyle="-" if i["device"] == "cpu" else "--",
                     label=f"{i['label']} ({i['device'].upper()})")
        if pts:
            ax_t.plot([b for b, _ in pts], [t["median_ms"] for _, t in pts], **style)
            ax_f.plot([b for b, _ in pts], [t["gflops_per_s"] for _, t in pts], **style)
    products = dcgan["row"].get("products")
    if products:
        ax_f.plot([dcgan["batch"]], [products["gflops_per_s"]], "k*", markersize=10,
                  label="its products alone (NumPy BLAS)")
    for key, ls in (("cpu", ":"), ("cpu_torch", "--"), ("gpu", "-.")):
        p = (dcgan.get("peaks") or {}).get(key)
        if p:
            ax_f.axhline(p["best_gflops"], color="gray", linestyle=ls,
                         label=f"matmul peak, {p['library'].split(' (')[0]}")
    ax_t.set(xscale="log", yscale="log", xlabel="batch size", ylabel="ms per step (median)",
             title="DCGAN-B: step time against batch")
    ax_f.set(xscale="log", xlabel="batch size", ylabel="matrix-product GFLOP/s achieved",
             title="DCGAN-B: product throughput against batch")
    for ax in (ax_t, ax_f):
        _style_axes(ax, batches)
    meta = dcgan.get("meta") or {}
    fig.suptitle(f"npgan benchmarks, DCGAN-B step, on {meta.get('cpu', 'this machine')}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
