"""Process-wide settings ``import minitl`` makes before numpy loads: all are about not wasting the cores.

1. ``OPENBLAS_THREAD_TIMEOUT=4``.  After each call, OpenBLAS's worker threads spin for ~0.1 s
   (2^28 cycles) before they sleep, and on a 2-core machine that spinning takes the cores the next
   Numba kernel's threads need: measured here, the 2-thread matmul kernel right after a BLAS call
   took 2.9 ms instead of 1.6 ms at n=512.  2^4 cycles makes them sleep at once.  OpenBLAS reads
   this when numpy loads, so it acts only when minitl is imported before numpy (the ``minitl``
   command, the benchmarks); a value you set is kept.

2. glibc's malloc keeps freed memory (``keep_freed_memory``).  A train step allocates and frees
   the same arrays every step: activations, gradients, logits of several MB each.  By default glibc
   serves every block over its mmap threshold (128 KB to 32 MB, adapting) with a fresh ``mmap`` and
   returns it on free, so every step faults its pages in again, zero-filled by the kernel.  With
   the mmap threshold at its maximum (32 MB) and the trim threshold at 1 GB, freed blocks go back
   to malloc's heap and the next step reuses them; only blocks over 32 MB (GPT's logits) are still
   mapped afresh.  ``benchmarks/bench_train_step.py`` prints the page faults per GPT step: 1,603
   with this setting, 3,502 with ``MINITL_MALLOC=system`` (one run each).  The price is PyTorch's
   caching allocator's: the process keeps the memory of its largest step until it exits.
   ``MINITL_MALLOC=system`` (set before ``import minitl``) leaves glibc's defaults alone.  Other C libraries (macOS, Windows, musl): nothing is changed.

3. Numba's thread pool (``choose_threading``): GNU OpenMP with a short spin, ``GOMP_SPINCOUNT=3000``
   (microseconds), where it can be had.  A train step launches about 60 parallel kernels, most of
   them a fraction of a millisecond.  ``benchmarks/bench_launch.py`` (2 threads): one launch of an
   almost empty parallel loop costs 73-130 us on Numba's ``workqueue`` pool, which parks the caller
   and its threads after every kernel; 1.5 us on OpenMP with the short spin when launches follow
   each other within 20 us, 33 us after a 200 us pause.  OpenMP's default long spin (about
   300,000 rounds) launches in 2 us, but its idle thread keeps a core the next BLAS call needs.
   ``benchmarks/bench_train_step.py --no-compile --rounds 6 --steps 3``, BERT, tokens/s: short spin
   18,812-19,804 (best round; median round 17,727-19,294), ``NUMBA_THREADING_LAYER=workqueue``
   16,369-19,014 (median 14,960-15,473), ``GOMP_SPINCOUNT=300000`` 11,419.  OpenMP's settings are
   read once, when the library loads, and every user of GNU OpenMP in the process shares them: so
   when something has loaded it before ``import minitl`` (``import torch`` does), minitl keeps
   ``workqueue``, and when torch is imported after minitl it runs with the short spin too (its BERT
   step ran at 17,989 instead of 18,904 tokens/s in one run of ``bench_train_step.py --peer-env
   GOMP_SPINCOUNT=3000``; the benchmarks run PyTorch in a process of its own).  Set
   ``NUMBA_THREADING_LAYER`` (or ``GOMP_SPINCOUNT``) yourself to override.
"""
import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1       # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024   # glibc's largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1024 * 1024 * 1024

#: what ``keep_freed_memory`` did at import: "kept" (glibc tuned), or why not
MALLOC = "not set"


def set_openblas_timeout():
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def keep_freed_memory():
    """Tune glibc's malloc to reuse freed blocks (see the module docstring); returns what it did."""
    if os.environ.get("MINITL_MALLOC", "keep") == "system":
        return "system (MINITL_MALLOC=system)"
    if not sys.platform.startswith("linux"):
        return f"system (not glibc: {sys.platform})"
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):
            return "system (not glibc)"
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    except (OSError, AttributeError) as e:
        return f"system (mallopt unavailable: {e})"
    return "kept (mmap threshold 32 MB, trim threshold 1 GB)" if ok else "system (mallopt refused)"


#: the Numba threading layer ``choose_threading`` picked at import, and why
THREADING = ("workqueue", "not chosen yet")
OMP_SPIN = "3000"


def _gnu_openmp_loaded():
    """Whether GNU OpenMP (libgomp) is already in this process (Linux: /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return False


def choose_threading():
    """(layer, why): "omp" with a short spin unless the user chose, or OpenMP is already loaded."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return os.environ["NUMBA_THREADING_LAYER"], "NUMBA_THREADING_LAYER"
    if _gnu_openmp_loaded():
        return "workqueue", "GNU OpenMP was loaded before minitl (by torch?), with its own spin setting"
    os.environ.setdefault("GOMP_SPINCOUNT", OMP_SPIN)
    return "omp", f"GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}"


def tune():
    global MALLOC, THREADING
    set_openblas_timeout()
    MALLOC = keep_freed_memory()
    THREADING = choose_threading()
