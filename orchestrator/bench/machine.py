"""The machine and the process: memory (RSS), child processes, memory bandwidth, versions."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from orchestrator.bench.llama_access import llama_version
from orchestrator.errors import OrchestratorError

T = TypeVar("T")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (getrusage: KiB on Linux, bytes on macOS)."""
    try:
        import resource
    except ImportError:  # Windows: psutil's peak working set
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", psutil.Process().memory_info().rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def current_rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def run_in_child(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run function(*args) in a fresh spawned process, so its peak RSS and allocations are its own.

    Exceptions raised in the child (OrchestratorError included) are re-raised here.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            return pool.submit(function, *args, **kwargs).result()
        except BrokenProcessPool:
            raise OrchestratorError(
                f"The benchmark process for {function.__name__} crashed (out of memory, or llama.cpp aborted "
                "on the model file). Run it alone with ORCH_LLAMA_VERBOSE=1 to see llama.cpp's log."
            ) from None


@dataclass
class BandwidthResult:
    """Memory bandwidth from streaming over arrays much larger than the CPU caches."""

    read_gb_per_s: float  # sum over an array: bytes read / s
    copy_gb_per_s: float  # copy between arrays: (bytes read + bytes written) / s
    array_bytes: int
    threads: int


def measure_memory_bandwidth(array_bytes: int = 256 << 20, threads: int = 1, repeats: int = 5) -> BandwidthResult:
    """A STREAM-like numpy benchmark, best of `repeats` as STREAM reports.

    Hand-written because no maintained pip package measures bandwidth; the arrays are split across
    `threads` threads (numpy releases the GIL in reductions and copies), as llama.cpp spreads a
    matrix-vector product over its threads. Decode speed is bounded by reading the weights once per
    token, so the read figure is the physical limit that the bench compares generation against.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    threads = max(1, threads)
    n = array_bytes // 8
    source = np.ones(n, dtype=np.float64)
    target = np.empty_like(source)
    bounds = [(n * index // threads, n * (index + 1) // threads) for index in range(threads)]

    def best_rate(work: Callable[[int, int], object], bytes_moved: int) -> float:
        best = float("inf")
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(repeats):
                started = time.perf_counter()
                list(pool.map(lambda bound: work(*bound), bounds))
                best = min(best, time.perf_counter() - started)
        return bytes_moved / best / 1e9

    target[:] = source  # touch every page before timing
    read = best_rate(lambda lo, hi: source[lo:hi].sum(), source.nbytes)
    copy = best_rate(lambda lo, hi: np.copyto(target[lo:hi], source[lo:hi]), 2 * source.nbytes)
    return BandwidthResult(read, copy, source.nbytes, threads)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM and versions, for the report header."""
    import psutil

    return {
        "cpu": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "ram_bytes": int(psutil.virtual_memory().total),
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_version(),
        "numpy": _version_of("numpy"),
        # Other work on the machine slows every model alike but makes the absolute numbers low and noisy.
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def cpu_model() -> str:
    """The CPU's marketing name: /proc/cpuinfo on Linux, platform.processor() elsewhere."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version_of(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
