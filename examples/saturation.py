"""The saturation lesson: why log(1 - D(G(z))) gives G almost no gradient early on, and -log D(G(z)) does.

Write b for D's logit on a fake sample, so D(G(z)) = sigmoid(b). Per sample:

    minimax         L_G =  log(1 - D(G(z))) = -softplus(b)    dL_G/db = -sigmoid(b)    = -D
    non-saturating  L_G = -log D(G(z))      =  softplus(-b)   dL_G/db = sigmoid(b) - 1 = -(1 - D)

Early in training D rejects G's samples confidently, D(G(z)) ~ 0: the minimax
gradient |dL/db| = D vanishes just when G most needs it, while the
non-saturating one, 1 - D, is near its largest. Every gradient reaching G's
weights is dL/db times the same chain through D and G, so G's whole parameter
gradient shrinks with D.

The script shows it three ways, in one PNG:

1. the formulas, |dL/db| against D(G(z)) (and npgan.grad of the two losses at
   those logits, which must agree);
2. a real run: a 1-D GAN (N(4, 1.25^2) from uniform noise) whose D is first
   trained alone until it rejects G's samples confidently; then at intervals the
   norm of G's parameter gradient under *each* loss, by npgan.grad on one and
   the same batch, against the mean D(G(z));
3. what that does to training: D(G(z)) over the steps when G trains with each loss.

G learns with plain SGD by default, so its step is proportional to its
gradient, as in the original analysis. With --g-optimizer adam the minimax run
escapes too: Adam divides each step by the running root-mean-square of the
gradient, which undoes a uniformly small gradient (the direction is still
dominated by the few samples D is least sure about).

    python examples/saturation.py                      # writes runs/saturation/saturation.png
    python examples/saturation.py --g-optimizer adam
"""
import math
import os
import sys

import npgan
from npgan import activations, backend, losses, nn, optim, runs
from npgan import random as nprandom
from npgan.tools import plots
from npgan.gan import GANTrainer

REAL_MEAN, REAL_STD = 4.0, 1.25
HIDDEN, BATCH, PROBE = 16, 64, 256
SIZES = [1, HIDDEN, HIDDEN, 1]  # G and D: two hidden ELU layers, as in examples/gaussian.py
D_LR, G_LR = 1e-3, {"sgd": 0.005, "adam": 1e-3}
LOSSES = ("minimax", "non-saturating")
COLORS = {"minimax": "tab:red", "non-saturating": "tab:blue"}


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Plot G's gradient under the minimax and non-saturating losses against D(G(z)).")
    p.add_argument("--out", default=os.path.join("runs", "saturation", "saturation.png"),
                   help="where to write the PNG (.png is added when missing)")
    p.add_argument("--steps", type=int, default=600, help="GAN steps per run (default 600)")
    p.add_argument("--d-pretrain", type=int, default=1000,
                   help="D-only steps before the runs, to make D confident (default 1000)")
    p.add_argument("--every", type=int, default=1,
                   help="measure every N steps (default 1: the escape takes only a few steps)")
    p.add_argument("--g-optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="print nothing")
    args = p.parse_args(argv)
    if args.steps < 1 or args.every < 1 or args.d_pretrain < 0 or args.seed < 0:
        p.error("--steps and --every must be >= 1; --d-pretrain and --seed >= 0")
    try:
        args.out = runs.check_output_file(args.out, ".png")
    except runs.UsageError as exc:
        p.error(str(exc))
    return args


def logit_gradients(d):
    """dL_G/db per sample for both losses at D(G(z)) = d (host array), by npgan.grad.

    The losses average over the batch, so the gradient of sample i is N times dL/db_i.
    """
    np = backend.numpy
    b = npgan.tensor(np.log(d) - np.log1p(-d), requires_grad=True)
    out = {}
    for name in LOSSES:
        g, = npgan.grad(losses.GENERATOR_LOSSES[name](b), [b])
        out[name] = g.numpy() * d.size
    return out


def make_trainer(G, D, g_loss, g_optimizer):
    """A GANTrainer for G and D: D by Adam, G by ``g_optimizer`` with the ``g_loss`` objective."""
    if g_optimizer == "sgd":
        g_opt = optim.SGD(G.parameters(), lr=G_LR["sgd"])
    else:
        g_opt = optim.Adam(G.parameters(), lr=G_LR["adam"], betas=(0.5, 0.999))
    return GANTrainer(G, D, g_opt, optim.Adam(D.parameters(), lr=D_LR, betas=(0.5, 0.999)),
                      sample_real=lambda n: nprandom.normal(REAL_MEAN, REAL_STD, (n, 1)),
                      sample_noise=lambda n: nprandom.rand(n, 1),
                      g_loss=g_loss, batch_size=BATCH)


def grad_norm(grads):
    """||(g_1, ..., g_k)||: the norm of all of G's parameter gradients as one vector."""
    return math.sqrt(sum(float((g.data * g.data).sum()) for g in grads))


def measure(G, D, z):
    """Mean D(G(z)) and the norm of G's parameter gradient under each loss, on the batch z."""
    b = D(G(z))
    params = list(G.parameters())
    norms = {}
    for name in LOSSES:  # the same forward graph for both: retain it for the second
        norms[name] = grad_norm(npgan.grad(losses.GENERATOR_LOSSES[name](b), params,
                                           retain_graph=True))
    return {"d_fake": float(activations.sigmoid(b.data).mean()), **norms}


def run(args, say):
    """Pretrain D, then one run per G loss from that start; returns the start and the records."""
    npgan.manual_seed(args.seed)
    G, D = nn.mlp(SIZES, nn.ELU), nn.mlp(SIZES, nn.ELU)
    pretrainer = make_trainer(G, D, "non-saturating", args.g_optimizer)
    for _ in range(args.d_pretrain):
        pretrainer.d_step()  # D only: G stays as initialised
    probe = nprandom.rand(PROBE, 1)
    with npgan.no_grad():
        d_real = float(activations.sigmoid(D(nprandom.normal(REAL_MEAN, REAL_STD, (PROBE, 1))).data).mean())
    start = dict(measure(G, D, probe), d_real=d_real)
    say(f"D trained alone for {args.d_pretrain} steps: mean D(x) {start['d_real']:.4f}, "
        f"mean D(G(z)) {start['d_fake']:.2e} (D rejects G's samples confidently)")
    g_state, d_state = G.state_dict(), D.state_dict()

    records = {}
    for g_loss in LOSSES:
        npgan.manual_seed(args.seed + 1)  # the same data and noise for both runs
        G, D = nn.mlp(SIZES, nn.ELU), nn.mlp(SIZES, nn.ELU)
        G.load_state_dict(g_state)
        D.load_state_dict(d_state)
        trainer = make_trainer(G, D, g_loss, args.g_optimizer)
        rows = []
        for step in range(args.steps + 1):
            if step % args.every == 0 or step == args.steps:
                rows.append(dict(measure(G, D, probe), step=step))
            if step < args.steps:
                trainer.step()
        records[g_loss] = rows
        last = rows[-1]
        say(f"  G trained with the {g_loss} loss ({args.g_optimizer}, {args.steps} steps): "
            f"mean D(G(z)) {rows[0]['d_fake']:.2e} -> {last['d_fake']:.2e}; "
            f"{len(rows)} measurements")
    return start, records


def plot(path, start, records, args):
    """Three panels, log-scale y: the formulas, the measured gradient norms, D(G(z)) over training."""
    plt = plots.pyplot()
    np = backend.numpy
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))

    ax = axes[0]
    d = np.logspace(-4, math.log10(0.9999), 300)
    ax.plot(d, d, color=COLORS["minimax"], lw=2, label="minimax: |dL/db| = sigmoid(b) = D")
    ax.plot(d, 1 - d, color=COLORS["non-saturating"], lw=2,
            label="non-saturating: |dL/db| = 1 - sigmoid(b) = 1 - D")
    ax.axvspan(1e-4, 0.05, color="gray", alpha=0.12, label="early training: D rejects fakes")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("D(G(z)) = sigmoid(b)")
    ax.set_ylabel("|dL_G / db| per sample (b: D's logit)")
    ax.set_title("the formulas")
    ax.legend(fontsize=7, loc="lower center")

    ax = axes[1]
    for run_loss, marker in zip(LOSSES, ("x", "o")):
        rows = records[run_loss]
        x = [r["d_fake"] for r in rows]
        for name in LOSSES:
            ax.scatter(x, [r[name] for r in rows], s=12, marker=marker, color=COLORS[name],
                       facecolors="none" if marker == "o" else None, alpha=0.7,
                       label=f"|grad| of {name} L_G; G trained with {run_loss}")
    ax.scatter([start["d_fake"]] * 2, [start[n] for n in LOSSES], s=90, marker="*",
               color="black", zorder=3, label="the confident start")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean D(G(z)) on the probe batch")
    ax.set_ylabel("||d L_G / d theta_G||, same batch for both losses")
    ax.set_title("measured: G's parameter gradient")
    ax.legend(fontsize=6.5, loc="lower right")

    ax = axes[2]
    for run_loss in LOSSES:
        rows = records[run_loss]
        ax.plot([r["step"] for r in rows], [r["d_fake"] for r in rows], color=COLORS[run_loss],
                lw=2, label=f"G trained with the {run_loss} loss")
    ax.axhline(0.5, color="gray", lw=0.8, ls="--", label="0.5: D cannot tell")
    ax.set_yscale("log")
    ax.set_xlabel(f"GAN step (G by {args.g_optimizer.upper()}, D by Adam)")
    ax.set_ylabel("mean D(G(z))")
    ax.set_title("what it does to training")
    ax.legend(fontsize=7)

    fig.suptitle(f"Saturation of the minimax generator loss (1-D GAN, seed {args.seed}, "
                 f"D pretrained {args.d_pretrain} steps)", fontsize=10)
    plots.save_figure(fig, path)


def main(argv=None):
    """Run the lesson; returns 0, or 1 when npgan's gradients disagree with the formulas."""
    args = parse_args(argv)
    return runs.run_example("saturation.py", lambda backend_name: lesson(args),
                            dtype="float64")


def lesson(args):
    """The formulas, the measured run and the picture (in float64); the exit status."""
    say = (lambda *a: None) if args.quiet else print
    np = backend.numpy
    say("1. The formulas, per sample, with b = D's logit on a fake and D = sigmoid(b):")
    say("   minimax dL/db = -D, non-saturating dL/db = -(1 - D)")
    d = np.array([1e-4, 1e-3, 1e-2, 0.1, 0.5, 0.9])
    engine = logit_gradients(d)
    error = max(float(abs(engine["minimax"] + d).max()),
                float(abs(engine["non-saturating"] + (1 - d)).max()))
    say(f"   {'D(G(z))':>8} {'minimax |dL/db|':>16} {'non-sat |dL/db|':>16} {'ratio':>8}")
    for di, mm, ns in zip(d, engine["minimax"], engine["non-saturating"]):
        say(f"   {di:>8g} {abs(mm):>16.6g} {abs(ns):>16.6g} {abs(ns / mm):>8.3g}")
    say(f"   npgan.grad of losses.minimax_generator_loss / nonsaturating_generator_loss "
        f"agrees with -D and -(1 - D) to {error:.1e}")
    say(f"2. A 1-D GAN, N({REAL_MEAN:g}, {REAL_STD:g}^2) from U[0, 1) noise, MLPs with two "
        f"hidden layers of {HIDDEN} (ELU), batch {BATCH}, float64, seed {args.seed}")
    start, records = run(args, say)
    ratio = start["non-saturating"] / start["minimax"]
    say(f"   at the confident start, ||grad of G's parameters||: minimax "
        f"{start['minimax']:.3g}, non-saturating {start['non-saturating']:.3g} "
        f"({ratio:.0f}x larger), on the same {PROBE} noise samples")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    plot(args.out, start, records, args)
    say(f"3. wrote {args.out}")
    if error > 1e-12:
        print(f"saturation.py: npgan's dL/db differs from the formulas by {error:.1e}",
              file=sys.stderr)
        return 1
    return 0

if __name__ == "__main__":
    runs.run_script(main, "saturation.py")
