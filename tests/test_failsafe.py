"""Issue 14, "Training runs that fail safe": one test (or a few) per numbered finding, with the
probe's command or call, the exit status or exception, and the words of the message; and the
host-transfer count of issue 15 (a training step between two log lines reads nothing back).
"""
import errno
import importlib.util
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import npgan
from npgan import autograd, backend, checkpoint, gan, losses, nn, optim, runs, speed
from npgan import random as nprandom
from npgan.gan import GANTrainer, TrainingDiverged

REPO = Path(__file__).resolve().parents[1]
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="the examples draw with matplotlib: "
                                             "pip install '.[test]'")


def tiny_trainer(lr=1e-3, **kw):
    """A 1-D GAN of a few units (float32), the Gaussian example's shape."""
    G = nn.Sequential(nn.Linear(1, 4), nn.ELU(), nn.Linear(4, 1))
    D = nn.Sequential(nn.Linear(1, 4), nn.ELU(), nn.Linear(4, 1))
    return GANTrainer(G, D, optim.Adam(G.parameters(), lr=lr), optim.Adam(D.parameters(), lr=lr),
                      sample_real=lambda n: nprandom.normal(4.0, 1.25, (n, 1)),
                      sample_noise=lambda n: nprandom.rand(n, 1), batch_size=16, **kw)


def fake_digits(folder, train=40, test=10, images=None):
    """A tiny MNIST folder (test_data.fake_mnist): a full-size MNIST model trains on it fast."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from test_data import fake_mnist
    finally:
        sys.path.remove(str(REPO / "tests"))
    folder.mkdir(parents=True, exist_ok=True)
    fake_mnist(folder, train, "train", images=images)
    fake_mnist(folder, test, "test")
    return folder


def one_line(err):
    """The stderr of a refused command: exactly one non-empty line."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- 1. divergence stops the run -------------------------------------------------------------

def poison_after(trainer, step):
    """Make D's real batch NaN from ``step`` on (the loss of that step is NaN)."""
    real = trainer.sample_real

    def sample(n):
        x = real(n)
        if trainer.step_count + 1 >= step:
            x = x * float("nan")
        return x
    trainer.sample_real = sample


def test_1_first_non_finite_loss_stops_training_naming_the_step():
    tr = tiny_trainer()
    poison_after(tr, 7)
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 7: d_loss is nan; "
                                               r"try a lower learning rate, or float64") as info:
        tr.train(20, log_every=5)
    assert info.value.step == 7 and info.value.what == "d_loss"
    assert tr.history["step"] == list(range(1, 7))  # the good steps only, no NaN in history
    assert all(math.isfinite(v) for v in tr.history["d_loss"] + tr.history["g_loss"])


def test_1_non_finite_parameters_are_caught_and_never_checkpointed(tmp_path):
    tr = tiny_trainer()
    tr.train(3)
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, tr.state_dict())
    good = path.read_bytes()
    next(tr.D.parameters()).data[...] = np.inf  # as an update that overflowed would leave it
    with pytest.raises(TrainingDiverged, match="step 3: the parameters of D hold NaN or inf"):
        checkpoint.save(path, tr.state_dict())
    assert path.read_bytes() == good  # the last good checkpoint is kept
    # and a checkpoint that holds NaN (an older npgan wrote them) is refused on resume
    bad = tiny_trainer()
    nan_state = checkpoint.load(path)
    nan_state["G"]["0.weight"][...] = np.nan
    with pytest.raises(ValueError, match="the saved parameters of G hold NaN or inf"):
        bad.load_state_dict(nan_state)


@needs_matplotlib
def test_1_mixtures_probe_exits_1_with_one_line_and_no_metrics(load_example, tmp_path, capsys):
    example = load_example("mixtures")
    out = tmp_path / "out"
    status = example.main(["--dataset", "ring", "--loss", "ns", "--lr", "1e4", "--steps", "300",
                           "--hidden", "32", "--batch-size", "64", "--quiet", "--out", str(out)])
    assert status == 1
    line = one_line(capsys.readouterr().err)
    assert "training diverged at step" in line and "lower learning rate" in line
    assert not (out / "metrics.json").exists()


@needs_matplotlib
def test_1_divergence_is_one_line_on_stderr_without_numpy_warnings(tmp_path):
    # the probe as a user runs it: NumPy's overflow warnings must not bury the one line
    cmd = [sys.executable, str(REPO / "examples" / "mixtures.py"), "--dataset", "ring", "--loss",
           "ns", "--lr", "1e4", "--steps", "300", "--hidden", "32", "--batch-size", "64",
           "--quiet", "--out", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "training diverged at step" in lines[0], proc.stderr


@needs_matplotlib
def test_1_mnist_divergence_keeps_the_last_good_checkpoint(load_example, tmp_path, capsys,
                                                           monkeypatch):
    example = load_example("mnist")
    digits = fake_digits(tmp_path / "digits")  # 40 digits, batch 10: 4 steps an epoch
    out = tmp_path / "run"
    real_randn = example.nprandom.randn
    calls = {"n": 0}

    class Poisoned:  # G's noise turns NaN at the 11th draw: D's step 6 sees NaN fakes
        def __getattr__(self, name):
            return getattr(nprandom, name)

        @staticmethod
        def randn(*shape):
            calls["n"] += 1
            z = real_randn(*shape)
            return z * float("nan") if calls["n"] >= 11 else z

    monkeypatch.setattr(example, "nprandom", Poisoned())
    status = example.main(["--quiet", "--no-score", "--data-dir", str(digits), "--batch-size",
                           "10", "--steps", "20", "--sample-every", "0", "--log-every", "4",
                           "--out", str(out)])
    assert status == 1
    line = one_line(capsys.readouterr().err)
    assert "training diverged at step 6: d_loss is nan" in line
    assert "checkpoint of step 4" in line and "is kept" in line
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["trainer"]["step_count"] == 4  # the end of the first epoch, not a NaN one
    assert not (out / "metrics.json").exists()


def test_1_metrics_json_is_strict():
    with pytest.raises(runs.RunError, match=r"'w1' is NaN or infinite"):
        runs.write_json(os.devnull + "-not-written.json", {"mean": 1.0, "w1": float("nan")})


# --- 2. --out is checked before training -----------------------------------------------------

@needs_matplotlib
def test_2_out_naming_a_file_is_refused_before_any_work(load_example, tmp_path, capsys):
    example = load_example("gaussian")
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    start = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        example.main(["--out", str(a_file), "--quiet"])
    assert info.value.code == 2 and time.perf_counter() - start < 5
    line = one_line(capsys.readouterr().err)
    assert "--out" in line and "exists and is not a folder" in line
    with pytest.raises(SystemExit) as info:
        example.main(["--out", str(a_file / "sub"), "--quiet"])
    assert info.value.code == 2
    assert "cannot create this folder" in one_line(capsys.readouterr().err)


def test_2_a_full_disk_is_found_by_the_probe_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(runs.os, "fsync", full)
    with pytest.raises(runs.UsageError, match="cannot write in this folder \\(No space left"):
        runs.check_output_folder(str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out") == []  # the probe file is removed


def test_2_a_failed_metrics_write_leaves_no_truncated_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    runs.write_json(path, {"a": 1})
    monkeypatch.setattr(runs.os, "fsync", lambda fd: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(runs.RunError, match="cannot write it \\(No space left on device\\)"):
        runs.write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(os.listdir(tmp_path)) == ["metrics.json"]


# --- 3. Ctrl-C -------------------------------------------------------------------------------

def test_3_first_ctrl_c_asks_to_stop_second_aborts(capsys):
    with runs.StopOnCtrlC("probe") as stop:
        assert not stop()
        signal.raise_signal(signal.SIGINT)  # to this thread: os.kill may reach another (BLAS, torch)
        assert stop()
        assert "stopping at the end of this step" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_3_train_stops_at_the_end_of_the_step():
    tr = tiny_trainer()
    tr.train(50, should_stop=lambda: tr.step_count >= 4)
    assert tr.step_count == 4 and tr.history["step"] == [1, 2, 3, 4]


@needs_matplotlib
def test_3_sigint_saves_a_checkpoint_and_resume_continues(tmp_path):
    digits = fake_digits(tmp_path / "digits")
    out = tmp_path / "run"
    cmd = [sys.executable, str(REPO / "examples" / "mnist.py"), "--no-score", "--data-dir",
           str(digits), "--batch-size", "10", "--steps", "5000", "--sample-every", "0",
           "--log-every", "1", "--out", str(out)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        for line in proc.stdout:  # wait until training runs
            if line.startswith("epoch") and "step      2/" in line:
                break
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    step = checkpoint.load(out / "checkpoint.npz")["trainer"]["step_count"]
    assert 2 <= step < 5000
    assert f"stopped by Ctrl-C at step {step} of 5000; saved" in stderr
    assert "continue with: python3 examples/mnist.py" in stderr and "--resume" in stderr
    more = cmd[:cmd.index("--steps") + 1] + [str(step + 2)] + cmd[cmd.index("--steps") + 2:]
    resumed = subprocess.run(more + ["--resume", "--quiet"], capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.load(out / "checkpoint.npz")["trainer"]["step_count"] == step + 2


def test_3_bench_exits_130_on_ctrl_c_without_traceback(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt
    with pytest.raises(SystemExit) as info:
        runs.run_script(interrupted, "bench.py")
    assert info.value.code == 130
    assert "bench.py: interrupted (Ctrl-C)" in one_line(capsys.readouterr().err)
    assert "runs.run_script(main, \"bench.py\")" in (REPO / "benchmarks" / "bench.py").read_text()


# --- 4. an explicit backend wins over the environment ----------------------------------------

@needs_matplotlib
def test_4_explicit_backend_flag_wins_over_npgan_backend(tmp_path):
    env = dict(os.environ, NPGAN_BACKEND="cupy" if not backend.cupy_available() else "tpu")
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "gaussian.py"), "--backend",
                           "NumPy", "--steps", "2", "--quiet", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"backend": "numpy"' in (tmp_path / "metrics.json").read_text()


def test_4_backend_names_are_case_insensitive():
    previous = backend.get_backend()
    try:
        npgan.set_backend(" NumPy ")
        assert npgan.get_backend() == "numpy"
    finally:
        npgan.set_backend(previous)
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        npgan.set_backend("tpu")


# --- 5. gradcheck never vouches for NaN or inf -----------------------------------------------

def test_5_gradcheck_fails_on_a_nan_output():
    w = npgan.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    with pytest.raises(npgan.GradcheckError, match=r"output is nan at index \(\)"):
        npgan.gradcheck(lambda w: (w * float("nan")).sum(), [w])
    assert npgan.gradcheck(lambda w: (w * float("nan")).sum(), [w],
                           raise_exception=False) is False


@pytest.mark.parametrize("mode", ["element", "direction"])
def test_5_gradcheck_fails_on_an_infinite_gradient(mode):
    w = npgan.tensor([0.0, 1.0], dtype="float64", requires_grad=True)  # d sqrt = inf at 0
    with np.errstate(divide="ignore"):
        with pytest.raises(npgan.GradcheckError,
                           match=r"input 0 \(shape \(2,\)\): the analytic gradient is inf at "
                                 r"index \(0,\)"):
            npgan.gradcheck(lambda w: (w ** 0.5).sum(), [w], mode=mode)
        with pytest.raises(npgan.GradcheckError, match=r"input 0 .* is inf at index \(0,\)"):
            npgan.gradgradcheck(lambda w: (w ** 1.5).sum(), [w], mode=mode)


# --- 6. no silent dtype upcast ---------------------------------------------------------------

def test_6_float64_into_a_float32_layer_is_refused():
    layer = nn.Linear(3, 2)
    x = npgan.tensor(np.ones((4, 3)))  # a float64 array keeps its dtype
    with pytest.raises(TypeError, match="Linear: cannot mix float32 and float64 operands"):
        layer(x)
    with pytest.raises(TypeError, match="Mul: cannot mix float32 and float64"):
        npgan.tensor([1.0]) * npgan.tensor([1.0], dtype="float64")


def test_6_integer_data_into_a_float_layer_says_to_cast():
    with pytest.raises(TypeError, match=r"Linear: got int64 data with float32 weights; cast "
                                        r"the data to float32 first"):
        nn.Linear(3, 2)(npgan.tensor(np.ones((4, 3), dtype=np.int64)))


def test_6_constants_keep_the_tensor_dtype():
    x = npgan.tensor([1.0, 2.0], requires_grad=True)
    for c in (0.5, 2, np.float64(0.5), np.array(0.5)):
        y = x * c + c
        assert y.dtype == np.float32, type(c)
    y.sum().backward()
    assert x.grad.dtype == np.float32


# --- 7. junk data ----------------------------------------------------------------------------

@pytest.mark.parametrize("junk", [object(), "hello", None, {}, ["a", "b"], [[1.0], [2.0, 3.0]]],
                         ids=["object", "str", "None", "dict", "strings", "ragged"])
def test_7_tensor_refuses_non_numeric_data(junk):
    with pytest.raises(TypeError, match="npgan.tensor: cannot make a tensor from .* give numbers"):
        npgan.tensor(junk)


# --- 8. checkpoint keys, leftovers, a full disk ----------------------------------------------

def test_8_checkpoint_keys_cannot_collide(tmp_path):
    with pytest.raises(ValueError, match=r"keys cannot contain '/'.*got 'a/b'"):
        checkpoint.save(tmp_path / "c.npz", {"a/b": np.zeros(1), "a": {"b": np.ones(1)}})


def test_8_a_killed_saves_leftover_is_removed_on_the_next_save_and_load(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "checkpoint.npz"
    leftover = tmp_path / f".checkpoint.npz.{dead.pid}.tmp"
    leftover.write_bytes(b"half a checkpoint")
    checkpoint.save(path, {"x": np.arange(3)})
    assert not leftover.exists()
    leftover.write_bytes(b"half a checkpoint")
    np.testing.assert_array_equal(checkpoint.load(path)["x"], np.arange(3))
    assert not leftover.exists()
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]


def test_8_disk_full_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"step": 1, "w": np.ones(4)})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(checkpoint.np, "savez", full)
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"checkpoint.npz: cannot save the checkpoint \(No space left on "
                             r"device\); the previous checkpoint there is intact"):
        checkpoint.save(path, {"step": 2, "w": np.zeros(4)})
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.npz"]


# --- 9. user mistakes: one line, exit status 2 -----------------------------------------------

@pytest.mark.parametrize("flags,words", [
    (["--lr", "-1"], "argument --lr: must be a finite number > 0, got '-1'"),
    (["--lr", "nan"], "argument --lr: must be a finite number, got 'nan'"),
    (["--beta1", "1.5"], "argument --beta1: must be in [0, 1), got '1.5'"),
    (["--beta2", "nan"], "argument --beta2: must be a finite number, got 'nan'"),
    (["--clip", "-1"], "argument --clip: must be a finite number > 0, got '-1'"),
    (["--gp-weight", "-5"], "argument --gp-weight: must be a finite number >= 0, got '-5'"),
    (["--log-every", "-1"], "argument --log-every: must be an integer >= 0, got '-1'"),
])
def test_9_mixtures_mistakes_are_one_line_and_exit_2(load_example, tmp_path, capsys, flags,
                                                     words):
    example = load_example("mixtures")
    with pytest.raises(SystemExit) as info:
        example.parse_args(flags + ["--out", str(tmp_path)])
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert words in line and "see --help" in line


@pytest.mark.parametrize("name,flags", [
    ("gaussian", ["--lr", "inf"]), ("gaussian", ["--d-lr", "0"]),
    ("gaussian", ["--log-every", "-1"]), ("mnist", ["--lr", "-1"]),
    ("mnist", ["--beta1", "1"]), ("mnist", ["--force-resume"]),
    ("walkthrough", ["--seed", "x"]), ("dcgan", ["--lr", "0"]),
    ("dcgan", ["--d-norm", "group"]),
])
def test_9_every_example_checks_its_command_line(load_example, tmp_path, capsys, name, flags):
    example = load_example(name)
    with pytest.raises(SystemExit) as info:
        example.parse_args(flags + (["--out", str(tmp_path)] if name != "walkthrough" else []))
    assert info.value.code == 2
    assert flags[0] in one_line(capsys.readouterr().err)


# --- 10. smaller findings ---------------------------------------------------------------------

def test_10_a_batch_that_cannot_fit_in_memory_is_refused_up_front(load_example, tmp_path, capsys):
    example = load_example("gaussian")
    start = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        example.parse_args(["--batch-size", "100000000000", "--out", str(tmp_path)])
    assert info.value.code == 2 and time.perf_counter() - start < 5
    line = one_line(capsys.readouterr().err)
    assert "GiB of memory" in line and "use a smaller --batch-size" in line


def test_10_saturation_out_gets_png_and_special_files_are_refused(load_example, tmp_path,
                                                                  capsys):
    example = load_example("saturation")
    args = example.parse_args(["--out", str(tmp_path / "plot")])
    assert args.out == str(tmp_path / "plot.png")  # what is written, and said
    with pytest.raises(SystemExit) as info:
        example.parse_args(["--out", "/dev/full"])
    assert info.value.code == 2
    assert "not a regular file" in one_line(capsys.readouterr().err)
    assert not os.path.exists("/dev/full.png")


def test_10_data_folder_is_named_by_its_resolved_path(tmp_path):
    folder = fake_digits(tmp_path / "digits", train=3, test=1)
    a = npgan.data.load_mnist_idx(str(folder), "train").source
    b = npgan.data.load_mnist_idx(str(folder) + os.sep, "train").source
    c = npgan.data.load_mnist_idx(os.path.join(str(folder), "..", "digits"), "train").source
    assert a == b == c


def test_10_resume_with_other_data_names_force_resume(load_example, tmp_path):
    example = load_example("mnist")
    tr = tiny_trainer()
    config = {k: 1 for k in example.RESUME_KEYS}
    config["data_source"] = "MNIST IDX files in /data/a (train split)"

    class Batches:
        def state_dict(self):
            return {"epoch": 0}

        def load_state_dict(self, state):
            pass

    path = tmp_path / "checkpoint.npz"
    checkpoint.save(path, {"config": config, "trainer": tr.state_dict(), "data": {}, "rng": None,
                           "extra": {"snapshots": []}})
    moved = dict(config, data_source="MNIST IDX files in /mnt/a (train split)")
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"other data: data_source: checkpoint .*/data/a.*, this run .*/mnt/a"
                             r".*; if it is the same data, add --force-resume"):
        example.load_checkpoint(path, tiny_trainer(), Batches(), moved)
    example.load_checkpoint(path, tiny_trainer(), Batches(), moved, force=True)
    with pytest.raises(checkpoint.CheckpointError, match="other settings: lr"):
        example.load_checkpoint(path, tiny_trainer(), Batches(), dict(config, lr=2), force=True)


@needs_matplotlib
def test_10_a_held_out_split_too_small_to_score_is_refused_before_training(load_example,
                                                                          tmp_path, capsys):
    digits = fake_digits(tmp_path / "digits", train=20, test=1)
    example = load_example("mnist")
    status = example.main(["--quiet", "--data-dir", str(digits), "--batch-size", "10",
                           "--steps", "2", "--out", str(tmp_path / "out")])
    assert status == 1
    line = one_line(capsys.readouterr().err)
    assert "1 held-out digits; the score needs at least 2" in line and "--no-score" in line
    assert not (tmp_path / "out" / "checkpoint.npz").exists()


@needs_matplotlib
def test_10_blank_training_images_are_warned_about(load_example, tmp_path, capsys):
    digits = fake_digits(tmp_path / "digits", train=10, test=4,
                         images=np.zeros((10, 28, 28), np.uint8))
    example = load_example("mnist")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "checkpoint.npz").write_bytes(b"junk")  # stops the run before training
    assert example.main(["--quiet", "--no-score", "--data-dir", str(digits), "--batch-size",
                         "10", "--steps", "1", "--resume", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "warning: every training image of" in err and "is blank (all pixels 0)" in err


def test_10_bce_matches_pytorch_at_p_0_and_1():
    for p_value, t_value, loss, grad in ((0.0, 1.0, 100.0, -1e12), (1.0, 0.0, 100.0, 1e12),
                                         (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 0.0, 0.0)):
        p = npgan.tensor([p_value], dtype="float64", requires_grad=True)
        out = losses.binary_cross_entropy(p, npgan.tensor([t_value], dtype="float64"))
        out.backward()
        assert out.item() == loss
        assert p.grad.data[0] == pytest.approx(grad, rel=1e-12)
    p = npgan.tensor([0.2, 0.7], dtype="float64", requires_grad=True)
    t = npgan.tensor([0.3, 0.9], dtype="float64", requires_grad=True)
    assert npgan.gradcheck(lambda p, t: losses.binary_cross_entropy(p, t, reduction="none"),
                           [p, t])


# --- issue 15: the training step does not wait on the host -----------------------------------

def test_a_training_step_between_two_log_lines_makes_no_host_transfer(monkeypatch):
    """Count every way a value leaves the device: backend.to_numpy, Tensor.item/numpy, and
    float()/int() of an array in the training modules. Between log lines: zero."""
    counts = {"n": 0}

    def counting(fn):
        def wrapped(*args, **kwargs):
            counts["n"] += 1
            return fn(*args, **kwargs)
        return wrapped

    def counting_cast(kind):
        def cast(x=0):
            if isinstance(x, (np.ndarray, np.generic)) or backend.is_array(x):
                counts["n"] += 1
            return kind(x)
        return cast

    tr = tiny_trainer(objective="wgan-gp", d_steps=3)
    monkeypatch.setattr(backend, "to_numpy", counting(backend.to_numpy))
    monkeypatch.setattr(autograd.Tensor, "item", counting(autograd.Tensor.item))
    monkeypatch.setattr(autograd.Tensor, "numpy", counting(autograd.Tensor.numpy))
    for module in (gan.trainer, gan.objectives, losses, npgan.functions.softmax, optim, speed,
                   nn.module, nn.layers, npgan.activations, npgan.functions.arithmetic,
                   npgan.functions.shapes, npgan.functions.matrix, npgan.backward):
        monkeypatch.setattr(module, "float", counting_cast(float), raising=False)
        monkeypatch.setattr(module, "int", counting_cast(int), raising=False)
        monkeypatch.setattr(module, "bool", counting_cast(bool), raising=False)
    per_step, lines = {}, []

    def after(step):
        per_step[step] = counts["n"]
        counts["n"] = 0

    tr.train(12, log_every=5, log=lines.append, callback=after)
    assert len(lines) == 3  # steps 1, 5 and 10
    between = {s: n for s, n in per_step.items() if s not in (1, 5, 10)}
    assert between == {s: 0 for s in between}, per_step
    # a log line reads every pending step (and the parameter check) in ONE transfer
    assert all(per_step[s] >= 1 for s in (1, 5, 10))
    assert tr.history["step"] == list(range(1, 13))  # the last two fetched at the end


def test_train_fetches_the_same_numbers_as_step():
    npgan.manual_seed(3)
    a = tiny_trainer()
    a.train(6, log_every=4, log=lambda line: None)
    npgan.manual_seed(3)
    b = tiny_trainer()
    for _ in range(6):
        b.step()
    assert a.history == b.history
