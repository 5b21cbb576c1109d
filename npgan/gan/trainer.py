"""The GAN training loop: k discriminator steps, then one generator step.

One iteration, as in Goodfellow et al. (2014), Algorithm 1:

    for k steps:   x ~ data, z ~ noise
                   L_D = -mean log D(x) - mean log(1 - D(G(z)))      (G(z) detached)
                   update D
    once:          z ~ noise
                   L_G = mean log(1 - D(G(z)))  (minimax)  or  -mean log D(G(z))  (non-saturating)
                   update G  (D's weights get no gradient and are not updated)

The discriminator returns logits; losses use the stable softplus forms of
:mod:`npgan.gan.objectives`, and D(x) = sigmoid(logit) is reported as a probability.

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

The statistics of each step (the two losses, D's mean outputs) stay on the
device until :meth:`GANTrainer.fetch` reads them, all at once, when
:meth:`GANTrainer.train` prints a line or checks the run (every
``check_every`` steps): on a GPU the step never waits for the host. That
fetch is also the run's watch: the first NaN or infinite loss or parameter
raises :class:`TrainingDiverged`, naming the step.

Other objectives (:mod:`npgan.gan.objectives`): ``objective="wgan"`` or
``"wgan-gp"`` trains D as a Wasserstein critic (L_D = mean D(G(z)) - mean D(x),
L_G = -mean D(G(z))), with its weights clipped in place after every critic
update ("wgan") or a gradient penalty added to L_D ("wgan-gp"); with
``d_steps=5`` this is Algorithm 1 of Arjovsky et al. (2017) and of Gulrajani
et al. (2017). For these, ``d_real`` and ``d_fake`` in the history are the
mean raw critic scores, not probabilities, and ``d_loss`` includes the
penalty where there is one.
"""
import math
import time

from npgan import backend
from npgan.autograd import no_grad
from npgan.gan import objectives
from npgan.gan.ema import ExponentialMovingAverage


def _mean_probability(logits):
    """mean sigmoid(logits) as a Python float: D's average belief that its inputs are real.

    Uses sigmoid(a) = (1 + tanh(a / 2)) / 2: finite for any a, and two array calls.
    (This reads the value back to the host; the trainer keeps the sum on the
    device instead, :func:`_probability_sum`, and converts it when it fetches.)
    """
    return _probability_from_sum(_probability_sum(logits), logits.size)


def _probability_sum(logits):
    """sum tanh(a / 2) over the logits, left on the device (a scalar of the backend)."""
    xp = backend.get_array_module(logits)
    return xp.tanh(logits * 0.5).sum()


def _probability_from_sum(total, size):
    """mean sigmoid(a) = 1/2 + 1/2 mean tanh(a / 2), from the host value of the sum."""
    return 0.5 + 0.5 * float(total) / size


CHECK_EVERY = 100
"""Steps between two reads of the running statistics when no progress line asks for them
(``GANTrainer.train(check_every=...)``): how late, at most, a diverged run is noticed."""


class TrainingDiverged(FloatingPointError):
    """A loss or a parameter became NaN or infinite: the run cannot recover, so it stops.

    Attributes: ``step`` (the step whose loss, or whose update, was not finite),
    ``what`` ("d_loss", "g_loss", "D(x)", "D(G(z))" or "the parameters of G/D")
    and ``value`` (the number, or None for parameters). The message says what
    to try: a lower learning rate, or float64.
    """

    def __init__(self, step, what, value=None):
        self.step, self.what, self.value = step, what, value
        found = f"{what} is {value}" if value is not None else f"{what} hold NaN or inf"
        super().__init__(f"training diverged at step {step}: {found}; try a lower learning "
                         f"rate, or float64")


def linear_decay(final=0.0):
    """An ``lr_schedule`` that goes linearly from 1 at the first step to ``final`` at the last."""
    if not 0 <= final <= 1:
        raise ValueError(f"linear_decay: final must be in [0, 1], got {final!r}")

    def schedule(t, total):
        return 1.0 - (1.0 - final) * (t / max(total - 1, 1))
    return schedule


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
        objective: optional name ("gan", "ns", "ns-gp", "ns-r1", "wgan", "wgan-gp") or
            :class:`npgan.gan.objectives.Objective`; when given it selects the D loss, the G
            loss (``g_loss`` is then ignored), weight clipping and the gradient penalty.
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, sample_real,
                 sample_noise, g_loss="non-saturating", d_steps=1, batch_size=64,
                 lr_schedule=None, g_ema_decay=None, objective=None):
        if g_loss not in objectives.GENERATOR_LOSSES:
            raise ValueError(
                f"GANTrainer: g_loss must be one of {sorted(objectives.GENERATOR_LOSSES)}, got {g_loss!r}")
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
        self._pending = []  # per step: the statistics still on the device (see fetch)
        self._checked_step = None  # the step after which the parameters were last found finite

    def d_step(self):
        """One discriminator update on a real batch and a detached fake batch.

        With an objective that has a gradient penalty, it is added to the D loss, and so is
        R1 (on real samples) on the steps its ``r1_every`` picks (counted by ``step_count``);
        with one that clips, D's weights are clipped in place after the update.
        Returns ``(loss, real_logits, fake_logits)``; the loss is a scalar of the
        backend (a NumPy scalar, or a 0-d CuPy array: nothing is copied to the
        host and nothing waits for the GPU; ``float(loss)`` reads it).
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
        if obj.r1_weight is not None and self.step_count % obj.r1_every == 0:
            # lazy R1 (Karras et al., 2020): on every r1_every-th step, r1_every times as strong
            loss = loss + obj.r1_every * objectives.r1_penalty(self.D, real, obj.r1_weight)
        self.d_optimizer.zero_grad()
        loss.backward()
        self.d_optimizer.step()
        if obj.clip is not None:
            objectives.clip_weights_(self.d_optimizer.params, obj.clip)
        return loss.data[()], real_logits, fake_logits

    def g_step(self):
        """One generator update; only G's parameters receive gradients.

        Returns the loss as a scalar of the backend, left on the device (see :meth:`d_step`).
        """
        fake_logits = self.D(self.G(self.sample_noise(self.batch_size)))
        loss = self.g_loss_fn(fake_logits)
        self.g_optimizer.zero_grad()
        loss.backward(inputs=self.g_optimizer.params)  # skips D's weight gradients
        self.g_optimizer.step()
        return loss.data[()]

    def _score_sum(self, scores):
        """The device-side sum behind D's mean output: of tanh(a/2) for logits, of raw scores
        for a critic (converted by :meth:`_mean_from_sum` once fetched)."""
        if self.objective.scores_are_logits:
            return _probability_sum(scores)
        return scores.sum()

    def _mean_from_sum(self, total, size):
        """mean sigmoid(score) for logits (D's belief), the mean raw score for a critic."""
        if self.objective.scores_are_logits:
            return _probability_from_sum(total, size)
        return float(total) / size

    def run_step(self):
        """``d_steps`` D updates then one G update, with nothing read back to the host.

        The step's losses and D's output sums stay on the device in ``self._pending``
        until :meth:`fetch` reads them all in one transfer (and checks them for
        NaN); call it at least when you print, and before saving. Note that
        ``lr_schedule`` is applied by :meth:`train`, not here.
        """
        for _ in range(self.d_steps):
            d_loss, real_logits, fake_logits = self.d_step()
        g_loss = self.g_step()
        if self.g_ema is not None:
            self.g_ema.update()
        self.step_count += 1
        real, fake = real_logits.data, fake_logits.data
        self._pending.append((self.step_count, d_loss, g_loss, self._score_sum(real), real.size,
                              self._score_sum(fake), fake.size))

    def fetch(self, check_parameters=True):
        """Read the statistics of the steps run since the last fetch, in ONE device-to-host copy.

        Appends them to ``self.history`` and returns the last step's stats dict
        (None when no step has run). This is also the run's watch for
        divergence: the first non-finite loss or D output raises
        :class:`TrainingDiverged` naming its step, and so do non-finite
        parameters of G or D after the last step when ``check_parameters``
        (their check is a device-side reduction fetched in the same copy).
        History keeps only the finite steps before the bad one.
        """
        pending, self._pending = self._pending, []
        values = []
        for _, d_loss, g_loss, real_sum, _, fake_sum, _ in pending:
            values += (d_loss, g_loss, real_sum, fake_sum)
        params_ok = None
        if check_parameters and self.step_count and self._checked_step != self.step_count:
            params_ok = self._parameters_finite()
            values.append(params_ok)
        if not values:
            return self.latest_stats()
        xp = backend.get_array_module(values[0])
        host = backend.to_numpy(xp.stack([xp.asarray(v) for v in values]))
        for i, (step, _, _, _, real_size, _, fake_size) in enumerate(pending):
            d_loss, g_loss, real_sum, fake_sum = host[4 * i:4 * i + 4]
            stats = {"step": step, "d_loss": float(d_loss), "g_loss": float(g_loss),
                     "d_real": self._mean_from_sum(real_sum, real_size),
                     "d_fake": self._mean_from_sum(fake_sum, fake_size)}
            for key in ("d_loss", "g_loss", "d_real", "d_fake"):
                if not math.isfinite(stats[key]):
                    name = {"d_real": "D(x)", "d_fake": "D(G(z))"}.get(key, key)
                    raise TrainingDiverged(step, name, stats[key])
            for key, value in stats.items():
                self.history[key].append(value)
        if params_ok is not None and host[-1]:
            self._checked_step = self.step_count
        if params_ok is not None and not host[-1]:
            bad = [name for name, net in (("G", self.G), ("D", self.D))
                   if not all(bool(backend.get_array_module(p.data).isfinite(p.data).all())
                              for p in net.parameters())]
            raise TrainingDiverged(self.step_count, f"the parameters of {' and '.join(bad)}")
        return self.latest_stats()

    def _parameters_finite(self):
        """A device-side boolean: every parameter of G and D is finite (nothing fetched)."""
        flags = [backend.get_array_module(p.data).isfinite(p.data).all()
                 for net in (self.G, self.D) for p in net.parameters()]
        xp = backend.get_array_module(flags[0])
        return xp.stack([xp.asarray(f) for f in flags]).all()

    def latest_stats(self):
        """The stats dict of the last fetched step (None before any); see :meth:`fetch`."""
        if not self.history["step"]:
            return None
        return {key: values[-1] for key, values in self.history.items()}

    def step(self):
        """``d_steps`` D updates then one G update; returns and records the statistics.

        This reads the step's four numbers back to the host (one transfer) and
        raises :class:`TrainingDiverged` if a loss is not finite; :meth:`train`
        reads them only when it prints or checks (every ``log_every`` or
        ``check_every`` steps), so the GPU never waits for the host in between.
        """
        self.run_step()
        return self.fetch(check_parameters=False)

    def state_dict(self):
        """Everything a resumed run needs: both networks, both optimizers, the average, the counts.

        Nested dicts of host arrays and numbers, for :func:`npgan.tools.checkpoint.save`.
        The random generator and the data order are not in it: they belong to
        the caller (see examples/mnist.py). It first fetches the pending
        statistics and checks the parameters (:meth:`fetch`), so a diverged run
        raises :class:`TrainingDiverged` here and never writes a NaN checkpoint.
        """
        self._checked_step = None  # check the parameters as they are now, whatever happened
        self.fetch()
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
        self._pending, self._checked_step = [], None
        for name, net in (("G", self.G), ("D", self.D)):
            if not all(bool(backend.get_array_module(p.data).isfinite(p.data).all())
                       for p in net.parameters()):
                raise ValueError(f"the saved parameters of {name} hold NaN or inf (the run had "
                                 f"diverged); start again, with a lower learning rate")

    def train(self, steps, log_every=0, log=print, extra_stats=None, callback=None,
              check_every=None, should_stop=None):
        """Run ``steps`` iterations; every ``log_every`` steps print one progress line.

        The statistics stay on the device between fetches: they are read back
        (:meth:`fetch`, one transfer, which also checks that the losses and the
        parameters are finite) at each progress line (steps 1 and multiples of
        ``log_every``), every ``check_every`` steps (default: ``log_every``, or
        :data:`CHECK_EVERY` without progress lines) and at the end. A diverged
        run raises :class:`TrainingDiverged` at the first of them.

        ``extra_stats()`` may return a dict of more numbers for the line
        (e.g. the generated mean and std). ``callback(step)``, if given, runs
        after every step with the step count (to save sample grids or
        checkpoints; :meth:`latest_stats` gives the last fetched numbers).
        ``should_stop()``, if given, is asked after every step; when it returns
        True the loop ends there (Ctrl-C handling: :mod:`npgan.runs`). With an
        ``lr_schedule``, step t of this call runs at ``schedule(t, steps)``
        times the learning rates the optimizers had when the trainer was
        built. Returns the history dict.
        """
        if check_every is None:
            check_every = log_every or CHECK_EVERY
        start = time.perf_counter()
        for t in range(steps):
            if self.lr_schedule is not None:
                factor = self.lr_schedule(t, steps)
                self.g_optimizer.lr = self.base_lrs[0] * factor
                self.d_optimizer.lr = self.base_lrs[1] * factor
            self.run_step()
            step = self.step_count
            logging = log_every and (step % log_every == 0 or step == 1)
            if logging or (check_every and step % check_every == 0):
                stats = self.fetch()
            if logging:
                line = (f"step {stats['step']:6d}  d_loss {stats['d_loss']:.4f}  "
                        f"g_loss {stats['g_loss']:.4f}  D(x) {stats['d_real']:.3f}  "
                        f"D(G(z)) {stats['d_fake']:.3f}")
                if extra_stats is not None:
                    line += "".join(f"  {k} {v:.4f}" for k, v in extra_stats().items())
                log(f"{line}  [{time.perf_counter() - start:.1f}s]")
            if callback is not None:
                callback(step)
            if should_stop is not None and should_stop():
                break
        if self._pending:  # the last steps into the history (and checked)
            self.fetch()
        return self.history
