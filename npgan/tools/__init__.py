"""Tools around the engine: seeing a graph, recording a backward pass, saving a run.

* :mod:`npgan.tools.viz` (also ``npgan.viz``): a graph as DOT text or a picture;
* :mod:`npgan.tools.tracing` (``npgan.trace``): every backward rule as it runs;
* :mod:`npgan.tools.checkpoint` (also ``npgan.checkpoint``): checkpoints that resume exactly;
* :mod:`npgan.tools.plots`: the pictures the examples share (training curves, saved figures).
"""
from npgan.tools import checkpoint, plots, tracing, viz

__all__ = ["checkpoint", "plots", "tracing", "viz"]
