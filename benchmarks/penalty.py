"""The cost of WGAN-GP's gradient penalty, and of R1, on the D of examples/dcgan.py.

    python3 benchmarks/penalty.py            # batch 64, float32, 12 rounds: about a minute;
                                             # puts the result into results.json, RESULTS.md
    python3 benchmarks/penalty.py --quick    # tiny: checks it runs, writes nothing

One critic step (forward on a real and a generated batch, loss, backward, Adam) with the
penalty lambda E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates x_hat, against the
same step without it. The penalty needs D's input gradient with its graph kept
(create_graph), then the backward of that gradient: a second backward pass through every
convolution and LayerNorm, plus a third forward pass on the interpolates. The two steps
are timed in interleaved rounds (medians of blocks), so a machine that speeds up or slows
down moves both alike; the busy cores of other processes are printed beside.

R1 the same way: one D step of the default GAN recipe (batch norm, dropout 0.3, batch 48) with
(gamma / 2) E||grad_x D(x)||^2 on the real batch, against the same step without it.
dcgan.py adds R1 on every --r1-every-th step only, so a training step pays
(with - without) / N on average.
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import dcgan  # noqa: E402  (examples/dcgan.py: the networks)

import npgan  # noqa: E402
from benchmarks.machine import machine_info  # noqa: E402
from benchmarks.report import write_report  # noqa: E402
from benchmarks.timing import OtherCPU  # noqa: E402
from npgan import optim  # noqa: E402
from npgan import random as nprandom  # noqa: E402
from npgan.gan import GANTrainer, objectives  # noqa: E402


def d_step_of(loss, objective, batch, seed=0):
    """The ``d_step`` of a trainer with dcgan.py's networks, D's norm and dropout and the Adam
    settings of its ``loss`` recipe, on a fixed batch of uniform "real" rows."""
    npgan.manual_seed(seed)
    recipe = dcgan.RECIPES[loss]
    G = dcgan.build_generator()
    D = dcgan.build_discriminator(recipe["d_norm"], recipe["dropout"])
    real = nprandom.uniform(-1, 1, (batch, 784))
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=recipe["lr"], betas=recipe["betas"]),
                         optim.Adam(D.parameters(), lr=recipe["lr"], betas=recipe["betas"]),
                         sample_real=lambda n: real, sample_noise=lambda n: nprandom.randn(n, 100),
                         objective=objective, batch_size=batch)
    return trainer.d_step


def critic_step(penalty_weight, batch):
    """One WGAN critic step (LayerNorm critic), with the penalty or without (None)."""
    objective = objectives.Objective(
        "wgan-gp" if penalty_weight else "wgan (no clip, no penalty)",
        objectives.wasserstein_critic_loss, objectives.wasserstein_generator_loss,
        penalty_weight=penalty_weight, scores_are_logits=False)
    return d_step_of("wgan-gp", objective, batch)


def gan_d_step(r1_weight, batch):
    """One D step of dcgan.py's GAN recipe (batch norm, dropout 0.3), with R1 on every step
    (``r1_weight`` gamma) or without it (None)."""
    objective = (objectives.get_objective("ns") if r1_weight is None else
                 objectives.get_objective("ns-r1", r1_weight=r1_weight, r1_every=1))
    return d_step_of("gan", objective, batch)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="batch 8, 2 rounds (checks it runs)")
    args = p.parse_args(argv)
    npgan.set_default_dtype("float32")
    batch, rounds, per_block = (8, 2, 1) if args.quick else (64, 12, 4)
    gan_batch = batch if args.quick else dcgan.RECIPES["gan"]["batch_size"]  # the default run's
    steps = {"plain": critic_step(None, batch), "penalty": critic_step(10.0, batch),
             "gan": gan_d_step(None, gan_batch), "r1": gan_d_step(1.0, gan_batch)}
    times = {name: [] for name in steps}
    for step in steps.values():  # warm-up: allocations, caches
        step(), step()
    meter = OtherCPU()
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        for name in order:
            start = time.perf_counter()
            for _ in range(per_block):
                steps[name]()
            times[name].append((time.perf_counter() - start) / per_block * 1000)
    busy = meter.cores()
    plain, penalty, gan, r1 = (statistics.median(times[n]) for n in steps)
    print(f"critic step of examples/dcgan.py --loss wgan-gp (LayerNorm critic), batch {batch}, "
          f"float32, {rounds} interleaved rounds of {per_block} steps, median ms:")
    print(f"  without the penalty  {plain:7.1f} ms")
    print(f"  with the penalty     {penalty:7.1f} ms   ({penalty / plain:.2f}x)")
    print(f"D step of examples/dcgan.py's GAN recipe (batch norm, dropout 0.3), batch {gan_batch}, "
          "median ms:")
    print(f"  without R1           {gan:7.1f} ms")
    print(f"  with R1              {r1:7.1f} ms   ({r1 / gan:.2f}x)")
    print(f"  other processes kept {busy:.2f} cores busy" if busy is not None else
          "  (other processes' load unknown on this system)")
    if args.quick:
        return 0
    saved = os.path.join(ROOT, "benchmarks", "results.json")
    with open(saved) as f:
        results = json.load(f)
    meta = machine_info(None, [])
    results["penalty"] = {
        "command": "python3 benchmarks/penalty.py", "batch": batch, "rounds": rounds,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{meta['cpu']}, {meta['cores']}",
        "other_cores": "?" if busy is None else f"{busy:.2f}",
        "plain_ms": plain, "penalty_ms": penalty, "gan_d_ms": gan, "r1_ms": r1,
        "gan_batch": gan_batch, "r1_every": dcgan.R1_EVERY}
    with open(saved, "w") as f:
        f.write(json.dumps(results, indent=1, default=str))
    print(f"wrote {saved} and {write_report(results, os.path.dirname(saved))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
