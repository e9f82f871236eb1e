"""Helpers shared by the benchmark scripts: one-core pinning, timing, peak memory and JSON subprocesses.

Standard library only, so that it can also be imported by `_imagededup_worker.py`, which runs in a
separate virtual environment without lingshu. Benchmarks compare numbers taken in the same run, on the
same core, because the machines they run on are noisy: absolute numbers vary, ratios much less.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def single_core() -> int:
    """Limit this process (and its children) to one thread on one CPU; call before numpy is imported.

    Thread-count variables are read when numpy/BLAS load, so setting them later has no effect; the CPU
    affinity is inherited by subprocesses and multiprocessing workers, so they cannot use a second core.
    """
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def rss_mb() -> float:
    """Resident memory of this process now."""
    return _status_mb("VmRSS")


def reset_peak_rss() -> None:
    """Start a new peak-memory window, so that import-time peaks are not counted (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or since reset_peak_rss()."""
    return _status_mb("VmHWM")


def median(values) -> float:
    return statistics.median(values)


def spread(values) -> str:
    return f"{min(values):.3g}-{max(values):.3g}"


def run_json(command: list[str]) -> dict:
    """Run a worker subprocess that prints one JSON object as its last line of stdout; return it."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{' '.join(command)} failed with exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)
