"""npgan.runs, the examples' shared plumbing: the MLP builder, the training log and its NaN watch,
and the BLAS thread count a script asks for."""
import os
import subprocess
import sys

import numpy as np
import pytest

import npgan
from npgan import nn, runs
from npgan.gan import TrainingDiverged


def test_mlp_puts_the_activation_after_each_hidden_layer():
    net = nn.mlp([3, 8, 8, 1], nn.ELU)
    assert [type(m).__name__ for m in net] == ["Linear", "ELU", "Linear", "ELU", "Linear"]
    net = nn.mlp([4, 5, 2], lambda: nn.LeakyReLU(0.2), dropout=0.3, out_activation=nn.Tanh)
    assert [type(m).__name__ for m in net] == ["Linear", "LeakyReLU", "Dropout", "Linear", "Tanh"]
    npgan.manual_seed(0)  # the same draws as the Sequential written out
    a = nn.mlp([2, 4, 1], nn.Tanh).state_dict()
    npgan.manual_seed(0)
    b = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).state_dict()
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _record(log, step, d_loss, logits):
    t = npgan.tensor
    log.record(step, t(np.float32(d_loss)), t(np.float32(0.7)), t(logits), t(-logits))


def test_training_log_reads_the_steps_at_once_and_stops_at_the_first_nan():
    log = runs.TrainingLog()
    logits = np.array([[0.0], [2.0]], np.float32)
    _record(log, 1, 1.3, logits)
    _record(log, 2, 1.2, logits)
    assert log.history["step"] == [] and len(log.pending) == 2  # nothing read yet
    stats = log.fetch()
    assert stats["step"] == 2 and log.history["step"] == [1, 2]
    expected = float(np.mean(1 / (1 + np.exp(-logits.astype(np.float64)))))
    assert abs(stats["d_real"] - expected) < 1e-7 and abs(stats["d_fake"] - (1 - expected)) < 1e-7
    _record(log, 3, 1.1, logits)
    _record(log, 4, float("nan"), logits)
    with pytest.raises(TrainingDiverged, match="at step 4: d_loss is nan"):
        log.fetch()
    assert log.history["step"] == [1, 2, 3]  # the finite steps before the bad one


def test_training_log_checks_the_networks_parameters():
    net = nn.mlp([1, 2, 1], nn.Tanh)
    log = runs.TrainingLog()
    _record(log, 1, 1.0, np.zeros((2, 1), np.float32))
    log.fetch(D=net)
    net[0].weight.data[0, 0] = np.inf
    _record(log, 2, 1.0, np.zeros((2, 1), np.float32))
    with pytest.raises(TrainingDiverged, match="at step 2: the parameters of D hold NaN or inf"):
        log.fetch(D=net)


PROBE = """import os, sys
from npgan import runs
print(os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS"), sys.argv[1:])
runs.limit_blas_threads(1)
"""


@pytest.mark.skipif(os.name != "posix", reason="the restart is POSIX-only")
def test_limit_blas_threads_restarts_once_with_the_count_unless_the_user_chose(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in runs.BLAS_THREAD_VARIABLES}
    out = subprocess.run([sys.executable, str(script), "a b"], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    first, second = out[0].split(" ", 2), out[1].split(" ", 2)
    assert len(out) == 2 and first[0] == second[0]  # the same process, started again
    assert (first[1], second[1]) == ("None", "1") and first[2] == second[2] == "['a b']"
    env["OMP_NUM_THREADS"] = "2"  # the user's choice stands: no restart
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    assert len(out) == 1 and out[0].split()[1] == "None"
