"""Numba kernels on plain numpy arrays; each has a numpy twin in reference.py.

Threading layer.  Numba's parallel kernels run on a thread pool, and numpy's
BLAS runs on a second one; on 2 cores the two must not spin against each other,
and a kernel launch must be cheap (a train step makes about 60).  minitl asks
Numba for GNU OpenMP with a short spin (``GOMP_SPINCOUNT=3000``), or for its
``workqueue`` pool, whose threads sleep when idle, where OpenMP is unavailable or
was already loaded with another setting (``import torch`` before ``import
minitl``).  The choice, its measurements and how to override it:
``minitl/_process.py``; ``minitl info`` prints it.

Machine.  ``machine_info()`` (machine.py) is what the kernels detected once at
import -- SIMD width (AVX-512, AVX2 or portable), cache sizes -- and the
register-tile shapes and blocking they picked from it.
"""
import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    from .._process import THREADING          # the process settings: below the kernels, not the tensor layer
    if THREADING[0] == "omp":                    # OpenMP where Numba has it, else workqueue
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
        numba.config.THREADING_LAYER = "default"
    else:
        numba.config.THREADING_LAYER = "workqueue"

from .machine import machine_info  # noqa: E402,F401
