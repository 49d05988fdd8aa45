"""Numba kernels on plain numpy arrays; each has a numpy twin in reference.py.

Threading layer.  Numba's parallel kernels run on a thread pool, and numpy's
BLAS runs on a second one.  Numba's default pool (OpenMP) keeps its threads
spinning for a while after each kernel, so on a 2-core machine they fight the
BLAS threads that run the very next matmul.  minitl therefore asks Numba for
its own simple ``workqueue`` pool, whose threads sleep when idle -- on the
2-core development machine a GPT training step (4 layers, d_model 128, batch
32 x 64 tokens) got markedly faster with nothing else changed
(``OMP_WAIT_POLICY=PASSIVE`` gave the same gain; the figures are in
docs/ARCHITECTURE.md, "Threads and the machine").  Set
``NUMBA_THREADING_LAYER`` yourself to override this choice.

Machine.  ``machine_info()`` (machine.py) is what the kernels detected once at
import -- SIMD width (AVX-512, AVX2 or portable), cache sizes -- and the
register-tile shapes and blocking they picked from it.
"""
import os

import numba

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

from .machine import machine_info  # noqa: E402,F401
