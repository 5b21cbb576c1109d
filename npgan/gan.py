"""The GAN training loop: k discriminator steps, then one generator step.

One iteration, as in Goodfellow et al. (2014), Algorithm 1:

    for k steps:   x ~ data, z ~ noise
                   L_D = -mean log D(x) - mean log(1 - D(G(z)))      (G(z) detached)
                   update D
    once:          z ~ noise
                   L_G = mean log(1 - D(G(z)))  (minimax)  or  -mean log D(G(z))  (non-saturating)
                   update G  (D's weights get no gradient and are not updated)

The discriminator returns logits; losses use the stable softplus forms of
:mod:`npgan.losses`, and D(x) = sigmoid(logit) is reported as a probability.

Two optional aids, both off by default:

* ``lr_schedule``: a function ``f(t, total)`` of the step t (0-based) and the
  number of steps of the current :meth:`GANTrainer.train` call, returning a
  factor for both optimizers' initial learning rates (:func:`linear_decay`).
* ``g_ema_decay``: keep an exponential moving average of G's parameters,
  ``avg = beta avg + (1 - beta) theta`` after every G update
  (:class:`ExponentialMovingAverage`; Yazici et al., 2019, "The Unusual
  Effectiveness of Averaging in GAN Training"). The averaged generator,
  ``trainer.g_ema.module``, is the one to sample from at the end: the live
  G keeps circling the equilibrium, the average sits near its centre.

Other objectives (:mod:`npgan.objectives`): ``objective="wgan"`` or
``"wgan-gp"`` trains D as a Wasserstein critic (L_D = mean D(G(z)) - mean D(x),
L_G = -mean D(G(z))), with its weights clipped in place after every critic
update ("wgan") or a gradient penalty added to L_D ("wgan-gp"); with
``d_steps=5`` this is Algorithm 1 of Arjovsky et al. (2017) and of Gulrajani
et al. (2017). For these, ``d_real`` and ``d_fake`` in the history are the
mean raw critic scores, not probabilities, and ``d_loss`` includes the
penalty where there is one.
"""
import copy
import time

from npgan import backend, losses, objectives
from npgan.autograd import no_grad
from npgan.nn import Module


def _mean_probability(logits):
    """mean sigmoid(logits) as a Python float: D's average belief that its inputs are real.

    Uses sigmoid(a) = (1 + tanh(a / 2)) / 2: finite for any a, and two array calls.
    """
    xp = backend.get_array_module(logits)
    return 0.5 + 0.5 * float(xp.tanh(logits * 0.5).sum()) / logits.size


def linear_decay(final=0.0):
    """An ``lr_schedule`` that goes linearly from 1 at the first step to ``final`` at the last."""
    if not 0 <= final <= 1:
        raise ValueError(f"linear_decay: final must be in [0, 1], got {final!r}")

    def schedule(t, total):
        return 1.0 - (1.0 - final) * (t / max(total - 1, 1))
    return schedule


class ExponentialMovingAverage:
    """An averaged copy of a module: ``avg = beta avg + (1 - beta) theta`` at each :meth:`update`.

    ``self.module`` is a deep copy of ``module`` whose parameters hold the
    average (use it for sampling; it is never trained). With ``warmup`` the
    decay at update t (1-based) is ``min(decay, (1 + t) / (10 + t))``, so the
    average forgets the initial weights quickly in short runs (as TensorFlow's
    ExponentialMovingAverage with ``num_updates``).
    """

    def __init__(self, module, decay=0.999, warmup=True):
        if not 0 <= decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1), got {decay!r}")
        self.source = module
        self.module = copy.deepcopy(module)
        for p in self.module.parameters():
            p.requires_grad = False
        self.decay = decay
        self.warmup = warmup
        self.updates = 0

    def update(self):
        """Move the average towards the source module's current parameters."""
        self.updates += 1
        beta = self.decay
        if self.warmup:
            beta = min(beta, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.module.parameters(), self.source.parameters()):
            avg.data *= beta
            avg.data += (1 - beta) * p.data


class Packed(Module):
    """A discriminator that judges packs of ``m`` samples (PacGAN, Lin et al., 2018).

    Rows (N, d) become (N/m, m d): each row of D's input is m samples side by
    side, all real or all generated, and D returns one logit per pack. A
    generator that keeps drawing the same few modes is easier to spot in a
    pack than alone, which counters mode collapse. D's first layer must take
    m * d inputs; N must be a multiple of m (the batch size, in GANTrainer).
    """

    def __init__(self, discriminator, m):
        super().__init__()
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"Packed: the pack size m must be a positive int, got {m!r}")
        self.D = discriminator
        self.m = m

    def forward(self, x):
        n = x.shape[0]
        if x.ndim != 2 or n % self.m:
            raise ValueError(f"Packed: expected a batch (N, d) with N a multiple of the pack "
                             f"size {self.m}, got shape {x.shape}; use a batch size divisible "
                             f"by {self.m}")
        return self.D(x.reshape(n // self.m, self.m * x.shape[1]))

    def extra_repr(self):
        return f"m={self.m}"


class GANTrainer:
    """Trains a generator against a discriminator with alternating updates.

    Args:
        generator, discriminator: Modules; D maps a batch to logits of shape (N, 1).
        g_optimizer, d_optimizer: optimizers over each network's parameters.
        sample_real: ``f(n) -> Tensor`` of n real samples.
        sample_noise: ``f(n) -> Tensor`` of n noise vectors for G.
        g_loss: "non-saturating" (default) or "minimax".
        d_steps: discriminator steps per generator step (k in the GAN paper).
        batch_size: samples per step for both networks.
        lr_schedule: optional ``f(t, total) -> factor`` applied to both optimizers'
            learning rates as they were at construction, before step t of a
            :meth:`train` call of ``total`` steps.
        g_ema_decay: optional decay in [0, 1) of an exponential moving average of G's
            parameters, updated after every G step; the average is ``self.g_ema.module``.
        objective: optional name ("gan", "ns", "ns-gp", "wgan", "wgan-gp") or
            :class:`npgan.objectives.Objective`; when given it selects the D loss, the G
            loss (``g_loss`` is then ignored), weight clipping and the gradient penalty.
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, sample_real,
                 sample_noise, g_loss="non-saturating", d_steps=1, batch_size=64,
                 lr_schedule=None, g_ema_decay=None, objective=None):
        if g_loss not in losses.GENERATOR_LOSSES:
            raise ValueError(
                f"GANTrainer: g_loss must be one of {sorted(losses.GENERATOR_LOSSES)}, got {g_loss!r}")
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(f"GANTrainer: d_steps must be a positive int, got {d_steps!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"GANTrainer: batch_size must be a positive int, got {batch_size!r}")
        self.G, self.D = generator, discriminator
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.sample_real, self.sample_noise = sample_real, sample_noise
        given = objective
        if objective is None:  # the standard GAN with the chosen generator loss
            objective = "gan" if g_loss == "minimax" else "ns"
        if isinstance(objective, str):
            objective = objectives.get_objective(objective)
        elif not isinstance(objective, objectives.Objective):
            raise TypeError(f"GANTrainer: objective must be a name in "
                            f"{list(objectives.OBJECTIVE_NAMES)} or an Objective, "
                            f"got {type(objective).__name__}")
        self.objective = objective
        self.g_loss_name = g_loss if given is None else objective.name
        self.g_loss_fn = objective.g_loss
        self.d_loss_fn = objective.d_loss
        self.d_steps = d_steps
        self.batch_size = batch_size
        self.lr_schedule = lr_schedule
        self.base_lrs = (g_optimizer.lr, d_optimizer.lr)
        self.g_ema = None if g_ema_decay is None else ExponentialMovingAverage(generator, g_ema_decay)
        self.step_count = 0
        self.history = {"step": [], "d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}

    def d_step(self):
        """One discriminator update on a real batch and a detached fake batch.

        With an objective that has a gradient penalty, it is added to the D loss;
        with one that clips, D's weights are clipped in place after the update.
        """
        n = self.batch_size
        real = self.sample_real(n)
        with no_grad():  # no gradient into G here, and no graph recorded for it
            fake = self.G(self.sample_noise(n))
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = self.d_loss_fn(real_logits, fake_logits)
        obj = self.objective
        if obj.penalty_weight is not None:
            loss = loss + objectives.gradient_penalty(self.D, real, fake, obj.penalty_weight)
        self.d_optimizer.zero_grad()
        loss.backward()
        self.d_optimizer.step()
        if obj.clip is not None:
            objectives.clip_weights_(self.d_optimizer.params, obj.clip)
        return loss.item(), real_logits, fake_logits

    def g_step(self):
        """One generator update; only G's parameters receive gradients."""
        fake_logits = self.D(self.G(self.sample_noise(self.batch_size)))
        loss = self.g_loss_fn(fake_logits)
        self.g_optimizer.zero_grad()
        loss.backward(inputs=self.g_optimizer.params)  # skips D's weight gradients
        self.g_optimizer.step()
        return loss.item()

    def _mean_score(self, scores):
        """mean sigmoid(score) for logits (D's belief), the mean raw score for a critic."""
        if self.objective.scores_are_logits:
            return _mean_probability(scores)
        return float(scores.sum()) / scores.size

    def step(self):
        """``d_steps`` D updates then one G update; returns and records the statistics."""
        for _ in range(self.d_steps):
            d_loss, real_logits, fake_logits = self.d_step()
        g_loss = self.g_step()
        if self.g_ema is not None:
            self.g_ema.update()
        self.step_count += 1
        stats = {
            "step": self.step_count,
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": self._mean_score(real_logits.data),
            "d_fake": self._mean_score(fake_logits.data),
        }
        for key, value in stats.items():
            self.history[key].append(value)
        return stats

    def state_dict(self):
        """Everything a resumed run needs: both networks, both optimizers, the average, the counts.

        Nested dicts of host arrays and numbers, for :func:`npgan.checkpoint.save`.
        The random generator and the data order are not in it: they belong to
        the caller (see examples/mnist.py).
        """
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "g_ema": None if self.g_ema is None else {
                "params": self.g_ema.module.state_dict(), "updates": self.g_ema.updates},
            "step_count": self.step_count,
            "history": {k: list(v) for k, v in self.history.items()},
        }

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (a ValueError if the networks differ)."""
        if (state.get("g_ema") is None) != (self.g_ema is None):
            raise ValueError("GANTrainer.load_state_dict: the state and this trainer disagree on "
                             "keeping an average of G (g_ema_decay)")
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.g_ema is not None:
            self.g_ema.module.load_state_dict(state["g_ema"]["params"])
            self.g_ema.updates = int(state["g_ema"]["updates"])
        self.step_count = int(state["step_count"])
        self.history = {k: list(state["history"][k]) for k in self.history}

    def train(self, steps, log_every=0, log=print, extra_stats=None, callback=None):
        """Run ``steps`` iterations; every ``log_every`` steps print one progress line.

        ``extra_stats()`` may return a dict of more numbers for the line
        (e.g. the generated mean and std). ``callback(stats)``, if given, runs
        after every step (to save sample grids or checkpoints). With an
        ``lr_schedule``, step t of this call runs at ``schedule(t, steps)``
        times the learning rates the optimizers had when the trainer was
        built. Returns the history dict.
        """
        start = time.perf_counter()
        for t in range(steps):
            if self.lr_schedule is not None:
                factor = self.lr_schedule(t, steps)
                self.g_optimizer.lr = self.base_lrs[0] * factor
                self.d_optimizer.lr = self.base_lrs[1] * factor
            stats = self.step()
            if log_every and (stats["step"] % log_every == 0 or stats["step"] == 1):
                line = (f"step {stats['step']:6d}  d_loss {stats['d_loss']:.4f}  "
                        f"g_loss {stats['g_loss']:.4f}  D(x) {stats['d_real']:.3f}  "
                        f"D(G(z)) {stats['d_fake']:.3f}")
                if extra_stats is not None:
                    line += "".join(f"  {k} {v:.4f}" for k, v in extra_stats().items())
                log(f"{line}  [{time.perf_counter() - start:.1f}s]")
            if callback is not None:
                callback(stats)
        return self.history
