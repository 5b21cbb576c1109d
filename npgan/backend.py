"""The array-module shim: the one place in npgan that names cupy (with gpusim, its test-only
stand-in).

Code that runs on the backend's arrays asks this module for ``xp``, the array
module of the current backend (``numpy`` on the CPU, ``cupy`` on an NVIDIA GPU),
and calls ``xp.exp``, ``xp.where``, ... on it, never ``numpy.exp`` directly.
Host-only modules (file formats, checkpoints, metrics on host copies) import
numpy themselves and say so in their docstrings.

Choose the backend by name, once, before creating tensors::

    npgan.set_backend("cupy")        # or the environment: NPGAN_BACKEND=cupy

Asking for CuPy where it is not installed, or where no GPU is visible, raises
:class:`BackendUnavailableError` saying what is missing; npgan never falls
back to the CPU silently.

This module also owns the default floating dtype and the seeded random
generator, because both are tied to the array module that creates arrays.
(The reuse of large arrays between steps, once here, is in :mod:`npgan.speed`.)
"""
import math
import os

import numpy

_CUPY_IMPORT_ERROR = None  # set below when importing CuPy fails other than by absence
try:  # CuPy is optional; ``cupy is None`` is the sentinel for "not installed".
    import cupy
except ImportError:  # pragma: no cover - depends on the machine
    cupy = None
except Exception as exc:  # a broken CUDA install: remember why, report on use
    cupy = None
    _CUPY_IMPORT_ERROR = exc

BACKENDS = ("numpy", "cupy", "gpusim")
# "gpusim" is TEST-ONLY: npgan.gpusim, NumPy underneath with CuPy's rules on top (no implicit host
# conversion, no mixing, only CuPy's names, float32 flush-to-zero). It proves the engine keeps to
# CuPy's rules and nothing about speed. Loaded on first use; None until then.
gpusim = None
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")

CUPY_INSTALL_HINT = (
    "install the CUDA extra with `pip install 'npgan[cuda]'` (CUDA 12: cupy-cuda12x[ctk], "
    "which brings cuRAND, NVRTC and cuBLAS) or `pip install 'npgan[cuda13]'` (CUDA 13) "
    "on a machine with an NVIDIA GPU and driver, or use --backend numpy")

# What a training step asks of CUDA, each tried once by the availability check:
# (what, the CUDA library it needs, how to run it on the cupy module).
_CUPY_PROBES = (
    ("a random draw", "cuRAND (libcurand)",
     lambda cp: cp.random.RandomState(0).random_sample(size=(4, 4), dtype=float32)),
    ("an elementwise kernel", "NVRTC (libnvrtc)",
     lambda cp: cp.exp(cp.arange(16, dtype=float32).reshape(4, 4))),
    ("a matrix product", "cuBLAS (libcublas, libcublasLt)",
     lambda cp: cp.ones((4, 4), dtype=float32).dot(cp.ones((4, 4), dtype=float32))),
)
_cupy_probed = []  # the cupy module once every probe has run on it (checked once per process)


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine (not a silent fallback)."""


_state = {"name": "numpy", "xp": numpy, "dtype": float32, "rng": None}


def _check_cupy_usable():
    """Raise BackendUnavailableError unless CuPy is importable and sees a GPU."""
    if cupy is None:
        why = "CuPy is not installed"
        if _CUPY_IMPORT_ERROR is not None:
            why = f"CuPy failed to import ({_CUPY_IMPORT_ERROR})"
        raise BackendUnavailableError(
            f"backend 'cupy' requested but {why}: {CUPY_INSTALL_HINT}.")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device, broken runtime
        raise BackendUnavailableError(
            f"backend 'cupy' requested but CUDA is not usable on this machine "
            f"({type(exc).__name__}: {exc}); run on a machine with an NVIDIA GPU "
            f"and driver, or use --backend numpy.") from exc
    if count < 1:
        raise BackendUnavailableError(
            "backend 'cupy' requested but no NVIDIA GPU is visible "
            "(cupy.cuda.runtime.getDeviceCount() == 0); use --backend numpy.")
    if cupy in _cupy_probed:
        return
    for what, library, probe in _CUPY_PROBES:  # a missing library fails here, not mid-run
        try:
            float(probe(cupy).sum())  # float(): wait for the kernel, so its errors surface here
        except Exception as exc:  # ImportError/OSError of a .so, CUDA and NVRTC errors
            raise BackendUnavailableError(
                f"backend 'cupy' requested but CuPy cannot run {what}: {library} is missing "
                f"or broken ({type(exc).__name__}: {exc}); {CUPY_INSTALL_HINT}.") from exc
    _cupy_probed.append(cupy)


def cupy_unavailable_reason():
    """None when the 'cupy' backend can run here, else why not (what is missing, how to fix it)."""
    try:
        _check_cupy_usable()
    except BackendUnavailableError as exc:
        return str(exc)
    return None


def cupy_available():
    """True when the 'cupy' backend can run here (CuPy installed and a GPU seen)."""
    return cupy_unavailable_reason() is None


def available_backends():
    """Names of the backends that can run on this machine, e.g. ``['numpy']``."""
    return ["numpy"] + (["cupy"] if cupy_available() else [])


def set_backend(name):
    """Make ``name`` ("numpy" or "cupy") the backend new tensors are created on.

    Raises ValueError for an unknown name and BackendUnavailableError when the
    backend cannot run here. Re-seeds nothing: call :func:`manual_seed` after.
    """
    given = name
    name = name.strip().lower() if isinstance(name, str) else name  # "NumPy" is "numpy"
    if name not in BACKENDS:
        raise ValueError(
            f"unknown backend {given!r}: choose one of {', '.join(BACKENDS)}")
    if name == "cupy":
        _check_cupy_usable()
        _state["xp"] = cupy
    elif name == "gpusim":
        _state["xp"] = _load_gpusim()
    else:
        _state["xp"] = numpy
    if _state["name"] != name:
        _state["rng"] = None
    _state["name"] = name


def _load_gpusim():
    """Import the test-only stand-in (npgan.gpusim) on first use."""
    global gpusim
    if gpusim is None:
        from npgan import gpusim as module
        gpusim = module
    return gpusim


def get_backend():
    """The name of the current backend, "numpy" or "cupy"."""
    return _state["name"]


def get_xp():
    """The array module of the current backend (numpy or cupy)."""
    return _state["xp"]


def get_array_module(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    if gpusim is not None and isinstance(array, gpusim.ndarray):
        return gpusim
    return numpy


def backend_name(array):
    """'numpy' or 'cupy' for an array, 'python' for anything else."""
    if isinstance(array, numpy.ndarray):
        return "numpy"
    if cupy is not None and isinstance(array, cupy.ndarray):
        return "cupy"
    if gpusim is not None and isinstance(array, gpusim.ndarray):
        return "gpusim"
    return type(array).__name__


def is_array(obj):
    """True for a numpy or cupy ndarray."""
    return isinstance(obj, numpy.ndarray) or (
        cupy is not None and isinstance(obj, cupy.ndarray)) or (
        gpusim is not None and isinstance(obj, gpusim.ndarray))


def mixing_possible():
    """False when CuPy is absent (and the gpusim stand-in unused): then no op can mix."""
    return cupy is not None or gpusim is not None


def check_same_backend(op_name, arrays):
    """Raise TypeError when ``arrays`` mix numpy and cupy arrays in one op."""
    first = type(arrays[0])
    for a in arrays[1:]:
        if type(a) is not first and get_array_module(a) is not get_array_module(arrays[0]):
            raise TypeError(
                f"{op_name}: cannot mix a {backend_name(arrays[0])} array and a "
                f"{backend_name(a)} array in one op; create every tensor on one "
                f"backend (npgan.set_backend) or move it with npgan.tensor(t.numpy())")


def asarray(data, dtype=None):
    """``data`` as an array of the current backend (copying host data to a GPU)."""
    return _state["xp"].asarray(data, dtype=dtype)


def array(data, dtype=None):
    """A new array of the current backend holding a copy of ``data``."""
    return _state["xp"].array(data, dtype=dtype, copy=True)


def to_numpy(array):
    """A host (numpy) copy of a numpy or cupy array."""
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    if gpusim is not None and isinstance(array, gpusim.ndarray):
        return gpusim.asnumpy(array)
    return numpy.array(array, copy=True)


def synchronize():
    """Wait for queued GPU work to finish (a no-op on the CPU); call before timing."""
    if _state["name"] == "cupy":
        cupy.cuda.get_current_stream().synchronize()


def device_facts():
    """For reports: ``{"cupy": version, "gpu": "name, N GiB"}`` as far as known; {} without CuPy."""
    if cupy is None:
        return {}
    facts = {"cupy": cupy.__version__}
    if cupy_available():
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        facts["gpu"] = f"{name}, {props['totalGlobalMem'] / 2 ** 30:.0f} GiB"
    return facts


def device_memory_in_use():
    """Bytes CuPy's memory pool holds for live arrays, or None on the CPU (for memory checks)."""
    if _state["name"] != "cupy":
        return None
    return cupy.get_default_memory_pool().used_bytes()


# --- dtypes -----------------------------------------------------------------

def dtype(name):
    """A dtype object for a name or type ('float32', numpy.float64, ...)."""
    return numpy.dtype(name)


def set_default_dtype(dtype):
    """Set the floating dtype of new tensors and parameters: float32 (default) or float64."""
    d = numpy.dtype(dtype)
    if d not in (float32, float64):
        raise ValueError(
            f"set_default_dtype: {d} is not supported; use 'float32' or 'float64'")
    _state["dtype"] = d


def get_default_dtype():
    """The floating dtype new tensors and parameters get (a numpy dtype)."""
    return _state["dtype"]


def is_floating(dtype):
    """True for a floating dtype."""
    return numpy.issubdtype(dtype, numpy.floating)


def result_float_dtype(data):
    """The dtype ``npgan.tensor`` gives ``data`` when no dtype is asked for.

    Arrays keep their dtype (as ``torch.tensor`` does); Python floats and lists
    of floats get the default dtype instead of numpy's float64.
    """
    if is_array(data):
        return data.dtype
    kind = numpy.asarray(data).dtype
    if numpy.issubdtype(kind, numpy.floating):
        return _state["dtype"]
    return kind


# --- the error function (NumPy has none; one implementation for every backend) ------------
#
# erf(x) = 2/sqrt(pi) int_0^x e^(-s^2) ds and erfc(x) = 1 - erf(x), elementwise, for GELU's
# normal CDF. Two pieces, both built at import from the standard library and evaluated with xp:
#
# * |x| < 1/2: the Maclaurin series erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)),
#   13 terms (the first one left out is below 1e-19 of the sum), by Horner in x^2;
# * |x| >= 1/2: erfc(|x|) = e^(-x^2) erfcx(|x|), where the scaled erfcx(x) = e^(x^2) erfc(x)
#   (about 1 / (x sqrt(pi)), smooth and slowly varying) is a Chebyshev interpolant in
#   y = 4 / (4 + x) on 16 equal pieces of y, degree 9 each, sampled from math.erfc at the
#   Chebyshev nodes (y = 4 / (4 + x) is Steven G. Johnson's variable for erfcx). e^(-x^2) is taken as e^(-z^2) e^(-(x - z)(x + z)) with z = x rounded to
#   float32, whose square is exact, so large x lose no accuracy in x^2.
#
# Relative error below 1e-14 for erf and erfc wherever erfc is a normal float64 (|x| < 26.5;
# tests/test_tensor_methods.py checks it against math.erf and math.erfc). Computed in float64
# and returned in x's floating dtype. (CuPy has cupyx.scipy.special.erf; this one gives every
# backend the same numbers.)

_ERF_SERIES_TERMS = 13
_ERF_SERIES_X_MAX = 0.5
_ERFCX_PIECES, _ERFCX_DEGREE = 16, 9
_ERFCX_X_MAX = 26.5   # erfc(x) is a normal float64 below here (subnormal, then 0, above)
_ERFCX_Y_LOW, _ERFCX_Y_HIGH = 4 / (4 + _ERFCX_X_MAX), 4 / (4 + _ERF_SERIES_X_MAX)
_erf_tables = {}      # array module -> (series coefficients, Chebyshev table on that backend)


def _erfcx_host(x):
    """erfcx(x) = e^(x^2) erfc(x) for one float in [1/2, 26.5], from math.erfc and math.exp."""
    z = float(numpy.float32(x))  # 24 significant bits: z * z is exact in float64
    half = math.exp(z * z / 2)   # e^(z^2) = half^2, in two factors so nothing overflows
    return math.erfc(x) * half * half * math.exp((x - z) * (x + z))


def _erf_tables_for(xp):
    """The series coefficients (Python floats) and the (degree + 1, pieces) Chebyshev table on
    the array module ``xp``, built on first use."""
    if xp not in _erf_tables:
        series = [2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
                  for n in range(_ERF_SERIES_TERMS)]
        d = _ERFCX_DEGREE
        width = (_ERFCX_Y_HIGH - _ERFCX_Y_LOW) / _ERFCX_PIECES
        theta = [math.pi * (i + 0.5) / (d + 1) for i in range(d + 1)]  # the nodes, cos(theta)
        table = []
        for k in range(_ERFCX_PIECES):
            mid = _ERFCX_Y_LOW + (k + 0.5) * width
            f = [_erfcx_host(4 / (mid + width / 2 * math.cos(th)) - 4) for th in theta]
            c = [2 / (d + 1) * sum(fi * math.cos(j * th) for fi, th in zip(f, theta))
                 for j in range(d + 1)]
            c[0] /= 2
            table.append(c)
        _erf_tables[xp] = (series, xp.asarray(numpy.array(table, dtype=float64).T.copy()))
    return _erf_tables[xp]


def _erf_and_erfc(x):
    """(erf(x), erfc(x)) in float64, elementwise (see the comment above)."""
    xp = get_array_module(x)
    series, table = _erf_tables_for(xp)
    x = x.astype(float64)
    a = xp.abs(x)
    nan = xp.isnan(x)
    # |x| < 1/2: the series (u clipped so the elements not using it cannot overflow)
    u = xp.minimum(a * a, _ERF_SERIES_X_MAX ** 2)
    s = series[-1]
    for c in reversed(series[:-1]):
        s = s * u + c
    erf_small = x * s
    # |x| >= 1/2: e^(-x^2) erfcx(|x|) (b clipped to where the interpolant is meant for)
    b = xp.clip(xp.where(nan, 1.0, a), _ERF_SERIES_X_MAX, 28.0)
    width = (_ERFCX_Y_HIGH - _ERFCX_Y_LOW) / _ERFCX_PIECES
    pos = (4 / (4 + b) - _ERFCX_Y_LOW) / width
    k = xp.clip(xp.floor(pos), 0, _ERFCX_PIECES - 1)
    t = 2 * (pos - k) - 1          # the local variable in [-1, 1] of piece k
    coef = xp.take(table, k.astype("int64"), axis=1)  # (degree + 1, *x.shape): row j = c_j
    t2 = 2 * t
    b1, b2 = coef[_ERFCX_DEGREE], 0.0
    for j in range(_ERFCX_DEGREE - 1, 0, -1):  # Clenshaw's recurrence
        b1, b2 = t2 * b1 - b2 + coef[j], b1
    erfcx = t * b1 - b2 + coef[0]
    z = b.astype(float32).astype(float64)
    erfc_big = xp.exp(-(z * z)) * xp.exp((z - b) * (z + b)) * erfcx  # erfc(|x|), |x| >= 1/2
    small = a < _ERF_SERIES_X_MAX
    negative = x < 0
    erf = xp.where(small, erf_small, xp.where(negative, erfc_big - 1, 1 - erfc_big))
    erfc = xp.where(small, 1 - erf_small, xp.where(negative, 2 - erfc_big, erfc_big))
    return xp.where(nan, x, erf), xp.where(nan, x, erfc)


def _floating_result(x, y):
    return y.astype(x.dtype) if is_floating(x.dtype) and x.dtype != float64 else y


def erf(x):
    """The error function erf(x) = 2/sqrt(pi) int_0^x e^(-s^2) ds of an array, elementwise
    (relative error below 1e-14 in float64; float32 in, float32 out)."""
    return _floating_result(x, _erf_and_erfc(x)[0])


def erfc(x):
    """The complementary error function erfc(x) = 1 - erf(x), accurate in relative terms
    also where it is tiny (large x, down to about 1e-307)."""
    return _floating_result(x, _erf_and_erfc(x)[1])


# --- the seeded random generator ---------------------------------------------

class Generator:
    """A seeded random generator on one backend, with one API for both.

    numpy uses ``numpy.random.Generator(PCG64)``; cupy uses
    ``cupy.random.RandomState``. Samples are drawn directly in the asked
    dtype, so float32 models never see float64 noise.
    """

    def __init__(self, seed, name):
        self.name = name
        self.seed = seed
        self.device = name != "numpy"  # cupy, or the gpusim stand-in with CuPy's random API
        if name == "cupy":
            self._gen = cupy.random.RandomState(seed)
        elif name == "gpusim":
            self._gen = _load_gpusim().random.RandomState(seed)
        else:
            self._gen = numpy.random.Generator(numpy.random.PCG64(seed))

    def random(self, shape, dtype):
        """Uniform samples in [0, 1)."""
        if self.device:
            return self._gen.random_sample(size=shape, dtype=dtype)
        return self._gen.random(size=shape, dtype=dtype)

    def standard_normal(self, shape, dtype):
        """Samples of N(0, 1)."""
        return self._gen.standard_normal(size=shape, dtype=dtype)

    def integers(self, low, high, shape):
        """Integers in [low, high)."""
        if self.device:
            return self._gen.randint(low, high, size=shape)
        return self._gen.integers(low, high, size=shape)

    def raw_bits(self, n):
        """``n`` raw 64-bit words of the generator (numpy only), for :func:`npgan.speed.keep_mask`."""
        return self._gen.bit_generator.random_raw(n)

    def permutation(self, n):
        """A random permutation of range(n)."""
        return self._gen.permutation(n)

    def get_state(self):
        """The generator state as a dict (numpy only), for checkpoints."""
        if self.device:
            raise NotImplementedError(
                f"saving the {self.name} generator state is not supported; "
                "checkpoint on the numpy backend for exact resumes")
        return self._gen.bit_generator.state

    def set_state(self, state):
        """Restore a state returned by :meth:`get_state`."""
        if self.device:
            raise NotImplementedError(f"restoring the {self.name} generator state is not supported")
        self._gen.bit_generator.state = state


def manual_seed(seed):
    """Seed npgan's random generator on the current backend (noise, init, dropout)."""
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    if isinstance(_state["xp"], _UnusableBackend):  # $NPGAN_BACKEND cannot run: say so
        getattr(_state["xp"], "random")
    _state["rng"] = Generator(int(seed), _state["name"])
    return _state["rng"]


def get_rng():
    """The current backend's generator (seeded with 0 on first use if never seeded)."""
    if _state["rng"] is None:
        manual_seed(0)
    return _state["rng"]


class _UnusableBackend:
    """Stands in for the array module when ``$NPGAN_BACKEND`` names a backend that cannot run.

    ``import npgan`` must not fail because of the environment: a script's own
    ``--backend`` (or :func:`set_backend`) replaces this stand-in. Anything that
    would create an array raises the saved error then, with its advice.
    """

    def __init__(self, error):
        self.error = error

    def __getattr__(self, attr):
        raise type(self.error)(f"NPGAN_BACKEND: {self.error}")


# The environment variable picks the starting backend; if it cannot run, the error comes when a
# tensor is made (an explicit set_backend, as a script's --backend, replaces it first).
if os.environ.get("NPGAN_BACKEND", "").strip():
    try:
        set_backend(os.environ["NPGAN_BACKEND"])
    except (ValueError, BackendUnavailableError) as _exc:
        _state["name"] = os.environ["NPGAN_BACKEND"].strip().lower()
        _state["xp"] = _UnusableBackend(_exc)
