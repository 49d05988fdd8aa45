"""Process-wide settings ``import minitl`` makes before numpy loads: both are about not wasting the cores.

1. ``OPENBLAS_THREAD_TIMEOUT=4``.  After each call, OpenBLAS's worker threads spin for ~0.1 s
   (2^28 cycles) before they sleep, and on a 2-core machine that spinning takes the cores the next
   Numba kernel's threads need: measured here, the 2-thread matmul kernel right after a BLAS call
   took 2.9 ms instead of 1.6 ms at n=512.  2^4 cycles makes them sleep at once.  OpenBLAS reads
   this when numpy loads, so it acts only when minitl is imported before numpy (the ``minitl``
   command, the benchmarks); a value you set is kept.

2. glibc's malloc keeps freed memory (``keep_freed_memory``).  A train step allocates and frees
   the same arrays every step: activations, gradients, logits of several MB each.  By default glibc
   serves every block over its mmap threshold (128 KB to 32 MB, adapting) with a fresh ``mmap`` and
   returns it on free, so every step faults its pages in again, zero-filled by the kernel: measured
   on a BERT train step (``benchmarks/bench_train_step.py``'s shape, 2 threads), 4,700 page faults
   and 24 ms of system CPU time per step.  With the mmap threshold at its maximum (32 MB) and the
   trim threshold at 1 GB, freed blocks go back to malloc's heap and the next step reuses them:
   0 faults and 6 ms.  The price is PyTorch's caching allocator's: the process keeps the memory of
   its largest step until it exits.  ``MINITL_MALLOC=system`` (set before ``import minitl``) leaves
   glibc's defaults alone.  Other C libraries (macOS, Windows, musl): nothing is changed.
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


def tune():
    global MALLOC
    set_openblas_timeout()
    MALLOC = keep_freed_memory()
