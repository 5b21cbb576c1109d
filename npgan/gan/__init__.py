"""GANs: the training loop, the objectives it can train, PacGAN's packing and the EMA.

* :mod:`npgan.gan.trainer`: :class:`GANTrainer` (k D steps, then one G step), the
  run's watch (:class:`TrainingDiverged`) and :func:`linear_decay`;
* :mod:`npgan.gan.objectives`: the GAN losses (minimax, non-saturating), WGAN,
  WGAN-GP's gradient penalty, and :class:`~npgan.gan.objectives.Objective`;
* :mod:`npgan.gan.packing`: :class:`Packed`, PacGAN's packed discriminator;
* :mod:`npgan.gan.ema`: :class:`ExponentialMovingAverage` of G's parameters.
"""
from npgan.gan import objectives
from npgan.gan.ema import ExponentialMovingAverage
from npgan.gan.packing import Packed
from npgan.gan.trainer import CHECK_EVERY, GANTrainer, TrainingDiverged, linear_decay

__all__ = ["GANTrainer", "TrainingDiverged", "linear_decay", "Packed",
           "ExponentialMovingAverage", "objectives", "CHECK_EVERY"]
