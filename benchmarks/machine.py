"""What the benchmarks ran on: cores, BLAS, library versions, GEMM rate, memory.

``python -m benchmarks.machine`` prints the same facts as JSON (the main run
calls it once more in a child process with ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` removed from the environment, to show what they change).
"""

import ctypes
import gc
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import sklearn

import sklearn_linclf

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def gemm_rate(n=2000, dtype=np.float64, repeats=3, seed=0):
    """GFLOP/s of an ``n x n`` by ``n x n`` matrix product (best of ``repeats``)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)  # warm up threads and caches
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best / 1e9


def code_version():
    """Short hash of the library's sources, to tell which core was measured."""
    digest = hashlib.sha256()
    root = Path(sklearn_linclf.__file__).parent
    sources = [*root.rglob("*.py"), *root.rglob("*.pyx")]
    for path in sorted(sources):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def compiled_kernels():
    """The compiled kernels and the threads they may use (OpenMP's setting)."""
    from sklearn_linclf._solver import _dense_kernel, _sparse_kernel
    from sklearn_linclf._solver.threads import openmp_threads

    return {
        "modules": [_sparse_kernel.__name__, _dense_kernel.__name__],
        "build": "Cython, -O3 -fopenmp",
        "openmp_threads": openmp_threads(),
    }


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info():
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "prefix", "version", "architecture",
            "threading_layer", "num_threads")
    return [{k: info[k] for k in keep if k in info} for info in threadpool_info()]


def describe(gemm_size=2000):
    """A dict of machine facts, including the GEMM rate in both precisions."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "memory_gib": _total_memory_gib(),
        "sklearn_linclf_sources": code_version(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "blas": blas_info(),
        "kernels": compiled_kernels(),
        "environment": {v: os.environ.get(v) for v in OPENBLAS_VARIABLES},
        "gemm_size": gemm_size,
        "gemm_gflops": {
            "float64": gemm_rate(gemm_size, np.float64),
            "float32": gemm_rate(gemm_size, np.float32),
        },
    }


def _total_memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------
# Resident memory (Linux): the peak is reset before a fit and read after it.


def _read_status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _release_free_memory():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Context manager: peak resident set size above the level at entry.

    Uses ``/proc/self/clear_refs`` (writing ``5`` resets ``VmHWM``); where that
    is not available ``delta_mib`` stays None.
    """

    def __enter__(self):
        _release_free_memory()
        self.delta_mib = None
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self._start = None
            return self
        self._start = _read_status_kib("VmRSS")
        return self

    def __exit__(self, *exc):
        if self._start is not None:
            peak = _read_status_kib("VmHWM")
            if peak is not None:
                self.delta_mib = (peak - self._start) / 1024
        return False


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(json.dumps(describe(size)))


if __name__ == "__main__":
    main()
