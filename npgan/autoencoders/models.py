"""The autoencoder and the variational autoencoder, built from :mod:`npgan.nn` MLPs.

Both have an encoder MLP and a decoder MLP. The decoder maps a code to a data point,
so, as seed article 003 says, it is already a generator; what differs is how codes
to decode are found:

* :class:`Autoencoder`: x -> code -> x_hat, trained on the reconstruction loss alone.
  Nothing says where codes lie, so to *generate*, :meth:`Autoencoder.fit_code_distribution`
  fits a Gaussian (mean and full covariance) to the codes of training data and
  :meth:`Autoencoder.sample` decodes draws from it;
* :class:`VAE`: x -> (mu, logvar) -> z = mu + exp(logvar / 2) eps -> x_hat, trained on the
  negative ELBO (:mod:`npgan.autoencoders.objectives`). The KL term pulls q(z|x) towards
  N(0, I), so :meth:`VAE.sample` decodes draws of the prior itself.

``likelihood`` picks the decoder's output and the reconstruction loss:
"bernoulli" (the decoder gives logits; data in [0, 1]: images) or "gaussian" (the
decoder gives the mean; real-valued data: the 2-D mixtures). :meth:`decode` returns
the mean of p(x|z) on the data's scale (sigmoid of the logits for "bernoulli").
"""
import numpy as np  # the code distribution is fitted once, on host copies, in float64

from npgan import backend, nn
from npgan import random as nprandom
from npgan.autograd import Tensor, no_grad
from npgan.autoencoders import objectives
from npgan.functions.activations import sigmoid

LIKELIHOODS = ("bernoulli", "gaussian")


def _check_sizes(name, encoder_sizes, decoder_sizes, likelihood):
    for what, sizes in (("encoder_sizes", encoder_sizes), ("decoder_sizes", decoder_sizes)):
        if (not isinstance(sizes, (list, tuple)) or len(sizes) < 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                           for s in sizes)):
            raise ValueError(f"{name}: {what} must be a list of at least two positive ints "
                             f"(input, hidden..., output), got {sizes!r}")
    if decoder_sizes[0] != encoder_sizes[-1]:
        raise ValueError(f"{name}: the decoder's input ({decoder_sizes[0]}) must be the code "
                         f"size, the encoder's output ({encoder_sizes[-1]})")
    if decoder_sizes[-1] != encoder_sizes[0]:
        raise ValueError(f"{name}: the decoder's output ({decoder_sizes[-1]}) must be the data "
                         f"size, the encoder's input ({encoder_sizes[0]})")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"{name}: likelihood must be one of {list(LIKELIHOODS)}, got "
                         f"{likelihood!r}")


class _Coder(nn.Module):
    """What both models share: the decoder MLP, the likelihood, decode and reconstruct."""

    def __init__(self, decoder_sizes, activation, likelihood):
        super().__init__()
        self.likelihood = likelihood
        self.code_dim = decoder_sizes[0]
        self.data_dim = decoder_sizes[-1]
        self.decoder = nn.mlp(list(decoder_sizes), activation)

    def _check_data(self, x):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.data_dim:
            shape = x.shape if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{type(self).__name__}: expected data of shape (N, "
                             f"{self.data_dim}) as a Tensor, got {shape}")

    def decode(self, z):
        """The mean of p(x|z) on the data's scale: sigmoid(decoder(z)) for "bernoulli", else
        decoder(z)."""
        out = self.decoder(z)
        return sigmoid(out) if self.likelihood == "bernoulli" else out

    def _reconstruction_nll(self, out, x):
        """The reconstruction loss of the decoder's raw output ``out`` against ``x``."""
        if self.likelihood == "bernoulli":
            return objectives.bernoulli_nll(out, x)
        return self._gaussian_loss(out, x)


class Autoencoder(_Coder):
    """x -> encoder -> code -> decoder -> x_hat, trained to reconstruct x.

    Args:
        encoder_sizes: the encoder MLP's widths, data size first, code size last
            ([2, 128, 128, 128, 2]).
        decoder_sizes: the decoder MLP's widths, code size first, data size last.
        activation: the hidden layers' activation (a layer class or a function making one).
        likelihood: "gaussian" (loss: :func:`~npgan.autoencoders.objectives.squared_error`)
            or "bernoulli" (loss: :func:`~npgan.autoencoders.objectives.bernoulli_nll` from
            logits; data in [0, 1]).

    The buffers ``code_mean`` and ``code_scale`` (a Cholesky factor) hold the Gaussian
    that :meth:`fit_code_distribution` fits to training codes, for :meth:`sample`.
    """

    def __init__(self, encoder_sizes, decoder_sizes, activation=nn.ReLU, likelihood="gaussian"):
        _check_sizes("Autoencoder", encoder_sizes, decoder_sizes, likelihood)
        super().__init__(decoder_sizes, activation, likelihood)
        self.encoder = nn.mlp(list(encoder_sizes), activation)
        d = self.code_dim
        dtype = self.decoder[0].weight.dtype
        self.register_buffer("code_mean", backend.get_xp().zeros((d,), dtype=dtype))
        self.register_buffer("code_scale", backend.get_xp().zeros((d, d), dtype=dtype))
        self.fitted = False

    def encode(self, x):
        """The code of each row of x: (N, data) -> (N, code)."""
        self._check_data(x)
        return self.encoder(x)

    def _gaussian_loss(self, out, x):
        return objectives.squared_error(out, x)

    def loss(self, x):
        """The reconstruction loss of x (nats, or squared error, per example; batch mean).

        Returns ``(loss, parts)`` with parts = {"reconstruction": loss}, as :meth:`VAE.loss`.
        """
        rec = self._reconstruction_nll(self.decoder(self.encode(x)), x)
        return rec, {"reconstruction": rec}

    def forward(self, x):
        """The reconstruction decode(encode(x))."""
        return self.decode(self.encode(x))

    def fit_code_distribution(self, x, batch_size=1000):
        """Fit N(m, C) to the codes of the rows of x (host float64: mean, covariance, Cholesky
        factor L with L L^T = C), for :meth:`sample`. Returns self.

        A small multiple of the identity is added to C when it is singular (codes on a
        line), so L always exists.
        """
        self._check_data(x)
        if x.shape[0] < 2:
            raise ValueError("Autoencoder.fit_code_distribution: need at least 2 rows to fit "
                             f"a covariance, got {x.shape[0]}")
        with no_grad():
            codes = np.concatenate([self.encode(x[lo:lo + batch_size]).numpy()
                                    for lo in range(0, x.shape[0], batch_size)]).astype(np.float64)
        mean = codes.mean(axis=0)
        cov = np.atleast_2d(np.cov(codes, rowvar=False))
        jitter = 1e-9 * max(float(np.trace(cov)) / len(cov), 1e-12)
        while True:
            try:
                scale = np.linalg.cholesky(cov + jitter * np.eye(len(cov)))
                break
            except np.linalg.LinAlgError:
                jitter *= 10
        dtype = self.code_mean.dtype
        self.code_mean = backend.asarray(mean, dtype=dtype)
        self.code_scale = backend.asarray(scale, dtype=dtype)
        self.fitted = True
        return self

    def sample(self, n):
        """n decodes of codes drawn from the Gaussian fitted by :meth:`fit_code_distribution`:
        z = m + eps L^T, eps ~ N(0, I) from npgan's seeded generator. Returns (n, data)."""
        if not self.fitted:
            raise RuntimeError("Autoencoder.sample: the code distribution is not fitted; call "
                               "fit_code_distribution(training_data) first")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"Autoencoder.sample: n must be a positive int, got {n!r}")
        eps = nprandom.randn(n, self.code_dim, dtype=self.code_mean.dtype)
        return self.decode(eps @ self.code_scale.T + self.code_mean)

    def load_state_dict(self, state):
        """As :meth:`npgan.nn.Module.load_state_dict`; the fitted code distribution comes along
        (a zero scale means it was never fitted)."""
        super().load_state_dict(state)
        self.fitted = bool(backend.to_numpy(self.code_scale.data).any())


class VAE(_Coder):
    """The variational autoencoder (Kingma & Welling, 2014): x -> (mu, logvar) -> z -> x_hat.

    Args:
        encoder_sizes: the encoder MLP's widths, data size first, code size d last; its
            last layer has 2 d outputs, read as (mu, logvar).
        decoder_sizes, activation, likelihood: as :class:`Autoencoder`. With "gaussian",
            the decoder's variance exp(decoder_logvar) is learned (one parameter, shape
            (1,), starting at 0: sigma_x = 1).

    :meth:`loss` is the negative ELBO of a batch, with one reparameterised draw per row.
    """

    def __init__(self, encoder_sizes, decoder_sizes, activation=nn.ReLU, likelihood="gaussian"):
        _check_sizes("VAE", encoder_sizes, decoder_sizes, likelihood)
        super().__init__(decoder_sizes, activation, likelihood)
        self.encoder = nn.mlp(list(encoder_sizes[:-1]) + [2 * encoder_sizes[-1]], activation)
        if likelihood == "gaussian":
            dtype = self.decoder[0].weight.dtype
            self.decoder_logvar = nn.Parameter(backend.get_xp().zeros((1,), dtype=dtype))

    def encode(self, x):
        """The Gaussian q(z|x) of each row: (mu, logvar), each (N, code)."""
        self._check_data(x)
        h = self.encoder(x)
        d = self.code_dim
        return h[:, :d], h[:, d:]

    def _gaussian_loss(self, out, x):
        return objectives.gaussian_nll(out, x, self.decoder_logvar)

    def loss(self, x, eps=None, beta=1.0):
        """The negative ELBO of the batch x: E_q[-log p(x|z)] (one draw) + KL(q(z|x) || N(0, I)).

        Returns ``(loss, parts)``, parts = {"reconstruction": ..., "kl": ...}, each in nats
        per example (batch mean). ``eps`` fixes the reparameterisation noise; ``beta``
        weighs the KL (1: the bound itself; less than 1 during a KL warm-up).
        """
        mu, logvar = self.encode(x)
        z = objectives.reparameterize(mu, logvar, eps)
        rec = self._reconstruction_nll(self.decoder(z), x)
        loss, kl = objectives.negative_elbo(rec, mu, logvar, beta)
        return loss, {"reconstruction": rec, "kl": kl}

    def forward(self, x):
        """The reconstruction through the mean code: decode(mu(x))."""
        return self.decode(self.encode(x)[0])

    def sample(self, n):
        """n decodes of z ~ N(0, I), the prior (npgan's seeded generator). Returns (n, data)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"VAE.sample: n must be a positive int, got {n!r}")
        dtype = self.decoder[0].weight.dtype
        return self.decode(nprandom.randn(n, self.code_dim, dtype=dtype))

    def elbo(self, x, eps=None, batch_size=1000):
        """The mean ELBO of the rows of x in nats (one reparameterised draw per row, no graph):
        a lower bound of the mean log-likelihood. ``eps`` (N, code) fixes the draws."""
        self._check_data(x)
        total = 0.0
        with no_grad():
            for lo in range(0, x.shape[0], batch_size):
                e = None if eps is None else eps[lo:lo + batch_size]
                batch = x[lo:lo + batch_size]
                loss, _ = self.loss(batch, e)
                total += float(loss.item()) * batch.shape[0]
        return -total / x.shape[0]
