"""Which matmul runs: the Numba kernel or numpy's BLAS, per shape.

The switch is ``minitl.config.MATMUL`` (env ``MINITL_MATMUL=auto|numba|blas``, or
``with minitl.config.matmul("blas"):``); ``MatMul`` obeys a forced mode itself and
asks ``matmul_choice`` only under ``auto`` (the default): the kernel where ``benchmarks/bench_kernels.py`` measured
  it faster than BLAS on this machine, BLAS elsewhere.  The rule is the
  ``CROSSOVER`` table below; the benchmark prints the sweep it comes from.

``minitl.ops.MatMul`` asks ``matmul_choice`` and writes the answer (and why)
into its debug note, so ``MINITL_DEBUG=1`` shows which path each matmul took.
"""
import numpy as np

# Measured with benchmarks/bench_kernels.py (the crossover sweep, 1 thread, CPU
# time; numpy's OpenBLAS running its SkylakeX kernel, AVX-512).  With the packed
# GEBP kernel BLAS is still faster at every shape, but by less (two --quick
# runs): numpy/kernel 0.12 at 32x32 (call overhead), 0.43-0.57 at 128^3,
# 0.65-0.78 at 256^3, 0.76-0.88 for (512,128)@(128,512) and (2048,128)@(128,384),
# 0.68-0.73 for the thin batched products of attention ((64,256,32) @
# (64,32,256)), 0.84-0.9 at 512^3 and 1024^3.
# With the AVX2 build (6x16 tile) vs OpenBLAS's Haswell kernel, 1 thread CPU: 0.72-0.89 at
# 512^3, 0.93-0.95 at 1024^3 (shared machine, repeated side-by-side runs): BLAS still ahead.
# So ``auto`` keeps BLAS unless the per-matrix work is inside this window, and
# the window is empty (min > max): "never the kernel" on this machine.  Where numpy's BLAS is slow
# (OPENBLAS_CORETYPE=Haswell, or a reference BLAS), set a window from the sweep,
# or MINITL_MATMUL=numba.
CROSSOVER = {"min_flops": float("inf"), "max_flops": 0.0}


def matmul_choice(a_shape, b_shape, dtype):
    """("numba" | "blas", reason) under ``auto``, for a (..., n, k) @ (..., k, m) product of ``dtype``."""
    if np.dtype(dtype) not in (np.float32, np.float64):
        return "blas", f"dtype {np.dtype(dtype)} (the kernel is float32/float64 only)"
    n, k, m = a_shape[-2], a_shape[-1], b_shape[-1]
    flops = 2.0 * n * k * m
    if CROSSOVER["min_flops"] <= flops <= CROSSOVER["max_flops"]:
        return "numba", f"auto: {flops:.3g} flops per matrix inside the measured kernel window"
    return "blas", f"auto: {flops:.3g} flops per matrix, BLAS measured faster"
