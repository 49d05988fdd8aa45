"""``import minitl`` makes OpenBLAS's idle threads sleep at once (they would spin and take the cores
the Numba kernels' threads need), and keeps a value the user set; and it makes glibc's malloc reuse
freed memory instead of faulting it in again (``minitl/_process.py``)."""
import ctypes
import os
import subprocess
import sys

import pytest

CODE = "import minitl, os, numpy; print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"


def _run(env):
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_sets_openblas_thread_timeout():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    assert _run(env) == "4"


def test_user_value_is_kept():
    assert _run({**os.environ, "OPENBLAS_THREAD_TIMEOUT": "12"}) == "12"


FAULTS = """
import minitl, numpy as np, resource, sys
from minitl import _process
def step():                                             # a train step's pattern: many MB-sized arrays
    arrays = [np.ones(256 * 1024, np.float32) for _ in range(40)]    # alive at once, then all freed
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(_process.MALLOC.split()[0], (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"),
                    reason="malloc tuning is for glibc (Linux) only")
def test_freed_memory_is_reused_without_page_faults_unless_switched_off():
    # the page faults a train step paid for every large array, each step (see minitl/_process.py)
    def run(**env):
        out = subprocess.run([sys.executable, "-c", FAULTS], env={**os.environ, **env}, capture_output=True,
                             text=True, check=True)
        how, faults = out.stdout.split()
        return how, int(faults)
    how, faults = run()
    assert how == "kept" and faults < 100, (how, faults)
    how, faults = run(MINITL_MALLOC="system")
    assert how == "system" and faults > 5000, (how, faults)      # 40 MB = 10,240 pages faulted again


LAYER = """
import ctypes, sys
if sys.argv[1] == "gomp-first":
    ctypes.CDLL("libgomp.so.1")                      # what `import torch` before minitl does
import os, minitl, numba, numpy as np
from minitl.kernels import layernorm as L
L.layernorm_fwd(np.ones((8, 4), np.float32), np.ones(4, np.float32), np.zeros(4, np.float32))  # starts the pool
print(numba.threading_layer(), os.environ.get("GOMP_SPINCOUNT"))
"""


def _gomp_available():
    try:
        ctypes.CDLL("libgomp.so.1")
        import numba.np.ufunc.omppool  # noqa: F401  (Numba's OpenMP layer is built)
        return True
    except (OSError, ImportError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _gomp_available(),
                    reason="needs GNU OpenMP and Numba's omp layer (Linux)")
def test_numba_runs_on_openmp_with_a_short_spin_unless_openmp_was_loaded_first():
    def run(mode, **env):
        base = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "GOMP_SPINCOUNT")}
        out = subprocess.run([sys.executable, "-c", LAYER, mode], env={**base, **env}, capture_output=True,
                             text=True, check=True)
        return out.stdout.split()
    assert run("fresh") == ["omp", "3000"]
    assert run("gomp-first") == ["workqueue", "None"]      # its spin was fixed when it loaded: keep off it
    assert run("fresh", GOMP_SPINCOUNT="500") == ["omp", "500"]                     # the user's value is kept
    assert run("fresh", NUMBA_THREADING_LAYER="workqueue") == ["workqueue", "None"]
