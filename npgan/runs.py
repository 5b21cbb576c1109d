"""The plumbing the example scripts share, so that each script shows only its lesson.

The lesson of each example is its training loop; this module is what every
script needs around it, written once: checked command lines, a checked output
folder, a backend chosen with a clean exit, BLAS threads, Ctrl-C that stops
cleanly, strict JSON and one-line messages. (The MLP builder every example uses is
:func:`npgan.nn.mlp`; the common plots are in :mod:`npgan.tools.plots`.)

* :func:`run_example`: the body of an example's ``main``: matplotlib checked,
  the backend chosen (exit status 2 when it cannot run), the default dtype set
  and everything restored afterwards, a failure printed as one line (exit 1);
* :func:`run_script` with ``blas_threads``: the thread count of NumPy's BLAS
  for a script whose matrices are too small to gain from threads;
* :class:`TrainingLog`: the losses and D's mean outputs of each step, kept on
  the device and read back at once when a progress line is printed, which is
  also when a diverged run (NaN or inf) is stopped;
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

Host code: the fetched numbers are host arrays, so this module uses numpy
directly; what runs on the device (:class:`TrainingLog`'s sums) asks
the backend for its array module.
"""
import argparse
import json
import math
import os
import signal
import sys
import threading

import numpy as np

from npgan import backend
from npgan.gan import TrainingDiverged

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
    chosen = name or os.environ.get("NPGAN_BACKEND", "").strip() or "numpy"
    backend.set_backend(chosen)
    return backend.get_backend()


def restore_backend(name):
    """Switch back to backend ``name`` after a run (see :func:`select_backend`), quietly keeping
    the current one if ``name`` cannot run (an unusable ``$NPGAN_BACKEND`` the run overrode)."""
    try:
        backend.set_backend(name)
    except (ValueError, backend.BackendUnavailableError):
        pass


def run_example(prog, body, backend_name=None, dtype=None, needs_plots=True, errors=()):
    """Run ``body(backend)``, the work of an example's ``main``, and return its exit status.

    Around it, in order: matplotlib must be importable when ``needs_plots`` (else
    one line and exit status 1, before any work); the backend is chosen by
    :func:`select_backend` (one that cannot run is one line and exit status 2,
    :data:`EXIT_USAGE`); the default dtype is set to ``dtype``. ``body`` gets the
    backend's name and returns the exit status. A
    :class:`npgan.gan.TrainingDiverged`, a :class:`RunError` or one of ``errors``
    becomes one line and exit status 1. The previous backend and dtype are
    restored in every case, so a test can call ``main`` in its own process.
    """
    if needs_plots:
        try:
            import matplotlib  # noqa: F401  (checked now, not after training)
        except ImportError:
            print(f"{prog}: matplotlib is needed for the pictures: pip install matplotlib",
                  file=sys.stderr)
            return EXIT_FAILED
    previous_backend, previous_dtype = backend.get_backend(), backend.get_default_dtype()
    try:
        chosen = select_backend(backend_name)
    except (ValueError, backend.BackendUnavailableError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if dtype is not None:
            backend.set_default_dtype(dtype)
        # A diverging run overflows before its loss turns NaN; the trainer's watch reports that
        # as one line (TrainingDiverged), so NumPy's RuntimeWarnings would only bury it.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return body(chosen)
    except (TrainingDiverged, RunError, *errors) as exc:
        print(error_line(prog, exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        backend.set_default_dtype(previous_dtype)
        restore_backend(previous_backend)


# --- BLAS threads ----------------------------------------------------------------------------

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The environment variables from which OpenBLAS, OpenMP and MKL read their thread count."""


def limit_blas_threads(threads=1):
    """Give NumPy's BLAS ``threads`` threads unless the user chose a count; may restart the script.

    For scripts whose matrices are small (a batch by 48 units in
    examples/gaussian.py): BLAS threads then cost more than they save, and while
    another process holds a core they can make a step ten times slower. BLAS
    reads its thread count from :data:`BLAS_THREAD_VARIABLES` once, when NumPy
    is imported, and npgan has imported NumPy before a script can call this. So
    when none of them is set, this sets them all and starts the script again
    in the same process (``os.execv`` with the same command line: one more
    interpreter start, a fraction of a second). When the user set any of them,
    that choice stands and nothing restarts. Off POSIX, or for a script not run
    from a file, it only sets them (for the processes the script starts).
    """
    if any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        return
    for name in BLAS_THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if os.name == "posix" and os.path.isfile(sys.argv[0]) and "numpy" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, sys.orig_argv)


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


def run_script(main, prog, blas_threads=None):
    """``sys.exit(main())`` for a script, with Ctrl-C that escaped the run as exit 130, one line.

    ``blas_threads``: run with that many BLAS threads unless the user set a
    count (:func:`limit_blas_threads`).
    """
    if blas_threads is not None:
        limit_blas_threads(blas_threads)
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


def output_path(folder, name):
    """The path of the file ``name`` in ``folder``, making the folder again if it was removed
    while the run trained (it was checked, and made, before: :func:`check_output_folder`)."""
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def error_line(prog, exc):
    """The one line printed for an error ``exc`` of script ``prog``."""
    return f"{prog}: {exc}"


# --- the numbers of each training step -------------------------------------------------------

class TrainingLog:
    """The losses and D's mean outputs of each step, kept on the device until read, all at once.

    :meth:`record` after each step keeps the step's numbers where they are
    (on a GPU, nothing waits for the host); :meth:`fetch` reads everything
    recorded since the last fetch in one transfer, appends it to ``history``
    and returns the last step's numbers. The fetch is also the run's watch: the
    first NaN or infinite loss or D output, or a parameter of the networks it
    is given, raises :class:`npgan.gan.TrainingDiverged` naming the step, and
    ``history`` keeps only the steps before it. This is
    :meth:`npgan.gan.GANTrainer.fetch`, for a training loop written out in full.

    D's mean output is mean sigmoid(a) over its logits a, computed as
    1/2 + 1/2 mean tanh(a / 2) (the same number; tanh never overflows): the sum
    of tanh(a / 2) stays on the device, the rest is done on the host.
    """

    def __init__(self):
        self.history = {"step": [], "d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
        self.pending = []  # per step: (step, device scalars d_loss, g_loss, sums, sizes)

    def record(self, step, d_loss, g_loss, real_logits, fake_logits):
        """Keep step ``step``'s losses (0-d Tensors) and D's logits on real and fake samples."""
        xp = backend.get_array_module(real_logits.data)
        self.pending.append((step, d_loss.data[()], g_loss.data[()],
                             xp.tanh(real_logits.data * 0.5).sum(), real_logits.data.size,
                             xp.tanh(fake_logits.data * 0.5).sum(), fake_logits.data.size))

    def fetch(self, **networks):
        """Read the recorded steps back (one transfer), check them, and return the last one.

        ``networks`` (``G=G, D=D``) are checked too: their parameters must be finite
        after the last step. Returns a dict of ``step``, ``d_loss``, ``g_loss``,
        ``d_real``, ``d_fake`` (None before any step).
        """
        pending, self.pending = self.pending, []
        if not pending:
            return self.latest()
        values = [v for step in pending for v in (step[1], step[2], step[3], step[5])]
        params = [p.data for net in networks.values() for p in net.parameters()]
        xp = backend.get_array_module(values[0])
        if params:
            values.append(xp.stack([xp.asarray(xp.isfinite(p).all()) for p in params]).all())
        host = backend.to_numpy(xp.stack([xp.asarray(v) for v in values]))
        for i, (step, _, _, _, real_size, _, fake_size) in enumerate(pending):
            d_loss, g_loss, real_sum, fake_sum = host[4 * i:4 * i + 4]
            stats = {"step": step, "d_loss": float(d_loss), "g_loss": float(g_loss),
                     "d_real": 0.5 + 0.5 * float(real_sum) / real_size,
                     "d_fake": 0.5 + 0.5 * float(fake_sum) / fake_size}
            for key, name in (("d_loss", "d_loss"), ("g_loss", "g_loss"), ("d_real", "D(x)"),
                              ("d_fake", "D(G(z))")):
                if not math.isfinite(stats[key]):
                    raise TrainingDiverged(step, name, stats[key])
            for key, value in stats.items():
                self.history[key].append(value)
        if params and not host[-1]:
            bad = [name for name, net in networks.items()
                   if not all(bool(backend.get_array_module(p.data).isfinite(p.data).all())
                              for p in net.parameters())]
            raise TrainingDiverged(pending[-1][0], f"the parameters of {' and '.join(bad)}")
        return self.latest()

    def latest(self):
        """The numbers of the last fetched step (None before any)."""
        if not self.history["step"]:
            return None
        return {key: values[-1] for key, values in self.history.items()}
