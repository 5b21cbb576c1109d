"""Shared fixtures: one test body runs on every backend; CuPy skips with its reason where absent."""
import importlib.util
import os

import pytest

import npgan
from npgan import backend


@pytest.fixture(params=["numpy", "cupy"])
def backend_name(request):
    """Run the test on each backend; the cupy case skips, saying why, without CuPy and a GPU."""
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
    def load(name):
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples", f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"{name}_example", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
