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
"""
import time

from npgan import activations, losses
from npgan.autograd import no_grad


def _mean_probability(logits):
    """mean sigmoid(logits) as a Python float: D's average belief that its inputs are real."""
    return float(activations.sigmoid(logits).sum()) / logits.size


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
    """

    def __init__(self, generator, discriminator, g_optimizer, d_optimizer, sample_real,
                 sample_noise, g_loss="non-saturating", d_steps=1, batch_size=64):
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
        self.g_loss_name = g_loss
        self.g_loss_fn = losses.GENERATOR_LOSSES[g_loss]
        self.d_steps = d_steps
        self.batch_size = batch_size
        self.step_count = 0
        self.history = {"step": [], "d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}

    def d_step(self):
        """One discriminator update on a real batch and a detached fake batch."""
        n = self.batch_size
        real = self.sample_real(n)
        with no_grad():  # no gradient into G here, and no graph recorded for it
            fake = self.G(self.sample_noise(n))
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = losses.discriminator_loss(real_logits, fake_logits)
        self.d_optimizer.zero_grad()
        loss.backward()
        self.d_optimizer.step()
        return loss.item(), real_logits, fake_logits

    def g_step(self):
        """One generator update; only G's parameters receive gradients."""
        fake_logits = self.D(self.G(self.sample_noise(self.batch_size)))
        loss = self.g_loss_fn(fake_logits)
        self.g_optimizer.zero_grad()
        loss.backward(inputs=self.g_optimizer.params)  # skips D's weight gradients
        self.g_optimizer.step()
        return loss.item()

    def step(self):
        """``d_steps`` D updates then one G update; returns and records the statistics."""
        for _ in range(self.d_steps):
            d_loss, real_logits, fake_logits = self.d_step()
        g_loss = self.g_step()
        self.step_count += 1
        stats = {
            "step": self.step_count,
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": _mean_probability(real_logits.data),
            "d_fake": _mean_probability(fake_logits.data),
        }
        for key, value in stats.items():
            self.history[key].append(value)
        return stats

    def train(self, steps, log_every=0, log=print, extra_stats=None):
        """Run ``steps`` iterations; every ``log_every`` steps print one progress line.

        ``extra_stats()`` may return a dict of more numbers for the line
        (e.g. the generated mean and std). Returns the history dict.
        """
        start = time.perf_counter()
        for _ in range(steps):
            stats = self.step()
            if log_every and (stats["step"] % log_every == 0 or stats["step"] == 1):
                line = (f"step {stats['step']:6d}  d_loss {stats['d_loss']:.4f}  "
                        f"g_loss {stats['g_loss']:.4f}  D(x) {stats['d_real']:.3f}  "
                        f"D(G(z)) {stats['d_fake']:.3f}")
                if extra_stats is not None:
                    line += "".join(f"  {k} {v:.4f}" for k, v in extra_stats().items())
                log(f"{line}  [{time.perf_counter() - start:.1f}s]")
        return self.history
