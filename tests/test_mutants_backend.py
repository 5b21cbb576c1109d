"""Backend and checkpoint-housekeeping tests added for the mutation score (tests/MUTATION.md):
the array cache's byte count when it makes room, an unusable $NPGAN_BACKEND reported at first
use (in process, where the subprocess tests of test_backend.py are invisible to coverage), and
the liveness probe that decides which checkpoint temporaries are stale."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import npgan
from npgan import backend, checkpoint

# the array cache lives in npgan.speed once the package is split, in npgan.backend before
ArrayCache = getattr(getattr(npgan, "speed", None), "ArrayCache", None) or backend.ArrayCache


def test_array_cache_counts_the_bytes_it_keeps_after_making_room():
    """Dropping the free arrays subtracts exactly their bytes: 64 held + 160 free = 224; a 96-byte
    request passes 256, so the 160 go and the 96 are kept: 64 + 96 = 160."""
    cache = ArrayCache(min_bytes=0, max_bytes=256)
    held = cache.empty(np, (8,), np.float64)     # 64 bytes, in use
    cache.empty(np, (20,), np.float64)           # 160 bytes, let go at once
    assert cache.bytes == 224
    new = cache.empty(np, (12,), np.float64)     # 96 bytes: room made by dropping the 160
    assert cache.bytes == 160
    assert held.shape == (8,) and new.shape == (12,)


def test_array_cache_still_hands_out_an_array_it_kept_while_making_room():
    """The array in use when the cache made room stays in the cache: once let go, asking for its
    shape again reuses it, and the count of kept bytes does not grow."""
    cache = ArrayCache(min_bytes=0, max_bytes=256)
    held = cache.empty(np, (8,), np.float64)     # 64 bytes, in use
    cache.empty(np, (24,), np.float64)           # 192 bytes, free: 256 in all
    new = cache.empty(np, (16,), np.float64)     # 128 bytes: the 192 are dropped
    assert cache.bytes == 64 + 128
    del held
    again = cache.empty(np, (8,), np.float64)    # the kept one, not a new 64 bytes
    assert cache.bytes == 64 + 128
    assert again.shape == (8,) and new.shape == (16,)


def test_unusable_env_backend_raises_its_saved_error_at_first_use(monkeypatch):
    """What ``import npgan`` installs when $NPGAN_BACKEND cannot run: a stand-in array module that
    raises the saved error, prefixed with the variable's name, at the first tensor or seed."""
    error = npgan.BackendUnavailableError("backend 'cupy' requested but CuPy is not installed")
    monkeypatch.setitem(backend._state, "xp", backend._UnusableBackend(error))
    monkeypatch.setitem(backend._state, "rng", None)
    message = r"^NPGAN_BACKEND: backend 'cupy' requested but CuPy is not installed$"
    with pytest.raises(npgan.BackendUnavailableError, match=message):
        npgan.tensor([1.0])
    with pytest.raises(npgan.BackendUnavailableError, match=message):
        npgan.manual_seed(0)


# --- which checkpoint temporaries are stale ------------------------------------------------------

def _temporary(folder, name, pid):
    path = os.path.join(folder, f".{name}.{pid}.tmp")
    with open(path, "w") as f:
        f.write("partial")
    return path


def test_a_live_process_temporary_is_kept_and_the_process_left_alone(tmp_path, monkeypatch):
    """The probe only asks whether the process exists (signal 0): it neither removes the file of
    a run that is saving right now nor disturbs that run; the stale files listed after it still
    go, and so does a temporary of this very process (a save of ours that died)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        target = str(tmp_path / "ck.npz")
        live = _temporary(str(tmp_path), "ck.npz", child.pid)
        stale = [_temporary(str(tmp_path), "ck.npz", pid) for pid in (999_999_998, os.getpid())]
        real_listdir = checkpoint.os.listdir
        monkeypatch.setattr(checkpoint.os, "listdir",  # the live one first
                            lambda folder: sorted(real_listdir(folder),
                                                  key=lambda n: str(child.pid) not in n))
        assert sorted(checkpoint.remove_stale_temporaries(target)) == sorted(stale)
        monkeypatch.undo()
        assert os.path.exists(live)
        time.sleep(0.2)
        assert child.poll() is None, "the probe signalled the live process"
    finally:
        child.kill()
        child.wait()
    # the same process gone: its temporary is stale now
    assert checkpoint.remove_stale_temporaries(target) == [live]
    assert not os.path.exists(live)


def test_a_temporary_of_another_users_process_is_kept(tmp_path, monkeypatch):
    """os.kill(pid, 0) raising PermissionError means the process exists under another user."""
    def kill(pid, sig):
        raise PermissionError(1, "Operation not permitted")
    child_pid = 4_000_000  # any pid: the patched probe answers for it
    path = _temporary(str(tmp_path), "ck.npz", child_pid)
    monkeypatch.setattr(checkpoint.os, "kill", kill)
    assert checkpoint.remove_stale_temporaries(str(tmp_path / "ck.npz")) == []
    assert os.path.exists(path)


def test_device_generator_state_is_refused_with_advice():
    """The device generator (the gpusim stand-in keeps CuPy's RandomState) cannot be saved or
    restored; the messages name it and say what to do."""
    previous = backend.get_backend()
    backend.set_backend("gpusim")
    try:
        rng = npgan.manual_seed(0)
        with pytest.raises(NotImplementedError, match=r"^saving the gpusim generator state is not "
                                                      r"supported; checkpoint on the numpy "
                                                      r"backend for exact resumes$"):
            rng.get_state()
        with pytest.raises(NotImplementedError, match=r"^restoring the gpusim generator state is "
                                                      r"not supported$"):
            rng.set_state({})
    finally:
        backend.set_backend(previous)


# --- checkpoint.save: where it writes, how it names entries, what its messages say ---------------

def test_save_writes_its_temporary_beside_the_target(tmp_path, monkeypatch):
    """The temporary is renamed over the target, so it must be in the same folder (a rename is
    atomic only within one file system), wherever the working directory is."""
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    renames = []
    real_replace = checkpoint.os.replace

    def replace(src, dst):
        renames.append((os.path.abspath(src), os.path.abspath(dst)))
        return real_replace(src, dst)
    monkeypatch.setattr(checkpoint.os, "replace", replace)
    target = tmp_path / "out" / "ck.npz"
    checkpoint.save(target, {"w": np.arange(3.0)})
    assert len(renames) == 1
    src, dst = renames[0]
    assert dst == str(target) and os.path.dirname(src) == str(tmp_path / "out")
    assert os.path.basename(src) == f".ck.npz.{os.getpid()}.tmp"  # names this process
    assert os.listdir(elsewhere) == []


def test_entries_are_named_by_their_path_and_a_bare_array_is_root(tmp_path):
    checkpoint.save(tmp_path / "a.npz", {"G": {"w": np.ones(2)}, "xs": [np.zeros(1)]})
    with np.load(tmp_path / "a.npz") as f:
        assert sorted(f.files) == ["G/w", "__npgan_checkpoint__", "xs/0"]
    checkpoint.save(tmp_path / "c.npz", [np.ones(1), np.zeros(2)])  # a list at the top: 0, 1
    with np.load(tmp_path / "c.npz") as f:
        assert sorted(f.files) == ["0", "1", "__npgan_checkpoint__"]
    checkpoint.save(tmp_path / "b.npz", np.arange(4.0))
    with np.load(tmp_path / "b.npz") as f:
        assert sorted(f.files) == ["__npgan_checkpoint__", "root"]
    np.testing.assert_array_equal(checkpoint.load(tmp_path / "b.npz"), np.arange(4.0))


@pytest.mark.parametrize("state, error, message", [
    ({1: 2}, TypeError, r"^checkpoint\.save: dict keys must be strings, got 1 at the top level$"),
    ({"a": {2: 3}}, TypeError, r"^checkpoint\.save: dict keys must be strings, got 2 at a$"),
    ({"__x": 1}, ValueError,
     r"^checkpoint\.save: keys starting with '__' are reserved, got '__x' at the top level$"),
    ({"a": [{"__y": 1}]}, ValueError,
     r"^checkpoint\.save: keys starting with '__' are reserved, got '__y' at a/0$"),
    ({"a/b": 1}, ValueError,
     r"^checkpoint\.save: keys cannot contain '/', which separates the parts of an entry's name; "
     r"got 'a/b' at the top level \(rename it, e\.g\. with '\.'\)$"),
    ({"a": {"b/c": 1}}, ValueError, r"got 'b/c' at a \(rename it"),
    ({1, 2}, TypeError, r"^checkpoint\.save: cannot store a set at the top level; use arrays, "
                        r"numbers, strings, lists and dicts$"),
    ({"a": [object()]}, TypeError, r"^checkpoint\.save: cannot store a object at a/0; "),
], ids=["key-top", "key-nested", "reserved-top", "reserved-nested", "slash-top", "slash-nested",
        "type-top", "type-nested"])
def test_save_key_messages_say_where(tmp_path, state, error, message):
    with pytest.raises(error, match=message):
        checkpoint.save(tmp_path / "x.npz", state)
    assert not os.path.exists(tmp_path / "x.npz")


# --- why the cupy backend cannot run: the whole message ---------------------------------------

def _cupy_stub(count, probe_error=None):
    """A stand-in cupy module: its runtime reports ``count`` devices; its random draw (the first
    probe of the availability check) raises ``probe_error``."""
    import types

    def random_state(seed):
        raise probe_error

    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: count))
    stub.ndarray = type("FakeGPUArray", (), {})
    stub.random = types.SimpleNamespace(RandomState=random_state)
    return stub


HINT = (r"install the CUDA extra with `pip install 'npgan\[cuda\]'` \(CUDA 12: "
        r"cupy-cuda12x\[ctk\], which brings cuRAND, NVRTC and cuBLAS\) or `pip install "
        r"'npgan\[cuda13\]'` \(CUDA 13\) on a machine with an NVIDIA GPU and driver, or use "
        r"--backend numpy")


def test_cupy_not_installed_message(monkeypatch):
    monkeypatch.setattr(backend, "cupy", None)
    monkeypatch.setattr(backend, "_CUPY_IMPORT_ERROR", None)
    with pytest.raises(npgan.BackendUnavailableError,
                       match=r"^backend 'cupy' requested but CuPy is not installed: " + HINT + r"\.$"):
        npgan.set_backend("cupy")


def test_cupy_without_a_gpu_message(monkeypatch):
    monkeypatch.setattr(backend, "cupy", _cupy_stub(0))
    with pytest.raises(npgan.BackendUnavailableError,
                       match=r"^backend 'cupy' requested but no NVIDIA GPU is visible "
                             r"\(cupy\.cuda\.runtime\.getDeviceCount\(\) == 0\); use --backend "
                             r"numpy\.$"):
        npgan.set_backend("cupy")


def test_cupy_missing_library_message_names_the_probe_and_the_error(monkeypatch):
    monkeypatch.setattr(backend, "cupy", _cupy_stub(1, OSError("libcurand.so.10: cannot open")))
    with pytest.raises(npgan.BackendUnavailableError,
                       match=r"^backend 'cupy' requested but CuPy cannot run a random draw: "
                             r"cuRAND \(libcurand\) is missing or broken \(OSError: "
                             r"libcurand\.so\.10: cannot open\); " + HINT + r"\.$"):
        npgan.set_backend("cupy")
    assert npgan.get_backend() == "numpy"


# --- checkpoint.save when the write fails --------------------------------------------------------

def test_failed_save_without_a_previous_file_says_none_was_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    target = blocker / "ck.npz"  # its folder is a file: makedirs fails
    with pytest.raises(checkpoint.CheckpointError,
                       match=r": cannot save the checkpoint \(.+\); no checkpoint was written$"):
        checkpoint.save(target, {"w": np.ones(2)})


def test_failed_save_over_a_previous_file_says_it_is_intact(tmp_path, monkeypatch):
    target = tmp_path / "ck.npz"
    checkpoint.save(target, {"w": np.ones(2)})

    def replace(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoint.os, "replace", replace)
    with pytest.raises(checkpoint.CheckpointError,
                       match=r"^.*ck\.npz: cannot save the checkpoint \(No space left on device\); "
                             r"the previous checkpoint there is intact$"):
        checkpoint.save(target, {"w": np.zeros(2)})
    monkeypatch.undo()
    np.testing.assert_array_equal(checkpoint.load(target)["w"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # the temporary was removed


def _write_npz(path, header, **arrays):
    import json
    np.savez(path, __npgan_checkpoint__=np.array(json.dumps(header)), **arrays)


@pytest.mark.parametrize("state", [
    {"__array__": "w"},
    {"G": {"w": {"__array__": "w"}}},
    {"xs": [1, {"__array__": "w"}]},
], ids=["top", "in-a-dict", "in-a-list"])
def test_load_names_the_file_and_the_missing_array(tmp_path, state):
    path = str(tmp_path / "damaged.npz")
    _write_npz(path, {"format": "npgan-checkpoint", "version": 1, "state": state})
    with pytest.raises(checkpoint.CheckpointError,
                       match="^" + re_escape(path) + r": damaged: the array 'w' is missing$"):
        checkpoint.load(path)


def test_load_refuses_another_format_and_another_version_saying_which(tmp_path):
    other = str(tmp_path / "other.npz")
    _write_npz(other, {"format": "something-else", "version": 1, "state": {}})
    with pytest.raises(checkpoint.CheckpointError,
                       match="^" + re_escape(other) + r": not an npgan checkpoint$"):
        checkpoint.load(other)
    newer = str(tmp_path / "newer.npz")
    _write_npz(newer, {"format": "npgan-checkpoint", "version": 7, "state": {}})
    with pytest.raises(checkpoint.CheckpointError,
                       match="^" + re_escape(newer) + r": checkpoint format version 7, this npgan "
                                                      r"reads version 1$"):
        checkpoint.load(newer)


def re_escape(text):
    import re
    return re.escape(text)


def test_only_this_targets_temporaries_are_removed(tmp_path):
    """Stale means named .NAME.PID.tmp for this target, with PID a number and that process gone:
    a file with the prefix but another ending, or with the right length of name around a number
    but another prefix, is someone else's and stays."""
    gone = 999_999_999  # above any pid_max: no such process
    stale = _temporary(str(tmp_path), "ck.npz", gone)
    others = [tmp_path / f".ck.npz.{gone}.bak",       # this prefix, not a temporary
              tmp_path / f"backup__{gone}.old",        # digits where the pid would be
              tmp_path / f".other.npz.{gone}.tmp"]     # another target's temporary
    for path in others:
        path.write_text("keep")
    assert checkpoint.remove_stale_temporaries(str(tmp_path / "ck.npz")) == [stale]
    assert all(path.exists() for path in others)
