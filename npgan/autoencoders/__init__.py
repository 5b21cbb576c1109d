"""Autoencoders and VAEs, the generators that come before the GAN (seed article 003).

* :mod:`npgan.autoencoders.objectives`: :func:`reparameterize` (mu + exp(logvar / 2) eps),
  :func:`gaussian_kl` (the KL to N(0, I) in closed form), the reconstruction losses
  (:func:`bernoulli_nll` from logits for images, :func:`gaussian_nll` and
  :func:`squared_error` for real-valued points) and :func:`negative_elbo`;
* :mod:`npgan.autoencoders.models`: :class:`Autoencoder` and :class:`VAE`, MLP encoder
  and decoder, with ``encode``, ``decode``, ``loss`` and ``sample``.

examples/autoencoders.py trains both beside the GAN on the same data and scores all three.
"""
from npgan.autoencoders import objectives
from npgan.autoencoders.models import LIKELIHOODS, VAE, Autoencoder
from npgan.autoencoders.objectives import (bernoulli_nll, from_probabilities, gaussian_kl,
                                           gaussian_nll, negative_elbo, reparameterize,
                                           squared_error, to_probabilities)

__all__ = ["Autoencoder", "VAE", "LIKELIHOODS", "objectives", "reparameterize", "gaussian_kl",
           "bernoulli_nll", "gaussian_nll", "squared_error", "negative_elbo",
           "to_probabilities", "from_probabilities"]
