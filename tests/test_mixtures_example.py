"""examples/mixtures.py end to end, in-process, for a few steps of each loss."""
import json
import math
import os

import pytest

KEYS = ["modes", "hq", "reverse_kl", "steps", "seconds", "backend", "seed", "loss", "dataset"]


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("mixtures")


def run(example, out, *flags):
    assert example.main(["--steps", "6", "--hidden", "16", "--batch-size", "32", "--quiet",
                         "--out", str(out), *flags]) == 0
    with open(os.path.join(out, "metrics.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("dataset, loss", [("ring", "wgan-gp"), ("grid", "wgan"),
                                           ("ring", "ns"), ("grid", "gan")])
def test_runs_and_writes_metrics_and_png(example, tmp_path, dataset, loss):
    m = run(example, tmp_path, "--dataset", dataset, "--loss", loss, "--snapshots", "2")
    assert all(k in m for k in KEYS)
    assert m["steps"] == 6 and m["loss"] == loss and m["dataset"] == dataset
    assert m["backend"] == "numpy" and m["seed"] == 0
    k = 8 if dataset == "ring" else 25
    assert 0 <= m["modes"] <= k and 0 <= m["hq"] <= 100 and len(m["counts"]) == k
    assert m["reverse_kl"] is None or 0 <= m["reverse_kl"] <= math.log(k) + 1e-12
    assert m["d_steps"] == (5 if loss.startswith("wgan") else 1)
    with open(tmp_path / "mixtures.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_numbers(example, tmp_path):
    a = run(example, tmp_path / "a", "--seed", "3")
    b = run(example, tmp_path / "b", "--seed", "3")
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_bad_flags(example, capsys):
    with pytest.raises(SystemExit):
        example.main(["--loss", "hinge"])
    with pytest.raises(SystemExit):
        example.main(["--steps", "0"])
    assert "argument --steps: must be an integer >= 1" in capsys.readouterr().err


def test_packing_averaging_and_decay_flags(example, tmp_path):
    m = run(example, tmp_path, "--loss", "ns", "--pack", "4", "--ema-decay", "0.9",
            "--lr-final", "0.1")
    assert m["pack"] == 4 and m["ema_decay"] == 0.9 and m["lr_final"] == 0.1
    with open(tmp_path / "mixtures.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_pack_must_divide_the_batch(example, capsys):
    with pytest.raises(SystemExit):
        example.main(["--pack", "3", "--batch-size", "32"])
    assert "--batch-size (32) must be a multiple of --pack (3)" in capsys.readouterr().err
