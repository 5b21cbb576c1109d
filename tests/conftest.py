"""Shared fixtures (one test body runs on every backend; CuPy skips with its reason where
absent) and the gradient check every op, activation, loss and layer test uses
(``from conftest import check_gradients``)."""
import importlib.util
import os
import sys

import numpy as np
import pytest

import npgan
from npgan import backend


@pytest.fixture(params=["numpy", "cupy", "gpusim"])
def backend_name(request):
    """Run the test on each backend; the cupy case skips, saying why, without CuPy and a GPU.

    "gpusim" is the test-only stand-in for the GPU (npgan/gpusim.py): NumPy keeping CuPy's
    rules, so every CPU run checks that the code would run on CuPy (not how fast)."""
    name = request.param
    if name == "cupy":
        reason = backend.cupy_unavailable_reason()
        if reason:
            pytest.skip(reason)
    previous = backend.get_backend()
    backend.set_backend(name)
    npgan.manual_seed(0)
    yield name
    backend.set_backend(previous)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Every test starts seeded, in float32, with gradients enabled, and leaves it so."""
    dtype = backend.get_default_dtype()
    npgan.manual_seed(0)
    yield
    backend.set_default_dtype(dtype)
    npgan.autograd._grad_enabled[0] = True


@pytest.fixture(scope="session")
def load_example():
    """A function loading ``examples/<name>.py`` as a module (the examples are scripts, not a
    package), so a test calls its ``main`` in this process."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    if folder not in sys.path:  # as when a script runs: examples/dcgan.py imports examples/mnist.py
        sys.path.insert(0, folder)

    def load(name):
        path = os.path.join(folder, f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"{name}_example", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


# --- the gradient checks every op, activation, loss and layer test shares -------------------

def first_derivatives_agree(fn, inputs, seed=0, rtol=1e-12, atol=1e-14):
    """The first derivatives of ``fn`` computed with ``create_graph=True`` equal the plain ones.

    Several backward rules take another path when their gradient is a Tensor (the
    ``create_graph`` case: Tanh, ELU, BCE-with-logits, softmax cross-entropy, ...).
    gradgradcheck only differentiates that path, so a wrong first derivative there is
    differentiated consistently with itself and passes; this compares it with the
    plain path, to float64 rounding, for s = sum(fn(x) * r) with a seeded r.
    """
    checked = [x for x in inputs if x.requires_grad]
    out = fn(*inputs)
    if not out.requires_grad:  # nothing differentiable: both paths give no gradient
        return True
    r_np = np.random.default_rng(seed + 7).standard_normal(out.shape)
    r = npgan.tensor(r_np.astype(out.dtype))
    plain = npgan.grad((out * r).sum(), checked, allow_unused=True)
    graph = npgan.grad((fn(*inputs) * r).sum(), checked, create_graph=True, allow_unused=True)
    for i, (a, b) in enumerate(zip(plain, graph)):
        assert (a is None) == (b is None), f"input {i}: one path gives no gradient"
        if a is None:
            continue
        assert isinstance(b, npgan.Tensor) and b.shape == a.shape and b.dtype == a.dtype
        np.testing.assert_allclose(
            b.numpy(), a.numpy(), rtol=rtol, atol=atol,
            err_msg=f"input {i}: the create_graph first derivative differs from the plain one")
    return True


def check_gradients(fn, inputs, second_order=True, **kw):
    """First (and second) derivatives of ``fn`` against central differences
    (:func:`npgan.gradcheck`, :func:`npgan.gradgradcheck`, keyword arguments passed on),
    and the ``create_graph`` first derivative against the plain one."""
    assert npgan.gradcheck(fn, inputs, **kw)
    if second_order:
        assert npgan.gradgradcheck(fn, inputs, **kw)
    assert first_derivatives_agree(fn, inputs, seed=kw.get("seed", 0))
