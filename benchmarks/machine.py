"""Facts about the machine a benchmark ran on, and control of its BLAS threads.

:func:`machine_info` gathers CPU, cores, memory, BLAS, GPU and library versions for the
report; :class:`limit_threads` pins NumPy's OpenBLAS and PyTorch to n threads for a while.
OpenBLAS is reached through ctypes (no threadpoolctl). Host-only: imports numpy directly.
"""
import ctypes
import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

import numpy as np

import npgan
from npgan import backend

__all__ = ["ROOT", "cpu_cores", "limit_threads", "machine_info"]

#: The checkout this suite benchmarks (the folder above benchmarks/).
ROOT = Path(__file__).resolve().parents[1]


def cpu_cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _openblas_paths():
    """Paths of the OpenBLAS libraries loaded in this process (NumPy's), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f
                           if "openblas" in line.lower() and ".so" in line})
    except OSError:  # pragma: no cover - not Linux
        return []


def _openblas_fn(stem, restype, argtypes=()):
    """The OpenBLAS function ``stem`` (e.g. "get_num_threads") via ctypes, or None.

    Introspection without threadpoolctl: scipy-openblas (NumPy's wheels) prefixes
    and suffixes its symbols, a system OpenBLAS does not.
    """
    for path in _openblas_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (f"scipy_openblas_{stem}64_", f"openblas_{stem}64_",
                     f"scipy_openblas_{stem}", f"openblas_{stem}"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = restype
                fn.argtypes = list(argtypes)
                return fn
    return None


def _openblas_runtime():
    """Config string, core name and thread count of the OpenBLAS NumPy runs on."""
    info = {}
    for key, stem, restype in (("config", "get_config", ctypes.c_char_p),
                               ("core", "get_corename", ctypes.c_char_p),
                               ("threads", "get_num_threads", ctypes.c_int)):
        fn = _openblas_fn(stem, restype)
        if fn is not None:
            value = fn()
            info[key] = value.decode() if isinstance(value, bytes) else value
    return info or None


class limit_threads:
    """Context manager: NumPy's OpenBLAS and PyTorch on ``n`` threads, restored on exit (None: no-op).

    The quick mode runs single-threaded: its numbers mean nothing anyway, and on a
    machine whose cores are busy (a CI runner, a training job) a multi-threaded GEMM
    can stall for whole scheduler time slices at every barrier.
    """

    def __init__(self, n, torch_mod=None):
        self.n, self.torch = n, torch_mod
        self.get = _openblas_fn("get_num_threads", ctypes.c_int)
        self.set = _openblas_fn("set_num_threads", None, [ctypes.c_int])

    def __enter__(self):
        if self.n is None:
            return self
        self.saved = (self.get() if self.get and self.set else None,
                      self.torch.get_num_threads() if self.torch else None)
        if self.saved[0] is not None:
            self.set(self.n)
        if self.torch is not None:
            self.torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.n is None:
            return
        if self.saved[0] is not None:
            self.set(self.saved[0])
        if self.saved[1] is not None:
            self.torch.set_num_threads(self.saved[1])


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=str(ROOT), capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:  # no git: not worth failing a benchmark over
        return ""


def machine_info(torch_mod, impls):
    """CPU, cores, memory, BLAS, GPU and library versions, as a dict of strings."""
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": platform.python_version(),
            "numpy": np.__version__, "npgan": npgan.__version__}
    cpu = platform.processor() or "unknown"
    flags, ids = set(), {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("unknown", platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                for key in ("cpu family", "model", "stepping"):
                    if line.split(":")[0].strip() == key and key not in ids:
                        ids[key] = line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    info["cpu"] = cpu + (f" (family {ids['cpu family']}, model {ids['model']}, stepping "
                         f"{ids.get('stepping', '?')})" if "model" in ids and "cpu family" in ids else "")
    info["cpu_simd"] = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                                if f in flags) or "unknown"
    info["cores"] = f"{cpu_cores()} usable (os.cpu_count() = {os.cpu_count()})"
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory"] = f"{kib / 2 ** 20:.1f} GiB"
    except (OSError, StopIteration):  # pragma: no cover
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = " ".join(str(blas.get(k, "")) for k in ("name", "version")).strip()
        if blas.get("openblas configuration"):
            info["numpy_blas"] += f" ({blas['openblas configuration']})"
    except Exception:  # older numpy: show_config has no mode="dicts"
        info["numpy_blas"] = "unknown"
    rt = _openblas_runtime()
    if rt:
        info["openblas_runtime"] = (f"core {rt.get('core')}, {rt.get('threads')} threads; "
                                    f"{rt.get('config', '')}").strip()
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    info["thread_env"] = ", ".join(f"{k}={v}" for k, v in env.items()) or "none set"
    try:
        import matplotlib
        info["matplotlib"] = matplotlib.__version__
    except ImportError:  # pragma: no cover
        pass
    if torch_mod is not None:
        info["torch"] = torch_mod.__version__
        info["torch_threads"] = str(torch_mod.get_num_threads())
        cfg = torch_mod.__config__.show()
        blas = re.findall(r"\b((?:BLAS|LAPACK)_INFO=[^,\s]+)", cfg)
        info["torch_blas"] = ", ".join(blas) or "unknown"
        if torch_mod.cuda.is_available():
            info["torch_gpu"] = torch_mod.cuda.get_device_name(0)
    info.update(backend.device_facts())
    if "gpu" not in info:
        info["gpu"] = info.get("torch_gpu", "none found")
    commit = _git("rev-parse", "--short", "HEAD")
    if commit:
        dirty = _git("status", "--porcelain", "--", "npgan")
        info["npgan_commit"] = commit + (" + uncommitted changes under npgan/" if dirty else "")
    try:
        info["loadavg_start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        pass
    return info
