"""examples/dcgan.py end to end on a tiny MNIST folder: the full-size networks, a few steps.

What the library tests cannot show: the example's checkpoint resumes bitwise with batch
norm's running statistics inside it, --loss wgan-gp trains a critic through the penalty,
drawing samples leaves G untouched in either batch-norm mode, mistakes are one line and
exit 2, and npgan.viz / npgan.trace name the conv layers' parameters.
"""
import json
import os
import sys

import numpy as np
import pytest

import npgan
from npgan import checkpoint, nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("dcgan")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """40 training and 10 test digits (tests/test_data.fake_mnist): 4 steps an epoch at batch 10."""
    sys.path.insert(0, os.path.join(REPO, "tests"))
    try:
        from test_data import fake_mnist
    finally:
        sys.path.remove(os.path.join(REPO, "tests"))
    folder = tmp_path_factory.mktemp("digits")
    fake_mnist(folder, 40, "train")
    fake_mnist(folder, 10, "test")
    return folder


def run(example, digits, out, *flags):
    return example.main(["--quiet", "--no-score", "--data-dir", str(digits), "--batch-size", "10",
                         "--out", str(out), *flags])


def trainer_state(out):
    return checkpoint.load(os.path.join(out, "checkpoint.npz"))["trainer"]


def test_resume_is_bitwise_identical_with_batch_norm_buffers(example, digits, tmp_path):
    # R1 on steps 0, 2 and 4: the resumed half (steps 4 and 5) has one of them
    flags = ("--sample-every", "3", "--ema-decay", "0.9", "--d-norm", "batch", "--r1-every", "2")
    assert run(example, digits, tmp_path / "unbroken", "--steps", "6", *flags) == 0
    assert run(example, digits, tmp_path / "broken", "--steps", "4", *flags) == 0
    assert run(example, digits, tmp_path / "broken", "--steps", "6", *flags, "--resume") == 0
    a, b = trainer_state(tmp_path / "unbroken"), trainer_state(tmp_path / "broken")
    assert a["step_count"] == b["step_count"] == 6
    buffers = [k for k in a["G"] if "running_" in k] + [k for k in a["D"] if "running_" in k]
    assert len(buffers) == 6  # G's two batch norms and D's one, mean and variance each
    for net in ("G", "D"):
        for name in a[net]:
            assert np.array_equal(a[net][name], b[net][name]), f"{net}.{name}"
    for name in a["g_ema"]["params"]:
        assert np.array_equal(a["g_ema"]["params"][name], b["g_ema"]["params"][name]), name
    for opt in ("g_optimizer", "d_optimizer"):
        assert json.dumps(a[opt], default=lambda v: np.asarray(v).tolist()) == \
            json.dumps(b[opt], default=lambda v: np.asarray(v).tolist())
    assert a["history"] == b["history"]
    # the running statistics moved away from their initial 0 and 1: they were trained
    assert not np.allclose(a["G"]["1.running_mean"], 0)
    assert not np.allclose(a["G"]["1.running_var"], 1)
    for f in ("losses.png", "progress.png", "samples/step_000003.png", "samples/step_000006.png"):
        with open(tmp_path / "broken" / f, "rb") as png:
            assert png.read(8) == PNG_SIGNATURE, f


def test_wgan_gp_trains_a_layer_norm_critic_five_steps_per_g_step(example, digits, tmp_path):
    out = tmp_path / "wgan"
    assert run(example, digits, out, "--loss", "wgan-gp", "--steps", "2",
               "--sample-every", "0") == 0
    with open(out / "metrics.json") as f:
        config = json.load(f)["config"]
    assert config["loss"] == "wgan-gp" and config["d_norm"] == "layer" and config["lr"] == 1e-4
    state = trainer_state(out)
    assert "4.weight" in state["D"] and state["D"]["4.weight"].shape == (128, 7, 7)  # LayerNorm
    # Adam counts 5 critic steps per G step: 10 for D, 2 for G
    assert state["d_optimizer"]["steps"] == 10 and state["g_optimizer"]["steps"] == 2


@pytest.mark.parametrize("flags, message", [
    (["--loss", "wgan-gp", "--d-norm", "batch"], "batch norm mixes"),
    (["--batch-size", "1"], "at least 2"),
    (["--dropout", "1.5"], "--dropout"),
    (["--sample-mode", "test"], "--sample-mode"),
    (["--loss", "wgan-gp", "--r1", "1"], "has its own gradient penalty"),
    (["--r1", "-1"], "--r1"),
    (["--r1-every", "0"], "--r1-every"),
])
def test_mistakes_are_one_line_and_exit_2(example, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as e:
        example.parse_args(["--out", str(tmp_path / "o"), *flags])
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert message in err[-1] and not any("Traceback" in line for line in err)


def test_r1_flags_choose_the_objective_and_change_d_only_on_its_steps(example, digits, tmp_path):
    """--r1 0 trains with the plain non-saturating loss; with R1 on every step from the same
    seed, D's first update already differs; the config records gamma and the period."""
    outs = {}
    for name, flags in (("plain", ("--r1", "0")), ("r1", ("--r1", "5", "--r1-every", "1"))):
        out = tmp_path / name
        assert run(example, digits, out, "--steps", "1", "--sample-every", "0", *flags) == 0
        outs[name] = trainer_state(out)
        with open(out / "metrics.json") as f:
            config = json.load(f)["config"]
        assert (config["r1"], config["r1_every"]) == ((0.0, 8) if name == "plain" else (5.0, 1))
    a, b = outs["plain"]["D"], outs["r1"]["D"]
    assert not np.array_equal(a["1.weight"], b["1.weight"])
    args = example.parse_args(["--r1", "0"])
    trainer, line = example.build_trainer(args, lambda n: None)
    assert trainer.objective.name == "ns" and "no R1" in line
    trainer, line = example.build_trainer(example.parse_args([]), lambda n: None)
    assert trainer.objective.name == "ns-r1" and trainer.objective.r1_every == 8
    assert "R1 gamma 1 every 8 steps" in line


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_sampling_leaves_g_untouched_in_either_mode(example, load_example, mode):
    mnist = load_example("mnist")
    npgan.manual_seed(0)
    G = example.build_generator()
    z = npgan.random.randn(16, example.NOISE_DIM)
    with npgan.no_grad():
        G(z)  # a training-mode forward moves the running statistics away from 0 and 1
    before = [b.data.copy() for b in G.buffers()]
    with mnist.in_mode(G, mode) as g:
        assert g.training == (mode == "train")
        images = mnist.generate(g, z, 8)
    assert G.training
    for b, was in zip(G.buffers(), before):
        assert np.array_equal(b.data, was)
    assert images.shape == (16, 784) and np.all(np.abs(images) <= 1)
    # in eval mode a sample does not depend on the rest of its batch; in train mode it does
    with mnist.in_mode(G, mode) as g:
        halves = mnist.generate(g, z, 4)
    assert np.allclose(halves, images, atol=1e-6) == (mode == "eval")


def test_networks_have_the_seed_shapes_and_viz_trace_name_their_parameters(example):
    npgan.manual_seed(0)
    G, D = example.build_generator(), example.build_discriminator("batch", dropout=0)
    z = npgan.random.randn(4, example.NOISE_DIM)
    x = G(z)
    assert x.shape == (4, 784)
    logit = D(x)
    assert logit.shape == (4, 1)
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(128, 64, 4, 4), (64, 1, 4, 4)]
    dot = npgan.viz.to_dot(logit.sum(), modules={"G": G, "D": D})
    for label in ("G.4.weight", "D.1.weight", "D.3.weight", "D.4.running_mean",
                  "ConvTranspose2d", "Conv2d"):
        if label == "D.4.running_mean":  # buffers are not parameters: not named in the graph
            assert label not in dot
            continue
        assert label in dot, label
    with npgan.trace(modules={"G": G, "D": D}) as t:
        logit.sum().backward()
    ops = {r.op for r in t.records}
    assert {"Conv2d", "ConvTranspose2d"} <= ops, ops
    norms = t.param_grad_norms()
    for name in ("G.4.weight", "G.7.weight", "D.1.weight", "D.3.weight", "D.4.weight"):
        assert norms[name] > 0, name


@pytest.mark.parametrize("loss,steps", [("gan", 2), ("wgan-gp", 3)])
def test_a_run_without_steps_takes_its_losss_default_length(example, digits, tmp_path,
                                                             monkeypatch, loss, steps):
    # the defaults (5,000 and 1,000) shrunk, each to its own number: each loss uses its own
    monkeypatch.setitem(example.DEFAULT_STEPS, "gan", 2)
    monkeypatch.setitem(example.DEFAULT_STEPS, "wgan-gp", 3)
    assert run(example, digits, tmp_path, "--sample-every", "0", "--loss", loss) == 0
    with open(tmp_path / "metrics.json") as f:
        assert json.load(f)["steps"] == steps
