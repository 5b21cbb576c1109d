"""The losses of the autoencoder and the VAE: reconstruction, the Gaussian KL, the negative ELBO.

A VAE (Kingma & Welling, 2014) encodes x to a Gaussian q(z|x) = N(mu, diag(sigma^2)),
with logvar = log sigma^2 per code dimension, draws a code from it and decodes.
It maximises the evidence lower bound (ELBO) of each x:

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))

and trains on the negative ELBO = reconstruction NLL + KL, with:

* :func:`reparameterize`: z = mu + exp(logvar / 2) * eps, eps ~ N(0, I), so the draw is a
  differentiable function of (mu, logvar) and the noise is a constant of the graph;
* :func:`gaussian_kl`: the KL term in closed form,
  KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j);
* a reconstruction negative log-likelihood -log p(x|z), one of
  :func:`bernoulli_nll` (images with pixels in [0, 1]; the decoder gives logits) or
  :func:`gaussian_nll` (real-valued points; the decoder gives the mean).

Every loss here is **summed over the dimensions of one example** (the pixels, the code)
and **averaged over the batch**: the number of nats per example, the scale on which the
terms of the ELBO are added. A mean over pixels instead would weigh the KL 784 times
more than the bound does.

Which reconstruction loss, and why:

* **Bernoulli / BCE from logits for MNIST.** Most pixels are near 0 or 1, the decoder's
  logits go through the stable BCE-with-logits (no overflow), and it is Kingma &
  Welling's choice for MNIST. npgan keeps MNIST pixels in [-1, 1] for the GAN's tanh;
  the targets are mapped to t = (x + 1) / 2 in [0, 1] (:func:`to_probabilities`), and a
  decoded p = sigmoid(logit) maps back to 2 p - 1 = tanh(logit / 2)
  (:func:`from_probabilities`), so all three models are scored on the same scale. For
  grey pixels the "Bernoulli" of a value between 0 and 1 is not a normalised density
  (Loaiza-Ganem & Cunningham, 2019), so the MNIST bound is comparable between our runs,
  not with published nats.
* **Gaussian / MSE for the 2-D mixtures.** The points are real numbers, not bounded,
  so p(x|z) = N(x; decoder(z), sigma_x^2 I). The VAE learns log sigma_x^2 (one
  parameter, a "calibrated decoder", Rybkin et al., 2021) instead of fixing it: a fixed
  sigma_x is a hidden weight between reconstruction and KL (for modes of width 0.01 a
  sigma_x of 1 makes the KL win and blurs everything), and with it learned the bound is
  a true lower bound of a density. The autoencoder has no KL to balance, so its loss is
  the plain squared error (the Gaussian NLL with sigma_x = 1, less its constants, times 2).

These are composites of differentiable ops (exp, mul, add, sum, BCE from logits), so
they are differentiable to any order; tests/test_autoencoders.py checks them to second
order against finite differences.
"""
import math

from npgan import random as nprandom
from npgan.autograd import Tensor
from npgan.functions.arithmetic import exp
from npgan.functions.losses import binary_cross_entropy_with_logits

LOG_2PI = math.log(2 * math.pi)


def _batch(name, x):
    """The batch size of a 2-D (N, D) tensor; a clear error for anything else."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name}: expected a batch of shape (N, D) with N >= 1, got shape "
                         f"{x.shape}; reshape with x.reshape(len(x), -1)")
    return x.shape[0]


def _same_shape(name, a, b, what=("input", "target")):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{name}: {what[0]} of shape {a.shape} and {what[1]} of shape "
                         f"{b.shape} must have the same shape")


def reparameterize(mu, logvar, eps=None):
    """z = mu + exp(logvar / 2) * eps: a draw of N(mu, diag(exp(logvar))) that is differentiable
    in mu and logvar (the reparameterisation trick, Kingma & Welling, 2014).

        dz/dmu = 1,   dz/dlogvar = exp(logvar / 2) * eps / 2

    ``eps`` defaults to a fresh N(0, I) draw from npgan's seeded generator
    (:func:`npgan.random.randn`, in mu's dtype); pass it to fix the noise (tests).
    """
    _same_shape("reparameterize", mu, logvar, ("mu", "logvar"))
    if eps is None:
        eps = nprandom.randn(*mu.shape, dtype=mu.dtype)
    elif tuple(eps.shape) != tuple(mu.shape):
        raise ValueError(f"reparameterize: eps of shape {eps.shape} must have mu's shape "
                         f"{mu.shape}")
    return mu + exp(logvar * 0.5) * eps


def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) in closed form, summed over the code dimensions
    and averaged over the batch (mu, logvar of shape (N, d)):

        KL_i = 1/2 sum_j (mu_ij^2 + exp(logvar_ij) - 1 - logvar_ij),   result = mean_i KL_i

        dKL_i/dmu = mu,   dKL_i/dlogvar = (exp(logvar) - 1) / 2

    It is 0 exactly when mu = 0 and logvar = 0 (q is the prior), and > 0 otherwise.
    """
    _same_shape("gaussian_kl", mu, logvar, ("mu", "logvar"))
    n = _batch("gaussian_kl", mu)
    per_element = mu * mu + exp(logvar) - 1 - logvar
    return per_element.sum() * (0.5 / n)


def bernoulli_nll(logits, target):
    """-log p(t | logits) for independent Bernoulli pixels, from logits, summed over the pixels
    and averaged over the batch (shapes (N, D); targets t in [0, 1]):

        NLL_i = sum_j softplus(l_ij) - l_ij t_ij      (= BCE(sigmoid(l), t), stable form)

        dNLL_i/dl = sigmoid(l) - t

    Images kept in [-1, 1] (npgan's MNIST) become targets with :func:`to_probabilities`.
    """
    _same_shape("bernoulli_nll", logits, target)
    n = _batch("bernoulli_nll", logits)
    return binary_cross_entropy_with_logits(logits, target, reduction="sum") * (1.0 / n)


def gaussian_nll(mean, target, logvar=0.0):
    """-log N(t; mean, exp(logvar) I), summed over the dimensions and averaged over the batch:

        NLL_i = 1/2 sum_j ((t_ij - m_ij)^2 exp(-logvar) + logvar + log 2 pi)

        dNLL_i/dm = (m - t) exp(-logvar),   dNLL_i/dlogvar = 1/2 sum_j (1 - (t - m)^2 exp(-logvar))

    ``logvar`` is a number, or a Tensor that broadcasts against (N, D) (the VAE's learned
    decoder variance, shape (1,)). With logvar = 0 it is half the squared error plus
    D/2 log 2 pi.
    """
    _same_shape("gaussian_nll", mean, target, ("mean", "target"))
    n, d = _batch("gaussian_nll", mean), mean.shape[1]
    diff = target - mean
    if isinstance(logvar, Tensor):
        per_element = diff * diff * exp(-logvar) + logvar
        if tuple(per_element.shape) != tuple(mean.shape):
            raise ValueError(f"gaussian_nll: logvar of shape {logvar.shape} must broadcast "
                             f"against the mean's shape {mean.shape} without enlarging it")
        return per_element.sum() * (0.5 / n) + 0.5 * d * LOG_2PI
    squares = (diff * diff).sum() * math.exp(-logvar)
    return squares * (0.5 / n) + 0.5 * d * (logvar + LOG_2PI)


def squared_error(output, target):
    """sum_j (o_ij - t_ij)^2, averaged over the batch: the autoencoder's loss on real-valued data.

        d/do = 2 (o - t) / N
    """
    _same_shape("squared_error", output, target, ("output", "target"))
    n = _batch("squared_error", output)
    diff = output - target
    return (diff * diff).sum() * (1.0 / n)


def negative_elbo(reconstruction_nll, mu, logvar, beta=1.0):
    """-ELBO = reconstruction NLL + beta KL(q(z|x) || N(0, I)) (beta = 1 is the VAE's bound).

    ``reconstruction_nll`` is :func:`bernoulli_nll` or :func:`gaussian_nll` of the decode of
    a reparameterised draw; the KL is :func:`gaussian_kl` of (mu, logvar). Both are nats per
    example (summed over dimensions, averaged over the batch). Returns (loss, kl).
    """
    kl = gaussian_kl(mu, logvar)
    return reconstruction_nll + kl * beta, kl


def to_probabilities(x):
    """Pixels in [-1, 1] (npgan's MNIST scale) -> Bernoulli targets (x + 1) / 2 in [0, 1]."""
    return (x + 1) * 0.5


def from_probabilities(p):
    """Probabilities in [0, 1] -> pixels 2 p - 1 in [-1, 1] (the GAN's and the scorer's scale)."""
    return p * 2 - 1
