"""A GAN that learns the 1-D normal N(4, 1.25^2) from uniform noise, its training loop written out.

The classic "GAN in 50 lines" setup:

* real data: fresh samples of N(4, 1.25^2) at every step;
* noise: *uniform* on [0, 1)^d, so G cannot just shift and scale its input
  to get a bell curve: it has to bend it non-linearly;
* G and D: MLPs with two hidden layers of 48 ELU units; D returns a logit, and
  the losses are computed from it in the stable softplus form (npgan.losses);
* training (:func:`train_step`, Goodfellow et al., 2014, Algorithm 1):
  --d-steps updates of D (k = 1 by default), then one update of G, with the
  non-saturating (default) or the minimax generator loss.

Why the settings are what they are:

* two noise dimensions, z ~ U[0,1)^2 (--noise-dim 2): with the seed article's
  one (--noise-dim 1) G must learn the normal quantile function, whose slope
  grows without bound at both ends, which this budget does not reach; with
  three or more the central limit theorem does most of the work (an affine
  map of z1 + z2 + z3 is already close to normal), a weaker lesson. Two still
  need a non-linear G: an affine map of z1 + z2 is a triangle;
* two time-scales (Heusel et al., 2017): D learns 4x faster than G (Adam lr
  2e-3 against 5e-4), so G follows a nearly best-responding D;
* Adam without momentum (beta1 = 0): momentum tends to feed the circling of
  the game around its equilibrium (Gidel et al., 2019, "Negative Momentum for
  Improved Game Dynamics");
* samples come from an exponential moving average of G's weights (decay
  0.999; Yazici et al., 2019, "The Unusual Effectiveness of Averaging in GAN
  Training"; npgan.gan.ExponentialMovingAverage): the live G keeps circling
  the equilibrium to the end, the average sits near its centre.
  --ema-decay 0 samples the live G instead.

--lr-final decays both learning rates linearly (off by default).

At the end 10,000 samples of the (averaged) generator are compared with the
exact N(4, 1.25^2): mean, std, Wasserstein-1 and Kolmogorov-Smirnov distances
(npgan.metrics) go to OUT/metrics.json, and OUT/gaussian.png shows the
densities, the losses and D's outputs over training. The README's section on
this example has the scores of seeds 0-9 and the measurements behind the
settings above.

    python examples/gaussian.py                                  # the default run
    python examples/gaussian.py --noise-dim 1 --seed 3           # the seed article's noise
    python examples/gaussian.py --g-loss minimax --d-steps 2 --steps 2000
    python examples/gaussian.py --backend cupy                   # on an NVIDIA GPU with CuPy
"""
import os
import sys
import time

import npgan
from npgan import backend, losses, metrics, nn, optim, runs
from npgan import random as nprandom
from npgan.tools import plots
from npgan.gan import ExponentialMovingAverage, linear_decay

REAL_MEAN, REAL_STD = 4.0, 1.25
EVAL_SAMPLES = 10_000
CHECK_EVERY = 100  # steps between two NaN checks when no progress line is printed


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Train a GAN on N(4, 1.25^2) from uniform noise; write metrics.json and a PNG.")
    p.add_argument("--backend", type=runs.backend_name, choices=["numpy", "cupy"], default=None,
                   help="numpy (CPU) or cupy (NVIDIA GPU); default $NPGAN_BACKEND, else numpy")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--steps", type=runs.positive_int, default=13_000,
                   help="G updates (default 13000)")
    p.add_argument("--batch-size", type=runs.positive_int, default=256)
    p.add_argument("--d-steps", type=runs.positive_int, default=1,
                   help="D updates per G update (k)")
    p.add_argument("--g-loss", choices=["non-saturating", "minimax"], default="non-saturating")
    p.add_argument("--hidden", type=runs.positive_int, default=48,
                   help="width of both hidden layers of G and D")
    p.add_argument("--noise-dim", type=runs.positive_int, default=2,
                   help="dimensions of G's uniform noise U[0,1)^d (1 = the seed article's)")
    p.add_argument("--lr", type=runs.positive_float, default=5e-4, help="Adam learning rate of G")
    p.add_argument("--d-lr", type=runs.positive_float, default=2e-3,
                   help="Adam learning rate of D")
    p.add_argument("--beta1", type=runs.unit_interval, default=0.0, help="Adam beta1 of both")
    p.add_argument("--beta2", type=runs.unit_interval, default=0.999, help="Adam beta2 of both")
    p.add_argument("--lr-final", type=runs.fraction, default=1.0,
                   help="decay both learning rates linearly to this factor at the last step "
                        "(default 1: constant)")
    p.add_argument("--ema-decay", type=runs.unit_interval, default=0.999,
                   help="decay of the moving average of G's weights sampled at the end (0 = off)")
    p.add_argument("--seed", type=runs.nonnegative_int, default=0)
    p.add_argument("--log-every", type=runs.nonnegative_int, default=0,
                   help="print a progress line every N steps (default: 20 lines per run)")
    p.add_argument("--out", default=os.path.join("runs", "gaussian"), help="output directory")
    p.add_argument("--quiet", action="store_true", help="print only errors")
    args = p.parse_args(argv)
    itemsize = 4 if args.dtype == "float32" else 8
    try:  # about 30 arrays of batch x hidden per step (both MLPs, forward and backward)
        runs.check_memory(30 * args.batch_size * max(args.hidden, args.noise_dim) * itemsize,
                          f"a training step at --batch-size {args.batch_size}",
                          "use a smaller --batch-size")
        runs.check_output_folder(args.out)
    except runs.UsageError as exc:
        p.error(str(exc))
    return args


def real_samples(n):
    """n fresh samples of the data, N(4, 1.25^2), as an (n, 1) batch."""
    return nprandom.normal(REAL_MEAN, REAL_STD, (n, 1))


def noise(n, dim):
    """n noise vectors for G, uniform on [0, 1)^dim."""
    return nprandom.rand(n, dim)


def train_step(G, D, g_opt, d_opt, args):
    """One step of the GAN algorithm: ``--d-steps`` updates of D, then one update of G.

    Returns D's loss and logits (on real and on generated samples) of its last
    update and G's loss; they stay on the device (see runs.TrainingLog).
    """
    n = args.batch_size
    for _ in range(args.d_steps):
        # D learns to tell real from generated: L_D = -mean log D(x) - mean log(1 - D(G(z)))
        x = real_samples(n)
        with npgan.no_grad():  # G is not trained in this half: record no graph through it
            fake = G(noise(n, args.noise_dim))
        d_opt.zero_grad()
        real_logits, fake_logits = D(x), D(fake)
        d_loss = losses.discriminator_loss(real_logits, fake_logits)
        d_loss.backward()
        d_opt.step()

    # G learns to make the D just updated call its samples real:
    # L_G = -mean log D(G(z)) (non-saturating) or mean log(1 - D(G(z))) (minimax)
    g_opt.zero_grad()
    g_loss = losses.GENERATOR_LOSSES[args.g_loss](D(G(noise(n, args.noise_dim))))
    g_loss.backward(inputs=g_opt.params)  # G's gradients only: D is not updated in this half
    g_opt.step()
    return d_loss, g_loss, real_logits, fake_logits


def plot(path, samples, history, args, summary):
    """Three panels: the densities, the losses, and D's outputs over training."""
    plt = plots.pyplot()
    np = backend.numpy  # host arrays for plotting
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    lo, hi = REAL_MEAN - 5 * REAL_STD, REAL_MEAN + 5 * REAL_STD
    ax.hist(np.clip(samples, lo, hi), bins=80, range=(lo, hi), density=True,
            color="tab:orange", alpha=0.55, label=f"generated ({samples.size:,})")
    xs = np.linspace(lo, hi, 400)
    ax.plot(xs, metrics.normal_pdf(xs, REAL_MEAN, REAL_STD), color="tab:blue", lw=2,
            label=f"real N({REAL_MEAN:g}, {REAL_STD:g}²)")
    ax.set_title(f"W1 {summary['w1']:.4f}   KS {summary['ks']:.4f}")
    ax.set_xlabel("x")
    ax.legend(fontsize=8, loc="upper left")
    plots.plot_losses_and_d_outputs(axes[1:], history, args.g_loss,
                                   window=max(1, len(history["step"]) // 100))
    fig.suptitle(f"1-D Gaussian GAN: {args.steps} steps, seed {args.seed}, {args.backend} "
                 f"{args.dtype}; generated mean {summary['mean']:.3f}, std {summary['std']:.3f}",
                 fontsize=10)
    plots.save_figure(fig, path)


def main(argv=None):
    """Run the example; returns the process exit status: 0; 1 when training diverged or the
    results cannot be written; 2 when the backend cannot run; 130 after Ctrl-C."""
    args = parse_args(argv)
    return runs.run_example("gaussian.py", lambda name: run(args, name), args.backend,
                            args.dtype)


def run(args, backend_name):
    """Train, score and write the results (the backend and dtype are set); the exit status."""
    args.backend = backend_name
    say = (lambda *a: None) if args.quiet else print
    npgan.manual_seed(args.seed)
    G = nn.mlp([args.noise_dim, args.hidden, args.hidden, 1], nn.ELU)
    D = nn.mlp([1, args.hidden, args.hidden, 1], nn.ELU)
    betas = (args.beta1, args.beta2)
    g_opt = optim.Adam(G.parameters(), lr=args.lr, betas=betas)
    d_opt = optim.Adam(D.parameters(), lr=args.d_lr, betas=betas)
    g_ema = ExponentialMovingAverage(G, args.ema_decay) if args.ema_decay else None
    sampled = g_ema.module if g_ema is not None else G  # the generator the results come from
    schedule = None if args.lr_final == 1 else linear_decay(args.lr_final)
    say(f"gaussian GAN: backend {args.backend}, dtype {args.dtype}, steps {args.steps}, "
        f"seed {args.seed}, batch {args.batch_size}, d_steps {args.d_steps}, "
        f"g_loss {args.g_loss}, hidden {args.hidden}, noise U[0,1)^{args.noise_dim}, "
        f"lr G {args.lr:g} D {args.d_lr:g}" + ("" if args.lr_final == 1 else
                                                 f" (x{args.lr_final:g} at the end)")
        + f", ema {args.ema_decay:g}"
        + ("; gen_mean/gen_std: the averaged G" if args.ema_decay else "; gen_mean/gen_std: G")
        + f" on {EVAL_SAMPLES:,} fixed noise draws")

    # A fixed noise batch for the progress lines, drawn whether or not they are
    # printed, so that --quiet and --log-every do not change the random stream.
    monitor_noise = noise(EVAL_SAMPLES, args.noise_dim)
    log_every = 0 if args.quiet else args.log_every or max(1, args.steps // 20)
    check_every = log_every or CHECK_EVERY
    log = runs.TrainingLog()  # the losses and D's outputs, read back at progress lines
    backend.synchronize()
    start = time.perf_counter()
    with runs.StopOnCtrlC("gaussian.py") as stop:
        for step in range(1, args.steps + 1):
            if schedule is not None:
                factor = schedule(step - 1, args.steps)
                g_opt.lr, d_opt.lr = args.lr * factor, args.d_lr * factor
            d_loss, g_loss, real_logits, fake_logits = train_step(G, D, g_opt, d_opt, args)
            if g_ema is not None:
                g_ema.update()  # the average moves towards G's new weights
            log.record(step, d_loss, g_loss, real_logits, fake_logits)
            printing = log_every and (step % log_every == 0 or step == 1)
            if printing or step % check_every == 0:
                stats = log.fetch(G=G, D=D)  # one transfer; a NaN stops the run here
            if printing:
                with npgan.no_grad():
                    x = sampled(monitor_noise).numpy()
                say(f"step {step:6d}  d_loss {stats['d_loss']:.4f}  g_loss {stats['g_loss']:.4f}"
                    f"  D(x) {stats['d_real']:.3f}  D(G(z)) {stats['d_fake']:.3f}  gen_mean "
                    f"{float(x.mean()):.4f}  gen_std {float(x.std()):.4f}  "
                    f"[{time.perf_counter() - start:.1f}s]")
            if stop():
                break
        log.fetch(G=G, D=D)  # the steps since the last line, checked too
    if stop.requested:
        print(f"gaussian.py: stopped by Ctrl-C after step {step} of {args.steps}; nothing "
              f"written (this run keeps no checkpoints: run it again)", file=sys.stderr)
        return runs.EXIT_INTERRUPTED
    backend.synchronize()
    seconds = time.perf_counter() - start

    with npgan.no_grad():
        samples = sampled(noise(EVAL_SAMPLES, args.noise_dim)).numpy().ravel()
    summary = metrics.sample_summary(samples, REAL_MEAN, REAL_STD)
    history = log.history
    result = dict(summary, steps=args.steps, seconds=round(seconds, 3),
                  backend=args.backend, seed=args.seed, dtype=args.dtype,
                  batch_size=args.batch_size, d_steps=args.d_steps, g_loss=args.g_loss,
                  hidden=args.hidden, noise_dim=args.noise_dim, g_lr=args.lr,
                  d_lr=args.d_lr, betas=[args.beta1, args.beta2],
                  lr_final=args.lr_final, ema_decay=args.ema_decay,
                  eval_samples=EVAL_SAMPLES,
                  final_d_real=history["d_real"][-1], final_d_fake=history["d_fake"][-1])
    metrics_path = runs.output_path(args.out, "metrics.json")
    runs.write_json(metrics_path, result)
    png_path = runs.output_path(args.out, "gaussian.png")
    plot(png_path, samples, history, args, summary)

    say(f"done in {seconds:.1f}s: mean {summary['mean']:.4f} (real {REAL_MEAN:g}), "
        f"std {summary['std']:.4f} (real {REAL_STD:g}), W1 {summary['w1']:.4f}, "
        f"KS {summary['ks']:.4f} on {EVAL_SAMPLES:,} samples")
    say(f"wrote {metrics_path}")
    say(f"wrote {png_path}")
    return 0


if __name__ == "__main__":
    # The matrices are small (batch x 48): one BLAS thread is faster (runs.limit_blas_threads)
    runs.run_script(main, "gaussian.py", blas_threads=1)
