"""Evaluation: how good a generator is.

* :mod:`npgan.evaluation.metrics` (also ``npgan.metrics``): distances to a known
  distribution (W1, KS), mode coverage, the Frechet distance, class histograms;
* :mod:`npgan.evaluation.scoring` (also ``npgan.scoring``): a digit classifier
  trained with npgan, and the scores of generated digits it gives.
"""
from npgan.evaluation import metrics, scoring

__all__ = ["metrics", "scoring"]
