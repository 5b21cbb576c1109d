"""The benchmark suite: its code paths run (tiny mode), and its references compute the same step.

* The hand-written floor's gradients equal npgan's, for both models, in float64: same initial
  weights, same batch, noise and dropout masks; every parameter gradient of the D step and of
  the G step, the losses, and the parameters after one Adam update.
* The matmul FLOPs the benchmark reports are the ones the engine (and PyTorch) perform.
* PyTorch's reference step, where PyTorch is installed, lands on the same parameters as the floor.
* ``bench.py --quick`` runs end to end and writes RESULTS.md, results.json and scaling.png,
  saying why the GPU and (where absent) PyTorch columns were skipped.
* The DCGAN-B floor (benchmarks/floor_dcgan.py) takes PyTorch's step and npgan's in float64
  (losses, every gradient, the parameters after Adam, the running statistics), its FLOP count
  is PyTorch's, and ``--quick`` / ``--quick --dcgan`` write its section of the report.
"""
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import npgan  # noqa: E402
from npgan import backend, ops, optim  # noqa: E402
from npgan.gan import GANTrainer  # noqa: E402

from benchmarks import bench, floor, floor_dcgan  # noqa: E402
from benchmarks.dcgan import best_config  # noqa: E402
from benchmarks.analysis import crossover, device_peak, targets  # noqa: E402
from benchmarks.impls import Impl, Runner, build_npgan, load_torch, make_impls, npgan_models  # noqa: E402
from benchmarks.machine import limit_threads  # noqa: E402
from benchmarks.report import fmt_met  # noqa: E402
from benchmarks.specs import (GAUSSIAN, MNIST, REAL_MEAN, REAL_STD, Pool, dcgan_spec,  # noqa: E402
                              mnist_spec, sizes, step_flops, target_cases)
from benchmarks.timing import Bench, merge_peaks  # noqa: E402

N = 5  # the batch of the exactness tests


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """BLAS and PyTorch on one thread here: on a busy machine (CI) threaded GEMMs can stall."""
    torch = load_torch(False)[0]
    with limit_threads(1, torch):
        yield


class ReplayGenerator:
    """Stands in for npgan's generator: Dropout's ``keep_mask`` calls get [u >= p] for the
    given uniforms u, in order."""

    def __init__(self, uniforms):
        self.uniforms = list(uniforms)

    def keep_mask(self, shape, p):
        u = self.uniforms.pop(0)
        assert u.shape == tuple(shape), "dropout drew in an unexpected order"
        return u >= p


def pairs(arrays):
    """[W0, b0, W1, b1, ...] -> [(W0, b0), (W1, b1), ...]."""
    return list(zip(arrays[0::2], arrays[1::2]))


def fixed_inputs(spec, rng):
    """A real batch, the noise of both steps and the dropout uniforms of D's three passes."""
    if spec.data == "gaussian":
        real = rng.normal(REAL_MEAN, REAL_STD, (N, 1))
    else:
        real = rng.uniform(-1, 1, (N, spec.d_sizes[0]))
    nz = spec.g_sizes[0]
    draw = (lambda: rng.random((N, nz))) if spec.noise == "uniform" else (lambda: rng.standard_normal((N, nz)))
    z_d, z_g = draw(), draw()
    hidden = spec.d_sizes[1:-1] if spec.d_dropout > 0 else ()
    u = {p: [rng.random((N, h)) for h in hidden] for p in ("real", "fake", "g")}
    return real, z_d, z_g, u


def engine_step(spec, real, z_d, z_g, u, monkeypatch):
    """npgan's GANTrainer step in float64 on fixed inputs; returns initial params, grads, params after."""
    npgan.set_default_dtype("float64")
    npgan.manual_seed(3)
    G, D = npgan_models(spec)
    init = {"G": [p.numpy() for p in G.parameters()], "D": [p.numpy() for p in D.parameters()]}
    replay = ReplayGenerator(u["real"] + u["fake"] + u["g"])  # D(x), D(G(z)), then the G step
    monkeypatch.setattr(npgan.speed, "keep_mask", lambda rng, shape, p: replay.keep_mask(shape, p))
    noises = [z_d, z_g]
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps),
        optim.Adam(D.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.eps),
        sample_real=lambda n: npgan.tensor(real), sample_noise=lambda n: npgan.tensor(noises.pop(0)),
        batch_size=N)
    d_loss, _, _ = trainer.d_step()
    out = {"init": init, "d_loss": d_loss,
           "D_grad": [p.grad.numpy() for p in D.parameters()],
           "D_after": [p.numpy() for p in D.parameters()]}
    out["g_loss"] = trainer.g_step()
    out["G_grad"] = [p.grad.numpy() for p in G.parameters()]
    out["G_after"] = [p.numpy() for p in G.parameters()]
    out["D_grad_after_g_step"] = [p.grad.numpy() for p in D.parameters()]
    assert not replay.uniforms and not noises
    return out


def floor_step(spec, init, real, z_d, z_g, u):
    fl = floor.FloorGAN(batch=N, dtype="float64", g_params=pairs(init["G"]),
                        d_params=pairs(init["D"]), **spec.kwargs())
    keep = None
    if spec.d_dropout > 0:
        p = spec.d_dropout
        keep = {"d": [np.concatenate([r >= p, f >= p]) for r, f in zip(u["real"], u["fake"])],
                "g": [g >= p for g in u["g"]]}
    d_loss, g_loss = fl.step(real, z_d, z_g, keep)
    return fl, d_loss, g_loss


def flat(net, what):
    """[W0, b0, W1, b1, ...] of an floor MLP: parameters ("W") or gradients ("gW")."""
    ws, bs = (net.W, net.b) if what == "W" else (net.gW, net.gb)
    return [a for pair in zip(ws, bs) for a in pair]


def assert_all_close(got, want, what, rtol=1e-10):
    """Elementwise within rtol; entries that cancel to near zero (sums taken in another order)
    may instead differ by 1e-12 of the array's largest entry."""
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{what}[{i}]"
        atol = 1e-12 * float(np.abs(w).max()) if rtol else 0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{what}[{i}]")


@pytest.mark.parametrize("spec", [GAUSSIAN, MNIST], ids=["gaussian-elu", "mnist-dropout"])
def test_floor_gradients_equal_the_engines(spec, monkeypatch):
    real, z_d, z_g, u = fixed_inputs(spec, np.random.default_rng(7))
    eng = engine_step(spec, real, z_d, z_g, u, monkeypatch)
    fl, d_loss, g_loss = floor_step(spec, eng["init"], real, z_d, z_g, u)
    assert d_loss == pytest.approx(eng["d_loss"], rel=1e-12)
    assert g_loss == pytest.approx(eng["g_loss"], rel=1e-12)
    assert_all_close(flat(fl.D, "gW"), eng["D_grad"], "D-step gradients")
    assert_all_close(flat(fl.G, "gW"), eng["G_grad"], "G-step gradients")
    assert_all_close(flat(fl.D, "W"), eng["D_after"], "D after one Adam update")
    assert_all_close(flat(fl.G, "W"), eng["G_after"], "G after one Adam update")
    # the G step computed no weight gradient for D (the FLOP count relies on it)
    assert_all_close(eng["D_grad_after_g_step"], eng["D_grad"], "D gradients after the G step", rtol=0)
    # and the update moved every parameter: the comparison above is not vacuous
    assert all(not np.array_equal(a, b) for a, b in zip(flat(fl.D, "W"), eng["init"]["D"]))


def test_step_flops_are_the_matmuls_the_engine_performs(monkeypatch):
    spec, batch = mnist_spec(0.125), 4
    counted = []
    forward, backward = ops.Linear.forward, ops.Linear.backward

    def counting_forward(self, x, W, b=None):
        counted.append(2 * x.shape[0] * W.shape[0] * W.shape[1])
        return forward(self, x, W, b)

    def counting_backward(self, gy, x, W, *rest):
        counted.append(2 * gy.shape[0] * W.shape[0] * W.shape[1] * (bool(self.needs[0]) + bool(self.needs[1])))
        return backward(self, gy, x, W, *rest)
    monkeypatch.setattr(ops.Linear, "forward", counting_forward)
    monkeypatch.setattr(ops.Linear, "backward", counting_backward)
    runner = build_npgan(spec, batch, Pool(16), "numpy")
    try:
        runner.step()
    finally:
        runner.close()
    assert sum(counted) == step_flops(spec, batch)["total"]


def test_step_flops_are_the_matmuls_pytorch_performs():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    from benchmarks import torch_ref
    spec, batch = mnist_spec(0.125), 4
    gan = torch_ref.TorchGAN(batch=batch, **spec.kwargs())
    real = torch.rand(batch, 784) * 2 - 1
    with FlopCounterMode(display=False) as counter:
        gan.step(real)
    assert counter.get_total_flops() == step_flops(spec, batch)["total"]


@pytest.mark.parametrize("spec", [GAUSSIAN, replace(mnist_spec(0.25), d_dropout=0.0)],
                         ids=["gaussian-elu", "mnist-no-dropout"])
def test_pytorch_reference_takes_the_floors_step(spec):
    torch = pytest.importorskip("torch")
    from benchmarks import torch_ref
    rng = np.random.default_rng(11)
    real, z_d, z_g, u = fixed_inputs(spec, rng)
    init = {"G": [a for W, b in floor.torch_like_init(spec.g_sizes, rng, np.float64) for a in (W, b)],
            "D": [a for W, b in floor.torch_like_init(spec.d_sizes, rng, np.float64) for a in (W, b)]}
    fl, d_loss, g_loss = floor_step(spec, init, real, z_d, z_g, u)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        gan = torch_ref.TorchGAN(batch=N, **spec.kwargs())
        with torch.no_grad():
            for net, name in ((gan.G, "G"), (gan.D, "D")):
                for p, a in zip(net.parameters(), init[name]):
                    p.copy_(torch.from_numpy(a))
        noises = [torch.from_numpy(z_d), torch.from_numpy(z_g)]
        gan.sample_noise = lambda: noises.pop(0)
        t_d, t_g = gan.step(torch.from_numpy(real))
    finally:
        torch.set_default_dtype(previous)
    assert (t_d, t_g) == pytest.approx((d_loss, g_loss), rel=1e-12)
    assert_all_close([p.detach().numpy() for p in gan.D.parameters()], flat(fl.D, "W"), "D after")
    assert_all_close([p.detach().numpy() for p in gan.G.parameters()], flat(fl.G, "W"), "G after")


def test_floor_float32_step_stays_float32_and_allocates_nothing_new():
    spec = mnist_spec(0.125)
    fl = floor.FloorGAN(batch=4, dtype="float32", **spec.kwargs())
    real = np.zeros((4, 784), np.float32)
    fl.step(real)
    buffers = {id(a) for a in (fl.D.theta, fl.G.theta, fl.D.X, fl.G.X, *fl.D.Z, *fl.G.Z)}
    fl.step(real)
    assert {id(a) for a in (fl.D.theta, fl.G.theta, fl.D.X, fl.G.X, *fl.D.Z, *fl.G.Z)} == buffers
    for net in (fl.G, fl.D):
        assert all(a.dtype == np.float32 for a in (net.theta, net.grad, net.m, net.v, *net.Z, *net.F))
    assert fl.D.t == fl.G.t == 2


def test_floor_dropout_keeps_one_minus_p():
    keep = np.empty((1000, 1001), np.float32)
    floor.bernoulli_keep(np.random.Generator(np.random.PCG64(5)), 0.3, out=keep)
    assert set(np.unique(keep)) == {0.0, 1.0}
    assert abs(keep.mean() - 0.7) < 5 * (0.21 / keep.size) ** 0.5


def test_quick_run_writes_the_report(tmp_path):
    assert bench.main(["--quick", "--out", str(tmp_path)], log=lambda *a: None) == 0
    report = (tmp_path / "RESULTS.md").read_text()
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
    for section in ("## Machine", "## Step time (ms)", "## Ratios", "## Targets for the engine",
                    "## Matmul throughput", "## Scaling", "## Resident memory", "QUICK MODE",
                    "Command: `python3 benchmarks/bench.py --quick --out"):
        assert section in report
    times = results["cases"][0]["times"]
    assert times["npgan-numpy"]["repeats"] == 3 and times["floor"]["median_ms"] > 0
    # the last case (the throughput target's) has the peak matmul timed in its rounds
    peak = results["cases"][-1]["times"]["peak-numpy"]
    assert peak["repeats"] == 3 and peak["gflops_per_s"] > 0
    assert results["memory"][0]["backend"] == "numpy" and results["memory"][0]["rss_b_kib"] > 0
    assert results["contention"]["measurements"] >= 6  # every measurement watched for other load
    reason = backend.cupy_unavailable_reason()
    if reason:  # CPU-only: the GPU columns are skipped with the backend's own message
        assert reason in report and "skipped" in report
        assert results["cases"][0]["times"]["npgan-cupy"] is None
    if load_torch(False)[0] is None:
        assert "skipped: torch not installed" in report
    assert backend.get_backend() == "numpy" and backend.get_default_dtype() == np.float32
    # the DCGAN-B part: its section, its plot, the floor and the products alone at batch 4
    dc = results["dcgan"]
    assert "## DCGAN-B step" in report and (tmp_path / "dcgan_scaling.png").stat().st_size > 10_000
    assert dc["label"] == "DCGAN-B x0.125 channels, batch 4" and set(dc["sweep"]) == {"2", "4"}
    assert dc["row"]["floor"]["repeats"] == 3 and dc["row"]["products"]["gflops_per_s"] > 0
    assert dc["flops"]["4"] == step_flops(dcgan_spec(0.125), 4)
    assert [t["target"].split(" step, ")[1] for t in results["targets"][-2:]] == [
        "npgan / PyTorch CPU (best configuration), batch 4", "npgan / floor, batch 4"]
    if load_torch(False)[0] is not None:  # every configuration timed, the fastest is "best"
        assert len(dc["configs"]) == 6 and dc["torch_best"] in dc["configs"]
        best = dc["row"]["torch-cpu-best"]
        assert best["config"] == dc["torch_best"]
        assert best["median_ms"] == min(t["median_ms"] for t in dc["configs"].values())
        assert set(dc["sweep"]["2"]) >= {"torch-cpu", "torch-cpu-best"}
    # --dcgan times that part again and puts it into the saved run, the rest untouched
    lines = []
    argv = ["--quick", "--dcgan", "--no-torch", "--repeats", "1", "--out", str(tmp_path)]
    assert bench.main(argv, log=lines.append) == 0
    again = json.loads((tmp_path / "results.json").read_text())
    assert again["cases"] == results["cases"] and again["meta"] == results["meta"]
    assert again["dcgan"]["command"].endswith(" ".join(argv))
    assert again["dcgan"]["row"]["floor"]["repeats"] == 1 and not again["dcgan"]["configs"]
    assert again["dcgan"]["command"] in (tmp_path / "RESULTS.md").read_text()
    assert any("DCGAN-B x0.125 channels, batch 4, ms per step" in str(line) for line in lines)
    assert bench.main(["--quick", "--dcgan", "--out", str(tmp_path / "none")],
                      log=lines.append) == 2
    assert "does not exist" in lines[-1]


def test_targets_mode_times_the_target_cases_prints_the_verdicts_and_writes_nothing(tmp_path):
    full = sizes(False)
    cases = target_cases(full, quick=False)
    # the cases --targets times are the full run's, and the ones targets() reads
    assert all(c in full["cases"] for c in cases)
    assert [(spec.name, batch) for spec, batch in cases] == [
        ("gaussian", 256), ("mnist", 100), ("mnist", 1024)]
    timing = {"median_ms": 1.0, "gflops_per_s": 1.0, "round_ms": [1.0]}
    results = {"peaks": {}, "cases": [
        {"model": spec.name, "width": 1.0, "batch": batch,
         "times": {"npgan-numpy": timing, "floor": timing, "torch-cpu": timing, "peak-numpy": timing}}
        for spec, batch in cases]}
    assert all(t["met"] is not None for t in targets(results))  # every target has its case

    written = {p: p.stat().st_mtime_ns for p in (ROOT / "benchmarks").iterdir()}
    lines = []
    assert bench.main(["--quick", "--targets", "--no-torch"], log=lines.append) == 0
    text = "\n".join(str(line) for line in lines)
    floor_target = next(line for line in lines if "Gaussian step, npgan / floor" in str(line))
    assert "measured None" not in floor_target and "(rounds " in floor_target
    assert "nothing written" in text and "scaling sweep" not in text
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "benchmarks").iterdir()} == written
    with pytest.raises(SystemExit):
        bench.parse_args(["--targets", "--out", str(tmp_path)])


def test_implementations_are_timed_in_interleaved_rounds():
    """7 blocks in 3 rounds: each round times every implementation in turn (3, 2 and 2 blocks)
    after its warm-up; every implementation is activated before it steps and closed once."""
    events = []

    def build(name):
        def make(spec, batch, pool):
            return Runner(step=lambda: events.append(name), sync=lambda: None,
                          close=lambda: events.append(f"close {name}"),
                          activate=lambda: events.append(f"activate {name}"))
        return make
    impls = [Impl("npgan-numpy", "npgan", "cpu", build("a")),
             Impl("floor", "floor", "cpu", build("b")),
             Impl("torch-cpu", "torch", "cpu", None, "skipped: test")]
    b = Bench(impls, None, repeats=7, warmup=1, min_block_s=0, rounds=3, settle_s=0,
                    log=lambda *a: None)
    row = b.row(GAUSSIAN, 4)
    assert row["torch-cpu"] is None
    assert row["npgan-numpy"]["repeats"] == row["floor"]["repeats"] == 7
    assert row["npgan-numpy"]["rounds"] == 3 and len(row["floor"]["round_ms"]) == 3
    order = [e for e in events if e.startswith("activate")]
    assert order == ["activate a", "activate b"] * 3
    # per round and implementation: the first step, the calibration (round 1 only), 1 warm-up
    # block and the timed blocks, k = 1 step each
    steps_a = [len(list(g)) for k, g in itertools.groupby(events) if k == "a"]
    assert steps_a == [1 + 1 + 1 + 3, 1 + 1 + 2, 1 + 1 + 2]
    assert events[-2:] == ["close b", "close a"]
    assert b.row(GAUSSIAN, 4) == row  # cached: not timed again
    assert events.count("activate a") == 3


def test_matmul_peak_of_two_measurements_is_the_best_of_all():
    start = {"cpu": {"n": 8, "repeats": 2, "rates": [100.0, 300.0], "library": "x"}}
    end = {"cpu": {"n": 8, "repeats": 2, "rates": [400.0, 200.0], "library": "x"}}
    merged = merge_peaks(start, end)["cpu"]
    assert merged["best_gflops"] == 400.0 and merged["median_gflops"] == 250.0
    assert merged["repeats"] == 4 and merged["library"] == "x"


def test_percentages_of_peak_use_the_best_library_on_the_device():
    peaks = {"cpu": {"best_gflops": 290.0}, "cpu_torch": {"best_gflops": 348.0}}
    assert device_peak(peaks, "cpu") == 348.0
    assert device_peak({"cpu": {"best_gflops": 290.0}}, "cpu") == 290.0
    assert device_peak(peaks, "gpu") is None
    results = {"peaks": peaks, "cases": [{"model": "mnist", "width": 1.0, "batch": 1024, "times": {
        "npgan-numpy": {"gflops_per_s": 174.0, "median_ms": 1.0}}}]}
    last = targets(results)[-1]
    assert last["measured"] == "50.0%" and last["met"] is False  # 174 / 348, not 174 / 290
    # a peak timed in the same rounds as the step is the one used
    results["cases"][0]["times"].update({"peak-numpy": {"gflops_per_s": 300.0},
                                         "peak-torch": {"gflops_per_s": 316.0}})
    assert targets(results)[-1]["measured"] == "55.1%"  # 174 / 316


def test_targets_give_the_spread_over_rounds_and_say_when_rounds_disagree():
    def timing(median_ms, round_ms, gflops=None):
        return {"median_ms": median_ms, "round_ms": round_ms, "gflops_per_s": gflops}
    b100 = {"npgan-numpy": timing(11.0, [10.0, 12.0, 11.0]), "torch-cpu": timing(10.0, [10.0] * 3)}
    b1024 = {"npgan-numpy": timing(1.0, [1.0, 1.2, 0.9], gflops=174.0),  # 174, 145, 193.3 GFLOP/s
             "torch-cpu": timing(1.1, [1.1, 1.3, 1.0]),
             "peak-numpy": timing(1.0, [1.0, 1.0, 1.0], gflops=300.0),
             "peak-torch": timing(1.0, [1.0, 2.0, 1.0], gflops=316.0)}   # 316, 158, 316 GFLOP/s
    results = {"peaks": {}, "cases": [
        {"model": "mnist", "width": 1.0, "batch": 100, "times": b100},
        {"model": "mnist", "width": 1.0, "batch": 1024, "times": b1024}]}
    by_name = {(t["target"], t["limit"]): t for t in targets(results)}
    at100 = by_name[("MNIST step, npgan / PyTorch CPU, batch 100", "<= 1.15")]
    assert at100["met"] is True and at100["rounds"] == "1.000–1.200" and at100["rounds_disagree"]
    assert fmt_met(at100) == "yes (rounds disagree)"
    at1024 = by_name[("MNIST step, npgan / PyTorch CPU, batch 1024", "<= 1.0")]
    assert at1024["rounds"] == "0.900–0.923" and at1024["rounds_disagree"] is False  # 1/1.1, 1.2/1.3, 0.9/1.0
    assert fmt_met(at1024) == "yes"
    # each round's rate over the better peak of that round: 174/316, 145/300, 193.3/316
    peak = by_name[("MNIST step, npgan matmul throughput, batch 1024", ">= 55% of peak")]
    assert peak["measured"] == "55.1%" and peak["rounds"] == "48.3%–61.2%" and peak["rounds_disagree"]
    gaussian = by_name[("Gaussian step, npgan / floor, batch 256", "<= 1.5")]  # not measured
    assert gaussian["met"] is None and gaussian["rounds"] is None
    assert fmt_met(gaussian) == "n/a (not measured in this run)"


def test_torch_absent_or_refused_is_a_skip_with_its_reason(monkeypatch):
    assert load_torch(True) == (None, "skipped: --no-torch")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    assert load_torch(False) == (None, "skipped: torch not installed")
    impls = {i.name: i for i in make_impls("all", load_torch(False))}
    assert impls["torch-cpu"].build is None and impls["torch-cuda"].skip_reason == "skipped: torch not installed"
    assert impls["npgan-numpy"].build is not None and impls["floor"].build is not None


@pytest.mark.skipif(backend.cupy_unavailable_reason() is None, reason="CuPy and a GPU are present here")
def test_asking_for_cupy_without_a_gpu_fails_loudly():
    lines = []
    assert bench.main(["--quick", "--backend", "cupy"], log=lines.append) == 2
    assert backend.cupy_unavailable_reason() in lines[0]


def test_crossover_is_where_the_gpu_wins_for_good():
    def t(ms):
        return {"median_ms": ms}
    sweep = {b: {"gpu": t(g), "cpu": t(c)} for b, g, c in
             ((16, 5, 1), (32, 1, 2), (64, 3, 2), (128, 2, 4), (256, 2, 8))}
    assert crossover(sweep, "gpu", "cpu") == 128
    assert crossover({16: {"gpu": None, "cpu": t(1)}}, "gpu", "cpu") is None


def test_idioms_script_runs_in_tiny_mode_and_leaves_the_array_cache_as_it_was():
    from benchmarks import idioms
    before = npgan.speed._cache.max_bytes
    results = idioms.main(["--quick"], log=lambda *a: None)
    assert npgan.speed._cache.max_bytes == before  # switched off for one measurement, then restored
    assert [r[0].split(":")[0].split(",")[0] for r in results] == [
        "MNIST step", "LeakyReLU slope", "dropout keep mask (p = 0.3)", "(512"]
    assert results[0][2] >= 0 and all(r[2] > 0 and r[4] > 0 for r in results[1:])


# --- DCGAN-B --------------------------------------------------------------------------------

DC = dcgan_spec(4 / 64)  # 4 channels: G 8 -> 4 -> 1, D 1 -> 4 -> 8
#: conv biases feeding batch norm: their exact gradient is 0, both sides compute rounding noise
BIAS_BEFORE_BN = ("G.0.bias", "G.4.bias", "D.2.bias")


def dcgan_inputs(seed=5, n=N):
    """A float64 start state (batch-norm weights, biases and running statistics moved off their
    defaults, so a transposed layout or a missing term shows), a real batch and two noises."""
    rng = np.random.default_rng(seed)
    state = floor_dcgan.torch_like_init(DC.channels, rng, np.float64)
    for name, a in state.items():
        if name.endswith("running_var"):
            state[name] = a * rng.uniform(0.5, 2, a.shape)
        elif name.split(".")[1] in ("1", "3", "5") and "weight" not in name or name.endswith(
                ("G.1.weight", "G.5.weight", "D.3.weight")):
            state[name] = a + rng.uniform(-0.3, 0.3, a.shape)
    real = rng.uniform(-1, 1, (n, 784))
    return state, real, rng.standard_normal((n, 100)), rng.standard_normal((n, 100))


def floor_dcgan_step(state, real, z_d, z_g):
    fl = floor_dcgan.FloorDCGAN(real.shape[0], dtype="float64", state=dict(state), **DC.kwargs())
    losses = fl.step(real, z_d, z_g)
    return fl, losses


def assert_state_close(got, want, what, rtol=1e-10):
    """Every name within rtol, but the biases before batch norm: their gradient (exactly 0)
    within 1e-12 of the largest gradient of their layer's weight, and Adam's step from that
    rounding noise, lr g / (|g| + eps) = 2e4 g for |g| << eps = 1e-8, within 1e-9; so D's running
    mean, which the G step's pass updates with D.2.bias after Adam, within 0.1 (momentum) 1e-9."""
    assert set(got) == set(want), what
    for name in want:
        g, w = np.asarray(got[name]), np.asarray(want[name])
        assert g.shape == w.shape, f"{what} {name}"
        if what == "gradient" and name in BIAS_BEFORE_BN:
            scale = float(np.abs(want[name.replace("bias", "weight")]).max())
            np.testing.assert_allclose(g, 0, atol=1e-12 * scale, err_msg=f"{what} {name}")
            np.testing.assert_allclose(w, 0, atol=1e-12 * scale, err_msg=f"{what} {name}")
        elif name in BIAS_BEFORE_BN or name == "D.3.running_mean":
            atol = 1e-9 if name in BIAS_BEFORE_BN else 1e-10
            np.testing.assert_allclose(g, w, rtol=0, atol=atol, err_msg=f"{what} {name}")
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12 * float(np.abs(w).max()),
                                       err_msg=f"{what} {name}")


def test_dcgan_floor_takes_pytorchs_step():
    torch = pytest.importorskip("torch")
    from benchmarks import torch_ref
    state, real, z_d, z_g = dcgan_inputs()
    fl, (d_loss, g_loss) = floor_dcgan_step(state, real, z_d, z_g)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        gan = torch_ref.TorchDCGAN(N, **DC.kwargs())
        nets = {"G": gan.G, "D": gan.D}
        with torch.no_grad():
            for name, a in state.items():
                net, key = name.split(".", 1)
                nets[net].state_dict()[key].copy_(torch.from_numpy(a))
        noises = [torch.from_numpy(z_d), torch.from_numpy(z_g)]
        gan.sample_noise = lambda: noises.pop(0)
        t_d, t_g = gan.step(torch.from_numpy(real).reshape(N, 1, 28, 28))
    finally:
        torch.set_default_dtype(previous)
    assert (t_d, t_g) == pytest.approx((d_loss, g_loss), rel=1e-12)
    params = {f"{n}.{k}": p for n, net in nets.items() for k, p in net.named_parameters()}
    # D's gradients are the D step's (the G step computes none for D), G's the G step's
    assert_state_close(fl.torch_state("g"), {k: p.grad.numpy() for k, p in params.items()}, "gradient")
    assert_state_close(fl.torch_state("p"), {k: p.detach().numpy() for k, p in params.items()},
                       "parameter after Adam")
    buffers = {f"{n}.{k}": b.numpy() for n, net in nets.items() for k, b in net.named_buffers()
               if "running" in k}
    assert_state_close(fl.torch_state("buf"), buffers, "running statistic")
    assert not np.allclose(fl.torch_state("buf")["D.3.running_mean"], state["D.3.running_mean"])


def test_dcgan_floor_takes_npgans_step():
    state, real, z_d, z_g = dcgan_inputs(seed=6)
    fl, (d_loss, g_loss) = floor_dcgan_step(state, real, z_d, z_g)
    npgan.set_default_dtype("float64")
    G, D = npgan_models(DC)
    for prefix, net in (("G.", G), ("D.", D)):
        net.load_state_dict({k: state.get(prefix + k, v) for k, v in net.state_dict().items()})
    noises = [z_d, z_g]
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=DC.lr, betas=DC.betas, eps=DC.eps),
        optim.Adam(D.parameters(), lr=DC.lr, betas=DC.betas, eps=DC.eps),
        sample_real=lambda n: npgan.tensor(real.reshape(n, 1, 28, 28)),
        sample_noise=lambda n: npgan.tensor(noises.pop(0)), batch_size=N)
    e_d, _, _ = trainer.d_step()
    d_grads = {"D." + k: p.grad.numpy() for k, p in D.named_parameters()}
    e_g = trainer.g_step()
    assert (float(e_d), float(e_g)) == pytest.approx((d_loss, g_loss), rel=1e-12)
    grads = dict(d_grads, **{"G." + k: p.grad.numpy() for k, p in G.named_parameters()})
    assert_state_close(fl.torch_state("g"), grads, "gradient")
    after = {f"{n}.{k}": p.numpy() for n, net in (("G", G), ("D", D)) for k, p in net.named_parameters()}
    assert_state_close(fl.torch_state("p"), after, "parameter after Adam")
    buffers = {f"{n}.{k}": b.numpy() for n, net in (("G", G), ("D", D))
               for k, b in net.named_buffers() if "running" in k}
    assert_state_close(fl.torch_state("buf"), buffers, "running statistic")


def test_dcgan_floor_layouts_round_trip_and_float32_stays_float32():
    rng = np.random.default_rng(1)
    for name, shape in floor_dcgan.param_shapes(8).items():
        a = rng.standard_normal(shape)
        assert np.array_equal(floor_dcgan.to_torch(name, floor_dcgan.to_floor(name, a, 8), 8), a)
    fl = floor_dcgan.FloorDCGAN(3, c=8)
    fl.step(np.zeros((3, 784), np.float32))
    for net in (fl.G, fl.D):
        assert all(a.dtype == np.float32 for a in (net.theta, net.grad, net.m, net.v, *net.buf.values()))
    assert fl.d_xpad.dtype == fl.g_a1.dtype == np.float32 and fl.D.t == fl.G.t == 1


def test_dcgan_step_flops_are_the_products_pytorch_performs():
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    from benchmarks import torch_ref
    gan = torch_ref.TorchDCGAN(3, **DC.kwargs())
    with FlopCounterMode(display=False) as counter:
        gan.step(torch.rand(3, 1, 28, 28) * 2 - 1)
    flops = step_flops(DC, 3)
    assert counter.get_total_flops() == flops["total"] == flops["conv"] + flops["linear"]


def test_dcgan_npgan_step_as_benchmarked_keeps_cupys_rules():
    """npgan's DCGAN-B runner (data reshaped on the device, noise, the trainer) on "gpusim",
    NumPy with CuPy's rules: what ``--backend cupy`` times runs there."""
    spec = dcgan_spec(0.125)
    runner = build_npgan(spec, 2, Pool(8), "gpusim")
    try:
        runner.step()
        runner.step()
    finally:
        runner.close()
    assert backend.get_backend() == "numpy"


def test_dcgan_best_configuration_is_the_fastest_timed():
    def t(ms):
        return {"median_ms": ms}
    row = {"torch-cpu": t(5.0), "torch-cpu:fused": t(4.0), "torch-cpu:channels_last": t(4.5),
           "torch-cpu:foreach": None, "floor": t(1.0)}
    assert best_config(row) == ("fused", t(4.0))
    assert best_config({"torch-cpu": t(3.0), "torch-cpu:fused": t(4.0)}) == ("default", t(3.0))
    assert best_config({"torch-cpu": None}) == (None, None)


def test_penalty_benchmark_quick_runs_and_its_report_section(capsys):
    """benchmarks/penalty.py --quick times both critic steps (writing nothing), and the report
    section shows a saved result with its ratio."""
    from benchmarks import penalty
    from benchmarks.report import _penalty
    before = (ROOT / "benchmarks" / "results.json").read_bytes()
    assert penalty.main(["--quick"]) == 0
    out = capsys.readouterr().out
    plain = float(out.split("without the penalty")[1].split("ms")[0])
    with_penalty = float(out.split("with the penalty")[1].split("ms")[0])
    assert plain > 0 and with_penalty > 0
    gan = float(out.split("without R1")[1].split("ms")[0])
    with_r1 = float(out.split("with R1")[1].split("ms")[0])
    assert gan > 0 and with_r1 > 0
    assert (ROOT / "benchmarks" / "results.json").read_bytes() == before  # --quick writes nothing
    text = "\n".join(_penalty({"penalty": {
        "command": "python3 benchmarks/penalty.py", "date": "d", "machine": "m", "other_cores": "0.00",
        "batch": 64, "rounds": 12, "plain_ms": 40.0, "penalty_ms": 90.0}}))
    assert "| with the penalty (lambda 10, on random interpolates) | 90.0 | 2.25 |" in text
    assert "R1" not in text  # a result saved before R1 existed has no R1 table
    text = "\n".join(_penalty({"penalty": {
        "command": "python3 benchmarks/penalty.py", "date": "d", "machine": "m", "other_cores": "0.00",
        "batch": 64, "rounds": 12, "plain_ms": 40.0, "penalty_ms": 90.0, "gan_d_ms": 50.0,
        "r1_ms": 90.0, "r1_every": 8, "gan_batch": 48}}))
    assert "| with R1 (gamma 1, on the real batch) | 90.0 | 1.80 |" in text
    assert "5.0 ms more on average" in text  # (90 - 50) / 8
    assert "batch 48 as in its default run" in text
    assert _penalty({}) == []
