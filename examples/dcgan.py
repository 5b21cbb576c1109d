"""DCGAN on MNIST: the convolutional GAN every seed article builds up to.

The networks (Radford et al., 2016, "Unsupervised representation learning with deep
convolutional generative adversarial networks", scaled to 28 x 28 digits):

* G: z (100) -> Linear -> 128 feature maps of 7 x 7, batch norm, ReLU; a transposed
  convolution (kernel 4, stride 2, padding 1) to 64 maps of 14 x 14, batch norm, ReLU;
  another to one 28 x 28 map; Tanh, so pixels land in [-1, 1] like the real ones.
  "Fractionally strided": each step doubles the side.
* D: strided convolutions (kernel 4, stride 2, padding 1) 28 -> 14 -> 7 with 64 and
  128 maps and LeakyReLU(0.2), then one logit from a Linear layer. No pooling: the
  strides learn their own downsampling.

Everything else is the MLP example's (examples/mnist.py): the data, the flags, the
pictures (a grid from fixed noise every --sample-every steps, progress.png,
losses.png), the checkpoints (bitwise resume, batch norm's running statistics
included), and the score in metrics.json (classifier FID with its real-vs-real floor,
classes covered, KL from uniform, top-class confidence). The networks take and give
784-pixel rows as the MLPs do: D unflattens them to (1, 28, 28) first, G flattens its
image last.

The GAN recipe (--loss gan, the default): the non-saturating loss with R1 below, Adam
lr 8e-4 with betas (0.5, 0.999) for G and D, batch 48, 6,500 steps. The README measures
how each of R1 and the learning rate moved the FID.

Choices, each a flag (the README measures --r1, --lr, --d-norm, --sample-mode and --loss):

* --d-norm: what D normalises its second convolution with: "batch" (DCGAN's batch norm,
  the default), "none", or "layer" (LayerNorm over each sample's maps, the critic of
  WGAN-GP, whose penalty is per sample and must not mix a batch);
* --dropout: dropout after each of D's LeakyReLUs (default 0.3, as the MLP D);
* --sample-mode: whether G draws the grids and the scored samples with batch norm in
  training mode (each batch's own statistics) or eval mode (the running averages);
  the other mode's FID is reported beside, in metrics.json;
* --r1: gamma of the R1 penalty (gamma / 2) mean ||grad_x D(x)||^2 on real digits
  (Mescheder et al., 2018), added on every --r1-every-th step (default 8), that many
  times as strong (Karras et al., 2020); default 1, 0 = off. It keeps D from
  sharpening around the 4,000 training digits it sees 78 times over;
* --ema-decay: G's samples come from a moving average of its weights (default 0.999;
  Yazici et al., 2019; 0 samples the live G);
* --loss wgan-gp: the recipe of seed article 004 and Gulrajani et al. (2017) on
  images: a critic (--d-norm layer by default), the gradient penalty (lambda 10) on
  random interpolates between real and generated digits, 5 critic steps per G step,
  Adam lr 1e-4, betas (0.5, 0.9).

    python examples/dcgan.py                          # the default run (6,500 steps)
    python examples/dcgan.py --steps 400 --out runs/dc_short
    python examples/dcgan.py --loss wgan-gp --out runs/dc_wgangp   # 1,000 G steps
    python examples/dcgan.py --backend cupy           # on an NVIDIA GPU
"""
import os
import shlex
import sys

import mnist  # the MNIST example: data, flags, pictures, checkpoints, score (examples/mnist.py)

from npgan import checkpoint, data, nn, optim, runs
from npgan import random as nprandom
from npgan.gan import GANTrainer, objectives

NOISE_DIM = mnist.NOISE_DIM       # 100
R1_EVERY = 8  # default --r1-every: R1 on every 8th step, 8 times as strong ("lazy")
DEFAULT_STEPS = {"gan": 6500, "wgan-gp": 1000}  # G steps; a WGAN-GP step has 5 critic steps
RECIPES = {  # --loss: objective, critic steps per G step, Adam's lr and betas, D's norm and
    #          dropout, R1, batch
    "gan": {"objective": "ns", "d_steps": 1, "lr": 8e-4, "betas": (0.5, 0.999), "d_norm": "batch",
            "dropout": 0.3, "r1": 1.0, "batch_size": 48},
    "wgan-gp": {"objective": "wgan-gp", "d_steps": 5, "lr": 1e-4, "betas": (0.5, 0.9),
                "d_norm": "layer", "dropout": 0.0, "r1": 0.0, "batch_size": 64},
}


def build_generator():
    """G: z -> 128 x 7 x 7 -> 64 x 14 x 14 -> 1 x 28 x 28, batch norm and ReLU between, Tanh last."""
    return nn.Sequential(
        nn.Linear(NOISE_DIM, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1), nn.Tanh(),
        nn.Flatten())  # (N, 784): the rows the MNIST pipeline draws and scores


def build_discriminator(norm="none", dropout=0.3):
    """D: 1 x 28 x 28 -> 64 x 14 x 14 -> 128 x 7 x 7 -> one logit; LeakyReLU(0.2), and ``norm``
    ("none", "batch" or "layer") after the second convolution, ``dropout`` after each LeakyReLU."""
    def drop():
        return [nn.Dropout(dropout)] if dropout else []
    normalise = {"none": [], "batch": [nn.BatchNorm2d(128)],
                 "layer": [nn.LayerNorm((128, 7, 7))]}[norm]
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2), *drop(),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), *normalise, nn.LeakyReLU(0.2), *drop(),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1))


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Train a DCGAN on MNIST digits; write sample grids, checkpoints, "
                    "losses.png and metrics.json.")
    mnist.add_run_flags(p, os.path.join("runs", "dcgan"),
                        f"{DEFAULT_STEPS['gan']} with --loss gan, {DEFAULT_STEPS['wgan-gp']} with "
                        "--loss wgan-gp")
    p.add_argument("--batch-size", type=runs.positive_int, default=None,
                   help="samples per step for G and D (default 48; 64 with wgan-gp)")
    p.add_argument("--loss", choices=sorted(RECIPES), default="gan",
                   help="gan: the non-saturating GAN loss; wgan-gp: a critic with the gradient "
                        "penalty, 5 critic steps per G step")
    p.add_argument("--lr", type=runs.positive_float, default=None,
                   help="Adam learning rate of G and D (default 8e-4; 1e-4 with wgan-gp)")
    p.add_argument("--d-norm", choices=["none", "batch", "layer"], default=None,
                   help="normalisation in D (default batch; layer with wgan-gp)")
    p.add_argument("--dropout", type=runs.unit_interval, default=None,
                   help="dropout after D's LeakyReLUs (default 0.3; 0 with wgan-gp)")
    p.add_argument("--r1", type=runs.nonnegative_float, default=None,
                   help="gamma of the R1 penalty on real digits (default 1; 0 = off; not with "
                        "wgan-gp)")
    p.add_argument("--r1-every", type=runs.positive_int, default=R1_EVERY,
                   help=f"R1 on every Nth step only, N times as strong (default {R1_EVERY})")
    p.add_argument("--ema-decay", type=runs.unit_interval, default=0.999,
                   help="decay of the moving average of G used for samples and scores (0 = off)")
    p.add_argument("--sample-mode", choices=["train", "eval"], default="train",
                   help="batch norm in G when drawing grids and scored samples: batch statistics "
                        "(train) or the running averages (eval)")
    args = p.parse_args(argv)
    recipe = RECIPES[args.loss]
    args.batch_size = recipe["batch_size"] if args.batch_size is None else args.batch_size
    args.lr = recipe["lr"] if args.lr is None else args.lr
    args.d_norm = recipe["d_norm"] if args.d_norm is None else args.d_norm
    args.dropout = recipe["dropout"] if args.dropout is None else args.dropout
    if args.loss == "wgan-gp" and args.r1:
        p.error("--r1 adds R1 to the GAN loss; --loss wgan-gp has its own gradient penalty, "
                "so leave --r1 out (or give 0)")
    args.r1 = recipe["r1"] if args.r1 is None else args.r1
    if args.loss == "wgan-gp" and args.d_norm == "batch":
        p.error("--loss wgan-gp penalises each sample's gradient, which batch norm mixes across "
                "the batch; use --d-norm layer or none")
    if args.batch_size < 2:
        p.error("--batch-size must be at least 2: batch norm needs two samples per batch")
    itemsize = 4 if args.dtype == "float32" else 8
    # per row: G's and D's feature maps and their columns, forward and backward, a few times over
    mnist.check_run_flags(p, args, 40 * args.batch_size * (128 * 7 * 7 + 64 * 14 * 14 * 16)
                          * itemsize)
    return args


def build_trainer(args, batches):
    """G and D of this file, Adam for both, the objective of --loss; returns (trainer, a line)."""
    recipe = RECIPES[args.loss]
    G = build_generator()
    D = build_discriminator(args.d_norm, args.dropout)
    betas = recipe["betas"]
    objective = recipe["objective"]
    if args.r1:
        objective = objectives.get_objective("ns-r1", r1_weight=args.r1, r1_every=args.r1_every)
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=args.lr, betas=betas),
        optim.Adam(D.parameters(), lr=args.lr, betas=betas),
        sample_real=batches, sample_noise=lambda n: nprandom.randn(n, NOISE_DIM),
        objective=objective, d_steps=recipe["d_steps"], batch_size=args.batch_size,
        g_ema_decay=args.ema_decay or None)
    r1 = f"R1 gamma {args.r1:g} every {args.r1_every} steps" if args.r1 else "no R1"
    return trainer, (f"DCGAN: loss {args.loss} ({recipe['d_steps']} D step(s) per G step), "
                     f"Adam lr {args.lr:g} betas {betas}, D norm {args.d_norm}, dropout "
                     f"{args.dropout:g}, {r1}, ema {args.ema_decay:g}, samples in "
                     f"{args.sample_mode} mode")


def run_config(args, train):
    """The settings that define a run (what a resume checks, and metrics.json records)."""
    return {"model": "dcgan", "loss": args.loss, "d_norm": args.d_norm, "dropout": args.dropout,
            "r1": args.r1, "r1_every": args.r1_every, "dtype": args.dtype,
            "batch_size": args.batch_size, "lr": args.lr, "ema_decay": args.ema_decay,
            "sample_mode": args.sample_mode, "seed": args.seed,
            "data_source": train.source, "data_rows": len(train), "backend": args.backend}


def main(argv=None):
    """Run the example; returns the process exit status: 0; 1 on bad data, a bad checkpoint or a
    diverged run; 2 without the backend; 130 after Ctrl-C (with a checkpoint to resume)."""
    args = parse_args(argv)
    args.script, args.default_steps = "dcgan.py", DEFAULT_STEPS[args.loss]
    args.command = "python3 examples/dcgan.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    return runs.run_example(
        "dcgan.py", lambda name: mnist.run(args, name, build_trainer, run_config, args.sample_mode),
        args.backend, args.dtype, errors=(data.DataError, checkpoint.CheckpointError))


if __name__ == "__main__":
    runs.run_script(main, "dcgan.py")
