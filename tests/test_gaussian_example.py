"""examples/gaussian.py end to end, in-process, on a few hundred steps."""
import json
import math
import os
import subprocess
import sys

import pytest

from npgan import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "gaussian.py")
KEYS = ["mean", "std", "w1", "ks", "steps", "seconds", "backend", "seed", "dtype",
        "batch_size", "d_steps", "g_loss", "noise_dim"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("gaussian")


def run(example, out, *flags):
    status = example.main(["--steps", "300", "--quiet", "--out", str(out), *flags])
    assert status == 0
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def seed0_runs(example, tmp_path_factory):
    base = tmp_path_factory.mktemp("gaussian")
    return (run(example, base / "a", "--seed", "0"), run(example, base / "b", "--seed", "0"),
            run(example, base / "c", "--seed", "1"), base)


def test_metrics_json_has_every_key_and_finite_values(seed0_runs):
    m = seed0_runs[0]
    for key in KEYS:
        assert key in m, key
    for key in ("mean", "std", "w1", "ks", "seconds"):
        assert isinstance(m[key], float) and math.isfinite(m[key]), key
    assert m["steps"] == 300 and m["seed"] == 0 and m["backend"] == "numpy"
    assert m["dtype"] == "float32" and m["g_loss"] == "non-saturating"
    assert 0 <= m["ks"] <= 1 and m["w1"] >= 0 and m["std"] > 0 and m["seconds"] > 0


def test_the_png_is_written(seed0_runs):
    path = seed0_runs[3] / "a" / "gaussian.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    # the IHDR chunk: a figure wider than tall
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > height > 100


def test_same_seed_same_metrics_other_seed_differs(seed0_runs):
    a, b, c, _ = seed0_runs
    strip = lambda m: {k: v for k, v in m.items() if k != "seconds"}  # noqa: E731
    assert strip(a) == strip(b)
    assert a["mean"] != c["mean"] and a["w1"] != c["w1"]


def test_flags_and_progress_lines(example, tmp_path, capsys):
    status = example.main(["--steps", "40", "--log-every", "20", "--dtype", "float64",
                           "--g-loss", "minimax", "--d-steps", "2", "--batch-size", "32",
                           "--seed", "5", "--out", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "backend numpy" in out and "dtype float64" in out and "steps 40" in out and "seed 5" in out
    assert "step     20" in out and "step     40" in out and "gen_mean" in out and "gen_std" in out
    assert str(tmp_path / "metrics.json") in out and str(tmp_path / "gaussian.png") in out
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert (m["dtype"], m["g_loss"], m["d_steps"], m["batch_size"]) == ("float64", "minimax", 2, 32)
    assert backend.get_default_dtype() == backend.float32  # main restores the default dtype


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy and a GPU are usable here")
def test_cupy_backend_without_cupy_exits_2_with_a_message(example, tmp_path, capsys):
    assert example.main(["--backend", "cupy", "--quiet", "--out", str(tmp_path)]) == 2
    assert "cupy" in capsys.readouterr().err.lower()
    assert not (tmp_path / "metrics.json").exists()
    # as a script: status 2, one clear line, no traceback
    proc = subprocess.run([sys.executable, SCRIPT, "--backend", "cupy", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "cupy" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert backend.get_backend() == "numpy"


def test_the_written_out_loop_is_the_trainers_algorithm(example, tmp_path):
    """The script's own loop (train_step) draws and updates exactly as npgan.gan.GANTrainer:
    the same seed gives bitwise the same results (the README's seed-0 row rests on this)."""
    import npgan
    from npgan import metrics, nn, optim
    from npgan import random as nprandom
    from npgan.gan import GANTrainer

    flags = ["--steps", "120", "--d-steps", "2", "--lr-final", "0.5", "--seed", "3"]
    m = run(example, tmp_path, *flags)
    args = example.parse_args(flags + ["--out", str(tmp_path)])
    npgan.manual_seed(args.seed)
    G = nn.mlp([args.noise_dim, args.hidden, args.hidden, 1], nn.ELU)
    D = nn.mlp([1, args.hidden, args.hidden, 1], nn.ELU)
    betas = (args.beta1, args.beta2)
    trainer = GANTrainer(
        G, D, optim.Adam(G.parameters(), lr=args.lr, betas=betas),
        optim.Adam(D.parameters(), lr=args.d_lr, betas=betas),
        sample_real=lambda n: nprandom.normal(example.REAL_MEAN, example.REAL_STD, (n, 1)),
        sample_noise=lambda n: nprandom.rand(n, args.noise_dim),
        g_loss=args.g_loss, d_steps=args.d_steps, batch_size=args.batch_size,
        lr_schedule=example.linear_decay(args.lr_final), g_ema_decay=args.ema_decay)
    nprandom.rand(example.EVAL_SAMPLES, args.noise_dim)  # the script's monitor noise
    history = trainer.train(args.steps)
    with npgan.no_grad():
        samples = trainer.g_ema.module(nprandom.rand(example.EVAL_SAMPLES, args.noise_dim))
    summary = metrics.sample_summary(samples.numpy().ravel(), example.REAL_MEAN, example.REAL_STD)
    for key in ("mean", "std", "w1", "ks"):
        assert m[key] == summary[key], key
    assert (m["final_d_real"], m["final_d_fake"]) == (history["d_real"][-1], history["d_fake"][-1])
