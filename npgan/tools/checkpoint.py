"""Checkpoints: a nested state saved to one ``.npz`` file, atomically, with no pickle.

A state is what the ``state_dict()`` methods return: dicts with string keys,
lists, arrays (numpy or cupy), Python numbers, strings, booleans and None,
nested to any depth. :func:`save` writes

    every array        -> one npz entry, named by its path:  "trainer/G/0.weight"
    everything else    -> one JSON text in the entry "__npgan_checkpoint__", in which
                          each array is replaced by {"__array__": "<its entry name>"}

so :func:`load` reads it back with ``allow_pickle=False``: a checkpoint can
hold no code, only numbers and text. Arrays come back as host (numpy)
arrays; the ``load_state_dict`` methods move them to the current backend.

Atomic: the file is written under a temporary name in the same folder,
flushed to disk, then renamed over the target (``os.replace`` is atomic on
POSIX and Windows), so a run killed mid-save leaves the previous checkpoint
whole, never a broken file.
"""
import json
import os
import zipfile

import numpy as np  # host-only: checkpoints are host files in numpy's npz format

from npgan import backend

FORMAT = "npgan-checkpoint"
VERSION = 1
_TREE = "__npgan_checkpoint__"


class CheckpointError(ValueError):
    """A checkpoint file that is missing, damaged, not an npgan checkpoint, or cannot be written."""


def _split(state, path, arrays):
    """The JSON-able tree of ``state``, with its arrays moved into ``arrays`` by path."""
    if backend.is_array(state):
        name = path or "root"
        arrays[name] = backend.to_numpy(state)
        return {"__array__": name}
    if isinstance(state, dict):
        tree = {}
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint.save: dict keys must be strings, got {key!r} at "
                                f"{path or 'the top level'}")
            if key.startswith("__"):
                raise ValueError(f"checkpoint.save: keys starting with '__' are reserved, got "
                                 f"{key!r} at {path or 'the top level'}")
            if "/" in key:  # "/" joins the path of an entry: {"a/b": x} would be {"a": {"b": x}}
                raise ValueError(f"checkpoint.save: keys cannot contain '/', which separates "
                                 f"the parts of an entry's name; got {key!r} at "
                                 f"{path or 'the top level'} (rename it, e.g. with '.')")
            tree[key] = _split(value, f"{path}/{key}" if path else key, arrays)
        return tree
    if isinstance(state, (list, tuple)):
        return [_split(v, f"{path}/{i}" if path else str(i), arrays) for i, v in enumerate(state)]
    if isinstance(state, np.generic):  # a numpy scalar: its Python value
        return state.item()
    if state is None or isinstance(state, (bool, int, float, str)):
        return state
    raise TypeError(f"checkpoint.save: cannot store a {type(state).__name__} at "
                    f"{path or 'the top level'}; use arrays, numbers, strings, lists and dicts")


def _temporary_name(path, pid):
    """The name :func:`save` writes ``path`` under before renaming it (hidden, in the same folder)."""
    return os.path.join(os.path.dirname(os.path.abspath(path)),
                        f".{os.path.basename(path)}.{pid}.tmp")


def remove_stale_temporaries(path):
    """Delete what a save of ``path`` killed mid-write left behind (``.NAME.PID.tmp`` files of
    processes that are gone); returns the paths removed. :func:`save` and :func:`load` call it."""
    folder = os.path.dirname(os.path.abspath(path))
    prefix, removed = f".{os.path.basename(path)}.", []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        pid = name[len(prefix):-len(".tmp")]
        if not (name.startswith(prefix) and name.endswith(".tmp") and pid.isdigit()):
            continue
        if int(pid) != os.getpid() and _process_alive(int(pid)):
            continue  # another run is saving right now
        try:
            os.remove(os.path.join(folder, name))
            removed.append(os.path.join(folder, name))
        except OSError:
            pass
    return removed


def _process_alive(pid):
    """True when a process ``pid`` exists (it may be saving its own checkpoint)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def save(path, state):
    """Write ``state`` (a nested dict, see the module docstring) to ``path`` atomically.

    The previous file at ``path``, if any, is replaced only once the new one
    is complete on disk. If the write fails (a full disk, no permission), the
    previous file is left intact and :class:`CheckpointError` says so in one line.
    """
    path = os.fspath(path)
    arrays = {}
    tree = _split(state, "", arrays)
    header = json.dumps({"format": FORMAT, "version": VERSION, "state": tree})
    folder = os.path.dirname(os.path.abspath(path))
    temporary = _temporary_name(path, os.getpid())
    try:
        os.makedirs(folder, exist_ok=True)
        remove_stale_temporaries(path)
        with open(temporary, "wb") as f:
            np.savez(f, **{_TREE: np.array(header)}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        kept = ("the previous checkpoint there is intact" if os.path.exists(path)
                else "no checkpoint was written")
        raise CheckpointError(f"{path}: cannot save the checkpoint ({exc.strerror or exc}); "
                              f"{kept}") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _join(tree, arrays, path):
    """Rebuild the state from its JSON tree, taking each array from the npz file."""
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            name = tree["__array__"]
            if name not in arrays.files:
                raise CheckpointError(f"{path}: damaged: the array {name!r} is missing")
            return arrays[name]
        return {k: _join(v, arrays, path) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, arrays, path) for v in tree]
    return tree


def load(path):
    """Read a state written by :func:`save`; arrays come back as host (numpy) arrays.

    A missing file, a damaged one (truncated, bad zip, bad CRC) or an npz that
    npgan did not write raises :class:`CheckpointError` naming the file.
    """
    path = os.fspath(path)
    remove_stale_temporaries(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint file there")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            if _TREE not in arrays.files:
                raise CheckpointError(f"{path}: not an npgan checkpoint (no {_TREE!r} entry)")
            header = json.loads(str(arrays[_TREE]))
            if header.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not an npgan checkpoint")
            if header.get("version") != VERSION:
                raise CheckpointError(
                    f"{path}: checkpoint format version {header.get('version')}, this npgan "
                    f"reads version {VERSION}")
            return _join(header["state"], arrays, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: damaged or not an npgan checkpoint ({e})") from e


def check_config(path, saved, current, keys):
    """Raise :class:`CheckpointError` if ``saved[k] != current[k]`` for any of ``keys``.

    For settings a resumed run must share with the run that saved the
    checkpoint (layer sizes, dtype, batch size ...); the message lists each
    difference.
    """
    diffs = [f"{k}: checkpoint {saved.get(k)!r}, this run {current.get(k)!r}"
             for k in keys if saved.get(k) != current.get(k)]
    if diffs:
        raise CheckpointError(f"{path}: the checkpoint was made with other settings: "
                              + "; ".join(diffs))
