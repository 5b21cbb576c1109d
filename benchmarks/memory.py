"""The resident-memory check: does npgan's MNIST step hold its memory steady over many steps?

:func:`memory_check` reads VmRSS after A and after B steps; a full run calls it through
:func:`memory_in_subprocess` (``bench.py --memory`` in a fresh interpreter), so the baseline
is npgan's alone.
"""
import gc
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.impls import build_npgan
from benchmarks.machine import ROOT
from benchmarks.specs import MNIST
from npgan import backend

__all__ = ["rss_kib", "memory_check", "memory_in_subprocess"]

_BENCH = Path(__file__).resolve().with_name("bench.py")  # the command line that runs --memory


def rss_kib():
    """This process's resident set size in KiB (VmRSS of /proc/self/status), None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:  # pragma: no cover - not Linux
        return None
    return None


def memory_check(backends, batch, steps_a, steps_b, pool, log=print):
    """RSS after ``steps_a`` and ``steps_b`` npgan MNIST steps, per backend, and the growth."""
    out = []
    for name in backends:
        runner = build_npgan(MNIST, batch, pool, name)
        try:
            pool_bytes = None
            for i in range(steps_b):
                runner.step()
                if i + 1 == steps_a:
                    runner.sync()
                    gc.collect()
                    rss_a = rss_kib()
                    if name == "cupy":
                        pool_bytes = [backend.device_memory_in_use()]
            runner.sync()
            gc.collect()
            rss_b = rss_kib()
            if name == "cupy":
                pool_bytes.append(backend.device_memory_in_use())
        finally:
            runner.close()
        growth = None if rss_a is None else 100.0 * (rss_b - rss_a) / rss_a
        entry = {"backend": name, "batch": batch, "steps_a": steps_a, "steps_b": steps_b,
                 "rss_a_kib": rss_a, "rss_b_kib": rss_b, "growth_pct": growth,
                 "ok": growth is not None and growth <= 5.0}
        if pool_bytes:
            entry["gpu_pool_used_bytes"] = pool_bytes
        out.append(entry)
        log(f"  memory, npgan ({name}) MNIST batch {batch}: VmRSS {rss_a} KiB after {steps_a} steps, "
            f"{rss_b} KiB after {steps_b}: {growth:+.2f}% ({'ok' if entry['ok'] else 'GROWTH > 5%'})")
    return out


def memory_in_subprocess(args, out_dir, log=print):
    """Run ``--memory`` in a fresh interpreter, so the baseline is npgan's alone; return its entries."""
    path = Path(out_dir) / "memory.json"
    cmd = [sys.executable, str(_BENCH), "--memory", "--backend", args.backend,
           "--memory-json", str(path)] + (["--quick"] if args.quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("  memory"):
            log(line)
    if not path.exists():
        log(f"  memory check failed to run (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return {"error": f"exit {proc.returncode}: {proc.stderr[-2000:]}"}
    data = json.loads(path.read_text())
    path.unlink()
    return data
