"""npgan's benchmark suite: ``python benchmarks/bench.py`` (see benchmarks/RESULTS.md).

* :mod:`benchmarks.bench`: the command line; times one full GAN training step on every
  implementation present and writes RESULTS.md, results.json and scaling.png;
* :mod:`benchmarks.floor`: the same step in plain NumPy with every gradient written by hand,
  the speed target an engine can approach; :mod:`benchmarks.floor_dcgan`: the same for the
  DCGAN-B step (im2col convolutions, batch norm, channels last);
* :mod:`benchmarks.torch_ref`: the same step in idiomatic PyTorch (optional);
* :mod:`benchmarks.idioms`: the engine's speed idioms, each timed against the plain one.

The parts of ``bench.py``, in the order a run uses them:

* :mod:`benchmarks.specs`: the cases (the two MLP GANs and DCGAN-B, their data, FLOPs per step,
  run sizes);
* :mod:`benchmarks.impls`: npgan, the floor, PyTorch and the peak matmul, built for a case;
* :mod:`benchmarks.machine`: machine facts for the report, and BLAS thread control;
* :mod:`benchmarks.timing`: interleaved rounds, medians, contention, the matmul peak;
* :mod:`benchmarks.memory`: the resident-memory check;
* :mod:`benchmarks.dcgan`: the DCGAN-B cases (PyTorch's CPU configurations, the sweep);
* :mod:`benchmarks.analysis`: ratios, the engine's speed targets, the GPU crossover;
* :mod:`benchmarks.report` and :mod:`benchmarks.plot`: RESULTS.md and scaling.png.
"""
