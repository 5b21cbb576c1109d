"""What the example scripts share so that a run fails safe: checked command lines, a checked
output folder, Ctrl-C that stops cleanly, strict JSON, and one-line messages.

The lesson of each example is its training loop; this module is its plumbing, written once:

* :class:`ArgumentParser` and the ``type=`` checkers (:func:`positive_float`,
  :func:`unit_interval`, ...): a user mistake is one line on stderr and exit
  status 2 (:data:`EXIT_USAGE`), before any work is done;
* :func:`check_output_folder` / :func:`check_output_file`: ``--out`` must be, or
  become, a folder we can write in (a file is created and removed there);
* :func:`check_memory`: a batch that cannot fit in memory is refused up front,
  instead of being killed by the operating system minutes later;
* :func:`select_backend`: an explicit ``--backend`` wins over ``NPGAN_BACKEND``;
* :class:`StopOnCtrlC`: the first Ctrl-C stops the run at the end of the current
  step (the example then saves what it can and says how to resume), the second
  aborts at once; either way the script exits 130 (:data:`EXIT_INTERRUPTED`)
  without a traceback (:func:`run_script`);
* :func:`write_json`: metrics are strict JSON (``allow_nan=False``), written to a
  temporary file and renamed, so a full disk never leaves a 0-byte file.

Errors meant for the user are :class:`UsageError` (exit 2) and :class:`RunError`
(exit 1); :func:`error_line` formats either, or a
:class:`npgan.gan.TrainingDiverged`, as one line.
"""
import argparse
import json
import math
import os
import signal
import sys
import threading

EXIT_FAILED = 1
"""Exit status of a run that failed for a reason the message gives (bad data, divergence)."""
EXIT_USAGE = 2
"""Exit status of a command-line mistake (argparse's own), or of a backend that cannot run."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as a shell reports a process ended by it."""


class UsageError(ValueError):
    """A mistake on the command line, found before any work: one line, exit status 2."""


class RunError(RuntimeError):
    """A run that cannot go on (its results cannot be written, ...): one line, exit status 1."""


# --- the command line ------------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a mistake is ONE line on stderr ("prog: error: ...; see --help")
    and exit status 2, without the usage block."""

    def error(self, message):
        """Print ``message`` on one line and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _number(text, kind=float):
    """``text`` as a finite number of ``kind`` (argparse ``type=`` helper)."""
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_float(text):
    """argparse ``type=``: any finite number (refuses nan and inf)."""
    return _number(text)


def positive_float(text):
    """argparse ``type=``: a finite number > 0 (learning rates, clip bounds)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text):
    """argparse ``type=``: a finite number >= 0 (penalty weights)."""
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def unit_interval(text):
    """argparse ``type=``: a number in [0, 1) (Adam's betas, moving-average decays)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def fraction(text):
    """argparse ``type=``: a number in [0, 1] (a final learning-rate factor)."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def positive_int(text):
    """argparse ``type=``: an integer >= 1 (steps, sizes)."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def nonnegative_int(text):
    """argparse ``type=``: an integer >= 0 (seeds, intervals where 0 means off)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def backend_name(text):
    """argparse ``type=``: a backend name, case-insensitive ("NumPy" is "numpy")."""
    return text.strip().lower()


# --- the output folder -----------------------------------------------------------------------

def check_output_folder(path, flag="--out"):
    """Make sure ``path`` is, or can be made, a folder we can write in; return it.

    Creates the folder (and its parents) if needed, then creates, writes, syncs
    and removes a small probe file in it, so a read-only folder, a path through
    a file or a full disk is found now rather than after training. Raises
    :class:`UsageError` naming the path and the reason.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: exists and is not a folder; name a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create this folder ({exc.strerror or exc})") \
            from None
    probe = os.path.join(path, f".npgan-write-test-{os.getpid()}")
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in this folder ({exc.strerror or exc}); "
                         f"choose another {flag}") from None
    finally:
        try:
            os.remove(probe)
        except OSError:
            pass
    return path


def check_output_file(path, suffix=".png", flag="--out"):
    """Check a file to be written at ``path``; returns the path that will really be written.

    A path without ``suffix`` gets it appended (matplotlib would do so silently,
    and the script would then report the wrong name). The path must not be an
    existing folder or special file (a device such as /dev/full), and its folder
    must pass :func:`check_output_folder`.
    """
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"{flag} {path}: exists and is not a regular file; name a new "
                         f"{suffix} file")
    if not path.lower().endswith(suffix):
        path += suffix
        if os.path.exists(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {path}: exists and is not a regular file")
    check_output_folder(os.path.dirname(os.path.abspath(path)), flag)
    return path


def available_memory():
    """Bytes of memory available to a new allocation now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(needed_bytes, what, fix):
    """Raise :class:`UsageError` when ``needed_bytes`` (an estimate) exceed the memory available.

    ``what`` names the thing measured ("a training step at --batch-size 100000000"),
    ``fix`` says what to change ("use a smaller --batch-size").
    """
    have = available_memory()
    if have is not None and needed_bytes > have:
        raise UsageError(f"{what} needs about {needed_bytes / 2 ** 30:.1f} GiB of memory, and "
                         f"{have / 2 ** 30:.1f} GiB are available; {fix}")


# --- the backend -----------------------------------------------------------------------------

def select_backend(name=None):
    """Switch npgan to ``name`` (an explicit --backend), else to ``$NPGAN_BACKEND``, else numpy.

    Returns the backend's name. The explicit name wins over the environment
    variable; names are case-insensitive. Raises ValueError (unknown name) or
    :class:`npgan.BackendUnavailableError` (cannot run here).
    """
    from npgan import backend
    chosen = name or os.environ.get("NPGAN_BACKEND", "").strip() or "numpy"
    backend.set_backend(chosen)
    return backend.get_backend()


def restore_backend(name):
    """Switch back to backend ``name`` after a run (see :func:`select_backend`), quietly keeping
    the current one if ``name`` cannot run (an unusable ``$NPGAN_BACKEND`` the run overrode)."""
    from npgan import backend
    try:
        backend.set_backend(name)
    except (ValueError, backend.BackendUnavailableError):
        pass


# --- Ctrl-C ----------------------------------------------------------------------------------

class StopOnCtrlC:
    """Context manager: the first Ctrl-C asks the training loop to stop at the end of its step.

    Use the object as ``should_stop`` (``GANTrainer.train(should_stop=stop)``):
    it returns True once Ctrl-C was pressed. The second Ctrl-C raises
    KeyboardInterrupt at once (abort; :func:`run_script` turns it into exit
    status 130 without a traceback). Outside the main thread, or when SIGINT
    is ignored, it installs nothing and never asks to stop.
    """

    def __init__(self, prog, stream=None):
        self.prog = prog
        self.stream = stream
        self.requested = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{self.prog}: Ctrl-C: stopping at the end of this step (press Ctrl-C again "
              f"to abort at once)", file=self.stream or sys.stderr, flush=True)

    def __call__(self):
        """True once Ctrl-C was pressed: the loop should stop after the current step."""
        return self.requested

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN):
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        return False


def run_script(main, prog):
    """``sys.exit(main())`` for a script, with Ctrl-C that escaped the run as exit 130, one line."""
    try:
        status = main()
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted (Ctrl-C); stopped without saving", file=sys.stderr)
        status = EXIT_INTERRUPTED
    sys.exit(status)


# --- results ---------------------------------------------------------------------------------

def _non_finite_path(obj, path="the top level"):
    """Where in ``obj`` a NaN or infinite float sits (for the message), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return path
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for key, value in items:
        found = _non_finite_path(value, repr(key) if path == "the top level" else f"{path}[{key!r}]")
        if found:
            return found
    return None


def write_json(path, obj):
    """Write ``obj`` as strict JSON (``allow_nan=False``), atomically; raise :class:`RunError`.

    A NaN or infinite number is refused, naming its key, instead of writing a
    file no strict JSON reader accepts. The text goes to a temporary file in the
    same folder, then replaces ``path``, so a full disk leaves the old file (or
    none), never a truncated one.
    """
    try:
        text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise RunError(f"{path}: not written: {_non_finite_path(obj)} is NaN or infinite") \
            from None
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)),
                             f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise RunError(f"{path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def error_line(prog, exc):
    """The one line printed for an error ``exc`` of script ``prog``."""
    return f"{prog}: {exc}"
