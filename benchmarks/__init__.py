"""npgan's benchmark suite: ``python benchmarks/bench.py`` (see benchmarks/RESULTS.md).

* :mod:`benchmarks.bench`: times one full GAN training step on every implementation present
  and writes RESULTS.md, results.json and scaling.png;
* :mod:`benchmarks.floor`: the same step in plain NumPy with every gradient written by hand,
  the speed target an engine can approach;
* :mod:`benchmarks.torch_ref`: the same step in idiomatic PyTorch (optional).
"""
