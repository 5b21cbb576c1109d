"""Checkpoints: round trips, atomic writes, damaged files, and a resume that is bitwise exact."""
import os
import zipfile

import numpy as np
import pytest

import npgan
from npgan import checkpoint, data, nn, optim
from npgan import random as nprandom
from npgan.gan import GANTrainer


def test_round_trip_keeps_every_kind_of_leaf(tmp_path):
    rng = np.random.default_rng(0)
    state = {
        "weights": {"0.weight": rng.standard_normal((3, 4)).astype(np.float32),
                    "0.bias": rng.standard_normal(3)},
        "order": np.arange(10, dtype=np.int64)[::-1].copy(),
        "big_int": 2 ** 127 + 12345,          # a PCG64 state is a 128-bit int
        "third": 1.0 / 3.0,                     # floats come back bit for bit
        "flags": [True, False, None],
        "name": "G",
        "nested": [{"step": 3, "m": np.ones((2, 2), dtype=np.float64)}, {"step": 0, "m": None}],
        "scalar": np.float32(0.25),
    }
    path = tmp_path / "c.npz"
    checkpoint.save(path, state)
    back = checkpoint.load(path)
    assert back["weights"]["0.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["weights"]["0.weight"], state["weights"]["0.weight"])
    np.testing.assert_array_equal(back["weights"]["0.bias"], state["weights"]["0.bias"])
    np.testing.assert_array_equal(back["order"], state["order"])
    assert back["big_int"] == 2 ** 127 + 12345
    assert back["third"] == 1.0 / 3.0
    assert back["flags"] == [True, False, None]
    assert back["name"] == "G"
    assert back["nested"][0]["step"] == 3 and back["nested"][1]["m"] is None
    np.testing.assert_array_equal(back["nested"][0]["m"], np.ones((2, 2)))
    assert back["scalar"] == 0.25
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_the_file_holds_no_pickle(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"a": np.arange(3)})
    with np.load(path, allow_pickle=False) as f:  # would raise if anything were pickled
        assert sorted(f.files) == ["__npgan_checkpoint__", "a"]


@pytest.mark.parametrize("bad, match", [
    ({1: np.zeros(2)}, "keys must be strings"),
    ({"__array__": 1}, "reserved"),
    ({"f": len}, "cannot store a builtin_function_or_method"),
    ({"a": {1, 2}}, "cannot store a set at a"),
])
def test_save_rejects_what_it_cannot_store(tmp_path, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        checkpoint.save(tmp_path / "c.npz", bad)
    assert not os.listdir(tmp_path)


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"step": 1, "w": np.zeros(4)})
    before = path.read_bytes()

    def dies_mid_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(checkpoint.np, "savez", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"step": 2, "w": np.ones(4)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]  # the partial temporary file is gone
    monkeypatch.undo()
    assert checkpoint.load(path)["step"] == 1


def _saved(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"w": np.arange(1000, dtype=np.float64), "step": 7})
    return path


def test_missing_file(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match=r"nope\.npz: no checkpoint file"):
        checkpoint.load(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = _saved(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(checkpoint.CheckpointError, match=r"c\.npz: damaged"):
        checkpoint.load(path)


def test_corrupted_array_bytes_fail_the_crc(tmp_path):
    path = _saved(tmp_path)
    raw = bytearray(path.read_bytes())
    at = raw.find(np.arange(1000, dtype=np.float64)[500:502].tobytes())
    assert at > 0
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(checkpoint.CheckpointError, match=r"c\.npz: damaged.*CRC"):
        checkpoint.load(path)


def test_random_bytes_and_foreign_npz(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(300))
    with pytest.raises(checkpoint.CheckpointError, match=r"junk\.npz: damaged or not"):
        checkpoint.load(junk)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, w=np.zeros(3))
    with pytest.raises(checkpoint.CheckpointError, match=r"foreign\.npz: not an npgan checkpoint"):
        checkpoint.load(foreign)


def test_a_missing_array_entry_is_reported(tmp_path):
    path = _saved(tmp_path)
    stripped = tmp_path / "stripped.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(stripped, "w") as dst:
        for item in src.infolist():
            if item.filename != "w.npy":
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(checkpoint.CheckpointError, match=r"the array 'w' is missing"):
        checkpoint.load(stripped)


def test_check_config_lists_each_difference():
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"batch_size: checkpoint 100, this run 64; dtype: checkpoint"):
        checkpoint.check_config("c.npz", {"batch_size": 100, "dtype": "float32", "lr": 1},
                                {"batch_size": 64, "dtype": "float64", "lr": 1},
                                ("batch_size", "dtype", "lr"))


# --- a small MNIST-shaped GAN: resume identity, architecture mismatch, learning -------

IMAGES = 230          # with batch 20: 11 full batches per epoch, 10 rows dropped


def _fake_digits(seed=0):
    """Blurry blobs of uint8 pixels, shaped like MNIST (N, 28, 28)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, size=(IMAGES, 2))
    blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 18.0)
    return (255 * blobs).astype(np.uint8)


def _small_gan(x, seed, hidden=32, ema=0.9):
    npgan.manual_seed(seed)
    G = nn.Sequential(nn.Linear(16, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.3),
                      nn.Linear(hidden, 1))
    batches = data.Minibatches(x)
    trainer = GANTrainer(G, D, optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999)),
                         optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999)),
                         sample_real=batches, sample_noise=lambda n: nprandom.randn(n, 16),
                         batch_size=20, g_ema_decay=ema)
    return trainer, batches


def _save(path, trainer, batches):
    checkpoint.save(path, {"trainer": trainer.state_dict(), "data": batches.state_dict(),
                           "rng": npgan.backend.get_rng().get_state()})


def _restore(path, trainer, batches):
    state = checkpoint.load(path)
    trainer.load_state_dict(state["trainer"])
    batches.load_state_dict(state["data"])
    npgan.backend.get_rng().set_state(state["rng"])


def test_n_steps_then_resumed_n_steps_equal_2n_steps_bitwise(tmp_path):
    x = data.to_unit_range(_fake_digits())
    n = 17  # crosses an epoch boundary in each half
    unbroken, unbroken_batches = _small_gan(x, seed=3)
    unbroken.train(2 * n)

    first, first_batches = _small_gan(x, seed=3)
    first.train(n)
    _save(tmp_path / "ckpt.npz", first, first_batches)
    del first, first_batches
    # a new process would build fresh objects from another seed: the checkpoint must override all
    resumed, resumed_batches = _small_gan(x, seed=99)
    _restore(tmp_path / "ckpt.npz", resumed, resumed_batches)
    resumed.train(n)

    assert resumed.step_count == unbroken.step_count == 2 * n
    assert resumed_batches.epoch == unbroken_batches.epoch == 4
    for a, b in [(resumed.G, unbroken.G), (resumed.D, unbroken.D),
                 (resumed.g_ema.module, unbroken.g_ema.module)]:
        for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
            assert np.array_equal(p.numpy(), q.numpy()), name
    for opt_a, opt_b in [(resumed.g_optimizer, unbroken.g_optimizer),
                         (resumed.d_optimizer, unbroken.d_optimizer)]:
        sa, sb = opt_a.state_dict(), opt_b.state_dict()
        assert sa["steps"] == sb["steps"] == 2 * n
        for st_a, st_b in zip(sa["state"], sb["state"]):
            assert st_a["step"] == st_b["step"]
            assert np.array_equal(st_a["exp_avg"], st_b["exp_avg"])
            assert np.array_equal(st_a["exp_avg_sq"], st_b["exp_avg_sq"])
    assert resumed.history == unbroken.history


def test_resume_without_the_rng_state_diverges(tmp_path):
    """The generator state matters: leaving it out changes the run (so the test above can fail)."""
    x = data.to_unit_range(_fake_digits())
    unbroken, _ = _small_gan(x, seed=3)
    unbroken.train(10)
    first, first_batches = _small_gan(x, seed=3)
    first.train(5)
    state = {"trainer": first.state_dict(), "data": first_batches.state_dict()}
    resumed, resumed_batches = _small_gan(x, seed=99)
    resumed.load_state_dict(state["trainer"])
    resumed_batches.load_state_dict(state["data"])
    resumed.train(5)
    assert not np.array_equal(resumed.G[0].weight.numpy(), unbroken.G[0].weight.numpy())


def test_loading_another_architecture_is_a_clear_error(tmp_path):
    x = data.to_unit_range(_fake_digits())
    small, small_batches = _small_gan(x, seed=0, hidden=32)
    _save(tmp_path / "ckpt.npz", small, small_batches)
    wide, wide_batches = _small_gan(x, seed=0, hidden=48)
    before = wide.G[0].weight.numpy()
    with pytest.raises(ValueError, match=r"does not match this model's architecture.*"
                                         r"0\.weight: checkpoint \(32, 16\) vs model \(48, 16\)"):
        _restore(tmp_path / "ckpt.npz", wide, wide_batches)
    assert np.array_equal(wide.G[0].weight.numpy(), before)  # nothing half-loaded


def test_a_few_steps_lower_the_discriminator_loss():
    """D starts near chance (loss about 2 ln 2 = 1.39) and soon tells blobs from G's noise."""
    x = data.to_unit_range(_fake_digits())
    trainer, _ = _small_gan(x, seed=1, ema=None)
    trainer.train(15)
    start = trainer.history["d_loss"][0]
    assert 1.2 < start < 1.8
    assert max(trainer.history["d_loss"][-5:]) < 0.5 * start
