"""The backend shim: choosing numpy or cupy (loudly), mixing checks, default dtype, seeding."""
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import npgan
from npgan import backend, speed

REPO = pathlib.Path(__file__).resolve().parents[1]
CUPY_USABLE = backend.cupy_available()


# --- choosing a backend ---------------------------------------------------------------

def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError) as info:
        npgan.set_backend("nope")
    msg = str(info.value)
    assert "'nope'" in msg and "numpy" in msg and "cupy" in msg
    assert npgan.get_backend() == "numpy"
    assert backend.get_xp() is np


def test_available_backends():
    names = npgan.available_backends()
    assert "numpy" in names
    assert names[0] == "numpy"
    assert ("cupy" in names) == CUPY_USABLE
    assert set(names) <= set(backend.BACKENDS)


@pytest.mark.skipif(CUPY_USABLE, reason="CuPy and a GPU are usable here: set_backend('cupy') works")
def test_cupy_unavailable_is_a_loud_error_with_install_hint():
    assert issubclass(npgan.BackendUnavailableError, RuntimeError)
    with pytest.raises(npgan.BackendUnavailableError) as info:
        npgan.set_backend("cupy")
    msg = str(info.value)
    assert "cupy" in msg
    if backend.cupy is None:  # not installed (or failed to import): say how to install
        assert "CuPy is not installed" in msg or "CuPy failed to import" in msg
        assert "npgan[cuda]" in msg
    else:  # installed, but no GPU or no driver
        assert "GPU" in msg or "CUDA" in msg
    assert npgan.get_backend() == "numpy", "a failed switch leaves the backend as it was"
    assert backend.get_xp() is np


def _stub_cupy(count=None, error=None):
    """A stand-in cupy module whose runtime reports ``count`` devices or raises ``error``."""
    def get_device_count():
        if error is not None:
            raise error
        return count

    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=get_device_count))

    class FakeGPUArray:  # deliberately unrelated to numpy.ndarray
        pass

    stub.ndarray = FakeGPUArray
    # what the availability check runs (a random draw, an elementwise kernel, a product), taken
    # from the test-only stand-in so that a stub with a device passes it
    from npgan import gpusim
    stub.random, stub.exp, stub.arange, stub.ones = (gpusim.random, gpusim.exp, gpusim.arange,
                                                     gpusim.ones)
    return stub


def test_cupy_installed_but_no_gpu(monkeypatch):
    monkeypatch.setattr(backend, "cupy", _stub_cupy(count=0))
    with pytest.raises(npgan.BackendUnavailableError, match="no NVIDIA GPU is visible"):
        npgan.set_backend("cupy")
    assert not backend.cupy_available()
    assert npgan.available_backends() == ["numpy"]
    assert npgan.get_backend() == "numpy"


def test_cupy_installed_but_cuda_broken(monkeypatch):
    monkeypatch.setattr(backend, "cupy", _stub_cupy(error=RuntimeError("no CUDA driver found")))
    with pytest.raises(npgan.BackendUnavailableError,
                       match=r"CUDA is not usable.*RuntimeError: no CUDA driver found"):
        npgan.set_backend("cupy")
    assert npgan.get_backend() == "numpy"


def test_cupy_import_failure_is_reported(monkeypatch):
    monkeypatch.setattr(backend, "cupy", None)
    monkeypatch.setattr(backend, "_CUPY_IMPORT_ERROR", OSError("libcudart.so.12: cannot open"))
    with pytest.raises(npgan.BackendUnavailableError,
                       match=r"CuPy failed to import \(libcudart\.so\.12: cannot open\)"):
        npgan.set_backend("cupy")


def test_cupy_with_a_gpu_counts_as_available(monkeypatch):
    monkeypatch.setattr(backend, "cupy", _stub_cupy(count=1))
    assert backend.cupy_available()
    assert npgan.available_backends() == ["numpy", "cupy"]


def test_device_facts_and_memory_for_the_benchmark_report(monkeypatch):
    # on the CPU: no facts without CuPy, and no device memory to report
    monkeypatch.setattr(backend, "cupy", None)
    assert backend.device_facts() == {}
    assert backend.device_memory_in_use() is None
    # CuPy with one GPU: its version, the device's name and memory in GiB, the pool's bytes
    stub = _stub_cupy(count=1)
    stub.__version__ = "14.2.0"
    stub.cuda.runtime.getDeviceProperties = lambda i: {"name": b"NVIDIA H200",
                                                       "totalGlobalMem": 141 * 2 ** 30}
    stub.get_default_memory_pool = lambda: types.SimpleNamespace(used_bytes=lambda: 4096)
    monkeypatch.setattr(backend, "cupy", stub)
    assert backend.device_facts() == {"cupy": "14.2.0", "gpu": "NVIDIA H200, 141 GiB"}
    assert backend.device_memory_in_use() is None, "the CPU backend holds no device memory"
    monkeypatch.setitem(backend._state, "name", "cupy")
    assert backend.device_memory_in_use() == 4096


def test_switching_to_the_same_backend_keeps_the_generator():
    npgan.manual_seed(3)
    npgan.random.randn(3)
    b = npgan.random.randn(3).numpy()
    npgan.set_backend("numpy")
    npgan.manual_seed(3)
    npgan.random.randn(3)
    npgan.set_backend("numpy")  # re-selecting the current backend re-seeds nothing
    np.testing.assert_array_equal(npgan.random.randn(3).numpy(), b)


# --- NPGAN_BACKEND at import time -------------------------------------------------------

def _import_with(value):
    env = dict(os.environ)
    env["NPGAN_BACKEND"] = value
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", "import npgan; print('backend=' + npgan.get_backend())"],
        env=env, cwd=str(REPO), capture_output=True, text=True, timeout=60)


def _run_with(value, code):
    env = dict(os.environ)
    env["NPGAN_BACKEND"] = value
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(CUPY_USABLE, reason="CuPy and a GPU are usable here: NPGAN_BACKEND=cupy works")
def test_env_cupy_unusable_does_not_break_the_import_but_the_first_tensor():
    # issue 14: `import npgan` must survive an unusable NPGAN_BACKEND (a script's own --backend
    # may override it); the error, with its advice, comes when a tensor is made
    proc = _import_with("cupy")
    assert proc.returncode == 0, proc.stderr
    proc = _run_with("cupy", "import npgan; npgan.tensor([1.0])")
    assert proc.returncode != 0
    assert "BackendUnavailableError" in proc.stderr
    assert "backend 'cupy' requested" in proc.stderr
    proc = _run_with("cupy", "import npgan; npgan.set_backend('numpy'); print(npgan.tensor([1.0]))")
    assert proc.returncode == 0 and "tensor([1.]" in proc.stdout, proc.stderr


@pytest.mark.parametrize("value", ["numpy", " NumPy "])
def test_env_numpy_works(value):
    proc = _import_with(value)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "backend=numpy"


def test_env_unknown_backend_fails_at_the_first_tensor():
    assert _import_with("tpu").returncode == 0
    proc = _run_with("tpu", "import npgan; npgan.tensor([1.0])")
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "'tpu'" in proc.stderr


# --- mixing backends in one op --------------------------------------------------------------

@pytest.mark.skipif(not CUPY_USABLE, reason="needs CuPy and an NVIDIA GPU")
def test_mixing_numpy_and_cupy_for_real():
    import cupy
    a = npgan.Tensor(np.ones(3, dtype=np.float32))
    b = npgan.Tensor(cupy.ones(3, dtype=cupy.float32))
    with pytest.raises(TypeError, match=r"Add: cannot mix a numpy array and a cupy array"):
        a + b
    with pytest.raises(TypeError, match=r"Mul: cannot mix a cupy array and a numpy array"):
        b * a


def test_check_same_backend_message_with_a_stub_cupy(monkeypatch):
    stub = _stub_cupy(count=1)
    monkeypatch.setattr(backend, "cupy", stub)
    fake = stub.ndarray()
    host = np.ones(3, dtype=np.float32)
    assert backend.is_array(fake) and backend.backend_name(fake) == "cupy"
    assert backend.get_array_module(fake) is stub

    with pytest.raises(TypeError) as info:
        backend.check_same_backend("Add", [host, fake])
    msg = str(info.value)
    assert msg.startswith("Add: cannot mix a numpy array and a cupy array in one op")
    assert "npgan.set_backend" in msg

    with pytest.raises(TypeError, match=r"MatMul: cannot mix a cupy array and a numpy array"):
        backend.check_same_backend("MatMul", [fake, host, host])
    with pytest.raises(TypeError, match=r"Where: cannot mix a numpy array and a cupy array"):
        backend.check_same_backend("Where", [host, host, fake])

    # the check is wired into every multi-input op
    with pytest.raises(TypeError, match=r"Sub: cannot mix a numpy array and a cupy array"):
        npgan.Tensor(host) - npgan.Tensor(fake)


def test_check_same_backend_accepts_one_backend():
    a = np.ones(3)
    b = np.ma.masked_array(np.zeros(3))  # another numpy class, same backend
    assert backend.check_same_backend("Add", [a, a]) is None
    assert backend.check_same_backend("Add", [a, b, np.float64(2.0) * a]) is None
    # the ops built on it accept such a mix and compute with it
    out = npgan.Tensor(a) + npgan.Tensor(b)
    np.testing.assert_array_equal(out.numpy(), np.ones(3))


# --- default dtype ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["int32", "float16", "complex64", np.int64])
def test_set_default_dtype_rejects_non_float32_64(bad):
    with pytest.raises(ValueError) as info:
        npgan.set_default_dtype(bad)
    msg = str(info.value)
    assert str(np.dtype(bad)) in msg and "float32" in msg and "float64" in msg
    assert npgan.get_default_dtype() == np.float32


@pytest.mark.parametrize("name", ["float64", np.float64, np.dtype("float64"), "f8"])
def test_set_default_dtype_accepts_float64_spellings(name):
    npgan.set_default_dtype(name)
    assert npgan.get_default_dtype() == np.float64
    npgan.set_default_dtype("float32")
    assert npgan.get_default_dtype() == np.float32


def test_tensor_from_python_floats_uses_default_dtype():
    assert npgan.tensor([1.0, 2.0]).dtype == np.float32
    assert npgan.tensor(np.ones(2)).dtype == np.float64  # arrays keep their dtype
    npgan.set_default_dtype("float64")
    assert npgan.tensor(0.5).dtype == np.float64


# --- seeding and random samples ------------------------------------------------------------

def _draw():
    return (npgan.random.randn(3, 4).numpy(), npgan.random.rand(5).numpy(),
            npgan.random.normal(2.0, 0.5, (6,)).numpy(),
            npgan.random.uniform(-1.0, 3.0, (7,)).numpy())


def test_manual_seed_makes_samples_reproducible():
    npgan.manual_seed(123)
    first = _draw()
    npgan.manual_seed(123)
    again = _draw()
    npgan.manual_seed(124)
    other = _draw()
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    # consecutive draws differ (the generator advances)
    assert not np.array_equal(first[0][0], first[0][1])


def test_numpy_backend_samples_follow_pcg64():
    """The numpy generator is numpy.random.Generator(PCG64(seed)), sampled in the asked dtype."""
    npgan.manual_seed(2024)
    randn, rand, normal, uniform = _draw()
    ref = np.random.Generator(np.random.PCG64(2024))
    np.testing.assert_array_equal(randn, ref.standard_normal((3, 4), dtype=np.float32))
    np.testing.assert_array_equal(rand, ref.random((5,), dtype=np.float32))
    z = ref.standard_normal((6,), dtype=np.float32)
    np.testing.assert_allclose(normal, z * 0.5 + 2.0, rtol=1e-6)
    u = ref.random((7,), dtype=np.float32)
    np.testing.assert_allclose(uniform, u * 4.0 - 1.0, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [-1, -100, 1.5, "3", None])
def test_manual_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match=r"manual_seed: seed must be a non-negative int"):
        npgan.manual_seed(bad)


def test_manual_seed_accepts_numpy_ints_and_returns_the_generator():
    g = npgan.manual_seed(np.int64(5))
    assert g is backend.get_rng()
    assert isinstance(g.seed, int) and g.seed == 5


@pytest.mark.parametrize("dtype", [None, "float64"])
def test_random_samples_in_default_dtype(dtype):
    if dtype:
        npgan.set_default_dtype(dtype)
    expected = np.dtype(dtype or "float32")
    for t in (npgan.random.rand(4), npgan.random.randn(2, 3), npgan.random.normal(0.0, 2.0, (3,)),
              npgan.random.uniform(-1.0, 1.0, (3,))):
        assert t.dtype == expected
        assert isinstance(t, npgan.Tensor) and not t.requires_grad
    # an explicit dtype overrides the default
    other = "float32" if dtype else "float64"
    assert npgan.random.rand(2, dtype=other).dtype == np.dtype(other)
    assert npgan.random.randn(2, dtype=other).dtype == np.dtype(other)


def test_random_shapes_and_ranges():
    assert npgan.random.rand(2, 3).shape == (2, 3)
    assert npgan.random.rand((2, 3)).shape == (2, 3)
    assert npgan.random.randn([4]).shape == (4,)
    u = npgan.random.rand(10000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.02)
    x = npgan.random.normal(4.0, 1.25, (20000,)).numpy().astype(np.float64)
    assert x.mean() == pytest.approx(4.0, abs=0.05)
    assert x.std() == pytest.approx(1.25, rel=0.03)
    p = backend.to_numpy(npgan.random.permutation(10))
    assert sorted(p.tolist()) == list(range(10))


def test_generator_state_round_trip():
    rng = npgan.manual_seed(11)
    npgan.random.randn(5)  # advance a little first
    state = rng.get_state()
    a = npgan.random.randn(4).numpy()
    b = npgan.random.rand(3).numpy()
    assert rng.get_state() != state, "get_state is a snapshot, not a live view"
    rng.set_state(state)
    np.testing.assert_array_equal(npgan.random.randn(4).numpy(), a)
    np.testing.assert_array_equal(npgan.random.rand(3).numpy(), b)
    # a differently seeded generator given the state produces the same draws
    other = backend.Generator(999, "numpy")
    other.set_state(state)
    np.testing.assert_array_equal(other.standard_normal((4,), np.float32), a)


def test_gradcheck_style_private_generator_does_not_disturb_the_global_one():
    npgan.manual_seed(4)
    a = npgan.random.randn(3).numpy()
    npgan.manual_seed(4)
    backend.Generator(0, "numpy").standard_normal((10,), np.float64)
    np.testing.assert_array_equal(npgan.random.randn(3).numpy(), a)


# --- small helpers ----------------------------------------------------------------------

def test_array_helpers_on_numpy():
    a = np.arange(3.0)
    assert backend.backend_name(a) == "numpy"
    assert backend.backend_name(3.0) == "float"
    assert backend.get_array_module(a) is np
    assert backend.is_array(a) and not backend.is_array([1.0])
    c = backend.to_numpy(a)
    c[0] = 9.0
    assert a[0] == 0.0, "to_numpy copies"
    assert backend.asarray([1, 2], dtype="float32").dtype == np.float32
    backend.synchronize()  # a no-op on the CPU


# --- the array cache -------------------------------------------------------------------

def _address(a):
    return a.__array_interface__["data"][0]


def test_array_cache_hands_back_an_array_once_nothing_else_holds_it():
    cache = speed.ArrayCache(min_bytes=0)
    a = cache.empty(np, (4, 5), np.float32)
    where = _address(a)
    b = cache.empty(np, (4, 5), np.float32)  # a is still held: another array
    assert not np.shares_memory(a, b)
    del a
    c = cache.empty(np, (4, 5), np.float32)
    assert _address(c) == where and c.shape == (4, 5) and c.dtype == np.float32
    assert cache.empty(np, (5, 4), np.float32) is not c  # another shape: another array


def test_array_cache_keeps_an_array_with_a_live_view_out_of_reach():
    cache = speed.ArrayCache(min_bytes=0)
    a = cache.empty(np, (8,), np.float64)
    view = a[2:]
    view[:] = 7.0
    del a
    b = cache.empty(np, (8,), np.float64)
    b[:] = -1.0
    np.testing.assert_array_equal(view, 7.0)


def test_array_cache_limits():
    cache = speed.ArrayCache(min_bytes=64, max_bytes=256)
    cache.empty(np, (4,), np.float64)           # 32 bytes: below min_bytes, not kept
    assert cache.bytes == 0
    held = [cache.empty(np, (16,), np.float64)]  # 128 bytes: kept
    held.append(cache.empty(np, (16,), np.float64))  # the first is in use: a second, 256 in all
    held.append(cache.empty(np, (16,), np.float64))  # would pass max_bytes: not kept
    assert cache.bytes == 256
    cache.clear()
    assert cache.bytes == 0


def test_array_cache_makes_room_by_dropping_free_arrays_of_other_shapes():
    """Full, the cache forgets the arrays nobody holds (an earlier batch size) and keeps the
    new shape; an array still in use is never dropped from it."""
    cache = speed.ArrayCache(min_bytes=0, max_bytes=256)
    held = cache.empty(np, (8,), np.float64)     # 64 bytes, in use
    cache.empty(np, (24,), np.float64)           # 192 bytes, let go at once: 256 in all
    new = cache.empty(np, (16,), np.float64)     # 128 bytes: room made by dropping the 192
    assert cache.bytes == 64 + 128
    where = _address(held)
    del held, new
    assert _address(cache.empty(np, (8,), np.float64)) == where  # the one in use was kept


def test_reused_arrays_never_change_a_result_still_in_use():
    """Two graphs alive at once, each backpropagated after the other was built: the gradients
    are those of each graph alone (float64 against numpy)."""
    npgan.set_default_dtype("float64")
    rng = np.random.default_rng(4)
    W_np = rng.normal(size=(300, 200))
    x1_np, x2_np = rng.normal(size=(64, 200)), rng.normal(size=(64, 200))
    W = npgan.tensor(W_np, requires_grad=True)
    y1 = npgan.activations.tanh(npgan.functional.linear(npgan.tensor(x1_np), W))
    keep = y1.numpy().copy()
    y2 = npgan.activations.tanh(npgan.functional.linear(npgan.tensor(x2_np), W))
    np.testing.assert_array_equal(y1.numpy(), keep)
    y1.sum().backward()
    g1 = W.grad.numpy()
    W.grad = None
    y2.sum().backward()
    for x_np, g in ((x1_np, g1), (x2_np, W.grad.numpy())):
        expected = ((1 - np.tanh(x_np @ W_np.T) ** 2).T @ x_np)
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)
